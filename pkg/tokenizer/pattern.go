package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// span is a byte range of a string and whether it is a pattern match.
type span struct {
	start, end int
	match      bool
}

// matcher finds non-overlapping matches of a pattern, left to right.
type matcher interface {
	// matches appends the [start, end) byte ranges of every match in s.
	matches(dst [][2]int, s string) [][2]int
}

// literalMatcher matches a fixed string.
type literalMatcher string

func (l literalMatcher) matches(dst [][2]int, s string) [][2]int {
	off := 0
	for {
		i := strings.Index(s[off:], string(l))
		if i < 0 {
			return dst
		}
		dst = append(dst, [2]int{off + i, off + i + len(l)})
		off += i + len(l)
	}
}

// charMatcher matches every single rune for which the predicate holds.
type charMatcher func(rune) bool

func (f charMatcher) matches(dst [][2]int, s string) [][2]int {
	for i, r := range s {
		if f(r) {
			dst = append(dst, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	return dst
}

// regexMatcher matches a regular expression with Oniguruma-like (backtracking,
// leftmost-first) semantics, as the Rust library does with onig.
type regexMatcher struct {
	re  *regexp2.Regexp
	src string
}

func compileRegex(expr string) (*regexMatcher, error) {
	tr, err := translateOnig(expr)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", expr, err)
	}
	re, err := regexp2.Compile(tr, regexp2.Multiline)
	if err != nil {
		return nil, fmt.Errorf("compiling regex %q: %w", expr, err)
	}
	return &regexMatcher{re: re, src: expr}, nil
}

func (m *regexMatcher) matches(dst [][2]int, s string) [][2]int {
	if s == "" {
		return dst
	}
	runes := []rune(s)
	// byteAt maps rune index to byte offset lazily while walking forward.
	ri, bi := 0, 0
	toByte := func(r int) int {
		if r < ri {
			ri, bi = 0, 0
		}
		for ri < r {
			bi += utf8.RuneLen(runes[ri])
			ri++
		}
		return bi
	}
	mt, err := m.re.FindRunesMatch(runes)
	for err == nil && mt != nil {
		st := toByte(mt.Index)
		en := toByte(mt.Index + mt.Length)
		dst = append(dst, [2]int{st, en})
		mt, err = m.re.FindNextMatch(mt)
	}
	return dst
}

// findSpans appends to dst the spans covering s: matches and the gaps
// between them, as NormalizedString's Pattern::find_matches does (an empty
// s gives a single empty non-match; empty matches are kept and later
// dropped). buf is scratch space for the matches.
func findSpans(dst []span, m matcher, s string, invert bool, buf *[][2]int) []span {
	if s == "" {
		return append(dst, span{0, 0, invert})
	}
	ms := m.matches((*buf)[:0], s)
	*buf = ms
	prev := 0
	for _, x := range ms {
		if prev != x[0] {
			dst = append(dst, span{prev, x[0], invert})
		}
		dst = append(dst, span{x[0], x[1], !invert})
		prev = x[1]
	}
	if prev != len(s) {
		dst = append(dst, span{prev, len(s), invert})
	}
	return dst
}

// splitBehavior is SplitDelimiterBehavior.
type splitBehavior int

const (
	behaviorRemoved splitBehavior = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

func parseBehavior(s string) (splitBehavior, error) {
	switch s {
	case "Removed":
		return behaviorRemoved, nil
	case "Isolated":
		return behaviorIsolated, nil
	case "MergedWithPrevious":
		return behaviorMergedWithPrevious, nil
	case "MergedWithNext":
		return behaviorMergedWithNext, nil
	case "Contiguous":
		return behaviorContiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

// applyBehavior turns find_matches spans into the [start,end) pieces kept by
// NormalizedString::split with the given behavior. Empty pieces may be
// returned; callers drop them.
func applyBehavior(out [][2]int, spans []span, b splitBehavior) [][2]int {
	out = out[:0]
	switch b {
	case behaviorIsolated:
		for _, s := range spans {
			out = append(out, [2]int{s.start, s.end})
		}
	case behaviorRemoved:
		for _, s := range spans {
			if !s.match {
				out = append(out, [2]int{s.start, s.end})
			}
		}
	case behaviorContiguous:
		prev := false
		for _, s := range spans {
			if s.match == prev && len(out) > 0 {
				out[len(out)-1][1] = s.end
			} else {
				out = append(out, [2]int{s.start, s.end})
			}
			prev = s.match
		}
	case behaviorMergedWithPrevious:
		prev := false
		for _, s := range spans {
			if s.match && !prev && len(out) > 0 {
				out[len(out)-1][1] = s.end
			} else {
				out = append(out, [2]int{s.start, s.end})
			}
			prev = s.match
		}
	case behaviorMergedWithNext:
		prev := false
		for i := len(spans) - 1; i >= 0; i-- {
			s := spans[i]
			if s.match && !prev && len(out) > 0 {
				out[len(out)-1][0] = s.start
			} else {
				out = append(out, [2]int{s.start, s.end})
			}
			prev = s.match
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// patternJSON is the {"String": ...} | {"Regex": ...} pattern of Split and
// Replace components.
type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func parsePattern(raw json.RawMessage) (matcher, error) {
	var p patternJSON
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("pattern: %w", err)
	}
	switch {
	case p.String != nil:
		if *p.String == "" {
			return noMatch{}, nil // an empty pattern never matches
		}
		return literalMatcher(*p.String), nil
	case p.Regex != nil:
		m, err := compileRegex(*p.Regex)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, fmt.Errorf("pattern %s: want {\"String\": ...} or {\"Regex\": ...}", string(raw))
}

// noMatch never matches.
type noMatch struct{}

func (noMatch) matches(dst [][2]int, _ string) [][2]int { return dst }

// requireFields reports the first of fields missing from the JSON object
// raw, as serde does for the Rust library's components without defaults.
func requireFields(raw json.RawMessage, fields ...string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for _, f := range fields {
		if _, ok := m[f]; !ok {
			return fmt.Errorf("missing field %q", f)
		}
	}
	return nil
}

// required lists, per "<kind>/<type>", the fields HF's deserializer
// requires.
var required = map[string][]string{
	"normalizer/Sequence":               {"normalizers"},
	"normalizer/Strip":                  {"strip_left", "strip_right"},
	"normalizer/Prepend":                {"prepend"},
	"normalizer/Replace":                {"pattern", "content"},
	"normalizer/BertNormalizer":         {"clean_text", "handle_chinese_chars", "strip_accents", "lowercase"},
	"pre_tokenizer/Sequence":            {"pretokenizers"},
	"pre_tokenizer/ByteLevel":           {"add_prefix_space", "trim_offsets"},
	"pre_tokenizer/Split":               {"pattern", "behavior", "invert"},
	"pre_tokenizer/Metaspace":           {"replacement"},
	"pre_tokenizer/Digits":              {"individual_digits"},
	"pre_tokenizer/CharDelimiterSplit":  {"delimiter"},
	"decoder/Sequence":                  {"decoders"},
	"decoder/ByteLevel":                 {"add_prefix_space", "trim_offsets"},
	"decoder/Metaspace":                 {"replacement"},
	"decoder/Replace":                   {"pattern", "content"},
	"decoder/Strip":                     {"content", "start", "stop"},
	"decoder/WordPiece":                 {"prefix", "cleanup"},
	"decoder/BPEDecoder":                {"suffix"},
	"post_processor/Sequence":           {"processors"},
	"post_processor/ByteLevel":          {"add_prefix_space", "trim_offsets"},
	"post_processor/TemplateProcessing": {"single", "special_tokens"},
	"post_processor/RobertaProcessing":  {"sep", "cls"},
	"post_processor/BertProcessing":     {"sep", "cls"},
}

// checkRequired applies required to a component of the given kind.
func checkRequired(kind, typ string, raw json.RawMessage) error {
	if fs, ok := required[kind+"/"+typ]; ok {
		if err := requireFields(raw, fs...); err != nil {
			return fmt.Errorf("%s %s: %w", kind, typ, err)
		}
	}
	return nil
}
