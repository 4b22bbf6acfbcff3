package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/internal/tbevents"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/dpo"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// Result summarises a finished run.
type Result struct {
	Steps   int                // optimizer steps done in total
	Final   map[string]float64 // last step's metrics
	Eval    map[string]float64 // last evaluation (nil without --eval)
	OutDir  string
	Resumed int // step resumed from (0: fresh run)
	// Compiles counts the executables the run compiled (one per graph and
	// input shapes) and the time of their first calls.
	Compiles CompileStats
	// VariableBytesPerDevice is what the weights, gradients and optimizer
	// state take on each device at the end, VariableBytes their full
	// size (engine.Model.ParamBytes): equal unless Config.ShardParams.
	// Both 0 on one device.
	VariableBytesPerDevice, VariableBytes int64
}

// tokenizerFiles are copied into checkpoints when their tokenizer.json
// matches the stream's.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
	"chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json"}

// CompileStats counts the executables a run compiled (see
// [engine.CompileStats]).
type CompileStats = engine.CompileStats

// runner is one training run.
type runner struct {
	// ctx is loop's: accumulate checks it between micro-batches.
	ctx context.Context
	// prevMemLimit is the Go memory limit before the run set its own
	// (setMemLimit), restored by close.
	prevMemLimit int64
	setMemLimit  bool
	c            *Config
	version      string
	log          io.Writer
	obj          dpo.Objective
	cfg          *model.Config
	dtype        safetensors.DType
	train        *dataset
	eval         *dataset
	eng          *engine.Engine
	mdl          *engine.Model
	opt          *optimizer
	plan         []stepPlan
	warmup       int
	bco          dpo.RunningMoments
	tokDir       string // directory whose tokenizer files are copied ("" none)
	history      []map[string]any
	lastEval     map[string]float64
	out          *outDir     // --out, locked for the run
	ident        runIdentity // recorded in every checkpoint
	ok           bool        // the run succeeded (close keeps --out)

	// numTokens counts the tokens of every forward so far (TRL's
	// num_tokens: prompt+chosen and prompt+rejected of each pair).
	numTokens int64

	tb *tbevents.Writer // --report-to tensorboard (nil: off)

	loraInfo *ckpt.LoRA // dpo.json's LoRA record, computed once
}

// Run trains as c describes. Logs go to log. stdin is read when c.Input
// is "-". A cancelled ctx saves a checkpoint and returns an error wrapping
// ErrStopped.
func Run(ctx context.Context, c Config, version string, stdin io.Reader, log io.Writer) (*Result, error) {
	r, start, err := setup(c, version, stdin, log)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res, err := r.loop(ctx, start)
	r.ok = err == nil
	return res, err
}

// setup checks everything, loads the data and the model, and returns the
// runner and the step to start from. The caller closes the runner.
func setup(c Config, version string, stdin io.Reader, log io.Writer) (_ *runner, _ int, err error) {
	if err := c.Validate(); err != nil {
		return nil, 0, err
	}
	if log == nil {
		log = io.Discard
	}
	r := &runner{c: &c, version: version, log: log, bco: dpo.NewRunningMoments()}
	r.obj, _ = c.Objective()
	defer func() {
		if err != nil {
			r.close()
		}
	}()

	// Output directory: writable, locked, and empty unless resuming (or
	// --overwrite), before any compute.
	if r.out, err = prepareOut(&c); err != nil {
		return nil, 0, err
	}
	if r.out.warning != "" {
		fmt.Fprintln(log, r.out.warning)
	}
	steps, err := checkpoints(c.Out)
	if err != nil {
		return nil, 0, fmt.Errorf("--out %s: %w", c.Out, err)
	}
	resumeStep := 0
	var resumeState trainerState
	var resumeTensors map[string]*safetensors.Tensor
	var reshaped *Config // the checkpoint's options, when its batch shape was another (reshape.go)
	switch {
	case c.Resume && len(steps) > 0:
		resumeStep = steps[len(steps)-1]
		dir := checkpointDir(c.Out, resumeStep)
		prev, err := readConfig(dir)
		if err != nil {
			return nil, 0, fmt.Errorf("resuming from %s: %w", dir, err)
		}
		if prev.determinism() != c.determinism() && prev.determinism().withoutShape() == c.determinism().withoutShape() {
			if err := checkReshape(dir, prev, &c); err != nil {
				return nil, 0, err
			}
			reshaped = prev
		} else if prev.determinism() != c.determinism() {
			a, _ := json.Marshal(prev.determinism())
			b, _ := json.Marshal(c.determinism())
			return nil, 0, &ConfigError{Err: fmt.Errorf("--resume: %s was trained with a different configuration:\n  checkpoint %s\n  now        %s", dir, a, b)}
		}
		if resumeState, resumeTensors, err = readState(dir); err != nil {
			return nil, 0, fmt.Errorf("resuming from %s: %w", dir, err)
		}
		if c.LoRA.Enabled() && c.Model == "" {
			c.Model = prev.Model // the frozen base
		}
		cfgDir := dir
		if c.LoRA.Enabled() { // a LoRA checkpoint holds the adapter only
			cfgDir = c.Model
		}
		if r.cfg, err = model.LoadConfig(cfgDir); err != nil {
			return nil, 0, fmt.Errorf("resuming from %s: %w", dir, err)
		}
		r.dtype = safetensors.DType(resumeState.DType)
		if r.tokDir = c.Tokenizer; r.tokDir == "" {
			r.tokDir = dir
		}
		fmt.Fprintf(log, "resuming from %s (step %d)\n", dir, resumeStep)
	case c.Model != "":
		if r.cfg, err = model.LoadConfig(c.Model); err != nil {
			return nil, 0, fmt.Errorf("--model: %w", err)
		}
		r.dtype = dtypeOf(r.cfg)
		if r.tokDir = c.Tokenizer; r.tokDir == "" {
			r.tokDir = c.Model
		}
	case c.InitConfig != "":
		if r.cfg, err = model.LoadConfig(c.InitConfig); err != nil {
			return nil, 0, fmt.Errorf("--init-config: %w", err)
		}
		r.dtype = dtypeOf(r.cfg)
		r.tokDir = c.Tokenizer
	default:
		return nil, 0, &ConfigError{Err: fmt.Errorf("--resume: no checkpoint in %s, and neither --model nor --init-config to start from", c.Out)}
	}
	if err := r.cfg.Validate(); err != nil {
		return nil, 0, fmt.Errorf("model config: %w", err)
	}

	// Data, checked completely before any compute.
	mem := memory.DefaultAllocator
	if err := arrowio.CheckInputs(append([]string{c.Input}, c.Inputs...), arrowio.MixOptions{AllowPartialShards: c.AllowPartialShards, IgnoreTokenizer: c.IgnoreTokenizerMismatch, Warn: log}); err != nil {
		return nil, 0, err
	}
	if r.train, err = openDataset(append([]string{c.Input}, c.Inputs...), stdin, mem, r.cfg, r.obj.NeedsReference(), r.obj.NeedsLengths(), r.log); err != nil {
		return nil, 0, err
	}
	if c.Eval != "" {
		if r.eval, err = openDataset([]string{c.Eval}, nil, mem, r.cfg, r.obj.NeedsReference(), r.obj.NeedsLengths(), r.log); err != nil {
			return nil, 0, fmt.Errorf("--eval: %w", err)
		}
		if err := sameTokenizer(r.train.meta, r.eval.meta); err != nil && !c.IgnoreTokenizerMismatch {
			return nil, 0, fmt.Errorf("--eval %s: %w", r.eval.name, err)
		}
	}
	if err := r.checkTokenizer(); err != nil {
		return nil, 0, err
	}
	for _, d := range []*dataset{r.train, r.eval} {
		if err := c.checkLDReference(d, r.obj.NeedsReference()); err != nil {
			return nil, 0, err
		}
	}
	r.plan = planSteps(r.train, &c)
	limit, source := c.memoryLimit()
	if err := r.checkMemory(limit, source); err != nil {
		return nil, 0, err
	}
	if limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// The pure-Go backend's tensors live on the Go heap, which by
		// default may grow to twice its live size before a collection:
		// a soft limit at --max-memory makes the collector work harder
		// near it instead (no effect on XLA's own allocations).
		r.prevMemLimit = debug.SetMemoryLimit(limit)
		r.setMemLimit = true
	}
	r.warmup = c.warmupSteps(len(r.plan))
	if reshaped != nil {
		note, err := checkReshapePlan(r.train, checkpointDir(c.Out, resumeStep), reshaped, &c, r.plan)
		if err != nil {
			return nil, 0, err
		}
		fmt.Fprintln(log, note)
	}
	if resumeStep > 0 {
		if resumeState.NumRows != r.train.len() || resumeStep > len(r.plan) ||
			r.plan[resumeStep-1].epoch != resumeState.Epoch || r.plan[resumeStep-1].end != resumeState.Index {
			return nil, 0, fmt.Errorf("--resume: the data differ from the run that wrote checkpoint-%d (%d rows then, %d now)", resumeStep, resumeState.NumRows, r.train.len())
		}
		r.bco = resumeState.BCO
		r.numTokens = resumeState.NumTokens
	}
	if r.ident, err = r.identity(); err != nil {
		return nil, 0, err
	}
	if resumeStep > 0 {
		if err := r.checkResumeIdentity(checkpointDir(c.Out, resumeStep), r.ident); err != nil {
			return nil, 0, err
		}
	}
	echo, _ := json.MarshalIndent(c, "", "  ")
	fmt.Fprintf(log, "config: %s\n", echo)
	for _, n := range trlNotes(&c, r.obj) {
		fmt.Fprintln(log, n)
	}
	fmt.Fprintf(log, "%d pairs, %d steps (%v epochs, %d micro-batches of <= %d pairs per step: %s), objective %s\n",
		r.train.len(), len(r.plan), c.Epochs, c.GradAccum, c.BatchSize*c.devices(), c.batchShape(), r.obj)

	// Model.
	if r.eng, err = engine.New(engine.Options{Backend: c.Backend, VocabChunk: c.VocabChunk, BF16: c.BF16, Layout: c.Layout, Devices: c.Devices, ShardParams: c.ShardParams}); err != nil {
		return nil, 0, err
	}
	r.eng.LogBackend(log)
	if r.eng.Devices() > 1 {
		fmt.Fprintf(log, "devices: %d of %d (micro-batches of %d pairs: %d per device; global batch %d pairs = %d per device × %d devices × %d accumulated)\n",
			r.eng.Devices(), r.eng.NumDevices(), c.BatchSize*r.eng.Devices(), c.BatchSize, c.BatchSize*r.eng.Devices()*c.GradAccum, c.BatchSize, r.eng.Devices(), c.GradAccum)
	}
	r.ident.Backend = r.eng.BackendKind()
	if resumeStep > 0 {
		if err := r.noteBackendChange(checkpointDir(c.Out, resumeStep)); err != nil {
			return nil, 0, fmt.Errorf("--resume: %w", err)
		}
	}
	if c.BF16 && strings.HasPrefix(r.eng.BackendName(), "go") {
		fmt.Fprintf(log, "note: --bf16 on the pure-Go backend is slower than float32 and saves no memory (it is meant for GPUs)\n")
	}
	switch {
	case resumeStep > 0 && !c.LoRA.Enabled():
		ws := make(map[string]*safetensors.Tensor)
		for _, s := range model.ParamSpecs(r.cfg) {
			if t, ok := resumeTensors["param/"+s.Name]; ok {
				ws[s.Name] = t
			}
		}
		r.mdl, err = r.eng.LoadWeights(r.cfg, ws)
	case c.Model != "":
		var ck *model.Checkpoint
		if ck, err = model.Load(c.Model); err != nil {
			return nil, 0, fmt.Errorf("--model: %w", err)
		}
		r.mdl, err = r.eng.LoadModel(ck)
		ck.Close()
	default:
		r.mdl, err = r.eng.LoadModel(model.RandomInit(r.cfg, c.InitSeed))
	}
	if err != nil {
		return nil, 0, err
	}
	if err := r.attachLoRA(); err != nil {
		return nil, 0, err
	}
	if r.opt, err = newOptimizer(r.mdl, r.obj, &c); err != nil {
		return nil, 0, err
	}
	if resumeStep > 0 {
		if err := r.opt.loadState(resumeTensors); err != nil {
			return nil, 0, fmt.Errorf("resuming from checkpoint-%d: %w", resumeStep, err)
		}
		if err := r.loadHistory(resumeStep); err != nil {
			return nil, 0, err
		}
	} else if err := os.Remove(filepath.Join(c.Out, MetricsFile)); err != nil && !os.IsNotExist(err) {
		return nil, 0, err
	}
	return r, resumeStep, nil
}

func dtypeOf(cfg *model.Config) safetensors.DType {
	switch cfg.TorchDType {
	case "bfloat16":
		return safetensors.BF16
	case "float16":
		return safetensors.F16
	}
	return safetensors.F32
}

func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".dpo-train-write-test-*")
	if err != nil {
		return fmt.Errorf("--out %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func sameTokenizer(a, b arrowio.Metadata) error {
	name, sha := a.Tokenizer()
	if sha == "" {
		return nil
	}
	if _, s2 := b.Tokenizer(); s2 == "" {
		return nil
	}
	return b.CheckSameTokenizer(name, sha)
}

// checkTokenizer compares the stream's tokenizer with the model
// directory's and with --tokenizer's.
func (r *runner) checkTokenizer() error {
	_, sha := r.train.meta.Tokenizer()
	check := func(dir, flag string) (bool, error) {
		if dir == "" {
			return false, nil
		}
		tname, tsha, ok, err := ckpt.Tokenizer(dir)
		if err != nil {
			return false, fmt.Errorf("%s %s: %w", flag, dir, err)
		}
		if !ok || sha == "" {
			return false, nil
		}
		if err := r.train.meta.CheckSameTokenizer(tname, tsha); err != nil {
			if r.c.IgnoreTokenizerMismatch {
				fmt.Fprintf(r.log, "warning: %s %s: %v (ignored)\n", flag, dir, err)
				return false, nil
			}
			return false, fmt.Errorf("%s: %s %s: %w (use --ignore-tokenizer-mismatch to train anyway)", r.train.name, flag, dir, err)
		}
		return true, nil
	}
	if r.c.Model != "" {
		if _, err := check(r.c.Model, "--model"); err != nil {
			return err
		}
	}
	okTok, err := check(r.tokDir, "tokenizer files in")
	if err != nil {
		return err
	}
	if !okTok {
		r.tokDir = ""
	} else if _, err := os.Stat(filepath.Join(r.tokDir, "tokenizer.json")); err != nil {
		r.tokDir = "" // identity only from dpo.json: nothing to copy
	}
	return nil
}

func (r *runner) close() {
	if r.setMemLimit {
		debug.SetMemoryLimit(r.prevMemLimit)
		r.setMemLimit = false
	}
	if r.opt != nil {
		r.opt.close()
	}
	if r.mdl != nil {
		r.mdl.Close()
	}
	if r.eng != nil {
		r.eng.Close()
	}
	r.closeReports()
	r.train.close()
	r.eval.close()
	r.out.release(r.ok)
}

// loop runs the steps after start.
func (r *runner) loop(ctx context.Context, start int) (*Result, error) {
	c := r.c
	total := len(r.plan)
	res := &Result{OutDir: c.Out, Resumed: start}
	lastSaved := start
	var last map[string]float64
	if err := r.openReports(); err != nil {
		return nil, err
	}
	prog := r.newProgress(start, total)
	defer prog.Done()
	r.ctx = ctx
	// interrupted saves the steps done before step k and returns the error.
	interrupted := func(k int, err error) (*Result, error) {
		if k > lastSaved {
			if err := r.save(k); err != nil {
				return nil, fmt.Errorf("saving after interruption: %w", err)
			}
		}
		if k == 0 { // e.g. a SIGTERM while the input was being read
			return nil, fmt.Errorf("interrupted before the first step: nothing to save, no checkpoint written: %w", err)
		}
		return nil, fmt.Errorf("interrupted at step %d, checkpoint in %s: %w", k, checkpointDir(c.Out, k), ErrStopped)
	}
	for k := start; k < total; k++ {
		if err := ctx.Err(); err != nil || (c.StopAfterSteps > 0 && k == c.StopAfterSteps) {
			return interrupted(k, err)
		}
		m, err := r.step(k)
		if errors.Is(err, errStepInterrupted) {
			// Cancelled between micro-batches: step k is dropped (its
			// partial gradient is not saved) and redone on --resume.
			return interrupted(k, ctx.Err())
		}
		if err != nil {
			return nil, err
		}
		last = m
		done := k + 1
		rec := map[string]any{}
		for key, v := range m {
			rec[key] = v
		}
		if r.eval != nil && ((c.EvalSteps > 0 && done%c.EvalSteps == 0) || done == total) {
			// An interruption during evaluation is handled at the next step
			// boundary (checkpoint, then exit), so evaluation completes.
			em, err := r.evaluate(context.WithoutCancel(ctx))
			if err != nil {
				return nil, err
			}
			for key, v := range em {
				rec[key] = v
			}
			r.lastEval = em
			prog.Clear()
			fmt.Fprintf(r.log, "step %d: eval_loss %.4f, eval_acc %.2f, eval_margin %.4f\n",
				done, em["eval_loss"], em["eval_rewards/accuracies"], em["eval_rewards/margins"])
		}
		if err := r.appendMetrics(rec); err != nil {
			return nil, err
		}
		prog.Update(int64(done), fmt.Sprintf("loss %.4f", m["loss"]))
		if c.LoggingSteps > 0 && (done%c.LoggingSteps == 0 || done == total) || done == 1 {
			prog.Clear()
			fmt.Fprintf(r.log, "step %d: loss %.4f, acc %.2f, margin %.4f, lr %.3g, grad_norm %.4f, %.0f tok/s\n",
				done, m["loss"], m["rewards/accuracies"], m["rewards/margins"], m["learning_rate"], m["grad_norm"], m["tokens_per_second"])
		}
		if c.SaveSteps > 0 && done%c.SaveSteps == 0 && done < total {
			prog.Clear() // save logs a line
			if err := r.save(done); err != nil {
				return nil, err
			}
			lastSaved = done
		}
	}
	prog.Done()
	if err := r.finish(total, total > lastSaved); err != nil {
		return nil, err
	}
	res.Steps, res.Final, res.Eval = total, last, r.lastEval
	st := r.mdl.CompileStats()
	res.Compiles = st
	fmt.Fprintln(r.log, st.Summary(r.eng.BackendKind()))
	if r.eng.Devices() > 1 {
		res.VariableBytesPerDevice, res.VariableBytes = r.mdl.ParamBytes()
		fmt.Fprintf(r.log, "variables (weights, gradients, optimizer state): %.1f MiB on each of %d devices, %.1f MiB in all\n",
			float64(res.VariableBytesPerDevice)/(1<<20), r.eng.Devices(), float64(res.VariableBytes)/(1<<20))
	}
	return res, nil
}

// errStepInterrupted: the run's context was cancelled between two
// micro-batches of a step, which is abandoned.
var errStepInterrupted = errors.New("step interrupted between micro-batches")

// step runs optimizer step k (0-based) and returns its metrics.
func (r *runner) step(k int) (map[string]float64, error) {
	c := r.c
	sp := r.plan[k]
	start := time.Now()
	lr := c.LearningRate(k, r.warmup, len(r.plan))
	res, tok, tokens, err := r.accumulate(k)
	if err != nil {
		return nil, err
	}
	norm, err := r.applyStep(k+1, lr)
	if err != nil {
		return nil, fmt.Errorf("step %d: %w", k+1, err)
	}
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return nil, fmt.Errorf("step %d: the gradient norm is %v; stopping (weights left as after step %d, no checkpoint written)", k+1, norm, k)
	}
	m := res.Metrics.Map()
	if r.opt.chosenOnly {
		// Only chosen completions were scored: no rejected statistics.
		for _, k := range []string{"rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/rejected"} {
			delete(m, k)
		}
	}
	for key, v := range tok {
		m[key] = v
	}
	m["grad_norm"] = norm
	m["learning_rate"] = lr
	m["step"] = float64(k + 1)
	m["epoch"] = sp.epochFloat()
	m["tokens_per_second"] = float64(tokens) / max(time.Since(start).Seconds(), 1e-9)
	// The executables compiled so far and the seconds of their first
	// calls (compilation included), cumulative: a step whose shapes were
	// new shows the jump.
	st := r.mdl.CompileStats()
	m["compiles"], m["compile_seconds"] = float64(st.Count), st.Seconds
	return m, nil
}

// accumulate runs step k's micro-batches, leaving the step's gradient in
// the accumulators, and returns the objective over all the step's pairs
// (its Loss is the sum of the micro-batches' losses times their scales, the
// quantity differentiated), TRL's token-level metrics (logits/*,
// mean_token_accuracy, entropy: per micro-batch, then averaged over the
// micro-batches as TRL's log does) and the number of real tokens.
func (r *runner) accumulate(k int) (dpo.ResultF64, map[string]float64, int, error) {
	sp := r.plan[k]
	nPairs, nChosenTok := 0, 0
	for _, m := range sp.micros {
		nPairs += len(m.rows)
		for _, i := range m.rows {
			nChosenTok += len(r.train.pair(i).chosen)
		}
	}
	sftOnly := r.opt.chosenOnly
	in := dpo.InputsF64{}
	bcoStart, bcoLoss := r.bco, r.bco
	tokens := 0
	loss := 0.0
	tok := map[string]float64{}
	for u, m := range sp.micros {
		if u > 0 && r.ctx != nil && r.ctx.Err() != nil {
			return dpo.ResultF64{}, nil, 0, errStepInterrupted
		}
		if err := r.seedLoRADropout(k, u); err != nil {
			return dpo.ResultF64{}, nil, 0, err
		}
		scale := float64(len(m.rows)) / float64(nPairs)
		if sftOnly {
			ct := 0
			for _, i := range m.rows {
				ct += len(r.train.pair(i).chosen)
			}
			scale = float64(ct) / float64(max(nChosenTok, 1))
		}
		mo, err := r.micro(m, scale, u == 0)
		if err != nil {
			return dpo.ResultF64{}, nil, 0, fmt.Errorf("step %d: %w", k+1, err)
		}
		tokens += mo.ntok
		lp := mo.lp
		B := len(m.rows)
		if sftOnly { // no rejected forward: placeholders, metrics dropped below
			lp = append(lp, lp...)
		}
		mi := dpo.InputsF64{}
		for j, i := range m.rows {
			p := r.train.pair(i)
			if math.IsNaN(lp[j]) || math.IsInf(lp[j], 0) || math.IsNaN(lp[B+j]) || math.IsInf(lp[B+j], 0) {
				return dpo.ResultF64{}, nil, 0, fmt.Errorf("step %d: the policy's log-probs of %s are not finite (%v, %v); stopping, no checkpoint written", k+1, r.train.rowName(i), lp[j], lp[B+j])
			}
			mi.PolicyChosen = append(mi.PolicyChosen, lp[j])
			mi.PolicyRejected = append(mi.PolicyRejected, lp[B+j])
			mi.RefChosen = append(mi.RefChosen, p.refChosen)
			mi.RefRejected = append(mi.RefRejected, p.refRejected)
			mi.ChosenLengths = append(mi.ChosenLengths, len(p.chosen))
			mi.RejectedLengths = append(mi.RejectedLengths, len(p.rejected))
		}
		if r.c.LDAlpha != nil {
			mi.RawPolicyChosen = mo.raw[:B]
		}
		if r.c.UseWeighting {
			mi.Weights = mo.weights
		}
		if !r.obj.NeedsReference() {
			mi.RefChosen, mi.RefRejected = nil, nil
		}
		ml, err := r.obj.LossFloat64(mi, &bcoLoss)
		if err != nil {
			return dpo.ResultF64{}, nil, 0, fmt.Errorf("step %d: %w", k+1, err)
		}
		loss += scale * (ml.Loss + r.opt.auxCoef*mo.aux)
		if r.opt.auxCoef != 0 {
			tok[AuxLossMetric] += mo.aux / float64(len(sp.micros))
		}
		in = appendInputs(in, mi)
		if r.obj.Has(dpo.BCOPair) {
			r.bco.Update(mo.bco)
		}
		for key, v := range tokenMetrics(mo, r.train, m.rows, sftOnly) {
			tok[key] += v / float64(len(sp.micros))
		}
		r.numTokens += int64(mo.ntok)
	}
	res, err := r.obj.LossFloat64(in, &bcoStart)
	if err != nil {
		return res, nil, 0, fmt.Errorf("step %d: %w", k+1, err)
	}
	res.Loss, res.Metrics.Loss = loss, loss
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return res, nil, 0, fmt.Errorf("step %d: the loss is %v; stopping, no checkpoint written", k+1, res.Loss)
	}
	tok["num_tokens"] = float64(r.numTokens)
	return res, tok, tokens, nil
}

// microOut is what one micro-batch's gradient pass returns (see gradGraph).
type microOut struct {
	lp, raw, weights []float64
	stats            [3][]float64 // Σ mean logits, Σ top-1 hits, Σ entropy per row
	bco              float64
	aux              float64 // MoE router aux loss (0 when off)
	ntok             int
}

// micro runs one micro-batch through the gradient graph: first is the
// step's first micro-batch, whose gradient starts the accumulators.
func (r *runner) micro(m micro, scale float64, first bool) (microOut, error) {
	B, T := len(m.rows), m.length
	R := 2 * B
	if r.opt.chosenOnly {
		R = B
	}
	toks := make([]int32, R*T)
	lengths := make([]int32, R)
	prompts := make([]int32, R)
	refC := make([]float32, B)
	refR := make([]float32, B)
	var mo microOut
	for j, i := range m.rows {
		p := r.train.pair(i)
		for h, comp := range [][]int32{p.chosen, p.rejected} {
			if h*B >= R {
				break
			}
			row := h*B + j
			copy(toks[row*T:], p.prompt)
			copy(toks[row*T+len(p.prompt):], comp)
			lengths[row] = int32(len(p.prompt) + len(comp))
			prompts[row] = int32(len(p.prompt))
			mo.ntok += len(p.prompt) + len(comp)
		}
		refC[j], refR[j] = float32(p.refChosen), float32(p.refRejected)
	}
	f64 := func(t *tensors.Tensor) ([]float64, error) {
		v, err := tensors.CopyFlatData[float32](t)
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out, err
	}
	in := r.microInputs(m, toks, lengths, prompts, R, T)
	in.RefC = tensors.FromFlatDataAndDimensions(refC, B)
	in.RefR = tensors.FromFlatDataAndDimensions(refR, B)
	in.Scale = tensors.FromScalar(float32(scale))
	in.BCOMean = tensors.FromScalar(float32(r.bco.Mean))
	in.BCOCount = tensors.FromScalar(float32(r.bco.Count))
	err := catch(func() error {
		g := r.opt.gradAdd
		if first {
			g = r.opt.grad
		}
		out, err := r.opt.run(g, in.fields())
		if err != nil {
			return err
		}
		if first && !r.opt.shardedGrads {
			if err := r.opt.setGradients(out[gradOutputs:]); err != nil {
				return err
			}
		}
		var bco, stats, aux []float64
		for _, o := range []struct {
			t   *tensors.Tensor
			dst *[]float64
		}{{out[0], &mo.lp}, {out[1], &bco}, {out[2], &stats}, {out[3], &mo.raw}, {out[4], &mo.weights}, {out[5], &aux}} {
			if *o.dst, err = f64(o.t); err != nil {
				return err
			}
		}
		mo.bco, mo.aux = bco[0], aux[0]
		for k := range mo.stats {
			mo.stats[k] = stats[k*R : (k+1)*R]
		}
		return nil
	})
	return mo, err
}

// applyStep runs AdamW step t (1-based) and returns the gradient norm:
// the norm graph, then each update group, freeing the group's
// accumulators after it.
func (r *runner) applyStep(t int, lr float64) (float64, error) {
	c := r.c
	bc1 := 1 - math.Pow(c.AdamBeta1, float64(t))
	bc2 := 1 - math.Pow(c.AdamBeta2, float64(t))
	var norm float64
	err := catch(func() error {
		nin := normIn[*tensors.Tensor]{MaxNorm: tensors.FromScalar(float32(c.MaxGradNorm))}
		nc, err := r.opt.run(r.opt.norm, nin.fields())
		if err != nil {
			return err
		}
		v, err := tensors.CopyFlatData[float32](nc[0])
		if err != nil {
			return err
		}
		norm = float64(v[0])
		in := applyIn[*tensors.Tensor]{ // the same inputs for every group
			StepSize: tensors.FromScalar(float32(lr / bc1)),
			BC2Sqrt:  tensors.FromScalar(float32(math.Sqrt(bc2))),
			Decay:    tensors.FromScalar(float32(1 - lr*c.WeightDecay)),
			Norm:     nc[0],
			Coef:     nc[1]}
		for _, u := range r.opt.groups {
			if _, err := r.opt.run(u.kind, in.fields()); err != nil {
				return err
			}
			if err := r.opt.freeGradients(u.specs); err != nil {
				return err
			}
		}
		return nil
	})
	return norm, err
}

// evaluate scores the eval stream with the current weights.
func (r *runner) evaluate(ctx context.Context) (map[string]float64, error) {
	if r.c.LDAlpha != nil || r.c.UseWeighting {
		return r.evaluateTRL()
	}
	d := r.eval
	n := d.len()
	seqs := make([]engine.Sequence, 2*n)
	in := dpo.InputsF64{ChosenLengths: make([]int, n), RejectedLengths: make([]int, n)}
	if r.obj.NeedsReference() {
		in.RefChosen, in.RefRejected = make([]float64, n), make([]float64, n)
	}
	for i := 0; i < n; i++ {
		p := d.pair(i)
		seqs[i] = engine.Sequence{Tokens: append(append([]int32(nil), p.prompt...), p.chosen...), PromptLen: len(p.prompt)}
		seqs[n+i] = engine.Sequence{Tokens: append(append([]int32(nil), p.prompt...), p.rejected...), PromptLen: len(p.prompt)}
		in.ChosenLengths[i], in.RejectedLengths[i] = len(p.chosen), len(p.rejected)
		if in.RefChosen != nil {
			in.RefChosen[i], in.RefRejected[i] = p.refChosen, p.refRejected
		}
	}
	lp, err := r.mdl.SequenceLogProbs(ctx, seqs, nil)
	if err != nil {
		return nil, fmt.Errorf("evaluating %s: %w", d.name, err)
	}
	in.PolicyChosen, in.PolicyRejected = lp[:n], lp[n:]
	bco := r.bco
	res, err := r.obj.LossFloat64(in, &bco)
	if err != nil {
		return nil, fmt.Errorf("evaluating %s: %w", d.name, err)
	}
	out := map[string]float64{}
	for k, v := range res.Metrics.Map() {
		out["eval_"+k] = v
	}
	return out, nil
}

// appendMetrics appends one JSON line to metrics.jsonl.
func (r *runner) appendMetrics(rec map[string]any) error {
	r.history = append(r.history, rec)
	path := filepath.Join(r.c.Out, MetricsFile)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err == nil {
		err = arrowio.WriteLines(f, append(b, '\n')) // a full disk leaves no half line
	}
	if err1 := f.Close(); err == nil {
		err = err1
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return r.reportScalars(rec)
}

// loadHistory keeps the metrics of steps <= step (a killed run may have
// logged steps after its last checkpoint) and rewrites metrics.jsonl.
func (r *runner) loadHistory(step int) error {
	path := filepath.Join(r.c.Out, MetricsFile)
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var keep []byte
	for _, line := range strings.Split(string(b), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if s, ok := rec["step"].(float64); ok && int(s) <= step {
			r.history = append(r.history, rec)
			keep = append(keep, line...)
			keep = append(keep, '\n')
		}
	}
	return safetensors.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(keep); return err })
}

// writeModel writes the HF checkpoint files, dpo.json, tokenizer files
// and train_config.json into dir.
func (r *runner) writeModel(dir string, step int) error {
	if err := checkFault(filepath.Join(dir, "model.safetensors")); err != nil {
		return err
	}
	if r.c.LoRA.Enabled() {
		if err := r.writeAdapter(dir); err != nil {
			return err
		}
	} else {
		ws, err := r.opt.weightTensors()
		if err != nil {
			return err
		}
		if err := model.Save(dir, &model.Checkpoint{Config: r.cfg, Tensors: ws}, r.dtype); err != nil {
			return err
		}
	}
	name, sha := r.train.meta.Tokenizer()
	meta := ckpt.Meta{
		TokenizerName: name, TokenizerSHA256: sha,
		ChatTemplateSHA256: r.train.meta.ChatTemplateSHA256(),
		Beta:               r.c.Beta, Loss: r.obj.String(), ReferenceFree: r.c.ReferenceFree || !r.obj.NeedsReference(),
		LengthNormalized: r.obj.Has(dpo.SimPO), Step: int64(step), Producer: "dpo-train " + r.version,
	}
	var err error
	if meta.LoRA, err = r.loraMeta(); err != nil {
		return err
	}
	if err := ckpt.Write(dir, meta); err != nil {
		return err
	}
	if r.tokDir != "" && filepath.Clean(r.tokDir) != filepath.Clean(dir) {
		for _, f := range tokenizerFiles {
			b, err := os.ReadFile(filepath.Join(r.tokDir, f))
			if err != nil {
				continue
			}
			if err := safetensors.WriteAtomic(filepath.Join(dir, f), func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
				return err
			}
		}
	}
	return writeJSON(filepath.Join(dir, TrainConfigFile), r.c)
}

// save writes checkpoint-<step> atomically and prunes old ones. On failure
// the temp directory is removed, so a full disk is not kept full.
func (r *runner) save(step int) (err error) {
	if r.c.Saving != nil {
		r.c.Saving(true)
		defer r.c.Saving(false)
	}
	final := checkpointDir(r.c.Out, step)
	if _, err := os.Stat(filepath.Join(final, TrainerFile)); err == nil {
		return nil // already saved (a resumed run interrupted at once)
	}
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := r.writeModel(tmp, step); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	ts, err := r.opt.stateTensors()
	if err != nil {
		return err
	}
	if err := checkFault(filepath.Join(tmp, StateFile)); err != nil {
		return err
	}
	if err := safetensors.Write(filepath.Join(tmp, StateFile), ts, map[string]string{"format": "dpo-train"}); err != nil {
		return err
	}
	if err := writeIdentity(tmp, r.ident); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(tmp, TrainerFile), r.trainerState(step)); err != nil {
		return err
	}
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := syncDir(r.c.Out); err != nil {
		return err
	}
	if err := r.writePlot(); err != nil {
		return fmt.Errorf("writing plot: %w", err)
	}
	if lim := r.c.SaveTotalLimit; lim > 0 {
		steps, err := checkpoints(r.c.Out)
		if err != nil {
			return err
		}
		for len(steps) > lim {
			if err := os.RemoveAll(checkpointDir(r.c.Out, steps[0])); err != nil {
				return err
			}
			steps = steps[1:]
		}
	}
	fmt.Fprintf(r.log, "saved %s\n", final)
	return nil
}

// saveFinal writes the final model at the top of Out.
func (r *runner) saveFinal(step int) error {
	if err := r.writeModel(r.c.Out, step); err != nil {
		return fmt.Errorf("writing the final model to %s: %w", r.c.Out, err)
	}
	if r.c.LoRA.Merge {
		dir := filepath.Join(r.c.Out, MergedDir)
		if err := r.writeMerged(dir); err != nil {
			return fmt.Errorf("writing the merged model to %s: %w", dir, err)
		}
	}
	return r.writePlot()
}
