package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer transforms a piece of input text.
type normalizer interface {
	normalize(s string) string
}

type componentHeader struct {
	Type string `json:"type"`
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h componentHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if err := checkRequired("normalizer", h.Type, raw); err != nil {
		return nil, err
	}
	switch h.Type {
	case "Sequence":
		var c struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("normalizer Sequence: %w", err)
		}
		var seq seqNormalizer
		for i, r := range c.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, fmt.Errorf("normalizer Sequence[%d]: %w", i, err)
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "NFC":
		return newUnicodeNormalizer(norm.NFC), nil
	case "NFD":
		return newUnicodeNormalizer(norm.NFD), nil
	case "NFKC":
		return newUnicodeNormalizer(norm.NFKC), nil
	case "NFKD":
		return newUnicodeNormalizer(norm.NFKD), nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "ByteLevel":
		return byteLevelNormalizer{}, nil
	case "Strip":
		var c struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("normalizer Strip: %w", err)
		}
		return stripNormalizer{c.Left, c.Right}, nil
	case "Prepend":
		var c struct {
			Prepend string `json:"prepend"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("normalizer Prepend: %w", err)
		}
		return prependNormalizer(c.Prepend), nil
	case "Replace":
		var c struct {
			Pattern json.RawMessage `json:"pattern"`
			Content string          `json:"content"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		m, err := parsePattern(c.Pattern)
		if err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		return replaceNormalizer{m, c.Content}, nil
	case "BertNormalizer":
		c := struct {
			CleanText    bool  `json:"clean_text"`
			Chinese      bool  `json:"handle_chinese_chars"`
			StripAccents *bool `json:"strip_accents"`
			Lowercase    bool  `json:"lowercase"`
		}{CleanText: true, Chinese: true, Lowercase: true}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("normalizer BertNormalizer: %w", err)
		}
		strip := c.Lowercase
		if c.StripAccents != nil {
			strip = *c.StripAccents
		}
		return bertNormalizer{c.CleanText, c.Chinese, strip, c.Lowercase}, nil
	}
	return nil, fmt.Errorf("unsupported normalizer type %q", h.Type)
}

type seqNormalizer []normalizer

func (s seqNormalizer) normalize(x string) string {
	for _, n := range s {
		x = n.normalize(x)
	}
	return x
}

// lowercaseNormalizer lowercases rune by rune like Rust's char::to_lowercase,
// whose only multi-rune mapping is U+0130 -> "i\u0307".
type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string) string {
	return strings.Map(unicode.ToLower, strings.ReplaceAll(s, "\u0130", "i\u0307"))
}

type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, s)
}

type byteLevelNormalizer struct{}

func (byteLevelNormalizer) normalize(s string) string { return byteLevelEncode(s) }

type stripNormalizer struct{ left, right bool }

func (n stripNormalizer) normalize(s string) string {
	if n.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// prependNormalizer prepends its content to non-empty pieces.
type prependNormalizer string

func (p prependNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	return string(p) + s
}

type replaceNormalizer struct {
	m       matcher
	content string
}

func (r replaceNormalizer) normalize(s string) string { return replaceAll(r.m, s, r.content) }

// replaceAll replaces every match of m in s with content.
func replaceAll(m matcher, s, content string) string {
	if l, ok := m.(literalMatcher); ok {
		return strings.ReplaceAll(s, string(l), content)
	}
	ms := m.matches(nil, s)
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	prev := 0
	for _, x := range ms {
		b.WriteString(s[prev:x[0]])
		b.WriteString(content)
		prev = x[1]
	}
	b.WriteString(s[prev:])
	return b.String()
}

// bertNormalizer is BERT's BasicTokenizer normalization.
type bertNormalizer struct{ clean, chinese, strip, lower bool }

func (n bertNormalizer) normalize(s string) string {
	if n.clean {
		s = strings.Map(func(r rune) rune {
			if r == 0 || r == 0xFFFD || isBertControl(r) {
				return -1
			}
			if isBertWhitespace(r) {
				return ' '
			}
			return r
		}, s)
	}
	if n.chinese {
		var b strings.Builder
		for _, r := range s {
			if isChineseChar(r) {
				b.WriteByte(' ')
				b.WriteRune(r)
				b.WriteByte(' ')
			} else {
				b.WriteRune(r)
			}
		}
		s = b.String()
	}
	if n.strip {
		s = stripAccentsNormalizer{}.normalize(norm.NFD.String(s))
	}
	if n.lower {
		s = lowercaseNormalizer{}.normalize(s)
	}
	return s
}

func isBertWhitespace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r':
		return true
	}
	return unicode.Is(unicode.Zs, r)
}

func isBertControl(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) || !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C)
}

func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}
