package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/tokenize"
)

// trlRequest is the input of tools/oracle/trl_tokenize.py.
type trlRequest struct {
	Tokenizers  map[string]string `json:"tokenizers"`
	Datasets    []trlDataset      `json:"datasets"`
	Truncations []trlTruncation   `json:"truncations"`
}

type trlDataset struct {
	Name string            `json:"name"`
	Rows []json.RawMessage `json:"rows"`
	ids  []string          // our ids of the rows, in order
	file string            // the rows as JSONL with their ids, for dpo-tokenize
}

type trlTruncation struct {
	MaxLength int    `json:"max_length"`
	Mode      string `json:"truncation_mode"`
}

func (t trlTruncation) key() string { return fmt.Sprintf("%d/%s", t.MaxLength, t.Mode) }

type trlPrepared struct {
	Prompt   []int32 `json:"prompt_ids"`
	Chosen   []int32 `json:"chosen_ids"`
	Rejected []int32 `json:"rejected_ids"`
}

// trlCollated is one row after DataCollatorForPreference: each sequence's
// kept ids, split into prompt and completion by completion_mask.
type trlCollated struct {
	ChosenPrompt   []int32 `json:"chosen_prompt"`
	Chosen         []int32 `json:"chosen"`
	RejectedPrompt []int32 `json:"rejected_prompt"`
	Rejected       []int32 `json:"rejected"`
}

type trlResponse struct {
	Versions map[string]string `json:"versions"`
	Defaults struct {
		MaxLength           *int   `json:"max_length"`
		Truncation          string `json:"truncation_mode"`
		HasMaxPrompt        bool   `json:"has_max_prompt_length"`
		HasMaxCompletion    bool   `json:"has_max_completion_length"`
		MaxPromptLength     *int   `json:"max_prompt_length"`
		MaxCompletionLength *int   `json:"max_completion_length"`
	} `json:"defaults"`
	// Results[tokenizer][dataset]["none"] is []trlPrepared; other keys
	// ("16/keep_start") are []*trlCollated (nil: TRL dropped the row).
	Results map[string]map[string]map[string]json.RawMessage `json:"results"`
}

// trlGroups reads the test pairs and splits them into the four dataset
// kinds TRL prepares separately (it decides per dataset, from the first row,
// whether to extract the prompt and whether to append EOS).
func trlGroups(t *testing.T, dir string, files ...string) []*trlDataset {
	t.Helper()
	groups := map[string]*trlDataset{}
	var order []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		row := 0
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			id := fmt.Sprintf("%s:%d", filepath.Base(f), row)
			if v, ok := rec["id"]; ok {
				id = fmt.Sprint(v)
			}
			row++
			delete(rec, "id")
			kind := "standard"
			if _, ok := rec["chosen"].([]any); ok {
				kind = "conversational"
			}
			if _, ok := rec["prompt"]; !ok {
				kind += "_implicit"
			}
			g := groups[kind]
			if g == nil {
				g = &trlDataset{Name: kind}
				groups[kind] = g
				order = append(order, kind)
			}
			b, _ := json.Marshal(rec)
			g.Rows = append(g.Rows, b)
			g.ids = append(g.ids, id)
		}
		fh.Close()
	}
	var out []*trlDataset
	for _, k := range order {
		g := groups[k]
		var buf bytes.Buffer
		for i, r := range g.Rows {
			var rec map[string]any
			_ = json.Unmarshal(r, &rec)
			rec["id"] = g.ids[i]
			b, _ := json.Marshal(rec)
			buf.Write(append(b, '\n'))
		}
		g.file = filepath.Join(dir, k+".jsonl")
		if err := os.WriteFile(g.file, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, g)
	}
	return out
}

// TestTokenizeMatchesTRL runs TRL 1.16's own dataset preparation
// (DPOTrainer._prepare_dataset and DataCollatorForPreference, through
// tools/oracle/trl_tokenize.py with transformers' tokenizers loaded from the
// same tokenizer.json and tokenizer_config.json) and dpo-tokenize on standard,
// conversational and implicit-prompt pairs, and requires the same ids.
//
// The conversational pairs are also prepared with Qwen3's
// enable_thinking=false (TRL: a chat_template_kwargs column; dpo-tokenize:
// --chat-template-kwargs).
//
// Deliberate differences, checked to be exactly what they are:
//   - a text that starts with the BOS token gets a second BOS from the
//     tokenizer in TRL; dpo-tokenize keeps one;
//   - truncation_mode keep_end: TRL cuts each prompt+completion sequence on
//     its own, so chosen and rejected can keep different prompt tails, and a
//     completion longer than max_length loses its start. A dpo stream has one
//     prompt per pair: dpo-tokenize cuts the prompt for the longer completion
//     (that sequence equals TRL's; the shorter one keeps a suffix of TRL's
//     prompt) and drops a pair whose completion alone fills max_length.
func TestTokenizeMatchesTRL(t *testing.T) {
	py := testrefs.Python(t, "trl", "transformers", "datasets")
	tmp := t.TempDir()
	groups := trlGroups(t, tmp, filepath.Join("..", "tokenize", "testdata", "pairs.jsonl"), filepath.Join("..", "tokenize", "testdata", "trl_pairs.jsonl"),
		// Leading spaces and text after special-token literals, where
		// LlamaTokenizer differs from its raw tokenizer.json.
		filepath.Join("..", "tokenize", "testdata", "space_pairs.jsonl"))
	names := []string{"qwen3", "llama3", "gemma3", "mistral"}
	req := trlRequest{Tokenizers: map[string]string{}, Truncations: []trlTruncation{
		{16, tokenize.KeepStart}, {40, tokenize.KeepStart}, {16, tokenize.KeepEnd}, {40, tokenize.KeepEnd},
	}}
	for _, n := range names {
		req.Tokenizers[n] = filepath.Dir(testrefs.Tokenizer(t, n))
	}
	for _, g := range groups {
		req.Datasets = append(req.Datasets, *g)
	}
	// The conversational pairs again with Qwen3's enable_thinking=false:
	// TRL reads it from each row's chat_template_kwargs, dpo-tokenize from
	// --chat-template-kwargs.
	kw := kwargsGroup(t, tmp, groups)
	req.Datasets = append(req.Datasets, *kw)
	var resp trlResponse
	testrefs.RunOracle(t, py, "trl_tokenize.py", req, &resp, "HF_HOME="+filepath.Join(tmp, "hf"), "HF_HUB_OFFLINE=1")
	t.Logf("oracle versions %v", resp.Versions)

	t.Run("defaults", func(t *testing.T) {
		d := tokenize.DefaultConfig()
		if resp.Defaults.MaxLength == nil || d.MaxLength != *resp.Defaults.MaxLength {
			t.Errorf("MaxLength default %d, DPOConfig %v", d.MaxLength, resp.Defaults.MaxLength)
		}
		if d.Truncation != resp.Defaults.Truncation {
			t.Errorf("truncation default %q, DPOConfig %q", d.Truncation, resp.Defaults.Truncation)
		}
		// Where DPOConfig has no such option (TRL 1.16 has neither), ours
		// is off by default; where it has one, the defaults agree.
		for _, c := range []struct {
			name string
			has  bool
			trl  *int
			ours int
		}{
			{"max_prompt_length", resp.Defaults.HasMaxPrompt, resp.Defaults.MaxPromptLength, d.MaxPromptLength},
			{"max_completion_length", resp.Defaults.HasMaxCompletion, resp.Defaults.MaxCompletionLength, d.MaxCompletionLength},
		} {
			want := 0
			if c.has && c.trl != nil {
				want = *c.trl
			}
			if c.ours != want {
				t.Errorf("%s default %d, want %d (DPOConfig has it: %v, value %v)", c.name, c.ours, want, c.has, c.trl)
			}
		}
	})

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			// One input with every kind dpo-tokenize reads per row, so the
			// tokenizer is loaded once per run.
			var input bytes.Buffer
			var used []*trlDataset
			for _, g := range groups {
				if _, ok := resp.Results[name][g.Name]; !ok || g == kw {
					continue // no chat template: TRL cannot prepare conversational rows
				}
				b, err := os.ReadFile(g.file)
				if err != nil {
					t.Fatal(err)
				}
				input.Write(b)
				used = append(used, g)
			}
			file := filepath.Join(tmp, name+".jsonl")
			if err := os.WriteFile(file, input.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			full := map[string]trlPrepared{}
			got := runOurs(t, req.Tokenizers[name], file, "--max-length", "0")
			for _, g := range used {
				var want []trlPrepared
				if err := json.Unmarshal(resp.Results[name][g.Name]["none"], &want); err != nil {
					t.Fatal(err)
				}
				for i, id := range g.ids {
					w := want[i]
					full[id] = w
					gp, ok := got[id]
					if !ok {
						t.Errorf("%s: not in dpo-tokenize's output", id)
						continue
					}
					if doubledBOS(w.Prompt) && slices.Equal(gp.Prompt, w.Prompt[1:]) && slices.Equal(gp.Chosen, w.Chosen) && slices.Equal(gp.Rejected, w.Rejected) {
						t.Logf("%s: deliberate difference: TRL doubles the BOS of a text that starts with it (%v), dpo-tokenize keeps one", id, w.Prompt[:2])
						continue
					}
					if !slices.Equal(gp.Prompt, w.Prompt) || !slices.Equal(gp.Chosen, w.Chosen) || !slices.Equal(gp.Rejected, w.Rejected) {
						t.Errorf("%s (%s):\n got prompt %v\n   chosen %v\n   rejected %v\nTRL prompt %v\n   chosen %v\n   rejected %v", id, g.Name, gp.Prompt, gp.Chosen, gp.Rejected, w.Prompt, w.Chosen, w.Rejected)
					}
				}
			}
			if *update {
				writeTRLGolden(t, name, full)
			}
			if res, ok := resp.Results[name][kw.Name]; ok {
				var want []trlPrepared
				if err := json.Unmarshal(res["none"], &want); err != nil {
					t.Fatal(err)
				}
				got := runOurs(t, req.Tokenizers[name], kw.file, "--max-length", "0", "--chat-template-kwargs", kwargsJSON)
				for i, id := range kw.ids {
					w, gp := want[i], got[id]
					if !slices.Equal(gp.Prompt, w.Prompt) || !slices.Equal(gp.Chosen, w.Chosen) || !slices.Equal(gp.Rejected, w.Rejected) {
						t.Errorf("%s with %s:\n got prompt %v\n   chosen %v\n   rejected %v\nTRL prompt %v\n   chosen %v\n   rejected %v", id, kwargsJSON, gp.Prompt, gp.Chosen, gp.Rejected, w.Prompt, w.Chosen, w.Rejected)
					}
				}
			}
			for _, tr := range req.Truncations {
				got := runOurs(t, req.Tokenizers[name], file, "--max-length", fmt.Sprint(tr.MaxLength), "--truncation-mode", tr.Mode)
				for _, g := range used {
					var wantT []*trlCollated
					if err := json.Unmarshal(resp.Results[name][g.Name][tr.key()], &wantT); err != nil {
						t.Fatal(err)
					}
					for i, id := range g.ids {
						compareTruncated(t, tr, id, full[id], wantT[i], got)
					}
				}
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite pkg/tokenize/testdata/golden_*.jsonl from TRL's ids")

// writeTRLGolden rewrites the golden file of one tokenizer that
// TestTokenizeMatchesReference reads (no Python needed) from TRL's ids for
// the rows of pairs.jsonl, with the one deliberate difference applied (a
// doubled BOS is kept once). Conversational rows of a tokenizer without a
// chat template are errors there.
func writeTRLGolden(t *testing.T, name string, trl map[string]trlPrepared) {
	t.Helper()
	src := filepath.Join("..", "tokenize", "testdata", "pairs.jsonl")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("pairs.jsonl:%d", i)
		ourID := fmt.Sprint(i)
		if v, ok := rec["id"]; ok {
			id, ourID = fmt.Sprint(v), fmt.Sprint(v)
		}
		var row any
		if w, ok := trl[id]; ok {
			if doubledBOS(w.Prompt) {
				w.Prompt = w.Prompt[1:]
			}
			row = struct {
				ID       string  `json:"id"`
				Prompt   []int32 `json:"prompt_input_ids"`
				Chosen   []int32 `json:"chosen_input_ids"`
				Rejected []int32 `json:"rejected_input_ids"`
			}{ourID, w.Prompt, w.Chosen, w.Rejected}
		} else {
			row = map[string]string{"id": ourID, "error": "no chat template"}
		}
		j, _ := json.Marshal(row)
		out.Write(append(j, '\n'))
	}
	path := filepath.Join("..", "tokenize", "testdata", "golden_"+name+".jsonl")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

const kwargsJSON = `{"enable_thinking": false}`

// kwargsGroup copies the explicit-prompt conversational group with a
// chat_template_kwargs column (TRL's per-row template arguments).
func kwargsGroup(t *testing.T, dir string, groups []*trlDataset) *trlDataset {
	t.Helper()
	var src *trlDataset
	for _, g := range groups {
		if g.Name == "conversational" {
			src = g
		}
	}
	if src == nil {
		t.Fatal("no conversational group")
	}
	kw := &trlDataset{Name: "conversational_kwargs", file: filepath.Join(dir, "conversational_kwargs.jsonl")}
	var buf bytes.Buffer
	for i, r := range src.Rows {
		var rec map[string]any
		_ = json.Unmarshal(r, &rec)
		rec["chat_template_kwargs"] = json.RawMessage(kwargsJSON)
		b, _ := json.Marshal(rec)
		kw.Rows = append(kw.Rows, b)
		kw.ids = append(kw.ids, src.ids[i]+"-kw")
		delete(rec, "chat_template_kwargs")
		rec["id"] = src.ids[i] + "-kw"
		b, _ = json.Marshal(rec)
		buf.Write(append(b, '\n'))
	}
	if err := os.WriteFile(kw.file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return kw
}

// doubledBOS reports whether ids start with the same BOS-like token twice
// (only the rows that start with the tokenizer's BOS text do).
func doubledBOS(ids []int32) bool { return len(ids) >= 2 && ids[0] == ids[1] && ids[0] <= 2 }

func compareTruncated(t *testing.T, tr trlTruncation, id string, full trlPrepared, w *trlCollated, got map[string]goldenPair) {
	t.Helper()
	gp, ok := got[id]
	if doubledBOS(full.Prompt) {
		return // shown above; truncation then differs by the one token
	}
	where := fmt.Sprintf("%s (%s)", id, tr.key())
	if w == nil { // TRL dropped it: keep_start, the prompt fills max_length
		if ok {
			t.Errorf("%s: TRL drops it (prompt of %d tokens fills max_length), dpo-tokenize kept it", where, len(full.Prompt))
		}
		return
	}
	if tr.Mode == tokenize.KeepStart {
		if !ok {
			t.Errorf("%s: dropped by dpo-tokenize, kept by TRL", where)
			return
		}
		if !slices.Equal(w.ChosenPrompt, w.RejectedPrompt) || !slices.Equal(gp.Prompt, w.ChosenPrompt) || !slices.Equal(gp.Chosen, w.Chosen) || !slices.Equal(gp.Rejected, w.Rejected) {
			t.Errorf("%s:\n got prompt %v chosen %v rejected %v\nTRL prompts %v / %v chosen %v rejected %v", where, gp.Prompt, gp.Chosen, gp.Rejected, w.ChosenPrompt, w.RejectedPrompt, w.Chosen, w.Rejected)
		}
		return
	}
	// keep_end: the deliberate difference described on TestTokenizeMatchesTRL.
	if max(len(full.Chosen), len(full.Rejected)) >= tr.MaxLength {
		if ok {
			t.Errorf("%s: a completion fills max_length (TRL keeps its last %d tokens); dpo-tokenize should drop the pair", where, tr.MaxLength)
		}
		return
	}
	if !ok {
		t.Errorf("%s: dropped by dpo-tokenize, kept by TRL", where)
		return
	}
	if !slices.Equal(gp.Chosen, w.Chosen) || !slices.Equal(gp.Rejected, w.Rejected) {
		t.Errorf("%s: completions differ:\n got %v / %v\nTRL %v / %v", where, gp.Chosen, gp.Rejected, w.Chosen, w.Rejected)
	}
	longP, shortP := w.ChosenPrompt, w.RejectedPrompt
	if len(full.Rejected) > len(full.Chosen) {
		longP, shortP = shortP, longP
	}
	if !slices.Equal(gp.Prompt, longP) {
		t.Errorf("%s: prompt %v, want TRL's prompt for the longer completion %v", where, gp.Prompt, longP)
	}
	if len(gp.Prompt) > len(shortP) || !slices.Equal(shortP[len(shortP)-len(gp.Prompt):], gp.Prompt) {
		t.Errorf("%s: prompt %v is not a suffix of TRL's prompt for the shorter completion %v", where, gp.Prompt, shortP)
	}
}

// runOurs runs dpo-tokenize in-process and returns its rows by id.
func runOurs(t *testing.T, tok, input string, args ...string) map[string]goldenPair {
	t.Helper()
	args = append([]string{"--tokenizer", tok, "-q", "--workers", "2"}, append(args, input)...)
	stdout, stderr, err := runTokenize(t, args...)
	if err != nil {
		if strings.Contains(err.Error(), "no pairs written") {
			return map[string]goldenPair{}
		}
		t.Fatalf("dpo-tokenize %v: %v\n%s", args, err, stderr)
	}
	rows, _ := readPairsStream(t, stdout.Bytes())
	out := map[string]goldenPair{}
	for _, r := range rows {
		out[r.ID] = r
	}
	return out
}
