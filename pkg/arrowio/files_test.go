package arrowio

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestOutputCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pairs.arrows")
	out, err := CreateOutput(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("target exists before Commit: %v", err)
	}
	if n := dirEntries(t, dir); len(n) != 1 || !strings.HasPrefix(n[0], ".pairs.arrows.tmp-") {
		t.Errorf("before Commit the directory holds %v, want one temp file", n)
	}
	if err := out.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := out.Abort(); err != nil { // deferred Abort after Commit: no-op
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	if n := dirEntries(t, dir); !slices.Equal(n, []string{"pairs.arrows"}) {
		t.Errorf("after Commit the directory holds %v", n)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	if err := out.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
}

func TestOutputAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pairs.arrows")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := CreateOutput(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write(bytes.Repeat([]byte("x"), 3<<20)); err != nil { // beyond the buffer
		t.Fatal(err)
	}
	if err := out.Abort(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("Abort changed the existing target: %q", got[:min(len(got), 10)])
	}
	if n := dirEntries(t, dir); !slices.Equal(n, []string{"pairs.arrows"}) {
		t.Errorf("after Abort the directory holds %v", n)
	}
	if _, err := out.Write([]byte("x")); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if err := out.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

func TestOutputErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateOutput(dir, nil); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory target: %v", err)
	}
	if _, err := CreateOutput(filepath.Join(dir, "missing", "x.arrows"), nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing directory: %v", err)
	}
	if _, err := OpenInput(filepath.Join(dir, "nope.arrows"), nil); err == nil || !strings.Contains(err.Error(), "nope.arrows") {
		t.Errorf("missing input: %v", err)
	}
	if _, err := OpenInput(dir, nil); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory input: %v", err)
	}
	if _, err := Open("-", nil, nil); err == nil {
		t.Error("stdin without a reader: no error")
	}
}

// TestStdinStdout writes a stream to "-" and reads it back from "-", and
// the same through a file path.
func TestStdinStdout(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := genRows(25, 9)
	write := func(path string, stdout *bytes.Buffer) {
		out, err := CreateOutput(path, stdout)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Abort()
		schema := PairsSchema(testMeta())
		w, err := NewWriter(out, schema, WriterOptions{Mem: mem, BatchRows: 10})
		if err != nil {
			t.Fatal(err)
		}
		rec := buildRecord(t, mem, schema, rows)
		defer rec.Release()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := out.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path string, stdin *bytes.Buffer) {
		r, err := Open(path, stdin, mem)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Release()
		if want := InputName(path); r.Name() != want {
			t.Errorf("Name() = %q, want %q", r.Name(), want)
		}
		var got []row
		for r.Next() {
			p, err := r.Pairs()
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < p.Rows; i++ {
				got = append(got, row{p.ID.Value(i), slices.Clone(p.Prompt.Row(i)), slices.Clone(p.Chosen.Row(i)), slices.Clone(p.Rejected.Row(i))})
			}
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		diffRows(t, got, rows)
	}
	var pipe bytes.Buffer
	write("-", &pipe)
	read("-", &pipe)

	path := filepath.Join(t.TempDir(), "x.arrows")
	write(path, nil)
	read(path, nil)

	// A truncated stdin names "stdin".
	var cut bytes.Buffer
	write("", &cut)
	cut.Truncate(cut.Len() / 2)
	r, err := Open("-", &cut, mem)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
	}
	r.Release()
	if err := r.Err(); err == nil || !strings.HasPrefix(err.Error(), "arrowio: stdin: ") {
		t.Errorf("truncated stdin: %v", err)
	}
}
