package chat

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

// Limits on what a template may make a render do. A chat template is a
// program a user hands us (a model repository's tokenizer_config.json), so
// rendering is sandboxed as jinja2's ImmutableSandboxedEnvironment (which
// transformers uses) is, and further: runaway templates fail with an error
// instead of exhausting memory or the stack.
const (
	// MaxRange is the largest range() jinja2's sandbox allows
	// (jinja2.sandbox.MAX_RANGE); a larger one is an OverflowError.
	MaxRange = 100_000
	// MaxMacroDepth bounds nested macro calls (a recursive macro).
	MaxMacroDepth = 200
	// MaxNesting bounds the nesting of blocks and of brackets in the source.
	MaxNesting = 200
	// MinRenderBytes is the smallest cap on a render's output; the cap is
	// this plus 8 bytes per byte of message content and extra variables.
	MinRenderBytes = 64 << 20
	// MaxSteps bounds a render's loop iterations and macro calls together
	// (a double loop over range(100000) is 1e10 of them): far above what
	// a chat template does per conversation (a few per message).
	MaxSteps = 5_000_000
	// MaxRenderTime bounds a render's wall-clock time.
	MaxRenderTime = 10 * time.Second
)

// Names of the per-render callables rewritten templates call.
const (
	rangeFunc = "__dpo_range"
	tickFunc  = "__dpo_tick"  // top of every for-loop iteration
	enterFunc = "__dpo_enter" // top of every macro body
	leaveFunc = "__dpo_leave" // end of every macro body
	textFunc  = "__dpo_txt"   // every literal text piece
)

// limiter is one render's budget.
type limiter struct {
	ctx      context.Context
	depth    int
	out      int64
	cap      int64
	alloc    int64         // bytes of values built (see charge)
	operands []jinja.Value // left operands awaiting their right guard

	name     string    // the template, as errors name it
	steps    int64     // loop iterations and macro calls so far
	maxSteps int64     // MaxSteps unless the Template sets another
	deadline time.Time // start + MaxRenderTime unless the Template sets another
}

func (l *limiter) cancelled() error {
	if err := l.ctx.Err(); err != nil {
		return fmt.Errorf("rendering cancelled: %w", err)
	}
	return nil
}

// step counts a loop iteration or macro call against the step and time
// budgets, and checks for cancellation.
func (l *limiter) step() error {
	l.steps++
	if l.steps > l.maxSteps {
		return fmt.Errorf("template %s: more than %d loop iterations and macro calls in one render (the step limit): a runaway template?", l.name, l.maxSteps)
	}
	if l.steps%256 == 0 && time.Now().After(l.deadline) {
		return fmt.Errorf("template %s: one render ran longer than the time limit, after %d loop iterations and macro calls: a runaway template?", l.name, l.steps)
	}
	return l.cancelled()
}

func (l *limiter) add(n int) error {
	l.out += int64(n)
	if l.out > l.cap {
		return fmt.Errorf("the rendered text exceeds %d bytes (the limit for this input): a runaway template?", l.cap)
	}
	return nil
}

var emptyString = jinja.NewString("")

// install puts the limiter's callables into a render's variables.
func (l *limiter) install(data map[string]jinja.Value) {
	l.installValueLimits(data)
	l.installListLimits(data)
	data[rangeFunc] = jinja.NewCallable("range", l.rangeFn)
	data[tickFunc] = jinja.NewCallable(tickFunc, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
		if err := l.step(); err != nil {
			return jinja.Undefined(), err
		}
		return emptyString, nil
	})
	data[enterFunc] = jinja.NewCallable(enterFunc, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		var n int64
		for _, a := range args {
			s, err := printSize(a, l.cap, 1)
			if err != nil {
				return jinja.Undefined(), err
			}
			n += s
		}
		if err := l.charge("a macro call's arguments", n); err != nil {
			return jinja.Undefined(), err
		}
		l.depth++
		if l.depth > MaxMacroDepth {
			return jinja.Undefined(), fmt.Errorf("RecursionError: macro calls nested deeper than %d", MaxMacroDepth)
		}
		if err := l.step(); err != nil {
			return jinja.Undefined(), err
		}
		return emptyString, nil
	})
	data[leaveFunc] = jinja.NewCallable(leaveFunc, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
		l.depth--
		return emptyString, nil
	})
	data[textFunc] = jinja.NewCallable(textFunc, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 || !args[0].IsString() {
			return jinja.Undefined(), fmt.Errorf("internal: %s wants one string", textFunc)
		}
		if err := l.add(len(args[0].AsString())); err != nil {
			return jinja.Undefined(), err
		}
		return args[0], nil
	})
	data[outputFilter] = jinja.NewCallable(outputFilter, func(args []jinja.Value, kw map[string]jinja.Value) (jinja.Value, error) {
		if len(args) > 0 && (args[0].IsList() || args[0].IsDict()) {
			// Python's repr escapes at most 4 bytes per byte.
			n, err := reprSize(args[0], l.cap, 4, 0)
			if err == nil {
				err = l.add(int(min(n, l.cap+1)))
			}
			if err != nil {
				return jinja.Undefined(), err
			}
			l.out -= min(n, l.cap+1)
		}
		v, err := filterString(args, kw)
		if err != nil {
			return v, err
		}
		if err := l.add(len(v.AsString())); err != nil {
			return jinja.Undefined(), err
		}
		if err := l.cancelled(); err != nil {
			return jinja.Undefined(), err
		}
		return v, nil
	})
}

// rangeFn is Python's range with jinja2's sandbox limit.
func (l *limiter) rangeFn(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(kwargs) > 0 {
		return jinja.Undefined(), fmt.Errorf("TypeError: range() takes no keyword arguments")
	}
	n := make([]int64, len(args))
	for i, a := range args {
		switch {
		case a.IsInt():
			n[i] = a.AsInt()
		case a.IsBool():
			if a.AsBool() {
				n[i] = 1
			}
		default:
			return jinja.Undefined(), fmt.Errorf("TypeError: '%s' object cannot be interpreted as an integer", typeName(a))
		}
	}
	var start, stop, step int64 = 0, 0, 1
	switch len(n) {
	case 1:
		stop = n[0]
	case 2:
		start, stop = n[0], n[1]
	case 3:
		start, stop, step = n[0], n[1], n[2]
	default:
		return jinja.Undefined(), fmt.Errorf("TypeError: range expected at most 3 arguments, got %d", len(n))
	}
	if step == 0 {
		return jinja.Undefined(), fmt.Errorf("ValueError: range() arg 3 must not be zero")
	}
	// The length as Python computes it, in float64 to avoid overflow.
	var count float64
	if step > 0 && stop > start {
		count = math.Ceil((float64(stop) - float64(start)) / float64(step))
	} else if step < 0 && stop < start {
		count = math.Ceil((float64(start) - float64(stop)) / -float64(step))
	}
	if count > MaxRange {
		return jinja.Undefined(), fmt.Errorf("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", MaxRange)
	}
	items := make([]jinja.Value, 0, int(count))
	for i, v := 0, start; i < int(count); i, v = i+1, v+step {
		items = append(items, jinja.NewInt(v))
	}
	return jinja.NewList(items), nil
}

// renderCap is the output cap of a render of messages with opts.
func renderCap(messages []Message, opts RenderOptions) int64 {
	var n int64
	for _, m := range messages {
		n += int64(len(m.Content) + len(m.Role))
	}
	for k, v := range opts.Extra {
		n += int64(len(k) + len(fmt.Sprint(v)))
	}
	return MinRenderBytes + 8*n
}

// checkNesting refuses sources whose blocks or brackets nest deeper than
// MaxNesting, before the engine's recursive-descent parser sees them.
func checkNesting(toks []lexTok) error {
	blocks := 0
	for _, t := range toks {
		switch t.kind {
		case '%':
			kw := keyword(t.data)
			if _, ok := blockOpeners[kw]; ok || kw == "set" && !strings.Contains(t.data, "=") {
				blocks++
				if blocks > MaxNesting {
					return fmt.Errorf("line %d: blocks nested deeper than %d", t.line, MaxNesting)
				}
			} else if strings.HasPrefix(kw, "end") && blocks > 0 {
				blocks--
			}
			fallthrough
		case '{':
			depth := 0
			var quote byte
			for i := 0; i < len(t.data); i++ {
				c := t.data[i]
				if quote != 0 {
					if c == '\\' {
						i++
					} else if c == quote {
						quote = 0
					}
					continue
				}
				switch c {
				case '\'', '"':
					quote = c
				case '(', '[', '{':
					depth++
					if depth > MaxNesting {
						return fmt.Errorf("line %d: brackets nested deeper than %d", t.line, MaxNesting)
					}
				case ')', ']', '}':
					depth--
				}
			}
		}
	}
	return nil
}

// Sizes behind the value limits. A render may build no single value
// larger than its output cap (renderCap) and may build at most
// allocFactor times that in all through the size-checked operations
// (the "*", "+" and "~" operators, join, replace, indent, format, append,
// insert, update, list, split and rsplit; values added to a list or dict
// count with what they hold), so a template cannot exhaust memory without output.
const (
	allocFactor = 16
	// valueBytes is what one list item costs (the engine's Value is 24
	// bytes; appends grow slices by up to 2x).
	valueBytes = 32
	// maxValueDepth bounds the nesting of the values a size check walks
	// (a list that contains itself is infinitely deep).
	maxValueDepth = 1000
)

// charge accounts for a value of n bytes about to be built.
func (l *limiter) charge(what string, n int64) error {
	if n > l.cap {
		return fmt.Errorf("%s would build a value of more than %d bytes (the limit for this input): a runaway template?", what, l.cap)
	}
	l.alloc += n
	if l.alloc > allocFactor*l.cap {
		return fmt.Errorf("%s: the template builds more than %d bytes of values in all (the limit for this input): a runaway template?", what, allocFactor*l.cap)
	}
	return nil
}

// printSize is the length of the engine's printValue(v) (the text "~",
// "+", join and format use), or a number above limit once it exceeds it.
// Strings inside lists and dicts count quote times their length (the
// engine quotes them as-is; Python's repr escapes up to 4 bytes per byte).
func printSize(v jinja.Value, limit int64, quote int64) (int64, error) {
	switch {
	case v.IsString():
		return int64(len(v.AsString())), nil
	case v.IsList(), v.IsDict():
		return reprSize(v, limit, quote, 0)
	case v.IsCallable():
		return int64(len(v.AsCallable().Name)) + 16, nil
	}
	return 32, nil // numbers, booleans, None, Undefined
}

func reprSize(v jinja.Value, limit, quote int64, depth int) (int64, error) {
	if depth > maxValueDepth {
		return 0, fmt.Errorf("a value nested deeper than %d (a list that contains itself?)", maxValueDepth)
	}
	switch {
	case v.IsString():
		return quote*int64(len(v.AsString())) + 2, nil
	case v.IsList():
		n := int64(2)
		for _, it := range v.AsList().Items {
			s, err := reprSize(it, limit, quote, depth+1)
			if err != nil {
				return 0, err
			}
			if n += s + 2; n > limit {
				return n, nil
			}
		}
		return n, nil
	case v.IsDict():
		d := v.AsDict()
		n := int64(2)
		for _, k := range d.Keys {
			s, err := reprSize(d.Data[k], limit, quote, depth+1)
			if err != nil {
				return 0, err
			}
			if n += quote*int64(len(k)) + 6 + s; n > limit {
				return n, nil
			}
		}
		return n, nil
	}
	return printSize(v, limit, quote)
}

// enginePrint is the engine's printValue (its str() for "~", "+", join,
// replace, indent and format).
func enginePrint(v jinja.Value) string {
	switch {
	case v.IsUndefined(), v.IsNone(), v.IsCallable():
		return ""
	case v.IsString():
		return v.AsString()
	case v.IsFloat():
		return fmt.Sprintf("%g", v.AsFloat())
	}
	return v.String()
}

// engineInt is the engine's toInt64.
func engineInt(v jinja.Value) int64 {
	switch {
	case v.IsInt():
		return v.AsInt()
	case v.IsFloat():
		return int64(v.AsFloat())
	case v.IsBool():
		if v.AsBool() {
			return 1
		}
	case v.IsString():
		var n int64
		fmt.Sscanf(v.AsString(), "%d", &n)
		return n
	}
	return 0
}

// installValueLimits puts the operand guards and the size-checked filters
// and methods into a render's variables.
func (l *limiter) installValueLimits(data map[string]jinja.Value) {
	call := func(name string, fn func(args []jinja.Value, kw map[string]jinja.Value) (jinja.Value, error)) {
		data[name] = jinja.NewCallable(name, fn)
	}
	call(leftGuard, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 {
			return jinja.Undefined(), fmt.Errorf("internal: %s wants one value", leftGuard)
		}
		l.operands = append(l.operands, args[0])
		return args[0], nil
	})
	right := func(name, op string, size func(a, b jinja.Value) (int64, error)) {
		call(name, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 || len(l.operands) == 0 {
				return jinja.Undefined(), fmt.Errorf("internal: unbalanced %s", name)
			}
			a := l.operands[len(l.operands)-1]
			l.operands = l.operands[:len(l.operands)-1]
			n, err := size(a, args[0])
			if err == nil {
				err = l.charge("the operator "+op, n)
			}
			if err != nil {
				return jinja.Undefined(), err
			}
			return args[0], nil
		})
	}
	right(mulGuard, "*", func(a, b jinja.Value) (int64, error) {
		if !a.IsString() || !b.IsInt() || b.AsInt() <= 0 || len(a.AsString()) == 0 {
			return 0, nil // the engine repeats only str * int
		}
		if n := int64(len(a.AsString())); b.AsInt() > (l.cap+1)/n+1 {
			return l.cap + 1, nil
		} else {
			return n * b.AsInt(), nil
		}
	})
	concat := func(a, b jinja.Value) (int64, error) {
		x, err := printSize(a, l.cap, 1)
		if err != nil {
			return 0, err
		}
		y, err := printSize(b, l.cap, 1)
		return x + y, err
	}
	right(addGuard, "+", func(a, b jinja.Value) (int64, error) {
		switch {
		case a.IsString() || b.IsString():
			return concat(a, b)
		case a.IsList() && b.IsList():
			// The items and, once, what the shorter side holds (the
			// strings a loop keeps alive by adding them to a list).
			short := a
			if b.AsList().Len() < a.AsList().Len() {
				short = b
			}
			n, err := reprSize(short, l.cap, 1, 0)
			return valueBytes*int64(a.AsList().Len()+b.AsList().Len()) + n, err
		}
		return 0, nil
	})
	right(catGuard, "~", concat)
	call(keepFilter, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 {
			return jinja.Undefined(), fmt.Errorf("internal: %s wants one value", keepFilter)
		}
		n, err := printSize(args[0], l.cap, 1)
		if err == nil {
			err = l.charge("a value built by a call, filter or subscript", n)
		}
		if err != nil {
			return jinja.Undefined(), err
		}
		return args[0], nil
	})

	data[filterPrefix+"join"] = jinja.NewCallable("join", l.join)
	data[filterPrefix+"replace"] = jinja.NewCallable("replace", func(args []jinja.Value, kw map[string]jinja.Value) (jinja.Value, error) {
		if len(args) < 3 {
			return jinja.NewString(""), fmt.Errorf("replace: expected at least 3 arguments")
		}
		count := -1
		if len(args) > 3 {
			count = int(engineInt(args[3]))
		}
		if c, ok := kw["count"]; ok {
			count = int(engineInt(c))
		}
		return l.replace(enginePrint(args[0]), enginePrint(args[1]), enginePrint(args[2]), count)
	})
	data[methodPrefix+"replace"] = jinja.NewCallable("replace", func(args []jinja.Value, kw map[string]jinja.Value) (jinja.Value, error) {
		if err := wantStr("replace", args); err != nil {
			return jinja.Undefined(), err
		}
		if len(args) < 3 {
			return args[0], nil
		}
		count := -1
		if len(args) > 3 {
			count = int(engineInt(args[3]))
		}
		return l.replace(args[0].AsString(), enginePrint(args[1]), enginePrint(args[2]), count)
	})
	data[filterPrefix+"indent"] = jinja.NewCallable("indent", l.indent)
	data[methodPrefix+"format"] = jinja.NewCallable("format", l.format)
	data[methodPrefix+"append"] = jinja.NewCallable("append", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) == 0 || !args[0].IsList() {
			return jinja.Undefined(), fmt.Errorf("'%s' object has no attribute 'append'", receiverType(args))
		}
		list := args[0].AsList()
		if len(args) > 1 {
			if err := l.grow("append", list, args[1]); err != nil {
				return jinja.Undefined(), err
			}
			list.Append(args[1])
		}
		return jinja.None(), nil
	})
	data[methodPrefix+"update"] = jinja.NewCallable("update", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) == 0 || !args[0].IsDict() {
			return jinja.Undefined(), fmt.Errorf("'%s' object has no attribute 'update'", receiverType(args))
		}
		d := args[0].AsDict()
		if len(args) > 1 && args[1].IsDict() {
			other := args[1].AsDict()
			if int64(d.Len()+other.Len())*valueBytes > l.cap {
				return jinja.Undefined(), fmt.Errorf("update would grow a dict past %d keys (the limit for this input): a runaway template?", l.cap/valueBytes)
			}
			n, err := reprSize(args[1], l.cap, 1, 0)
			if err == nil {
				err = l.charge("update", n+valueBytes*int64(other.Len()))
			}
			if err != nil {
				return jinja.Undefined(), err
			}
			for _, k := range other.Keys {
				d.Set(k, other.Data[k])
			}
		}
		return jinja.None(), nil
	})
	data[methodPrefix+"insert"] = jinja.NewCallable("insert", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) == 0 || !args[0].IsList() {
			return jinja.Undefined(), fmt.Errorf("'%s' object has no attribute 'insert'", receiverType(args))
		}
		list := args[0].AsList()
		if len(args) < 3 {
			return jinja.None(), nil
		}
		if err := l.grow("insert", list, args[2]); err != nil {
			return jinja.Undefined(), err
		}
		idx := min(max(int(engineInt(args[1])), 0), list.Len())
		list.Items = append(list.Items, jinja.Undefined())
		copy(list.Items[idx+1:], list.Items[idx:])
		list.Items[idx] = args[2]
		return jinja.None(), nil
	})
}

func receiverType(args []jinja.Value) string {
	if len(args) == 0 {
		return "Undefined"
	}
	return typeName(args[0])
}

func wantStr(method string, args []jinja.Value) error {
	if len(args) == 0 || !args[0].IsString() {
		return fmt.Errorf("'%s' object has no attribute '%s'", receiverType(args), method)
	}
	return nil
}

// grow checks that list may take one more item, item, and charges the
// item with what it holds (a list keeps the strings it holds alive).
func (l *limiter) grow(what string, list *jinja.List, item jinja.Value) error {
	if int64(list.Len()+1)*valueBytes > l.cap {
		return fmt.Errorf("%s would grow a list past %d items (the limit for this input): a runaway template?", what, l.cap/valueBytes)
	}
	n, err := printSize(item, l.cap, 1)
	if err != nil {
		return err
	}
	return l.charge(what, valueBytes+n)
}

// replace is strings.Replace after checking the size of its result.
func (l *limiter) replace(s, old, new string, count int) (jinja.Value, error) {
	n := int64(strings.Count(s, old))
	if count >= 0 && int64(count) < n {
		n = int64(count)
	}
	if err := l.charge("replace", int64(len(s))+n*(int64(len(new))-int64(len(old)))); err != nil {
		return jinja.Undefined(), err
	}
	return jinja.NewString(strings.Replace(s, old, new, count)), nil
}

// join is the engine's join filter with its result size checked.
func (l *limiter) join(args []jinja.Value, kw map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.NewString(""), nil
	}
	if !args[0].IsList() {
		n, err := printSize(args[0], l.cap, 1)
		if err == nil {
			err = l.charge("join", n)
		}
		if err != nil {
			return jinja.Undefined(), err
		}
		return jinja.NewString(enginePrint(args[0])), nil
	}
	sep := ""
	if len(args) > 1 {
		sep = enginePrint(args[1])
	}
	if s, ok := kw["d"]; ok {
		sep = enginePrint(s)
	}
	attr := ""
	if a, ok := kw["attribute"]; ok {
		attr = enginePrint(a)
	}
	items := args[0].AsList().Items
	total := int64(len(sep)) * int64(max(len(items)-1, 0))
	for i := range items {
		it := items[i]
		if attr != "" && it.IsDict() {
			if v, ok := it.AsDict().Get(attr); ok {
				it = v
			}
		}
		n, err := printSize(it, l.cap, 1)
		if err != nil {
			return jinja.Undefined(), err
		}
		if total += n; total > l.cap {
			break
		}
	}
	if err := l.charge("join", total); err != nil {
		return jinja.Undefined(), err
	}
	parts := make([]string, len(items))
	for i, it := range items {
		if attr != "" && it.IsDict() {
			if v, ok := it.AsDict().Get(attr); ok {
				it = v
			}
		}
		parts[i] = enginePrint(it)
	}
	return jinja.NewString(strings.Join(parts, sep)), nil
}

// indent is the engine's indent filter with its result size checked.
func (l *limiter) indent(args []jinja.Value, kw map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.NewString(""), nil
	}
	s := enginePrint(args[0])
	width := int64(4)
	if len(args) > 1 {
		width = engineInt(args[1])
	}
	if w, ok := kw["width"]; ok {
		width = engineInt(w)
	}
	first := false
	if len(args) > 2 {
		first = args[2].IsTruthy()
	}
	if f, ok := kw["first"]; ok {
		first = f.IsTruthy()
	}
	if width < 0 {
		return jinja.Undefined(), fmt.Errorf("indent: negative width %d", width)
	}
	lines := strings.Split(s, "\n")
	if width > l.cap {
		width = l.cap + 1
	}
	if err := l.charge("indent", int64(len(s))+width*int64(len(lines))); err != nil {
		return jinja.Undefined(), err
	}
	pad := strings.Repeat(" ", int(width))
	for i, line := range lines {
		if i == 0 && !first {
			continue
		}
		if line != "" {
			lines[i] = pad + line
		}
	}
	return jinja.NewString(strings.Join(lines, "\n")), nil
}

// format is the engine's str.format with the size of each step checked.
func (l *limiter) format(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if err := wantStr("format", args); err != nil {
		return jinja.Undefined(), err
	}
	result := args[0].AsString()
	for i, arg := range args[1:] {
		v := enginePrint(arg)
		ph := fmt.Sprintf("{%d}", i)
		n := int64(strings.Count(result, ph))
		if err := l.charge("format", int64(len(result))+n*(int64(len(v))-int64(len(ph)))); err != nil {
			return jinja.Undefined(), err
		}
		result = strings.ReplaceAll(result, ph, v)
		if err := l.charge("format", int64(len(result)+len(v))); err != nil {
			return jinja.Undefined(), err
		}
		result = strings.Replace(result, "{}", v, 1)
	}
	return jinja.NewString(result), nil
}

// installListLimits size-checks the filters and methods that turn a string
// into a list (about valueBytes per item: a large amplification).
func (l *limiter) installListLimits(data map[string]jinja.Value) {
	data[filterPrefix+"list"] = jinja.NewCallable("list", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) == 0 {
			return jinja.NewList(nil), nil
		}
		v := args[0]
		switch {
		case v.IsList():
			return v, nil
		case v.IsString():
			runes := []rune(v.AsString())
			if err := l.charge("list", valueBytes*int64(len(runes))); err != nil {
				return jinja.Undefined(), err
			}
			items := make([]jinja.Value, len(runes))
			for i, r := range runes {
				items[i] = jinja.NewString(string(r))
			}
			return jinja.NewList(items), nil
		}
		return jinja.NewList([]jinja.Value{v}), nil
	})
	for _, name := range []string{"split", "rsplit"} {
		split := globals[methodPrefix+name].AsCallable().Fn
		data[methodPrefix+name] = jinja.NewCallable(name, func(args []jinja.Value, kw map[string]jinja.Value) (jinja.Value, error) {
			if len(args) > 0 && args[0].IsString() {
				s := args[0].AsString()
				var sep jinja.Value
				if len(args) > 1 {
					sep = args[1]
				} else if v, ok := kw["sep"]; ok {
					sep = v
				}
				var n int64
				if sep.IsString() && sep.AsString() != "" {
					n = int64(strings.Count(s, sep.AsString())) + 1
				} else { // runs of non-space
					space := true
					for _, r := range s {
						if sp := pyIsSpace(r); space && !sp {
							n++
						} else {
							space = sp
							continue
						}
						space = false
					}
				}
				if err := l.charge(name, valueBytes*n); err != nil {
					return jinja.Undefined(), err
				}
			}
			return split(args, kw)
		})
	}
}
