package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every output flag naming the input (directly, by symlink, by hard link)
// is refused before anything is read, exit 2, and the input is intact.
func TestOutputIsInputRefused(t *testing.T) {
	const good = `{"prompt":"a","chosen":"b","rejected":"c"}` + "\n"
	tests := []struct {
		name string
		args func(in, dir string) []string
	}{
		{"-o is the input", func(in, dir string) []string { return []string{"-o", in, in} }},
		{"--rejects is the input", func(in, dir string) []string {
			return []string{"-o", filepath.Join(dir, "o.arrow"), "--on-error", "skip", "--rejects", in, in}
		}},
		{"--summary is the input", func(in, dir string) []string {
			return []string{"-o", filepath.Join(dir, "o.arrow"), "--summary", in, in}
		}},
		{"-o is a symlink to the input", func(in, dir string) []string {
			l := filepath.Join(dir, "link")
			os.Symlink(in, l)
			return []string{"-o", l, in}
		}},
		{"-o is a hard link to the input", func(in, dir string) []string {
			l := filepath.Join(dir, "hard")
			os.Link(in, l)
			return []string{"-o", l, in}
		}},
		{"-o is /dev/stdout redirected to the input", nil},
		{"two outputs are one file", func(in, dir string) []string {
			o := filepath.Join(dir, "o.arrow")
			return []string{"-o", o, "--summary", o, in}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "x.jsonl")
			if err := os.WriteFile(in, []byte(good), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout io.Writer = &bytes.Buffer{}
			var args []string
			if tt.args == nil {
				f, err := os.OpenFile(in, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				stdout = f
				args = []string{"-o", "-", in}
			} else {
				args = tt.args(in, dir)
			}
			err := Tokenize(context.Background(), append([]string{"--tokenizer", "builtin:bytes", "-q"}, args...), strings.NewReader(""), stdout, io.Discard)
			if ExitCode(err) != 2 || !strings.Contains(err.Error(), "same file") {
				t.Fatalf("err %v (exit %d), want a same-file usage error", err, ExitCode(err))
			}
			if b, _ := os.ReadFile(in); string(b) != good {
				t.Errorf("input changed: %q", b)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, ".*tmp-*")); len(m) > 0 {
				t.Errorf("temp files left: %v", m)
			}
		})
	}
}

// An unwritable --summary fails before any work, and -o is not written.
func TestUnwritableSummaryFailsFirst(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, "x.jsonl", `{"prompt":"a","chosen":"b","rejected":"c"}`+"\n")
	out := filepath.Join(dir, "o.arrow")
	err := Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "-q", "-o", out, "--summary", filepath.Join(dir, "nodir", "s.json"), in}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--summary") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("-o written although --summary cannot be")
	}
}
