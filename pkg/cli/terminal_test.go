package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTerminal makes isTerminal report on for the test's duration.
func fakeTerminal(t *testing.T, on bool) {
	t.Helper()
	prev := isTerminal
	isTerminal = func(any) bool { return on }
	t.Cleanup(func() { isTerminal = prev })
}

// TestRefuseBinaryToTerminal: an Arrow stream to a terminal stdout is a
// usage error with a hint; -o FILE, a pipe, or JSONL output are fine.
func TestRefuseBinaryToTerminal(t *testing.T) {
	dir := t.TempDir()
	pairs := writeBytes(t, dir, "pairs.jsonl", []byte(`{"prompt": "a", "chosen": "b", "rejected": "c"}`+"\n"))
	for _, tt := range []struct {
		name   string
		run    RunFunc
		args   []string
		term   bool
		refuse bool
	}{
		{"tokenize to terminal", Tokenize, []string{"--tokenizer", "builtin:bytes", pairs}, true, true},
		{"tokenize to pipe", Tokenize, []string{"--tokenizer", "builtin:bytes", pairs}, false, false},
		{"tokenize -o file", Tokenize, []string{"--tokenizer", "builtin:bytes", "-o", filepath.Join(dir, "t.arrow"), pairs}, true, false},
		{"reflogp to terminal", Reflogp, []string{"--model", dir, pairs}, true, true},
		{"reflogp -o file", Reflogp, []string{"--model", dir, "-o", filepath.Join(dir, "r.arrow"), pairs}, true, false},
		{"score to terminal", Score, []string{"--policy", dir, pairs}, true, true},
		{"score /dev/stdout", Score, []string{"--policy", dir, "-o", "/dev/stdout", pairs}, true, true},
		{"score jsonl to terminal", Score, []string{"--policy", dir, "--format", "jsonl", pairs}, true, false},
		{"sample to terminal", Sample, []string{"--model", dir, pairs}, true, true},
		{"sample jsonl to terminal", Sample, []string{"--model", dir, "--format", "jsonl", pairs}, true, false},
	} {
		fakeTerminal(t, tt.term)
		var stdout bytes.Buffer
		err := tt.run(t.Context(), tt.args, strings.NewReader(""), &stdout, io.Discard)
		refused := err != nil && strings.Contains(err.Error(), "refusing to write a binary Arrow stream to the terminal: give -o FILE")
		if refused != tt.refuse || refused && ExitCode(err) != 2 {
			t.Errorf("%s: %v (exit %d)", tt.name, err, ExitCode(err))
		}
		if refused && stdout.Len() > 0 {
			t.Errorf("%s: wrote %d bytes before refusing", tt.name, stdout.Len())
		}
	}
}

// TestDevNullIsNoTerminal: /dev/null is a character device but no
// terminal, so an Arrow stream may be written to it (> /dev/null).
func TestDevNullIsNoTerminal(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("isTerminal(/dev/null) = true")
	}
	dir := t.TempDir()
	pairs := writeBytes(t, dir, "pairs.jsonl", []byte(`{"prompt": "a", "chosen": "b", "rejected": "c"}`+"\n"))
	if err := Tokenize(t.Context(), []string{"--tokenizer", "builtin:bytes", "-q", pairs}, strings.NewReader(""), f, io.Discard); err != nil {
		t.Fatalf("dpo-tokenize > /dev/null: %v (exit %d)", err, ExitCode(err))
	}
}
