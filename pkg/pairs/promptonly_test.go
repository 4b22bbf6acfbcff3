package pairs

import (
	"strings"
	"testing"
)

// TestPromptOnly reads prompts without completions: chosen and rejected are
// ignored, the prompt column is required per row, and the options that
// need completions are refused.
func TestPromptOnly(t *testing.T) {
	in := `{"id": "a", "q": "The sky is", "chosen": 3}
{"q": [{"role": "user", "content": "Q"}], "sys": "S", "tools": [{"type": "function"}]}
{"q": ""}
{"id": 4}
{"q": null}
{"q": []}
{"q": 1}
`
	r, err := Open("-", strings.NewReader(in), Options{Columns: map[string]string{"prompt": "q", "system": "sys"}, PromptOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gots, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	check(t, StdinName, gots, []want{
		ok(Example{ID: "a", Row: 0, Prompt: s("The sky is")}),
		ok(Example{ID: "1", Row: 1, Prompt: m("user", "Q"), System: "S", Tools: []byte(`[{"type": "function"}]`)}),
		ok(Example{ID: "2", Row: 2, Prompt: s("")}),
		rowErr("q", ErrMissing, `field "q": missing`),
		rowErr("q", ErrMissing, `field "q": is null`),
		rowErr("q", ErrEmpty, "empty list of messages"),
		rowErr("q", ErrType, ""),
	}, true)

	for _, o := range []Options{
		{PromptOnly: true, Columns: map[string]string{"chosen": "c"}},
		{PromptOnly: true, Rated: &Binarize{}},
	} {
		if _, err := Open("-", strings.NewReader(in), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
