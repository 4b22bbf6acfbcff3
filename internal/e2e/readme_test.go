package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// readmeBlocks returns the README's ```sh blocks with the line each starts on.
func readmeBlocks(t *testing.T) (blocks []string, lines []int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testrefs.Root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cur []string
	in := false
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case !in && strings.HasPrefix(l, "```sh"):
			in, cur = true, nil
			lines = append(lines, i+2)
		case in && strings.HasPrefix(l, "```"):
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, l)
		}
	}
	return blocks, lines
}

// readmeSkip says why a README block is not run here: the two top-level
// commands and the installs (CI runs those), and schematic examples whose
// "..." stand for options.
func readmeSkip(block string) string {
	switch {
	case strings.Contains(block, "make demo") || strings.Contains(block, "make test"):
		return "the top-level commands: CI runs them"
	case strings.Contains(block, "pip install") || strings.Contains(block, "go install ./cmd/...                "):
		return "installs"
	case strings.Contains(block, " ... "):
		return "schematic (... stands for options)"
	}
	return ""
}

// readmeRewrites turn a README block into one that runs on tiny data in
// the test's directory: the example model directories become a tiny model
// trained here (with the byte tokenizer), the bundled example's files
// short copies, `go run` of the example's tools their built binaries, and
// pagers nothing.
var readmeRewrites = []struct{ re, to string }{
	{`go install \./cmd/\.\.\. && `, ``},
	{`go build -o out/ \./examples/sort/judge \./examples/sort/pairs \./examples/sort/accuracy`,
		`mkdir -p out && cp "$(command -v sort-judge)" out/judge && cp "$(command -v sort-pairs)" out/pairs && cp "$(command -v sort-accuracy)" out/accuracy`},
	{`--tokenizer \./(my-sft-model|Qwen3-0\.6B)`, `--tokenizer builtin:bytes`},
	{`\./(my-sft-model|Qwen3-0\.6B)`, `tiny-model`},
	{`go run \./examples/sort/judge`, `sort-judge`},
	{`go run \./examples/sort/accuracy`, `sort-accuracy`},
	{`go run \./examples/sort/pairs`, `sort-pairs`},
	{`go run github\.com/apache/arrow-go/v18/arrow/ipc/cmd/arrow-cat@v[0-9.]+`, `arrow-cat`},
	{`\| (less|head)\b`, `| cat`},
	{`--max-length 1024`, `--max-length 64`},
	{`--grad-accum 8`, `--grad-accum 1`},
}

// TestReadmeExamples runs every shell example of the README (but the
// top-level commands, installs and schematic ones) on tiny data: a README
// whose examples do not run fails here.
func TestReadmeExamples(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs bash")
	}
	if testing.Short() {
		t.Skip("builds and trains")
	}
	root := testrefs.Root()
	for name, pkg := range map[string]string{"sort-judge": "./examples/sort/judge", "sort-pairs": "./examples/sort/pairs", "sort-accuracy": "./examples/sort/accuracy"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	// arrow-cat: a stand-in that checks its input is an Arrow stream or file.
	if err := os.WriteFile(filepath.Join(binDir, "arrow-cat"), []byte("#!/bin/sh\nhead -c 6 \"${1:-/dev/stdin}\" | grep -q -e ARROW1 -e \"$(printf '\\377\\377\\377\\377')\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ex := filepath.Join(dir, "examples", "sort")
	if err := os.MkdirAll(filepath.Join(ex, "model"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ex, "model", "config.json"), []byte(tinyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	head := func(src, dst string, n int) {
		b, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")[:n]
		if err := os.WriteFile(filepath.Join(dir, dst), []byte(strings.Join(lines, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	head("examples/sort/train.jsonl", "examples/sort/train.jsonl", 48)
	head("examples/sort/heldout.jsonl", "examples/sort/heldout.jsonl", 16)
	for _, f := range []string{"pairs.jsonl", "prefs.jsonl"} {
		head("examples/sort/train.jsonl", f, 32)
	}
	head("examples/sort/heldout.jsonl", "heldout.jsonl", 16)
	// The model the examples name: a tiny SFT model with the byte tokenizer.
	sh(t, dir, `dpo-tokenize --tokenizer builtin:bytes -q pairs.jsonl \
		| dpo-train --init-config examples/sort/model/config.json --seed 1 --loss sft --lr 1e-2 --epochs 1 --batch-size 16 -q --out tiny-model -
		dpo-tokenize --tokenizer builtin:bytes -q pairs.jsonl | dpo-reflogp --model tiny-model -q -o ref.arrow
		dpo-tokenize --tokenizer builtin:bytes -q pairs.jsonl | dpo-reflogp --model tiny-model -q > ref.arrows
		cp -r tiny-model out`)

	blocks, lines := readmeBlocks(t)
	ran := 0
	for i, b := range blocks {
		if why := readmeSkip(b); why != "" {
			t.Logf("README line %d: not run (%s)", lines[i], why)
			continue
		}
		script := b
		for _, r := range readmeRewrites {
			script = regexp.MustCompile(r.re).ReplaceAllString(script, r.to)
		}
		t.Run(fmt.Sprintf("%s@line%d", strings.Fields(b)[0], lines[i]), func(t *testing.T) {
			if strings.Contains(script, "python3 -c") {
				script = strings.ReplaceAll(script, "python3 -c", testrefs.Python(t, "pyarrow", "polars")+" -c")
			}
			sh(t, dir, script)
		})
		ran++
	}
	if ran < 4 {
		t.Errorf("ran %d README examples; the README's runnable examples were not found", ran)
	}
}
