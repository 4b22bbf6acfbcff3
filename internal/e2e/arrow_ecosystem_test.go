package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/cli"
	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/arrowio"
)

// arrowFilesResponse is the answer of tools/oracle/arrow_files.py.
type arrowFilesResponse struct {
	Versions map[string]string `json:"versions"`
	Read     map[string]struct {
		Schema    [][2]string                 `json:"schema"`
		Format    string                      `json:"format"` // "file" or "stream"
		Batches   int                         `json:"batches"`
		EndMarker map[string]string           `json:"end_marker"`
		Libs      map[string]map[string][]any `json:"libs"`
	} `json:"read"`
	Written []struct {
		Set    string      `json:"set"`
		Writer string      `json:"writer"`
		Path   string      `json:"path"`
		Schema [][2]string `json:"schema"`
	} `json:"written"`
}

// chatTemplate renders conversations for builtin:bytes, which has none.
const chatTemplate = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"

// TestArrowEcosystem checks dpo's files against pyarrow, polars and
// Hugging Face datasets, in one Python process:
//
//   - every stage's output (dpo-tokenize, dpo-reflogp, dpo-score), in each
//     codec (zstd, lz4, none), several batches: as written to FILE.arrow, an
//     Arrow IPC file, read by pyarrow.ipc.open_file, polars.read_ipc,
//     polars.scan_ipc and pandas.read_feather; as a stream (FILE.arrows), by
//     pyarrow.ipc.open_stream, polars.read_ipc_stream and
//     datasets.Dataset.from_file: every value equals what dpo wrote, and
//     the last batch, in both formats, is the end marker;
//   - preference pairs written by pyarrow, polars and datasets as Parquet and
//     as Arrow IPC files and streams (string, large_string, string_view,
//     dictionary, list and large_list columns, compressed or not) read by
//     dpo-tokenize: the ids equal those of the same pairs as JSONL.
func TestArrowEcosystem(t *testing.T) {
	py := testrefs.Python(t, "pyarrow", "polars", "datasets")
	dir := t.TempDir()
	sets := ecosystemSets(t)
	tmpl := filepath.Join(dir, "chat.jinja")
	if err := os.WriteFile(tmpl, []byte(chatTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, rows := range sets {
		writeJSONL(t, filepath.Join(dir, name+".jsonl"), rows)
	}

	// Our streams: every stage, every codec, 7-row batches. The model
	// stages run once, on 15 short pairs (a forward pass costs seconds
	// here), in one codec through their --codec flag where they have one;
	// dpo's own writer re-encodes their stream in the other codecs, schema
	// and metadata unchanged (dpo-score has no --codec: it writes zstd).
	models := filepath.Join(testrefs.Root(), "testdata", "models")
	var streams []string
	run := func(t *testing.T, f cli.RunFunc, args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := f(context.Background(), args, strings.NewReader(""), &stdout, &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
	}
	tokenize, reflogp, score := cli.Tokenize, cli.Reflogp, cli.Score
	codecs := []string{arrowio.CodecZstd, arrowio.CodecLZ4, arrowio.CodecNone}
	for _, codec := range codecs {
		tok := filepath.Join(dir, "tokenize_"+codec+".arrow")
		run(t, tokenize, "--tokenizer", "builtin:bytes", "-q", "--codec", codec, "--batch-rows", "7", "-o", tok, filepath.Join(dir, "standard.jsonl"))
		streams = append(streams, tok)
	}
	short := filepath.Join(dir, "short.arrow")
	writeJSONL(t, filepath.Join(dir, "short.jsonl"), sets["standard"][:15])
	run(t, tokenize, "--tokenizer", "builtin:bytes", "-q", "--batch-rows", "7", "-o", short, filepath.Join(dir, "short.jsonl"))
	run(t, reflogp, "--model", filepath.Join(models, "qwen2"), "--ignore-tokenizer-mismatch", "-q", "--codec", arrowio.CodecNone, "-o", filepath.Join(dir, "reflogp_none.arrow"), short)
	run(t, score, "--policy", filepath.Join(models, "llama_tied"), "--ignore-tokenizer-mismatch", "-q", "-o", filepath.Join(dir, "score_zstd.arrow"), filepath.Join(dir, "reflogp_none.arrow"))
	for _, stage := range []struct{ name, codec string }{{"reflogp", arrowio.CodecNone}, {"score", arrowio.CodecZstd}} {
		src := filepath.Join(dir, stage.name+"_"+stage.codec+".arrow")
		for _, codec := range codecs {
			out := filepath.Join(dir, stage.name+"_"+codec+".arrow")
			if codec != stage.codec {
				recode(t, src, out, codec)
			}
			streams = append(streams, out)
		}
	}

	// Every output as a stream too: dpo-tokenize writes one to a .arrows
	// name, dpo's writer re-encodes the others.
	tokStream := filepath.Join(dir, "tokenize_zstd.arrows")
	run(t, tokenize, "--tokenizer", "builtin:bytes", "-q", "--batch-rows", "7", "-o", tokStream, filepath.Join(dir, "standard.jsonl"))
	for _, p := range slices.Clone(streams) {
		if s := p + "s"; s != tokStream {
			codec := strings.TrimSuffix(filepath.Base(p), ".arrow")
			recode(t, p, s, codec[strings.LastIndex(codec, "_")+1:])
		}
		streams = append(streams, p+"s")
	}

	// One Python process reads our outputs and writes its own files.
	req := map[string]any{"read": streams, "out_dir": dir, "sets": []map[string]any{
		{"name": "standard", "rows": sets["standard"]},
		{"name": "conversational", "rows": sets["conversational"]},
	}}
	var resp arrowFilesResponse
	testrefs.RunOracle(t, py, "arrow_files.py", req, &resp, "HF_HOME="+filepath.Join(dir, "hf"), "HF_HUB_OFFLINE=1")
	t.Logf("versions %v", resp.Versions)

	for _, path := range streams {
		t.Run("read/"+filepath.Base(path), func(t *testing.T) {
			got, ok := resp.Read[path]
			if !ok {
				t.Fatal("not read by the oracle")
			}
			names, want := streamColumns(t, path)
			var pyNames []string
			for _, f := range got.Schema {
				pyNames = append(pyNames, f[0])
			}
			if !slices.Equal(pyNames, names) {
				t.Errorf("pyarrow sees columns %v, want %v", pyNames, names)
			}
			wantFormat, wantLibs := "file", []string{"pandas.read_feather", "polars.read_ipc", "polars.scan_ipc", "pyarrow.ipc.open_file"}
			if strings.HasSuffix(path, ".arrows") {
				wantFormat, wantLibs = "stream", []string{"datasets.Dataset.from_file", "polars.read_ipc_stream", "pyarrow.ipc.open_stream"}
			}
			if got.Format != wantFormat {
				t.Errorf("written as an Arrow IPC %s, want a %s", got.Format, wantFormat)
			}
			if libs := slices.Sorted(maps.Keys(got.Libs)); !slices.Equal(libs, wantLibs) {
				t.Errorf("read by %v, want %v", libs, wantLibs)
			}
			if rows := len(want[names[0]]); got.EndMarker[arrowio.KeyEndMarker] != "1" || got.EndMarker[arrowio.KeyTotalRows] != fmt.Sprint(rows) {
				t.Errorf("last of %d batches has custom metadata %v, want the end marker of %d rows", got.Batches, got.EndMarker, rows)
			}
			for lib, cols := range got.Libs {
				if len(cols) != len(names) {
					t.Errorf("%s: %d columns, want %d", lib, len(cols), len(names))
				}
				for _, n := range names {
					if !reflect.DeepEqual(cols[n], want[n]) {
						t.Errorf("%s: column %s differs:\n got %.300v\nwant %.300v", lib, n, cols[n], want[n])
					}
				}
			}
		})
	}

	// The files they wrote, read by dpo-tokenize, give the JSONL's ids.
	wantIDs := map[string][]pairRow{}
	for name := range sets {
		out := filepath.Join(dir, name+"_jsonl.arrow")
		run(t, tokenize, "--tokenizer", "builtin:bytes", "--chat-template", tmpl, "-q", "-o", out, filepath.Join(dir, name+".jsonl"))
		wantIDs[name] = readPairRows(t, out)
	}
	types := map[string]bool{}
	for i, w := range resp.Written {
		t.Run(fmt.Sprintf("write/%02d %s %s", i, w.Set, w.Writer), func(t *testing.T) {
			for _, f := range w.Schema {
				for _, k := range []string{"large_string", "large_list", "string_view", "dictionary"} {
					if strings.Contains(f[1], k) {
						types[k] = true
					}
				}
			}
			out := filepath.Join(dir, fmt.Sprintf("written_%02d.arrow", i))
			run(t, tokenize, "--tokenizer", "builtin:bytes", "--chat-template", tmpl, "-q", "-o", out, w.Path)
			got := readPairRows(t, out)
			if !reflect.DeepEqual(got, wantIDs[w.Set]) {
				t.Errorf("%s (%v): ids differ from the JSONL's", w.Path, w.Schema)
			}
		})
	}
	for _, k := range []string{"large_string", "large_list", "string_view", "dictionary"} {
		if !types[k] {
			t.Errorf("no written file had a %s column", k)
		}
	}
}

// ecosystemSets builds the test pairs: standard ones (some with a null
// prompt, i.e. an implicit prompt) from examples/sort and
// pkg/tokenize/testdata, and conversational ones with integer ids.
func ecosystemSets(t *testing.T) map[string][]map[string]any {
	t.Helper()
	root := testrefs.Root()
	var std, conv []map[string]any
	for i, rec := range readJSONL(t, filepath.Join(root, "examples", "sort", "train.jsonl"), 40) {
		delete(rec, "kind")
		if i%9 == 4 {
			// An implicit prompt: the prompt moves into both completions.
			p := rec["prompt"].(string)
			rec["chosen"], rec["rejected"], rec["prompt"] = p+rec["chosen"].(string), p+rec["rejected"].(string), nil
		}
		std = append(std, rec)
	}
	for _, f := range []string{"pairs.jsonl", "trl_pairs.jsonl"} {
		for _, rec := range readJSONL(t, filepath.Join(root, "pkg", "tokenize", "testdata", f), 0) {
			if rec["id"] == nil {
				rec["id"] = fmt.Sprintf("noid-%d", len(std)+len(conv))
			}
			if _, ok := rec["chosen"].([]any); ok {
				rec["id"] = float64(len(conv) + 100)
				if _, ok := rec["prompt"]; !ok {
					rec["prompt"] = nil
				}
				conv = append(conv, rec)
				continue
			}
			rec["id"] = fmt.Sprint(rec["id"])
			if _, ok := rec["prompt"]; !ok {
				rec["prompt"] = nil
			}
			std = append(std, rec)
		}
	}
	return map[string][]map[string]any{"standard": std, "conversational": conv}
}

func readJSONL(t *testing.T, path string, limit int) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && (limit == 0 || len(out) < limit) {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, rec)
	}
	return out
}

func writeJSONL(t *testing.T, path string, rows []map[string]any) {
	t.Helper()
	var b bytes.Buffer
	for _, r := range rows {
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(j, '\n'))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recode rewrites a dpo output with dpo's writer in another codec, as an
// Arrow IPC file or stream as the tools choose by out's name.
func recode(t *testing.T, in, out, codec string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.Open(in, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	f, err := arrowio.CreateOutput(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	w, err := arrowio.NewWriter(f, r.Schema(), arrowio.WriterOptions{Codec: codec, BatchRows: 7, Mem: mem, File: arrowio.WantsIPCFile(f)})
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		if err := w.Write(r.Record()); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
}

// streamColumns reads a dpo stream with arrowio and returns its columns as
// encoding/json would decode them from Python's JSON (numbers as float64).
func streamColumns(t *testing.T, path string) ([]string, map[string][]any) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.Open(path, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var names []string
	for _, f := range r.Schema().Fields() {
		names = append(names, f.Name)
	}
	cols := map[string][]any{}
	for _, n := range names {
		cols[n] = []any{}
	}
	for r.Next() {
		rec := r.Record()
		for c, n := range names {
			cols[n] = appendValues(t, cols[n], rec.Column(c))
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return names, cols
}

func appendValues(t *testing.T, dst []any, a arrow.Array) []any {
	t.Helper()
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			dst = append(dst, nil)
			continue
		}
		switch a := a.(type) {
		case *array.String:
			dst = append(dst, a.Value(i))
		case *array.Float64:
			dst = append(dst, a.Value(i))
		case *array.Float32:
			dst = append(dst, float64(a.Value(i)))
		case *array.Boolean:
			dst = append(dst, a.Value(i))
		case *array.List:
			s, e := a.ValueOffsets(i)
			sl := array.NewSlice(a.ListValues(), s, e)
			dst = append(dst, appendValues(t, []any{}, sl))
			sl.Release()
		case *array.Int32:
			dst = append(dst, float64(a.Value(i)))
		case *array.Int64:
			dst = append(dst, float64(a.Value(i)))
		default:
			t.Fatalf("column type %s not handled", a.DataType())
		}
	}
	return dst
}

type pairRow struct {
	ID                       string
	Prompt, Chosen, Rejected []int32
}

func readPairRows(t *testing.T, path string) []pairRow {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.Open(path, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var rows []pairRow
	for r.Next() {
		p, err := r.Pairs()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < p.Rows; i++ {
			rows = append(rows, pairRow{p.ID.Value(i), slices.Clone(p.Prompt.Row(i)), slices.Clone(p.Chosen.Row(i)), slices.Clone(p.Rejected.Row(i))})
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}
