package arrowio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// lineBufferSize is how much LineWriter buffers for a destination that is
// not an Output.
const lineBufferSize = 64 << 10

// unitWriter is implemented by Output: WriteUnit never splits p between
// two writes to the destination.
type unitWriter interface {
	WriteUnit(p []byte) (int, error)
}

// seekTruncater is implemented by *os.File; on a regular file both work.
type seekTruncater interface {
	Seek(offset int64, whence int) (int64, error)
	Truncate(size int64) error
}

// writeWhole writes p to w with one Write call. When the write fails after
// part of p reached w (a full disk takes what fits, then fails) and w can
// seek and truncate (a regular file), the part is cut off again so the
// file ends where it ended before the call, and n is 0. Elsewhere (a pipe,
// a device) what was written stays: a failing device such as /dev/full
// takes nothing, and a pipe takes a write of up to PIPE_BUF bytes whole.
func writeWhole(w io.Writer, p []byte) (n int, err error) {
	n, err = w.Write(p)
	if err == nil || n <= 0 {
		return n, err
	}
	st, ok := w.(seekTruncater)
	if !ok {
		return n, err
	}
	// The position after the write is where it ended, in append mode too.
	end, serr := st.Seek(0, io.SeekCurrent)
	if serr != nil || end < int64(n) {
		return n, err
	}
	if st.Truncate(end-int64(n)) != nil {
		return n, err
	}
	if _, serr := st.Seek(end-int64(n), io.SeekStart); serr != nil {
		return n, err
	}
	return 0, err
}

// wholeWriter is an io.Writer whose every Write goes through writeWhole.
type wholeWriter struct{ w io.Writer }

func (w wholeWriter) Write(p []byte) (int, error) { return writeWhole(w.w, p) }

// WriteLines writes p, one or more complete lines, to w at once and whole:
// through [Output.WriteUnit] when w is an Output, else with one Write call
// whose partial write into a regular file is cut back (see LineWriter).
func WriteLines(w io.Writer, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if p[len(p)-1] != '\n' {
		return errNotLine
	}
	if u, ok := w.(unitWriter); ok {
		_, err := u.WriteUnit(p)
		return err
	}
	n, err := writeWhole(w, p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// LineWriter writes lines (JSON Lines) so that its destination only ever
// receives whole lines: each Write must be one or more complete lines, and
// is handed on whole. To an [Output] (stdout, a file written atomically, a
// device) it goes through [Output.WriteUnit]; to any other writer lines are
// buffered and written with one Write call per flush, through the partial
// write rollback described at writeWhole. After an error every Write and
// Flush returns it. Flush (or the Output's Commit) must follow the last
// Write.
type LineWriter struct {
	w    io.Writer
	unit unitWriter // w, when it is an Output
	buf  []byte
	err  error
}

// NewLineWriter returns a LineWriter onto w.
func NewLineWriter(w io.Writer) *LineWriter {
	l := &LineWriter{w: w}
	l.unit, _ = w.(unitWriter)
	return l
}

// errNotLine is returned for a Write that does not end a line.
var errNotLine = errors.New("arrowio: LineWriter: write does not end with a newline")

// Write queues p, one or more complete lines ending in '\n'.
func (l *LineWriter) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if p[len(p)-1] != '\n' {
		return 0, errNotLine
	}
	if l.unit != nil {
		if _, err := l.unit.WriteUnit(p); err != nil {
			l.err = err
			return 0, err
		}
		return len(p), nil
	}
	if len(l.buf)+len(p) > lineBufferSize && len(l.buf) > 0 {
		if err := l.Flush(); err != nil {
			return 0, err
		}
	}
	l.buf = append(l.buf, p...)
	if len(l.buf) >= lineBufferSize {
		if err := l.Flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// WriteLine writes line followed by '\n' (line must not contain one).
func (l *LineWriter) WriteLine(line []byte) error {
	if bytes.IndexByte(line, '\n') >= 0 {
		if l.err == nil {
			l.err = fmt.Errorf("arrowio: LineWriter: line contains a newline")
		}
		return l.err
	}
	b := make([]byte, 0, len(line)+1)
	_, err := l.Write(append(append(b, line...), '\n'))
	return err
}

// Flush writes the buffered lines. For an Output destination it does
// nothing (the Output's Commit flushes).
func (l *LineWriter) Flush() error {
	if l.err != nil {
		return l.err
	}
	if len(l.buf) == 0 {
		return nil
	}
	n, err := writeWhole(l.w, l.buf)
	if err == nil && n < len(l.buf) {
		err = io.ErrShortWrite
	}
	l.buf = l.buf[:0]
	if err != nil {
		l.err = fmt.Errorf("arrowio: writing lines: %w", err)
	}
	return l.err
}
