package pairs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// ratedSchema reports whether an Arrow or Parquet schema holds rated
// completions, as ratedReader.detect decides for a JSON record: a
// completions column (grouped rows), or completion and score columns
// without a chosen one (flat rows).
func ratedSchema(sc *arrow.Schema, names columns, rn ratedNames) bool {
	has := func(n string) bool { return n != "" && len(sc.FieldIndices(n)) > 0 }
	return has(rn.completions) || has(rn.completion) && has(rn.score) && !has(names[colChosen])
}

// ratedColumns are the columns a rated input is read from: the mapped roles
// and the rated ones.
func ratedColumns(names columns, rn ratedNames) map[string]bool {
	keep := map[string]bool{}
	for _, n := range names {
		if n != "" {
			keep[n] = true
		}
	}
	for _, n := range []string{rn.completions, rn.scores, rn.completion, rn.score, rn.sampleIndex} {
		keep[n] = true
	}
	return keep
}

// arrowRecords yields the rows of Arrow record batches (an Arrow IPC file
// or stream, or Parquet) as JSON objects of the columns in keep, for the
// rated-completions reader, which then reads them exactly as JSON Lines:
// list<string> completions and list<double> scores become JSON arrays, a
// conversation a list of {role, content} objects, a null a JSON null.
type arrowRecords struct {
	name   string
	src    batchSource
	keep   map[string]bool
	closer func() error
	max    int // bytes of one row as JSON (Options.MaxLineBytes resolved); 0: none

	cur    arrow.RecordBatch
	i      int
	row    int64
	buf    bytes.Buffer
	err    error
	closed bool
}

func newArrowRecords(name string, src batchSource, keep map[string]bool, closer func() error, maxRowBytes int) *arrowRecords {
	if maxRowBytes == 0 {
		maxRowBytes = DefaultMaxLineBytes
	}
	return &arrowRecords{name: name, src: src, keep: keep, closer: closer, max: max(0, maxRowBytes)}
}

func (r *arrowRecords) setFirstRow(n int64) { r.row = n }

func (r *arrowRecords) nextRaw() (raw []byte, row, line int64, err error) {
	if r.err != nil {
		return nil, 0, 0, r.err
	}
	defer func() {
		// arrow-go panics on some corrupt inputs; never let that escape.
		if p := recover(); p != nil {
			r.err = fmt.Errorf("pairs: %s: reading row %d: %v", r.name, r.row, p)
			raw, row, line, err = nil, 0, 0, r.err
		}
	}()
	for r.cur == nil || r.i >= int(r.cur.NumRows()) {
		if r.cur != nil {
			r.cur.Release()
			r.cur = nil
		}
		b, err := r.src.next()
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("pairs: %s: reading record batch after row %d: %w", r.name, r.row, err)
			}
			r.err = err
			return nil, 0, 0, err
		}
		r.cur, r.i = b, 0
	}
	i := r.i
	r.i++
	r.buf.Reset()
	r.buf.WriteByte('{')
	first := true
	for j, f := range r.cur.Schema().Fields() {
		if !r.keep[f.Name] {
			continue
		}
		if !first {
			r.buf.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(f.Name)
		r.buf.Write(k)
		r.buf.WriteByte(':')
		v, err := json.Marshal(r.cur.Column(j).GetOneForMarshal(i))
		if err != nil {
			r.err = fmt.Errorf("pairs: %s: row %d: column %q: %w", r.name, r.row, f.Name, err)
			return nil, 0, 0, r.err
		}
		r.buf.Write(v)
		if r.max > 0 && r.buf.Len() > r.max {
			// As a JSON Lines record over the bound: a limit to raise, not
			// a row to skip (the rows of one prompt belong together).
			r.err = fmt.Errorf("pairs: %s: row %d: %w: more than %d bytes as JSON by column %q (raise --max-line-bytes, or 0 for no limit)", r.name, r.row, ErrLineTooLong, r.max, f.Name)
			return nil, 0, 0, r.err
		}
	}
	r.buf.WriteByte('}')
	row = r.row
	r.row++
	return r.buf.Bytes(), row, 0, nil
}

func (r *arrowRecords) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.err == nil {
		r.err = errClosed
	}
	return closeSource(&r.cur, r.src, r.closer)
}
