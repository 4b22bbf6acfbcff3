package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

var errDiskFull = errors.New("no space left on device")

// diskFile is stdout redirected to a regular file on a disk with room for
// limit bytes: a write takes what fits, then fails (write(2) on a full
// disk). Like *os.File it can seek and truncate.
type diskFile struct {
	data  []byte
	limit int
}

func (f *diskFile) Write(p []byte) (int, error) {
	n := min(len(p), max(0, f.limit-len(f.data)))
	f.data = append(f.data, p[:n]...)
	if n < len(p) {
		return n, errDiskFull
	}
	return n, nil
}

func (f *diskFile) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart {
		off += int64(len(f.data))
	}
	return off, nil
}

func (f *diskFile) Truncate(n int64) error { f.data = f.data[:n]; return nil }

// pipeDevice takes each write whole until limit bytes, then refuses one
// whole (as /dev/full does from the first byte).
type pipeDevice struct {
	bytes.Buffer
	limit int
}

func (d *pipeDevice) Write(p []byte) (int, error) {
	if d.Len()+len(p) > d.limit {
		return 0, errDiskFull
	}
	return d.Buffer.Write(p)
}

// endsAtLine fails when out holds a partial last line.
func endsAtLine(t *testing.T, out []byte) {
	t.Helper()
	if len(out) == 0 {
		t.Fatal("nothing reached the output: the test does not exercise a mid-stream flush")
	}
	if !bytes.HasSuffix(out, []byte("\n")) {
		t.Fatalf("the output ends in half a line: ...%q", out[max(0, len(out)-40):])
	}
}

// dpo-score --format jsonl onto a full disk or a refusing device: the
// run fails and what reached stdout ends at a line boundary.
func TestScoreJSONLFullDisk(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewStringBuilder(mem)
	for i := range 5000 {
		b.Append(strings.Repeat("x", 100+i%37))
	}
	col := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len()))
	col.Release()
	defer rec.Release()
	for _, dev := range []bool{false, true} {
		t.Run(fmt.Sprintf("device=%v", dev), func(t *testing.T) {
			var stdout io.Writer
			var got func() []byte
			if dev {
				d := &pipeDevice{limit: 1<<20 + 777}
				stdout, got = d, d.Bytes
			} else {
				f := &diskFile{limit: 1<<20 + 777}
				stdout, got = f, func() []byte { return f.data }
			}
			o, err := arrowio.CreateOutput("-", stdout)
			if err != nil {
				t.Fatal(err)
			}
			sink := &jsonlSink{w: arrowio.NewLineWriter(o), schema: schema}
			for range 5 { // > 2 MiB
				if err = sink.Write(rec); err != nil {
					break
				}
			}
			if err == nil {
				err = sink.Close()
			}
			if err == nil {
				err = o.Commit()
			}
			if !errors.Is(err, errDiskFull) {
				t.Fatalf("err = %v, want the disk-full error", err)
			}
			endsAtLine(t, got())
		})
	}
}

// dpo-sample --format jsonl onto a full disk or a refusing device.
func TestSampleJSONLFullDisk(t *testing.T) {
	var rows []arrowio.Completion
	for i := range 3000 {
		rows = append(rows, arrowio.Completion{ID: fmt.Sprint(i), Prompt: strings.Repeat("p", 300+i%51), Completion: strings.Repeat("c", 200+i%13),
			PromptIDs: []int32{1, 2, 3}, CompletionIDs: []int32{4, 5}, Logp: -1.5, FinishReason: "stop"})
	}
	for _, dev := range []bool{false, true} {
		t.Run(fmt.Sprintf("device=%v", dev), func(t *testing.T) {
			var stdout io.Writer
			var got func() []byte
			if dev {
				d := &pipeDevice{limit: 1<<20 + 777}
				stdout, got = d, d.Bytes
			} else {
				f := &diskFile{limit: 1<<20 + 777}
				stdout, got = f, func() []byte { return f.data }
			}
			o, err := arrowio.CreateOutput("-", stdout)
			if err != nil {
				t.Fatal(err)
			}
			err = arrowio.WriteCompletionsJSONL(o, rows)
			if err == nil {
				err = o.Commit()
			}
			if !errors.Is(err, errDiskFull) {
				t.Fatalf("err = %v, want the disk-full error", err)
			}
			endsAtLine(t, got())
		})
	}
}
