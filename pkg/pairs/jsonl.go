package pairs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// jsonlReader reads JSON Lines: one object per line; blank lines are
// skipped and do not count as rows.
type jsonlReader struct {
	name   string
	br     *bufio.Reader
	closer func() error
	line   int64 // lines read so far
	row    int64 // records read so far
	buf    []byte
	err    error // sticky fatal error or io.EOF
	names  columns
	seen   jsonSeen
}

func newJSONLReader(name string, br *bufio.Reader, closer func() error, names columns) *jsonlReader {
	return &jsonlReader{name: name, br: br, closer: closer, names: names}
}

// readLine returns the next line without its terminator, valid until the
// next call; io.EOF only when no bytes are left.
func (r *jsonlReader) readLine() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			r.buf = append(r.buf, chunk...)
			continue
		}
		var line []byte
		if len(r.buf) > 0 {
			r.buf = append(r.buf, chunk...)
			line = r.buf
		} else {
			line = chunk
		}
		if err == io.EOF && len(line) > 0 {
			err = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		return line, err
	}
}

func (r *jsonlReader) Next() (Example, error) {
	line, row, lineNo, err := r.nextRaw()
	if err == io.EOF {
		if err := r.seen.check(r.name, r.names); err != nil {
			r.err = err
			return Example{}, err
		}
	}
	if err != nil {
		return Example{}, err
	}
	return exampleFromJSON(line, row, r.name, lineNo, true, r.names, &r.seen)
}

// nextRaw returns the next record's bytes (valid until the next call), its
// row and its line.
func (r *jsonlReader) nextRaw() ([]byte, int64, int64, error) {
	if r.err != nil {
		return nil, 0, 0, r.err
	}
	for {
		line, err := r.readLine()
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("pairs: reading %s after line %d: %w", r.name, r.line, err)
			}
			r.err = err
			return nil, 0, 0, err
		}
		r.line++
		if r.line == 1 {
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		row := r.row
		r.row++
		return line, row, r.line, nil
	}
}

// exampleFromJSON decodes one JSON record into an Example, or a *RowError
// that still carries the row and id (for the rejects file). copyRaw copies
// the record into the error when its buffer will be reused.
func exampleFromJSON(raw []byte, row int64, name string, line int64, copyRaw bool, names columns, seen *jsonSeen) (Example, error) {
	rec, fe := decodeJSONRecord(raw, names)
	seen.add(rec)
	if fe == nil {
		var ex Example
		if ex, fe = build(rec, row, names); fe == nil {
			return ex, nil
		}
	}
	ex := Example{Row: row}
	if rec != nil && rec.hasID {
		ex.ID = rec.id
	} else {
		ex.ID = fmt.Sprint(row)
	}
	if copyRaw {
		raw = slices.Clone(raw)
	}
	return ex, &RowError{File: name, Row: row, Line: line, Field: fe.field, Err: fe.err, Raw: raw}
}

func (r *jsonlReader) Close() error {
	if r.err == nil {
		r.err = errClosed
	}
	if r.closer != nil {
		c := r.closer
		r.closer = nil
		return c()
	}
	return nil
}

var (
	utf8BOM   = []byte("\xef\xbb\xbf")
	errClosed = errors.New("pairs: reader is closed")
)

// jsonArrayReader streams the elements of a JSON array of objects.
type jsonArrayReader struct {
	name    string
	dec     *json.Decoder
	closer  func() error
	started bool
	row     int64
	err     error
	names   columns
	seen    jsonSeen
}

func newJSONArrayReader(name string, r io.Reader, closer func() error, names columns) *jsonArrayReader {
	return &jsonArrayReader{name: name, dec: json.NewDecoder(r), closer: closer, names: names}
}

func (r *jsonArrayReader) fail(format string, args ...any) ([]byte, int64, int64, error) {
	r.err = fmt.Errorf("pairs: %s: "+format, append([]any{r.name}, args...)...)
	return nil, 0, 0, r.err
}

func (r *jsonArrayReader) Next() (Example, error) {
	raw, row, _, err := r.nextRaw()
	if err == io.EOF {
		if err := r.seen.check(r.name, r.names); err != nil {
			r.err = err
			return Example{}, err
		}
	}
	if err != nil {
		return Example{}, err
	}
	return exampleFromJSON(raw, row, r.name, 0, false, r.names, &r.seen)
}

// nextRaw returns the next element's bytes and its row (line 0).
func (r *jsonArrayReader) nextRaw() ([]byte, int64, int64, error) {
	if r.err != nil {
		return nil, 0, 0, r.err
	}
	if !r.started {
		r.started = true
		tok, err := r.dec.Token()
		if err == io.EOF {
			r.err = io.EOF
			return nil, 0, 0, io.EOF
		}
		if err != nil {
			return r.fail("malformed JSON at the start: %v", err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return r.fail("expected a JSON array of objects, found %v", tok)
		}
	}
	if !r.dec.More() {
		tok, err := r.dec.Token()
		if err != nil {
			return r.fail("malformed JSON after row %d (byte %d): %v", r.row-1, r.dec.InputOffset(), noEOF(err))
		}
		if d, ok := tok.(json.Delim); !ok || d != ']' {
			return r.fail("malformed JSON after row %d (byte %d): unexpected %v", r.row-1, r.dec.InputOffset(), tok)
		}
		if tok, err := r.dec.Token(); err != io.EOF {
			if err != nil {
				return r.fail("malformed JSON after the array (byte %d): %v", r.dec.InputOffset(), err)
			}
			return r.fail("unexpected data after the JSON array (byte %d): %v", r.dec.InputOffset(), tok)
		}
		r.err = io.EOF
		return nil, 0, 0, io.EOF
	}
	start := r.dec.InputOffset()
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return r.fail("malformed JSON in row %d (the element after byte %d); cannot resynchronise after a syntax error: %v", r.row, start, noEOF(err))
	}
	row := r.row
	r.row++
	return raw, row, 0, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *jsonArrayReader) Close() error {
	if r.err == nil {
		r.err = errClosed
	}
	if r.closer != nil {
		c := r.closer
		r.closer = nil
		return c()
	}
	return nil
}
