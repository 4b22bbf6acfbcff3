package arrowio

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ErrTruncated is wrapped by the error of a stream that ends without the end
// marker.
var ErrTruncated = errors.New("truncated input")

// Reader reads a dpo stream. Every batch is validated; a corrupt or truncated
// stream, a missing end marker or a row count that disagrees with it ends
// iteration with an error naming the input and the batch. One goroutine owns
// a Reader.
type Reader struct {
	name   string
	src    io.Reader // the raw input, checked for trailing bytes after the end
	r      *ipc.Reader
	closer io.Closer // closed by Release (set by Open)
	mem    memory.Allocator
	schema *arrow.Schema
	meta   Metadata

	schemaPart    []byte // checksum input of the schema
	needChecksums bool   // format version 2 on: every batch carries one
	order         orderState
	warn          io.Writer // SetWarnings

	rec     arrow.RecordBatch
	batch   int   // index of the current data batch (-1 before the first)
	msgs    int   // IPC record batch messages read
	rows    int64 // data rows read so far
	done    bool
	sawEnd  bool
	err     error
	release bool

	multi // further inputs and the row range (multi.go)
}

// NewReader reads the schema of the stream r and checks its format version.
// name names the input in errors (a file name, or "stdin"). mem nil means
// memory.DefaultAllocator.
func NewReader(r io.Reader, name string, mem memory.Allocator) (rd *Reader, err error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	defer func() {
		if p := recover(); p != nil {
			rd, err = nil, fmt.Errorf("arrowio: %s: reading schema: %v", name, p)
		}
	}()
	lim := limitAllocator{mem, MaxBufferBytes}
	mr := newMessageReader(r, lim)
	ir, err := ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(lim))
	if err != nil {
		return nil, fmt.Errorf("arrowio: %s: not a readable Arrow IPC stream: %w", name, err)
	}
	rd = &Reader{name: name, src: r, r: ir, mem: mem, schema: ir.Schema(), batch: -1}
	rd.meta = MetadataFromArrow(rd.schema.Metadata())
	if err := rd.meta.CheckFormatVersion(); err != nil {
		ir.Release()
		return nil, fmt.Errorf("arrowio: %s: %w", name, err)
	}
	rd.schemaPart = schemaDigestInput(rd.schema)
	rd.needChecksums = rd.meta.FormatVersion() != "1"
	rd.order = newOrderState(rd.meta.FormatVersion(), false)
	return rd, nil
}

// Open opens path ("-" or "" for stdin) with OpenInput and returns a Reader
// over it; Release closes the file.
// An Arrow IPC file is read as well as a stream (see openSource).
func Open(path string, stdin io.Reader, mem memory.Allocator) (*Reader, error) {
	src, closer, ipcFile, err := openSource(path, stdin)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(src, InputName(path), mem)
	if err != nil {
		closer.Close()
		return nil, err
	}
	r.closer = closer
	r.ipcFile = ipcFile
	if ipcFile {
		// An Arrow IPC file is another tool's rewrite of a stream (dpo
		// writes streams): pyarrow and datasets keep the schema metadata
		// but drop batch metadata. As for the end marker, checksums that
		// are present are verified and absent ones are accepted.
		// Batch order is checked when the file's first batch carries
		// its index (a dpo stream rewritten with batch metadata kept).
		r.needChecksums = false
		r.order = newOrderState(r.meta.FormatVersion(), true)
	}
	return r, nil
}

// Name returns the input's name as used in errors.
func (r *Reader) Name() string { return r.name }

// Schema returns the stream's schema, with its metadata.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// Metadata returns the stream's schema metadata.
func (r *Reader) Metadata() Metadata { return r.meta }

// nextInFile advances to the next data batch of the current input. It
// returns false at the end marker or on error. Zero-row data batches are
// skipped.
func (r *Reader) nextInFile() bool {
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	for !r.done {
		rec, ok := r.nextMessage()
		if !ok {
			return false
		}
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		r.rec = rec
		r.batch++
		r.rows += rec.NumRows()
		return true
	}
	return false
}

// nextMessage reads one record batch message; it handles the end marker and
// stream end itself, returning ok=false.
func (r *Reader) nextMessage() (rec arrow.RecordBatch, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if rec != nil {
				rec.Release()
			}
			rec, ok = nil, false
			r.fail(fmt.Errorf("corrupt data: %v", p))
		}
	}()
	if !r.r.Next() {
		r.done = true
		if err := r.r.Err(); err != nil {
			r.fail(err)
			return nil, false
		}
		if r.ipcFile { // the footer vouches for completeness
			r.sawEnd = true
			return nil, false
		}
		r.err = fmt.Errorf("arrowio: %s: stream ends without the end marker after %d rows in %d batches: %w", r.name, r.rows, r.batch+1, ErrTruncated)
		return nil, false
	}
	r.msgs++
	rec = r.r.RecordBatch()
	rec.Retain()
	if err := array.ValidateRecordFull(rec); err != nil {
		rec.Release()
		r.fail(fmt.Errorf("invalid data: %w", err))
		return nil, false
	}
	if err := verifyChecksum(r.schemaPart, rec, r.needChecksums); err != nil {
		rec.Release()
		r.fail(err)
		return nil, false
	}
	var md arrow.Metadata
	if rm, isMeta := rec.(arrow.RecordBatchWithMetadata); isMeta {
		md = rm.Metadata()
	}
	isEnd := md.FindKey(KeyEndMarker) >= 0
	if err := r.order.checkOrder(md, rec.NumRows(), isEnd); err != nil {
		rec.Release()
		r.fail(err)
		return nil, false
	}
	r.warnUnordered()
	if isEnd {
		rec.Release()
		r.endMarker(md)
		return nil, false
	}
	return rec, true
}

// endMarker checks the end marker's row count and that nothing follows it.
func (r *Reader) endMarker(md arrow.Metadata) {
	r.done, r.sawEnd = true, true
	v, _ := md.GetValue(KeyTotalRows)
	want, err := strconv.ParseInt(v, 10, 64)
	if err != nil || want < 0 {
		r.err = fmt.Errorf("arrowio: %s: end marker has an invalid %s %q", r.name, KeyTotalRows, v)
		return
	}
	if want != r.rows {
		r.err = fmt.Errorf("arrowio: %s: end marker says %d rows but the stream holds %d rows in %d batches: batches lost or duplicated", r.name, want, r.rows, r.batch+1)
		return
	}
	if r.r.Next() {
		r.err = fmt.Errorf("arrowio: %s: data after the end marker (message %d): concatenated streams are not supported", r.name, r.msgs)
		return
	}
	if err := r.r.Err(); err != nil {
		r.err = fmt.Errorf("arrowio: %s: after the end marker: %w", r.name, err)
		return
	}
	// arrow's reader stops at the IPC end-of-stream; anything after it
	// (typically a second stream appended with cat) would be ignored.
	var b [1]byte
	if n, _ := io.ReadFull(r.src, b[:]); n > 0 {
		r.err = fmt.Errorf("arrowio: %s: data after the end of the stream: concatenated streams are not supported", r.name)
	}
}

func (r *Reader) fail(err error) {
	r.done = true
	r.err = fmt.Errorf("arrowio: %s: batch %d: %w", r.name, r.batch+1, err)
}

// Record returns the current batch. It is valid until the next call to Next
// or Release; Retain it to keep it longer.
func (r *Reader) Record() arrow.RecordBatch { return r.rec }

// Batch returns the index of the current data batch (0-based).
func (r *Reader) Batch() int { return r.batch }

// Err returns the error that ended iteration, or nil after a complete
// stream.
func (r *Reader) Err() error { return r.err }

// Rows returns the number of data rows read so far; after Next returned
// false with a nil Err it is the stream's total.
func (r *Reader) Rows() int64 { return r.rowsBefore + r.rows }

// Complete reports whether the end marker has been read and checked.
func (r *Reader) Complete() bool { return r.sawEnd && r.err == nil }

// Pairs returns the current batch's pair columns (see [ReadPairs]), with
// errors naming the input and batch.
func (r *Reader) Pairs() (Pairs, error) {
	if r.rec == nil {
		return Pairs{}, fmt.Errorf("arrowio: %s: Pairs called without a current batch", r.name)
	}
	p, err := ReadPairs(r.rec)
	if err != nil {
		return Pairs{}, fmt.Errorf("arrowio: %s: batch %d: %w", r.name, r.batch, err)
	}
	return p, nil
}

// Errorf returns an error prefixed with the input name and the current batch
// index, for consumers reporting a problem with the data.
func (r *Reader) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s: batch %d: %w", r.name, r.batch, fmt.Errorf(format, args...))
}

// RequireColumns checks that the schema has each field by name with the
// given type (extra columns are allowed), naming the input in the error.
func (r *Reader) RequireColumns(fields ...arrow.Field) error {
	return requireColumns(r.schema, r.name, fields)
}

// RequirePairs checks that the schema has the four pair columns.
func (r *Reader) RequirePairs() error { return r.RequireColumns(pairFields()...) }

func requireColumns(s *arrow.Schema, name string, fields []arrow.Field) error {
	for _, f := range fields {
		idx := s.FieldIndices(f.Name)
		switch {
		case len(idx) == 0:
			return fmt.Errorf("arrowio: %s: %w", name, &ColumnError{f.Name, fmt.Errorf("missing (columns: %v)", columnNames(s))})
		case len(idx) > 1:
			return fmt.Errorf("arrowio: %s: %w", name, &ColumnError{f.Name, fmt.Errorf("appears %d times", len(idx))})
		}
		if got := s.Field(idx[0]).Type; !sameType(got, f.Type) {
			return fmt.Errorf("arrowio: %s: %w", name, &ColumnError{f.Name, fmt.Errorf("has type %s, want %s", got, typeString(f.Type))})
		}
	}
	return nil
}

// typeString prints list types without the item field's name and
// nullability, which readers ignore: "list<int32>".
func typeString(dt arrow.DataType) string {
	if l, ok := dt.(*arrow.ListType); ok {
		return "list<" + typeString(l.Elem()) + ">"
	}
	return dt.String()
}

// sameType compares types ignoring list item names and nullability.
func sameType(a, b arrow.DataType) bool {
	la, okA := a.(*arrow.ListType)
	lb, okB := b.(*arrow.ListType)
	if okA && okB {
		return sameType(la.Elem(), lb.Elem())
	}
	return arrow.TypeEqual(a, b)
}

// Release frees the current batch and the reader, and closes the input if
// the reader was made by Open. It is safe to call more than once.
func (r *Reader) Release() {
	if r.release {
		return
	}
	r.release = true
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	r.r.Release()
	if r.closer != nil {
		r.closer.Close()
	}
}
