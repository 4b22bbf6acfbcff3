package chat

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// This file holds Python semantics for the values, filters and str methods
// that Compile routes away from the engine's own versions.

// pyIsSpace reports whether r is whitespace for Python's str.isspace,
// str.strip() and str.split(): bidirectional classes WS, B, S or category
// Zs. Unlike unicode.IsSpace it includes U+001C..U+001F.
func pyIsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, ' ', 0x85, 0xa0,
		0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// pyStrip implements str.strip/lstrip/rstrip; chars nil means whitespace.
func pyStrip(s string, chars *string, left, right bool) string {
	in := pyIsSpace
	if chars != nil {
		set := *chars
		in = func(r rune) bool { return strings.ContainsRune(set, r) }
	}
	if left {
		s = strings.TrimLeftFunc(s, in)
	}
	if right {
		s = strings.TrimRightFunc(s, in)
	}
	return s
}

// pySplit implements str.split (reverse false) and str.rsplit (reverse
// true). sep nil splits on runs of whitespace and drops empty strings.
func pySplit(s string, sep *string, maxsplit int, reverse bool) ([]string, error) {
	if sep != nil {
		if *sep == "" {
			return nil, fmt.Errorf("ValueError: empty separator")
		}
		if maxsplit < 0 {
			return strings.Split(s, *sep), nil
		}
		if !reverse {
			return strings.SplitN(s, *sep, maxsplit+1), nil
		}
		var parts []string
		for len(parts) < maxsplit {
			i := strings.LastIndex(s, *sep)
			if i < 0 {
				break
			}
			parts = append(parts, s[i+len(*sep):])
			s = s[:i]
		}
		parts = append(parts, s)
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		return parts, nil
	}
	// Whitespace splitting.
	var parts []string
	if !reverse {
		for {
			s = strings.TrimLeftFunc(s, pyIsSpace)
			if s == "" {
				return parts, nil
			}
			if maxsplit >= 0 && len(parts) == maxsplit {
				return append(parts, s), nil
			}
			i := strings.IndexFunc(s, pyIsSpace)
			if i < 0 {
				return append(parts, s), nil
			}
			parts = append(parts, s[:i])
			s = s[i:]
		}
	}
	for {
		s = strings.TrimRightFunc(s, pyIsSpace)
		if s == "" {
			break
		}
		if maxsplit >= 0 && len(parts) == maxsplit {
			parts = append(parts, s)
			break
		}
		i := strings.LastIndexFunc(s, pyIsSpace)
		if i < 0 {
			parts = append(parts, s)
			break
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		parts = append(parts, s[i+w:])
		s = s[:i]
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return parts, nil
}

// pyFloatRepr formats f as Python's repr(float): the shortest digits that
// round-trip, in fixed notation when the decimal exponent is in [-4, 16),
// otherwise as d.ddde+XX.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := strconv.Itoa(abs(exp))
		if len(es) < 2 {
			es = "0" + es
		}
		if exp < 0 {
			return sign + m + "e-" + es
		}
		return sign + m + "e+" + es
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// pyStr is Python's str() of a template value, as {{ }} prints it.
// Undefined prints as the empty string, as jinja2's default Undefined does.
func pyStr(v jinja.Value) string {
	switch {
	case v.IsUndefined():
		return ""
	case v.IsString():
		return v.AsString()
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of a template value.
func pyRepr(v jinja.Value) string {
	switch {
	case v.IsUndefined():
		return ""
	case v.IsNone():
		return "None"
	case v.IsBool():
		if v.AsBool() {
			return "True"
		}
		return "False"
	case v.IsInt():
		return strconv.FormatInt(v.AsInt(), 10)
	case v.IsFloat():
		return pyFloatRepr(v.AsFloat())
	case v.IsString():
		return pyStringRepr(v.AsString())
	case v.IsList():
		var b strings.Builder
		b.WriteByte('[')
		for i, it := range v.AsList().Items {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyRepr(it))
		}
		b.WriteByte(']')
		return b.String()
	case v.IsDict():
		d := v.AsDict()
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range d.Keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyStringRepr(k))
			b.WriteString(": ")
			b.WriteString(pyRepr(d.Data[k]))
		}
		b.WriteByte('}')
		return b.String()
	case v.IsCallable():
		return fmt.Sprintf("<function %s>", v.AsCallable().Name)
	}
	return ""
}

// pyStringRepr quotes s as Python's repr(str) does.
func pyStringRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case !unicode.IsPrint(r) || r == 0xad:
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// jsonOptions are json.dumps's keyword arguments as transformers' tojson
// passes them.
type jsonOptions struct {
	ensureASCII bool
	indent      *string // nil: no newlines
	itemSep     string
	keySep      string
	sortKeys    bool
	err         error // set when the output would exceed MinRenderBytes
}

// pyJSON encodes v as Python's json.dumps does.
func pyJSON(b *strings.Builder, v jinja.Value, o *jsonOptions, level int) error {
	switch {
	case v.IsNone():
		b.WriteString("null")
	case v.IsBool():
		if v.AsBool() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case v.IsInt():
		b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		f := v.AsFloat()
		switch {
		case math.IsNaN(f):
			b.WriteString("NaN")
		case math.IsInf(f, 1):
			b.WriteString("Infinity")
		case math.IsInf(f, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(pyFloatRepr(f))
		}
	case v.IsString():
		pyJSONString(b, v.AsString(), o.ensureASCII)
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			o.newline(b, level+1)
			if err := pyJSON(b, it, o, level+1); err != nil {
				return err
			}
		}
		o.newline(b, level)
		b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		if d.Len() == 0 {
			b.WriteString("{}")
			return nil
		}
		keys := d.Keys
		if o.sortKeys {
			keys = append([]string(nil), keys...)
			sort.Strings(keys)
		}
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			o.newline(b, level+1)
			pyJSONString(b, k, o.ensureASCII)
			b.WriteString(o.keySep)
			if err := pyJSON(b, d.Data[k], o, level+1); err != nil {
				return err
			}
		}
		o.newline(b, level)
		b.WriteByte('}')
	case v.IsUndefined():
		return fmt.Errorf("TypeError: Object of type Undefined is not JSON serializable")
	default:
		return fmt.Errorf("TypeError: Object of type function is not JSON serializable")
	}
	return nil
}

func (o *jsonOptions) newline(b *strings.Builder, level int) {
	if o.indent == nil || o.err != nil {
		return
	}
	if b.Len()+1+len(*o.indent)*level > MinRenderBytes {
		o.err = fmt.Errorf("tojson: the output exceeds %d bytes (indent %d)", MinRenderBytes, len(*o.indent))
		return
	}
	b.WriteByte('\n')
	for range level {
		b.WriteString(*o.indent)
	}
}

// pyJSONString writes s as a JSON string the way Python's json module
// does: with ensure_ascii=False only '"', '\\' and control characters are
// escaped; with ensure_ascii=True everything outside ' '..'~' is, using
// surrogate pairs above U+FFFF.
func pyJSONString(b *strings.Builder, s string, ensureASCII bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (ensureASCII && r == 0x7f):
				fmt.Fprintf(b, `\u%04x`, r)
			case ensureASCII && r > 0x7f:
				if r > 0xffff {
					r -= 0x10000
					fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
				} else {
					fmt.Fprintf(b, `\u%04x`, r)
				}
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// ---------------------------------------------------------------------------
// Callables installed in the render scope.

// argList binds positional and keyword arguments to parameter names, as a
// Python call does, returning Undefined for missing ones.
func argList(fn string, args []jinja.Value, kwargs map[string]jinja.Value, names ...string) ([]jinja.Value, error) {
	if len(args) > len(names) {
		return nil, fmt.Errorf("TypeError: %s() takes at most %d arguments (%d given)", fn, len(names), len(args))
	}
	out := make([]jinja.Value, len(names))
	copy(out, args)
	for i := len(args); i < len(names); i++ {
		out[i] = jinja.Undefined()
	}
	for k, v := range kwargs {
		found := false
		for i, n := range names {
			if n == k {
				if i < len(args) {
					return nil, fmt.Errorf("TypeError: %s() got multiple values for argument %q", fn, k)
				}
				out[i], found = v, true
			}
		}
		if !found {
			return nil, fmt.Errorf("TypeError: %s() got an unexpected keyword argument %q", fn, k)
		}
	}
	return out, nil
}

func absent(v jinja.Value) bool { return v.IsUndefined() || v.IsNone() }

func typeName(v jinja.Value) string {
	switch {
	case v.IsUndefined():
		return "Undefined"
	case v.IsNone():
		return "NoneType"
	case v.IsBool():
		return "bool"
	case v.IsInt():
		return "int"
	case v.IsFloat():
		return "float"
	case v.IsString():
		return "str"
	case v.IsList():
		return "list"
	case v.IsDict():
		return "dict"
	}
	return "function"
}

// optString returns a pointer to the string in v, nil when v is absent.
func optString(fn, param string, v jinja.Value) (*string, error) {
	if absent(v) {
		return nil, nil
	}
	if !v.IsString() {
		return nil, fmt.Errorf("TypeError: %s() argument %s must be str or None, not %s", fn, param, typeName(v))
	}
	s := v.AsString()
	return &s, nil
}

func optInt(fn, param string, v jinja.Value, def int) (int, error) {
	switch {
	case absent(v):
		return def, nil
	case v.IsInt():
		return int(v.AsInt()), nil
	case v.IsBool():
		if v.AsBool() {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("TypeError: %s() argument %s must be int, not %s", fn, param, typeName(v))
}

type callFn = func(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error)

// method wraps a str method: args[0] is the receiver.
func method(name string, params []string, body func(s string, a []jinja.Value) (jinja.Value, error)) callFn {
	return func(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
		if len(args) == 0 {
			return jinja.Undefined(), fmt.Errorf("%s: missing receiver", name)
		}
		recv := args[0]
		if !recv.IsString() {
			if recv.IsUndefined() {
				return jinja.Undefined(), fmt.Errorf("UndefinedError: Undefined has no attribute '%s'", name)
			}
			return jinja.Undefined(), fmt.Errorf("UndefinedError: '%s object' has no attribute '%s'", typeName(recv), name)
		}
		a, err := argList(name, args[1:], kwargs, params...)
		if err != nil {
			return jinja.Undefined(), err
		}
		return body(recv.AsString(), a)
	}
}

func stringList(parts []string) jinja.Value {
	items := make([]jinja.Value, len(parts))
	for i, p := range parts {
		items[i] = jinja.NewString(p)
	}
	return jinja.NewList(items)
}

// runeSlice returns s[start:end] in code points with Python's clamping of
// negative and out-of-range indices; end < 0 after defaulting means len.
func runeBounds(n int, start, end jinja.Value) (int, int, error) {
	lo, err := optInt("slice", "start", start, 0)
	if err != nil {
		return 0, 0, err
	}
	hi, err := optInt("slice", "end", end, n)
	if err != nil {
		return 0, 0, err
	}
	clamp := func(i int) int {
		if i < 0 {
			i += n
		}
		return min(max(i, 0), n)
	}
	return clamp(lo), clamp(hi), nil
}

func affix(name string, suffix bool) callFn {
	return method(name, []string{"prefix", "start", "end"}, func(s string, a []jinja.Value) (jinja.Value, error) {
		runes := []rune(s)
		lo, hi, err := runeBounds(len(runes), a[1], a[2])
		if err != nil {
			return jinja.Undefined(), err
		}
		sub := ""
		if lo <= hi {
			sub = string(runes[lo:hi])
		}
		var cands []jinja.Value
		switch {
		case a[0].IsString():
			cands = []jinja.Value{a[0]}
		case a[0].IsList():
			cands = a[0].AsList().Items
		default:
			return jinja.Undefined(), fmt.Errorf("TypeError: %s first arg must be str or a tuple of str, not %s", name, typeName(a[0]))
		}
		for _, c := range cands {
			if !c.IsString() {
				return jinja.Undefined(), fmt.Errorf("TypeError: tuple for %s must only contain str, not %s", name, typeName(c))
			}
			if lo > hi && !(c.AsString() == "" && lo <= len(runes)) {
				continue
			}
			if (!suffix && strings.HasPrefix(sub, c.AsString())) || (suffix && strings.HasSuffix(sub, c.AsString())) {
				return jinja.NewBool(true), nil
			}
		}
		return jinja.NewBool(false), nil
	})
}

func finder(name string, last bool) callFn {
	return method(name, []string{"sub", "start", "end"}, func(s string, a []jinja.Value) (jinja.Value, error) {
		if !a[0].IsString() {
			return jinja.Undefined(), fmt.Errorf("TypeError: must be str, not %s", typeName(a[0]))
		}
		runes := []rune(s)
		lo, hi, err := runeBounds(len(runes), a[1], a[2])
		if err != nil {
			return jinja.Undefined(), err
		}
		if lo > hi {
			return jinja.NewInt(-1), nil
		}
		sub := string(runes[lo:hi])
		var i int
		if last {
			i = strings.LastIndex(sub, a[0].AsString())
		} else {
			i = strings.Index(sub, a[0].AsString())
		}
		if i < 0 {
			return jinja.NewInt(-1), nil
		}
		return jinja.NewInt(int64(lo + utf8.RuneCountInString(sub[:i]))), nil
	})
}

func stripper(name string, left, right bool) callFn {
	return method(name, []string{"chars"}, func(s string, a []jinja.Value) (jinja.Value, error) {
		chars, err := optString(name, "chars", a[0])
		if err != nil {
			return jinja.Undefined(), err
		}
		return jinja.NewString(pyStrip(s, chars, left, right)), nil
	})
}

func splitter(name string, reverse bool) callFn {
	return method(name, []string{"sep", "maxsplit"}, func(s string, a []jinja.Value) (jinja.Value, error) {
		sep, err := optString(name, "sep", a[0])
		if err != nil {
			return jinja.Undefined(), err
		}
		n, err := optInt(name, "maxsplit", a[1], -1)
		if err != nil {
			return jinja.Undefined(), err
		}
		parts, err := pySplit(s, sep, n, reverse)
		if err != nil {
			return jinja.Undefined(), err
		}
		return stringList(parts), nil
	})
}

// filterTojson is transformers' tojson:
// json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
func filterTojson(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), fmt.Errorf("tojson: missing value")
	}
	a, err := argList("tojson", args[1:], kwargs, "ensure_ascii", "indent", "separators", "sort_keys")
	if err != nil {
		return jinja.Undefined(), err
	}
	o := jsonOptions{ensureASCII: a[0].IsTruthy(), itemSep: ", ", keySep: ": ", sortKeys: a[3].IsTruthy()}
	switch ind := a[1]; {
	case absent(ind):
	case ind.IsString():
		s := ind.AsString()
		o.indent = &s
	case ind.IsInt() || ind.IsBool():
		n, _ := optInt("tojson", "indent", ind, 0)
		if n > MinRenderBytes {
			return jinja.Undefined(), fmt.Errorf("tojson: indent %d is larger than the render limit (%d bytes)", n, MinRenderBytes)
		}
		s := strings.Repeat(" ", max(n, 0))
		o.indent = &s
	default:
		return jinja.Undefined(), fmt.Errorf("TypeError: tojson indent must be int or str, not %s", typeName(ind))
	}
	if o.indent != nil {
		o.itemSep = ","
	}
	if sep := a[2]; !absent(sep) {
		if !sep.IsList() || sep.AsList().Len() != 2 || !sep.AsList().Items[0].IsString() || !sep.AsList().Items[1].IsString() {
			return jinja.Undefined(), fmt.Errorf("tojson: separators must be a pair of strings")
		}
		o.itemSep, o.keySep = sep.AsList().Items[0].AsString(), sep.AsList().Items[1].AsString()
	}
	var b strings.Builder
	if err := pyJSON(&b, args[0], &o, 0); err != nil {
		return jinja.Undefined(), err
	}
	if o.err != nil {
		return jinja.Undefined(), o.err
	}
	return jinja.NewString(b.String()), nil
}

// filterTrim is jinja2's do_trim: str(value).strip(chars).
func filterTrim(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), fmt.Errorf("trim: missing value")
	}
	a, err := argList("trim", args[1:], kwargs, "chars")
	if err != nil {
		return jinja.Undefined(), err
	}
	chars, err := optString("trim", "chars", a[0])
	if err != nil {
		return jinja.Undefined(), err
	}
	return jinja.NewString(pyStrip(pyStr(args[0]), chars, true, true)), nil
}

// filterString is jinja2's string filter: str(value).
func filterString(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.NewString(""), nil
	}
	return jinja.NewString(pyStr(args[0])), nil
}

// TemplateError is the error a template raises through raise_exception
// (transformers raises jinja2.exceptions.TemplateError). Message is the
// argument, exactly as Python's str(e) shows it.
type TemplateError struct {
	Message string
}

func (e *TemplateError) Error() string { return e.Message }

func raiseException(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	a, err := argList("raise_exception", args, kwargs, "message")
	if err != nil {
		return jinja.Undefined(), err
	}
	return jinja.Undefined(), &TemplateError{Message: pyStr(a[0])}
}
