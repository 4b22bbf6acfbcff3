package engine

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

func relDiff(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(1e-12, math.Max(math.Abs(a), math.Abs(b)))
}

func testConfigs() map[string]*model.Config {
	qwen3 := tinyLlama()
	qwen3.Arch, qwen3.QKNorm, qwen3.HeadDim, qwen3.AttentionBias = model.ArchQwen3, true, 6, false
	qwen2 := tinyLlama()
	qwen2.Arch, qwen2.AttentionBias, qwen2.TieWordEmbeddings = model.ArchQwen2, true, true
	return map[string]*model.Config{"llama-gqa": tinyLlama(), "qwen3": qwen3, "qwen2": qwen2, "gpt2": tinyGPT2()}
}

// TestPaddingInvariance scores every sequence alone and inside mixed,
// padded batches: the results must be bit-identical (every batch of a length
// bucket has the same shape, see planBatches). This holds for the plain
// path only: a layout's compacted head and packed rows change shape with
// their content (TestLayoutsEqualPlain bounds the difference).
func TestPaddingInvariance(t *testing.T) {
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			ts := randomTensors(t, cfg, 3, safetensors.F32)
			big := newTestEngine(t, Options{BatchTokens: 1024, Layout: Switches{Plain: true}})
			mixed, err := big.LoadWeights(cfg, ts)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(5, 6))
			seqs := randomSeqs(rng, 20, cfg.VocabSize, 2, 40)
			got, err := mixed.SequenceLogProbs(context.Background(), seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range seqs {
				alone, err := mixed.SequenceLogProbs(context.Background(), []Sequence{s}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if d := relDiff(alone[0], got[i]); alone[0] != got[i] {
					t.Errorf("row %d (len %d, prompt %d): alone %.9g, in batch %.9g (rel %.2g)",
						i, len(s.Tokens), s.PromptLen, alone[0], got[i], d)
				}
				if s.PromptLen < len(s.Tokens) && !(got[i] < 0) {
					t.Errorf("row %d: log-prob %g should be negative", i, got[i])
				}
				if s.PromptLen == len(s.Tokens) && got[i] != 0 {
					t.Errorf("row %d: no completion tokens but log-prob %g", i, got[i])
				}
			}
		})
	}
}

// TestVocabChunking checks the online log-sum-exp merge: chunks of 7
// columns (not dividing the vocabulary) must give what one chunk gives.
func TestVocabChunking(t *testing.T) {
	cfg := tinyLlama()
	ts := randomTensors(t, cfg, 9, safetensors.F32)
	rng := rand.New(rand.NewPCG(1, 2))
	seqs := randomSeqs(rng, 6, cfg.VocabSize, 3, 30)
	var results [][][]float32
	for _, chunk := range []int{cfg.VocabSize, 7} {
		m, err := newTestEngine(t, Options{VocabChunk: chunk}).LoadWeights(cfg, ts)
		if err != nil {
			t.Fatal(err)
		}
		lp, err := m.TokenLogProbs(context.Background(), seqs, nil)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, lp)
	}
	for i := range seqs {
		for j := range results[0][i] {
			if d := relDiff(float64(results[0][i][j]), float64(results[1][i][j])); d > 1e-5 {
				t.Errorf("row %d token %d: one chunk %g, chunks of 7 %g", i, j, results[0][i][j], results[1][i][j])
			}
		}
	}
}

// TestTokenLogProbsNormalised checks that the per-token log-probs are a
// distribution: summing exp over every possible next token gives 1.
func TestTokenLogProbsNormalised(t *testing.T) {
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := newTestEngine(t, Options{VocabChunk: 16}).LoadWeights(cfg, randomTensors(t, cfg, 4, safetensors.F32))
			if err != nil {
				t.Fatal(err)
			}
			prefix := []int32{3, 1, 4, 1, 5}
			seqs := make([]Sequence, cfg.VocabSize)
			for v := range seqs {
				seqs[v] = Sequence{Tokens: append(append([]int32{}, prefix...), int32(v)), PromptLen: len(prefix)}
			}
			lp, err := m.SequenceLogProbs(context.Background(), seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			var total float64
			for _, v := range lp {
				total += math.Exp(v)
			}
			if math.Abs(total-1) > 1e-5 {
				t.Errorf("sum over the vocabulary of p(next) = %.8f, want 1", total)
			}
		})
	}
}

// TestBucketing scores 300 sequences of lengths 2..200 and checks that only
// a handful of graphs were compiled and that progress is reported.
func TestBucketing(t *testing.T) {
	cfg := tinyLlama()
	m, err := newTestEngine(t, Options{BatchTokens: 512}).LoadWeights(cfg, randomTensors(t, cfg, 1, safetensors.F32))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	seqs := randomSeqs(rng, 300, cfg.VocabSize, 2, 200)
	var calls, last int
	_, err = m.SequenceLogProbs(context.Background(), seqs, func(done, total int) {
		calls++
		if total != len(seqs) || done <= last {
			t.Errorf("progress(%d, %d) after %d", done, total, last)
		}
		last = done
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != len(seqs) {
		t.Errorf("progress ended at %d, want %d", last, len(seqs))
	}
	// Buckets 16..256 are 9 lengths; each compiles a full and at most one
	// partial batch shape.
	if n := m.NumCompiledGraphs(); n > 18 {
		t.Errorf("compiled %d graphs for 300 sequences, want <= 18", n)
	} else {
		t.Logf("%d batches, %d compiled graphs", calls, n)
	}
	// The runner counts every compilation, once per (graph, shapes).
	st := m.CompileStats()
	if st.Count != m.NumCompiledGraphs() || st.Seconds <= 0 {
		t.Errorf("CompileStats %+v, want Count %d and Seconds > 0", st, m.NumCompiledGraphs())
	}
	if _, err := m.SequenceLogProbs(context.Background(), seqs, nil); err != nil {
		t.Fatal(err)
	}
	if st2 := m.CompileStats(); st2 != st {
		t.Errorf("CompileStats %+v after scoring the same sequences again, want %+v (no new compilation)", st2, st)
	}
}

func TestPlanBatches(t *testing.T) {
	tests := []struct {
		n, want int
	}{{1, 16}, {16, 16}, {17, 24}, {24, 24}, {25, 32}, {33, 48}, {49, 64}, {65, 96}, {1000, 1024}, {1025, 1536}}
	for _, tc := range tests {
		if got := bucketLen(tc.n); got != tc.want {
			t.Errorf("bucketLen(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	lens := []int{30, 5, 17, 3, 100, 20, 31, 2}
	bs := planBatches(lens, 64)
	seen := map[int]bool{}
	for _, b := range bs {
		if len(b.rows) > b.size || b.size&(b.size-1) != 0 {
			t.Errorf("batch %+v: size must be a power of two >= rows", b)
		}
		if b.size*b.length > 64 && b.size > 1 {
			t.Errorf("batch %+v exceeds 64 tokens", b)
		}
		for _, r := range b.rows {
			if lens[r] > b.length || bucketLen(lens[r]) != b.length {
				t.Errorf("row %d (len %d) in batch of length %d", r, lens[r], b.length)
			}
			seen[r] = true
		}
	}
	if len(seen) != len(lens) {
		t.Errorf("planned %d rows, want %d", len(seen), len(lens))
	}
}

func TestInvalidSequences(t *testing.T) {
	cfg := tinyGPT2()
	m, err := newTestEngine(t, Options{}).LoadWeights(cfg, randomTensors(t, cfg, 1, safetensors.F32))
	if err != nil {
		t.Fatal(err)
	}
	ok := Sequence{Tokens: []int32{1, 2, 3}, PromptLen: 1}
	tests := []struct {
		name string
		bad  Sequence
		want string
	}{
		{"oov", Sequence{Tokens: []int32{1, 40, 3}, PromptLen: 1}, "row 2: token 40 at position 1 is outside the vocabulary [0, 40)"},
		{"negative", Sequence{Tokens: []int32{1, -1}, PromptLen: 1}, "row 2: token -1 at position 1"},
		{"empty", Sequence{}, "row 2: empty token sequence"},
		{"prompt0", Sequence{Tokens: []int32{1, 2}, PromptLen: 0}, "row 2: prompt length 0"},
		{"prompt-too-long", Sequence{Tokens: []int32{1, 2}, PromptLen: 3}, "row 2: prompt length 3"},
		{"too-long", Sequence{Tokens: make([]int32, 65), PromptLen: 1}, "row 2: model: sequence of 65 tokens exceeds n_positions 64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.SequenceLogProbs(context.Background(), []Sequence{ok, ok, tc.bad}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	cfg := tinyLlama()
	m, err := newTestEngine(t, Options{}).LoadWeights(cfg, randomTensors(t, cfg, 1, safetensors.F32))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.SequenceLogProbs(ctx, []Sequence{{Tokens: []int32{1, 2}, PromptLen: 1}}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestLoadErrors(t *testing.T) {
	e := newTestEngine(t, Options{})
	cfg := tinyLlama()
	tests := []struct {
		name   string
		mutate func(map[string]*safetensors.Tensor)
		want   string
	}{
		{"shape", func(ts map[string]*safetensors.Tensor) {
			ts["model.layers.1.self_attn.k_proj.weight"].Shape = []int{16, 8}
		}, `tensor "model.layers.1.self_attn.k_proj.weight" has shape [16 8], the config implies [8 16]`},
		{"missing", func(ts map[string]*safetensors.Tensor) { delete(ts, "model.norm.weight") }, `no tensor "model.norm.weight"`},
		{"unknown", func(ts map[string]*safetensors.Tensor) {
			ts["model.layers.9.mlp.up_proj.weight"] = ts["model.norm.weight"]
		}, `does not use, first "model.layers.9.mlp.up_proj.weight"`},
		{"bytes", func(ts map[string]*safetensors.Tensor) {
			ts["model.norm.weight"].Data = ts["model.norm.weight"].Data[:10]
		}, `model.norm.weight`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := randomTensors(t, cfg, 1, safetensors.F32)
			tc.mutate(ts)
			_, err := e.LoadWeights(cfg, ts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	bad := tinyLlama()
	bad.Arch = "FalconForCausalLM"
	if _, err := e.LoadWeights(bad, nil); err == nil || !strings.Contains(err.Error(), "unsupported architecture") {
		t.Errorf("unsupported arch: error %v", err)
	}
}

// TestGPT2UnprefixedNames loads GPT-2 weights named as the original
// openai-community files (no "transformer.") and exports them prefixed.
func TestGPT2UnprefixedNames(t *testing.T) {
	cfg := tinyGPT2()
	ts := randomTensors(t, cfg, 2, safetensors.F32)
	bare := map[string]*safetensors.Tensor{}
	for name, v := range ts {
		bare[strings.TrimPrefix(name, model.GPT2Prefix)] = v
	}
	bare["h.0.attn.bias"] = ts["transformer.ln_f.bias"] // a causal-mask buffer, ignored
	e := newTestEngine(t, Options{})
	m1, err := e.LoadWeights(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := e.LoadWeights(cfg, bare)
	if err != nil {
		t.Fatal(err)
	}
	seqs := []Sequence{{Tokens: []int32{5, 6, 7, 8}, PromptLen: 2}}
	a, err1 := m1.SequenceLogProbs(context.Background(), seqs, nil)
	b, err2 := m2.SequenceLogProbs(context.Background(), seqs, nil)
	if err1 != nil || err2 != nil || a[0] != b[0] {
		t.Errorf("prefixed %v %v, bare %v %v", a, err1, b, err2)
	}
	out, err := m2.ExportTensors()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out["transformer.h.1.mlp.c_fc.weight"]; !ok {
		t.Errorf("export lacks transformer.h.1.mlp.c_fc.weight")
	}
}

// TestExportRoundTrip checks that exporting returns the loaded bytes for
// F32 and BF16 checkpoints.
func TestExportRoundTrip(t *testing.T) {
	for _, dt := range []safetensors.DType{safetensors.F32, safetensors.BF16} {
		t.Run(string(dt), func(t *testing.T) {
			cfg := tinyLlama()
			ts := randomTensors(t, cfg, 11, dt)
			m, err := newTestEngine(t, Options{}).LoadWeights(cfg, ts)
			if err != nil {
				t.Fatal(err)
			}
			out, err := m.ExportTensors()
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(ts) {
				t.Errorf("exported %d tensors, loaded %d", len(out), len(ts))
			}
			for name, want := range ts {
				got := out[name]
				if got == nil || got.DType != want.DType || !bytes.Equal(got.Data, want.Data) {
					t.Errorf("tensor %q does not round-trip", name)
				}
			}
		})
	}
}

func TestBackendSelection(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	e := newTestEngine(t, Options{})
	if !backendRegistered("xla") && (e.BackendName() != DefaultGoBackend || e.BackendKind() != "go" || !strings.Contains(e.BackendNote(), "without -tags xla")) {
		t.Errorf("default backend %q (kind %q, note %q), want %q chosen by auto for a build without -tags xla", e.BackendName(), e.BackendKind(), e.BackendNote(), DefaultGoBackend)
	}
	t.Setenv("GOMLX_BACKEND", "go")
	if e2 := newTestEngine(t, Options{}); e2.BackendName() != DefaultGoBackend || e2.BackendKind() != "go" {
		t.Errorf("with GOMLX_BACKEND=go got %q (kind %q), want %q (plain go is GoMLX's stalling parallel mode)", e2.BackendName(), e2.BackendKind(), DefaultGoBackend)
	}
	if _, err := New(Options{Backend: "nosuch:x"}); err == nil || !strings.Contains(err.Error(), `backend "nosuch" is not compiled in`) {
		t.Errorf("unknown backend: %v", err)
	}
	if _, err := New(Options{Backend: "go:bogus_option"}); err == nil || !strings.Contains(err.Error(), "bogus_option") {
		t.Errorf("bad go option: %v", err)
	}
}

func TestClosedModel(t *testing.T) {
	cfg := tinyLlama()
	m, err := newTestEngine(t, Options{}).LoadWeights(cfg, randomTensors(t, cfg, 1, safetensors.F32))
	if err != nil {
		t.Fatal(err)
	}
	seqs := []Sequence{{Tokens: []int32{1, 2}, PromptLen: 1}}
	if _, err := m.SequenceLogProbs(context.Background(), seqs, nil); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := m.SequenceLogProbs(context.Background(), seqs, nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("after Close: %v", err)
	}
}
