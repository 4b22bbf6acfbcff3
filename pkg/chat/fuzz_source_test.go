package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// watchdog crashes the fuzz worker (so the fuzzer keeps the input) when an
// input runs longer than 10 s: a hang is a failure. Call the returned stop.
func watchdog(what string) (stop func()) {
	t := time.AfterFunc(10*time.Second, func() { panic(what + " took more than 10 s") })
	return func() { t.Stop() }
}

// seedTemplates returns the template sources of the test data.
func seedTemplates(tb testing.TB) []string {
	var out []string
	for _, p := range []string{"testdata/templates/features/chat_template.jinja"} {
		if b, err := os.ReadFile(p); err == nil {
			out = append(out, string(b))
		}
	}
	cfgs, _ := filepath.Glob("testdata/templates/*/tokenizer_config.json")
	for _, p := range cfgs {
		if b, err := os.ReadFile(p); err == nil {
			if c, err := ParseConfig(b); err == nil && c.ChatTemplate != "" {
				out = append(out, c.ChatTemplate)
			}
		}
	}
	if b, err := os.ReadFile("testdata/snippets.txt"); err == nil {
		for _, s := range strings.Split(string(b), "\n") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return append(out,
		"{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}",
		"{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}",
		"{{ range(100001)|length }}",
		"{{ messages|tojson(indent=4) }}",
		"{% set ns = namespace(x=1) %}{% for i in range(10) %}{% set ns.x = ns.x * 2 %}{% endfor %}{{ ns.x }}",
	)
}

// FuzzTemplateSource compiles and renders arbitrary chat template source
// (a model repository hands us the program): errors are fine, panics,
// hangs past the context and unbounded memory are not.
func FuzzTemplateSource(f *testing.F) {
	for _, s := range seedTemplates(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		defer watchdog(fmt.Sprintf("template of %d bytes", len(src)))()
		tm, err := Compile(src)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = tm.WithContext(ctx).Render([]Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "yo"}},
			RenderOptions{BOSToken: "<s>", EOSToken: "</s>", AddGenerationPrompt: true})
		_ = err // errors (a recovered engine panic included) are fine; crashes and hangs are not
	})
}

// FuzzConfigAndKwargs parses arbitrary tokenizer_config.json bytes and
// --chat-template-kwargs JSON, and renders the config's template with them.
func FuzzConfigAndKwargs(f *testing.F) {
	cfgs, _ := filepath.Glob("testdata/templates/*/tokenizer_config.json")
	for _, p := range cfgs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(`{"enable_thinking": false}`))
		f.Add(b, []byte(`{"tools": [{"name": "x", "parameters": {"a": [1, 2.5, null, true]}}], "x": "y"}`))
	}
	f.Add([]byte(`{"chat_template": "{{ x|tojson }}", "bos_token": {"content": "<s>"}, "eos_token": "</s>"}`), []byte(`{"x": {"b": [1, {"c": "d"}]}}`))
	f.Add([]byte(`{"chat_template": [{"name": "default", "template": "{{ messages[0].content }}"}]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, cfgJSON, kwargs []byte) {
		defer watchdog("tokenizer_config.json + kwargs")()
		c, err := ParseConfig(cfgJSON)
		if err != nil || c.ChatTemplate == "" {
			return
		}
		var extra map[string]any
		if json.Unmarshal(kwargs, &extra) != nil {
			extra = nil
		}
		tm, err := Compile(c.ChatTemplate)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		opts := c.RenderOptions()
		opts.Extra = extra
		_, err = tm.WithContext(ctx).Render([]Message{{Role: "user", Content: "hi"}}, opts)
		_ = err // errors (a recovered engine panic included) are fine; crashes and hangs are not
	})
}
