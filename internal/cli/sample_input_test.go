package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/klauspost/compress/gzip"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/tokenize"
)

// sampleChatTemplate is a small template with a generation prompt.
const sampleChatTemplate = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"

var sampleHFMessages = arrow.ListOf(arrow.StructOf(
	arrow.Field{Name: "content", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "role", Type: arrow.BinaryTypes.String, Nullable: true},
))

// promptDataset is a prompt dataset in the shape a Hub dataset has: rows as
// JSON objects and the Arrow schema datasets would give them.
type promptDataset struct {
	name     string
	schema   *arrow.Schema
	rows     []string // JSON objects
	columns  string   // --columns
	chosen   string   // completions (JSON) for dpo-tokenize's reference pairs
	rejected string
}

var promptDatasets = []promptDataset{
	{
		name: "orca text with system column",
		schema: arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "system", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "question", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		}, nil),
		rows: []string{
			`{"id": "a", "system": "Be brief.", "question": "Sky color?"}`,
			`{"id": "b", "system": "", "question": "Grass color?"}`,
			`{"id": null, "system": "Use French.", "question": "Hello there"}`,
		},
		columns: "prompt=question,system=system",
		chosen:  `" Blue."`, rejected: `" Green."`,
	},
	{
		name: "conversations in a messages column",
		schema: arrow.NewSchema([]arrow.Field{
			{Name: "messages", Type: sampleHFMessages, Nullable: true},
			{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		}, nil),
		rows: []string{
			`{"messages": [{"content": "Sort: cba", "role": "user"}], "id": 7}`,
			`{"messages": [{"content": "Terse.", "role": "system"}, {"content": "Hi", "role": "user"}, {"content": "Hello.", "role": "assistant"}, {"content": "Bye", "role": "user"}], "id": 8}`,
			`{"messages": [{"content": "Again", "role": "user"}], "id": null}`,
		},
		columns: "prompt=messages",
		chosen:  `[{"role": "assistant", "content": "OK."}]`, rejected: `[{"role": "assistant", "content": "No."}]`,
	},
	{
		name: "conversations with a system column",
		schema: arrow.NewSchema([]arrow.Field{
			{Name: "prompt", Type: sampleHFMessages, Nullable: true},
			{Name: "sys", Type: arrow.BinaryTypes.String, Nullable: true},
		}, nil),
		rows: []string{
			`{"prompt": [{"content": "Sort: cba", "role": "user"}], "sys": "Be exact."}`,
			`{"prompt": [{"content": "Hi", "role": "user"}], "sys": ""}`,
		},
		columns: "system=sys",
		chosen:  `[{"role": "assistant", "content": "OK."}]`, rejected: `[{"role": "assistant", "content": "No."}]`,
	},
}

// promptFormat writes a dataset's rows to dir in one format and returns the
// inputs to pass.
type promptFormat struct {
	name  string
	write func(t *testing.T, dir string, d promptDataset) []string
}

func writePromptRecords(t *testing.T, d promptDataset, rows []string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, d.schema, strings.NewReader("["+strings.Join(rows, ",")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func writePromptParquet(t *testing.T, path string, d promptDataset, rows []string) {
	t.Helper()
	rec := writePromptRecords(t, d, rows)
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(d.schema, &buf, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(2)), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writePromptArrow(t *testing.T, path string, d promptDataset, rows []string, file bool) {
	t.Helper()
	var buf bytes.Buffer
	var w interface {
		Write(arrow.RecordBatch) error
		Close() error
	}
	if file {
		fw, err := ipc.NewFileWriter(&buf, ipc.WithSchema(d.schema))
		if err != nil {
			t.Fatal(err)
		}
		w = fw
	} else {
		w = ipc.NewWriter(&buf, ipc.WithSchema(d.schema), ipc.WithZstd())
	}
	for _, part := range [][]string{rows[:1], rows[1:]} { // two batches
		rec := writePromptRecords(t, d, part)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writePromptText(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

var promptFormats = []promptFormat{
	{"jsonl", func(t *testing.T, dir string, d promptDataset) []string {
		p := filepath.Join(dir, "p.jsonl")
		writePromptText(t, p, strings.Join(d.rows, "\n")+"\n")
		return []string{p}
	}},
	{"json array", func(t *testing.T, dir string, d promptDataset) []string {
		p := filepath.Join(dir, "p.json")
		writePromptText(t, p, "[\n"+strings.Join(d.rows, ",\n")+"\n]")
		return []string{p}
	}},
	{"jsonl.gz", func(t *testing.T, dir string, d promptDataset) []string {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(strings.Join(d.rows, "\n") + "\n"))
		zw.Close()
		p := filepath.Join(dir, "p.jsonl.gz")
		writePromptText(t, p, buf.String())
		return []string{p}
	}},
	{"parquet", func(t *testing.T, dir string, d promptDataset) []string {
		p := filepath.Join(dir, "p.parquet")
		writePromptParquet(t, p, d, d.rows)
		return []string{p}
	}},
	{"arrow file", func(t *testing.T, dir string, d promptDataset) []string {
		p := filepath.Join(dir, "p.arrow")
		writePromptArrow(t, p, d, d.rows, true)
		return []string{p}
	}},
	{"arrow stream", func(t *testing.T, dir string, d promptDataset) []string {
		p := filepath.Join(dir, "p.arrows")
		writePromptArrow(t, p, d, d.rows, false)
		return []string{p}
	}},
	{"shards: parquet then jsonl, by glob", func(t *testing.T, dir string, d promptDataset) []string {
		writePromptParquet(t, filepath.Join(dir, "train-00000-of-00002"), d, d.rows[:1])
		writePromptText(t, filepath.Join(dir, "train-00001-of-00002"), strings.Join(d.rows[1:], "\n")+"\n")
		in, err := expandInputs([]string{filepath.Join(dir, "train-*-of-00002")})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}},
}

// tokenizePrompts runs dpo-tokenize on the rows made pairs (chosen and
// rejected added) and returns its ids and prompt ids, the reference.
func tokenizePrompts(t *testing.T, d promptDataset, tokArgs []string) (ids []string, prompts [][]int32) {
	t.Helper()
	var lines []string
	for _, r := range d.rows {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			t.Fatal(err)
		}
		m["chosen"], m["rejected"] = json.RawMessage(d.chosen), json.RawMessage(d.rejected)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	in := writeFile(t, "pairs.jsonl", strings.Join(lines, "\n")+"\n")
	stdout, stderr, err := runTokenize(t, append(append([]string{"--strict", "--columns", d.columns}, tokArgs...), in)...)
	if err != nil {
		t.Fatalf("dpo-tokenize: %v\n%s", err, stderr)
	}
	rows, _ := readPairsStream(t, stdout.Bytes())
	for _, r := range rows {
		ids, prompts = append(ids, r.ID), append(prompts, r.Prompt)
	}
	return ids, prompts
}

// TestSamplePromptInputs: dpo-sample reads the same prompts from JSONL, JSON
// arrays, gzip, Parquet, Arrow IPC files and streams and several inputs,
// with --columns and a system column, and encodes each as dpo-tokenize
// encodes the prompt of the same row made a pair (the reference: prompt
// ids and ids equal), for the byte tokenizer with a small chat template
// and for Qwen3's tokenizer and chat template.
func TestSamplePromptInputs(t *testing.T) {
	type tokCase struct {
		name     string
		spec     func(t *testing.T) (spec, tmpl string)
		tokFlags func(spec, tmpl string) []string
	}
	for _, tc := range []tokCase{
		{"bytes", func(t *testing.T) (string, string) {
			return "builtin:bytes", writeFile(t, "t.jinja", sampleChatTemplate)
		}, func(spec, tmpl string) []string { return []string{"--tokenizer", spec, "--chat-template", tmpl} }},
		{"bytes without template", func(t *testing.T) (string, string) { return "builtin:bytes", "none" },
			func(spec, tmpl string) []string { return []string{"--tokenizer", spec, "--chat-template", tmpl} }},
		{"qwen3", func(t *testing.T) (string, string) {
			return filepath.Dir(testrefs.Tokenizer(t, "qwen3")), "auto"
		}, func(spec, tmpl string) []string { return []string{"--tokenizer", spec} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, tmpl := tc.spec(t)
			for _, d := range promptDatasets {
				if tmpl == "none" && strings.HasPrefix(d.chosen, "[") {
					continue // conversations need a template (see TestSamplePromptErrors)
				}
				wantIDs, want := tokenizePrompts(t, d, tc.tokFlags(spec, tmpl))
				if len(want) != len(d.rows) {
					t.Fatalf("%s: dpo-tokenize wrote %d rows of %d", d.name, len(want), len(d.rows))
				}
				columns, err := parseSampleColumns(d.columns)
				if err != nil {
					t.Fatal(err)
				}
				enc, err := newPromptEncoder(context.Background(), spec, tmpl, columns)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range promptFormats {
					inputs := f.write(t, t.TempDir(), d)
					_, got, err := tokenize.ReadPrompts(inputs, nil, columns, enc, nil)
					if err != nil {
						t.Errorf("%s, %s: %v", d.name, f.name, err)
						continue
					}
					if len(got) != len(want) {
						t.Errorf("%s, %s: %d prompts, want %d", d.name, f.name, len(got), len(want))
						continue
					}
					for i, p := range got {
						if p.ID != wantIDs[i] || !slices.Equal(p.IDs, want[i]) {
							t.Errorf("%s, %s: row %d: id %q ids %v\nwant id %q ids %v (dpo-tokenize's prompt)", d.name, f.name, i, p.ID, p.IDs, wantIDs[i], want[i])
						}
					}
				}
			}
		})
	}
}

// TestSamplePromptErrors: a row without a usable prompt is an error naming
// the file, the row and the field; --columns misuse is a usage error.
func TestSamplePromptErrors(t *testing.T) {
	withTmpl, noTmpl := writeFile(t, "t.jinja", sampleChatTemplate), "none"
	textSchema := promptDatasets[0]
	for _, c := range []struct {
		name    string
		file    func(t *testing.T, dir string) string
		columns string
		tmpl    string // --chat-template
		want    []string
	}{
		{"jsonl row without prompt", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p.jsonl")
			writePromptText(t, p, `{"prompt": "a"}`+"\n"+`{"question": "b"}`+"\n")
			return p
		}, "", withTmpl, []string{"p.jsonl:2:", `field "prompt": missing`}},
		{"jsonl null prompt", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p.jsonl")
			writePromptText(t, p, `{"question": "a"}`+"\n"+`{"question": null}`+"\n")
			return p
		}, "prompt=question", withTmpl, []string{"p.jsonl:2:", `field "question": is null`}},
		{"empty message list", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p.json")
			writePromptText(t, p, `[{"prompt": []}]`)
			return p
		}, "", withTmpl, []string{"p.json: row 0:", `field "prompt": empty list of messages`}},
		{"image content part", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p.jsonl")
			writePromptText(t, p, `{"prompt": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}`+"\n")
			return p
		}, "", withTmpl, []string{"p.jsonl:1:", `field "prompt[0].content[0].type"`}},
		{"parquet null prompt", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p.parquet")
			writePromptParquet(t, p, textSchema, []string{`{"id": "a", "system": "", "question": "q"}`, `{"id": "b", "system": "", "question": null}`})
			return p
		}, "prompt=question", withTmpl, []string{"p.parquet: row 1:", `field "question": is null`}},
		{"arrow without the prompt column", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p.arrow")
			writePromptArrow(t, p, textSchema, textSchema.rows, true)
			return p
		}, "", withTmpl, []string{"p.arrow", `missing column "prompt" (columns: id, system, question)`}},
		{"conversation without a chat template", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p.jsonl")
			writePromptText(t, p, `{"id": "x", "prompt": [{"role": "user", "content": "q"}]}`+"\n")
			return p
		}, "", noTmpl, []string{"p.jsonl: row 0 (id \"x\"):", "field prompt: conversational prompt but no chat template"}},
		{"system column and a system message", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p.jsonl")
			writePromptText(t, p, `{"s": "a", "prompt": [{"role": "system", "content": "b"}, {"role": "user", "content": "q"}]}`+"\n")
			return p
		}, "system=s", withTmpl, []string{"p.jsonl: row 0 (id \"0\"):", "field system: the prompt already starts with a system message"}},
		{"tools on a text prompt", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "p.jsonl")
			writePromptText(t, p, `{"prompt": "q", "tools": [{"type": "function", "function": {"name": "f"}}]}`+"\n")
			return p
		}, "", withTmpl, []string{"p.jsonl: row 0", "field tools: tool schemas on a text prompt are not representable"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			columns, err := parseSampleColumns(c.columns)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := newPromptEncoder(context.Background(), "builtin:bytes", c.tmpl, columns)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = tokenize.ReadPrompts([]string{c.file(t, t.TempDir())}, nil, columns, enc, nil)
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want it to contain %q", err, w)
				}
			}
		})
	}

	t.Run("usage", func(t *testing.T) {
		pairsStream := writeFile(t, "pairs.arrow", string(tokenizeExample(t, 2)))
		other := writeFile(t, "p.jsonl", `{"prompt": "a"}`+"\n")
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--columns", "chosen=a"}, "role chosen is not read from prompts"},
			{[]string{"--columns", "completions=a"}, "role completions is not read from prompts"},
			{[]string{"--columns", "prompt"}, "is not role=column"},
			{[]string{"--columns", "prompt=a,id=a"}, "mapped to both"},
			{[]string{pairsStream, other}, "is a dpo pairs stream: it must be the only input"},
			{[]string{"--columns", "prompt=q", pairsStream}, "is a dpo pairs stream (its prompt_input_ids are used as they are)"},
		} {
			args := append([]string{"--model", "x", "--tokenizer", "builtin:bytes"}, c.args...)
			err := Sample(context.Background(), args, strings.NewReader(""), io.Discard, io.Discard)
			if ExitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: exit %d (%v), want 2 (%s)", c.args, ExitCode(err), err, c.want)
			}
		}
	})
}

// TestSamplePromptInputsEndToEnd: dpo-sample with --columns on a Parquet
// file, on the same rows as an Arrow stream on stdin, and on a dpo pairs
// stream on stdin (its prompt_input_ids used as they are) writes the prompt
// ids readPrompts gives for the JSONL rows, and dpo-tokenize's.
func TestSamplePromptInputsEndToEnd(t *testing.T) {
	dir := randomModel(t, 6)
	d := promptDatasets[0]
	tmpl := writeFile(t, "t.jinja", sampleChatTemplate)
	pq := filepath.Join(t.TempDir(), "p.parquet")
	writePromptParquet(t, pq, d, d.rows)
	stream := filepath.Join(t.TempDir(), "p.arrows")
	writePromptArrow(t, stream, d, d.rows, false)
	streamBytes, err := os.ReadFile(stream)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs, want := tokenizePrompts(t, d, []string{"--tokenizer", "builtin:bytes", "--chat-template", tmpl})
	args := []string{"--model", dir, "--chat-template", tmpl, "--columns", d.columns, "--max-new-tokens", "2", "--format", "jsonl"}
	check := func(name string, out []byte, ids []string, prompts [][]int32) {
		t.Helper()
		var n int
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var r completionJSON
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			if n >= len(prompts) || r.ID != ids[n] || !slices.Equal(r.PromptIDs, prompts[n]) {
				t.Errorf("%s: row %d: id %q prompt ids %v, want dpo-tokenize's", name, n, r.ID, r.PromptIDs)
			}
			n++
		}
		if n != len(prompts) {
			t.Errorf("%s: %d rows, want %d", name, n, len(prompts))
		}
	}
	check("parquet", runSample(t, "", append(args, pq)...), wantIDs, want)
	check("arrow stream on stdin", runSample(t, string(streamBytes), args...), wantIDs, want)

	pairs := tokenizeExample(t, 3)
	got, _ := readPairsStream(t, pairs)
	var ids []string
	var prompts [][]int32
	for _, p := range got {
		ids, prompts = append(ids, p.ID), append(prompts, p.Prompt)
	}
	check("dpo pairs stream on stdin", runSample(t, string(pairs), "--model", dir, "--max-new-tokens", "2", "--format", "jsonl"), ids, prompts)
}

// TestSamplePromptText: the prompt column of a conversation is the JSON of
// its messages with their other keys kept; a text prompt is its text.
func TestSamplePromptText(t *testing.T) {
	enc, err := newPromptEncoder(context.Background(), "builtin:bytes", writeFile(t, "t.jinja", sampleChatTemplate), nil)
	if err != nil {
		t.Fatal(err)
	}
	conv := `[{"role":"user","content":"q"},{"role":"assistant","content":"a","tool_calls":[{"type":"function","function":{"name":"f","arguments":{}}}]},{"role":"tool","content":"1","name":"f"}]`
	in := writeFile(t, "p.jsonl", `{"prompt": `+conv+"}\n"+`{"prompt": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}`+"\n"+`{"prompt": "plain"}`+"\n")
	_, got, err := tokenize.ReadPrompts([]string{in}, nil, nil, enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{conv, `[{"role":"user","content":"ab"}]`, "plain"} {
		if got[i].Text != want {
			t.Errorf("row %d: prompt %s\nwant %s", i, got[i].Text, want)
		}
	}
}
