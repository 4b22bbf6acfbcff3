package tokenizer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// TestToValidUTF8 checks the replacement of invalid UTF-8 against Python's
// bytes.decode("utf-8", "replace"), which, like Rust's from_utf8_lossy,
// substitutes one U+FFFD per maximal subpart (expectations produced by
// /usr/bin/python3).
func TestToValidUTF8(t *testing.T) {
	cases := []struct{ in, want string }{
		{"\x6f\x6b", "ok"},
		{"\xff", "\ufffd"},
		{"\xc3", "\ufffd"},
		{"\x61\xc3\x28\x62", "a\ufffd(b"},
		{"\xe2\x82", "\ufffd"},
		{"\xe2\x82\x78", "\ufffdx"},
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"},
		{"\xf0\x9f\x98", "\ufffd"},
		{"\xf0\x9f\x98\x80", "\U0001f600"},
		{"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"},
		{"\xc0\xaf", "\ufffd\ufffd"},
		{"\xe0\x80\xaf", "\ufffd\ufffd\ufffd"},
		{"\xf8\x88\x80\x80\x80", "\ufffd\ufffd\ufffd\ufffd\ufffd"},
		{"\x80\x80", "\ufffd\ufffd"},
		{"\xf1\x80\x80\xe2\x82\xac", "\ufffd\u20ac"},
	}
	for _, c := range cases {
		if got := toValidUTF8(c.in); got != c.want {
			t.Errorf("toValidUTF8(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSplitBehaviors uses the examples of HF's SplitDelimiterBehavior
// documentation ("the-final--countdown" split on '-').
func TestSplitBehaviors(t *testing.T) {
	cases := []struct {
		behavior splitBehavior
		invert   bool
		want     []string
	}{
		{behaviorRemoved, false, []string{"the", "final", "countdown"}},
		{behaviorIsolated, false, []string{"the", "-", "final", "-", "-", "countdown"}},
		{behaviorMergedWithPrevious, false, []string{"the-", "final-", "-", "countdown"}},
		{behaviorMergedWithNext, false, []string{"the", "-final", "-", "-countdown"}},
		{behaviorContiguous, false, []string{"the", "-", "final", "--", "countdown"}},
		{behaviorRemoved, true, []string{"-", "-", "-"}},
	}
	const s = "the-final--countdown"
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d/invert=%v", c.behavior, c.invert), func(t *testing.T) {
			var got []string
			for _, r := range applyBehavior(nil, findSpans(nil, literalMatcher("-"), s, c.invert, new([][2]int)), c.behavior) {
				if r[1] > r[0] {
					got = append(got, s[r[0]:r[1]])
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestParseByteToken follows ByteFallback's rule: exactly "<0xHH>", parsed
// with u8::from_str_radix (which also takes a leading '+').
func TestParseByteToken(t *testing.T) {
	cases := []struct {
		tok  string
		want int
	}{
		{"<0x41>", 0x41}, {"<0x0A>", 0x0A}, {"<0xff>", 0xFF}, {"<0x+5>", 5},
		{"<0x4>", -1}, {"<0x411>", -1}, {"<0xZZ>", -1}, {"0x41", -1}, {"<1x41>", -1}, {"<0x41]", -1},
	}
	for _, c := range cases {
		b, ok := parseByteToken(c.tok)
		got := -1
		if ok {
			got = int(b)
		}
		if got != c.want {
			t.Errorf("parseByteToken(%q) = %d, want %d", c.tok, got, c.want)
		}
	}
}

// tinyJSON is a minimal BPE tokenizer.json with the given added tokens.
func tinyJSON(added string) string {
	return `{"version":"1.0","truncation":null,"padding":null,"added_tokens":[` + added + `],
	"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
	"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
	"end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,
	"vocab":{"a":0,"b":1,"ab":2,"x":3},"merges":["a b"]}}`
}

func addedJSON(id int, content string, special bool, extra string) string {
	return fmt.Sprintf(`{"id":%d,"content":%q,"single_word":false,"lstrip":%v,"rstrip":false,"normalized":%v,"special":%v}`,
		id, content, strings.Contains(extra, "lstrip"), strings.Contains(extra, "normalized"), special)
}

// TestAddedTokenIDs: HF ignores the ids written in added_tokens and numbers
// new tokens after the model vocab in file order, reusing the id of a
// content already known. Expectations recorded from HF tokenizers 0.22
// (getVocab(true), getVocabSize(true), encode("ab<A><B>x<C>a")).
func TestAddedTokenIDs(t *testing.T) {
	cases := []struct {
		name   string
		added  []string
		vocab  map[string]int32
		size   int
		encode []int32
	}{
		{"gaps", []string{addedJSON(10, "<A>", true, ""), addedJSON(20, "<B>", true, "")},
			map[string]int32{"<A>": 4, "<B>": 5}, 6, []int32{2, 4, 5, 3, 0}},
		{"same id twice", []string{addedJSON(4, "<A>", true, ""), addedJSON(4, "<B>", true, "")},
			map[string]int32{"<A>": 4, "<B>": 5}, 6, []int32{2, 4, 5, 3, 0}},
		{"content in vocab", []string{addedJSON(2, "<A>", true, ""), addedJSON(9, "x", true, ""), addedJSON(7, "<B>", true, "")},
			map[string]int32{"<A>": 4, "<B>": 5, "x": 3}, 6, []int32{2, 4, 5, 3, 0}},
		{"duplicate content", []string{addedJSON(5, "<A>", true, ""), addedJSON(6, "<A>", true, "lstrip")},
			map[string]int32{"<A>": 4}, 5, []int32{2, 4, 3, 0}},
		{"mixed flags", []string{addedJSON(4, "<A>", false, ""), addedJSON(5, "<B>", true, ""), addedJSON(6, "<C>", true, "normalized")},
			map[string]int32{"<A>": 4, "<B>": 5, "<C>": 6}, 7, []int32{2, 4, 5, 3, 6, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk, err := FromJSON([]byte(tinyJSON(strings.Join(c.added, ","))), "tiny")
			if err != nil {
				t.Fatal(err)
			}
			for tok, id := range c.vocab {
				if got, ok := tk.TokenToID(tok); !ok || got != id {
					t.Errorf("TokenToID(%q) = %d, %v; want %d", tok, got, ok, id)
				}
				if got, ok := tk.IDToToken(id); !ok || got != tok {
					t.Errorf("IDToToken(%d) = %q, %v; want %q", id, got, ok, tok)
				}
			}
			if tk.VocabSize() != c.size {
				t.Errorf("VocabSize() = %d, want %d", tk.VocabSize(), c.size)
			}
			if got := tk.Encode("ab<A><B>x<C>a", false); !slices.Equal(got, c.encode) {
				t.Errorf("Encode = %v, want %v", got, c.encode)
			}
		})
	}
}

// TestUnsupportedComponents: a component this package does not implement
// is an error naming it, never a silent guess; files HF rejects for a
// missing field are rejected too.
func TestUnsupportedComponents(t *testing.T) {
	base := tinyJSON("")
	cases := []struct {
		field, value, wantErr string
	}{
		{"normalizer", `{"type":"Precompiled","precompiled_charsmap":"AA=="}`, `"Precompiled"`},
		{"normalizer", `{"type":"Strip"}`, `strip_left`},
		{"pre_tokenizer", `{"type":"UnicodeScripts"}`, `"UnicodeScripts"`},
		{"pre_tokenizer", `{"type":"ByteLevel"}`, `add_prefix_space`},
		{"pre_tokenizer", `{"type":"Split","pattern":{"Regex":"("},"behavior":"Removed","invert":false}`, `regex`},
		{"pre_tokenizer", `{"type":"Split","pattern":{"String":"x"},"behavior":"Sideways","invert":false}`, `Sideways`},
		{"pre_tokenizer", `{"type":"Metaspace","replacement":"▁","add_prefix_space":false}`, `prepend_scheme`},
		{"decoder", `{"type":"CTC"}`, `"CTC"`},
		{"post_processor", `{"type":"Mystery"}`, `"Mystery"`},
		{"model", `{"type":"Unigram","vocab":[]}`, `"Unigram"`},
		{"model", `{"type":"WordPiece","vocab":{}}`, `"WordPiece"`},
		{"model", `{"type":"BPE","dropout":0.1,"vocab":{},"merges":[]}`, `dropout`},
		{"model", `{"type":"BPE","vocab":{"a":0},"merges":["a b"]}`, `"b"`},
		{"model", `{"type":"BPE","vocab":{"a":0},"merges":["a"]}`, `merges[0]`},
		{"model", `{"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"<unk>"}`, `<unk>`},
	}
	for _, c := range cases {
		t.Run(c.field+" "+c.value, func(t *testing.T) {
			js := strings.Replace(base, `"`+c.field+`":`, `"`+c.field+`":`+c.value+`,"old_`+c.field+`":`, 1)
			_, err := FromJSON([]byte(js), "x")
			if err == nil {
				t.Fatalf("FromJSON accepted %s = %s", c.field, c.value)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
}

func TestBuiltinBytesAPI(t *testing.T) {
	tk, err := Builtin("bytes")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Builtin("nope"); err == nil {
		t.Error(`Builtin("nope") returned no error`)
	}
	s := "h\xffé<|eos|>"
	ids := tk.Encode(s, true)
	want := []int32{'h', 0xff, 0xc3, 0xa9, '<', '|', 'e', 'o', 's', '|', '>'}
	if !slices.Equal(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
	if got := tk.Decode(ids, false); got != s {
		t.Errorf("Decode = %q, want %q", got, s)
	}
	if got := tk.Decode([]int32{256, 'a', 257, 258, 259, -1}, false); got != "<|bos|>a<|eos|><|pad|>" {
		t.Errorf("Decode with specials = %q", got)
	}
	if got := tk.Decode([]int32{256, 'a', 257}, true); got != "a" {
		t.Errorf("Decode skipping specials = %q", got)
	}
	for tok, id := range map[string]int32{"<|bos|>": 256, "<|eos|>": 257, "<|pad|>": 258, "a": 'a'} {
		if got, ok := tk.TokenToID(tok); !ok || got != id {
			t.Errorf("TokenToID(%q) = %d, %v", tok, got, ok)
		}
		if got, ok := tk.IDToToken(id); !ok || got != tok {
			t.Errorf("IDToToken(%d) = %q, %v", id, got, ok)
		}
	}
	if tk.VocabSize() != 259 || tk.Name() != "builtin:bytes" || tk.SHA256() != "builtin:bytes" {
		t.Errorf("VocabSize, Name, SHA256 = %d, %q, %q", tk.VocabSize(), tk.Name(), tk.SHA256())
	}
	if !tk.IsSpecial(257) || tk.IsSpecial(255) || tk.IsSpecial(259) {
		t.Error("IsSpecial wrong")
	}
}

// TestAccessorsOnReference checks the id/token accessors on real files
// against facts of those files (special tokens as listed in their
// added_tokens with special=true).
func TestAccessorsOnReference(t *testing.T) {
	cases := []struct {
		name      string
		vocabSize int
		special   map[string]int32
		normal    map[string]int32
	}{
		{"qwen3", 151669, map[string]int32{"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}, map[string]int32{"<think>": 151667, "Hello": 9707}},
		{"llama3", 128256, map[string]int32{"<|begin_of_text|>": 128000, "<|eot_id|>": 128009}, map[string]int32{"Hello": 9906}},
		{"mistral", 32000, map[string]int32{"<unk>": 0, "<s>": 1, "</s>": 2}, map[string]int32{"<0x0A>": 13}},
		{"gemma3", 262145, map[string]int32{"<bos>": 2, "<eos>": 1, "<pad>": 0}, map[string]int32{"<mask>": 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk, err := Load(testrefs.Tokenizer(t, c.name))
			if err != nil {
				t.Fatal(err)
			}
			if tk.VocabSize() != c.vocabSize {
				t.Errorf("VocabSize() = %d, want %d", tk.VocabSize(), c.vocabSize)
			}
			if tk.Name() != "models" || len(tk.SHA256()) != 64 {
				t.Errorf("Name, SHA256 = %q, %q", tk.Name(), tk.SHA256())
			}
			check := func(m map[string]int32, special bool) {
				for tok, id := range m {
					if got, ok := tk.TokenToID(tok); !ok || got != id {
						t.Errorf("TokenToID(%q) = %d, %v; want %d", tok, got, ok, id)
					}
					if got, ok := tk.IDToToken(id); !ok || got != tok {
						t.Errorf("IDToToken(%d) = %q, %v; want %q", id, got, ok, tok)
					}
					if tk.IsSpecial(id) != special {
						t.Errorf("IsSpecial(%d %q) = %v, want %v", id, tok, !special, special)
					}
				}
			}
			check(c.special, true)
			check(c.normal, false)
			if _, ok := tk.IDToToken(int32(c.vocabSize)); ok {
				t.Errorf("IDToToken(%d) found a token past the vocab", c.vocabSize)
			}
		})
	}
}

// TestConcurrentEncode: many goroutines share one tokenizer (and its BPE
// cache) and get the same ids as a sequential run.
func TestConcurrentEncode(t *testing.T) {
	tk, err := Load(testrefs.Tokenizer(t, "qwen3"))
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for i := range 300 {
		texts = append(texts, fmt.Sprintf("doc %d: the quick brown fox %d jumps <|im_end|> über %x", i, i*7919, i*104729))
	}
	want := make([][]int32, len(texts))
	for i, s := range texts {
		want[i] = tk.Encode(s, false)
	}
	tk2, _ := Load(testrefs.Tokenizer(t, "qwen3")) // fresh cache
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(texts))
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range texts {
				i := (k + g*37) % len(texts)
				if got := tk2.Encode(texts[i], false); !slices.Equal(got, want[i]) {
					errs <- fmt.Sprintf("goroutine %d text %d: got %v want %v", g, i, got, want[i])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestConcurrentEncodeRegex covers the regexp2 path and Metaspace under
// concurrent use (run with -race).
func TestConcurrentEncodeRegex(t *testing.T) {
	cases := []componentCase{
		{Name: "regex", Base: "gpt2", Override: map[string]json.RawMessage{"pre_tokenizer": json.RawMessage(
			`{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\s++$|[^\\s]?+\\p{L}+|\\h+"},"behavior":"MergedWithNext","invert":false},` +
				`{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":false}]}`)}},
		{Name: "metaspace", Base: "mistral", Override: map[string]json.RawMessage{"normalizer": json.RawMessage(`null`),
			"pre_tokenizer": json.RawMessage(`{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true}`)}},
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			tk, err := FromJSON(buildCase(t, c), c.Name)
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for i := range 200 {
				texts = append(texts, fmt.Sprintf("line %d\n  café %x ends  </s> with %d spaces   ", i, i*7919, i%5))
			}
			want := make([][]int32, len(texts))
			for i, s := range texts {
				want[i] = tk.Encode(s, true)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			bad := 0
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range texts {
						i := (k + g*31) % len(texts)
						if got := tk.Encode(texts[i], true); !slices.Equal(got, want[i]) {
							mu.Lock()
							bad++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			if bad > 0 {
				t.Errorf("%d concurrent encodings differ from sequential ones", bad)
			}
		})
	}
}
