package chat

import (
	"fmt"
	"strings"
)

// Prefixes of the names that rewritten templates call. Filters the engine
// does not define are looked up in the render scope, where Render puts this
// package's implementations under these names.
const (
	filterPrefix = "__dpo_f_"
	methodPrefix = "__dpo_m_"
	outputFilter = "__dpo_str"
)

// overriddenFilters are the filters whose engine versions differ from
// Python jinja2 (plus transformers' tojson) on inputs chat templates see.
var overriddenFilters = map[string]bool{"tojson": true, "trim": true, "string": true}

// overriddenMethods are Python str methods whose engine versions differ
// from Python. A call x.m(args) is rewritten to x|__dpo_m_m(args); in the
// engine's grammar filters and method calls are the same postfix level, so
// the rewrite keeps precedence.
var overriddenMethods = map[string]bool{
	"strip": true, "lstrip": true, "rstrip": true, "split": true, "rsplit": true,
	"startswith": true, "endswith": true, "find": true, "rfind": true,
}

// tag is one {{ }}, {% %} or {# #} of a template source.
type tag struct {
	kind       byte // '{' expression, '%' statement, '#' comment
	start, end int  // source[start:end] is the whole tag with delimiters
	inner      [2]int
	line       int
}

// scanTags splits source into tags the way the engine's scanner does:
// inside expressions and statements, quotes delimit strings in which
// closers do not count.
func scanTags(source string) ([]tag, error) {
	var tags []tag
	line := 1
	for i := 0; i < len(source); {
		c := source[i]
		if c != '{' || i+1 >= len(source) || (source[i+1] != '{' && source[i+1] != '%' && source[i+1] != '#') {
			if c == '\n' {
				line++
			}
			i++
			continue
		}
		t := tag{kind: source[i+1], start: i, line: line}
		closer := "}}"
		switch t.kind {
		case '%':
			closer = "%}"
		case '#':
			closer = "#}"
		}
		j := i + 2
		if j < len(source) && source[j] == '-' {
			j++
		}
		t.inner[0] = j
		found := false
		depth := 0 // brace nesting inside an expression, as jinja2's lexer balances
		for j < len(source) {
			ch := source[j]
			if t.kind == '{' {
				if ch == '{' {
					depth++
				} else if ch == '}' && depth > 0 {
					depth--
					j++
					continue
				}
			}
			if t.kind != '#' && (ch == '\'' || ch == '"') {
				j++
				for j < len(source) && source[j] != ch {
					if source[j] == '\\' && j+1 < len(source) {
						if source[j+1] == '\n' {
							line++
						}
						j++
					}
					if source[j] == '\n' {
						line++
					}
					j++
				}
				j++
				continue
			}
			if ch == '-' && j+2 < len(source) && source[j+1] == closer[0] && source[j+2] == closer[1] {
				t.inner[1], t.end, found = j, j+3, true
				break
			}
			if j+1 < len(source) && ch == closer[0] && source[j+1] == closer[1] {
				t.inner[1], t.end, found = j, j+2, true
				break
			}
			if ch == '\n' {
				line++
			}
			j++
		}
		if !found {
			return nil, fmt.Errorf("line %d: unclosed tag", t.line)
		}
		tags = append(tags, t)
		i = t.end
	}
	return tags, nil
}

// keyword returns the first word of a statement.
func keyword(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if !isIdent(s[i]) {
			return s[:i]
		}
	}
	return s
}

func isIdent(b byte) bool {
	return b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

// rewriteSource returns source with overridden filters and methods renamed
// and every {{ expr }} printed through outputFilter. Text, comments and raw
// blocks are kept byte for byte, so line numbers do not move.
func rewriteSource(source string) (string, []tag, error) {
	tags, err := scanTags(source)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	b.Grow(len(source) + len(source)/4)
	last := 0
	inRaw := false
	for _, t := range tags {
		inner := source[t.inner[0]:t.inner[1]]
		if t.kind == '%' {
			switch keyword(inner) {
			case "raw":
				inRaw = true
				continue
			case "endraw":
				inRaw = false
				continue
			}
		}
		if inRaw || t.kind == '#' {
			continue
		}
		b.WriteString(source[last:t.inner[0]])
		r := rewriteExpr(inner)
		if t.kind == '{' && strings.TrimSpace(inner) != "" {
			r = "(" + r + ")|" + outputFilter + " "
		}
		b.WriteString(r)
		last = t.inner[1]
	}
	b.WriteString(source[last:])
	return b.String(), tags, nil
}

// rewriteExpr renames, outside string literals, "|name" for overridden
// filters and ".name(" for overridden methods.
func rewriteExpr(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				j++
			}
			if j < len(s) {
				j++
			}
			b.WriteString(s[i:j])
			i = j
		case c == '|':
			j := i + 1
			for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
				j++
			}
			k := j
			for k < len(s) && isIdent(s[k]) {
				k++
			}
			if name := s[j:k]; overriddenFilters[name] {
				b.WriteString("|" + filterPrefix + name)
				i = k
				continue
			}
			b.WriteByte(c)
			i++
		case c == '.' && i+1 < len(s) && !(s[i+1] >= '0' && s[i+1] <= '9'):
			k := i + 1
			for k < len(s) && isIdent(s[k]) {
				k++
			}
			p := k
			for p < len(s) && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r') {
				p++
			}
			if name := s[i+1 : k]; overriddenMethods[name] && p < len(s) && s[p] == '(' {
				b.WriteString("|" + methodPrefix + name)
				i = k
				continue
			}
			b.WriteByte(c)
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			// A nested "}}" (a dict literal closing inside another) would
			// end the tag for the engine's scanner; jinja2 balances braces.
			b.WriteString("} ")
			i++
		case isIdent(c):
			// Copy whole identifiers and numbers so "1.5" and "x.y" in
			// names are not split mid-token.
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			b.WriteString(s[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// blockOpeners maps block statements to their closers.
var blockOpeners = map[string]string{
	"if": "endif", "for": "endfor", "macro": "endmacro", "call": "endcall",
	"filter": "endfilter", "raw": "endraw", "generation": "endgeneration", "block": "endblock",
}

// unbalancedLine finds the line of the first block statement that is not
// closed, or of a closer without an opener, to name in compile errors the
// engine reports without a line. It returns 0 when blocks balance.
func unbalancedLine(source string, tags []tag) (int, string) {
	type open struct {
		kw   string
		line int
	}
	var stack []open
	inRaw := false
	for _, t := range tags {
		if t.kind != '%' {
			continue
		}
		inner := source[t.inner[0]:t.inner[1]]
		kw := keyword(inner)
		if inRaw && kw != "endraw" {
			continue
		}
		if kw == "set" && !strings.Contains(inner, "=") {
			stack = append(stack, open{"set", t.line})
			continue
		}
		if _, ok := blockOpeners[kw]; ok {
			stack = append(stack, open{kw, t.line})
			inRaw = kw == "raw"
			continue
		}
		if strings.HasPrefix(kw, "end") {
			if len(stack) == 0 || "end"+stack[len(stack)-1].kw != kw {
				return t.line, fmt.Sprintf("unexpected %q", kw)
			}
			stack = stack[:len(stack)-1]
			inRaw = false
		}
	}
	if len(stack) > 0 {
		o := stack[len(stack)-1]
		return o.line, fmt.Sprintf("%q block is never closed", o.kw)
	}
	return 0, ""
}
