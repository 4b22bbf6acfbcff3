package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/pairs"
	"github.com/dpo-go/dpo/pkg/sample"
	"github.com/dpo-go/dpo/pkg/tokenize"
)

const sampleUsage = `Usage: dpo-sample --model DIR [flags] [prompts...|pairs.arrow|-] > completions.arrow

Generates --n completions per prompt with a causal LM (a Hugging Face
checkpoint, or a PEFT LoRA adapter directory with its base), batched with a
KV cache, and writes one row per completion: id, sample_index, prompt,
completion (decoded, special tokens skipped), prompt_input_ids,
completion_input_ids (the eos token included when the model ended with it),
logp (the summed, untempered log-probability of the completion tokens under
the model: what dpo-reflogp computes for the same tokens) and finish_reason
(eos, stop or length), as a zstd Arrow stream (dpo.kind=completions) or
JSONL (--format jsonl). --jsonl-copy FILE writes the same rows as JSONL
too, in the same pass: the Arrow output for dpo-reflogp and dpo-score
--rank, the JSONL for a judge.

Prompts are read as dpo-tokenize reads the prompt side of pairs: JSONL,
JSON arrays, Parquet, Arrow IPC files or streams (gzip/zstd detected),
Hugging Face datasets save_to_disk directories (--split), several inputs
or glob patterns in order; stdin when none. The prompt
column ("prompt", or --columns prompt=NAME) holds text (encoded with the
tokenizer's special tokens) or a conversation (rendered with the chat
template and its generation prompt); "id" (optional: the row number),
"system" (--columns system=NAME: merged into the first turn) and "tools"
are read as dpo-tokenize reads them; other columns are ignored. A dpo
pairs stream is read instead as it is, its prompt_input_ids used
unchanged (then it must be the only input).

Decoding: --temperature 0 is greedy (transformers' do_sample=False);
otherwise the logits are divided by the temperature, then top-k, top-p and
min-p filter them (transformers' generate order) and a token is drawn. Each
completion has its own random stream, from --seed, the prompt's id and the
sample index, so a completion does not depend on the other prompts.
A completion ends at an eos id (config.json's and generation_config.json's),
when its decoded text contains a --stop string (the string is kept, as
transformers' stop_strings), or after --max-new-tokens.

Examples:
  dpo-sample --model ./policy --temperature 0 --max-new-tokens 64 prompts.jsonl > greedy.arrow
  dpo-sample --model ./policy --columns prompt=question,system=system 'train-*.parquet' > samples.arrow
  dpo-sample --model ./policy --n 4 --temperature 0.8 --top-p 0.95 --format jsonl prompts.jsonl \
    | ./judge | dpo-tokenize --tokenizer ./policy > pairs.arrow    (judges: docs/judges.md)
  dpo-sample --model ./policy --n 4 --temperature 0.8 --jsonl-copy samples.jsonl -o samples.arrow prompts.jsonl
  ./judge < samples.jsonl > judged.jsonl
  dpo-reflogp --model ./ref samples.arrow | dpo-score --policy ./policy --rank --scores judged.jsonl > ranked.arrow

Exit status: 0 success, 1 failure, 2 usage error.
`

// StageSample is the metadata stage of dpo-sample.
const StageSample = "sample"

// sampleOptions are recorded in the stream metadata.
type sampleOptions struct {
	Model         string        `json:"model"`
	BaseModel     string        `json:"base_model,omitempty"`
	AdapterSHA256 string        `json:"adapter_sha256,omitempty"`
	ConfigSHA256  string        `json:"config_sha256"`
	WeightsSHA256 string        `json:"weights_sha256"`
	Architecture  string        `json:"architecture"`
	Backend       string        `json:"backend"`
	BatchTokens   int           `json:"batch_tokens"`
	BF16          bool          `json:"bf16,omitempty"`
	Sampling      sample.Config `json:"sampling"`
	N             int           `json:"n"`
	MaxNewTokens  int           `json:"max_new_tokens"`
	Seed          uint64        `json:"seed"`
	Stop          []string      `json:"stop,omitempty"`
	EOSTokenIDs   []int32       `json:"eos_token_ids"`
	Shard         string        `json:"shard,omitempty"` // --shard I/N
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// sampleFlags is dpo-sample's flag set and the values its flags set.
type sampleFlags struct {
	fs                                       *flag.FlagSet
	modelDir, tokSpec, chatTmpl, out, format *string
	jsonlCopy, codec, split, columnsSpec     *string
	n, maxNew                                *int
	cfg                                      sample.Config
	seed                                     *uint64
	stops                                    stringList
	shard                                    *shardSpec
	mf                                       *modelFlags
	std                                      *stdFlags
}

func newSampleFlags(stderr io.Writer) *sampleFlags {
	fs := newFlagSet(toolSample, stderr, sampleUsage)
	f := &sampleFlags{fs: fs, cfg: sample.DefaultConfig()}
	f.modelDir = fs.String("model", "", "model: a Hugging Face checkpoint `DIR`, or a PEFT adapter directory (see --base)")
	f.tokSpec = fs.String("tokenizer", "", "tokenizer: a model `DIR`, a tokenizer.json FILE or builtin:bytes (default: the model directory's tokenizer.json, or the builtin tokenizer its dpo.json names)")
	f.chatTmpl = fs.String("chat-template", "auto", "chat template for conversational prompts: auto (tokenizer_config.json / chat_template.jinja), none, or a Jinja `FILE`")
	f.out = fs.String("o", "-", "output `FILE` (- for stdout), written atomically")
	f.format = fs.String("format", "arrow", "output format: arrow (zstd Arrow IPC stream; an Arrow IPC file for -o NAME.arrow) or jsonl")
	f.jsonlCopy = fs.String("jsonl-copy", "", "also write the completions as JSON Lines to `FILE` (for a judge), from the same samples; with --format arrow")
	f.codec = codecFlag(fs)
	f.n = fs.Int("n", 1, "completions per prompt")
	f.maxNew = fs.Int("max-new-tokens", 256, "most tokens generated per completion")
	fs.Float64Var(&f.cfg.Temperature, "temperature", f.cfg.Temperature, "sampling temperature; 0 = greedy decoding")
	fs.IntVar(&f.cfg.TopK, "top-k", 0, "keep the k most likely tokens (0: off)")
	fs.Float64Var(&f.cfg.TopP, "top-p", 1, "nucleus sampling: keep the most likely tokens up to this probability mass (1: off)")
	fs.Float64Var(&f.cfg.MinP, "min-p", 0, "drop tokens less likely than min-p times the most likely one (0: off)")
	f.seed = fs.Uint64("seed", 0, "random seed (with the prompt id and sample index: one stream per completion)")
	fs.Var(&f.stops, "stop", "stop a completion when its text contains this `STRING` (repeatable; the string is kept)")
	f.split = fs.String("split", pairs.DefaultSplit, "`SPLIT` read from an input directory of a Hugging Face DatasetDict (save_to_disk)")
	f.columnsSpec = fs.String("columns", "", "prompt dataset column names as role=column pairs, roles prompt, id, system, tools (e.g. prompt=question,system=system), as dpo-tokenize's")
	f.shard = &shardSpec{}
	fs.Var(f.shard, "shard", "sample only shard `I/N` (0-based I) of the prompts: a contiguous slice, so the N outputs in order 0..N-1 are the unsharded output (docs/scale.md)")
	f.mf = addModelFlags(fs)
	f.std = addStdFlags(fs)
	return f
}

// Sample is dpo-sample.
func Sample(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newSampleFlags(stderr)
	fs, modelDir, tokSpec, chatTmpl, out, format, jsonlCopy, codec := f.fs, f.modelDir, f.tokSpec, f.chatTmpl, f.out, f.format, f.jsonlCopy, f.codec
	n, maxNew, seed, split, columnsSpec, mf, std, shard := f.n, f.maxNew, f.seed, f.split, f.columnsSpec, f.mf, f.std, f.shard
	inputs, done, err := std.parseInputs(fs, args, stdout)
	if done || err != nil {
		return err
	}
	cfg, stops := f.cfg, f.stops // parsed
	columns, err := parseSampleColumns(*columnsSpec)
	if err != nil {
		return err
	}
	switch {
	case *modelDir == "":
		return usagef("--model is required")
	case *n < 1:
		return usagef("--n %d: must be >= 1", *n)
	case *maxNew < 1:
		return usagef("--max-new-tokens %d: must be >= 1", *maxNew)
	case *format != "arrow" && *format != "jsonl":
		return usagef("--format %q: want arrow or jsonl", *format)
	case *jsonlCopy != "" && *format != "arrow":
		return usagef("--jsonl-copy: the output is JSON Lines already (--format %s)", *format)
	case *jsonlCopy == "-" && (*out == "-" || *out == ""):
		return usagef("--jsonl-copy -: stdout already carries the Arrow output; name a file for one of them")
	}
	if *format == "arrow" {
		if err := refuseBinaryToTerminal("dpo-sample", *out, stdout); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	for _, s := range stops {
		if s == "" {
			return usagef("--stop: empty string")
		}
	}
	if err := mf.validate(); err != nil {
		return err
	}
	log := std.log(stderr)
	if inputs, err = pairs.ExpandDatasetDirs(inputs, *split); err != nil { // save_to_disk directories
		return err
	}
	outs, err := openOutputs(stdin, stdout, inputArgs(inputs), []pathArg{{"--jsonl-copy", *jsonlCopy}, {"-o", *out}})
	if err != nil {
		return err
	}
	defer outs.abort()
	jsonlOut, o := outs.files[0], outs.files[1]

	baseDir, adapterDir, err := resolveModelDir(*modelDir, mf.base)
	if err != nil {
		return err
	}
	spec := *tokSpec
	if spec == "" {
		if spec, err = modelTokenizerSpec(tokenizerDir(baseDir, adapterDir)); err != nil {
			return err
		}
	}
	enc, err := newPromptEncoder(ctx, spec, *chatTmpl, columns)
	if err != nil {
		return err
	}
	tok := enc.Tokenizer()

	meta, prompts, err := tokenize.ReadPrompts(inputs, stdin, columns, enc, log)
	var inputsErr *tokenize.PromptInputsError
	if errors.As(err, &inputsErr) {
		return &UsageError{Err: err}
	}
	if err != nil {
		return err
	}
	if len(prompts) == 0 {
		return fmt.Errorf("%s: %w", arrowio.InputsName(inputs), errNoRows)
	}
	if shard.active() {
		lo, hi := shard.bounds(int64(len(prompts)))
		prompts = prompts[lo:hi]
		fmt.Fprintf(log, "shard %s: prompts %d to %d\n", shard, lo, hi)
	}
	if meta.Len() == 0 {
		meta = arrowio.NewMetadata("dpo-sample", Version)
		meta.SetTokenizer(tok.Name(), tok.SHA256())
		tmplSHA := ""
		if tmpl := enc.ChatTemplate(); tmpl != nil {
			tmplSHA = tmpl.SHA256()
		}
		meta.SetChatTemplateSHA256(tmplSHA)
	} else {
		meta = arrowio.Derive(meta, "dpo-sample", Version)
	}
	lm, err := mf.load(meta, *modelDir, log)
	if err != nil {
		return err
	}
	defer lm.Close()
	mcfg := lm.ck.Config
	if len(prompts) > 0 { // else an empty shard: an empty output
		if err := checkGenerateBounds(mf, lm, prompts, *n, *maxNew); err != nil {
			return err
		}
	}
	eos, err := model.GenerationEOS(baseDir, mcfg)
	if err != nil {
		return err
	}
	opts := sampleOptions{Model: *modelDir, Architecture: string(mcfg.Arch), Backend: lm.eng.BackendName(),
		BatchTokens: mf.opts.BatchTokens, BF16: mf.opts.BF16, Sampling: cfg, N: *n, MaxNewTokens: *maxNew,
		Seed: *seed, Stop: stops, EOSTokenIDs: eos, Shard: shard.String()}
	if opts.ConfigSHA256, err = model.ConfigSHA256(lm.base); err != nil {
		return err
	}
	if opts.WeightsSHA256, err = model.WeightsSHA256(lm.base); err != nil {
		return err
	}
	if a := lm.adapter; a != nil {
		opts.AdapterSHA256, opts.BaseModel = a.SHA256, lm.base
	}
	if err := meta.SetStage(StageSample, Version, opts); err != nil {
		return err
	}
	fmt.Fprintf(log, "model %s (%s, %d layers, vocab %d) on %s: %d prompts x %d, %s\n",
		*modelDir, mcfg.Arch, mcfg.NumLayers, mcfg.VocabSize, opts.Backend, len(prompts), *n, describeSampling(cfg))

	start := time.Now()
	prog := newProgress(log, !std.quiet && isTerminal(stderr), "completions")
	req := sample.Request{N: *n, MaxNewTokens: *maxNew, Sampling: cfg, Seed: *seed, Stop: stops, EOS: eos}
	rows, newTokens, err := sample.Complete(ctx, lm.model, tok, prompts, req, func(done, total int) {
		prog.m.SetTotal(int64(total))
		prog.update(int64(done))
	})
	if err != nil {
		return err
	}
	prog.done()
	if *format == "jsonl" {
		err = arrowio.WriteCompletionsJSONL(o, rows)
	} else {
		err = arrowio.WriteCompletions(o, meta, rows, arrowio.WriterOptions{Codec: *codec, File: arrowio.WantsIPCFile(o)})
	}
	if err == nil && jsonlOut != nil {
		err = arrowio.WriteCompletionsJSONL(jsonlOut, rows)
	}
	if err != nil {
		return err
	}
	if err := outs.commit(); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(log, "%d completions, %d new tokens in %.1fs (%.0f tok/s)\n", len(rows), newTokens, secs, float64(newTokens)/secs)
	return nil
}

// checkGenerateBounds refuses, before any compute, --max-new-tokens beyond
// the model's positions and a generation whose prefill and KV cache would
// need more memory than --max-batch-memory allows, naming the longest
// prompt.
func checkGenerateBounds(mf *modelFlags, lm *loadedModel, prompts []tokenize.Prompt, n, maxNew int) error {
	cfg := lm.ck.Config
	if maxNew > cfg.MaxPositions {
		return fmt.Errorf("--max-new-tokens %d exceeds the model's max_position_embeddings %d (%s)", maxNew, cfg.MaxPositions, lm.base)
	}
	longest := 0
	for i, p := range prompts {
		if len(p.IDs) > len(prompts[longest].IDs) {
			longest = i
		}
	}
	p := prompts[longest]
	if err := cfg.CheckSeqLen(len(p.IDs) + maxNew); err != nil {
		return fmt.Errorf("prompt %d (id %q): %d tokens + --max-new-tokens %d: %w", longest, p.ID, len(p.IDs), maxNew, err)
	}
	budget, err := mf.budget(lm)
	if err != nil {
		return err
	}
	if err := budget.checkGenerate(len(p.IDs), maxNew, n*len(prompts)); err != nil {
		return fmt.Errorf("prompt %d (id %q), the longest: %w", longest, p.ID, err)
	}
	return nil
}

// parseSampleColumns parses --columns: dpo-tokenize's roles of the
// prompt side (prompt, id, system, tools).
func parseSampleColumns(spec string) (map[string]string, error) {
	columns, err := pairs.ParseColumns(spec)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("--columns: %w", err)}
	}
	for role := range columns {
		if !slices.Contains([]string{"prompt", "id", "system", "tools"}, role) {
			return nil, usagef("--columns: role %s is not read from prompts (want prompt, id, system, tools)", role)
		}
	}
	return columns, nil
}

func describeSampling(c sample.Config) string {
	if c.Greedy() {
		return "greedy"
	}
	return fmt.Sprintf("temperature %g, top-k %d, top-p %g, min-p %g", c.Temperature, c.TopK, c.TopP, c.MinP)
}

// modelTokenizerSpec is the tokenizer of a model directory: its
// tokenizer.json, or the builtin tokenizer named by its dpo.json.
func modelTokenizerSpec(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		return dir, nil
	}
	m, ok, err := ckpt.Read(dir)
	if err != nil {
		return "", err
	}
	if ok && strings.HasPrefix(m.TokenizerName, "builtin:") {
		return m.TokenizerName, nil
	}
	return "", usagef("model directory %s has no tokenizer.json (nor a dpo.json naming a builtin tokenizer): pass --tokenizer", dir)
}

// newPromptEncoder returns the encoder of dpo-tokenize for the tokenizer
// spec and --chat-template, the system column merged when columns maps one:
// dpo-sample's prompt ids are dpo-tokenize's for the same row made a pair.
func newPromptEncoder(ctx context.Context, spec, chatTmpl string, columns map[string]string) (*tokenize.Encoder, error) {
	cfg := tokenize.DefaultConfig()
	_, cfg.SystemColumn = columns["system"]
	return loadEncoder(ctx, spec, chatTmpl, "", cfg)
}
