//go:build !unix

package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates dir/LockFile exclusively (no flock on this platform: a
// file left by a killed run must be removed by hand).
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--out %s is in use by another dpo-train run, or one was killed (remove %s if none runs): %w", dir, path, err)
	}
	f.WriteAt([]byte(lockInfo()), 0)
	return f, nil
}

func unlockDir(f *os.File) {
	name := f.Name()
	f.Close()
	os.Remove(name)
}

var errNoLocks = errors.New("file system does not support locks")
