package cli

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestProgressOnTerminal: dpo-reflogp, dpo-score and dpo-train draw a
// progress line (done/total, rate, elapsed, ETA) on a terminal stderr, and
// print no control characters when stderr is not one.
func TestProgressOnTerminal(t *testing.T) {
	base := randomModel(t, 11)
	dir := t.TempDir()
	ref := writeBytes(t, dir, "ref.arrow", refStream(t, base, 24))
	tok := writeBytes(t, dir, "tok.arrow", tokenizeExample(t, 24))
	for _, term := range []bool{true, false} {
		fakeTerminal(t, term)
		for _, tt := range []struct {
			name string
			run  RunFunc
			args []string
			want string
		}{
			{"dpo-reflogp", Reflogp, []string{"--model", base, "-o", filepath.Join(dir, "r.arrow"), tok}, "/24 pairs ("},
			{"dpo-score", Score, []string{"--policy", base, "-o", filepath.Join(dir, "s.arrow"), ref}, "/24 pairs ("},
			{"dpo-train", Train, []string{"--model", base, "--out", filepath.Join(dir, "out"), "--overwrite", "--batch-size", "8", ref}, "/3 steps ("},
		} {
			var stderr bytes.Buffer
			if err := tt.run(t.Context(), tt.args, strings.NewReader(""), io.Discard, &stderr); err != nil {
				t.Fatalf("%s: %v\n%s", tt.name, err, stderr.String())
			}
			s := stderr.String()
			drawn := strings.Contains(s, "\r") && strings.Contains(s, tt.want) && strings.Contains(s, "/s, elapsed ") && strings.Contains(s, ", ETA ")
			if drawn != term || !term && strings.ContainsAny(s, "\r\033") {
				t.Errorf("%s, terminal %v: stderr %q", tt.name, term, s)
			}
		}
	}
}
