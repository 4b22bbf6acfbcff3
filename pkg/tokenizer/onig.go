package tokenizer

import (
	"fmt"
	"strings"
)

// HF tokenizers compiles Split/Replace regexes with Oniguruma (Ruby
// syntax); this package runs them on regexp2 (.NET syntax). translateOnig
// rewrites the constructs whose meaning differs:
//
//   - possessive quantifiers X?+ X*+ X++ become atomic groups (?>X?) ...;
//     X{n,m}+ is not possessive in Ruby syntax and becomes (?:X{n,m})+;
//   - \h and \H are hex digits (not horizontal space);
//   - \w and \W are Unicode words as Oniguruma defines them (letters,
//     marks, numbers, connector punctuation);
//   - POSIX brackets such as [[:alpha:]] inside a class;
//   - ^ and $ are line anchors (the regexp2.Multiline option, set by
//     compileRegex).
//
// Oniguruma-only constructs with no equivalent (\R, \X, \K, absent
// operators (?~...), negated POSIX brackets) are rejected.
func translateOnig(p string) (string, error) {
	var out strings.Builder
	var groups []int // output offsets of open groups
	lastAtom := -1   // output offset where the last atom starts
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch c {
		case '\\':
			if i+1 >= len(rs) {
				return "", fmt.Errorf("trailing backslash")
			}
			lastAtom = out.Len()
			e := rs[i+1]
			switch e {
			case 'h':
				out.WriteString(`[0-9a-fA-F]`)
			case 'H':
				out.WriteString(`[^0-9a-fA-F]`)
			case 'w':
				out.WriteString(`[` + onigWordClass + `]`)
			case 'W':
				out.WriteString(`[^` + onigWordClass + `]`)
			case 'R', 'X', 'K', 'O', 'y', 'Y':
				return "", fmt.Errorf("Oniguruma escape \\%c is not supported", e)
			case 'p', 'P', 'x', 'k', 'g':
				// \p{..}, \x{..}, \k<..>: copy the braces/brackets along.
				j := i + 2
				if j < len(rs) && (rs[j] == '{' || rs[j] == '<') {
					closer := '}'
					if rs[j] == '<' {
						closer = '>'
					}
					for j < len(rs) && rs[j] != closer {
						j++
					}
					if j < len(rs) {
						j++
					}
				}
				out.WriteString(string(rs[i:j]))
				i = j - 1
				continue
			default:
				out.WriteRune('\\')
				out.WriteRune(e)
			}
			i++
		case '[':
			lastAtom = out.Len()
			j, cls, err := translateClass(rs, i)
			if err != nil {
				return "", err
			}
			out.WriteString(cls)
			i = j
		case '(':
			if i+2 < len(rs) && rs[i+1] == '?' && rs[i+2] == '~' {
				return "", fmt.Errorf("Oniguruma absent operator (?~...) is not supported")
			}
			groups = append(groups, out.Len())
			out.WriteRune(c)
		case ')':
			out.WriteRune(c)
			if len(groups) > 0 {
				lastAtom = groups[len(groups)-1]
				groups = groups[:len(groups)-1]
			}
		case '*', '+', '?', '{':
			q := string(c)
			j := i
			if c == '{' {
				k := i + 1
				for k < len(rs) && (rs[k] >= '0' && rs[k] <= '9' || rs[k] == ',') {
					k++
				}
				if k >= len(rs) || rs[k] != '}' || k == i+1 {
					out.WriteRune(c) // a literal brace
					lastAtom = out.Len() - 1
					continue
				}
				q = string(rs[i : k+1])
				j = k
			}
			if lastAtom < 0 {
				out.WriteString(q)
				i = j
				continue
			}
			if j+1 < len(rs) && rs[j+1] == '+' {
				atom := out.String()[lastAtom:]
				prefix := out.String()[:lastAtom]
				out.Reset()
				out.WriteString(prefix)
				if c == '{' {
					out.WriteString("(?:" + atom + q + ")+")
				} else {
					out.WriteString("(?>" + atom + q + ")")
				}
				i = j + 1
				lastAtom = -1
				continue
			}
			out.WriteString(q)
			i = j
			lastAtom = -1
		default:
			lastAtom = out.Len()
			out.WriteRune(c)
		}
	}
	return out.String(), nil
}

// onigWordClass is the body of Oniguruma's Unicode \w.
const onigWordClass = `\p{L}\p{M}\p{N}\p{Pc}`

var posixClasses = map[string]string{
	"alpha":  `\p{L}\p{M}\p{Nl}`,
	"digit":  `\p{Nd}`,
	"alnum":  `\p{L}\p{M}\p{Nl}\p{Nd}`,
	"upper":  `\p{Lu}`,
	"lower":  `\p{Ll}`,
	"space":  `\s`,
	"punct":  `\p{P}`,
	"xdigit": `0-9a-fA-F`,
	"word":   onigWordClass,
	"cntrl":  `\p{Cc}`,
	"blank":  `\p{Zs}\t`,
}

// translateClass translates the bracket class starting at rs[i] == '['
// and returns the index of its closing ']'.
func translateClass(rs []rune, i int) (int, string, error) {
	var b strings.Builder
	b.WriteRune('[')
	j := i + 1
	if j < len(rs) && rs[j] == '^' {
		b.WriteRune('^')
		j++
	}
	if j < len(rs) && rs[j] == ']' { // a leading ']' is literal
		b.WriteString(`\]`)
		j++
	}
	for ; j < len(rs); j++ {
		c := rs[j]
		switch {
		case c == ']':
			b.WriteRune(']')
			return j, b.String(), nil
		case c == '\\' && j+1 < len(rs):
			switch rs[j+1] {
			case 'h':
				b.WriteString(`0-9a-fA-F`)
			case 'w':
				b.WriteString(onigWordClass)
			case 'H', 'W':
				return 0, "", fmt.Errorf("\\%c inside a character class is not supported", rs[j+1])
			default:
				b.WriteRune('\\')
				b.WriteRune(rs[j+1])
			}
			j++
		case c == '[' && j+1 < len(rs) && rs[j+1] == ':':
			k := j + 2
			for k+1 < len(rs) && !(rs[k] == ':' && rs[k+1] == ']') {
				k++
			}
			if k+1 >= len(rs) {
				return 0, "", fmt.Errorf("unterminated POSIX bracket")
			}
			name := string(rs[j+2 : k])
			if strings.HasPrefix(name, "^") {
				return 0, "", fmt.Errorf("negated POSIX bracket [:%s:] is not supported", name)
			}
			cls, ok := posixClasses[name]
			if !ok {
				return 0, "", fmt.Errorf("POSIX bracket [:%s:] is not supported", name)
			}
			b.WriteString(cls)
			j = k + 1
		case c == '[':
			return 0, "", fmt.Errorf("nested character classes are not supported")
		case c == '&' && j+1 < len(rs) && rs[j+1] == '&':
			return 0, "", fmt.Errorf("character class intersection && is not supported")
		default:
			b.WriteRune(c)
		}
	}
	return 0, "", fmt.Errorf("unterminated character class")
}
