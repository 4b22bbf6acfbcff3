package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// pathArg is a file named on the command line: the flag that named it
// ("" for the positional input) and the path ("-" for stdin/stdout).
type pathArg struct {
	flag, path string
}

func (p pathArg) String() string {
	name := p.path
	if name == "-" || name == "" {
		name = "stdin/stdout"
	}
	if p.flag == "" {
		return "the input " + name
	}
	return p.flag + " " + name
}

// statPath returns path's file info (following symlinks), or that of the
// stream std for "-"; ok is false when there is nothing to compare (a path
// that does not exist yet, a stream that is not a file).
func statPath(path string, std any) (os.FileInfo, bool) {
	if path == "" || path == "-" {
		f, isFile := std.(*os.File)
		if !isFile || f == nil {
			return nil, false
		}
		st, err := f.Stat()
		return st, err == nil
	}
	st, err := os.Stat(path)
	return st, err == nil
}

// checkOutputs refuses, before anything is read or written, an output that
// is the same file as an input or as another output (by inode, so hard
// links, symlinks and /dev/stdout redirected to the input are caught), and
// an output that is a directory. Every tool calls it with all the files it
// reads and writes. An error is a usage error (exit 2).
func checkOutputs(stdin io.Reader, stdout io.Writer, inputs, outputs []pathArg) error {
	type statted struct {
		arg pathArg
		st  os.FileInfo
	}
	var ins []statted
	for _, in := range inputs {
		if st, ok := statPath(in.path, stdin); ok {
			ins = append(ins, statted{in, st})
		}
	}
	var outs []statted
	seen := map[string]pathArg{}
	for _, out := range outputs {
		if out.path == "" {
			continue
		}
		if out.path != "-" {
			if st, err := os.Stat(out.path); err == nil && st.IsDir() {
				return usagef("%s is a directory, want a file", out)
			}
			// Outputs that do not exist yet are compared by resolved name.
			if r, err := arrowio.ResolveOutput(out.path); err == nil {
				if abs, err := filepath.Abs(r); err == nil {
					if prev, dup := seen[abs]; dup {
						return usagef("%s and %s name the same file", prev, out)
					}
					seen[abs] = out
				}
			}
		}
		st, ok := statPath(out.path, stdout)
		if !ok {
			continue
		}
		if !st.Mode().IsRegular() {
			continue // a terminal, pipe or device: writing it destroys nothing
		}
		for _, in := range ins {
			if os.SameFile(st, in.st) {
				return usagef("%s is the same file as %s: writing it would destroy the input; choose another output", out, in.arg)
			}
		}
		for _, o := range outs {
			if os.SameFile(st, o.st) {
				return usagef("%s and %s are the same file", o.arg, out)
			}
		}
		outs = append(outs, statted{out, st})
	}
	return nil
}

// openOutputs checks the outputs against the inputs (checkOutputs) and
// creates every file output up front, so that an unwritable one fails
// before any work. outs[i] is nil for an empty path; "-" is stdout.
type outputs struct {
	mu      sync.Mutex // serialises commit and abort with abortLive
	files   []*arrowio.Output
	stopped bool // abortLive discarded them: commit fails
}

// live are the outputs neither committed nor aborted yet: what Main
// discards when an interrupted run does not return in time.
var live = struct {
	sync.Mutex
	set map[*outputs]bool
}{set: map[*outputs]bool{}}

// abortLive aborts every live output; a later commit of one fails.
func abortLive() {
	live.Lock()
	defer live.Unlock()
	for o := range live.set {
		o.mu.Lock()
		o.stopped = true
		for _, f := range o.files {
			if f != nil {
				f.Abort()
			}
		}
		o.mu.Unlock()
		delete(live.set, o)
	}
}

func openOutputs(stdin io.Reader, stdout io.Writer, inputs, args []pathArg) (*outputs, error) {
	if err := checkOutputs(stdin, stdout, inputs, args); err != nil {
		return nil, err
	}
	o := &outputs{files: make([]*arrowio.Output, len(args))}
	for i, a := range args {
		if a.path == "" {
			continue
		}
		f, err := arrowio.CreateOutput(a.path, stdout)
		if err != nil {
			o.abort()
			return nil, fmt.Errorf("%s: %w", a.flag, err)
		}
		o.files[i] = f
	}
	live.Lock()
	live.set[o] = true
	live.Unlock()
	return o, nil
}

// forget removes o from the live outputs.
func (o *outputs) forget() {
	live.Lock()
	delete(live.set, o)
	live.Unlock()
}

// abort discards every output not committed (deferred; a no-op after commit).
func (o *outputs) abort() {
	o.forget()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, f := range o.files {
		if f != nil {
			f.Abort()
		}
	}
}

// commit commits the outputs in order (the caller puts the main output
// last), returning the first error; the rest are aborted after an error.
func (o *outputs) commit() error {
	o.forget()
	o.mu.Lock()
	defer o.mu.Unlock()
	var err error
	if o.stopped {
		err = errors.New("interrupted: the outputs were discarded")
	}
	for _, f := range o.files {
		if f == nil {
			continue
		}
		if err != nil {
			f.Abort()
			continue
		}
		err = f.Commit()
	}
	return err
}

// writeJSONOutput marshals v (indented) to o; a value JSON cannot hold
// (NaN, ±Inf) is an error, never an empty file.
func writeJSONOutput(o *arrowio.Output, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := o.Write(append(b, '\n')); err != nil {
		return err
	}
	return nil
}

// inputArgs names every input for the input-is-output check.
func inputArgs(inputs []string) []pathArg {
	out := make([]pathArg, len(inputs))
	for i, in := range inputs {
		out[i] = pathArg{"", in}
	}
	return out
}
