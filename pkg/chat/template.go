package chat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

// Template is a compiled chat template. It is safe for concurrent use.
type Template struct {
	source string
	sum    string
	tmpl   *jinja.Template
	now    func() time.Time // strftime_now's clock; time.Now unless a test sets it
	ctx    context.Context  // nil: never cancelled (see WithContext)
	name   string           // where it came from, for errors (see WithName)
	// Budgets of one render (WithLimits); zero: MaxSteps, MaxRenderTime.
	maxSteps int64
	maxTime  time.Duration
}

// WithName returns a copy of t that errors name as name (the file or
// model directory it came from); unnamed, errors give its sha256.
func (t *Template) WithName(name string) *Template {
	c := *t
	c.name = name
	return &c
}

// WithLimits returns a copy of t whose renders may run at most steps loop
// iterations and macro calls and last at most d (0 keeps MaxSteps and
// MaxRenderTime).
func (t *Template) WithLimits(steps int64, d time.Duration) *Template {
	c := *t
	c.maxSteps, c.maxTime = steps, d
	return &c
}

// describe names t in errors.
func (t *Template) describe() string {
	sum := t.sum
	if len(sum) > 12 {
		sum = sum[:12] + "…"
	}
	if t.name != "" {
		return fmt.Sprintf("%s (sha256 %s)", t.name, sum)
	}
	return "sha256 " + sum
}

// WithContext returns a copy of t whose renders stop with an error soon
// after ctx is cancelled (checked at every loop iteration, macro call and
// output), so a runaway template does not outlive a SIGTERM.
func (t *Template) WithContext(ctx context.Context) *Template {
	c := *t
	c.ctx = ctx
	return &c
}

// RenderOptions are the variables a render passes besides messages.
type RenderOptions struct {
	// AddGenerationPrompt is the template variable add_generation_prompt.
	AddGenerationPrompt bool
	// Special tokens, passed as bos_token, eos_token, pad_token and
	// unk_token. An empty token is left undefined, as transformers leaves
	// out special tokens a tokenizer does not set.
	BOSToken, EOSToken, PADToken, UNKToken string
	// Extra holds further template variables, like the keyword arguments
	// of apply_chat_template (e.g. "enable_thinking": false). Values may be
	// nil, bools, numbers, strings, json.RawMessage (keeps key order),
	// Message, []Message, slices and string-keyed maps (sorted keys). An
	// Extra entry overrides any variable above except messages.
	Extra map[string]any
}

var lineRE = regexp.MustCompile(`\bline \d+\b`)

// Compile parses a chat template. Syntax errors name the line.
func Compile(source string) (*Template, error) {
	norm := normalizeNewlines(source)
	rewritten, tags, err := rewriteSource(norm)
	if err != nil {
		return nil, fmt.Errorf("chat: compiling template: %w", err)
	}
	if err := checkNesting(tags); err != nil {
		return nil, fmt.Errorf("chat: compiling template: %w", err)
	}
	tmpl, err := compileEngine(rewritten)
	if err != nil {
		msg := err.Error()
		if !lineRE.MatchString(msg) {
			if line, why := unbalancedLine(tags); line > 0 {
				return nil, fmt.Errorf("chat: compiling template: line %d: %s: %w", line, why, err)
			}
		}
		return nil, fmt.Errorf("chat: compiling template: %w", err)
	}
	if line, why := unbalancedLine(tags); line > 0 {
		// The engine accepts some unbalanced templates (a stray endif, an
		// unclosed block at the end); jinja2 rejects them.
		return nil, fmt.Errorf("chat: compiling template: line %d: %s", line, why)
	}
	sum := sha256.Sum256([]byte(source))
	return &Template{source: source, sum: hex.EncodeToString(sum[:]), tmpl: tmpl, now: time.Now}, nil
}

// compileEngine runs the engine's compiler, turning a panic into an error.
func compileEngine(src string) (t *jinja.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("template engine panicked: %v", r)
		}
	}()
	return jinja.Compile(src)
}

// Source returns the template source as given to Compile.
func (t *Template) Source() string { return t.source }

// SHA256 returns the hex SHA-256 of the template source.
func (t *Template) SHA256() string { return t.sum }

// globals are the render-scope callables that do not depend on the render.
var globals = map[string]jinja.Value{
	"raise_exception":           jinja.NewCallable("raise_exception", raiseException),
	outputFilter:                jinja.NewCallable(outputFilter, filterString),
	filterPrefix + "tojson":     jinja.NewCallable("tojson", filterTojson),
	filterPrefix + "trim":       jinja.NewCallable("trim", filterTrim),
	filterPrefix + "string":     jinja.NewCallable("string", filterString),
	methodPrefix + "strip":      jinja.NewCallable("strip", stripper("strip", true, true)),
	methodPrefix + "lstrip":     jinja.NewCallable("lstrip", stripper("lstrip", true, false)),
	methodPrefix + "rstrip":     jinja.NewCallable("rstrip", stripper("rstrip", false, true)),
	methodPrefix + "split":      jinja.NewCallable("split", splitter("split", false)),
	methodPrefix + "rsplit":     jinja.NewCallable("rsplit", splitter("rsplit", true)),
	methodPrefix + "startswith": jinja.NewCallable("startswith", affix("startswith", false)),
	methodPrefix + "endswith":   jinja.NewCallable("endswith", affix("endswith", true)),
	methodPrefix + "find":       jinja.NewCallable("find", finder("find", false)),
	methodPrefix + "rfind":      jinja.NewCallable("rfind", finder("rfind", true)),
}

// Render renders messages as transformers' apply_chat_template(messages,
// tokenize=False, add_generation_prompt=..., **extra) does. A template
// that calls raise_exception returns an error wrapping *TemplateError.
func (t *Template) Render(messages []Message, opts RenderOptions) (out string, err error) {
	data := make(map[string]jinja.Value, len(globals)+16)
	for k, v := range globals {
		data[k] = v
	}
	data["strftime_now"] = jinja.NewCallable("strftime_now", strftimeNow(t.now))
	data["tools"] = jinja.None()
	data["documents"] = jinja.None()
	for k, v := range map[string]string{"bos_token": opts.BOSToken, "eos_token": opts.EOSToken, "pad_token": opts.PADToken, "unk_token": opts.UNKToken} {
		if v != "" {
			data[k] = jinja.NewString(v)
		}
	}
	data["add_generation_prompt"] = jinja.NewBool(opts.AddGenerationPrompt)
	for k, v := range opts.Extra {
		x, err := toValue(v)
		if err != nil {
			return "", fmt.Errorf("chat: render option %q: %w", k, err)
		}
		data[k] = x
	}
	msgs, _ := toValue(messages)
	data["messages"] = msgs
	ctx := t.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("chat: rendering cancelled: %w", err)
	}
	lim := &limiter{ctx: ctx, cap: renderCap(messages, opts), name: t.describe(), maxSteps: MaxSteps}
	if t.maxSteps > 0 {
		lim.maxSteps = t.maxSteps
	}
	maxTime := MaxRenderTime
	if t.maxTime > 0 {
		maxTime = t.maxTime
	}
	lim.deadline = time.Now().Add(maxTime)
	lim.install(data)

	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat: rendering template: engine panicked: %v", r)
		}
	}()
	out, err = t.tmpl.RenderValues(data)
	if err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			return "", fmt.Errorf("chat: template raised an exception: %w", err)
		}
		return "", fmt.Errorf("chat: rendering template: %w", err)
	}
	return out, nil
}

// normalizeNewlines does what jinja2's lexer does to a source before
// tokenizing it (newline_sequence "\n", keep_trailing_newline=False): line
// breaks \r\n and \r become \n, and one trailing line break is dropped.
func normalizeNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.TrimSuffix(s, "\n")
}
