package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// TestScoreRank runs dpo-reflogp and dpo-score --rank on a completions
// stream made of the chosen and rejected completions of tokenized pairs, and
// checks policy_logp against dpo-reflogp's log-probs with the policy,
// reward = β·(policy − ref), the ranks and the summary against values
// recomputed here from the output and the judge's scores, and the errors.
func TestScoreRank(t *testing.T) {
	ref := randomModel(t, 5)
	policy := randomModel(t, 6)
	in := tokenizeExample(t, 8)
	pairs, meta := readPairsStream(t, in)
	ctx := context.Background()
	comp := completionsFromPairs(t, pairs, meta, 1024)
	var refComp, polComp, errb bytes.Buffer
	if err := Reflogp(ctx, []string{"--model", ref, "-q"}, bytes.NewReader(comp), &refComp, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	// The policy's log-probs as dpo-reflogp computes them (itself checked
	// against the pairs path in TestReflogpCompletions).
	if err := Reflogp(ctx, []string{"--model", policy, "-q"}, bytes.NewReader(comp), &polComp, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	pol := readFloatCols(t, polComp.Bytes(), arrowio.ColRefLogp)[0]
	// The judge prefers sample 0 (the chosen completion) except for every
	// third pair.
	dir := t.TempDir()
	scoresPath := filepath.Join(dir, "judged.jsonl")
	var sb strings.Builder
	judged := map[string][2]float64{}
	for i, p := range pairs {
		s := [2]float64{1, 0.25}
		if i%3 == 0 {
			s = [2]float64{0, 0.5}
		}
		judged[p.ID] = s
		for k := range 2 {
			fmt.Fprintf(&sb, `{"id":%q,"sample_index":%d,"prompt":"x","completion":"y","score":%v}`+"\n", p.ID, k, s[k])
		}
	}
	os.WriteFile(scoresPath, []byte(sb.String()), 0o644)

	var out bytes.Buffer
	errb.Reset()
	sumPath := filepath.Join(dir, "summary.json")
	if err := Score(ctx, []string{"--policy", policy, "--beta", "0.5", "--rank", "--scores", scoresPath, "--summary", sumPath}, bytes.NewReader(refComp.Bytes()), &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if names, m := streamColumns(t, out.Bytes()); !strings.HasSuffix(names, ",ref_logp,policy_logp,reward,rank,score") || !m.IsCompletions() {
		t.Errorf("columns %s", names)
	}
	rows := readRankRows(t, out.Bytes())
	if len(rows) != 2*len(pairs) {
		t.Fatalf("%d rows, want %d", len(rows), 2*len(pairs))
	}
	hits, topScore := 0, 0.0
	for i, r := range rows {
		p := i / 2
		if r.ID != pairs[p].ID || int(r.SampleIndex) != i%2 {
			t.Fatalf("row %d is %s/%d: order not kept", i, r.ID, r.SampleIndex)
		}
		if want := pol[i]; math.Abs(r.PolicyLogp-want) > 1e-6*max(1, math.Abs(want)) {
			t.Errorf("row %d: policy_logp %v, dpo-reflogp with the policy %v", i, r.PolicyLogp, want)
		}
		if w := 0.5 * (r.PolicyLogp - r.RefLogp); math.Abs(r.Reward-w) > 1e-12*max(1, math.Abs(w)) {
			t.Errorf("row %d: reward %v, want 0.5·(policy − ref) = %v", i, r.Reward, w)
		}
		if r.Score != judged[r.ID][i%2] {
			t.Errorf("row %d: score %v, judge wrote %v", i, r.Score, judged[r.ID][i%2])
		}
		if i%2 == 1 {
			a, b := rows[i-1], r
			wantTop := 0
			if b.Reward > a.Reward {
				wantTop = 1
			}
			if (a.Rank == 1) != (wantTop == 0) || a.Rank+b.Rank != 3 {
				t.Errorf("pair %s: ranks %d, %d for rewards %v, %v", a.ID, a.Rank, b.Rank, a.Reward, b.Reward)
			}
			s := judged[a.ID]
			top := s[wantTop]
			topScore += top
			if top == max(s[0], s[1]) {
				hits++
			}
		}
	}
	var sum RankSummary
	b, _ := os.ReadFile(sumPath)
	if err := json.Unmarshal(b, &sum); err != nil || sum.Judged == nil {
		t.Fatalf("summary %s: %v", b, err)
	}
	n := float64(len(pairs))
	if sum.Prompts != int64(len(pairs)) || sum.MeanCandidates != 2 || math.Abs(sum.Judged.TopIsBest-float64(hits)/n) > 1e-12 || math.Abs(sum.Judged.TopScore-topScore/n) > 1e-12 || sum.Judged.TopIsBestRandom != 0.5 {
		t.Errorf("summary %+v %+v; want %d hits of %v, top score %v", sum, *sum.Judged, hits, n, topScore/n)
	}
	if !strings.Contains(errb.String(), "top-ranked candidate is the judge's best in") {
		t.Errorf("stderr lacks the summary:\n%s", errb.String())
	}

	// A score column in the stream is used without --scores; JSONL output.
	three := writeCompletions(t, meta, []arrowio.Completion{
		{ID: "a", SampleIndex: 0, PromptIDs: pairs[0].Prompt, CompletionIDs: pairs[0].Chosen},
		{ID: "a", SampleIndex: 1, PromptIDs: pairs[0].Prompt, CompletionIDs: pairs[0].Rejected},
		{ID: "b", SampleIndex: 0, PromptIDs: pairs[1].Prompt, CompletionIDs: pairs[1].Chosen},
	}, 0, map[string][]float64{arrowio.ColRefLogp: {-3, -3, -3}, arrowio.ColScore: {0.5, 0.5, 0.75}})
	var jl bytes.Buffer
	errb.Reset()
	if err := Score(ctx, []string{"--policy", policy, "--rank", "--format", "jsonl"}, bytes.NewReader(three), &jl, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(jl.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 || lines[2]["score"] != 0.75 || lines[2]["rank"] != 1.0 || lines[0]["rank"].(float64)+lines[1]["rank"].(float64) != 3 {
		t.Errorf("jsonl rows %v", lines)
	}
	if !strings.Contains(errb.String(), "top-ranked candidate is the judge's best in 1.000 of prompts") {
		t.Errorf("stderr:\n%s", errb.String())
	}

	for _, tc := range []struct {
		name string
		args []string
		in   []byte
		err  string
	}{
		{"no ref_logp", []string{"--rank"}, comp, "has no ref_logp column: run dpo-reflogp"},
		{"pairs with --rank", []string{"--rank"}, in, "is not a completions stream"},
		{"completions without --rank", nil, refComp.Bytes(), "rank its completions with --rank"},
		{"--scores without --rank", []string{"--scores", scoresPath}, in, "--scores needs --rank"},
		{"--rank --shard", []string{"--rank", "--shard", "1/2"}, refComp.Bytes(), "--rank does not take"},
		{"missing judge score", []string{"--rank", "--scores", writeFile(t, "short.jsonl", `{"id":"heldout-0000","sample_index":0,"score":1}`+"\n")}, refComp.Bytes(), `(id "heldout-0000", sample 1): no score in`},
		{"null judge score", []string{"--rank", "--scores", writeFile(t, "null.jsonl", `{"id":"heldout-0000","sample_index":0,"score":null}`+"\n")}, refComp.Bytes(), "null.jsonl:1: field score: missing or null"},
		// A completion scored twice names both lines; a score for a
		// completion the stream does not have names its line.
		{"judge row twice", []string{"--rank", "--scores", writeFile(t, "twice.jsonl", sb.String()+strings.SplitAfter(sb.String(), "\n")[3])}, refComp.Bytes(),
			fmt.Sprintf(`twice.jsonl:%d: id %q sample 1 scored twice (also on line 4)`, strings.Count(sb.String(), "\n")+1, pairs[1].ID)},
		{"judge row for no completion", []string{"--rank", "--scores", writeFile(t, "extra.jsonl", sb.String()+`{"id":"heldout-0000","sample_index":7,"score":1}`+"\n")}, refComp.Bytes(),
			fmt.Sprintf(`extra.jsonl:%d: id "heldout-0000" sample 7: no such completion in stdin`, strings.Count(sb.String(), "\n")+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Score(ctx, append([]string{"--policy", policy, "-q"}, tc.args...), bytes.NewReader(tc.in), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v, want %q", err, tc.err)
			}
		})
	}
}

type rankedRow struct {
	ID                                 string
	SampleIndex                        int32
	RefLogp, PolicyLogp, Reward, Score float64
	Rank                               int32
}

// readRankRows reads dpo-score --rank's Arrow output.
func readRankRows(t testing.TB, data []byte) []rankedRow {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.NewReader(bytes.NewReader(data), "ranked", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var rows []rankedRow
	for r.Next() {
		rec := r.Record()
		c, err := arrowio.ReadCompletions(rec)
		if err != nil {
			t.Fatal(err)
		}
		var f [4][]float64
		for k, n := range []string{arrowio.ColRefLogp, arrowio.ColPolicyLogp, arrowio.ColReward, arrowio.ColScore} {
			if f[k], err = arrowio.Float64Column(rec, n); err != nil {
				t.Fatal(err)
			}
		}
		rank, err := arrowio.Int32Column(rec, arrowio.ColRank)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.Rows {
			rows = append(rows, rankedRow{c.ID.Value(i), c.SampleIndex[i], f[0][i], f[1][i], f[2][i], f[3][i], rank[i]})
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}
