package arrowio

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// toIPCFile rewrites a dpo stream as an Arrow IPC file with arrow-go's own
// file writer, as a third-party tool would (pyarrow's read_all then
// new_file): batch metadata dropped, no end-marker batch. (A file that
// keeps the batch metadata must keep the end marker: TestIPCFileBlockOrder.)
func toIPCFile(t *testing.T, stream []byte, path string) {
	t.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(rd.Schema()), ipc.WithZstd())
	if err != nil {
		t.Fatal(err)
	}
	for rd.Next() {
		rec := rd.RecordBatch()
		if rec.NumRows() == 0 {
			continue // the end marker
		}
		plain := array.NewRecordBatch(rec.Schema(), rec.Columns(), rec.NumRows())
		err := w.Write(plain)
		plain.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every row of r.
func readAll(t *testing.T, r *Reader) []row {
	t.Helper()
	defer r.Release()
	var rows []row
	for r.Next() {
		p, err := r.Pairs()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < p.Rows; i++ {
			rows = append(rows, row{id: p.ID.Value(i), prompt: slices.Clone(p.Prompt.Row(i)), chosen: slices.Clone(p.Chosen.Row(i)), rejected: slices.Clone(p.Rejected.Row(i))})
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestOpenArrowIPCFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rows := genRows(50, 3)
	stream := writeStream(t, mem, testMeta(), rows, 16, WriterOptions{})
	path := filepath.Join(t.TempDir(), "pairs.arrow")
	toIPCFile(t, stream, path)

	r, err := Open(path, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := r.Metadata().Get(KeyProducer); !ok || got == "" {
		t.Errorf("schema metadata lost: %v", r.Metadata())
	}
	diffRows(t, readAll(t, r), rows)

	// The same file on stdin.
	data, _ := os.ReadFile(path)
	r, err = Open("-", bytes.NewReader(data), mem)
	if err != nil {
		t.Fatal(err)
	}
	diffRows(t, readAll(t, r), rows)

	// A truncated file is an error, not a short read.
	short := filepath.Join(t.TempDir(), "short.arrow")
	os.WriteFile(short, data[:len(data)-3], 0o644)
	if _, err := Open(short, nil, mem); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("truncated IPC file: err = %v", err)
	}
}

func TestOpenNotIPC(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, data, want string }{
		{"pairs.jsonl", `{"prompt": "a", "chosen": "b", "rejected": "c"}` + "\n", "run dpo-tokenize on it first"},
		{"pairs.json", ` [{"prompt": "a"}]`, "JSON"},
		{"pairs.parquet", "PAR1\x00\x00\x00\x00", "Parquet"},
		{"pairs.arrow.zst", "\x28\xb5\x2f\xfd\x00\x00\x00\x00", "decompress it first"},
	} {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, []byte(c.data), 0o644)
		_, err := Open(p, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want it to name the file and say %q", c.name, err, c.want)
		}
	}
}

func TestOpenAllAndRange(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rows := genRows(70, 5)
	dir := t.TempDir()
	// Three inputs: two streams and an IPC file, of 25, 0 and 45 rows.
	paths := []string{filepath.Join(dir, "a.arrow"), filepath.Join(dir, "b.arrow"), filepath.Join(dir, "c.arrow")}
	os.WriteFile(paths[0], writeStream(t, mem, testMeta(), rows[:25], 10, WriterOptions{}), 0o644)
	os.WriteFile(paths[1], writeStream(t, mem, testMeta(), nil, 10, WriterOptions{}), 0o644)
	toIPCFile(t, writeStream(t, mem, testMeta(), rows[25:], 7, WriterOptions{}), paths[2])

	r, err := OpenAll(paths, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	diffRows(t, readAll(t, r), rows)
	if n, err := CountRows(paths, mem); err != nil || n != 70 {
		t.Fatalf("CountRows = %d, %v", n, err)
	}
	for _, rg := range [][2]int64{{0, 70}, {0, 0}, {3, 9}, {20, 30}, {24, 26}, {25, 70}, {69, 70}, {0, 23}} {
		r, err := OpenAll(paths, nil, mem)
		if err != nil {
			t.Fatal(err)
		}
		r.SetRange(rg[0], rg[1])
		got := readAll(t, r)
		if !equalRows(got, rows[rg[0]:rg[1]]) {
			t.Errorf("range %v: got %d rows, want %d", rg, len(got), rg[1]-rg[0])
		}
	}

	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{}\n"), 0o644)
	r, err = OpenAll([]string{paths[0], bad}, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("second input not a stream: err = %v", err)
	}
	r.Release()
}
