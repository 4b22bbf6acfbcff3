package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// configFlags is a flag set like a tool's, for the config tests.
type configFlags struct {
	fs                   *flag.FlagSet
	out, columns, kwargs *string
	maxLen               *int
	lr                   *float64
	strict               *bool
	ldAlpha              *string
}

func newConfigFlags() *configFlags {
	fs := flag.NewFlagSet("dpo-x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &configFlags{
		fs:      fs,
		out:     fs.String("o", "-", ""),
		columns: fs.String("columns", "", ""),
		kwargs:  fs.String("chat-template-kwargs", "", "variables as a JSON object"),
		maxLen:  fs.Int("max-length", 1024, ""),
		lr:      fs.Float64("lr", 1e-6, ""),
		strict:  fs.Bool("strict", false, ""),
		ldAlpha: fs.String("ld-alpha", "off", ""),
	}
}

func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	return writeBytes(t, t.TempDir(), name, []byte(text))
}

// TestConfigFile: keys with or without dashes, _ for -, scalars, lists,
// mappings, null; the command line overrides the file; the inputs come
// from the file only when the command line has none.
func TestConfigFile(t *testing.T) {
	yml := writeConfig(t, "run.yaml", `
# a run
--o: out.arrow
max_length: 512
lr: 3e-4
strict: true
ld-alpha: null
columns: {prompt: question, system: sys}
chat_template_kwargs: {enable_thinking: false, n: 2, s: "x"}
inputs: [a.jsonl, b.jsonl]
`)
	jsn := writeConfig(t, "run.json", `{"o": "out.arrow", "max_length": 512, "lr": 3e-4, "strict": true, "ld_alpha": null,
		"columns": {"prompt": "question", "system": "sys"}, "chat_template_kwargs": {"enable_thinking": false, "n": 2, "s": "x"},
		"inputs": ["a.jsonl", "b.jsonl"]}`)
	for _, path := range []string{yml, jsn} {
		for _, tt := range []struct {
			args      []string
			wantO     string
			wantLen   int
			wantInput []string
		}{
			{[]string{"--config", path}, "out.arrow", 512, []string{"a.jsonl", "b.jsonl"}},
			{[]string{"--config", path, "--max-length", "64", "c.jsonl"}, "out.arrow", 64, []string{"c.jsonl"}},
			{[]string{"-o", "x.arrow", "--config=" + path}, "x.arrow", 512, []string{"a.jsonl", "b.jsonl"}},
		} {
			f := newConfigFlags()
			if err := parse(f.fs, tt.args); err != nil {
				t.Fatalf("%v: %v", tt.args, err)
			}
			if *f.out != tt.wantO || *f.maxLen != tt.wantLen || *f.lr != 3e-4 || !*f.strict || *f.ldAlpha != "off" ||
				*f.columns != "prompt=question,system=sys" || !reflect.DeepEqual(f.fs.Args(), tt.wantInput) {
				t.Errorf("%v: o %q max-length %d lr %v strict %v ld-alpha %q columns %q args %q", tt.args,
					*f.out, *f.maxLen, *f.lr, *f.strict, *f.ldAlpha, *f.columns, f.fs.Args())
			}
			var kw map[string]any
			if err := json.Unmarshal([]byte(*f.kwargs), &kw); err != nil || !reflect.DeepEqual(kw, map[string]any{"enable_thinking": false, "n": 2.0, "s": "x"}) {
				t.Errorf("%v: chat-template-kwargs %s (%v)", tt.args, *f.kwargs, err)
			}
		}
	}
}

// TestConfigErrors: every mistake is a usage error (exit 2) naming the file
// and the key.
func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"a.yaml", "nope: 1\n", `key "nope": unknown key`},
		{"a.json", `{"max_length": 1, "nested": {"x": 1}}`, `key "nested.x": unknown key`},
		{"a.yaml", "max-length: ten\n", `key "max-length"`},
		{"a.yaml", "max-length: 1\nmax_length: 2\n", `key "max_length": sets -max-length, as key "max-length" does`},
		{"a.yaml", "config: other.yaml\n", `key "config": a config file cannot name another`},
		{"a.yaml", "- 1\n- 2\n", "want a mapping"},
		{"a.json", `{"lr": 1`, "invalid JSON"},
		{"a.json", `{"lr": 1} {}`, "data after"},
		{"a.yaml", "lr: [[1]]\n", `key "lr": item 0: want a scalar`},
		{"a.yaml", "a: &x [1]\nb: *x\n<<: {c: 1}\n", "merge keys"},
		{"a.yaml", "lr: 1\n\tx: 2\n", "a.yaml"},
	} {
		path := writeConfig(t, tt.name, tt.text)
		f := newConfigFlags()
		err := parse(f.fs, []string{"--config", path})
		if ExitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s %q: %v, want exit 2 naming %s and %q", tt.name, tt.text, err, path, tt.want)
		}
	}
	f := newConfigFlags()
	if err := parse(f.fs, []string{"--config", "/nonexistent/x.yaml"}); ExitCode(err) != 2 {
		t.Errorf("missing file: %v", err)
	}
	// _ for - only when it names one flag.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("a-b", "", "")
	fs.String("a_b", "", "")
	if err := parse(fs, []string{"--config", writeConfig(t, "c.yaml", "a_b: 1\na-b: 2\n")}); err != nil {
		t.Errorf("exact names: %v", err)
	}
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs2.SetOutput(io.Discard)
	fs2.String("x-y", "", "")
	fs2.String("x_y", "", "")
	fs2.String("a-b", "", "")
	if err := parse(fs2, []string{"--config", writeConfig(t, "c.yaml", "a_b: 1\n")}); err != nil {
		t.Errorf("unambiguous a_b: %v", err)
	}
	fs3 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs3.SetOutput(io.Discard)
	fs3.String("x-y-z", "", "")
	fs3.String("x_y-z", "", "")
	if err := parse(fs3, []string{"--config", writeConfig(t, "c.yaml", "x_y_z: 1\n")}); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous x_y_z: %v", err)
	}
}

// TestConfigEveryTool: each tool's flag set takes --config and rejects an
// unknown key with exit 2.
func TestConfigEveryTool(t *testing.T) {
	bad := writeConfig(t, "bad.yaml", "no_such_flag: 1\n")
	for name, run := range map[string]RunFunc{"tokenize": Tokenize, "reflogp": Reflogp, "train": Train, "score": Score} {
		var stderr bytes.Buffer
		err := run(t.Context(), []string{"--config", bad}, strings.NewReader(""), io.Discard, &stderr)
		if ExitCode(err) != 2 || !strings.Contains(err.Error(), `key "no_such_flag": unknown key`) {
			t.Errorf("%s --config: %v", name, err)
		}
		var help bytes.Buffer
		if code := runMain(t.Context(), run, []string{"-h"}, strings.NewReader(""), &help, &stderr); code != 0 || !strings.Contains(help.String(), "-config FILE") {
			t.Errorf("%s -h: exit %d, help lacks -config FILE:\n%s", name, code, help.String())
		}
	}
}

// TestTrainConfigReload: train_config.json as dpo-train writes it (the
// train.Config marshalled) is a --config that reproduces the parsed
// configuration, LoRA section and TRL key names included.
func TestTrainConfigReload(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--model", "m", "--out", dir, "a.arrow"},
		{"--model", "m", "--out", dir, "--loss", "sigmoid,sft", "--loss-weights", "1,0.25", "--beta", "0.3", "--lr", "2e-5",
			"--lr-scheduler", "cosine", "--warmup-ratio", "0.1", "--batch-size", "3", "--grad-accum", "4", "--epochs", "2",
			"--seed", "7", "--ld-alpha", "0.5", "--lora-r", "8", "--lora-alpha", "16", "--lora-target", "q_proj,v_proj",
			"--use-rslora", "--merge-lora", "--report-to", "jsonl,tensorboard", "--eval", "e.arrow", "--eval-steps", "5",
			"--bf16", "--gradient-checkpointing", "--max-steps", "9", "--save-steps", "3", "--init-seed", "11",
			"--tokenizer", "tok", "--label-smoothing", "0.1", "--use-weighting", "a.arrow", "b.arrow"},
		{"--init-config", "c.json", "--out", dir, "--loss", "sft", "--adapter", "ad", "-"},
	} {
		want, _, err := parseTrain(args, io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		checkTrainConfigReload(t, writeBytes(t, t.TempDir(), "train_config.json", b), want)
	}
}

// checkTrainedConfig checks that the train_config.json a run with args
// wrote reproduces its configuration as a --config.
func checkTrainedConfig(t *testing.T, path string, args []string) {
	t.Helper()
	want, _, err := parseTrain(args, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checkTrainConfigReload(t, path, want)
}

// checkTrainConfigReload parses --config path and compares with want.
func checkTrainConfigReload(t *testing.T, path string, want any) {
	t.Helper()
	got, _, err := parseTrain([]string{"--config", path}, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("--config %s: %v", path, err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("--config %s:\n got %s\nwant %s", path, g, w)
	}
}

// FuzzParseConfig: the config parser never panics and never accepts a
// non-mapping as flags.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"lr: 1\ncolumns: {a: b}\nx: [1, 2]\n", `{"a": [1, {"b": null}], "c": "d"}`, "a: &x [1]\nb: *x\n", "", "- 1"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, isJSON bool) {
		name := "c.yaml"
		if isJSON {
			name = "c.json"
		}
		n, err := parseConfig(name, []byte(text))
		if err != nil {
			return
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		fl := newConfigFlags()
		err = parse(fl.fs, []string{"--config", path})
		if n.kind != cMap && err == nil {
			t.Errorf("non-mapping %q accepted", text)
		}
		if err != nil && ExitCode(err) != 2 {
			t.Errorf("%q: exit %d: %v", text, ExitCode(err), err)
		}
	})
}

// listFlag is a repeatable flag, for TestConfigRepeatable.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, "|") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
func (l *listFlag) repeatable() bool   { return true }

// TestConfigRepeatable: a list is one comma-joined value for an ordinary
// flag and repeated flags for a repeatable one.
func TestConfigRepeatable(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var l listFlag
	fs.Var(&l, "include", "")
	w := fs.String("loss-weights", "", "")
	if err := parse(fs, []string{"--config", writeConfig(t, "c.yaml", "include: [a, b]\nloss_weights: [1, 0.5]\n")}); err != nil {
		t.Fatal(err)
	}
	if l.String() != "a|b" || *w != "1,0.5" {
		t.Errorf("include %q, loss-weights %q", l.String(), *w)
	}
}
