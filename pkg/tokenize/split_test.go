package tokenize

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/chat"
	"github.com/dpo-go/dpo/pkg/pairs"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

// TestSplitTakesTheShorterCommonPrefix: TRL's DPOTrainer keeps, as the
// prompt, the prefix the prompt's ids share with BOTH joint encodings
// (min over chosen and rejected), whichever side diverges first; swapping
// chosen and rejected swaps the completions and keeps the prompt.
func TestSplitTakesTheShorterCommonPrefix(t *testing.T) {
	for _, c := range []struct {
		name                   string
		prompt, pc, pr         []int32
		wantP, wantC, wantR    []int32
		mismatch, mismatchSwap []string
	}{
		{"both full", []int32{1, 2, 3}, []int32{1, 2, 3, 4}, []int32{1, 2, 3, 5, 6},
			[]int32{1, 2, 3}, []int32{4}, []int32{5, 6}, nil, nil},
		{"rejected diverges first", []int32{1, 2, 3}, []int32{1, 2, 3, 4}, []int32{1, 9, 5},
			[]int32{1}, []int32{2, 3, 4}, []int32{9, 5}, []string{"rejected"}, []string{"chosen"}},
		{"chosen diverges first", []int32{1, 2, 3}, []int32{1, 2, 8}, []int32{1, 2, 3, 5},
			[]int32{1, 2}, []int32{8}, []int32{3, 5}, []string{"chosen"}, []string{"rejected"}},
		{"both diverge, rejected earlier", []int32{1, 2, 3}, []int32{1, 2, 7}, []int32{1, 6},
			[]int32{1}, []int32{2, 7}, []int32{6}, []string{"chosen", "rejected"}, []string{"chosen", "rejected"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, ch, rj, mm := split(c.prompt, c.pc, c.pr)
			if !slices.Equal(p, c.wantP) || !slices.Equal(ch, c.wantC) || !slices.Equal(rj, c.wantR) || !slices.Equal(mm, c.mismatch) {
				t.Errorf("split = %v | %v | %v (mismatch %v), want %v | %v | %v (%v)", p, ch, rj, mm, c.wantP, c.wantC, c.wantR, c.mismatch)
			}
			p, ch, rj, mm = split(c.prompt, c.pr, c.pc) // chosen and rejected swapped
			if !slices.Equal(p, c.wantP) || !slices.Equal(ch, c.wantR) || !slices.Equal(rj, c.wantC) || !slices.Equal(mm, c.mismatchSwap) {
				t.Errorf("swapped: split = %v | %v | %v (mismatch %v), want %v | %v | %v (%v)", p, ch, rj, mm, c.wantP, c.wantR, c.wantC, c.mismatchSwap)
			}
		})
	}
}

// TestChatSplitCommonPrefixRejectedSide is TestChatSplitCommonPrefix with
// chosen and rejected swapped: the prompt shares its whole rendering with
// prompt+chosen but not with prompt+rejected, and the split still happens
// where the REJECTED ids diverge.
func TestChatSplitCommonPrefixRejectedSide(t *testing.T) {
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
	ex := pairs.Example{Prompt: pairs.Text{Messages: msg("user", "hi")}, Chosen: pairs.Text{Messages: msg("assistant", " no")}, Rejected: pairs.Text{Messages: msg("assistant", "yes")}}
	got, err := e.Encode(ex)
	if err != nil {
		t.Fatal(err)
	}
	if want := ids("user: hi\nassistant:"); !slices.Equal(got.Prompt, want) {
		t.Errorf("prompt %q, want %q", bytesOf(got.Prompt), bytesOf(want))
	}
	if want := ids(" no\n"); !slices.Equal(got.Chosen, want) {
		t.Errorf("chosen %q, want %q", bytesOf(got.Chosen), bytesOf(want))
	}
	if want := ids("yes\n"); !slices.Equal(got.Rejected, want) {
		t.Errorf("rejected %q, want %q", bytesOf(got.Rejected), bytesOf(want))
	}
	if !slices.Equal(got.PrefixMismatch, []string{"rejected"}) {
		t.Errorf("prefix mismatch %v, want [rejected]", got.PrefixMismatch)
	}
}

// TestTextSplitMatchesTRL: text pairs whose prompt's last token merges
// with the start of one completion only (Qwen3's BPE: "The cat" + "s sat."
// encodes " cats", not " cat" + "s"), on the chosen side, the rejected
// side and both, prepared by TRL's own DPOTrainer._prepare_dataset
// (tools/oracle/trl_tokenize.py, transformers' tokenizer from the same
// tokenizer.json) and by Encode: the same prompt, chosen and rejected ids.
func TestTextSplitMatchesTRL(t *testing.T) {
	if testing.Short() {
		t.Skip("TRL oracle: skipped with -short")
	}
	py := testrefs.Python(t, "trl", "transformers", "datasets")
	path := testrefs.Tokenizer(t, "qwen3")
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// tokenizer_config.json of Qwen3: no BOS, EOS <|im_end|>.
	e, err := NewEncoder(DefaultConfig(), tok, nil, "", "<|im_end|>", chat.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := []map[string]string{
		{"prompt": "The cat", "chosen": " sat on the mat.", "rejected": "s sat on the mat."},
		{"prompt": "The cat", "chosen": "s sat on the mat.", "rejected": " sat on the mat."},
		{"prompt": "I like the dog", "chosen": " a lot.", "rejected": "gy bag."},
		{"prompt": "Say hello wor", "chosen": "ld!", "rejected": "ds!"},
		{"prompt": "Count: one two", "chosen": " three", "rejected": " four"},
	}
	var raw []json.RawMessage
	for _, r := range rows {
		b, _ := json.Marshal(r)
		raw = append(raw, b)
	}
	req := map[string]any{
		"tokenizers": map[string]string{"qwen3": filepath.Dir(path)},
		"datasets":   []map[string]any{{"name": "standard", "rows": raw}},
	}
	var resp struct {
		Versions map[string]string                                     `json:"versions"`
		Results  map[string]map[string]map[string][]map[string][]int32 `json:"results"`
	}
	tmp := t.TempDir()
	testrefs.RunOracle(t, py, "trl_tokenize.py", req, &resp, "HF_HOME="+filepath.Join(tmp, "hf"), "HF_HUB_OFFLINE=1")
	t.Logf("oracle versions %v", resp.Versions)
	want := resp.Results["qwen3"]["standard"]["none"]
	if len(want) != len(rows) {
		t.Fatalf("TRL prepared %d rows, want %d", len(want), len(rows))
	}
	rejectedFirst := 0
	for i, r := range rows {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, err := e.Encode(pairs.Example{ID: fmt.Sprint(i), Prompt: pairs.Text{Str: r["prompt"]},
				Chosen: pairs.Text{Str: r["chosen"]}, Rejected: pairs.Text{Str: r["rejected"]}})
			if err != nil {
				t.Fatal(err)
			}
			w := want[i]
			if !slices.Equal(got.Prompt, w["prompt_ids"]) || !slices.Equal(got.Chosen, w["chosen_ids"]) || !slices.Equal(got.Rejected, w["rejected_ids"]) {
				t.Errorf("%q / %q / %q:\n got %v | %v | %v\nTRL  %v | %v | %v", r["prompt"], r["chosen"], r["rejected"],
					got.Prompt, got.Chosen, got.Rejected, w["prompt_ids"], w["chosen_ids"], w["rejected_ids"])
			}
			pi := tok.Encode(r["prompt"], true)
			if commonPrefix(pi, tok.Encode(r["prompt"]+r["chosen"], true)) == len(pi) && commonPrefix(pi, tok.Encode(r["prompt"]+r["rejected"], true)) < len(pi) {
				rejectedFirst++
			}
		})
	}
	if rejectedFirst == 0 {
		t.Errorf("no row has its prompt's ids a prefix of prompt+chosen's and not of prompt+rejected's: the test exercises nothing")
	}
}
