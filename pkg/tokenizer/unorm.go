package tokenizer

import (
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// cgj is U+034F COMBINING GRAPHEME JOINER, which golang.org/x/text/unicode/norm
// inserts into runs of more than 30 non-starters (the Stream-Safe Text
// Format, UAX #15). Rust's unicode-normalization crate, used by HF
// tokenizers, does not, so such inputs take exactNormalize.
const cgj = "\u034f"

type unicodeNormalizer struct {
	f       norm.Form
	compose bool
	decomp  norm.Form // per-rune full decomposition
}

func newUnicodeNormalizer(f norm.Form) unicodeNormalizer {
	u := unicodeNormalizer{f: f}
	switch f {
	case norm.NFC:
		u.compose, u.decomp = true, norm.NFD
	case norm.NFD:
		u.decomp = norm.NFD
	case norm.NFKC:
		u.compose, u.decomp = true, norm.NFKD
	case norm.NFKD:
		u.decomp = norm.NFKD
	}
	return u
}

func (u unicodeNormalizer) normalize(s string) string {
	out := u.f.String(s)
	if strings.Contains(out, cgj) && strings.Count(out, cgj) != strings.Count(s, cgj) {
		return u.exactNormalize(s)
	}
	return out
}

func ccc(r rune) uint8 {
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	return norm.NFD.Properties(buf[:n]).CCC()
}

// exactNormalize is the UAX #15 algorithm with no stream-safe limit:
// full decomposition, canonical ordering, then (for NFC/NFKC) canonical
// composition. It is slow and only used for the rare inputs where x/text
// would insert U+034F.
func (u unicodeNormalizer) exactNormalize(s string) string {
	var rs []rune
	for _, r := range s {
		rs = append(rs, []rune(u.decomp.String(string(r)))...)
	}
	// Canonical ordering: stable sort of every run of non-starters by ccc.
	for i := 0; i < len(rs); {
		if ccc(rs[i]) == 0 {
			i++
			continue
		}
		j := i
		for j < len(rs) && ccc(rs[j]) != 0 {
			j++
		}
		slices.SortStableFunc(rs[i:j], func(a, b rune) int { return int(ccc(a)) - int(ccc(b)) })
		i = j
	}
	if !u.compose {
		return string(rs)
	}
	out := make([]rune, 0, len(rs))
	starter := -1
	for _, c := range rs {
		cc := ccc(c)
		if starter >= 0 {
			last := len(out) - 1
			blocked := last != starter && ccc(out[last]) >= cc
			if !blocked {
				if p, ok := composePair(out[starter], c); ok {
					out[starter] = p
					continue
				}
			}
		}
		if cc == 0 {
			starter = len(out)
		}
		out = append(out, c)
	}
	return string(out)
}

// composePair returns the primary composite of a and b, if any.
func composePair(a, b rune) (rune, bool) {
	const sBase, lBase, vBase, tBase, lCount, vCount, tCount = 0xAC00, 0x1100, 0x1161, 0x11A7, 19, 21, 28
	if a >= lBase && a < lBase+lCount && b >= vBase && b < vBase+vCount {
		return sBase + ((a-lBase)*vCount+(b-vBase))*tCount, true
	}
	if a >= sBase && a < sBase+lCount*vCount*tCount && (a-sBase)%tCount == 0 && b > tBase && b < tBase+tCount {
		return a + (b - tBase), true
	}
	c := []rune(norm.NFC.String(string([]rune{a, b})))
	if len(c) == 1 {
		return c[0], true
	}
	return 0, false
}
