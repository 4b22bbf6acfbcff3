package tokenize

import (
	"errors"
	"slices"
	"testing"

	"github.com/dpo-go/dpo/pkg/chat"
	"github.com/dpo-go/dpo/pkg/pairs"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

func ids(s string) []int32 {
	out := make([]int32, len(s))
	for i := range s {
		out[i] = int32(s[i])
	}
	return out
}

const eosID = 257 // builtin:bytes <|eos|>

func withEOS(s string) []int32 { return append(ids(s), eosID) }

func textEx(p, c, r string) pairs.Example {
	return pairs.Example{ID: "x", Prompt: pairs.Text{Str: p}, Chosen: pairs.Text{Str: c}, Rejected: pairs.Text{Str: r}}
}

func bytesEncoder(t *testing.T, cfg Config) *Encoder {
	t.Helper()
	tok, err := tokenizer.Builtin("bytes")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEncoder(cfg, tok, nil, "<|bos|>", "<|eos|>", chat.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The expected ids below are derived by hand from TRL's DPOConfig rules
// with a byte tokenizer (one token per byte, EOS appended to completions).
func TestTruncation(t *testing.T) {
	tests := []struct {
		name                string
		cfg                 Config
		p, c, r             string
		wantP, wantC, wantR []int32
		wantDrop            string
		wantTruncated       bool
	}{
		{name: "fits", cfg: Config{MaxLength: 100, Truncation: KeepEnd},
			p: "abc", c: "de", r: "f", wantP: ids("abc"), wantC: withEOS("de"), wantR: withEOS("f")},
		{name: "no limits", cfg: Config{Truncation: KeepStart},
			p: "abcdefgh", c: "ij", r: "k", wantP: ids("abcdefgh"), wantC: withEOS("ij"), wantR: withEOS("k")},
		{name: "max prompt keeps the end", cfg: Config{MaxPromptLength: 3, Truncation: KeepEnd},
			p: "abcdef", c: "g", r: "h", wantP: ids("def"), wantC: withEOS("g"), wantR: withEOS("h"), wantTruncated: true},
		{name: "max prompt keeps the end in keep_start too", cfg: Config{MaxPromptLength: 2, Truncation: KeepStart},
			p: "abcdef", c: "g", r: "h", wantP: ids("ef"), wantC: withEOS("g"), wantR: withEOS("h"), wantTruncated: true},
		{name: "max completion keeps the start", cfg: Config{MaxCompletionLength: 2, Truncation: KeepEnd},
			p: "ab", c: "cdef", r: "g", wantP: ids("ab"), wantC: ids("cd"), wantR: withEOS("g"), wantTruncated: true},
		// keep_end: sequence = prompt + longest completion (3+1 eos = 4) must fit in 6:
		// the prompt keeps its last 2 tokens.
		{name: "keep_end cuts the prompt start for the longer completion", cfg: Config{MaxLength: 6, Truncation: KeepEnd},
			p: "abcdefg", c: "xyz", r: "q", wantP: ids("fg"), wantC: withEOS("xyz"), wantR: withEOS("q"), wantTruncated: true},
		// keep_start: the prompt (4) stays, completions keep 6-4 = 2 tokens.
		{name: "keep_start cuts the completions end", cfg: Config{MaxLength: 6, Truncation: KeepStart},
			p: "abcd", c: "xyz", r: "q", wantP: ids("abcd"), wantC: ids("xy"), wantR: withEOS("q"), wantTruncated: true},
		{name: "keep_start exact fit is not truncated", cfg: Config{MaxLength: 6, Truncation: KeepStart},
			p: "abcd", c: "x", r: "q", wantP: ids("abcd"), wantC: withEOS("x"), wantR: withEOS("q")},
		{name: "keep_start prompt fills max length", cfg: Config{MaxLength: 4, Truncation: KeepStart},
			p: "abcd", c: "x", r: "y", wantDrop: DropPromptFillsMaxLength},
		{name: "keep_end completion fills max length", cfg: Config{MaxLength: 4, Truncation: KeepEnd},
			p: "ab", c: "wxy", r: "z", wantDrop: DropCompletionFillsMaxLength},
		{name: "eos not doubled when the completion ends with it", cfg: Config{Truncation: KeepEnd},
			p: "a", c: "b<|eos|>", r: "c", wantP: ids("a"), wantC: ids("b<|eos|>"), wantR: withEOS("c")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := bytesEncoder(t, tt.cfg)
			got, err := e.Encode(textEx(tt.p, tt.c, tt.r))
			if tt.wantDrop != "" {
				var d *DropError
				if !errors.As(err, &d) || d.Reason != tt.wantDrop {
					t.Fatalf("err = %v, want drop %s", err, tt.wantDrop)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Prompt, tt.wantP) || !slices.Equal(got.Chosen, tt.wantC) || !slices.Equal(got.Rejected, tt.wantR) {
				t.Errorf("got prompt %v chosen %v rejected %v\nwant prompt %v chosen %v rejected %v", got.Prompt, got.Chosen, got.Rejected, tt.wantP, tt.wantC, tt.wantR)
			}
			if got.Truncated != tt.wantTruncated {
				t.Errorf("truncated = %v, want %v", got.Truncated, tt.wantTruncated)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Truncation: "middle"}, {Truncation: KeepEnd, MaxLength: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", c)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
}

func TestChatWithoutTemplate(t *testing.T) {
	e := bytesEncoder(t, DefaultConfig())
	msg := func(role, s string) []chat.Message { return []chat.Message{{Role: role, Content: s}} }
	ex := pairs.Example{Prompt: pairs.Text{Messages: msg("user", "hi")}, Chosen: pairs.Text{Messages: msg("assistant", "a")}, Rejected: pairs.Text{Messages: msg("assistant", "b")}}
	if _, err := e.Encode(ex); err == nil {
		t.Fatal("want an error for a conversational pair without a chat template")
	}
}

// A template that renders each message as "<role>: content\n" and the
// generation prompt as "assistant: ". Joint ids must split at the prompt.
func TestChatSplit(t *testing.T) {
	tok, _ := tokenizer.Builtin("bytes")
	tmpl, err := chat.Compile("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEncoder(DefaultConfig(), tok, tmpl, "<|bos|>", "<|eos|>", chat.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(role, s string) []chat.Message { return []chat.Message{{Role: role, Content: s}} }
	ex := pairs.Example{Prompt: pairs.Text{Messages: msg("user", "hi")}, Chosen: pairs.Text{Messages: msg("assistant", "yes")}, Rejected: pairs.Text{Messages: msg("assistant", "no")}}
	got, err := e.Encode(ex)
	if err != nil {
		t.Fatal(err)
	}
	// Prompt render: "user: hi\nassistant: "; joint: "user: hi\nassistant: yes\n".
	if want := ids("user: hi\nassistant: "); !slices.Equal(got.Prompt, want) {
		t.Errorf("prompt %q", string(bytesOf(got.Prompt)))
	}
	if want := ids("yes\n"); !slices.Equal(got.Chosen, want) {
		t.Errorf("chosen %q, want %q (chat completions get no extra EOS)", string(bytesOf(got.Chosen)), "yes\n")
	}
	if len(got.PrefixMismatch) != 0 {
		t.Errorf("unexpected prefix mismatch %v", got.PrefixMismatch)
	}
}

func bytesOf(v []int32) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// A template whose generation prompt ("assistant: ") is not how the joint
// rendering continues ("assistant:" + content): as in TRL, the completions
// start where the ids diverge, and the prompt keeps the common prefix.
func TestChatSplitCommonPrefix(t *testing.T) {
	tok, _ := tokenizer.Builtin("bytes")
	tmpl, err := chat.Compile("{% for m in messages %}{{ m.role }}:{% if m.role != 'assistant' %} {% endif %}{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEncoder(DefaultConfig(), tok, tmpl, "<|bos|>", "<|eos|>", chat.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(role, s string) []chat.Message { return []chat.Message{{Role: role, Content: s}} }
	ex := pairs.Example{Prompt: pairs.Text{Messages: msg("user", "hi")}, Chosen: pairs.Text{Messages: msg("assistant", "yes")}, Rejected: pairs.Text{Messages: msg("assistant", " no")}}
	got, err := e.Encode(ex)
	if err != nil {
		t.Fatal(err)
	}
	// rejected's joint text "user: hi\nassistant: no\n" does start with the
	// prompt, chosen's "user: hi\nassistant:yes\n" does not: the shared
	// prefix is "user: hi\nassistant:".
	if want := ids("user: hi\nassistant:"); !slices.Equal(got.Prompt, want) {
		t.Errorf("prompt %q, want %q", bytesOf(got.Prompt), bytesOf(want))
	}
	if want := ids("yes\n"); !slices.Equal(got.Chosen, want) {
		t.Errorf("chosen %q, want %q", bytesOf(got.Chosen), bytesOf(want))
	}
	if want := ids(" no\n"); !slices.Equal(got.Rejected, want) {
		t.Errorf("rejected %q, want %q", bytesOf(got.Rejected), bytesOf(want))
	}
	if !slices.Equal(got.PrefixMismatch, []string{"chosen"}) {
		t.Errorf("prefix mismatch %v, want [chosen]", got.PrefixMismatch)
	}
}
