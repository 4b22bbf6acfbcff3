package arrowio

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// Spilled is a stream written once to an uncompressed Arrow IPC file and
// memory-mapped, for consumers that read the data several times (training
// epochs) or in random order. Batches are read zero-copy from the mapping.
//
// Every record returned by Batch aliases the mapping: release them all and
// never touch them (or slices taken from them) after Close.
type Spilled struct {
	name   string
	schema *arrow.Schema
	meta   Metadata
	fr     *ipc.FileReader
	data   []byte
	unmap  func([]byte) error
	starts []int64 // row index of each batch's first row; len = batches+1
	closed bool
}

// Spill reads the rest of r (from its current position; normally all of it)
// into an uncompressed Arrow IPC file in dir ("" for the OS temp dir), checks
// the end marker, and memory-maps the file. On Unix the file is unlinked as
// soon as it is created (it lives on through its descriptor and mapping),
// so nothing is left behind even if the process is killed mid-spill; on
// other systems it is removed on Close. r
// is consumed but not released.
func Spill(r *Reader, dir string) (s *Spilled, err error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "dpo-spill-*.arrow")
	if err != nil {
		return nil, fmt.Errorf("arrowio: spilling %s: %w", r.name, err)
	}
	path := f.Name()
	removed := false
	if mappingOutlivesFile {
		// Unlink at once: the descriptor keeps the file, and its space is
		// freed when the process ends, however it ends (SIGKILL
		// included), so no dpo-spill-*.arrow is ever left in dir.
		if err := os.Remove(path); err != nil {
			f.Close()
			return nil, fmt.Errorf("arrowio: spilling %s: %w", r.name, err)
		}
		removed = true
	}
	defer func() {
		if err != nil {
			f.Close()
			if !removed {
				os.Remove(path)
			}
		}
	}()
	bw := bufio.NewWriterSize(f, ioBufferSize)
	fw, err := ipc.NewFileWriter(bw, ipc.WithSchema(r.schema), ipc.WithAllocator(r.mem))
	if err != nil {
		return nil, fmt.Errorf("arrowio: spilling %s: %w", r.name, err)
	}
	starts := []int64{0}
	var rows int64
	for r.Next() {
		rec := r.Record()
		if err := fw.Write(rec); err != nil {
			fw.Close()
			return nil, fmt.Errorf("arrowio: spilling %s to %s: batch %d: %w", r.name, path, r.Batch(), err)
		}
		rows += rec.NumRows()
		starts = append(starts, rows)
	}
	if err := r.Err(); err != nil {
		fw.Close()
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("arrowio: spilling %s to %s: %w", r.name, path, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("arrowio: spilling %s to %s: %w", r.name, path, err)
	}
	data, unmap, err := mapFile(f)
	if err != nil {
		return nil, fmt.Errorf("arrowio: mapping spill file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		unmap(data)
		return nil, fmt.Errorf("arrowio: spill file %s: %w", path, err)
	}
	fr, err := ipc.NewMappedFileReader(data, ipc.WithAllocator(r.mem))
	if err != nil {
		unmap(data)
		return nil, fmt.Errorf("arrowio: reading back spill file %s: %w", path, err)
	}
	if fr.NumRecords() != len(starts)-1 {
		fr.Close()
		unmap(data)
		return nil, fmt.Errorf("arrowio: spill file %s has %d batches, wrote %d", path, fr.NumRecords(), len(starts)-1)
	}
	s = &Spilled{name: r.name, schema: r.schema, meta: r.meta, fr: fr, data: data, unmap: unmap, starts: starts}
	if !mappingOutlivesFile {
		s.unmap = func(b []byte) error {
			err := unmap(b)
			if err1 := os.Remove(path); err == nil {
				err = err1
			}
			return err
		}
	}
	return s, nil
}

// Schema returns the stream's schema.
func (s *Spilled) Schema() *arrow.Schema { return s.schema }

// Metadata returns the stream's schema metadata.
func (s *Spilled) Metadata() Metadata { return s.meta }

// NumBatches returns the number of data batches.
func (s *Spilled) NumBatches() int { return len(s.starts) - 1 }

// NumRows returns the total number of rows.
func (s *Spilled) NumRows() int64 { return s.starts[len(s.starts)-1] }

// BatchStart returns the index of batch i's first row; BatchStart(NumBatches())
// is NumRows().
func (s *Spilled) BatchStart(i int) int64 { return s.starts[i] }

// Locate returns the batch holding row and the row's index in it.
func (s *Spilled) Locate(row int64) (batch, index int, err error) {
	if row < 0 || row >= s.NumRows() {
		return 0, 0, fmt.Errorf("arrowio: %s: row %d out of range [0, %d)", s.name, row, s.NumRows())
	}
	b := sort.Search(len(s.starts), func(i int) bool { return s.starts[i] > row }) - 1
	return b, int(row - s.starts[b]), nil
}

// Batch returns batch i. The caller releases it, before Close. It is safe
// to call from several goroutines.
func (s *Spilled) Batch(i int) (arrow.RecordBatch, error) {
	if s.closed {
		return nil, fmt.Errorf("arrowio: %s: spill used after Close", s.name)
	}
	if i < 0 || i >= s.NumBatches() {
		return nil, fmt.Errorf("arrowio: %s: batch %d out of range [0, %d)", s.name, i, s.NumBatches())
	}
	rec, err := s.fr.RecordBatchAt(i)
	if err != nil {
		return nil, fmt.Errorf("arrowio: %s: spilled batch %d: %w", s.name, i, err)
	}
	return rec, nil
}

// Close unmaps the file (and removes it where that was not done at Spill).
// Records obtained from Batch must have been released and not be used
// afterwards. Close is idempotent.
func (s *Spilled) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.fr.Close()
	err := s.unmap(s.data)
	s.data = nil
	if err != nil {
		return fmt.Errorf("arrowio: unmapping spill of %s: %w", s.name, err)
	}
	return nil
}

var errEmptySpill = errors.New("spill file is empty")
