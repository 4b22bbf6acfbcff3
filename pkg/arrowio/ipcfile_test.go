package arrowio

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Outputs named .arrow, .feather or .ipc get the Arrow IPC file format;
// .arrows, other names and stdout a stream. Both read back to the same rows
// with the end marker checked, from a path and from stdin; a file cut short
// (no footer) is refused.
func TestWriterIPCFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := genRows(50, 7)
	dir := t.TempDir()
	write := func(path string, stdout *bytes.Buffer) (bool, []byte) {
		t.Helper()
		o, err := CreateOutput(path, stdout)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Abort()
		file := WantsIPCFile(o)
		schema := PairsSchema(testMeta())
		w, err := NewWriter(o, schema, WriterOptions{BatchRows: 16, Mem: mem, File: file})
		if err != nil {
			t.Fatal(err)
		}
		rec := buildRecord(t, mem, schema, rows)
		err = w.Write(rec)
		rec.Release()
		if err == nil {
			err = w.Close()
		}
		if err == nil {
			err = o.Commit()
		}
		if err != nil {
			t.Fatal(err)
		}
		if stdout != nil {
			return file, stdout.Bytes()
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return file, data
	}
	read := func(path string, data []byte) ([]row, error) {
		r, err := Open(path, bytes.NewReader(data), mem)
		if err != nil {
			return nil, err
		}
		defer r.Release()
		var got []row
		for r.Next() {
			p, err := r.Pairs()
			if err != nil {
				return nil, err
			}
			for i := range p.Rows {
				got = append(got, row{id: p.ID.Value(i), prompt: append([]int32(nil), p.Prompt.Row(i)...),
					chosen: append([]int32(nil), p.Chosen.Row(i)...), rejected: append([]int32(nil), p.Rejected.Row(i)...)})
			}
		}
		if !r.Complete() && r.Err() == nil {
			t.Errorf("%s: read without the end marker", path)
		}
		return got, r.Err()
	}
	for _, tc := range []struct {
		name string
		file bool
	}{
		{"pairs.arrow", true}, {"pairs.FEATHER", true}, {"pairs.ipc", true},
		{"pairs.arrows", false}, {"pairs.bin", false}, {"-", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			var stdout *bytes.Buffer
			if tc.name == "-" {
				path, stdout = "-", new(bytes.Buffer)
			}
			file, data := write(path, stdout)
			if file != tc.file || bytes.HasPrefix(data, magicIPCFile) != tc.file {
				t.Fatalf("file format %v (starts %q), want %v", file, data[:8], tc.file)
			}
			if tc.file && !bytes.HasSuffix(data, magicIPCFile) {
				t.Fatalf("file ends %q, want the trailing magic", data[len(data)-8:])
			}
			for _, p := range []string{path, "-"} {
				got, err := read(p, data)
				if err != nil {
					t.Fatalf("reading %s: %v", p, err)
				}
				if !equalRows(got, rows) {
					diffRows(t, got, rows)
				}
			}
			if !tc.file {
				return
			}
			cut := filepath.Join(dir, "cut-"+tc.name)
			if err := os.WriteFile(cut, data[:len(data)-6], 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := read(cut, nil)
			checkErr(t, err, "without its trailing \"ARROW1\" magic")
		})
	}
}

// SchemaOf reads the schema from the first bytes of a stream and of a file,
// and says no to other bytes.
func TestSchemaOf(t *testing.T) {
	for _, file := range []bool{false, true} {
		var buf bytes.Buffer
		if err := WriteCompletions(&buf, Metadata{}, []Completion{{ID: "a", PromptIDs: []int32{1}}}, WriterOptions{File: file}); err != nil {
			t.Fatal(err)
		}
		s, ok := SchemaOf(buf.Bytes()[:min(buf.Len(), 4096)])
		if !ok || len(s.FieldIndices(ColPromptInputIDs)) != 1 || len(s.FieldIndices(ColChosenInputIDs)) != 0 {
			t.Errorf("file %v: %v %v", file, s, ok)
		}
	}
	for _, head := range []string{"", "{\"prompt\": 1}", "PAR1xxxx", "ARROW1\x00\x00garbage"} {
		if s, ok := SchemaOf([]byte(head)); ok {
			t.Errorf("%q: schema %v", head, s)
		}
	}
}
