package arrowio

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// splitMessages cuts an IPC stream into its framed messages: the schema,
// each record batch (the end marker last) and the end-of-stream bytes.
func splitMessages(tb testing.TB, data []byte) [][]byte {
	tb.Helper()
	var out [][]byte
	for pos := 0; pos < len(data); {
		if len(data)-pos < 8 || binary.LittleEndian.Uint32(data[pos:]) != 0xFFFFFFFF {
			tb.Fatalf("no message at %d", pos)
		}
		n := int(binary.LittleEndian.Uint32(data[pos+4:]))
		if n == 0 { // end-of-stream
			out = append(out, data[pos:pos+8])
			break
		}
		body, err := verifyMessage(data[pos+8 : pos+8+n])
		if err != nil {
			tb.Fatal(err)
		}
		end := pos + 8 + n + int(body)
		out = append(out, data[pos:end])
		pos = end
	}
	return out
}

// orderStream writes 40 rows in 4 batches of 10 and returns its messages:
// schema, batches 0-3, end marker, end-of-stream.
func orderStream(tb testing.TB, mem memory.Allocator, opts WriterOptions, seed uint64) [][]byte {
	tb.Helper()
	opts.BatchRows = 10
	meta := testMeta()
	if opts.version1 {
		meta.Set(KeyFormatVersion, "1")
	}
	msgs := splitMessages(tb, writeStream(tb, mem, meta, genRows(40, seed), 10, opts))
	if len(msgs) != 7 {
		tb.Fatalf("%d messages, want 7", len(msgs))
	}
	return msgs
}

// readErr reads data to the end and returns the error.
func readErr(data []byte, name string, mem memory.Allocator, warn *bytes.Buffer) error {
	r, err := NewReader(bytes.NewReader(data), name, mem)
	if err != nil {
		return err
	}
	defer r.Release()
	if warn != nil {
		r.SetWarnings(warn)
	}
	for r.Next() {
	}
	return r.Err()
}

// Batches repeated, swapped, lost or taken from another stream of the same
// schema are refused with an error naming the input and the batch, also
// where the row count still adds up.
func TestBatchOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	m := orderStream(t, mem, WriterOptions{}, 2)
	other := orderStream(t, mem, WriterOptions{}, 3) // same schema, other rows
	s, b0, b1, b2, b3, end, eos := m[0], m[1], m[2], m[3], m[4], m[5], m[6]
	for _, tc := range []struct {
		name string
		data [][]byte
		want string
	}{
		{"intact", m, ""},
		{"duplicated batch (instead of the next)", [][]byte{s, b0, b1, b1, b3, end, eos}, "batch 2: dpo.batch_index 1 where batch 2 belongs: batch 1 repeated"},
		{"duplicated batch (extra)", [][]byte{s, b0, b1, b1, b2, b3, end, eos}, "batch 2: dpo.batch_index 1 where batch 2 belongs: batch 1 repeated"},
		{"swapped batches", [][]byte{s, b0, b2, b1, b3, end, eos}, "batch 1: dpo.batch_index 2 where batch 1 belongs: batch 1 missing or batches out of order"},
		{"middle batch dropped", [][]byte{s, b0, b1, b3, end, eos}, "batch 2: dpo.batch_index 3 where batch 2 belongs: batch 2 missing"},
		{"two batches dropped", [][]byte{s, b0, b3, end, eos}, "batch 1: dpo.batch_index 3 where batch 1 belongs: batches 1 to 2 missing"},
		{"last batch dropped", [][]byte{s, b0, b1, b2, end, eos}, "batch 3: end marker says 4 batches but the stream holds 3"},
		{"first batch from another stream", [][]byte{s, other[1], b1, b2, b3, end, eos}, "batch 1: dpo.prev_crc32c"},
		{"last batch from another stream", [][]byte{s, b0, b1, b2, other[4], end, eos}, "batch 3: dpo.prev_crc32c"},
		{"end marker from another stream", [][]byte{s, b0, b1, b2, b3, other[5], eos}, "batch 4: end marker's dpo.prev_crc32c"},
		{"truncated after a batch", [][]byte{s, b0, b1}, "stream ends without the end marker after 20 rows in 2 batches: truncated input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := readErr(slices.Concat(tc.data...), "in.arrows", mem, nil)
			checkErr(t, err, tc.want)
			if err != nil && !strings.Contains(err.Error(), "arrowio: in.arrows: batch ") && !strings.Contains(err.Error(), "arrowio: in.arrows: stream ends without the end marker after 20 rows in 2 batches") {
				t.Errorf("error %q does not name the input and the batch", err)
			}
		})
	}
}

// Streams of format version 2 (checksums, no order keys) and 1 still read,
// with a warning when asked for; their lost or repeated batches are caught
// only by the end marker's row count.
func TestBatchOrderOldVersions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, opts := range []WriterOptions{{version2: true}, {version1: true}} {
		m := orderStream(t, mem, opts, 2)
		var warn bytes.Buffer
		if err := readErr(slices.Concat(m...), "old.arrows", mem, &warn); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(warn.String(), "warning: old.arrows: written by an older dpo") || strings.Count(warn.String(), "\n") != 1 {
			t.Errorf("warning %q", warn.String())
		}
		swapped := slices.Concat(m[0], m[1], m[3], m[2], m[4], m[5], m[6])
		if err := readErr(swapped, "old.arrows", mem, nil); err != nil {
			t.Errorf("old stream, batches swapped: %v (nothing to check them against)", err)
		}
		lost := slices.Concat(m[0], m[1], m[2], m[4], m[5], m[6])
		checkErr(t, readErr(lost, "old.arrows", mem, nil), "end marker says 40 rows but the stream holds 30 rows in 3 batches")
	}
	// A current stream gives no warning.
	var warn bytes.Buffer
	if err := readErr(slices.Concat(orderStream(t, mem, WriterOptions{}, 2)...), "new.arrows", mem, &warn); err != nil || warn.Len() > 0 {
		t.Errorf("current stream: %v, warning %q", err, warn.String())
	}
}

// ipcFileBytes writes the data batches of a stream (its end marker
// dropped, as third-party tools do) as an Arrow IPC file with arrow-go's
// file writer.
func ipcFileBytes(tb testing.TB, stream []byte) []byte {
	tb.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(stream))
	if err != nil {
		tb.Fatal(err)
	}
	defer rd.Release()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(rd.Schema()))
	if err != nil {
		tb.Fatal(err)
	}
	for rd.Next() {
		if rd.RecordBatch().NumRows() == 0 {
			continue
		}
		if err := w.Write(rd.RecordBatch()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// footerBlocks returns the byte offset of each record batch Block struct
// (24 bytes) in an Arrow IPC file's footer.
func footerBlocks(tb testing.TB, file []byte) []int {
	tb.Helper()
	flen := int(binary.LittleEndian.Uint32(file[len(file)-10:]))
	start := len(file) - 10 - flen
	fb := file[start : len(file)-10]
	root, _ := fbU32(fb, 0)
	footer, err := fbTableAt(fb, int(root))
	if err != nil {
		tb.Fatal(err)
	}
	vs, n, err := footer.vector(3, 24)
	if err != nil {
		tb.Fatal(err)
	}
	var out []int
	for k := range n {
		out = append(out, start+vs+24*k)
	}
	return out
}

// patchFooter makes footer entry k point at block perm[k].
func patchFooter(tb testing.TB, file []byte, perm []int) []byte {
	tb.Helper()
	out := bytes.Clone(file)
	blocks := footerBlocks(tb, file)
	for k, j := range perm {
		copy(out[blocks[k]:blocks[k]+24], file[blocks[j]:blocks[j]+24])
	}
	return out
}

// An Arrow IPC file whose footer lists one block twice, or lists blocks
// out of file order, is refused; so are its data batches out of order
// when they carry dpo's order keys.
func TestIPCFileBlockOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	m := orderStream(t, mem, WriterOptions{}, 2)
	file := ipcFileBytes(t, slices.Concat(m...))
	if n := len(footerBlocks(t, file)); n != 4 {
		t.Fatalf("%d footer blocks, want 4", n)
	}
	plain := ipcFileBytes(t, slices.Concat(orderStream(t, mem, WriterOptions{version2: true}, 2)...)) // no order keys
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"intact", file, ""},
		{"intact, no order keys", plain, ""},
		{"block listed twice", patchFooter(t, file, []int{0, 1, 1, 3}), "record batch 2: the footer lists the block at offset"},
		{"block listed twice, no order keys", patchFooter(t, plain, []int{0, 1, 1, 3}), "twice (also as record batch 1)"},
		{"blocks swapped in the footer", patchFooter(t, plain, []int{0, 2, 1, 3}), "record batch 2: footer block at offset"},
		{"batches written out of order", ipcFileBytes(t, slices.Concat(m[0], m[2], m[1], m[3], m[4], m[5], m[6])), "batch 0: dpo.batch_index 1 where batch 0 belongs"},
		{"batch written twice", ipcFileBytes(t, slices.Concat(m[0], m[1], m[1], m[2], m[3], m[4], m[5], m[6])), "batch 1: dpo.batch_index 0 where batch 1 belongs: batch 0 repeated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".arrow")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, stdin := range []bool{false, true} {
				p := path
				var in *bytes.Reader
				if stdin {
					p, in = "-", bytes.NewReader(tc.data)
				}
				r, err := Open(p, in, mem)
				if err == nil {
					for r.Next() {
					}
					err = r.Err()
					r.Release()
				}
				checkErr(t, err, tc.want)
				if err != nil && !strings.Contains(err.Error(), InputName(p)) {
					t.Errorf("error %q does not name the input", err)
				}
			}
		})
	}
}

// FuzzBatchOrder reassembles a valid stream's data batches in any order
// (seq picks each one, modulo 4), with its end marker: the read must
// succeed exactly when seq is 0 1 2 3, and otherwise fail naming the input
// and a batch.
func FuzzBatchOrder(f *testing.F) {
	for _, seq := range []string{"\x00\x01\x02\x03", "\x00\x01\x01\x03", "\x00\x02\x01\x03", "\x00\x01\x03", "\x00\x01\x02", "", "\x00\x01\x02\x03\x03", "\x04\x05\x06\x07"} {
		f.Add([]byte(seq), false)
	}
	f.Add([]byte("\x00\x01\x02\x03"), true)
	mem := memory.NewGoAllocator()
	m := orderStream(f, mem, WriterOptions{}, 2)
	f.Fuzz(func(t *testing.T, seq []byte, file bool) {
		if len(seq) > 16 {
			return
		}
		parts := [][]byte{m[0]}
		for _, b := range seq {
			parts = append(parts, m[1+int(b)%4])
		}
		parts = append(parts, m[5], m[6])
		data := slices.Concat(parts...)
		name := "fuzz.arrows"
		var err error
		if file {
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, ipcFileBytes(t, data), 0o644); err != nil {
				t.Fatal(err)
			}
			var r *Reader
			if r, err = Open(path, nil, mem); err == nil {
				for r.Next() {
				}
				err = r.Err()
				r.Release()
			}
		} else {
			err = readErr(data, name, mem, nil)
		}
		identity := len(seq) == 4
		for i, b := range seq {
			identity = identity && int(b)%4 == i
		}
		// An IPC file without its end marker cannot tell a missing last
		// batch (the footer vouches for completeness).
		prefix := len(seq) <= 4
		for i, b := range seq {
			prefix = prefix && int(b)%4 == i
		}
		switch {
		case identity && err != nil:
			t.Fatalf("intact stream: %v", err)
		case file && prefix:
		case !identity && err == nil:
			t.Fatalf("batches %v read without error", seq)
		case err != nil && (!strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "batch")):
			t.Fatalf("error %q does not name the input and a batch", err)
		}
	})
}

// FuzzIPCFileFooter points each footer entry of an Arrow IPC file (4 record
// batches, no dpo order keys) at any block: only the original footer reads.
func FuzzIPCFileFooter(f *testing.F) {
	for _, seq := range []string{"\x00\x01\x02\x03", "\x00\x01\x01\x03", "\x00\x02\x01\x03", "\x03\x02\x01\x00", "\x00\x00\x00\x00"} {
		f.Add([]byte(seq))
	}
	mem := memory.NewGoAllocator()
	file := ipcFileBytes(f, slices.Concat(orderStream(f, mem, WriterOptions{version2: true}, 2)...))
	f.Fuzz(func(t *testing.T, seq []byte) {
		if len(seq) != 4 {
			return
		}
		perm := make([]int, 4)
		identity := true
		for i, b := range seq {
			perm[i] = int(b) % 4
			identity = identity && perm[i] == i
		}
		path := filepath.Join(t.TempDir(), "fuzz.arrow")
		if err := os.WriteFile(path, patchFooter(t, file, perm), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, nil, mem)
		if err == nil {
			for r.Next() {
			}
			err = r.Err()
			r.Release()
		}
		switch {
		case identity && err != nil:
			t.Fatalf("intact file: %v", err)
		case !identity && err == nil:
			t.Fatalf("footer %v read without error", perm)
		case err != nil && (!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "record batch")):
			t.Fatalf("error %q does not name the file and a batch", err)
		}
	})
}
