package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/dpo-go/dpo/pkg/adapter"
)

// LockFile is the file in --out that a run holds an exclusive lock on
// (flock) for its whole life, so that two runs never write one directory.
const LockFile = ".dpo-train.lock"

// outDir is --out prepared for a run: locked, and checked (or cleared) so
// that the run never mixes with another's files.
type outDir struct {
	mu      sync.Mutex // release may come from Abandon, on another goroutine
	path    string
	lock    *os.File
	created bool   // this run made the directory (os.Mkdir succeeded)
	owned   bool   // this run holds the lock, or runs unlocked (errNoLocks)
	warning string // for the log: the directory could not be locked
}

// ownedFiles are the files dpo-train writes at the top of --out (besides
// checkpoint-* directories); --overwrite removes these and nothing else.
var ownedFiles = append([]string{MetricsFile, PlotFile, TrainConfigFile, "config.json", "generation_config.json",
	"model.safetensors", "model.safetensors.index.json", "dpo.json", adapter.ConfigFile, adapter.WeightsFile}, tokenizerFiles...)

// prepareOut creates and locks c.Out. Without c.Resume it must hold nothing
// but the lock file, unless c.Overwrite, which removes the files and
// checkpoints of an earlier run (only those: any other file is an error).
func prepareOut(c *Config) (_ *outDir, err error) {
	o := &outDir{path: c.Out}
	// Of two runs started together into a new --out, exactly one creates
	// it: os.Mkdir is atomic, where a Stat then MkdirAll let both think
	// they made it, and the loser's cleanup removed the winner's.
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(c.Out)), 0o755); err != nil {
		return nil, fmt.Errorf("--out %s: %w", c.Out, err)
	}
	switch err := os.Mkdir(c.Out, 0o755); {
	case err == nil:
		o.created = true
	case errors.Is(err, os.ErrExist):
		if st, err := os.Stat(c.Out); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--out %s exists and is not a directory", c.Out)
		}
	default:
		return nil, fmt.Errorf("--out %s: %w", c.Out, err)
	}
	defer func() {
		if err != nil {
			o.release(false)
		}
	}()
	if o.lock, err = lockDir(c.Out); errors.Is(err, errNoLocks) {
		o.warning, err = "warning: --out "+err.Error(), nil
	}
	if err != nil {
		return nil, err // another run holds it: touch nothing
	}
	o.owned = true
	liveOuts.Store(o, struct{}{})
	// Only the lock holder writes: a loser's probe file would make the
	// winner see a non-empty --out.
	if err := checkWritable(c.Out); err != nil {
		return nil, err
	}
	if c.Resume {
		return o, nil
	}
	ents, err := os.ReadDir(c.Out)
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", c.Out, err)
	}
	var names, foreign []string
	for _, e := range ents {
		n := e.Name()
		if n == LockFile {
			continue
		}
		names = append(names, n)
		if !ownedName(n, e.IsDir()) {
			foreign = append(foreign, n)
		}
	}
	if len(names) == 0 {
		return o, nil
	}
	if !c.Overwrite {
		return nil, &ConfigError{Err: fmt.Errorf("--out %s is not empty (%s): pass --resume to continue the run there, --overwrite to replace it, or choose an empty directory", c.Out, listNames(names))}
	}
	if len(foreign) > 0 {
		return nil, &ConfigError{Err: fmt.Errorf("--overwrite: --out %s holds files dpo-train did not write (%s); remove them or choose another directory", c.Out, listNames(foreign))}
	}
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(c.Out, n)); err != nil {
			return nil, fmt.Errorf("--overwrite: %w", err)
		}
	}
	return o, nil
}

func ownedName(n string, dir bool) bool {
	if dir {
		return strings.HasPrefix(n, checkpointPref) || n == RunsDir || n == MergedDir
	}
	if strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") { // WriteAtomic temp files
		return true
	}
	return slices.Contains(ownedFiles, n) || strings.HasPrefix(n, "model-") && strings.HasSuffix(n, ".safetensors")
}

func listNames(ns []string) string {
	if len(ns) > 5 {
		return strings.Join(ns[:5], ", ") + fmt.Sprintf(", and %d more", len(ns)-5)
	}
	return strings.Join(ns, ", ")
}

// release unlocks the directory. After a failed run (ok false) that
// created --out and wrote nothing into it, the directory is removed, so
// a failure leaves no empty --out behind.
// Only a run that holds the lock cleans up: one that lost the race for
// the lock leaves the directory to the winner.
func (o *outDir) release(ok bool) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	liveOuts.Delete(o)
	cleanup := !ok && o.created && o.owned
	if cleanup {
		// Removed while still locked, so no other run can have locked
		// the file about to be removed.
		os.Remove(filepath.Join(o.path, LockFile))
	}
	if o.lock != nil {
		unlockDir(o.lock)
		o.lock = nil
	}
	if cleanup {
		os.Remove(o.path) // fails, as wanted, unless it is empty
	}
	o.owned = false
}

// liveOuts are the --out directories runs of this process hold.
var liveOuts sync.Map // *outDir -> struct{}

// Abandon releases every --out that a Run of this process still holds, as
// a failed run releases it: a directory the run created and wrote nothing
// into is removed, and the lock file with it. It is for a process about to
// exit while a run cannot return (dpo-train after SIGTERM, when a step
// outlasts the grace period), so that it leaves no empty --out behind.
// The runs must not go on writing: the caller exits next.
func Abandon() {
	liveOuts.Range(func(k, _ any) bool {
		k.(*outDir).release(false)
		return true
	})
}

// lockInfo is written into the lock file for the message of a second run.
func lockInfo() string { return "pid " + strconv.Itoa(os.Getpid()) + "\n" }

func lockHolder(f *os.File) string {
	b := make([]byte, 64)
	n, _ := f.ReadAt(b, 0)
	s := strings.TrimSpace(string(b[:n]))
	if s == "" {
		return "another process"
	}
	return s
}
