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
var overriddenFilters = map[string]bool{
	"tojson": true, "trim": true, "string": true,
	// Size-checked versions of filters that can build large values.
	"join": true, "replace": true, "indent": true, "list": true,
}

// overriddenMethods are Python str methods whose engine versions differ
// from Python. A call x.m(args) is rewritten to x|__dpo_m_m(args); in the
// engine's grammar filters and method calls are the same postfix level, so
// the rewrite keeps precedence.
var overriddenMethods = map[string]bool{
	"strip": true, "lstrip": true, "rstrip": true, "split": true, "rsplit": true,
	"startswith": true, "endswith": true, "find": true, "rfind": true,
	"replace": true, "format": true, "append": true, "insert": true, "update": true,
}

// rewriteSource lexes a newline-normalized source as jinja2 does (see
// lexTemplate) and re-emits it for the engine: every text becomes a string
// literal {{ '...' }} (so the engine's own, less faithful whitespace
// trimming finds no text to trim), tags lose their "-"/"+" markers,
// overridden filters and methods are renamed, and every {{ expr }} prints
// through outputFilter. Each emitted piece holds as many newlines as the
// source it stands for, so the engine's line numbers stay right.
func rewriteSource(source string) (string, []lexTok, error) {
	toks, err := lexTemplate(source)
	if err != nil {
		return "", nil, err
	}
	loopSets := loopAssignments(toks)
	var b strings.Builder
	b.Grow(len(source) + len(source)/2)
	for ti, t := range toks {
		pad := strings.Repeat("\n", strings.Count(source[t.start:t.end], "\n")-strings.Count(t.data, "\n"))
		switch t.kind {
		case 't':
			if t.data == "" {
				if pad != "" {
					b.WriteString("{#" + pad + "#}")
				}
				continue
			}
			b.WriteString("{{ '")
			for i := 0; i < len(t.data); i++ {
				if c := t.data[i]; c == '\\' || c == '\'' {
					b.WriteByte('\\')
				}
				b.WriteByte(t.data[i])
			}
			b.WriteString("'|" + textFunc + " " + pad + "}}")
		case '{':
			g, err := guardOps(t.data, true)
			if err != nil {
				return "", nil, fmt.Errorf("line %d: %w", t.line, err)
			}
			r := rewriteExpr(g)
			if strings.TrimSpace(t.data) != "" {
				r = "(" + r + ")|" + outputFilter + " "
			}
			b.WriteString("{{" + r + pad + "}}")
		case '%':
			kw := keyword(t.data)
			if kw == "endmacro" {
				b.WriteString("{{ " + leaveFunc + "() }}")
			}
			names := loopSets[ti]
			// jinja2 scopes assignments in a for body to one iteration; the
			// engine keeps them across iterations. Save the enclosing
			// values before the loop and restore them at the top of each
			// iteration.
			for _, n := range names {
				fmt.Fprintf(&b, "{%% set __dpo_sv%d_%s = %s %%}", ti, n, n)
			}
			g, err := guardOps(t.data, kw == "if" || kw == "elif" || kw == "set" || kw == "for")
			if err != nil {
				return "", nil, fmt.Errorf("line %d: %w", t.line, err)
			}
			b.WriteString("{%" + rewriteExpr(g) + pad + "%}")
			for _, n := range names {
				fmt.Fprintf(&b, "{%% set %s = __dpo_sv%d_%s %%}", n, ti, n)
			}
			switch kw {
			case "for": // each iteration checks for cancellation
				b.WriteString("{{ " + tickFunc + "() }}")
			case "macro": // macro calls nest at most MaxMacroDepth deep
				// and their arguments count towards the values built.
				b.WriteString("{{ " + enterFunc + "(" + strings.Join(macroParams(t.data), ", ") + ") }}")
			}
		case '#':
			b.WriteString("{#" + strings.Repeat("\n", strings.Count(source[t.start:t.end], "\n")) + "#}")
		}
	}
	return b.String(), toks, nil
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
			if s[i:j] == "range" && isCall(s, j) && !isAttr(b.String()) {
				b.WriteString(rangeFunc) // the sandbox's range (MaxRange)
			} else {
				b.WriteString(s[i:j])
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// isCall reports whether s continues at j with "(" (after blanks).
func isCall(s string, j int) bool {
	for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
		j++
	}
	return j < len(s) && s[j] == '('
}

// isAttr reports whether what was emitted so far ends with "." (an
// attribute, x.range(...), is not the global range).
func isAttr(emitted string) bool {
	t := strings.TrimRight(emitted, " \t\n\r")
	return strings.HasSuffix(t, ".")
}

// blockOpeners maps block statements to their closers.
var blockOpeners = map[string]string{
	"if": "endif", "for": "endfor", "macro": "endmacro", "call": "endcall",
	"filter": "endfilter", "generation": "endgeneration", "block": "endblock",
}

// unbalancedLine finds the line of the first block statement that is not
// closed, or of a closer without an opener, to name in compile errors the
// engine reports without a line. It returns 0 when blocks balance.
func unbalancedLine(tags []lexTok) (int, string) {
	type open struct {
		kw   string
		line int
	}
	var stack []open
	for _, t := range tags {
		if t.kind != '%' {
			continue
		}
		inner := t.data
		kw := keyword(inner)
		if kw == "set" && !strings.Contains(inner, "=") {
			stack = append(stack, open{"set", t.line})
			continue
		}
		if _, ok := blockOpeners[kw]; ok {
			stack = append(stack, open{kw, t.line})
			continue
		}
		if strings.HasPrefix(kw, "end") {
			if len(stack) == 0 || "end"+stack[len(stack)-1].kw != kw {
				return t.line, fmt.Sprintf("unexpected %q", kw)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		o := stack[len(stack)-1]
		return o.line, fmt.Sprintf("%q block is never closed", o.kw)
	}
	return 0, ""
}

// loopAssignments maps the index of each for statement to the variables
// that set statements assign directly in its body (not in nested loops,
// macros or call blocks, which scope their own).
func loopAssignments(toks []lexTok) map[int][]string {
	out := map[int][]string{}
	type frame struct {
		kw   string
		tok  int
		seen map[string]bool
	}
	var stack []frame
	for i, t := range toks {
		if t.kind != '%' {
			continue
		}
		kw := keyword(t.data)
		switch kw {
		case "for", "macro", "call", "if", "filter", "generation", "block":
			f := frame{kw: kw, tok: i}
			if kw == "for" {
				// The loop variables are not reset.
				f.seen = map[string]bool{}
				vars, _, _ := strings.Cut(strings.TrimSpace(t.data)[3:], " in ")
				for _, v := range strings.Split(vars, ",") {
					f.seen[strings.TrimSpace(v)] = true
				}
			}
			stack = append(stack, f)
		case "endfor", "endmacro", "endcall", "endif", "endfilter", "endgeneration", "endblock":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case "set":
			rest := strings.TrimSpace(strings.TrimSpace(t.data)[3:])
			target, _, hasEq := strings.Cut(rest, "=")
			if !hasEq {
				stack = append(stack, frame{kw: "set", tok: i})
			}
			// The innermost enclosing scope-making block.
			for j := len(stack) - 1; j >= 0; j-- {
				if !hasEq && j == len(stack)-1 {
					continue // the block set itself
				}
				k := stack[j].kw
				if k == "macro" || k == "call" || k == "set" {
					break
				}
				if k != "for" {
					continue
				}
				for _, n := range strings.Split(target, ",") {
					n = strings.TrimSpace(n)
					if n == "" || strings.Contains(n, ".") || !isName(n) {
						continue
					}
					if stack[j].seen == nil {
						stack[j].seen = map[string]bool{}
					}
					if !stack[j].seen[n] {
						stack[j].seen[n] = true
						out[stack[j].tok] = append(out[stack[j].tok], n)
					}
				}
				break
			}
		case "endset":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	return out
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isIdent(s[i]) || (i == 0 && s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return s != ""
}

// macroParams returns the parameter names of a macro statement.
func macroParams(stmt string) []string {
	toks := guardTokens(stmt)
	var names []string
	depth := 0
	for i, t := range toks {
		switch {
		case t.kind == 'p' && (t.text == "(" || t.text == "[" || t.text == "{"):
			depth++
		case t.kind == 'p' && (t.text == ")" || t.text == "]" || t.text == "}"):
			depth--
		case depth == 1 && t.kind == 'a' && i > 0 && toks[i-1].kind == 'p' && (toks[i-1].text == "(" || toks[i-1].text == ","):
			names = append(names, t.text)
		}
	}
	return names
}
