package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
)

// A row whose forward pass would need more than --max-batch-memory is
// refused before its batch is built, naming the row; the rows before it
// are not enough to trip the limit.
func TestReflogpRefusesTooBigRow(t *testing.T) {
	dir := randomModel(t, 1)
	var in strings.Builder
	for i := range 3 {
		fmt.Fprintf(&in, `{"id":"short-%d","prompt":"sort: 3 1 2","chosen":" 1 2 3","rejected":" 3 2 1"}`+"\n", i)
	}
	fmt.Fprintf(&in, `{"id":"huge","prompt":"%s","chosen":" 1","rejected":" 2"}`+"\n", strings.Repeat("9 ", 20000))
	var tok bytes.Buffer
	if err := Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "--max-length", "0", "-q"}, strings.NewReader(in.String()), &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg, err := model.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := &memBudget{cfg: cfg, batchTokens: 4096}
	small, _, _ := b.estimate(40)
	big, _, _ := b.estimate(40000)
	limit := int64(4 * small)
	if float64(limit) >= big {
		t.Fatalf("estimates %v and %v do not separate", small, big)
	}
	err = Reflogp(context.Background(), []string{"--model", dir, "-q", "--max-batch-memory", fmt.Sprint(limit)}, bytes.NewReader(tok.Bytes()), io.Discard, io.Discard)
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), `id "huge"`) || !strings.Contains(err.Error(), "--max-batch-memory") {
		t.Fatalf("err %v (exit %d), want exit 1 naming the row and the flag", err, ExitCode(err))
	}
	// Without the long row the same limit passes.
	var tok2 bytes.Buffer
	short := strings.Join(strings.SplitAfter(in.String(), "\n")[:3], "")
	if err := Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "-q"}, strings.NewReader(short), &tok2, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := Reflogp(context.Background(), []string{"--model", dir, "-q", "--max-batch-memory", fmt.Sprint(limit)}, bytes.NewReader(tok2.Bytes()), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	// A bad flag value is a usage error.
	if err := Reflogp(context.Background(), []string{"--model", dir, "--max-batch-memory", "lots"}, bytes.NewReader(tok2.Bytes()), io.Discard, io.Discard); ExitCode(err) != 2 {
		t.Errorf("bad --max-batch-memory: %v", err)
	}
}

// The default limit is computed from available memory: a 52M-token row is
// refused whatever the machine.
func TestDefaultBudgetRefuses52MTokens(t *testing.T) {
	cfg := &model.Config{HiddenSize: 64, IntermediateSize: 172, NumHeads: 4, VocabSize: 259}
	b, err := newMemBudget("auto", cfg, 4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.limit == 0 {
		t.Skip("available memory unknown on this platform")
	}
	if err := b.check(52_000_000); err == nil {
		t.Error("a 52M-token row passes the default budget")
	}
	if err := b.check(512); err != nil {
		t.Errorf("a 512-token row fails: %v", err)
	}
	for _, tc := range []struct {
		in   string
		want int64
	}{{"16GiB", 16 << 30}, {"512M", 512 << 20}, {"0", 0}, {"1000", 1000}, {"1.5k", 1536}} {
		if got, err := parseBytes(tc.in); err != nil || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
