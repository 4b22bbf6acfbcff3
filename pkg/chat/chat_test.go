package chat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name, config, jinja string
		wantTemplate        string
		wantNamed           map[string]string
		wantBOS, wantEOS    string
		wantPAD, wantUNK    string
		wantAddBOS          *bool
		wantErr             string
	}{
		{name: "string template", config: `{"chat_template": "T", "bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true}`,
			wantTemplate: "T", wantNamed: map[string]string{"default": "T"}, wantBOS: "<s>", wantEOS: "</s>", wantAddBOS: ptr(true)},
		{name: "list template", config: `{"chat_template": [{"name": "tool_use", "template": "U"}, {"name": "default", "template": "D"}]}`,
			wantTemplate: "D", wantNamed: map[string]string{"default": "D", "tool_use": "U"}},
		{name: "token objects", config: `{"bos_token": {"__type": "AddedToken", "content": "<bos>", "lstrip": false}, "pad_token": null, "unk_token": {"content": "<unk>"}, "add_bos_token": false}`,
			wantBOS: "<bos>", wantUNK: "<unk>", wantAddBOS: ptr(false), wantNamed: map[string]string{}},
		{name: "jinja file wins", config: `{"chat_template": "old", "pad_token": "<pad>"}`, jinja: "new {{ x }}\n",
			wantTemplate: "new {{ x }}\n", wantNamed: map[string]string{"default": "new {{ x }}\n"}, wantPAD: "<pad>"},
		{name: "jinja file alone", jinja: "J", wantTemplate: "J", wantNamed: map[string]string{"default": "J"}},
		{name: "bad template type", config: `{"chat_template": 3}`, wantErr: "field chat_template"},
		{name: "bad list entry", config: `{"chat_template": [{"name": 1}]}`, wantErr: "chat_template[0]"},
		{name: "bad token", config: `{"eos_token": 5}`, wantErr: "field eos_token"},
		{name: "bad add_bos", config: `{"add_bos_token": "yes"}`, wantErr: "field add_bos_token"},
		{name: "not json", config: `{`, wantErr: "tokenizer_config.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.config != "" {
				writeFile(t, dir, "tokenizer_config.json", tc.config)
			}
			if tc.jinja != "" {
				writeFile(t, dir, "chat_template.jinja", tc.jinja)
			}
			c, err := LoadConfig(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ChatTemplate != tc.wantTemplate || c.BOSToken != tc.wantBOS || c.EOSToken != tc.wantEOS || c.PADToken != tc.wantPAD || c.UNKToken != tc.wantUNK {
				t.Errorf("got %+v", c)
			}
			if len(c.Templates) != len(tc.wantNamed) {
				t.Errorf("Templates = %v, want %v", c.Templates, tc.wantNamed)
			}
			for k, v := range tc.wantNamed {
				if c.Templates[k] != v {
					t.Errorf("Templates[%q] = %q, want %q", k, c.Templates[k], v)
				}
			}
			if (c.AddBOSToken == nil) != (tc.wantAddBOS == nil) || (c.AddBOSToken != nil && *c.AddBOSToken != *tc.wantAddBOS) {
				t.Errorf("AddBOSToken = %v, want %v", c.AddBOSToken, tc.wantAddBOS)
			}
			if tc.config != "" {
				// A file path works as well as its directory.
				c2, err := LoadConfig(filepath.Join(dir, "tokenizer_config.json"))
				if err != nil || c2.BOSToken != c.BOSToken {
					t.Errorf("loading by file path: %v, %+v", err, c2)
				}
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing path: no error")
	}
	if _, err := LoadConfig(t.TempDir()); err == nil {
		t.Error("empty directory: no error")
	}
}

func ptr[T any](v T) *T { return &v }

func TestCompileErrorsNameLine(t *testing.T) {
	tests := []struct{ src, want string }{
		{"line1\n{% if x %}\nno end", "line 2"},
		{"a\nb\n{{ x + }}", "line 3"},
		{"a\n{% for x in y %}\n{% endif %}", "line 3"},
		{"a\n\n{{ unclosed", "line 3"},
		{"{# never closed", "line 1"},
		{"x\n{% endfor %}", "line 2"},
		{"\n\n{% raw %}never closed", "line 3"},
	}
	for _, tc := range tests {
		_, err := Compile(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q) = %v, want error naming %q", tc.src, err, tc.want)
		}
	}
}

func TestSHA256(t *testing.T) {
	tm, err := Compile("hello")
	if err != nil {
		t.Fatal(err)
	}
	// sha256("hello"), from coreutils sha256sum.
	if got, want := tm.SHA256(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; got != want {
		t.Errorf("SHA256 = %s, want %s", got, want)
	}
}

func TestRaiseExceptionIsTemplateError(t *testing.T) {
	tm, err := Compile(`{% if messages|length == 0 %}{{ raise_exception('no messages: ' ~ 3) }}{% endif %}ok`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tm.Render(nil, RenderOptions{})
	var te *TemplateError
	if !errors.As(err, &te) || te.Message != "no messages: 3" {
		t.Fatalf("err = %v, want TemplateError %q", err, "no messages: 3")
	}
	if out, err := tm.Render([]Message{{Role: "user", Content: "x"}}, RenderOptions{}); err != nil || out != "ok" {
		t.Fatalf("Render = %q, %v", out, err)
	}
}

func TestStrftimeNow(t *testing.T) {
	tm, err := Compile(`{{ strftime_now("%d %b %Y") }}|{{ strftime_now("%Y-%m-%d %H:%M:%S %A %B %j %-d %I%p %%") }}`)
	if err != nil {
		t.Fatal(err)
	}
	tm.now = func() time.Time { return time.Date(2024, time.July, 5, 15, 4, 9, 0, time.UTC) }
	got, err := tm.Render(nil, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Python: datetime(2024,7,5,15,4,9).strftime(...)
	want := "05 Jul 2024|2024-07-05 15:04:09 Friday July 187 5 03PM %"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestExtraValues(t *testing.T) {
	tm, err := Compile(`{{ tools|tojson }} {{ obj|tojson }} {{ m }} {{ n }} {{ f }} {{ l }}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tm.Render(nil, RenderOptions{Extra: map[string]any{
		"tools": []byte(nil), "obj": jsonRaw(`{"z": 1, "a": [true, null, 2.50]}`),
		"m": map[string]int{"b": 2, "a": 1}, "n": nil, "f": float32(0.5), "l": []string{"x"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[] {"z": 1, "a": [true, null, 2.5]} {'a': 1, 'b': 2} None 0.5 ['x']`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := tm.Render(nil, RenderOptions{Extra: map[string]any{"obj": make(chan int)}}); err == nil || !strings.Contains(err.Error(), `"obj"`) {
		t.Errorf("unsupported extra: err = %v", err)
	}
}

func TestRenderConcurrent(t *testing.T) {
	tm, err := Compile(`{% for m in messages %}{% set c = m.content.strip() %}{{ m.role }}:{{ c }};{% endfor %}`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			role := strings.Repeat("r", i+1)
			for range 200 {
				got, err := tm.Render([]Message{{Role: role, Content: " x "}}, RenderOptions{})
				if err != nil || got != role+":x;" {
					t.Errorf("got %q, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzRender renders arbitrary message content through real-world-shaped
// templates: it must never panic, and content must never be evaluated as
// template code.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"", "hi", "{{ messages }}", "{% if %}", "<think>a</think>b", "\x00\xff", "😀\n\t ", "</think>", "{#", "'\"\\"} {
		f.Add(s, s, true)
	}
	var tmpls []*Template
	for _, src := range []string{
		// A Qwen-like template (own writing) using split/strip/startswith.
		`{%- for m in messages %}{%- set c = m.content %}{%- if '</think>' in c %}{%- set c = c.split('</think>')[-1].lstrip('\n') %}{%- endif %}<|{{ m.role }}|>{{ c.strip() }}{{ c|trim|tojson }}{% if c.startswith(('<', '{')) %}!{% endif %}{{ c[::-1]|length }}
{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}`,
		`{{ bos_token }}{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('alternate') }}{% endif %}{{ m.content|trim }}{% endfor %}`,
	} {
		tm, err := Compile(src)
		if err != nil {
			f.Fatal(err)
		}
		tmpls = append(tmpls, tm)
	}
	f.Fuzz(func(t *testing.T, a, b string, gen bool) {
		for i, tm := range tmpls {
			out, err := tm.Render([]Message{{Role: "user", Content: a}, {Role: "assistant", Content: b}}, RenderOptions{AddGenerationPrompt: gen, BOSToken: "<s>"})
			if err != nil {
				if strings.Contains(err.Error(), "panicked") {
					t.Fatalf("engine panic: %v", err)
				}
				var te *TemplateError
				if !errors.As(err, &te) {
					t.Fatalf("unexpected error: %v", err)
				}
				continue
			}
			if i == 1 && !strings.Contains(out, strings.TrimFunc(a, pyIsSpace)) {
				t.Fatalf("output %q lost content %q", out, a)
			}
		}
	})
}

func jsonRaw(s string) json.RawMessage { return json.RawMessage(s) }
