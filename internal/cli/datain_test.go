package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// TestTokenizeDataIn covers what dpo-tokenize does with dataset shapes that
// used to be dropped silently: orca-style columns (empty prompts are counted
// and --strict fails), chosen equal to rejected, content that cannot be
// represented, several inputs and globs.
func TestTokenizeDataIn(t *testing.T) {
	dir := t.TempDir()
	orca := writeFile(t, "orca.jsonl", `{"id":"a","system":"Be brief.","question":"Sky color?","chosen":"Blue.","rejected":"Green."}
{"id":"b","system":"","question":"Grass color?","chosen":"Green.","rejected":"Red."}
`)
	readSummary := func(p string) map[string]any {
		t.Helper()
		var m map[string]any
		b, _ := os.ReadFile(p)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("orca without --columns: counted empty prompts, --strict fails", func(t *testing.T) {
		sum := filepath.Join(dir, "s1.json")
		_, stderr, err := runTokenize(t, "--tokenizer", "builtin:bytes", "--summary", sum, orca)
		if err != nil {
			t.Fatal(err)
		}
		if s := readSummary(sum); s["empty_prompt"] != 2.0 {
			t.Errorf("empty_prompt = %v, want 2", s["empty_prompt"])
		}
		if !strings.Contains(stderr.String(), "empty prompt") || !strings.Contains(stderr.String(), "--columns") {
			t.Errorf("no warning:\n%s", stderr)
		}
		_, _, err = runTokenize(t, "--tokenizer", "builtin:bytes", "--strict", orca)
		if err == nil || ExitCode(err) != 1 || !strings.Contains(err.Error(), `row 0 (id "a"): empty prompt`) {
			t.Errorf("--strict: %v", err)
		}
	})

	t.Run("orca with --columns, no chat template: system, blank line, prompt", func(t *testing.T) {
		stdout, stderr, err := runTokenize(t, "--tokenizer", "builtin:bytes", "--strict", "--columns", "prompt=question,system=system", orca)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		got, meta := readPairsStream(t, stdout.Bytes())
		merged := writeFile(t, "merged.jsonl", `{"id":"a","prompt":"Be brief.\n\nSky color?","chosen":"Blue.","rejected":"Green."}
{"id":"b","prompt":"Grass color?","chosen":"Green.","rejected":"Red."}
`)
		stdout, _, err = runTokenize(t, "--tokenizer", "builtin:bytes", merged)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := readPairsStream(t, stdout.Bytes())
		if len(got) != 2 || !slices.EqualFunc(got, want, func(a, b goldenPair) bool {
			return a.ID == b.ID && slices.Equal(a.Prompt, b.Prompt) && slices.Equal(a.Chosen, b.Chosen) && slices.Equal(a.Rejected, b.Rejected)
		}) {
			t.Errorf("got %v\nwant %v", got, want)
		}
		var st struct {
			Columns      map[string]string `json:"columns"`
			SystemColumn bool              `json:"system_column"`
		}
		if err := meta.StageOptions(arrowio.StageTokenize, &st); err != nil || st.Columns["system"] != "system" || !st.SystemColumn {
			t.Errorf("stage options %+v, %v: the column mapping is not recorded", st, err)
		}
	})

	t.Run("chosen equals rejected: dropped, warned, in the rejects file", func(t *testing.T) {
		in := writeFile(t, "same.jsonl", `{"id":"x","prompt":"p","chosen":"same","rejected":"same"}
{"id":"y","prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"a"}]}
{"id":"z","prompt":"p","chosen":"c","rejected":"r"}
`)
		rejects, sum := filepath.Join(dir, "rej.jsonl"), filepath.Join(dir, "s3.json")
		stdout, stderr, err := runTokenize(t, "--tokenizer", "builtin:bytes", "--chat-template", writeFile(t, "t.jinja", "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"),
			"--rejects", rejects, "--summary", sum, in)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		rows, _ := readPairsStream(t, stdout.Bytes())
		if len(rows) != 1 || rows[0].ID != "z" {
			t.Errorf("written %v, want only z", rows)
		}
		if d := readSummary(sum)["dropped"].(map[string]any); d["chosen_equals_rejected"] != 2.0 {
			t.Errorf("dropped %v", d)
		}
		if !strings.Contains(stderr.String(), "chosen equals rejected") {
			t.Errorf("no warning:\n%s", stderr)
		}
		rej, _ := os.ReadFile(rejects)
		if strings.Count(string(rej), "chosen_equals_rejected") != 2 {
			t.Errorf("rejects file:\n%s", rej)
		}
	})

	t.Run("not representable: an error naming the row and field", func(t *testing.T) {
		for _, c := range []struct{ row, want string }{
			{`{"prompt":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}]}`,
				`field "prompt[0].content[0].type": content part of type "image_url" cannot be represented`},
			{`{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":null}],"rejected":[{"role":"assistant","content":"b"}]}`,
				`field "chosen[0].content": is null and the message has no tool_calls`},
			{`{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"a","tool_calls":{"name":"f"}}],"rejected":[{"role":"assistant","content":"b"}]}`,
				`field "chosen[0].tool_calls": expected a list of tool calls, got object`},
			{`{"prompt":"q","chosen":"a","rejected":"b","tools":[{"type":"function","function":{"name":"f"}}]}`,
				`field tools: tool schemas on a text pair are not representable`},
			{`{"prompt":"q","chosen":"a","rejected":"b","tools":{"f":1}}`,
				`field "tools": expected a list of tool schemas, got object`},
		} {
			in := writeFile(t, "bad.jsonl", `{"prompt":"p","chosen":"c","rejected":"r"}`+"\n"+c.row+"\n")
			_, stderr, err := runTokenize(t, "--tokenizer", "builtin:bytes", in)
			if err == nil || ExitCode(err) != 1 || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.jsonl") {
				t.Errorf("%s:\n err %v\nwant %q\n%s", c.row, err, c.want, stderr)
			}
		}
	})

	t.Run("several inputs and a glob, rows numbered over all", func(t *testing.T) {
		sub := filepath.Join(dir, "shards")
		os.Mkdir(sub, 0o755)
		for i, s := range []string{`{"prompt":"p0","chosen":"c","rejected":"r"}` + "\n" + `{"prompt":"p1","chosen":"c","rejected":"r"}` + "\n", `[{"prompt":"p2","chosen":"c","rejected":"r"}]`, `{"prompt":"p3","chosen":"c","rejected":"r"}` + "\n"} {
			os.WriteFile(filepath.Join(sub, "train-0000"+string(rune('0'+i))+"-of-00003.json"), []byte(s), 0o644)
		}
		stdout, stderr, err := runTokenize(t, "--tokenizer", "builtin:bytes", filepath.Join(sub, "train-0000*-of-00003.json"))
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		rows, _ := readPairsStream(t, stdout.Bytes())
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		if strings.Join(ids, ",") != "0,1,2,3" {
			t.Errorf("ids %v, want 0,1,2,3 (input order, numbered over all files)", ids)
		}
	})

	t.Run("bad --columns is a usage error", func(t *testing.T) {
		for _, c := range []string{"prompt", "answer=x", "prompt=a,prompt=b", "prompt=x,chosen=x"} {
			_, _, err := runTokenize(t, "--tokenizer", "builtin:bytes", "--columns", c, orca)
			if ExitCode(err) != 2 {
				t.Errorf("--columns %s: %v", c, err)
			}
		}
	})
}
