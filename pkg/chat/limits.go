package chat

import (
	"context"
	"fmt"
	"math"
	"strings"

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
	ctx   context.Context
	depth int
	out   int64
	cap   int64
}

func (l *limiter) cancelled() error {
	if err := l.ctx.Err(); err != nil {
		return fmt.Errorf("rendering cancelled: %w", err)
	}
	return nil
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
	data[rangeFunc] = jinja.NewCallable("range", l.rangeFn)
	data[tickFunc] = jinja.NewCallable(tickFunc, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
		if err := l.cancelled(); err != nil {
			return jinja.Undefined(), err
		}
		return emptyString, nil
	})
	data[enterFunc] = jinja.NewCallable(enterFunc, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
		l.depth++
		if l.depth > MaxMacroDepth {
			return jinja.Undefined(), fmt.Errorf("RecursionError: macro calls nested deeper than %d", MaxMacroDepth)
		}
		if err := l.cancelled(); err != nil {
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
