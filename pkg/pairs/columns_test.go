package pairs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// orcaSchema is the shape of Intel/orca_dpo_pairs: system, question, chosen,
// rejected, plus a tools column stored as JSON text (as datasets does for
// nested schemas that vary).
var orcaSchema = arrow.NewSchema([]arrow.Field{
	{Name: "system", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "question", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "chosen", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "rejected", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "tools", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

const orcaRows = `[
{"system": "Be brief.", "question": "Sky?", "chosen": "Blue.", "rejected": "Green.", "tools": null},
{"system": null, "question": "Grass?", "chosen": "Green.", "rejected": "Red.", "tools": "[{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]"},
{"system": "", "question": "Sea?", "chosen": "Blue.", "rejected": "Red.", "tools": "{\"not\": \"a list\"}"}
]`

var orcaWant = []want{
	ok(Example{ID: "0", Row: 0, Prompt: s("Sky?"), Chosen: s("Blue."), Rejected: s("Green."), System: "Be brief."}),
	ok(Example{ID: "1", Row: 1, Prompt: s("Grass?"), Chosen: s("Green."), Rejected: s("Red."), Tools: json.RawMessage(`[{"type": "function", "function": {"name": "f"}}]`)}),
	rowErr("tools", ErrType, "expected a list of tool schemas, got object"),
}

// TestColumns reads orca-style rows with --columns
// prompt=question,system=system from JSON Lines, Parquet, Arrow IPC files
// and streams; without the mapping the prompt is absent and the system
// column ignored.
func TestColumns(t *testing.T) {
	cols, err := ParseColumns("prompt=question, system=system")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec, _, err := array.RecordFromJSON(mem, orcaSchema, strings.NewReader(orcaRows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	var rows []map[string]any
	json.Unmarshal([]byte(orcaRows), &rows)
	var jl strings.Builder
	for _, r := range rows {
		if ts, ok := r["tools"].(string); ok { // JSON inputs hold the list itself
			var v any
			json.Unmarshal([]byte(ts), &v)
			r["tools"] = v
		}
		b, _ := json.Marshal(r)
		jl.Write(b)
		jl.WriteByte('\n')
	}
	files := map[string]string{"jsonl": writeFile(t, dir, "orca.jsonl", []byte(jl.String()))}
	for _, c := range containers {
		files[c.name] = writeFile(t, dir, "orca."+c.ext, c.write(t, mem, orcaSchema, []arrow.RecordBatch{rec}))
	}
	for name, path := range files {
		t.Run(name, func(t *testing.T) {
			r, err := Open(path, nil, Options{Columns: cols, Mem: mem})
			if err != nil {
				t.Fatal(err)
			}
			gots, err := readAll(t, r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if name == "jsonl" { // JSON keeps the tool list's own spacing
				orcaWant[1].ex.Tools = json.RawMessage(`[{"function":{"name":"f"},"type":"function"}]`)
			} else {
				orcaWant[1].ex.Tools = json.RawMessage(`[{"type": "function", "function": {"name": "f"}}]`)
			}
			check(t, path, gots, orcaWant, name == "jsonl")

			// Without the mapping: no prompt (implicit, extracted from
			// chosen and rejected) and no system.
			r, err = Open(path, nil, Options{Mem: mem})
			if err != nil {
				t.Fatal(err)
			}
			gots, _ = readAll(t, r)
			r.Close()
			if len(gots) != 3 || gots[0].err != nil || gots[0].ex.System != "" || gots[0].ex.Prompt.Str != "" || !gots[0].ex.ImplicitPrompt {
				t.Errorf("unmapped: %+v", gots[0])
			}
		})
	}
	for _, bad := range []string{"question", "answer=x", "prompt=a,prompt=b", "chosen=x,rejected=x", "prompt="} {
		if _, err := ParseColumns(bad); err == nil {
			t.Errorf("ParseColumns(%q) accepted", bad)
		}
	}
	// A column --columns names must exist, also for the roles that may
	// be absent by default (prompt, id, system, tools).
	for _, role := range []string{"prompt", "id", "system", "tools"} {
		_, err := Open(files["parquet"], nil, Options{Columns: map[string]string{role: "nope"}})
		if want := `missing column "nope" (--columns ` + role + `=nope) (columns: system, question, chosen, rejected, tools)`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s mapped to an absent column: %v, want %q", role, err, want)
		}
	}
	if _, err := Open(files["parquet"], nil, Options{Columns: map[string]string{"chosen": "nope"}}); err == nil || !strings.Contains(err.Error(), `missing column "nope"`) {
		t.Errorf("a mapped chosen column that is absent: %v", err)
	}
}

// TestOpenAll reads several files of different containers as one dataset,
// rows numbered over all of them.
func TestOpenAll(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.jsonl", []byte(`{"prompt":"p","chosen":"c0","rejected":"r"}`+"\n"+`{"prompt":"p","chosen":"c1","rejected":"r"}`+"\n"))
	b := writeFile(t, dir, "b.json", []byte(`[{"prompt":"p","chosen":"c2","rejected":"r"}, {"prompt":"p","chosen":5,"rejected":"r"}]`))
	c := writeFile(t, dir, "c.jsonl", []byte(`{"id":"named","prompt":"p","chosen":"c4","rejected":"r"}`+"\n"))
	r, err := OpenAll([]string{a, b, c}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gots, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, g := range gots {
		ids = append(ids, g.ex.ID)
		if g.ex.Row != int64(i) {
			t.Errorf("outcome %d: Row %d", i, g.ex.Row)
		}
	}
	if strings.Join(ids, ",") != "0,1,2,3,named" {
		t.Errorf("ids %v", ids)
	}
	var re *RowError
	if gots[3].err == nil || !asRowError(gots[3].err, &re) || re.File != b || re.Row != 3 {
		t.Errorf("row error %v", gots[3].err)
	}
	if _, err := OpenAll([]string{a, "-"}, nil, Options{}); err == nil {
		t.Error("stdin among several inputs accepted")
	}
}

func asRowError(err error, re **RowError) bool {
	e, ok := err.(*RowError)
	*re = e
	return ok
}

// TestArrowToolCallsRefused: a Parquet/Arrow messages column whose structs
// carry tool_calls is an error naming the message, not an empty turn.
func TestArrowToolCallsRefused(t *testing.T) {
	call := arrow.StructOf(arrow.Field{Name: "type", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "function", Type: arrow.StructOf(
			arrow.Field{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
			arrow.Field{Name: "arguments", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true})
	msgsT := arrow.ListOf(arrow.StructOf(
		arrow.Field{Name: "content", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "role", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "tool_calls", Type: arrow.ListOf(call), Nullable: true}))
	sc := arrow.NewSchema([]arrow.Field{{Name: "prompt", Type: msgsT, Nullable: true}, {Name: "chosen", Type: msgsT, Nullable: true}, {Name: "rejected", Type: msgsT, Nullable: true}}, nil)
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rec, _, err := array.RecordFromJSON(mem, sc, strings.NewReader(`[
{"prompt": [{"role": "user", "content": "Q", "tool_calls": null}], "chosen": [{"role": "assistant", "content": "A", "tool_calls": []}], "rejected": [{"role": "assistant", "content": "B"}]},
{"prompt": [{"role": "user", "content": "Q"}], "chosen": [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}], "rejected": [{"role": "assistant", "content": "B"}]}
]`))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	dir := t.TempDir()
	for _, c := range containers {
		path := writeFile(t, dir, "tc."+c.ext, c.write(t, mem, sc, []arrow.RecordBatch{rec}))
		r, err := Open(path, nil, Options{Mem: mem})
		if err != nil {
			t.Fatal(err)
		}
		gots, err := readAll(t, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		check(t, path, gots, []want{
			ok(Example{ID: "0", Prompt: m("user", "Q"), Chosen: m("assistant", "A"), Rejected: m("assistant", "B")}),
			rowErr("chosen[0].tool_calls", ErrType, "not supported"),
		}, false)
	}
}

// In JSON inputs a column --columns names must be in every record (prompt,
// id, chosen, rejected: the error names the line and lists the record's
// fields), or, for system and tools, in at least one record (the error
// comes at the end of the input); before, a record without its mapped
// prompt got an implicit (here empty) prompt.
func TestColumnsMappedAbsentJSON(t *testing.T) {
	jsonl := `{"question": "Sky?", "chosen": "Blue.", "rejected": "Green."}
{"q": "Grass?", "chosen": "Green.", "rejected": "Red."}
`
	for _, tc := range []struct {
		name, in string
		columns  map[string]string
		rowErr   string // a row's error ("" none)
		endErr   string // error ending the input ("" none)
	}{
		{"prompt", jsonl, map[string]string{"prompt": "question"},
			`<stdin>:2: field "question": missing column "question" (--columns prompt=question) (the record's fields: chosen, q, rejected)`, ""},
		{"id", jsonl, map[string]string{"prompt": "question", "id": "uid"},
			`<stdin>:1: field "uid": missing column "uid" (--columns id=uid)`, ""},
		{"system never present", jsonl, map[string]string{"system": "sys"},
			"", `pairs: <stdin>: missing column "sys" (--columns system=sys) (fields of the first record: chosen, question, rejected): no record has it`},
		{"tools never present, JSON array", "[" + strings.ReplaceAll(strings.TrimSpace(jsonl), "\n", ",") + "]", map[string]string{"tools": "functions"},
			"", `missing column "functions" (--columns tools=functions) (fields of the first record: chosen, question, rejected): no record has it`},
		{"system in some records", jsonl + `{"sys": "S", "chosen": "a", "rejected": "b"}` + "\n", map[string]string{"system": "sys"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open("-", strings.NewReader(tc.in), Options{Columns: tc.columns})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			gots, err := readAll(t, r)
			switch {
			case tc.endErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.endErr != "" && (err == nil || !strings.Contains(err.Error(), tc.endErr)):
				t.Fatalf("error %v, want %q", err, tc.endErr)
			}
			var rowErrs []string
			for _, g := range gots {
				if g.err != nil {
					rowErrs = append(rowErrs, g.err.Error())
				}
			}
			if tc.rowErr == "" && len(rowErrs) > 0 {
				t.Fatalf("row errors %q", rowErrs)
			}
			if tc.rowErr != "" && !strings.Contains(strings.Join(rowErrs, "\n"), tc.rowErr) {
				t.Fatalf("row errors %q, want one containing %q", rowErrs, tc.rowErr)
			}
		})
	}
}
