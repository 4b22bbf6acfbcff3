package engine

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/model"
)

// goldenSeq is one sequence of testdata/models/<case>/golden.json, written
// by the independent PyTorch implementation. Field names are accepted in
// the spellings below.
type goldenSeq struct {
	Tokens    []int32
	PromptLen int
	Sum       float64
	PerToken  []float64 // completion tokens only; may be empty
}

func firstKey(m map[string]json.RawMessage, keys ...string) (json.RawMessage, bool) {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v, true
		}
	}
	return nil, false
}

func parseGolden(t *testing.T, path string) (seqs []goldenSeq, tol float64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tol = 1e-5
	if v, ok := firstKey(top, "rel_tolerance", "tolerance", "rtol"); ok {
		if err := json.Unmarshal(v, &tol); err != nil {
			t.Fatalf("%s: tolerance: %v", path, err)
		}
	}
	raw, ok := firstKey(top, "sequences", "seqs", "rows")
	if !ok {
		t.Fatalf("%s: no \"sequences\" list", path)
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatalf("%s: sequences: %v", path, err)
	}
	for i, r := range rows {
		var s goldenSeq
		get := func(dst any, keys ...string) {
			v, ok := firstKey(r, keys...)
			if !ok {
				t.Fatalf("%s: sequence %d has none of %v", path, i, keys)
			}
			if err := json.Unmarshal(v, dst); err != nil {
				t.Fatalf("%s: sequence %d field %s: %v", path, i, keys[0], err)
			}
		}
		get(&s.Tokens, "tokens", "token_ids", "input_ids", "ids")
		get(&s.PromptLen, "prompt_len", "prompt_length", "prompt_tokens")
		get(&s.Sum, "logp", "logprob", "sum_logprob", "completion_logprob", "expected_logprob", "sum")
		if v, ok := firstKey(r, "token_logps", "token_logprobs", "per_token_logprobs", "per_token", "logprobs"); ok {
			if err := json.Unmarshal(v, &s.PerToken); err != nil {
				t.Fatalf("%s: sequence %d per-token log-probs: %v", path, i, err)
			}
		}
		seqs = append(seqs, s)
	}
	return seqs, tol
}

// TestGoldenModels loads every testdata/models/<case> checkpoint (written
// with a PyTorch reference) and compares summed completion log-probs within
// the golden's relative tolerance (default 1e-5) and per-token log-probs.
func TestGoldenModels(t *testing.T) {
	root := filepath.Join(testrefs.Root(), "testdata", "models")
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "golden.json"))
	if len(dirs) == 0 {
		if os.Getenv("DPO_REQUIRE_REFS") == "1" {
			t.Fatalf("no golden models under %s", root)
		}
		t.Skipf("golden models not committed yet under %s", root)
	}
	e := newTestEngine(t, Options{BatchTokens: 512, VocabChunk: 4096})
	for _, golden := range dirs {
		dir := filepath.Dir(golden)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ck, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			m, err := e.LoadModel(ck)
			if err != nil {
				t.Fatal(err)
			}
			gs, tol := parseGolden(t, golden)
			seqs := make([]Sequence, len(gs))
			for i, g := range gs {
				seqs[i] = Sequence{Tokens: g.Tokens, PromptLen: g.PromptLen}
			}
			sums, err := m.SequenceLogProbs(context.Background(), seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			toks, err := m.TokenLogProbs(context.Background(), seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			var worst float64
			for i, g := range gs {
				worst = math.Max(worst, relDiff(sums[i], g.Sum))
				if d := relDiff(sums[i], g.Sum); d > tol {
					t.Errorf("sequence %d: log-prob %.9g, reference %.9g (rel %.2g > %.0g)", i, sums[i], g.Sum, d, tol)
				}
				if len(g.PerToken) == 0 {
					continue
				}
				if len(g.PerToken) != len(toks[i]) {
					t.Errorf("sequence %d: %d per-token log-probs, reference has %d", i, len(toks[i]), len(g.PerToken))
					continue
				}
				for j, w := range g.PerToken {
					if got := float64(toks[i][j]); math.Abs(got-w) > 10*tol*math.Max(1, math.Abs(w)) {
						t.Errorf("sequence %d token %d: %.7g, reference %.7g", i, j, got, w)
					}
				}
			}
			t.Logf("%d sequences, worst relative difference of the sums %.2g", len(gs), worst)
		})
	}
}
