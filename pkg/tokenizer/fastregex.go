package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The well-known split regexes, matched by hand-written scanners that
// reproduce the backtracking semantics of each alternative (checked against
// regexp2 in fastregex_test.go and against HF through the golden files).
const (
	// gpt2Pattern is the split regex of the ByteLevel pre-tokenizer.
	gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// llama3Pattern is Llama 3's Split regex (numbers in groups of 1-3).
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// qwen2Pattern is Qwen2/Qwen3's Split regex (single digits).
	qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

func gpt2Matcher() matcher { return fastMatcherFor(gpt2Pattern) }

// fastMatcherFor returns a hand-written matcher equivalent to one of the
// well-known split regexes, or nil.
func fastMatcherFor(pattern string) matcher {
	switch pattern {
	case gpt2Pattern:
		return gpt2Scanner{}
	case llama3Pattern:
		return llamaScanner{maxDigits: 3}
	case qwen2Pattern:
		return llamaScanner{maxDigits: 1}
	}
	return nil
}

type charClass uint8

const (
	classOther charClass = iota
	classLetter
	classNumber
	classSpace
)

var asciiClass [128]charClass

func init() {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			asciiClass[c] = classLetter
		case unicode.IsNumber(r):
			asciiClass[c] = classNumber
		case unicode.IsSpace(r):
			asciiClass[c] = classSpace
		}
	}
}

func classOf(r rune) charClass {
	if r < 128 {
		return asciiClass[r]
	}
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// at returns the rune at byte i of s, its size and class (size 0 at the end).
func at(s string, i int) (rune, int, charClass) {
	if i >= len(s) {
		return 0, 0, classOther
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1, asciiClass[c]
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return r, n, classOf(r)
}

// runOf returns the end of the run of class k starting at i.
func runOf(s string, i int, k charClass) int {
	for i < len(s) {
		_, n, c := at(s, i)
		if c != k {
			break
		}
		i += n
	}
	return i
}

// contraction returns the length of 's|'t|'re|'ve|'m|'ll|'d at s[i:] (s[i]
// is the apostrophe), or 0.
func contraction(s string, i int, fold bool) int {
	if i+1 >= len(s) {
		return 0
	}
	lower := func(c byte) byte {
		if fold && c >= 'A' && c <= 'Z' {
			return c + 32
		}
		return c
	}
	// Oniguruma's (?i) also folds U+017F LATIN SMALL LETTER LONG S to s.
	if fold && strings.HasPrefix(s[i+1:], "\u017f") {
		return 3
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && lower(s[i+2]) == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && lower(s[i+2]) == 'l' {
			return 3
		}
	}
	return 0
}

// whitespaceTail matches \s+(?!\S)|\s+ at i, where s[i] is whitespace.
func whitespaceTail(s string, i int) int {
	end := runOf(s, i, classSpace)
	if end == len(s) {
		return end
	}
	// \s+(?!\S) backtracks one char to leave the last space to the next
	// token, if the run has at least two chars.
	_, lastSize := utf8.DecodeLastRuneInString(s[:end])
	if end-lastSize > i {
		return end - lastSize
	}
	return end
}

type gpt2Scanner struct{}

func (gpt2Scanner) matches(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		e := gpt2Next(s, i)
		dst = append(dst, [2]int{i, e})
		i = e
	}
	return dst
}

func gpt2Next(s string, i int) int {
	r, n, c := at(s, i)
	if r == '\'' {
		if k := contraction(s, i, false); k > 0 {
			return i + k
		}
	}
	j, k := i, c
	if r == ' ' {
		if _, _, c2 := at(s, i+n); n > 0 && c2 != classSpace && i+n < len(s) {
			j, k = i+n, c2
		}
	}
	if k != classSpace {
		return runOf(s, j+sizeAt(s, j), k)
	}
	return whitespaceTail(s, i)
}

func sizeAt(s string, i int) int {
	_, n, _ := at(s, i)
	return n
}

type llamaScanner struct{ maxDigits int }

func (l llamaScanner) matches(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		e := l.next(s, i)
		dst = append(dst, [2]int{i, e})
		i = e
	}
	return dst
}

func isCRLF(r rune) bool { return r == '\r' || r == '\n' }

func (l llamaScanner) next(s string, i int) int {
	r, n, c := at(s, i)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' {
		if k := contraction(s, i, true); k > 0 {
			return i + k
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c == classLetter {
		return runOf(s, i, classLetter)
	}
	if c != classNumber && !isCRLF(r) {
		if _, _, c2 := at(s, i+n); i+n < len(s) && c2 == classLetter {
			return runOf(s, i+n, classLetter)
		}
	}
	// \p{N}{1,k}
	if c == classNumber {
		j := i
		for d := 0; d < l.maxDigits && j < len(s); d++ {
			_, m, cj := at(s, j)
			if cj != classNumber {
				break
			}
			j += m
		}
		return j
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	j := i
	if r == ' ' {
		if _, _, c2 := at(s, i+n); i+n < len(s) && c2 == classOther {
			j = i + n
		}
	}
	if _, m, cj := at(s, j); m > 0 && cj == classOther {
		j = runOf(s, j, classOther)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// \s*[\r\n]+ : the whitespace run up to its last \r or \n.
	end := runOf(s, i, classSpace)
	for k := end - 1; k >= i; k-- {
		if s[k] == '\r' || s[k] == '\n' {
			return k + 1
		}
	}
	// \s+(?!\S)|\s+
	return whitespaceTail(s, i)
}
