package tokenizer_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

// llamaDirTexts are the strings on which LlamaTokenizer (legacy or not)
// and the raw Llama 2 / Mistral v0.1 tokenizer.json disagree, or might:
// leading and repeated spaces, text right after special-token literals,
// newlines, empty strings, non-ASCII.
var llamaDirTexts = []string{
	"", " ", "  ", "   ", "\n", "\n\n", " \n", "\t", "hi", " hi", "  hi", "   hi", "hi ", "hi  ", "a  b", "a   b",
	" Hello world", "Hello  world ", "\nx", " \n x", "x\n\n y", "x \n", "\u00a0x", "\u3000x", "▁x", " ▁x", "▁▁",
	"</s>", "<s>", "<unk>", "<s>x", "<s> x", "<s>  x", "</s>x", "</s> x", "</s>  x", "a</s>b", "a</s> b", "a</s>  b",
	"a </s> b", "</s></s>", "</s> </s>", "<s></s>", "x</s>", "x </s>", "</s>\nx", "</s>\n x", "a<unk>b", "a <unk> b",
	"[INST] Hi [/INST]", "[INST]Hi[/INST] Sure.</s>", "<s>[INST] Hi [/INST] Sure.</s>", "<|im_end|>", "a<|im_end|> b",
	"a <|im_end|>b", "<|im_end|>  b", "[/INST]x", " [/INST] x", "é ü 日本", " 日本語", "😀 ok", " 😀", "Ω", "\u200bx",
	"don't  stop", "1 2  3", "x\r\ny", " \r\n ", "The answer is 42.\n\nQuestion: ", " The answer", "  The answer",
}

// llamaVariant is one model directory built around the Mistral-7B v0.1
// tokenizer.json (a Llama 2 style SentencePiece BPE file: Prepend and
// Replace normalizers, no pre-tokenizer).
type llamaVariant struct {
	name   string
	config map[string]any // tokenizer_config.json changes (nil value: delete)
	json   map[string]any // tokenizer.json top-level replacements
	added  bool           // add <|im_end|> (special) and [/INST] (normal, normalized) tokens
	model  string         // config.json model_type ("" = no config.json)
}

var llamaVariants = []llamaVariant{
	{name: "legacy"}, // the file as shipped: LlamaTokenizer, legacy true
	{name: "nonlegacy", config: map[string]any{"legacy": false, "tokenizer_class": "LlamaTokenizerFast"}},
	{name: "nolegacykey", config: map[string]any{"legacy": nil}},
	{name: "noprefix", config: map[string]any{"add_prefix_space": false}},
	{name: "eos", config: map[string]any{"add_eos_token": true, "add_bos_token": false}},
	{name: "added", added: true},
	{name: "added-nonlegacy", added: true, config: map[string]any{"legacy": false}},
	{name: "llama-model", model: "llama", config: map[string]any{"legacy": false}},
	// transformers ignores the class for a mistral model_type: the raw file.
	{name: "mistral-model", model: "mistral"},
	// A file already converted to Metaspace ("first", as transformers
	// writes legacy=false tokenizers): the class still decides.
	{name: "metaspace-legacy", json: map[string]any{"normalizer": nil, "pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}}},
	{name: "metaspace-nonlegacy", config: map[string]any{"legacy": false}, json: map[string]any{"normalizer": nil, "pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": false}}},
	// Not LlamaTokenizer: the raw file.
	{name: "backend", config: map[string]any{"tokenizer_class": "PreTrainedTokenizerFast"}},
}

func writeLlamaVariant(t *testing.T, root string, v llamaVariant) string {
	t.Helper()
	src := filepath.Dir(testrefs.Tokenizer(t, "mistral"))
	var tj, tc map[string]any
	for _, f := range []struct {
		name string
		v    *map[string]any
	}{{"tokenizer.json", &tj}, {"tokenizer_config.json", &tc}} {
		b, err := os.ReadFile(filepath.Join(src, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, f.v); err != nil {
			t.Fatal(err)
		}
	}
	for k, x := range v.config {
		if x == nil {
			delete(tc, k)
		} else {
			tc[k] = x
		}
	}
	for k, x := range v.json {
		tj[k] = x
	}
	if v.added {
		tj["added_tokens"] = append(tj["added_tokens"].([]any),
			map[string]any{"id": 32000, "content": "<|im_end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
			map[string]any{"id": 32001, "content": "[/INST]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false})
		dec := tc["added_tokens_decoder"].(map[string]any)
		dec["32000"] = map[string]any{"content": "<|im_end|>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true}
		dec["32001"] = map[string]any{"content": "[/INST]", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false, "special": false}
	}
	dir := filepath.Join(root, v.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, x any) {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tokenizer.json", tj)
	write("tokenizer_config.json", tc)
	if v.model != "" {
		write("config.json", map[string]any{"model_type": v.model})
	}
	return dir
}

// TestLoadDirMatchesTransformers compares Load(dir) with transformers 5.x's
// AutoTokenizer.from_pretrained(dir) (what TRL tokenizes with) on Llama 2
// style directories: LlamaTokenizer rebuilds the normalizer, pre-tokenizer
// and decoder of tokenizer.json from legacy and add_prefix_space.
func TestLoadDirMatchesTransformers(t *testing.T) {
	py := testrefs.Python(t, "transformers", "tokenizers")
	root := t.TempDir()
	req := struct {
		Dirs  map[string]string `json:"dirs"`
		Texts []string          `json:"texts"`
	}{Dirs: map[string]string{}}
	for _, v := range llamaVariants {
		req.Dirs[v.name] = writeLlamaVariant(t, root, v)
	}
	req.Texts = append(req.Texts, llamaDirTexts...)
	// And the reference corpus (every 3rd string, to keep it quick).
	for i, g := range readGolden(t, "mistral") {
		if i%3 == 0 {
			req.Texts = append(req.Texts, g.Text)
		}
	}
	var resp struct {
		Versions map[string]string `json:"versions"`
		Results  map[string]struct {
			Class     string       `json:"class"`
			Encodings []goldenLine `json:"encodings"`
		} `json:"results"`
	}
	testrefs.RunOracle(t, py, "hf_tokenize.py", req, &resp, "HF_HOME="+filepath.Join(root, "hf"))
	t.Logf("oracle versions %v", resp.Versions)
	for _, v := range llamaVariants {
		t.Run(v.name, func(t *testing.T) {
			res := resp.Results[v.name]
			t.Logf("transformers class %s", res.Class)
			tk, err := tokenizer.Load(req.Dirs[v.name])
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i, text := range req.Texts {
				w := res.Encodings[i]
				got, gotS := tk.Encode(text, false), tk.Encode(text, true)
				dec, decSkip := tk.Decode(gotS, false), tk.Decode(gotS, true)
				if !slices.Equal(got, w.IDs) || !slices.Equal(gotS, w.IDsSpecial) || dec != w.Decoded || decSkip != w.DecodedSkip {
					if bad++; bad <= 10 {
						t.Errorf("%q:\n got %v / %v, decoded %q / %q\nwant %v / %v, decoded %q / %q", text, got, gotS, dec, decSkip, w.IDs, w.IDsSpecial, w.Decoded, w.DecodedSkip)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d texts differ from transformers", bad, len(req.Texts))
			}
		})
	}
	// Read as a file, tokenizer.json is the Rust library's tokenizer,
	// whatever lies beside it; read as a directory, it is another one.
	file, err := tokenizer.Load(filepath.Join(req.Dirs["legacy"], "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := tokenizer.Load(req.Dirs["legacy"])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(file.Encode(" hi", false), []int32{28705, 12014}) || !slices.Equal(dir.Encode(" hi", false), []int32{12014}) {
		t.Errorf("\" hi\": file %v, dir %v; want [28705 12014] and [12014]", file.Encode(" hi", false), dir.Encode(" hi", false))
	}
	if file.SHA256() == dir.SHA256() {
		t.Errorf("file and directory tokenizers share SHA-256 %s", file.SHA256())
	}
}
