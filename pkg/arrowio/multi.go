package arrowio

import (
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// multi is the part of a Reader that chains several inputs and restricts
// rows to a range.
type multi struct {
	ipcFile    bool     // the current input is an Arrow IPC file
	pending    []string // inputs still to open, in order
	stdin      io.Reader
	rowsBefore int64 // rows of the inputs already finished
	// lo and hi bound the rows (over all inputs) Next returns: [lo, hi);
	// hi < 0 means no range.
	lo, hi  int64
	ranged  bool
	emitted int64 // rows returned so far (after the range)
}

// OpenAll opens several inputs that Next reads one after the other, in the
// given order, as one stream: every input must have the first one's
// columns (names and types; metadata may differ), and each is checked as
// Open checks one (end marker, row count). Metadata and Schema are the
// first input's; Name is the current input's. No paths means stdin.
func OpenAll(paths []string, stdin io.Reader, mem memory.Allocator) (*Reader, error) {
	if len(paths) == 0 {
		paths = []string{"-"}
	}
	for _, p := range paths[1:] {
		if p == "-" || p == "" {
			return nil, fmt.Errorf("arrowio: stdin (-) can only be the only input")
		}
	}
	r, err := Open(paths[0], stdin, mem)
	if err != nil {
		return nil, err
	}
	r.pending = paths[1:]
	r.stdin = stdin
	return r, nil
}

// SetRange makes Next return only rows lo..hi-1 (0-based, counted over all
// inputs), slicing batches at the boundaries; Next stops after row hi-1
// without reading further. It must be called before the first Next.
func (r *Reader) SetRange(lo, hi int64) {
	r.lo, r.hi, r.ranged = lo, hi, true
}

// Next advances to the next data batch. It returns false at the end marker
// of the last input or on error; check Err. Zero-row data batches are
// skipped.
func (r *Reader) Next() bool {
	for {
		if r.ranged && r.Rows() >= r.hi {
			r.stopRange()
			return false
		}
		if !r.nextInFile() {
			if r.err != nil || !r.advance() {
				return false
			}
			continue
		}
		if !r.ranged {
			return true
		}
		n := r.rec.NumRows()
		start := r.Rows() - n // global index of the batch's first row
		lo, hi := max(r.lo-start, 0), min(r.hi-start, n)
		if lo >= hi {
			continue
		}
		if lo > 0 || hi < n {
			s := r.rec.NewSlice(lo, hi)
			r.rec.Release()
			r.rec = s
		}
		r.emitted += hi - lo
		return true
	}
}

// stopRange ends iteration after the range's last row.
func (r *Reader) stopRange() {
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	r.done, r.sawEnd = true, true
}

// advance opens the next pending input and checks its columns.
func (r *Reader) advance() bool {
	if len(r.pending) == 0 {
		return false
	}
	path := r.pending[0]
	r.pending = r.pending[1:]
	next, err := Open(path, r.stdin, r.mem)
	if err != nil {
		r.err = err
		return false
	}
	if err := sameColumns(r.schema, next.schema); err != nil {
		next.Release()
		r.err = fmt.Errorf("arrowio: %s: columns differ from %s's: %w", path, r.name, err)
		return false
	}
	before := r.rowsBefore + r.rows
	// Swap the per-input state; keep the first input's schema and metadata.
	r.r.Release()
	if r.closer != nil {
		r.closer.Close()
	}
	r.name, r.src, r.r, r.closer = next.name, next.src, next.r, next.closer
	r.batch, r.msgs, r.rows, r.done, r.sawEnd, r.err = -1, 0, 0, false, false, nil
	r.ipcFile = next.ipcFile
	// Checksums cover each file's own schema (its metadata differs between
	// shards) and each file's format version says whether they are required.
	r.schemaPart, r.needChecksums = next.schemaPart, next.needChecksums
	r.order = next.order
	r.rowsBefore = before
	return true
}

// sameColumns compares column names and types, ignoring metadata.
func sameColumns(a, b *arrow.Schema) error {
	if a.NumFields() != b.NumFields() {
		return fmt.Errorf("%d columns (%s) instead of %d (%s)", b.NumFields(), strings.Join(columnNames(b), ", "), a.NumFields(), strings.Join(columnNames(a), ", "))
	}
	for i := range a.NumFields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || !sameType(fa.Type, fb.Type) {
			return fmt.Errorf("column %d is %s %s instead of %s %s", i, fb.Name, typeString(fb.Type), fa.Name, typeString(fa.Type))
		}
	}
	return nil
}

// CountRows reads every input in order and returns the total number of
// rows, checking each as Next does. It is the first pass of a row range
// over inputs whose row count is not known.
func CountRows(paths []string, mem memory.Allocator) (int64, error) {
	r, err := OpenAll(paths, nil, mem)
	if err != nil {
		return 0, err
	}
	defer r.Release()
	for r.Next() {
	}
	if err := r.Err(); err != nil {
		return 0, err
	}
	return r.Rows(), nil
}
