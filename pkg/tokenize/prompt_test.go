package tokenize

import (
	"slices"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/chat"
	"github.com/dpo-go/dpo/pkg/pairs"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

// EncodePrompt gives the prompt ids Encode gives the same row made a pair
// (text and conversations, the system column merged each way, a BOS the
// text already holds), whatever its completions; the text is the merged
// prompt.
func TestEncodePromptEqualsPairPrompt(t *testing.T) {
	tok, _ := tokenizer.Builtin("bytes")
	tmpl, err := chat.Compile("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
	if err != nil {
		t.Fatal(err)
	}
	msg := func(role, s string) []chat.Message { return []chat.Message{{Role: role, Content: s}} }
	rows := []pairs.Example{
		{ID: "text", Prompt: pairs.Text{Str: "sort: cab\n"}, Chosen: pairs.Text{Str: "abc"}, Rejected: pairs.Text{Str: "acb"}},
		{ID: "bos", Prompt: pairs.Text{Str: "<|bos|>hi "}, Chosen: pairs.Text{Str: "a"}, Rejected: pairs.Text{Str: "b"}},
		{ID: "system-text", System: "be brief", Prompt: pairs.Text{Str: "q"}, Chosen: pairs.Text{Str: "a"}, Rejected: pairs.Text{Str: "b"}},
		{ID: "chat", Prompt: pairs.Text{Messages: msg("user", "hi")}, Chosen: pairs.Text{Messages: msg("assistant", "yes")}, Rejected: pairs.Text{Messages: msg("assistant", "no")}},
		{ID: "system-chat", System: "sys", Prompt: pairs.Text{Messages: msg("user", "hi")}, Chosen: pairs.Text{Messages: msg("assistant", "yes")}, Rejected: pairs.Text{Messages: msg("assistant", "no")}},
	}
	for _, systemColumn := range []bool{false, true} {
		for _, withTmpl := range []bool{false, true} {
			cfg := DefaultConfig()
			cfg.SystemColumn = systemColumn
			var tm *chat.Template
			if withTmpl {
				tm = tmpl
			}
			e, err := NewEncoder(cfg, tok, tm, "<|bos|>", "<|eos|>", chat.RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, ex := range rows {
				pair, perr := e.Encode(ex)
				p, err := e.EncodePrompt(pairs.Example{ID: ex.ID, System: ex.System, Prompt: ex.Prompt})
				if (perr != nil) != (err != nil) {
					t.Errorf("system column %v, template %v, %s: pair error %v, prompt error %v", systemColumn, withTmpl, ex.ID, perr, err)
					continue
				}
				if err != nil {
					continue
				}
				if p.ID != ex.ID || !slices.Equal(p.IDs, pair.Prompt) {
					t.Errorf("system column %v, template %v, %s: prompt ids %v, the pair's %v", systemColumn, withTmpl, ex.ID, p.IDs, pair.Prompt)
				}
				if ex.ID == "system-text" && !withTmpl && p.Text != "be brief\n\nq" {
					t.Errorf("merged text %q", p.Text)
				}
				if ex.ID == "system-chat" && p.Text != `[{"role":"system","content":"sys"},{"role":"user","content":"hi"}]` {
					t.Errorf("merged conversation %q", p.Text)
				}
			}
		}
	}
	e, _ := NewEncoder(DefaultConfig(), tok, nil, "<|bos|>", "<|eos|>", chat.RenderOptions{})
	if _, err := e.EncodePrompt(pairs.Example{Prompt: pairs.Text{Messages: msg("user", "hi")}}); err == nil || !strings.Contains(err.Error(), "field prompt: conversational prompt but no chat template") {
		t.Errorf("conversation without a template: %v", err)
	}
}
