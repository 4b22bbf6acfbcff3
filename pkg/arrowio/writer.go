package arrowio

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Buffer compression codecs.
const (
	CodecZstd = "zstd" // default
	CodecLZ4  = "lz4"  // LZ4 frame
	CodecNone = "none"
)

// DefaultBatchRows is the default number of rows per record batch.
const DefaultBatchRows = 2048

// maxBatchBytes caps a batch's uncompressed size: batches of very long rows
// get fewer than BatchRows rows, so no message approaches MaxBufferBytes.
const maxBatchBytes = 256 << 20

// End marker message custom_metadata keys (see docs/format.md).
const (
	KeyEndMarker = "dpo.end"      // "1" on the end-marker batch
	KeyTotalRows = "dpo.num_rows" // decimal total of data rows before the marker
)

// WriterOptions configures a Writer. The zero value writes zstd-compressed
// batches of DefaultBatchRows rows with GOMAXPROCS compression goroutines.
type WriterOptions struct {
	Codec       string           // CodecZstd (""), CodecLZ4 or CodecNone
	BatchRows   int              // rows per batch; <= 0: DefaultBatchRows
	Concurrency int              // compression goroutines; <= 0: GOMAXPROCS
	Mem         memory.Allocator // nil: memory.DefaultAllocator
	// File writes the Arrow IPC file format ("ARROW1", the same messages
	// as a stream, then a footer indexing the batches) instead of a stream:
	// for regular files that Polars' read_ipc and pandas' read_feather
	// must open (see [WantsIPCFile]). The batches, their metadata and the
	// end marker are those of a stream.
	File bool

	version1 bool // tests only: write a version-1 stream (no checksums)
	version2 bool // tests only: write a version-2 stream (checksums, no batch order keys)
}

// CheckCodec returns an error unless codec names a buffer compression
// the writer knows ("" is the default, zstd).
func CheckCodec(codec string) error {
	switch codec {
	case "", CodecZstd, CodecLZ4, CodecNone:
		return nil
	}
	return fmt.Errorf("arrowio: unknown codec %q (want %s, %s or %s)", codec, CodecZstd, CodecLZ4, CodecNone)
}

func (o WriterOptions) ipcOptions(schema *arrow.Schema) ([]ipc.Option, error) {
	if err := CheckCodec(o.Codec); err != nil {
		return nil, err
	}
	opts := []ipc.Option{ipc.WithSchema(schema), ipc.WithAllocator(o.Mem)}
	switch o.Codec {
	case "", CodecZstd:
		opts = append(opts, ipc.WithZstd())
	case CodecLZ4:
		opts = append(opts, ipc.WithLZ4())
	}
	return append(opts, ipc.WithCompressConcurrency(o.Concurrency)), nil
}

// ipcWriter is arrow-go's stream writer or its file writer.
type ipcWriter interface {
	Write(arrow.RecordBatch) error
	Close() error
}

// Writer writes a dpo stream: the schema, record batches of about BatchRows
// rows, the end marker and the IPC end-of-stream (with WriterOptions.File,
// then the file footer). One goroutine owns it.
type Writer struct {
	w      ipcWriter
	schema *arrow.Schema
	opts   WriterOptions

	pending     []arrow.RecordBatch // slices waiting to fill a batch
	pendingRows int64
	rows        int64 // data rows written so far
	batches     int
	err         error
	closed      bool
	maxBytes    int64 // maxBatchBytes; smaller in tests
	schemaPart  []byte
	checksums   bool   // false only in tests that write version-1 streams
	order       bool   // false only in tests that write version-1 or -2 streams
	prevSum     string // the last batch's KeyChecksum (KeyPrevCRC of the next)
}

// NewWriter starts a stream on w with schema. The schema's metadata is
// written as is, with dpo.format_version added if missing. Nothing is
// written until the first Write or Close.
func NewWriter(w io.Writer, schema *arrow.Schema, opts WriterOptions) (*Writer, error) {
	if schema == nil {
		return nil, errors.New("arrowio: NewWriter: nil schema")
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = runtime.GOMAXPROCS(0)
	}
	if opts.Mem == nil {
		opts.Mem = memory.DefaultAllocator
	}
	// The writer always writes the current version (with checksums),
	// whatever version the upstream stream whose metadata was copied had.
	meta := MetadataFromArrow(schema.Metadata())
	if v, ok := meta.Get(KeyFormatVersion); opts.version2 && v != "2" {
		meta.Set(KeyFormatVersion, "2")
		schema = WithMetadata(schema, meta)
	} else if !opts.version1 && !opts.version2 && (!ok || slices.Contains(readableVersions, v) && v != FormatVersion) {
		meta.Set(KeyFormatVersion, FormatVersion)
		schema = WithMetadata(schema, meta)
	}
	iopts, err := opts.ipcOptions(schema)
	if err != nil {
		return nil, err
	}
	var iw ipcWriter
	if opts.File {
		if iw, err = ipc.NewFileWriter(w, iopts...); err != nil {
			return nil, fmt.Errorf("arrowio: %w", err)
		}
	} else {
		iw = ipc.NewWriter(w, iopts...)
	}
	return &Writer{w: iw, schema: schema, opts: opts, maxBytes: maxBatchBytes, schemaPart: schemaDigestInput(schema), checksums: !opts.version1,
		order: !opts.version1 && !opts.version2, prevSum: noPrevChecksum}, nil
}

// Schema returns the schema written (with its metadata).
func (w *Writer) Schema() *arrow.Schema { return w.schema }

// Rows returns the number of rows accepted so far.
func (w *Writer) Rows() int64 { return w.rows + w.pendingRows }

// Write queues rec's rows. rec may have any number of rows; the writer emits
// batches of BatchRows rows (the last one shorter), or fewer when rows are
// so long that a batch would exceed 256 MiB uncompressed. rec's fields must equal
// the writer's schema's fields (its metadata is ignored). Write retains what
// it keeps; the caller still releases rec.
func (w *Writer) Write(rec arrow.RecordBatch) (err error) {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("arrowio: Write after Close")
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("arrowio: writing record: %v", p)
		}
		if err != nil && w.err == nil {
			w.err = err
		}
	}()
	if !rec.Schema().Equal(w.schema) {
		return fmt.Errorf("arrowio: record schema %s does not match the stream schema %s", rec.Schema(), w.schema)
	}
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	size := int64(w.opts.BatchRows)
	if per := recordBytes(rec) / n; per > 0 {
		size = max(1, min(size, w.maxBytes/per))
	}
	if w.pendingRows >= size {
		if err := w.flush(); err != nil {
			return err
		}
	}
	for off := int64(0); off < n; {
		if w.pendingRows == 0 && n-off >= size {
			if err := w.emit(rec.NewSlice(off, off+size)); err != nil {
				return err
			}
			off += size
			continue
		}
		take := min(size-w.pendingRows, n-off)
		w.pending = append(w.pending, rec.NewSlice(off, off+take))
		w.pendingRows += take
		off += take
		if w.pendingRows == size {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordBytes is the size of rec's buffers (whole buffers, so an
// overestimate for slices).
func recordBytes(rec arrow.RecordBatch) int64 {
	var total int64
	var visit func(d arrow.ArrayData)
	visit = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				total += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			visit(c)
		}
	}
	for _, c := range rec.Columns() {
		visit(c.Data())
	}
	return total
}

// emit writes one batch under the writer's schema and releases it.
func (w *Writer) emit(rec arrow.RecordBatch) error {
	defer rec.Release()
	var md arrow.Metadata
	if w.order {
		md = arrow.NewMetadata([]string{KeyBatchIndex, KeyRowOffset, KeyPrevCRC},
			[]string{strconv.Itoa(w.batches), strconv.FormatInt(w.rows, 10), w.prevSum})
	}
	if w.checksums {
		md = w.withChecksum(rec.Columns(), rec.NumRows(), md)
	}
	out := array.NewRecordBatchWithMetadata(w.schema, rec.Columns(), rec.NumRows(), md)
	defer out.Release()
	if err := w.w.Write(out); err != nil {
		return fmt.Errorf("arrowio: writing batch %d: %w", w.batches, err)
	}
	w.rows += rec.NumRows()
	w.batches++
	return nil
}

// withChecksum returns md with the KeyChecksum of a batch of cols and md,
// and records it as the previous batch's checksum.
func (w *Writer) withChecksum(cols []arrow.Array, rows int64, md arrow.Metadata) arrow.Metadata {
	plain := array.NewRecordBatch(w.schema, cols, rows)
	sum := formatChecksum(batchChecksum(w.schemaPart, plain, md))
	plain.Release()
	w.prevSum = sum
	return arrow.NewMetadata(append(md.Keys(), KeyChecksum), append(md.Values(), sum))
}

// flush concatenates the pending slices into one batch and writes it.
func (w *Writer) flush() error {
	pending := w.pending
	w.pending, w.pendingRows = nil, 0
	switch len(pending) {
	case 0:
		return nil
	case 1:
		return w.emit(pending[0])
	}
	defer func() {
		for _, r := range pending {
			r.Release()
		}
	}()
	cols := make([]arrow.Array, w.schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(pending))
	var rows int64
	for _, r := range pending {
		rows += r.NumRows()
	}
	for i := range cols {
		for j, r := range pending {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, w.opts.Mem)
		if err != nil {
			return fmt.Errorf("arrowio: concatenating column %q: %w", w.schema.Field(i).Name, err)
		}
		cols[i] = c
	}
	return w.emit(array.NewRecordBatch(w.schema, cols, rows))
}

// Close writes the pending rows, the end marker and the IPC end-of-stream
// (and, for a file, the footer and trailing magic).
// It does not close the underlying io.Writer. It returns the first error of
// the writer's life; after an error it still releases everything it holds
// but writes no end marker (nor footer), so the output reads as truncated.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil {
		w.err = w.flush()
	}
	if w.err == nil {
		w.err = w.writeEndMarker()
	}
	for _, r := range w.pending {
		r.Release()
	}
	w.pending = nil
	if w.err != nil {
		// Do not write the IPC end-of-stream after a failure: the stream
		// must not look complete.
		return w.err
	}
	if err := w.w.Close(); err != nil {
		w.err = fmt.Errorf("arrowio: closing stream: %w", err)
	}
	return w.err
}

func (w *Writer) writeEndMarker() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("arrowio: writing end marker: %v", p)
		}
	}()
	cols := make([]arrow.Array, w.schema.NumFields())
	for i := range cols {
		cols[i] = array.MakeArrayOfNull(w.opts.Mem, w.schema.Field(i).Type, 0)
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	md := arrow.NewMetadata([]string{KeyEndMarker, KeyTotalRows}, []string{"1", strconv.FormatInt(w.rows, 10)})
	if w.order {
		md = arrow.NewMetadata(append(md.Keys(), KeyTotalBatchN, KeyPrevCRC),
			append(md.Values(), strconv.Itoa(w.batches), w.prevSum))
	}
	if w.checksums {
		md = w.withChecksum(cols, 0, md)
	}
	rec := array.NewRecordBatchWithMetadata(w.schema, cols, 0, md)
	defer rec.Release()
	if err := w.w.Write(rec); err != nil {
		return fmt.Errorf("arrowio: writing end marker: %w", err)
	}
	return nil
}
