package chat

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// lexTok is a piece of a template as jinja2's lexer splits it, with
// whitespace control (trim_blocks, lstrip_blocks, "-" and "+" markers)
// already applied to text.
type lexTok struct {
	kind       byte   // 't' text, '{' expression, '%' statement, '#' comment
	data       string // text after whitespace control, or the tag's inner source
	start, end int    // the source span the token stands for
	line       int    // line of the token's start
}

// lexTemplate splits a newline-normalized source the way jinja2's lexer
// does with trim_blocks=True and lstrip_blocks=True (jinja2/lexer.py,
// tokeniter): text before a tag loses all trailing whitespace when the tag
// opens with "-", or, for block and comment tags not opened with "+", the
// spaces between the last newline (or a line start) and the tag; "-%}",
// "-}}" and "-#}" eat all following whitespace, "%}" and "#}" one newline,
// "+%}" none. Raw blocks become text. Brackets balance inside tags.
func lexTemplate(src string) ([]lexTok, error) {
	var toks []lexTok
	pos := 0
	lineStarting := true
	line := func(p int) int { return strings.Count(src[:p], "\n") + 1 }
	lstrip := func(text string, marker byte, variable bool) string {
		switch {
		case marker == '-':
			return strings.TrimRightFunc(text, pyIsSpace)
		case marker != '+' && !variable:
			l := strings.LastIndexByte(text, '\n') + 1
			if (l > 0 || lineStarting) && l < len(text) && strings.TrimLeftFunc(text[l:], pyIsSpace) == "" {
				return text[:l]
			}
		}
		return text
	}
	for pos < len(src) {
		i := nextTagStart(src, pos)
		if i < 0 {
			toks = append(toks, lexTok{kind: 't', data: src[pos:], start: pos, end: len(src), line: line(pos)})
			break
		}
		kind := src[i+1]
		p := i + 2
		var marker byte
		if p < len(src) && (src[p] == '-' || src[p] == '+') {
			marker = src[p]
			p++
		}
		textTok := lexTok{kind: 't', data: lstrip(src[pos:i], marker, kind == '{'), start: pos, end: i, line: line(pos)}
		toks = append(toks, textTok)

		if kind == '%' {
			if rawEnd, ok := matchRawBegin(src, p); ok {
				lineStarting = src[rawEnd-1] == '\n'
				body, endStart, endMarker, after, ok := findRawEnd(src, rawEnd)
				if !ok {
					return nil, fmt.Errorf("line %d: missing end of raw directive", line(i))
				}
				toks = append(toks, lexTok{kind: 't', data: lstrip(body, endMarker, false), start: i, end: after, line: line(i)})
				_ = endStart
				lineStarting = src[after-1] == '\n'
				pos = after
				continue
			}
		}
		innerEnd, after, err := findTagEnd(src, p, kind)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line(i), err)
		}
		toks = append(toks, lexTok{kind: kind, data: src[p:innerEnd], start: i, end: after, line: line(i)})
		lineStarting = src[after-1] == '\n'
		pos = after
	}
	return toks, nil
}

// nextTagStart returns the index of the next "{{", "{%" or "{#" at or after
// pos, or -1.
func nextTagStart(src string, pos int) int {
	for {
		j := strings.IndexByte(src[pos:], '{')
		if j < 0 {
			return -1
		}
		i := pos + j
		if i+1 < len(src) && (src[i+1] == '{' || src[i+1] == '%' || src[i+1] == '#') {
			return i
		}
		pos = i + 1
	}
}

func skipSpace(src string, p int) int {
	for p < len(src) {
		r, w := decodeRune(src[p:])
		if !pyIsSpace(r) {
			break
		}
		p += w
	}
	return p
}

// matchRawBegin matches `\s*raw\s*(-%}\s*|%})` at p (after "{%" and its
// marker) and returns the end of the match.
func matchRawBegin(src string, p int) (int, bool) {
	q := skipSpace(src, p)
	if !strings.HasPrefix(src[q:], "raw") {
		return 0, false
	}
	q = skipSpace(src, q+3)
	switch {
	case strings.HasPrefix(src[q:], "-%}"):
		return skipSpace(src, q+3), true
	case strings.HasPrefix(src[q:], "%}"):
		return q + 2, true
	}
	return 0, false
}

// findRawEnd finds the first `{%[-+]?\s*endraw\s*(+%}|-%}\s*|%}\n?)` at or
// after p. It returns the raw body, the start of the endraw tag, its marker
// and the end of the match.
func findRawEnd(src string, p int) (body string, start int, marker byte, after int, ok bool) {
	for q := p; ; q++ {
		i := strings.Index(src[q:], "{%")
		if i < 0 {
			return "", 0, 0, 0, false
		}
		s := q + i
		r := s + 2
		var m byte
		if r < len(src) && (src[r] == '-' || src[r] == '+') {
			m = src[r]
			r++
		}
		r = skipSpace(src, r)
		if strings.HasPrefix(src[r:], "endraw") {
			r = skipSpace(src, r+6)
			switch {
			case strings.HasPrefix(src[r:], "+%}"):
				return src[p:s], s, m, r + 3, true
			case strings.HasPrefix(src[r:], "-%}"):
				return src[p:s], s, m, skipSpace(src, r+3), true
			case strings.HasPrefix(src[r:], "%}"):
				a := r + 2
				if a < len(src) && src[a] == '\n' {
					a++
				}
				return src[p:s], s, m, a, true
			}
		}
		q = s
	}
}

// findTagEnd scans an expression, statement or comment from p (after its
// opener and marker) to its closer. It returns the end of the inner source
// and the end of the closer including the whitespace it eats.
func findTagEnd(src string, p int, kind byte) (innerEnd, after int, err error) {
	if kind == '#' {
		for q := p; q < len(src); q++ {
			switch {
			case strings.HasPrefix(src[q:], "+#}"):
				return q, q + 3, nil
			case strings.HasPrefix(src[q:], "-#}"):
				return q, skipSpace(src, q+3), nil
			case strings.HasPrefix(src[q:], "#}"):
				a := q + 2
				if a < len(src) && src[a] == '\n' {
					a++
				}
				return q, a, nil
			}
		}
		return 0, 0, fmt.Errorf("missing end of comment tag")
	}
	closer := "}}"
	if kind == '%' {
		closer = "%}"
	}
	depth := 0
	for q := p; q < len(src); {
		c := src[q]
		if depth == 0 {
			switch {
			case kind == '%' && strings.HasPrefix(src[q:], "+%}"):
				return q, q + 3, nil
			case src[q] == '-' && strings.HasPrefix(src[q+1:], closer):
				return q, skipSpace(src, q+3), nil
			case strings.HasPrefix(src[q:], closer):
				a := q + 2
				if kind == '%' && a < len(src) && src[a] == '\n' {
					a++
				}
				return q, a, nil
			}
		}
		switch c {
		case '\'', '"':
			r := q + 1
			for r < len(src) && src[r] != c {
				if src[r] == '\\' {
					r++
				}
				r++
			}
			if r >= len(src) {
				return 0, 0, fmt.Errorf("unterminated string")
			}
			q = r + 1
			continue
		case '{', '(', '[':
			depth++
		case '}', ')', ']':
			if depth > 0 {
				depth--
			}
		}
		q++
	}
	if kind == '%' {
		return 0, 0, fmt.Errorf("unexpected end of template inside a block tag (missing %q)", closer)
	}
	return 0, 0, fmt.Errorf("unexpected end of template inside an expression (missing %q)", closer)
}

func decodeRune(s string) (rune, int) { return utf8.DecodeRuneInString(s) }
