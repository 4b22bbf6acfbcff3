package arrowio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

var errNoSpace = errors.New("no space left on device")

// fullFile is a regular file on a disk with room for limit bytes: a write
// takes what fits and then fails, as write(2) on a full disk does. It can
// seek and truncate, as *os.File can.
type fullFile struct {
	data   []byte
	pos    int64
	limit  int
	append bool
	writes int
}

func (f *fullFile) Write(p []byte) (int, error) {
	f.writes++
	if f.append {
		f.pos = int64(len(f.data))
	}
	n := min(len(p), max(0, f.limit-int(f.pos)))
	if end := int(f.pos) + n; end > len(f.data) {
		f.data = append(f.data, make([]byte, end-len(f.data))...)
	}
	copy(f.data[f.pos:], p[:n])
	f.pos += int64(n)
	if n < len(p) {
		return n, errNoSpace
	}
	return n, nil
}

func (f *fullFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += f.pos
	case io.SeekEnd:
		off += int64(len(f.data))
	}
	f.pos = off
	return off, nil
}

func (f *fullFile) Truncate(n int64) error {
	f.data = f.data[:n]
	return nil
}

// wholeOrNothing is a device or pipe that takes each write whole until
// limit bytes, then fails without taking any (as /dev/full does at 0).
type wholeOrNothing struct {
	bytes.Buffer
	limit int
}

func (w *wholeOrNothing) Write(p []byte) (int, error) {
	if w.Len()+len(p) > w.limit {
		return 0, errNoSpace
	}
	return w.Buffer.Write(p)
}

// jsonLines returns n JSON lines of varying lengths.
func jsonLines(n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, fmt.Appendf(nil, "{\"id\":\"%d\",\"text\":%q}\n", i, strings.Repeat("x", 50+i*37%4000)))
	}
	return out
}

// checkWholeLines checks that got is the concatenation of a prefix of lines.
func checkWholeLines(t *testing.T, got []byte, lines [][]byte) {
	t.Helper()
	rest := got
	for _, l := range lines {
		if !bytes.HasPrefix(rest, l) {
			break
		}
		rest = rest[len(l):]
	}
	if len(rest) > 0 {
		t.Fatalf("the destination holds a partial line: %d bytes after the last whole line (%q...)", len(rest), rest[:min(len(rest), 40)])
	}
}

// What reaches a JSONL destination that fails part-way ends at a line
// boundary: a full regular file (write takes part, then fails) is cut back;
// a device or pipe that refuses a write takes nothing of it.
func TestLineWriterFullDestination(t *testing.T) {
	lines := jsonLines(3000) // about 6 MB: several flushes of every buffer
	var total int
	for _, l := range lines {
		total += len(l)
	}
	for _, limit := range []int{0, 1, 100, 70000, 1 << 20, 1<<20 + 12345, 3 << 20, total - 1} {
		for _, kind := range []string{"file", "appended file", "device"} {
			for _, via := range []string{"LineWriter", "Output", "LineWriter on Output", "WriteLines"} {
				t.Run(fmt.Sprintf("%s/%s/limit %d", kind, via, limit), func(t *testing.T) {
					var dest io.Writer
					var contents func() []byte
					switch kind {
					case "file", "appended file":
						f := &fullFile{limit: limit, append: kind == "appended file"}
						dest, contents = f, func() []byte { return f.data }
					default:
						d := &wholeOrNothing{limit: limit}
						dest, contents = d, d.Bytes
					}
					var err error
					switch via {
					case "LineWriter":
						lw := NewLineWriter(dest)
						for _, l := range lines {
							if _, err = lw.Write(l); err != nil {
								break
							}
						}
						if err == nil {
							err = lw.Flush()
						}
					case "WriteLines":
						for _, l := range lines {
							if err = WriteLines(dest, l); err != nil {
								break
							}
						}
					default:
						o, cerr := CreateOutput("-", dest)
						if cerr != nil {
							t.Fatal(cerr)
						}
						var lw *LineWriter
						if via == "LineWriter on Output" {
							lw = NewLineWriter(o)
						}
						for _, l := range lines {
							if lw != nil {
								_, err = lw.Write(l)
							} else {
								_, err = o.WriteUnit(l)
							}
							if err != nil {
								break
							}
						}
						if lerr := o.Commit(); err == nil {
							err = lerr
						}
					}
					if !errors.Is(err, errNoSpace) {
						t.Fatalf("err = %v, want the write error", err)
					}
					checkWholeLines(t, contents(), lines)
				})
			}
		}
	}
}

// LineWriter refuses a write that does not end a line.
func TestLineWriterNeedsWholeLines(t *testing.T) {
	var b bytes.Buffer
	lw := NewLineWriter(&b)
	if _, err := lw.Write([]byte(`{"a":1}`)); err == nil {
		t.Error("a write without a newline was accepted")
	}
	if err := WriteLines(&b, []byte("x")); err == nil {
		t.Error("WriteLines without a newline accepted")
	}
	if err := NewLineWriter(&b).WriteLine([]byte("a\nb")); err == nil {
		t.Error("WriteLine with an embedded newline accepted")
	}
}

// /dev/full: every output path reports the failure.
func TestLineWriterDevFull(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	defer f.Close()
	lines := jsonLines(10)
	o, err := CreateOutput("-", f)
	if err != nil {
		t.Fatal(err)
	}
	lw := NewLineWriter(o)
	for _, l := range lines {
		if _, err := lw.Write(l); err != nil {
			t.Fatal(err) // buffered: nothing written yet
		}
	}
	if err := o.Commit(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("stdout on /dev/full: Commit = %v, want ENOSPC", err)
	}
	o, err = CreateOutput("/dev/full", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		o.WriteUnit(l)
	}
	if err := o.Commit(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("-o /dev/full: Commit = %v, want ENOSPC", err)
	}
	if err := WriteLines(f, lines[0]); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("WriteLines onto /dev/full = %v, want ENOSPC", err)
	}
}
