package train_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// tinyLlama writes a small Llama config.json (vocab 259: builtin:bytes).
func tinyLlama(t testing.TB, dir string, hidden, layers int) string {
	t.Helper()
	cfg := map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"vocab_size":              259,
		"hidden_size":             hidden,
		"intermediate_size":       hidden * 172 / 64,
		"num_hidden_layers":       layers,
		"num_attention_heads":     4,
		"num_key_value_heads":     2,
		"max_position_embeddings": 256,
		"rms_norm_eps":            1e-6,
		"rope_theta":              10000.0,
		"hidden_act":              "silu",
		"tie_word_embeddings":     false,
		"torch_dtype":             "float32",
		"initializer_range":       0.02,
		"bos_token_id":            256,
		"eos_token_id":            257,
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// synthPair is a pair of token ids for writeStream.
type synthPair struct {
	id                       string
	prompt, chosen, rejected []int32
}

// writeStream writes pairs as a dpo stream; with refs (two values per pair)
// it adds the reference columns. extra are metadata key/value pairs.
func writeStream(t testing.TB, path string, ps []synthPair, refs [][2]float64, tokSHA string, extra ...[2]string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	meta := arrowio.NewMetadata("test", "dev")
	meta.SetTokenizer("builtin:bytes", tokSHA)
	for _, kv := range extra {
		meta.Set(kv[0], kv[1])
	}
	schema := arrowio.PairsSchema(meta)
	if refs != nil {
		schema = arrowio.RefLogpsSchema(meta)
	}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i, p := range ps {
		b.Field(0).(*array.StringBuilder).Append(p.id)
		for f, toks := range [][]int32{p.prompt, p.chosen, p.rejected} {
			lb := b.Field(1 + f).(*array.ListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Int32Builder).AppendValues(toks, nil)
		}
		if refs != nil {
			b.Field(4).(*array.Float64Builder).Append(refs[i][0])
			b.Field(5).(*array.Float64Builder).Append(refs[i][1])
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	out, err := arrowio.CreateOutput(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := arrowio.NewWriter(out, schema, arrowio.WriterOptions{Mem: mem, BatchRows: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Commit(); err != nil {
		t.Fatal(err)
	}
}

// readStream reads the pairs (and reference columns, if any) of a stream.
func readStream(t testing.TB, path string) (ps []synthPair, refs [][2]float64) {
	t.Helper()
	r, err := arrowio.Open(path, nil, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	hasRef := len(r.Schema().FieldIndices(arrowio.ColRefChosenLogps)) > 0
	for r.Next() {
		p, err := r.Pairs()
		if err != nil {
			t.Fatal(err)
		}
		var rc, rr []float64
		if hasRef {
			rc, _ = arrowio.Float64Column(r.Record(), arrowio.ColRefChosenLogps)
			rr, _ = arrowio.Float64Column(r.Record(), arrowio.ColRefRejectedLogps)
		}
		for i := 0; i < p.Rows; i++ {
			ps = append(ps, synthPair{id: p.ID.Value(i),
				prompt:   append([]int32(nil), p.Prompt.Row(i)...),
				chosen:   append([]int32(nil), p.Chosen.Row(i)...),
				rejected: append([]int32(nil), p.Rejected.Row(i)...)})
			if hasRef {
				refs = append(refs, [2]float64{rc[i], rr[i]})
			}
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return ps, refs
}

// engineRefs computes reference log-probs of pairs with the engine (the
// code path of dpo-reflogp) for the checkpoint in dir.
func engineRefs(t testing.TB, dir string, ps []synthPair) [][2]float64 {
	t.Helper()
	ck, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	return modelRefs(t, ck, ps)
}

func modelRefs(t testing.TB, ck *model.Checkpoint, ps []synthPair) [][2]float64 {
	t.Helper()
	e, err := engine.New(engine.Options{Backend: "go:ops_sequential"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m, err := e.LoadModel(ck)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := len(ps)
	seqs := make([]engine.Sequence, 2*n)
	for i, p := range ps {
		seqs[i] = engine.Sequence{Tokens: append(append([]int32(nil), p.prompt...), p.chosen...), PromptLen: len(p.prompt)}
		seqs[n+i] = engine.Sequence{Tokens: append(append([]int32(nil), p.prompt...), p.rejected...), PromptLen: len(p.prompt)}
	}
	lp, err := m.SequenceLogProbs(context.Background(), seqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][2]float64, n)
	for i := range out {
		out[i] = [2]float64{lp[i], lp[n+i]}
	}
	return out
}

// weightsBytes returns model.safetensors' tensors' raw bytes by name.
func weightsBytes(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range f.Names() {
		tt, _ := f.Tensor(n)
		out[n] = append([]byte(nil), tt.Data...)
	}
	return out
}

// synthPairs makes n pairs of random-ish byte tokens.
func synthPairs(n int, seed int) []synthPair {
	var ps []synthPair
	x := uint32(seed*7919 + 1)
	next := func() int32 { x = x*1664525 + 1013904223; return int32(x>>8) % 250 }
	for i := 0; i < n; i++ {
		p := synthPair{id: "p" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))}
		p.prompt = []int32{256}
		for j := 0; j < 3+i%5; j++ {
			p.prompt = append(p.prompt, next())
		}
		for j := 0; j < 2+i%4; j++ {
			p.chosen = append(p.chosen, next())
		}
		for j := 0; j < 1+i%6; j++ {
			p.rejected = append(p.rejected, next())
		}
		ps = append(ps, p)
	}
	return ps
}

var _ = arrow.PrimitiveTypes.Int32

// onXLA reports whether the tests run on an XLA backend (make test's second
// pass: GOMLX_BACKEND=xla:cpu in a -tags xla build).
func onXLA(t testing.TB) bool {
	t.Helper()
	kind, err := engine.ResolveBackendKind("")
	if err != nil {
		t.Fatal(err)
	}
	return strings.HasPrefix(kind, "xla")
}
