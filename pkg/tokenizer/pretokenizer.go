package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// piece is one split of the input during encoding: either text still to be
// tokenized (id < 0) or an added token already recognised (id >= 0).
type piece struct {
	s     string
	id    int32
	first bool // starts at offset 0 of the original input (Metaspace "first")
}

// preTokenizer splits and transforms the text pieces; pieces holding a token
// are passed through.
type preTokenizer interface {
	preTokenize(sc *scratch, ps []piece) []piece
}

// splitPieces applies f to every text piece and replaces it by the pieces f
// returns as [start,end) ranges of the (possibly transformed) string;
// empty results are dropped, as PreTokenizedString::split does. The result
// lives in sc's spare piece buffer, which is swapped with ps's.
func splitPieces(sc *scratch, ps []piece, f func(s string, first bool) (string, [][2]int)) []piece {
	out := sc.spare[:0]
	for _, p := range ps {
		if p.id >= 0 {
			out = append(out, p)
			continue
		}
		s, ranges := f(p.s, p.first)
		for _, r := range ranges {
			if r[1] > r[0] {
				out = append(out, piece{s: s[r[0]:r[1]], id: -1, first: p.first && r[0] == 0})
			}
		}
	}
	sc.spare = ps[:0]
	return out
}

func whole(s string) [][2]int { return [][2]int{{0, len(s)}} }

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h componentHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if err := checkRequired("pre_tokenizer", h.Type, raw); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("pre_tokenizer %s: %w", h.Type, err) }
	switch h.Type {
	case "Sequence":
		var c struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		var seq seqPreTokenizer
		for i, r := range c.PreTokenizers {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, fmt.Errorf("pre_tokenizer Sequence[%d]: %w", i, err)
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "ByteLevel":
		c := struct {
			AddPrefixSpace bool `json:"add_prefix_space"`
			UseRegex       bool `json:"use_regex"`
		}{true, true}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		p := &byteLevelPre{addPrefixSpace: c.AddPrefixSpace}
		if c.UseRegex {
			p.re = gpt2Matcher()
		}
		return p, nil
	case "Split":
		var c struct {
			Pattern  json.RawMessage `json:"pattern"`
			Behavior string          `json:"behavior"`
			Invert   bool            `json:"invert"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		m, err := parsePattern(c.Pattern)
		if err != nil {
			return nil, wrap(err)
		}
		b, err := parseBehavior(c.Behavior)
		if err != nil {
			return nil, wrap(err)
		}
		if rm, ok := m.(*regexMatcher); ok {
			if fast := fastMatcherFor(rm.src); fast != nil {
				m = fast
			}
		}
		return &splitPre{m: m, behavior: b, invert: c.Invert}, nil
	case "Metaspace":
		m, err := parseMetaspace(raw)
		if err != nil {
			return nil, wrap(err)
		}
		return m, nil
	case "Whitespace":
		return &splitPre{m: whitespaceMatcher{}, behavior: behaviorRemoved, invert: true}, nil
	case "WhitespaceSplit":
		return &splitPre{m: charMatcher(unicode.IsSpace), behavior: behaviorRemoved}, nil
	case "Punctuation":
		c := struct {
			Behavior string `json:"behavior"`
		}{"Isolated"}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		b, err := parseBehavior(c.Behavior)
		if err != nil {
			return nil, wrap(err)
		}
		return &splitPre{m: charMatcher(isPunctuation), behavior: b}, nil
	case "Digits":
		var c struct {
			Individual bool `json:"individual_digits"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		b := behaviorContiguous
		if c.Individual {
			b = behaviorIsolated
		}
		return &splitPre{m: charMatcher(unicode.IsNumber), behavior: b}, nil
	case "CharDelimiterSplit":
		var c struct {
			Delimiter string `json:"delimiter"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		if len([]rune(c.Delimiter)) != 1 {
			return nil, wrap(fmt.Errorf("delimiter %q is not a single character", c.Delimiter))
		}
		d := []rune(c.Delimiter)[0]
		return &splitPre{m: charMatcher(func(r rune) bool { return r == d }), behavior: behaviorRemoved}, nil
	case "BertPreTokenizer":
		return seqPreTokenizer{
			&splitPre{m: charMatcher(unicode.IsSpace), behavior: behaviorRemoved},
			&splitPre{m: charMatcher(isPunctuation), behavior: behaviorIsolated},
		}, nil
	}
	return nil, fmt.Errorf("unsupported pre_tokenizer type %q", h.Type)
}

type seqPreTokenizer []preTokenizer

func (s seqPreTokenizer) preTokenize(sc *scratch, ps []piece) []piece {
	for _, p := range s {
		ps = p.preTokenize(sc, ps)
	}
	return ps
}

// splitPre is the Split pre-tokenizer (and the fixed-pattern ones built on it).
type splitPre struct {
	m        matcher
	behavior splitBehavior
	invert   bool
}

func (p *splitPre) preTokenize(sc *scratch, ps []piece) []piece {
	return splitPieces(sc, ps, func(s string, _ bool) (string, [][2]int) {
		return s, sc.split(p.m, s, p.invert, p.behavior)
	})
}

// scratch holds the buffers of one Encode call, pooled across calls.
type scratch struct {
	matches [][2]int
	spans   []span
	ranges  [][2]int
	pieces  []piece // the current pieces
	spare   []piece // the buffer splitPieces fills next
	ends    []int
}

// split returns the ranges of s kept by splitting on m with behavior b. The
// result is valid until the next call.
func (sc *scratch) split(m matcher, s string, invert bool, b splitBehavior) [][2]int {
	sc.spans = findSpans(sc.spans[:0], m, s, invert, &sc.matches)
	sc.ranges = applyBehavior(sc.ranges, sc.spans, b)
	return sc.ranges
}

// byteLevelPre is the ByteLevel pre-tokenizer: optional prefix space, the
// GPT-2 split regex, then every byte mapped to its printable rune.
type byteLevelPre struct {
	addPrefixSpace bool
	re             matcher
}

func (p *byteLevelPre) preTokenize(sc *scratch, ps []piece) []piece {
	ps = splitPieces(sc, ps, func(s string, _ bool) (string, [][2]int) {
		if p.addPrefixSpace && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		if p.re == nil {
			return s, whole(s)
		}
		return s, sc.split(p.re, s, false, behaviorIsolated)
	})
	// Map every byte of every text piece into one buffer, then slice the
	// pieces out of a single string.
	n := 0
	for _, x := range ps {
		if x.id < 0 {
			n += 2 * len(x.s)
		}
	}
	buf := make([]byte, 0, n)
	ends := sc.ends[:0]
	for _, x := range ps {
		if x.id < 0 {
			for k := 0; k < len(x.s); k++ {
				buf = append(buf, byteToCharStr[x.s[k]]...)
			}
		}
		ends = append(ends, len(buf))
	}
	sc.ends = ends
	all := string(buf)
	start := 0
	for i := range ps {
		if ps[i].id < 0 {
			ps[i].s = all[start:ends[i]]
		}
		start = ends[i]
	}
	return ps
}

// metaspace is the Metaspace pre-tokenizer and decoder.
type metaspace struct {
	replacement rune
	rep         string
	prepend     string // "always", "never", "first"
	split       bool
}

func parseMetaspace(raw json.RawMessage) (*metaspace, error) {
	var c struct {
		Replacement    *string `json:"replacement"`
		PrependScheme  *string `json:"prepend_scheme"`
		AddPrefixSpace *bool   `json:"add_prefix_space"`
		Split          *bool   `json:"split"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	m := &metaspace{replacement: '▁', prepend: "always", split: true}
	if c.Replacement != nil {
		r := []rune(*c.Replacement)
		if len(r) != 1 {
			return nil, fmt.Errorf("replacement %q is not a single character", *c.Replacement)
		}
		m.replacement = r[0]
	}
	m.rep = string(m.replacement)
	if c.PrependScheme != nil {
		switch *c.PrependScheme {
		case "always", "never", "first":
			m.prepend = *c.PrependScheme
		default:
			return nil, fmt.Errorf("unknown prepend_scheme %q", *c.PrependScheme)
		}
	}
	// The legacy add_prefix_space=false means "never"; like HF, it conflicts
	// with an explicit or defaulted "always".
	if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
		if m.prepend == "always" {
			return nil, fmt.Errorf("add_prefix_space does not match declared prepend_scheme")
		}
		m.prepend = "never"
	}
	if c.Split != nil {
		m.split = *c.Split
	}
	return m, nil
}

func (m *metaspace) preTokenize(sc *scratch, ps []piece) []piece {
	return splitPieces(sc, ps, func(s string, first bool) (string, [][2]int) {
		s = strings.ReplaceAll(s, " ", m.rep)
		switch m.prepend {
		case "always":
			if !strings.HasPrefix(s, m.rep) {
				s = m.rep + s
			}
		case "first":
			if !strings.HasPrefix(s, m.rep) && first {
				s = m.rep + s
			}
		}
		if !m.split {
			return s, whole(s)
		}
		return s, sc.split(literalMatcher(m.rep), s, false, behaviorMergedWithNext)
	})
}

// isPunctuation is the Rust library's is_punc: ASCII punctuation (which
// includes symbols such as $+<=>^`|~) or a Unicode P* character.
func isPunctuation(r rune) bool {
	if r < 0x80 {
		return (r >= '!' && r <= '/') || (r >= ':' && r <= '@') || (r >= '[' && r <= '`') || (r >= '{' && r <= '~')
	}
	return unicode.IsPunct(r)
}

// isWordChar is \w with Unicode semantics: Alphabetic, Mark, Decimal
// number, Connector punctuation, Join_Control.
func isWordChar(r rune) bool {
	if r < 0x80 {
		return r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.In(r, unicode.Nd, unicode.Nl, unicode.Pc, unicode.Other_Alphabetic, unicode.Join_Control)
}

// isOnigWord is Oniguruma's Unicode \w (used by HF's Whitespace
// pre-tokenizer regex): letters, marks, numbers, connector punctuation.
func isOnigWord(r rune) bool {
	if r < 0x80 {
		return r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.Pc)
}

// whitespaceMatcher matches \w+|[^\w\s]+ (the Whitespace pre-tokenizer's
// regex) without a regex engine.
type whitespaceMatcher struct{}

func (whitespaceMatcher) matches(dst [][2]int, s string) [][2]int {
	const none, word, other = 0, 1, 2
	start, cur := 0, none
	for i, r := range s {
		k := other
		if unicode.IsSpace(r) {
			k = none
		} else if isOnigWord(r) {
			k = word
		}
		if k != cur {
			if cur != none {
				dst = append(dst, [2]int{start, i})
			}
			start, cur = i, k
		}
	}
	if cur != none {
		dst = append(dst, [2]int{start, len(s)})
	}
	return dst
}
