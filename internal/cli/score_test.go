package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/arrowio"
)

func refStream(t *testing.T, dir string, n int, flags ...string) []byte {
	t.Helper()
	var ref bytes.Buffer
	args := append([]string{"--model", dir, "-q", "--batch-tokens", "512"}, flags...)
	if err := Reflogp(context.Background(), args, bytes.NewReader(tokenizeExample(t, n)), &ref, io.Discard); err != nil {
		t.Fatal(err)
	}
	return ref.Bytes()
}

// Scoring the reference itself on the plain path (--plain-batches: each
// sequence's value is bit-identical whatever else is in its batch): every
// reward is exactly 0, accuracy is 1/2 (all ties), and how often the policy
// prefers chosen equals the reference. With the default layouts, whose
// last bits depend on the batch, the log-probs agree within 1e-6.
func TestScoreReferenceAgainstItself(t *testing.T) {
	dir := randomModel(t, 3)
	t.Run("layouts", func(t *testing.T) {
		var out, errb bytes.Buffer
		if err := Score(context.Background(), []string{"--policy", dir, "--batch-tokens", "512", "--format", "jsonl"},
			bytes.NewReader(refStream(t, dir, 30)), &out, &errb); err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
		rows := 0
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var row map[string]any
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"chosen", "rejected"} {
				p, r := row["policy_"+c+"_logps"].(float64), row["ref_"+c+"_logps"].(float64)
				if d := math.Abs(p - r); d > 1e-6*math.Abs(r) || r == 0 {
					t.Errorf("%v: policy %s %v, reference %v", row["id"], c, p, r)
				}
			}
			rows++
		}
		if rows != 30 {
			t.Errorf("%d rows", rows)
		}
	})
	ref := refStream(t, dir, 30, "--plain-batches")
	sumPath := filepath.Join(t.TempDir(), "summary.json")
	var out, errb bytes.Buffer
	if err := Score(context.Background(), []string{"--policy", dir, "--summary", sumPath, "--batch-tokens", "512", "--plain-batches"}, bytes.NewReader(ref), &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var s ScoreSummary
	if err := json.Unmarshal(mustRead(t, sumPath), &s); err != nil {
		t.Fatal(err)
	}
	if s.Pairs != 30 || s.Ties != 30 || s.Accuracy != 0.5 || s.StrictAccuracy != 0 || s.Margin != 0 || s.Beta != 0.1 {
		t.Errorf("summary %+v", s)
	}
	if s.ReferencePrefersChosen == nil || *s.ReferencePrefersChosen != s.PolicyPrefersChosen {
		t.Errorf("policy %v vs reference %v prefer chosen", s.PolicyPrefersChosen, s.ReferencePrefersChosen)
	}
	if len(s.Worst) != 5 || !strings.HasPrefix(s.Worst[0].Prompt, "sort: ") {
		t.Errorf("worst pairs not decoded: %+v", s.Worst)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.NewReader(bytes.NewReader(out.Bytes()), "scored", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var names []string
	for _, f := range r.Schema().Fields() {
		names = append(names, f.Name)
	}
	want := "id,prompt_input_ids,chosen_input_ids,rejected_input_ids,ref_chosen_logps,ref_rejected_logps,policy_chosen_logps,policy_rejected_logps,reward_chosen,reward_rejected,reward_margin,correct"
	if strings.Join(names, ",") != want {
		t.Errorf("columns %v", names)
	}
	for r.Next() {
		rec := r.Record()
		pc, _ := arrowio.Float64Column(rec, arrowio.ColPolicyChosenLogps)
		rc, _ := arrowio.Float64Column(rec, arrowio.ColRefChosenLogps)
		for i := range pc {
			if pc[i] != rc[i] {
				t.Fatalf("policy %v != reference %v for the same weights", pc[i], rc[i])
			}
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

// Rewards are β·(log π − log π_ref) with β from dpo.json; jsonl output.
func TestScoreRewardsAndJSONL(t *testing.T) {
	refDir := randomModel(t, 4)
	policy := randomModel(t, 5)
	if err := ckpt.Write(policy, ckpt.Meta{TokenizerName: "builtin:bytes", TokenizerSHA256: "builtin:bytes", Beta: 0.5}); err != nil {
		t.Fatal(err)
	}
	ref := refStream(t, refDir, 12)
	var out bytes.Buffer
	if err := Score(context.Background(), []string{"--policy", policy, "--format", "jsonl", "-q", "--batch-tokens", "512"}, bytes.NewReader(ref), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 12 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		var row map[string]any
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatal(err)
		}
		f := func(k string) float64 { return row[k].(float64) }
		wantC := 0.5 * (f("policy_chosen_logps") - f("ref_chosen_logps"))
		wantR := 0.5 * (f("policy_rejected_logps") - f("ref_rejected_logps"))
		if !close(f("reward_chosen"), wantC) || !close(f("reward_rejected"), wantR) || !close(f("reward_margin"), wantC-wantR) || row["correct"].(bool) != (wantC-wantR > 0) {
			t.Errorf("row %v", row)
		}
	}
}

func close(a, b float64) bool { d := a - b; return d < 1e-12 && d > -1e-12 }

func TestScoreErrors(t *testing.T) {
	dir := randomModel(t, 6)
	tok := tokenizeExample(t, 5)
	for _, tt := range []struct {
		name  string
		args  []string
		input []byte
		code  int
		want  string
	}{
		{"no policy", nil, tok, 2, "--policy"},
		{"no reference columns", []string{"--policy", dir}, tok, 1, "dpo-reflogp"},
		{"empty stream", []string{"--policy", dir}, nil, 1, "stdin"},
		{"bad format", []string{"--policy", dir, "--format", "csv"}, tok, 2, "--format"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Score(context.Background(), append(tt.args, "-q"), bytes.NewReader(tt.input), io.Discard, io.Discard)
			if ExitCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v (code %d), want code %d mentioning %q", err, ExitCode(err), tt.code, tt.want)
			}
		})
	}
	// Reference-free scoring needs no reference columns.
	if err := Score(context.Background(), []string{"--policy", dir, "--reference-free", "true", "-q"}, bytes.NewReader(tok), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
}
