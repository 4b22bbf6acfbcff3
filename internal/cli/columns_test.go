package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// chatCase is one pair as transformers sees it (messages as given).
type chatCase struct {
	ID       string           `json:"id"`
	Prompt   []map[string]any `json:"prompt"`
	Chosen   []map[string]any `json:"chosen"`
	Rejected []map[string]any `json:"rejected"`
	Tools    []any            `json:"tools,omitempty"`
}

func msg(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func jsonl(t *testing.T, rows ...any) string {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestTokenizeToolsAndColumns checks dpo-tokenize's rendering of an
// orca-style dataset read through --columns (system and question columns),
// of assistant tool_calls (content "": Qwen3's template fails on null, in
// transformers as here), tool turns and a tools column, and
// of OpenAI text parts, against transformers' apply_chat_template on the
// Qwen3 template (tools_chat.py). Ours must equal TRL's recipe: the joint
// encodings equal the oracle's, the prompt is their common prefix.
func TestTokenizeToolsAndColumns(t *testing.T) {
	py := testrefs.Python(t, "transformers")
	tokDir := filepath.Dir(testrefs.Tokenizer(t, "qwen3"))
	weather := []any{msg("type", "function", "function", msg("name", "get_weather", "description", "Current weather in a city",
		"parameters", msg("type", "object", "properties", msg("city", msg("type", "string")), "required", []string{"city"})))}
	call := []any{msg("type", "function", "function", msg("name", "get_weather", "arguments", msg("city", "Paris")))}
	user := func(s string) map[string]any { return msg("role", "user", "content", s) }
	asst := func(s string) map[string]any { return msg("role", "assistant", "content", s) }

	// Orca-style rows, read with --columns prompt=question,system=system.
	orca := jsonl(t,
		msg("id", "orca", "system", "You are terse.", "question", "Name a color.", "chosen", "Blue.", "rejected", "Hmm, maybe blue?"),
		msg("id", "orca-nosys", "system", "", "question", "Name a fruit.", "chosen", "Apple.", "rejected", "A car."),
		msg("id", "orca-conv", "system", "Be kind.", "question", []any{user("Hi")}, "chosen", []any{asst("Hello!")}, "rejected", []any{asst("Go away.")}),
	)
	// Conversational rows with tools, read with the default columns.
	tools := jsonl(t,
		msg("id", "call", "prompt", []any{user("Weather in Paris?")},
			"chosen", []any{msg("role", "assistant", "content", "", "tool_calls", call)},
			"rejected", []any{asst("I cannot check.")}, "tools", weather),
		msg("id", "tool-turn", "prompt", []any{user("Weather in Paris?"), msg("role", "assistant", "content", "", "tool_calls", call), msg("role", "tool", "content", "18C, sunny")},
			"chosen", []any{asst("It is 18C and sunny.")}, "rejected", []any{asst("No idea.")}, "tools", weather),
		msg("id", "parts", "prompt", []any{msg("role", "user", "content", []any{msg("type", "text", "text", "Hello "), msg("type", "text", "text", "there")})},
			"chosen", []any{asst("Hi!")}, "rejected", []any{asst("Bye.")}),
	)
	cases := []chatCase{
		{ID: "orca", Prompt: []map[string]any{msg("role", "system", "content", "You are terse."), user("Name a color.")}, Chosen: []map[string]any{asst("Blue.")}, Rejected: []map[string]any{asst("Hmm, maybe blue?")}},
		{ID: "orca-nosys", Prompt: []map[string]any{user("Name a fruit.")}, Chosen: []map[string]any{asst("Apple.")}, Rejected: []map[string]any{asst("A car.")}},
		{ID: "orca-conv", Prompt: []map[string]any{msg("role", "system", "content", "Be kind."), user("Hi")}, Chosen: []map[string]any{asst("Hello!")}, Rejected: []map[string]any{asst("Go away.")}},
		{ID: "call", Prompt: []map[string]any{user("Weather in Paris?")}, Chosen: []map[string]any{msg("role", "assistant", "content", "", "tool_calls", call)}, Rejected: []map[string]any{asst("I cannot check.")}, Tools: weather},
		{ID: "tool-turn", Prompt: []map[string]any{user("Weather in Paris?"), msg("role", "assistant", "content", "", "tool_calls", call), msg("role", "tool", "content", "18C, sunny")},
			Chosen: []map[string]any{asst("It is 18C and sunny.")}, Rejected: []map[string]any{asst("No idea.")}, Tools: weather},
		// transformers gets the flattened text: the parts' documented meaning.
		{ID: "parts", Prompt: []map[string]any{user("Hello there")}, Chosen: []map[string]any{asst("Hi!")}, Rejected: []map[string]any{asst("Bye.")}},
	}
	var resp struct {
		Results map[string]struct {
			Prompt         []int32 `json:"prompt"`
			PromptChosen   []int32 `json:"prompt_chosen"`
			PromptRejected []int32 `json:"prompt_rejected"`
			TextChosen     string  `json:"text_chosen"`
		}
	}
	testrefs.RunOracle(t, py, "chat_tools.py", map[string]any{"tokenizer": tokDir, "cases": cases}, &resp,
		"HF_HOME="+filepath.Join(t.TempDir(), "hf"), "HF_HUB_OFFLINE=1")
	got := runOurs(t, tokDir, writeFile(t, "orca.jsonl", orca), "--columns", "prompt=question,system=system", "--max-length", "0")
	for k, v := range runOurs(t, tokDir, writeFile(t, "tools.jsonl", tools), "--max-length", "0") {
		got[k] = v
	}
	for _, c := range cases {
		want, ok := resp.Results[c.ID]
		g, ok2 := got[c.ID]
		if !ok || !ok2 {
			t.Errorf("%s: missing (oracle %v, ours %v)", c.ID, ok, ok2)
			continue
		}
		if c.ID == "call" && !strings.Contains(want.TextChosen, `"name": "get_weather"`) {
			t.Errorf("oracle render lacks the tool call: %q", want.TextChosen)
		}
		n := min(commonLen(want.Prompt, want.PromptChosen), commonLen(want.Prompt, want.PromptRejected))
		if !slices.Equal(g.Prompt, want.Prompt[:n]) {
			t.Errorf("%s: prompt ids\n got %v\nwant %v", c.ID, g.Prompt, want.Prompt[:n])
		}
		if pc := slices.Concat(g.Prompt, g.Chosen); !slices.Equal(pc, want.PromptChosen) {
			t.Errorf("%s: prompt+chosen ids\n got %v\nwant %v", c.ID, pc, want.PromptChosen)
		}
		if pr := slices.Concat(g.Prompt, g.Rejected); !slices.Equal(pr, want.PromptRejected) {
			t.Errorf("%s: prompt+rejected ids\n got %v\nwant %v", c.ID, pr, want.PromptRejected)
		}
	}
}

func commonLen(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
