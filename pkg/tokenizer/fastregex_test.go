package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// fastRegexInputs are strings that exercise every alternative of the split
// regexes: contractions in both cases, optional prefixes, digit runs,
// punctuation followed by newlines, and every shape of whitespace run.
var fastRegexInputs = []string{
	"", "a", " ", "  ", "\n", "Hello world", "I'm don't WE'LL they've 'S 'Re 'x'", "'", "''s",
	"12345678 x1234y", "  leading and trailing  ", "tabs\tand\nnewlines\n\n\nmore\r\nwindows",
	"a \n b", "x  \n\n  y", " \t\n", "end  ", "!!!\n\nfoo", " ...\r\n", "(x)", "«quoted»",
	"日本語のテキスト。", "emoji 🤗🎉", "ÀÉ straße", "a\u00a0b\u2003c\u3000d", "\u0085x", "٣٤٥ ½ ²",
	"    def f(x):\n        return x**2\n", "$100.00 + 5%", "a's b'T c'LL", " 'll", "\t\tx",
}

func randomSplitText(r *rand.Rand) string {
	alphabet := []string{"a", "Z", "é", "ß", "日", "1", "٣", "½", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000",
		"'", "'s", "'LL", "!", ".", "-", "🤗", "\u0301", "_", "\x00"}
	var b strings.Builder
	for n := r.IntN(12); n >= 0; n-- {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// TestFastRegexMatchesRegexp2 checks the hand-written scanners against the
// backtracking regex engine on the same patterns.
func TestFastRegexMatchesRegexp2(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := slices.Clone(fastRegexInputs)
	for range 20000 {
		inputs = append(inputs, randomSplitText(r))
	}
	for _, pat := range []string{gpt2Pattern, llama3Pattern, qwen2Pattern} {
		re, err := compileRegex(pat)
		if err != nil {
			t.Fatal(err)
		}
		fast := fastMatcherFor(pat)
		for _, s := range inputs {
			want := re.matches(nil, s)
			got := fast.matches(nil, s)
			if !slices.Equal(got, want) {
				t.Fatalf("pattern %s on %q:\n got %v\nwant %v", pat[:12], s, got, want)
			}
		}
	}
}
