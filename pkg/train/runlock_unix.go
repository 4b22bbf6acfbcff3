//go:build unix

package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// errNoLocks: the file system does not support flock (some network file
// systems); the run goes on unlocked, with a warning.
var errNoLocks = errors.New("file system does not support locks")

// lockDir takes an exclusive, non-blocking flock on dir/LockFile. The lock
// dies with the process (also on SIGKILL), so a stale file never blocks.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--out %s: creating the lock file: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := lockHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--out %s is in use by another dpo-train run (%s holds %s); wait for it or choose another directory", dir, holder, path)
		}
		if errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EINVAL) {
			return nil, fmt.Errorf("%w (%v): %s is not locked; make sure no other run uses it", errNoLocks, err, dir)
		}
		return nil, fmt.Errorf("--out %s: locking %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(lockInfo()), 0)
	}
	return f, nil
}

func unlockDir(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}
