package pairs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// StdinName is the file name used in errors for input "-".
const StdinName = "<stdin>"

// Magic numbers used to detect compression and containers.
var (
	magicGzip        = []byte{0x1f, 0x8b}
	magicZstd        = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicParquet     = []byte("PAR1")
	magicArrowFile   = []byte("ARROW1")
	magicArrowStream = []byte{0xff, 0xff, 0xff, 0xff}
)

const bufSize = 1 << 16

// Open opens the dataset at path ("-" reads stdin) and returns a Reader of
// its examples. Compression (gzip, zstd) is always detected from the magic
// bytes; with opts.Format "auto" or "" the container is detected too (see
// Sniff). Open never closes stdin.
func Open(path string, stdin io.Reader, opts Options) (Reader, error) {
	format := opts.Format
	switch format {
	case "", "auto":
		format = "auto"
	case "jsonl", "json", "parquet", "arrow":
	default:
		return nil, fmt.Errorf("pairs: unknown format %q (want auto, jsonl, json, parquet or arrow)", opts.Format)
	}
	mem := opts.Mem
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	names, err := resolveColumns(opts.Columns, opts.PromptOnly)
	if err != nil {
		return nil, err
	}
	if opts.PromptOnly && opts.Rated != nil {
		return nil, errors.New("pairs: PromptOnly cannot read rated completions")
	}

	var closers []func() error
	closeAll := func() error {
		var err error
		for i := len(closers) - 1; i >= 0; i-- {
			err = errors.Join(err, closers[i]())
		}
		closers = nil
		return err
	}
	fail := func(err error) (Reader, error) {
		return nil, errors.Join(err, closeAll())
	}

	name := path
	var src io.Reader
	var f *os.File
	if path == "-" {
		name = StdinName
		if stdin == nil {
			return nil, errors.New("pairs: input is - but no stdin was given")
		}
		src = stdin
	} else {
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			// A Hugging Face datasets save_to_disk directory.
			return OpenAll([]string{path}, nil, opts)
		}
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, fmt.Errorf("pairs: %w", err)
		}
		closers = append(closers, f.Close)
		src = f
	}

	br := bufio.NewReaderSize(src, bufSize)
	head, err := peek(br, 4)
	if err != nil {
		return fail(fmt.Errorf("pairs: reading %s: %w", name, err))
	}
	compressed := false
	switch {
	case bytes.HasPrefix(head, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fail(fmt.Errorf("pairs: %s: opening gzip stream: %w", name, err))
		}
		closers = append(closers, zr.Close)
		br, compressed = bufio.NewReaderSize(zr, bufSize), true
	case bytes.HasPrefix(head, magicZstd):
		zd, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fail(fmt.Errorf("pairs: %s: opening zstd stream: %w", name, err))
		}
		closers = append(closers, func() error { zd.Close(); return nil })
		br, compressed = bufio.NewReaderSize(zd, bufSize), true
	}
	if compressed {
		if head, err = peek(br, 8); err != nil {
			return fail(fmt.Errorf("pairs: decompressing %s: %w", name, err))
		}
	} else if head, err = peek(br, 8); err != nil {
		return fail(fmt.Errorf("pairs: reading %s: %w", name, err))
	}

	if format == "auto" {
		window, err := peek(br, 4096)
		if err != nil {
			return fail(fmt.Errorf("pairs: reading %s: %w", name, err))
		}
		if format = Sniff(window); format == "" {
			return fail(fmt.Errorf("pairs: %s: cannot detect the format from its first bytes %q; give the format explicitly", name, clip(window, 16)))
		}
	}

	switch format {
	case "jsonl", "json":
		if bytes.HasPrefix(head, utf8BOM) {
			br.Discard(len(utf8BOM))
		}
		if opts.Rated != nil {
			if err := opts.Rated.Validate(); err != nil {
				return fail(err)
			}
			var src rawRecords
			if format == "jsonl" {
				src = newJSONLReader(name, br, closeAll, names, opts.MaxLineBytes)
			} else {
				src = newJSONArrayReader(name, br, closeAll, names, opts.MaxLineBytes)
			}
			return newRatedReader(name, src, names, resolveRatedNames(opts.Columns), *opts.Rated), nil
		}
		if format == "jsonl" {
			return newJSONLReader(name, br, closeAll, names, opts.MaxLineBytes), nil
		}
		return newJSONArrayReader(name, br, closeAll, names, opts.MaxLineBytes), nil
	case "arrow":
		if !bytes.HasPrefix(head, magicArrowFile) {
			rd, err := ipc.NewReader(br, ipc.WithAllocator(mem))
			if err != nil {
				return fail(fmt.Errorf("pairs: %s: reading Arrow IPC stream: %w", name, err))
			}
			r, err := arrowOrRated(name, rd.Schema(), &streamSource{rd}, closeAll, names, opts)
			if err != nil {
				rd.Release()
				return fail(err)
			}
			return r, nil
		}
	}

	// Arrow IPC files and Parquet need random access.
	ras := f
	if f == nil || compressed || !isRegular(f) {
		tmp, err := spill(br)
		if err != nil {
			return fail(fmt.Errorf("pairs: %s: copying to a temporary file for random access: %w", name, err))
		}
		closers = append(closers, func() error {
			err := tmp.Close()
			return errors.Join(err, os.Remove(tmp.Name()))
		})
		ras = tmp
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("pairs: %s: %w", name, err))
	}

	if format == "arrow" {
		fr, err := ipc.NewFileReader(ras, ipc.WithAllocator(mem))
		if err != nil {
			return fail(fmt.Errorf("pairs: %s: reading Arrow IPC file: %w", name, err))
		}
		r, err := arrowOrRated(name, fr.Schema(), &fileSource{fr: fr}, closeAll, names, opts)
		if err != nil {
			fr.Close()
			return fail(err)
		}
		return r, nil
	}
	return openParquet(name, ras, mem, closeAll, fail, names, opts)
}

// arrowOrRated returns a reader of the Arrow record batches of src: rated
// completions (opts.Rated set and the schema has their columns, see
// ratedSchema), read as JSON records are, or pairs and prompts.
func arrowOrRated(name string, sc *arrow.Schema, src batchSource, closeAll func() error, names columns, opts Options) (Reader, error) {
	if opts.Rated != nil {
		if err := opts.Rated.Validate(); err != nil {
			return nil, err
		}
		if rn := resolveRatedNames(opts.Columns); ratedSchema(sc, names, rn) {
			return newRatedReader(name, newArrowRecords(name, src, ratedColumns(names, rn), closeAll, opts.MaxLineBytes), names, rn, *opts.Rated), nil
		}
	}
	r, err := newArrowReader(name, sc, src, closeAll, names, opts.MaxLineBytes)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func openParquet(name string, ras *os.File, mem memory.Allocator, closeAll func() error, fail func(error) (Reader, error), names columns, opts Options) (r Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = fail(fmt.Errorf("pairs: %s: reading Parquet file: %v", name, p))
		}
	}()
	// file.Reader.Close closes its source if it can; the file is ours to close.
	pf, err := file.NewParquetReader(noClose{ras}, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return fail(fmt.Errorf("pairs: %s: reading Parquet file: %w", name, err))
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, mem)
	if err != nil {
		pf.Close()
		return fail(fmt.Errorf("pairs: %s: reading Parquet schema: %w", name, err))
	}
	sc, err := fr.Schema()
	if err != nil {
		pf.Close()
		return fail(fmt.Errorf("pairs: %s: reading Parquet schema: %w", name, err))
	}
	keep := map[string]bool{}
	for _, c := range names {
		keep[c] = c != ""
	}
	var rated bool
	if opts.Rated != nil {
		rn := resolveRatedNames(opts.Columns)
		if rated = ratedSchema(sc, names, rn); rated {
			keep = ratedColumns(names, rn)
		}
	}
	if !rated {
		if _, err := columnIndices(name, sc, names); err != nil {
			pf.Close()
			return fail(err)
		}
	}
	if pf.NumRows() == 0 {
		pf.Close()
		return eofReader{close: closeAll}, nil
	}
	// Read only the leaves of the columns of interest.
	var leaves []int
	var walk func(f *pqarrow.SchemaField)
	walk = func(f *pqarrow.SchemaField) {
		if f.IsLeaf() {
			leaves = append(leaves, f.ColIndex)
		}
		for i := range f.Children {
			walk(&f.Children[i])
		}
	}
	for i := range fr.Manifest.Fields {
		if fld := &fr.Manifest.Fields[i]; keep[fld.Field.Name] {
			walk(fld)
		}
	}
	rr, err := fr.GetRecordReader(context.Background(), leaves, nil)
	if err != nil {
		pf.Close()
		return fail(fmt.Errorf("pairs: %s: reading Parquet file: %w", name, err))
	}
	src := &parquetSource{rr: rr, pf: pf}
	ar, err := arrowOrRated(name, rr.Schema(), src, closeAll, names, opts)
	if err != nil {
		src.close()
		return fail(err)
	}
	return ar, nil
}

// Sniff names the container format whose first bytes are head: "parquet",
// "arrow" (IPC file or stream), "json" (a JSON array) or "jsonl" (a JSON
// object first, or nothing but white space). It returns "" when head looks
// like none of them. head must already be decompressed.
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, magicParquet):
		return "parquet"
	case bytes.HasPrefix(head, magicArrowFile), bytes.HasPrefix(head, magicArrowStream):
		return "arrow"
	}
	rest := bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n")
	switch {
	case len(rest) == 0:
		return "jsonl"
	case rest[0] == '[':
		return "json"
	case rest[0] == '{':
		return "jsonl"
	}
	return ""
}

// peek returns up to n bytes without consuming them; a short input is not
// an error.
func peek(br *bufio.Reader, n int) ([]byte, error) {
	b, err := br.Peek(n)
	if err == io.EOF || err == bufio.ErrBufferFull {
		err = nil
	}
	return b, err
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func isRegular(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

func spill(r io.Reader) (*os.File, error) {
	tmp, err := os.CreateTemp("", "dpo-pairs-*")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return tmp, nil
}

// noClose hides the Close method of a file.
type noClose struct {
	f *os.File
}

func (n noClose) Read(p []byte) (int, error)                { return n.f.Read(p) }
func (n noClose) ReadAt(p []byte, off int64) (int, error)   { return n.f.ReadAt(p, off) }
func (n noClose) Seek(off int64, whence int) (int64, error) { return n.f.Seek(off, whence) }

type streamSource struct{ r *ipc.Reader }

func (s *streamSource) next() (arrow.RecordBatch, error) {
	if s.r.Next() {
		b := s.r.RecordBatch()
		b.Retain()
		return b, nil
	}
	if err := s.r.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

func (s *streamSource) close() error { s.r.Release(); return nil }

type fileSource struct {
	fr *ipc.FileReader
	i  int
}

func (s *fileSource) next() (arrow.RecordBatch, error) {
	if s.i >= s.fr.NumRecords() {
		return nil, io.EOF
	}
	b, err := s.fr.RecordBatchAt(s.i)
	s.i++
	return b, err
}

func (s *fileSource) close() error { return s.fr.Close() }

type parquetSource struct {
	rr pqarrow.RecordReader
	pf *file.Reader
}

func (s *parquetSource) next() (arrow.RecordBatch, error) {
	if s.rr.Next() {
		b := s.rr.RecordBatch()
		b.Retain()
		return b, nil
	}
	if err := s.rr.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

func (s *parquetSource) close() error {
	s.rr.Release()
	return s.pf.Close()
}
