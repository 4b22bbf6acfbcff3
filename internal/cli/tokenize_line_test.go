package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dpo-go/dpo/pkg/pairs"
)

// endless is an unending line of 'a's; it counts the bytes read.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n += int64(len(p))
	return len(p), nil
}

// dpo-tokenize refuses a JSON Lines record longer than --max-line-bytes
// (default pairs.DefaultMaxLineBytes) with file:line, having read little
// more than the limit: an endless line ends with an error, not an OOM.
func TestTokenizeLineLimit(t *testing.T) {
	good := `{"prompt": "a", "chosen": "b", "rejected": "c"}` + "\n"
	for _, c := range []struct {
		name  string
		args  []string
		limit int64
	}{
		{"flag", []string{"--max-line-bytes", "1MiB"}, 1 << 20},
		{"default", nil, pairs.DefaultMaxLineBytes},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &endless{}
			in := io.MultiReader(strings.NewReader(good+`{"prompt": "`), src)
			done := make(chan error, 1)
			go func() {
				done <- Tokenize(context.Background(), append([]string{"--tokenizer", "builtin:bytes", "-q"}, c.args...), in, io.Discard, io.Discard)
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("still reading the endless line after 60 s")
			}
			if err == nil || ExitCode(err) != 1 || !errors.Is(err, pairs.ErrLineTooLong) {
				t.Fatalf("err %v (exit %d), want exit 1 with ErrLineTooLong", err, ExitCode(err))
			}
			for _, w := range []string{"<stdin>:2", "--max-line-bytes"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if src.n > c.limit+1<<20 {
				t.Errorf("read %d bytes of the line, limit %d", src.n, c.limit)
			}
		})
	}
	// Under the limit, with no limit, and with the limit raised, a long line is read.
	long := `{"prompt": "` + strings.Repeat("x", 3<<20) + `", "chosen": "b", "rejected": "c"}` + "\n"
	for _, args := range [][]string{{"--max-line-bytes", "0"}, {"--max-line-bytes", "4MiB"}, nil} {
		var out bytes.Buffer
		if err := Tokenize(context.Background(), append([]string{"--tokenizer", "builtin:bytes", "-q", "--max-length", "0"}, args...), strings.NewReader(long), &out, io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	if err := Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "-q", "--max-line-bytes", "1MiB"}, strings.NewReader(long), io.Discard, io.Discard); !errors.Is(err, pairs.ErrLineTooLong) {
		t.Errorf("3 MiB line under --max-line-bytes 1MiB: %v", err)
	}
}

// A runaway chat template (a 1e10-step double loop) fails within the
// render budgets with an error naming the template file.
func TestTokenizeTemplateBudget(t *testing.T) {
	tmpl := writeBytes(t, t.TempDir(), "evil.jinja", []byte("{% for m in messages %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ m.content }}{% endfor %}"))
	in := `{"prompt": [{"role": "user", "content": "a"}], "chosen": [{"role": "assistant", "content": "b"}], "rejected": [{"role": "assistant", "content": "c"}]}` + "\n"
	start := time.Now()
	err := Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "--chat-template", tmpl, "-q"}, strings.NewReader(in), io.Discard, io.Discard)
	if err == nil || ExitCode(err) != 1 || !strings.Contains(err.Error(), "evil.jinja") || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("err %v (exit %d), want exit 1 naming evil.jinja and the limit", err, ExitCode(err))
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("took %v", el)
	}
}

// The same bound holds for one element of a JSON array (--format json).
func TestTokenizeJSONArrayRecordLimit(t *testing.T) {
	src := &endless{}
	in := io.MultiReader(strings.NewReader(`[{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": "`), src)
	done := make(chan error, 1)
	go func() {
		done <- Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "-q", "--format", "json", "--max-line-bytes", "1MiB"}, in, io.Discard, io.Discard)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("still reading the endless element after 60 s")
	}
	if !errors.Is(err, pairs.ErrLineTooLong) || !strings.Contains(err.Error(), "row 1") {
		t.Fatalf("err %v, want ErrLineTooLong naming row 1", err)
	}
	if src.n > 5<<20 { // the decoder reads ahead by its buffer: a few times the limit
		t.Errorf("read %d bytes of the element, limit 1 MiB", src.n)
	}
	long := `[{"prompt": "` + strings.Repeat("x", 3<<20) + `", "chosen": "b", "rejected": "c"}, {"prompt": "a", "chosen": "b", "rejected": "c"}]`
	if err := Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "-q", "--format", "json", "--max-length", "0"}, strings.NewReader(long), io.Discard, io.Discard); err != nil {
		t.Errorf("3 MiB element under the default limit: %v", err)
	}
	if err := Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "-q", "--format", "json", "--max-line-bytes", "2MiB"}, strings.NewReader(long), io.Discard, io.Discard); !errors.Is(err, pairs.ErrLineTooLong) {
		t.Errorf("3 MiB element under --max-line-bytes 2MiB: %v", err)
	}
}
