package tokenizer

import "testing"

// TestTranslateOnig lists the rewrites; their meaning is checked against
// HF (Oniguruma) by the regex_* cases of TestComponentsAgainstHF.
func TestTranslateOnig(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{`a$`, `a$`, ""},
		{`\s++$`, `(?>\s+)$`, ""},
		{`[^\s]?+\p{L}+`, `(?>[^\s]?)\p{L}+`, ""},
		{`(a|b)*+c`, `(?>(a|b)*)c`, ""},
		{`\d{2,3}+`, `(?:\d{2,3})+`, ""},
		{`x{2}y{`, `x{2}y{`, ""},
		{`\h+\H`, `[0-9a-fA-F]+[^0-9a-fA-F]`, ""},
		{`\w\W`, `[\p{L}\p{M}\p{N}\p{Pc}][^\p{L}\p{M}\p{N}\p{Pc}]`, ""},
		{`[[:alpha:]\h-]`, `[\p{L}\p{M}\p{Nl}0-9a-fA-F-]`, ""},
		{`[]a]`, `[\]a]`, ""},
		{`\p{L}{1,3}`, `\p{L}{1,3}`, ""},
		{`\R`, "", "not supported"},
		{`\X`, "", "not supported"},
		{`(?~abc)`, "", "absent"},
		{`[[:^alpha:]]`, "", "negated"},
		{`[[:bogus:]]`, "", "bogus"},
		{`[[:]`, "", "unterminated"},
		{`[a`, "", "unterminated"},
		{`a\`, "", "backslash"},
	}
	for _, c := range cases {
		got, err := translateOnig(c.in)
		if c.err != "" {
			if err == nil || !contains(err.Error(), c.err) {
				t.Errorf("translateOnig(%q) error = %v, want one mentioning %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("translateOnig(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// FuzzRegexSplit: any pattern either fails to compile with an error or
// splits any text into in-bounds, ordered, non-overlapping matches.
func FuzzRegexSplit(f *testing.F) {
	for _, p := range []string{gpt2Pattern, llama3Pattern, `[[:alpha:]]+|\h`, `\s++$`, `(?i:a|b)*+`, `[]`, `{1}`} {
		f.Add(p, "Hello world 123 \n\n ſ 'S")
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		m, err := compileRegex(pattern)
		if err != nil {
			return
		}
		text = toValidUTF8(text)
		prev := 0
		for _, r := range m.matches(nil, text) {
			if r[0] < prev || r[1] < r[0] || r[1] > len(text) {
				t.Fatalf("pattern %q on %q: bad match %v after %d", pattern, text, r, prev)
			}
			prev = r[1]
		}
	})
}
