package pairs

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// pyRatedFiles writes each JSON Lines file of rated completions named on
// the command line as Parquet, an Arrow IPC file (zstd) and an Arrow IPC
// stream, with the types datasets of rated completions have: list<string>
// completions and list<double> scores (grouped rows), or string
// completion and double score (flat rows).
const pyRatedFiles = `
import json, sys, pyarrow as pa, pyarrow.ipc as ipc, pyarrow.parquet as pq
for path in sys.argv[1:]:
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    t = pa.Table.from_pylist(rows)
    types = {"completions": pa.list_(pa.string()), "scores": pa.list_(pa.float64()),
             "score": pa.float64(), "sample_index": pa.int64()}
    t = t.cast(pa.schema([pa.field(f.name, types.get(f.name, f.type)) for f in t.schema]))
    base = path[:-len(".jsonl")]
    pq.write_table(t, base + ".parquet", row_group_size=2)
    with ipc.new_file(base + ".arrow", t.schema, options=ipc.IpcWriteOptions(compression="zstd")) as w:
        w.write_table(t, max_chunksize=3)
    with ipc.new_stream(base + ".arrows", t.schema) as w:
        w.write_table(t, max_chunksize=2)
`

// TestRatedArrowParquet: rated completions written by pyarrow as Parquet
// and Arrow IPC files and streams (grouped rows with list<string>
// completions and list<double> scores, text or conversation prompts; flat
// rows of a judge) binarize to the same pairs, skips and row errors as the
// same rows in JSON Lines, read from a path and from stdin.
func TestRatedArrowParquet(t *testing.T) {
	py := testrefs.Python(t, "pyarrow")
	dir := t.TempDir()
	sets := map[string]string{
		"grouped": `{"id":"sort-1","prompt":"sort: 3 1 2","completions":["1 2 3","3 2 1","1 3 2","1 2 3"],"scores":[1,0,0.333,1]}
{"id":"single","prompt":"sort: 5","completions":["5"],"scores":[1]}
{"id":"tied","prompt":"sort: 2 1","completions":["1 2","1 2"],"scores":[1,1]}
{"id":"small-gap","prompt":"p","completions":["a","b","c"],"scores":[0.2,0.1,0.0]}
{"id":"bad","prompt":"p","completions":["a","b"],"scores":[1]}
{"id":"ünï","prompt":"日本語","completions":["はい","いいえ","たぶん"],"scores":[3,1,2.5]}
`,
		"conversation": `{"id":"conv","prompt":[{"role":"user","content":"Say hi"}],"completions":["hi","hello there","go away"],"scores":[0.8,0.9,0.1]}
{"id":"conv2","prompt":[{"role":"system","content":"Be brief."},{"role":"user","content":"2+2?"}],"completions":["4","5"],"scores":[10,-2.5]}
`,
		"flat": `{"id":"a","sample_index":0,"prompt":"sort: 2 1","completion":"1 2","score":1}
{"id":"b","sample_index":0,"prompt":"sort: 3","completion":"3","score":1}
{"id":"a","sample_index":1,"prompt":"sort: 2 1","completion":"2 1","score":0}
{"id":"a","sample_index":2,"prompt":"sort: 2 1","completion":"1 2 ","score":0.5}
`,
	}
	var args []string
	for name, data := range sets {
		p := filepath.Join(dir, name+".jsonl")
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if out, err := exec.Command(py, append([]string{"-c", pyRatedFiles}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("pyarrow: %v\n%s", err, out)
	}
	norm := func(outs []ratedOut) []ratedOut {
		for i := range outs {
			if outs[i].Error != "" { // JSON Lines errors name the line too
				outs[i].Error = "error"
			}
		}
		return outs
	}
	for name, data := range sets {
		for _, b := range []Binarize{{Mode: BestWorst}, {Mode: AllPairs, MinScoreGap: 0.25}} {
			opts := Options{Rated: &b}
			want := norm(readRated(t, data, opts))
			if len(want) == 0 {
				t.Fatalf("%s: nothing read from the JSON Lines", name)
			}
			for _, ext := range []string{".parquet", ".arrow", ".arrows"} {
				path := filepath.Join(dir, name+ext)
				t.Run(name+ext+"/"+b.Mode, func(t *testing.T) {
					fileBytes, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if got := norm(readRated(t, string(fileBytes), opts)); !reflect.DeepEqual(got, want) {
						g, _ := json.Marshal(got)
						w, _ := json.Marshal(want)
						t.Errorf("stdin:\n got %s\nwant %s", g, w)
					}
					r, err := Open(path, nil, opts)
					if err != nil {
						t.Fatal(err)
					}
					n := 0
					for {
						_, err := r.Next()
						if err != nil && !isRowOutcome(err) {
							break
						}
						n++
					}
					r.Close()
					if n != len(want) {
						t.Errorf("from the path: %d outcomes, want %d", n, len(want))
					}
					if rs := ReadRatedStats(r); rs.Pairs == 0 {
						t.Errorf("rated stats %+v: no pairs", rs)
					}
				})
			}
		}
	}
}

// isRowOutcome reports whether err is a row's outcome (skip, row error)
// rather than the end or a fatal error.
func isRowOutcome(err error) bool {
	var re *RowError
	var se *SkipError
	return errors.As(err, &re) || errors.As(err, &se)
}

// An Arrow stream of a judge's rows (Go-written) is read as rated
// completions; without Rated (not dpo-tokenize) the missing chosen column
// is an error that says where rated completions are read.
func TestRatedArrowFlat(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "prompt", Type: arrow.BinaryTypes.String},
		{Name: "completion", Type: arrow.BinaryTypes.String}, {Name: "score", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	for i, c := range []string{"good", "bad"} {
		b.Field(0).(*array.StringBuilder).Append("a")
		b.Field(1).(*array.StringBuilder).Append("p")
		b.Field(2).(*array.StringBuilder).Append(c)
		b.Field(3).(*array.Float64Builder).Append(float64(1 - i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	data := writeArrowStream(t, mem, sc, []arrow.RecordBatch{rec})
	outs := readRated(t, string(data), Options{Mem: mem})
	if len(outs) != 1 || outs[0].Chosen != "good" || outs[0].Rejected != "bad" || outs[0].ID != "a/0-1" {
		t.Errorf("got %+v, want one pair a/0-1 good > bad", outs)
	}
	r, err := Open("-", bytes.NewReader(data), Options{Mem: mem})
	if err == nil {
		_, err = r.Next()
		r.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "rated completions are read by dpo-tokenize only") {
		t.Errorf("%v, want the hint", err)
	}
}
