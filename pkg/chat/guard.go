package chat

import (
	"fmt"
	"strings"
)

// Names of the operand guards guardOps wraps around the operands of the
// binary operators that can build large values: "a * b" becomes
// "__dpo_l(a) * __dpo_rm(b)". The left guard remembers a; the right guard
// checks the size of the result a op b would have against the render's
// budget before the engine computes it (see limiter.install).
const (
	leftGuard = "__dpo_l"
	mulGuard  = "__dpo_rm" // "*": str * int repeats
	addGuard  = "__dpo_ra" // "+": str + x and list + list
	catGuard  = "__dpo_rc" // "~": str(a) ~ str(b)
	// keepFilter follows every call, filter and subscript in expressions
	// (not in macro and call signatures): it charges the size of the
	// value they built, so values of uncapped builtins (upper, sort, a
	// slice, ...) count towards the render's budget too.
	keepFilter = "__dpo_keep"
)

// gtok is a token of an expression as the engine's tokenizer splits it,
// with the source before it (blanks and characters the engine skips).
type gtok struct {
	pre, text string
	kind      byte // 's' string, 'n' number, 'a' name, 'o' operator, 'p' punctuation, 0 end
}

// guardTokens splits s as the engine's tokenizer (tokenizeExpr) does.
func guardTokens(s string) []gtok {
	var toks []gtok
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		start := i
		var kind byte
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '\'' || c == '"':
			i++
			for i < len(s) && s[i] != c {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				i++
			}
			if i < len(s) {
				i++
			}
			kind = 's'
		case c >= '0' && c <= '9':
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			if i+1 < len(s) && s[i] == '.' && s[i+1] >= '0' && s[i+1] <= '9' {
				i++
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
				if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
					i++
					if i < len(s) && (s[i] == '+' || s[i] == '-') {
						i++
					}
					for i < len(s) && s[i] >= '0' && s[i] <= '9' {
						i++
					}
				}
			}
			kind = 'n'
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			for i < len(s) && isIdent(s[i]) {
				i++
			}
			kind = 'a'
		case i+1 < len(s) && (s[i:i+2] == "**" || s[i:i+2] == "//" || s[i:i+2] == "==" || s[i:i+2] == "!=" || s[i:i+2] == "<=" || s[i:i+2] == ">="):
			i += 2
			kind = 'o'
		case strings.IndexByte(",.:()[]{}|", c) >= 0:
			i++
			kind = 'p'
		case strings.IndexByte("~+-*/%<>=", c) >= 0:
			i++
			kind = 'o'
		default: // the engine skips other characters
			i++
			continue
		}
		toks = append(toks, gtok{pre: s[last:start], text: s[start:i], kind: kind})
		last = i
	}
	return append(toks, gtok{pre: s[last:]})
}

// binPrec is the engine's precedence of the arithmetic binary operators
// (parseConcat < parseAddSub < parseMulDiv < parsePower); 0: not one.
func binPrec(t gtok) int {
	if t.kind != 'o' {
		return 0
	}
	switch t.text {
	case "~":
		return 1
	case "+", "-":
		return 2
	case "*", "/", "//", "%":
		return 3
	case "**":
		return 4
	}
	return 0
}

// guardKeywords are names that end an operand chain.
var guardKeywords = map[string]bool{"and": true, "or": true, "not": true, "in": true, "is": true, "if": true, "else": true}

type guarder struct {
	toks []gtok
	i    int
	keep bool // append keepFilter after calls, filters and subscripts
}

// guardOps rewrites every "*", "+" and "~" in the expression or statement
// s so that its operands pass through the size guards, keeping the
// engine's grouping (a guarded operation becomes calls, which bind tighter
// than any operator) and every other character of s.
func guardOps(s string, keep bool) (string, error) {
	if !strings.ContainsAny(s, "*+~") && (!keep || !strings.ContainsAny(s, "([|")) {
		return s, nil
	}
	g := &guarder{toks: guardTokens(s), keep: keep}
	out, err := g.seq("")
	if err != nil {
		return "", err
	}
	return out + g.toks[len(g.toks)-1].pre, nil
}

func (g *guarder) peek() gtok { return g.toks[g.i] }

// seq emits chains and the tokens between them up to closer (or the end).
func (g *guarder) seq(closer string) (string, error) {
	var b strings.Builder
	for {
		t := g.peek()
		switch {
		case t.kind == 0:
			if closer != "" {
				return "", fmt.Errorf("expression: missing %q", closer)
			}
			return b.String(), nil
		case t.kind == 'p' && t.text == closer:
			return b.String(), nil
		case g.startsOperand(t):
			s, err := g.chain(1)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case t.kind == 'p' && (t.text == ")" || t.text == "]" || t.text == "}"):
			return "", fmt.Errorf("expression: unexpected %q", t.text)
		case binPrec(t) > 0 && t.text != "-" && t.text != "+":
			return "", fmt.Errorf("expression: operator %q without a left operand", t.text)
		case t.kind == 'a' && t.text == "is":
			// A test: "is [not] name[(args)]"; the name is no operand.
			b.WriteString(t.pre + t.text)
			g.i++
			if n := g.peek(); n.kind == 'a' && n.text == "not" {
				b.WriteString(n.pre + n.text)
				g.i++
			}
			if n := g.peek(); n.kind == 'a' {
				b.WriteString(n.pre + n.text)
				g.i++
				if p := g.peek(); p.kind == 'p' && p.text == "(" {
					s, err := g.group()
					if err != nil {
						return "", err
					}
					b.WriteString(s)
				}
			}
		default:
			b.WriteString(t.pre + t.text)
			g.i++
		}
	}
}

func (g *guarder) startsOperand(t gtok) bool {
	switch t.kind {
	case 's', 'n':
		return true
	case 'a':
		return !guardKeywords[t.text]
	case 'p':
		return t.text == "(" || t.text == "[" || t.text == "{"
	case 'o':
		return t.text == "-" || t.text == "+"
	}
	return false
}

// chain emits operands joined by operators of precedence >= min, left
// associative, as the engine's recursive descent groups them.
func (g *guarder) chain(min int) (string, error) {
	left, err := g.operand()
	if err != nil {
		return "", err
	}
	for {
		op := g.peek()
		p := binPrec(op)
		if p == 0 || p < min {
			return left, nil
		}
		g.i++
		if !g.startsOperand(g.peek()) {
			return "", fmt.Errorf("expression: operator %q without a right operand", op.text)
		}
		right, err := g.chain(p + 1)
		if err != nil {
			return "", err
		}
		guard := map[string]string{"*": mulGuard, "+": addGuard, "~": catGuard}[op.text]
		if guard == "" {
			left = left + op.pre + op.text + right
		} else {
			left = " " + leftGuard + "(" + left + ")" + op.pre + op.text + " " + guard + "(" + right + ")"
		}
	}
}

// operand emits unary signs, an atom and its postfixes (attributes,
// subscripts, calls, filters).
func (g *guarder) operand() (string, error) {
	var b strings.Builder
	for t := g.peek(); t.kind == 'o' && (t.text == "-" || t.text == "+"); t = g.peek() {
		b.WriteString(t.pre + t.text)
		g.i++
	}
	t := g.peek()
	switch {
	case t.kind == 's' || t.kind == 'n' || t.kind == 'a' && !guardKeywords[t.text]:
		b.WriteString(t.pre + t.text)
		g.i++
	case t.kind == 'p' && (t.text == "(" || t.text == "[" || t.text == "{"):
		s, err := g.group()
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	default:
		return "", fmt.Errorf("expression: unexpected %q", t.text)
	}
	for {
		t := g.peek()
		switch {
		case t.kind == 'p' && t.text == ".":
			b.WriteString(t.pre + t.text)
			g.i++
			if n := g.peek(); n.kind == 'a' || n.kind == 'n' {
				b.WriteString(n.pre + n.text)
				g.i++
			}
		case t.kind == 'p' && (t.text == "(" || t.text == "["):
			s, err := g.group()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			g.kept(&b)
		case t.kind == 'p' && t.text == "|":
			b.WriteString(t.pre + t.text)
			g.i++
			if n := g.peek(); n.kind == 'a' {
				b.WriteString(n.pre + n.text)
				g.i++
				if p := g.peek(); p.kind == 'p' && p.text == "(" {
					s, err := g.group()
					if err != nil {
						return "", err
					}
					b.WriteString(s)
				}
				g.kept(&b)
			}
		default:
			return b.String(), nil
		}
	}
}

// group emits a bracketed group with its contents guarded.
func (g *guarder) group() (string, error) {
	open := g.peek()
	g.i++
	closer := map[string]string{"(": ")", "[": "]", "{": "}"}[open.text]
	inner, err := g.seq(closer)
	if err != nil {
		return "", err
	}
	c := g.peek()
	g.i++
	return open.pre + open.text + inner + c.pre + c.text, nil
}

func (g *guarder) kept(b *strings.Builder) {
	if g.keep {
		b.WriteString("|" + keepFilter)
	}
}
