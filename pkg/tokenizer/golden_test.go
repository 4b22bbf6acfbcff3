package tokenizer_test

// The golden files under testdata/golden hold what Hugging Face's Rust
// tokenizers library (tokenizers crate 0.22 through the npm bindings
// @anush008/tokenizers) produces for the ~1,400 strings of
// tools/refs/corpus.js, for five real tokenizer.json files and three
// variants derived from them (variants.json). They are not
// produced by this package, so there is no -update flag. Regenerate them from
// the repository root with
//
//	npm ci --prefix tools/refs && node tools/refs/golden.js
//
// and commit the .jsonl.gz files.
//
// For differential fuzzing against the reference, write goldens for seeded
// random strings elsewhere and point the tests at them:
//
//	node tools/refs/golden.js --random 5000 --seed 7 --out /tmp/g
//	DPO_GOLDEN_DIR=/tmp/g go test ./pkg/tokenizer -run 'TestGolden'

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

// goldenNames are the reference tokenizers with golden files, see
// internal/testrefs.Tokenizers.
var goldenNames = []string{"gpt2", "qwen3", "llama3", "gemma3", "mistral"}

// goldenLine is one line of testdata/golden/<name>.jsonl.gz.
type goldenLine struct {
	Text        string  `json:"text"`
	IDs         []int32 `json:"ids"`          // encode(text, add_special_tokens=false)
	IDsSpecial  []int32 `json:"ids_special"`  // encode(text, add_special_tokens=true)
	Decoded     string  `json:"decoded"`      // decode(ids_special, skip_special_tokens=false)
	DecodedSkip string  `json:"decoded_skip"` // decode(ids_special, skip_special_tokens=true)
}

// goldenDir is testdata/golden, or $DPO_GOLDEN_DIR.
func goldenDir() string {
	if d := os.Getenv("DPO_GOLDEN_DIR"); d != "" {
		return d
	}
	return filepath.Join("testdata", "golden")
}

// readGolden reads testdata/golden/<name>.jsonl.gz. The golden files are
// committed, so a missing one is a failure, not a skip.
func readGolden(tb testing.TB, name string) []goldenLine {
	tb.Helper()
	path := filepath.Join(goldenDir(), name+".jsonl.gz")
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("golden file: %v (regenerate with `node tools/refs/golden.js`)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var lines []goldenLine
	for n := 1; sc.Scan(); n++ {
		var g goldenLine
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			tb.Fatalf("%s line %d: %v", path, n, err)
		}
		lines = append(lines, g)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return lines
}

var (
	refMu    sync.Mutex
	refCache = map[string]*tokenizer.Tokenizer{}
)

// variant is a tokenizer.json derived from a reference one by replacing
// top-level keys (testdata/golden/variants.json, written by
// tools/refs/golden.js), reaching layouts the reference files do not use:
// Metaspace pre-tokenizer, a BOS template after ByteLevel, added tokens with
// lstrip/rstrip/single_word/normalized.
type variant struct {
	Base    string                     `json:"base"`
	Replace map[string]json.RawMessage `json:"replace"`
}

// readVariants reads testdata/golden/variants.json.
func readVariants(tb testing.TB) map[string]variant {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir(), "variants.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var vs map[string]variant
	if err := json.Unmarshal(data, &vs); err != nil {
		tb.Fatalf("variants.json: %v", err)
	}
	return vs
}

// allGoldenNames is goldenNames followed by the variants, sorted.
func allGoldenNames(tb testing.TB) []string {
	names := slices.Clone(goldenNames)
	var vs []string
	for name := range readVariants(tb) {
		vs = append(vs, name)
	}
	slices.Sort(vs)
	return append(names, vs...)
}

// refPath returns the tokenizer.json of a reference tokenizer or, for a
// variant, writes the derived file under dir and returns its path.
func refPath(tb testing.TB, name, dir string) string {
	tb.Helper()
	v, ok := readVariants(tb)[name]
	if !ok {
		return testrefs.Tokenizer(tb, name)
	}
	data, err := os.ReadFile(testrefs.Tokenizer(tb, v.Base))
	if err != nil {
		tb.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		tb.Fatalf("%s: %v", v.Base, err)
	}
	maps.Copy(doc, v.Replace)
	if data, err = json.Marshal(doc); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name+".tokenizer.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// loadRef loads a reference tokenizer or variant, skipping (or failing
// under DPO_REQUIRE_REFS=1) when the npm reference files are not installed.
// Each is loaded once per test binary (gemma3's tokenizer.json is 33 MB) and
// shared, read-only, by the tests.
func loadRef(tb testing.TB, name string) *tokenizer.Tokenizer {
	tb.Helper()
	refMu.Lock()
	defer refMu.Unlock()
	if tok, ok := refCache[name]; ok {
		return tok
	}
	dir, err := os.MkdirTemp("", "dpo-tokenizer-test")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := refPath(tb, name, dir)
	tok, err := tokenizer.Load(path)
	if err != nil {
		tb.Fatalf("Load(%s): %v", name, err)
	}
	refCache[name] = tok
	return tok
}

// quoteText quotes a text for a failure message, eliding the middle of long
// ones.
func quoteText(s string) string {
	const max = 160
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	head, tail := s[:max/2], s[len(s)-max/2:]
	for !utf8.ValidString(head) && len(head) > 0 {
		head = head[:len(head)-1]
	}
	for !utf8.ValidString(tail) && len(tail) > 0 {
		tail = tail[1:]
	}
	return fmt.Sprintf("%q...(%d bytes)...%q", head, len(s), tail)
}

// diffIDs describes where got and want first differ, with a few ids of
// context from each; "" when equal.
func diffIDs(got, want []int32) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	if i == len(got) && i == len(want) {
		return ""
	}
	window := func(ids []int32) string {
		lo, hi := max(i-3, 0), min(i+4, len(ids))
		var b strings.Builder
		if lo > 0 {
			b.WriteString("... ")
		}
		fmt.Fprint(&b, ids[lo:hi])
		if hi < len(ids) {
			b.WriteString(" ...")
		}
		return b.String()
	}
	return fmt.Sprintf("first difference at id %d (len got %d, want %d)\n\tgot  %s\n\twant %s",
		i, len(got), len(want), window(got), window(want))
}

// diffText describes where two decoded strings first differ; "" when equal.
func diffText(got, want string) string {
	if got == want {
		return ""
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	ctx := func(s string) string {
		lo, hi := max(i-12, 0), min(i+12, len(s))
		return fmt.Sprintf("%q", s[lo:hi])
	}
	return fmt.Sprintf("first difference at byte %d (len got %d, want %d)\n\tgot  ...%s...\n\twant ...%s...",
		i, len(got), len(want), ctx(got), ctx(want))
}

func TestGolden(t *testing.T) {
	for _, name := range allGoldenNames(t) {
		t.Run(name, func(t *testing.T) {
			lines := readGolden(t, name)
			tok := loadRef(t, name)
			const maxReports = 8 // per check, so one bug does not bury the others
			counts := map[string]int{}
			report := func(check string, i int, text, detail string) {
				counts[check]++
				if counts[check] <= maxReports {
					t.Errorf("%s: line %d, text %s:\n\t%s", check, i+1, quoteText(text), detail)
				}
			}
			for i, g := range lines {
				if d := diffIDs(tok.Encode(g.Text, false), g.IDs); d != "" {
					report("Encode(text, false)", i, g.Text, d)
				}
				if d := diffIDs(tok.Encode(g.Text, true), g.IDsSpecial); d != "" {
					report("Encode(text, true)", i, g.Text, d)
				}
				if d := diffText(tok.Decode(g.IDsSpecial, false), g.Decoded); d != "" {
					report("Decode(ids_special, false)", i, g.Text, fmt.Sprintf("ids %v: %s", g.IDsSpecial[:min(len(g.IDsSpecial), 12)], d))
				}
				if d := diffText(tok.Decode(g.IDsSpecial, true), g.DecodedSkip); d != "" {
					report("Decode(ids_special, true)", i, g.Text, fmt.Sprintf("ids %v: %s", g.IDsSpecial[:min(len(g.IDsSpecial), 12)], d))
				}
			}
			for _, check := range []string{"Encode(text, false)", "Encode(text, true)", "Decode(ids_special, false)", "Decode(ids_special, true)"} {
				if n := counts[check]; n > 0 {
					t.Errorf("%s: %d of %d lines differ from HF tokenizers", check, n, len(lines))
				}
			}
		})
	}
}

// TestGoldenFiles checks the golden files themselves: every tokenizer saw
// the same corpus, and the corpus is the size tools/refs/corpus.js promises.
func TestGoldenFiles(t *testing.T) {
	var first []goldenLine
	for _, name := range goldenNames {
		lines := readGolden(t, name)
		if len(lines) < 1000 {
			t.Errorf("%s: %d golden lines, want at least 1000", name, len(lines))
		}
		if first == nil {
			first = lines
			continue
		}
		if len(lines) != len(first) {
			t.Errorf("%s: %d lines, %s has %d", name, len(lines), goldenNames[0], len(first))
			continue
		}
		for i := range lines {
			if lines[i].Text != first[i].Text {
				t.Errorf("%s line %d: text %s, %s has %s", name, i+1, quoteText(lines[i].Text), goldenNames[0], quoteText(first[i].Text))
				break
			}
		}
	}
}

func TestBuiltinBytes(t *testing.T) {
	tok, err := tokenizer.Builtin("bytes")
	if err != nil {
		t.Fatalf("Builtin(bytes): %v", err)
	}
	if got := tok.VocabSize(); got != 259 {
		t.Errorf("VocabSize() = %d, want 259", got)
	}
	for tokStr, want := range map[string]int32{"<|bos|>": 256, "<|eos|>": 257, "<|pad|>": 258} {
		if id, ok := tok.TokenToID(tokStr); !ok || id != want {
			t.Errorf("TokenToID(%q) = %d, %v; want %d, true", tokStr, id, ok, want)
		}
	}
	texts := []string{"", "a", "hello world", "héllo ☃ 😀", "\x00\x01\xff\xfe", "\r\n\t", string([]byte{0x80, 0xc3}), "日本語"}
	for _, s := range texts {
		ids := tok.Encode(s, false)
		if len(ids) != len(s) {
			t.Errorf("Encode(%q, false) = %v, want one id per byte (%d)", s, ids, len(s))
		}
		for i, id := range ids {
			if i < len(s) && id != int32(s[i]) {
				t.Errorf("Encode(%q, false)[%d] = %d, want byte value %d", s, i, id, s[i])
				break
			}
		}
		if got := tok.Decode(ids, false); got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
		withSpecial := tok.Encode(s, true)
		if got := tok.Decode(withSpecial, true); got != s {
			t.Errorf("Decode(Encode(%q, true), skip=true) = %q (ids %v)", s, got, withSpecial)
		}
		if !containsRun(withSpecial, ids) {
			t.Errorf("Encode(%q, true) = %v does not contain Encode(%q, false) = %v", s, withSpecial, s, ids)
		}
		for _, id := range withSpecial {
			if id < 0 || id > 258 {
				t.Errorf("Encode(%q, true) has id %d outside 0..258", s, id)
			}
		}
	}
	ids := []int32{256, 'h', 'i', 257, 258}
	if got, want := tok.Decode(ids, false), "<|bos|>hi<|eos|><|pad|>"; got != want {
		t.Errorf("Decode(%v, false) = %q, want %q", ids, got, want)
	}
	if got, want := tok.Decode(ids, true), "hi"; got != want {
		t.Errorf("Decode(%v, true) = %q, want %q", ids, got, want)
	}
	if _, err := tokenizer.Builtin("no-such-builtin"); err == nil {
		t.Error(`Builtin("no-such-builtin") returned no error`)
	}
}

// containsRun reports whether sub occurs contiguously in s.
func containsRun(s, sub []int32) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		match := true
		for j := range sub {
			if s[i+j] != sub[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// decodeLine is one line of testdata/golden/<name>.decode.jsonl.gz: an id
// sequence no encoder would produce (random ids, runs of byte tokens that
// are partial or invalid UTF-8, encodings cut at random points).
type decodeLine struct {
	IDs         []int32 `json:"ids"`
	Decoded     string  `json:"decoded"`      // decode(ids, skip_special_tokens=false)
	DecodedSkip string  `json:"decoded_skip"` // decode(ids, skip_special_tokens=true)
}

func TestGoldenDecode(t *testing.T) {
	for _, name := range allGoldenNames(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(goldenDir(), name+".decode.jsonl.gz")
			f, err := os.Open(path)
			if err != nil {
				t.Fatalf("golden file: %v (regenerate with `node tools/refs/golden.js`)", err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			dec := json.NewDecoder(zr)
			tok := loadRef(t, name)
			bad := 0
			for n := 1; dec.More(); n++ {
				var g decodeLine
				if err := dec.Decode(&g); err != nil {
					t.Fatalf("%s line %d: %v", path, n, err)
				}
				for _, skip := range []bool{false, true} {
					want := g.Decoded
					if skip {
						want = g.DecodedSkip
					}
					if d := diffText(tok.Decode(g.IDs, skip), want); d != "" {
						if bad++; bad <= 10 {
							t.Errorf("line %d: Decode(%v, %v): %s", n, g.IDs, skip, d)
						}
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d decodes differ from HF tokenizers", bad)
			}
		})
	}
}

// TestGoldenVocab compares VocabSize with HF's get_vocab_size(with_added_tokens=True)
// (what len(tokenizer) is in transformers) and TokenToID on a sample of
// tokens, special ones included.
func TestGoldenVocab(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(goldenDir(), "vocab.json"))
	if err != nil {
		t.Fatal(err)
	}
	var facts map[string]struct {
		VocabSize int              `json:"vocab_size"`
		TokenToID map[string]int32 `json:"token_to_id"`
	}
	if err := json.Unmarshal(data, &facts); err != nil {
		t.Fatalf("vocab.json: %v", err)
	}
	for _, name := range allGoldenNames(t) {
		t.Run(name, func(t *testing.T) {
			want, ok := facts[name]
			if !ok {
				t.Fatalf("vocab.json has no %s", name)
			}
			tok := loadRef(t, name)
			if got := tok.VocabSize(); got != want.VocabSize {
				t.Errorf("VocabSize() = %d, want %d (HF get_vocab_size(True))", got, want.VocabSize)
			}
			for s, id := range want.TokenToID {
				if got, ok := tok.TokenToID(s); !ok || got != id {
					t.Errorf("TokenToID(%q) = %d, %v; want %d, true", s, got, ok, id)
				}
			}
		})
	}
}
