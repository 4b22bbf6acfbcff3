package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// decoder is a step of the decoding chain: it maps token strings to new
// token strings (Rust's decode_chain); the final result is their
// concatenation.
type decoder interface {
	decodeChain(tokens []string) []string
}

func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h componentHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if err := checkRequired("decoder", h.Type, raw); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("decoder %s: %w", h.Type, err) }
	switch h.Type {
	case "Sequence":
		var c struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		var seq seqDecoder
		for i, r := range c.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, fmt.Errorf("decoder Sequence[%d]: %w", i, err)
			}
			if d != nil {
				seq = append(seq, d)
			}
		}
		return seq, nil
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Replace":
		var c struct {
			Pattern json.RawMessage `json:"pattern"`
			Content string          `json:"content"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		m, err := parsePattern(c.Pattern)
		if err != nil {
			return nil, wrap(err)
		}
		return replaceDecoder{m, c.Content}, nil
	case "Strip":
		var c struct {
			Content string `json:"content"`
			Start   int    `json:"start"`
			Stop    int    `json:"stop"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		r := []rune(c.Content)
		if len(r) != 1 {
			return nil, wrap(fmt.Errorf("content %q is not a single character", c.Content))
		}
		return stripDecoder{r[0], c.Start, c.Stop}, nil
	case "Metaspace":
		m, err := parseMetaspace(raw)
		if err != nil {
			return nil, wrap(err)
		}
		return m, nil
	case "WordPiece":
		c := struct {
			Prefix  string `json:"prefix"`
			Cleanup bool   `json:"cleanup"`
		}{"##", true}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		return wordPieceDecoder{c.Prefix, c.Cleanup}, nil
	case "BPEDecoder":
		c := struct {
			Suffix string `json:"suffix"`
		}{"</w>"}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		return bpeDecoder{c.Suffix}, nil
	}
	return nil, fmt.Errorf("unsupported decoder type %q", h.Type)
}

type seqDecoder []decoder

func (s seqDecoder) decodeChain(t []string) []string {
	for _, d := range s {
		t = d.decodeChain(t)
	}
	return t
}

// byteLevelDecoder maps byte-level runes back to bytes. A token holding a
// rune outside the byte map keeps its raw UTF-8 bytes.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(tokens []string) []string {
	var buf []byte
	for _, t := range tokens {
		n := len(buf)
		ok := true
		for _, r := range t {
			b, found := charToByte[r]
			if !found {
				ok = false
				break
			}
			buf = append(buf, b)
		}
		if !ok {
			buf = append(buf[:n], t...)
		}
	}
	return []string{string(lossyBytes(nil, buf))}
}

// byteFallbackDecoder turns runs of <0xXX> tokens into text; a run that is
// not valid UTF-8 becomes one U+FFFD per byte.
type byteFallbackDecoder struct{}

func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	// u8::from_str_radix accepts a leading '+'.
	v, err := strconv.ParseUint(strings.TrimPrefix(t[3:5], "+"), 16, 8)
	if err != nil || t[3:5] == "+" {
		return 0, false
	}
	return byte(v), true
}

func (byteFallbackDecoder) decodeChain(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if s := string(pending); isValidUTF8(s) {
			out = append(out, s)
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if b, ok := parseByteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

type fuseDecoder struct{}

func (fuseDecoder) decodeChain(t []string) []string { return []string{strings.Join(t, "")} }

type replaceDecoder struct {
	m       matcher
	content string
}

func (r replaceDecoder) decodeChain(t []string) []string {
	out := make([]string, len(t))
	for i, s := range t {
		out[i] = replaceAll(r.m, s, r.content)
	}
	return out
}

// stripDecoder removes up to start leading and stop trailing content runes
// from every token.
type stripDecoder struct {
	content     rune
	start, stop int
}

func (d stripDecoder) decodeChain(t []string) []string {
	out := make([]string, len(t))
	for i, s := range t {
		rs := []rune(s)
		a := 0
		for a < d.start && a < len(rs) && rs[a] == d.content {
			a++
		}
		b := len(rs)
		for k := 0; k < d.stop && b > a && rs[b-1] == d.content; k++ {
			b--
		}
		out[i] = string(rs[a:b])
	}
	return out
}

func (m *metaspace) decodeChain(t []string) []string {
	out := make([]string, len(t))
	for i, s := range t {
		var b strings.Builder
		for _, r := range s {
			if r == m.replacement {
				if i == 0 && m.prepend != "never" {
					continue
				}
				b.WriteByte(' ')
			} else {
				b.WriteRune(r)
			}
		}
		out[i] = b.String()
	}
	return out
}

type wordPieceDecoder struct {
	prefix  string
	cleanup bool
}

func (d wordPieceDecoder) decodeChain(t []string) []string {
	out := make([]string, len(t))
	for i, s := range t {
		if i != 0 {
			if strings.HasPrefix(s, d.prefix) {
				s = strings.Replace(s, d.prefix, "", 1)
			} else {
				s = " " + s
			}
		}
		if d.cleanup {
			s = cleanupSpaces(s)
		}
		out[i] = s
	}
	return out
}

// cleanupSpaces is the tokenizers decoders' cleanup of spaces before
// punctuation and contractions.
func cleanupSpaces(s string) string {
	r := strings.NewReplacer(" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'",
		" n't", "n't", " 'm", "'m", " do not", " don't", " 's", "'s", " 've", "'ve", " 're", "'re")
	return r.Replace(s)
}

type bpeDecoder struct{ suffix string }

func (d bpeDecoder) decodeChain(t []string) []string {
	out := make([]string, len(t))
	for i, s := range t {
		rep := " "
		if i == len(t)-1 {
			rep = ""
		}
		out[i] = strings.ReplaceAll(s, d.suffix, rep)
	}
	return out
}
