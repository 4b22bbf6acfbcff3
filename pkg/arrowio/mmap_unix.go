//go:build unix

package arrowio

import (
	"os"
	"syscall"
)

// mappingOutlivesFile: on Unix a mapping stays valid after the file is
// unlinked, so the spill file is removed right after mapping.
const mappingOutlivesFile = true

func mapFile(f *os.File) ([]byte, func([]byte) error, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() == 0 {
		return nil, nil, errEmptySpill
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, syscall.Munmap, nil
}
