package refbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// Shape is the size of a benchmark model. The family is Qwen2 (q/k/v
// biases, SwiGLU, RMSNorm, RoPE θ 1e6, tied embeddings) like Qwen2.5-0.5B.
type Shape struct {
	Layers, Hidden, Heads, KVHeads, Intermediate, Vocab int
}

// Config returns the config.json of s.
func (s Shape) Config() ([]byte, error) {
	if s.Layers <= 0 || s.Hidden <= 0 || s.Heads <= 0 || s.KVHeads <= 0 || s.Intermediate <= 0 || s.Vocab <= 0 {
		return nil, fmt.Errorf("refbench: every dimension must be > 0, got %+v", s)
	}
	if s.Hidden%s.Heads != 0 || s.Heads%s.KVHeads != 0 {
		return nil, fmt.Errorf("refbench: hidden %d must be a multiple of heads %d, and heads of kv-heads %d", s.Hidden, s.Heads, s.KVHeads)
	}
	return json.MarshalIndent(map[string]any{
		"architectures":           []string{"Qwen2ForCausalLM"},
		"model_type":              "qwen2",
		"hidden_act":              "silu",
		"hidden_size":             s.Hidden,
		"intermediate_size":       s.Intermediate,
		"num_hidden_layers":       s.Layers,
		"max_window_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.KVHeads,
		"vocab_size":              s.Vocab,
		"max_position_embeddings": 32768,
		"rms_norm_eps":            1e-6,
		"rope_theta":              1000000.0,
		"tie_word_embeddings":     true,
		"use_sliding_window":      false,
		"initializer_range":       0.02,
		"torch_dtype":             "float32",
	}, "", "  ")
}

// MkModel writes a random-init float32 checkpoint (config.json +
// model.safetensors) with model.RandomInit and model.Save.
func MkModel(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkmodel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output `DIR`")
	var s Shape
	fs.IntVar(&s.Layers, "layers", 4, "num_hidden_layers")
	fs.IntVar(&s.Hidden, "hidden", 256, "hidden_size")
	fs.IntVar(&s.Heads, "heads", 4, "num_attention_heads")
	fs.IntVar(&s.KVHeads, "kv-heads", 2, "num_key_value_heads")
	fs.IntVar(&s.Intermediate, "intermediate", 1024, "intermediate_size")
	fs.IntVar(&s.Vocab, "vocab", 32000, "vocab_size")
	seed := fs.Int64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return errors.New("mkmodel: --out DIR is required and takes no arguments")
	}
	js, err := s.Config()
	if err != nil {
		return err
	}
	cfg, err := model.ParseConfig(js)
	if err != nil {
		return fmt.Errorf("mkmodel: %w", err)
	}
	if err := model.Save(*out, model.RandomInit(cfg, *seed), safetensors.F32); err != nil {
		return fmt.Errorf("mkmodel: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %s, %d layers, hidden %d, intermediate %d, heads %d/%d, vocab %d\n",
		*out, cfg.Arch, cfg.NumLayers, cfg.HiddenSize, cfg.IntermediateSize, cfg.NumHeads, cfg.NumKVHeads, cfg.VocabSize)
	return nil
}

// PairSpec describes synthetic pairs: N pairs whose prompt, chosen and
// rejected hold exactly Prompt, Chosen and Rejected token ids drawn
// uniformly from [0, Vocab).
type PairSpec struct {
	N, Prompt, Chosen, Rejected, Vocab int
	Seed                               uint64
}

func (p PairSpec) validate() error {
	if p.N <= 0 || p.Prompt <= 0 || p.Chosen <= 0 || p.Rejected <= 0 || p.Vocab <= 0 {
		return fmt.Errorf("refbench: pairs need n, prompt, chosen, rejected and vocab > 0, got %+v", p)
	}
	return nil
}

// WritePairs writes the pairs of spec as a dpo pairs stream (zstd, record
// batches of batchRows rows; <= 0: the writer's default).
func WritePairs(w io.Writer, spec PairSpec, batchRows int, mem memory.Allocator) (err error) {
	if err := spec.validate(); err != nil {
		return err
	}
	meta := arrowio.NewMetadata("refbench", "dev")
	meta.SetTokenizer("refbench:random-ids", arrowio.HashString(fmt.Sprintf("random ids < %d", spec.Vocab)))
	if err := meta.SetStage(arrowio.StageTokenize, "dev", spec); err != nil {
		return err
	}
	schema := arrowio.PairsSchema(meta)
	aw, err := arrowio.NewWriter(w, schema, arrowio.WriterOptions{BatchRows: batchRows, Mem: mem})
	if err != nil {
		return err
	}
	b, err := arrowio.NewPairBuilder(mem, schema)
	if err != nil {
		return err
	}
	defer b.Release()
	r := rand.New(rand.NewPCG(spec.Seed, 0x5eed))
	ids := func(n int) []int32 {
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(r.IntN(spec.Vocab))
		}
		return v
	}
	for i := range spec.N {
		b.Append(fmt.Sprintf("r%05d", i), ids(spec.Prompt), ids(spec.Chosen), ids(spec.Rejected))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := aw.Write(rec); err != nil {
		return err
	}
	return aw.Close()
}

// MkPairs is the command form of WritePairs.
func MkPairs(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkpairs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s PairSpec
	fs.IntVar(&s.N, "n", 64, "pairs")
	fs.IntVar(&s.Prompt, "prompt-len", 128, "prompt tokens")
	fs.IntVar(&s.Chosen, "chosen-len", 128, "chosen tokens")
	fs.IntVar(&s.Rejected, "rejected-len", 128, "rejected tokens")
	fs.IntVar(&s.Vocab, "vocab", 32000, "token ids are drawn from [0, vocab)")
	fs.Uint64Var(&s.Seed, "seed", 1, "random seed")
	batchRows := fs.Int("batch-rows", 0, "rows per record batch (0: the stream writer's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("mkpairs: no arguments; the stream goes to stdout")
	}
	bw := bufio.NewWriter(stdout)
	if err := WritePairs(bw, s, *batchRows, memory.DefaultAllocator); err != nil {
		return fmt.Errorf("mkpairs: %w", err)
	}
	return bw.Flush()
}
