//go:build !unix

package arrowio

import (
	"io"
	"os"
)

// mappingOutlivesFile is false: without mmap the file is read into memory
// and removed on Close.
const mappingOutlivesFile = false

func mapFile(f *os.File) ([]byte, func([]byte) error, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	if len(data) == 0 {
		return nil, nil, errEmptySpill
	}
	return data, func([]byte) error { return nil }, nil
}
