package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
)

// loadedModel is a checkpoint loaded into an engine.
type loadedModel struct {
	dir  string // as given: a model or a PEFT adapter directory
	base string // the model directory (dir without an adapter)
	// adapter is the attached LoRA adapter (nil without).
	adapter *adapter.Adapter
	eng     *engine.Engine
	model   *engine.Model
	ck      *model.Checkpoint
	log     io.Writer // where Close reports the compilations (nil: nowhere)
}

func (l *loadedModel) Close() {
	if l.model != nil {
		logCompiles(l.log, l.eng, l.model)
		l.model.Close()
	}
	if l.ck != nil {
		l.ck.Close()
	}
	if l.eng != nil {
		l.eng.Close()
	}
}

// loadModel opens a Hugging Face checkpoint directory on a new engine.
func loadModel(dir string, opts engine.Options) (*loadedModel, error) {
	ck, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	l := &loadedModel{dir: dir, base: dir, ck: ck}
	if l.eng, err = engine.New(opts); err != nil {
		l.Close()
		return nil, err
	}
	if l.model, err = l.eng.LoadModel(ck); err != nil {
		l.Close()
		return nil, fmt.Errorf("loading %s: %w", dir, err)
	}
	return l, nil
}

// checkModelTokenizer refuses a stream whose tokenizer is not the model
// directory's (tokenizer.json, or dpo.json written by dpo-train), and token
// ids the model's vocabulary cannot hold. ignore turns the identity check
// into a warning.
func checkModelTokenizer(meta arrowio.Metadata, dir string, vocab int, ignore bool, log io.Writer) error {
	name, sha, ok, err := ckpt.Tokenizer(dir)
	if err != nil {
		return err
	}
	switch {
	case !ok && !ignore:
		sn, _ := meta.Tokenizer()
		return fmt.Errorf("model directory %s has no tokenizer.json or dpo.json, so the stream's tokenizer (%s) cannot be checked against it; pass --ignore-tokenizer-mismatch if you know they match", dir, sn)
	case ok:
		if err := meta.CheckSameTokenizer(name, sha); err != nil {
			if !ignore {
				return err
			}
			fmt.Fprintf(log, "warning: %v (ignored)\n", err)
		}
	}
	return nil
}

// pairSequences turns a batch of pairs into 2n engine sequences: chosen
// rows at even indices, rejected at odd ones. The prompt must hold at least
// one token for the first completion token to have a prediction; with an
// empty prompt, the first completion token is not scored (as in TRL, whose
// labels are shifted by one).
func pairSequences(p arrowio.Pairs, vocab int, budget *memBudget, input string, batch int) ([]engine.Sequence, error) {
	seqs := make([]engine.Sequence, 0, 2*p.Rows)
	for i := 0; i < p.Rows; i++ {
		prompt := p.Prompt.Row(i)
		for _, c := range []struct {
			name string
			ids  []int32
		}{{arrowio.ColChosenInputIDs, p.Chosen.Row(i)}, {arrowio.ColRejectedInputIDs, p.Rejected.Row(i)}} {
			if err := budget.check(len(prompt) + len(c.ids)); err != nil {
				return nil, fmt.Errorf("%s: batch %d, row %d (id %q): prompt + %s: %w", input, batch, i, p.ID.Value(i), c.name, err)
			}
			toks := make([]int32, 0, len(prompt)+len(c.ids))
			toks = append(append(toks, prompt...), c.ids...)
			for j, t := range toks {
				if t < 0 || int(t) >= vocab {
					field := arrowio.ColPromptInputIDs
					if j >= len(prompt) {
						field, j = c.name, j-len(prompt)
					}
					return nil, fmt.Errorf("%s: batch %d, row %d (id %q): %s[%d] = %d is outside the model's vocabulary of %d", input, batch, i, p.ID.Value(i), field, j, t, vocab)
				}
			}
			if len(c.ids) == 0 {
				return nil, fmt.Errorf("%s: batch %d, row %d (id %q): %s is empty", input, batch, i, p.ID.Value(i), c.name)
			}
			seqs = append(seqs, engine.Sequence{Tokens: toks, PromptLen: max(1, len(prompt))})
		}
	}
	return seqs, nil
}

// scoreBatch returns the summed completion log-probs of chosen and rejected
// for every row of rec.
//
// With ldAlpha (TRL's ld_alpha, LD-DPO), each sequence's tokens past the
// pair's shorter completion count with weight *ldAlpha: the sum over the
// first min(|chosen|, |rejected|) scored tokens plus ldAlpha times the sum
// over the rest, as TRL 1.16's DPOTrainer weighs policy and reference.
func scoreBatch(ctx context.Context, m *engine.Model, budget *memBudget, rec arrow.RecordBatch, input string, batch int, ldAlpha *float64) (chosen, rejected []float64, tokens int64, err error) {
	p, err := arrowio.ReadPairs(rec)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: batch %d: %w", input, batch, err)
	}
	seqs, err := pairSequences(p, m.Config().VocabSize, budget, input, batch)
	if err != nil {
		return nil, nil, 0, err
	}
	var lp []float64
	if ldAlpha == nil {
		lp, err = m.SequenceLogProbs(ctx, seqs, nil)
	} else {
		lp, err = ldWeightedLogProbs(ctx, m, seqs, *ldAlpha)
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: batch %d: %w", input, batch, err)
	}
	chosen, rejected = make([]float64, p.Rows), make([]float64, p.Rows)
	for i := range p.Rows {
		chosen[i], rejected[i] = lp[2*i], lp[2*i+1]
		tokens += int64(len(seqs[2*i].Tokens) + len(seqs[2*i+1].Tokens))
	}
	// The same rule as for a stream's log-prob columns: a NaN or positive
	// value (NaN weights, an overflow) is an error, never data.
	for _, c := range []struct {
		col string
		v   []float64
	}{{arrowio.ColChosenInputIDs, chosen}, {arrowio.ColRejectedInputIDs, rejected}} {
		if err := arrowio.CheckLogProbs(rec, "the model's log-probability of "+c.col, c.v); err != nil {
			return nil, nil, 0, fmt.Errorf("%s: batch %d, %w (are the model's weights finite?)", input, batch, err)
		}
	}
	return chosen, rejected, tokens, nil
}

// float64Array builds an Arrow float64 array.
func float64Array(mem memory.Allocator, v []float64) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.AppendValues(v, nil)
	return b.NewArray()
}

// boolArray builds an Arrow bool array.
func boolArray(mem memory.Allocator, v []bool) arrow.Array {
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	b.AppendValues(v, nil)
	return b.NewArray()
}

// appendColumns writes rec with extra columns to w.
func appendColumns(w *arrowio.Writer, rec arrow.RecordBatch, cols ...arrow.Array) error {
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	out, err := arrowio.AppendColumns(w.Schema(), rec, cols...)
	if err != nil {
		return err
	}
	defer out.Release()
	return w.Write(out)
}

var errNoRows = errors.New("the input stream has no rows")

// modelFlags are the engine flags of the tools that run a model.
type modelFlags struct {
	opts      engine.Options
	ignore    bool
	maxMemory string
	base      string // --base: the base model of an adapter directory
}

// backendUsage is the help of every tool's --backend.
const backendUsage = "compute backend: auto (CUDA when a GPU and JAX's plugin are present, else OpenXLA's CPU plugin when installed, else pure Go), xla:cpu (pip install xla-cpu-pjrt), cuda, go, or xla:/abs/plugin.so; XLA needs a -tags xla build (default $GOMLX_BACKEND, else auto; see docs/gpu.md)"

// logCompiles reports how many executables the run compiled and how long
// their first calls took (compilation included): on XLA each new input
// shape compiles, so this is the cost the shape policy (bucketed rows and
// lengths) bounds.
func logCompiles(log io.Writer, e *engine.Engine, m *engine.Model) {
	if log != nil {
		fmt.Fprintln(log, m.CompileStats().Summary(e.BackendKind()))
	}
}

// addModelFlags registers --backend, --batch-tokens, --devices, --vocab-chunk, --bf16
// and --ignore-tokenizer-mismatch on fs.
func addModelFlags(fs *flag.FlagSet) *modelFlags {
	m := &modelFlags{}
	fs.StringVar(&m.opts.Backend, "backend", "", backendUsage)
	fs.IntVar(&m.opts.BatchTokens, "batch-tokens", 4096, "padded tokens per forward batch")
	layoutFlags(fs, &m.opts.Layout)
	devicesFlagVar(fs, &m.opts.Devices)
	fs.BoolVar(&m.opts.ShardParams, "shard-params", false, "with --devices N > 1: split the weights over the devices instead of one copy on each (docs/scale.md)")
	fs.IntVar(&m.opts.VocabChunk, "vocab-chunk", 0, fmt.Sprintf("vocabulary columns whose logits exist at once (0: engine default %d); bounds the head's memory", engine.DefaultVocabChunk))
	fs.BoolVar(&m.opts.BF16, "bf16", false, "bf16 mixed precision: matrix products in bfloat16 with float32 accumulation, as dpo-train --bf16")
	fs.StringVar(&m.base, "base", "", "base model `DIR` when the model is a PEFT adapter directory (default: its base_model_name_or_path, when local)")
	fs.BoolVar(&m.ignore, "ignore-tokenizer-mismatch", false, "run even when the stream's tokenizer is not the model directory's (experts only)")
	fs.StringVar(&m.maxMemory, "max-batch-memory", "auto", "refuse a row whose forward batch needs more working memory than this, estimated before it is built: auto (80% of the available memory), 0 (no check), or a size such as 16GiB")
	return m
}

// load checks that the stream's tokenizer (meta) is the model directory's,
// then loads the model with the flags' engine options.
//
// dir may be a PEFT adapter directory: the model is then its base (see
// resolveModelDir) with the adapter attached.
func (m *modelFlags) load(meta arrowio.Metadata, dir string, log io.Writer) (*loadedModel, error) {
	baseDir, adapterDir, err := resolveModelDir(dir, m.base)
	if err != nil {
		return nil, err
	}
	cfg, err := model.LoadConfig(baseDir)
	if err != nil {
		return nil, err
	}
	if err := checkModelTokenizer(meta, tokenizerDir(baseDir, adapterDir), cfg.VocabSize, m.ignore, log); err != nil {
		return nil, err
	}
	l, err := loadModel(baseDir, m.opts)
	if err == nil {
		l.eng.LogBackend(log)
		logDevices(log, l.eng)
		l.log = log
	}
	if err != nil || adapterDir == "" {
		return l, err
	}
	l.dir = dir
	if err := l.attachAdapter(adapterDir); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// budget returns the memory budget for l's model (see memBudget).
func (m *modelFlags) budget(l *loadedModel) (*memBudget, error) {
	return newMemBudget(m.maxMemory, l.ck.Config, m.opts.BatchTokens, m.opts.VocabChunk)
}

func (m *modelFlags) validate() error {
	if _, err := newMemBudget(m.maxMemory, &model.Config{}, 1, 0); err != nil {
		return err
	}
	if m.opts.BatchTokens <= 0 {
		return usagef("--batch-tokens must be > 0")
	}
	if m.opts.VocabChunk < 0 {
		return usagef("--vocab-chunk must be >= 0")
	}
	return nil
}

// ldWeightedLogProbs is SequenceLogProbs with TRL's ld_alpha weighting;
// seqs holds pairs (chosen at even, rejected at odd indices).
func ldWeightedLogProbs(ctx context.Context, m *engine.Model, seqs []engine.Sequence, alpha float64) ([]float64, error) {
	tok, err := m.TokenLogProbs(ctx, seqs, nil)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(seqs))
	for i := 0; i+1 < len(seqs); i += 2 {
		shared := min(len(tok[i]), len(tok[i+1]))
		for j := i; j <= i+1; j++ {
			var head, tail float64
			for k, v := range tok[j] {
				if k < shared {
					head += float64(v)
				} else {
					tail += float64(v)
				}
			}
			out[j] = head + alpha*tail
		}
	}
	return out, nil
}
