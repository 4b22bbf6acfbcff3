package tokenizer

import "unicode/utf8"

// toValidUTF8 returns s with every maximal invalid subsequence replaced by
// U+FFFD, as Rust's String::from_utf8_lossy (and Python's errors="replace")
// do. Valid input is returned unchanged without allocating.
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string(lossyBytes(nil, []byte(s)))
}

// lossyBytes appends b to dst, replacing invalid UTF-8 the way
// from_utf8_lossy does: one U+FFFD per maximal subpart of an ill-formed
// sequence (Unicode 3.9, "substitution of maximal subparts").
func lossyBytes(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			dst = append(dst, b[i:i+size]...)
			i += size
			continue
		}
		// Invalid: consume the longest prefix that could start a valid sequence.
		n := maximalSubpart(b[i:])
		dst = append(dst, "\uFFFD"...)
		i += n
	}
	return dst
}

// maximalSubpart returns the length (>= 1) of the maximal prefix of b that is
// a prefix of some well-formed UTF-8 sequence, b[0] being invalid or the
// sequence being truncated.
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 {
			if x < lo || x > hi {
				return n
			}
		} else if x < 0x80 || x > 0xBF {
			return n
		}
		n++
	}
	return n
}
