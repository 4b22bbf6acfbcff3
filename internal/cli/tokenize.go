package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/chat"
	"github.com/dpo-go/dpo/pkg/pairs"
	"github.com/dpo-go/dpo/pkg/tokenize"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

const tokenizeUsage = `Usage: dpo-tokenize [flags] [input ...|-] > pairs.arrow

Reads preference pairs (JSONL, .jsonl.gz/.zst, a JSON array, Parquet or Arrow;
TRL's standard, conversational or implicit-prompt format) and writes their
token ids as a zstd-compressed Arrow IPC stream: id, prompt_input_ids,
chosen_input_ids, rejected_input_ids. Completions exclude the prompt.
The ids and the truncation defaults (--max-length 1024, keep_start, no
prompt or completion cap) are those of TRL 1.16's DPOTrainer.
Several inputs, or glob patterns (expanded in lexical order, e.g.
'train-0000*-of-00008.parquet'), are read in order as one dataset. A
directory written by Hugging Face datasets' save_to_disk is read as its
data files (a DatasetDict's --split, default train).
Columns with other names are mapped with --columns, e.g. for orca-style data:
  --columns prompt=question,system=system
A system column becomes a system message before the first turn (text pairs
are then rendered with the chat template as system/user/assistant turns;
without a template the system text and a blank line precede the prompt).

Rated completions are binarized into pairs (JSON, or Parquet and Arrow
with list<string> completions and list<double> scores, or flat completion
and score columns; each file's first record, or schema, tells its shape):
rows {prompt, completions: [...], scores: [...]}
(completions are strings or message lists; raw UltraFeedback's objects with
--columns prompt=instruction,completion=response,score=overall_score), or a
judge's rows {id, prompt, completion, score} grouped by id. --pairs picks
best-worst (default), best-random (seeded by --seed) or all; pair ids are
<id>/<i>-<j> (chosen i, rejected j: sample_index or position). Prompts with
one completion or no score gap above --min-score-gap are counted, reported
and written to --rejects. See docs/judges.md.

Example:
  dpo-tokenize --tokenizer ./Qwen3-0.6B pairs.jsonl | dpo-reflogp --model ./Qwen3-0.6B > ref.arrow

Exit status: 0 success, 1 failure (bad input, I/O), 2 usage error.
`

// tokenizeFlags are the flags of dpo-tokenize; cfg holds those that shape the ids.
type tokenizeFlags struct {
	tokenizer    string
	chatTemplate string
	templateArgs string
	eosToken     string
	out          string
	format       string
	split        string
	columns      string
	workers      int
	strict       bool
	onError      string
	rejects      string
	summary      string
	codec        string
	batchRows    int
	maxLine      int // pairs.Options.MaxLineBytes
	quiet        bool
	version      bool
	rated        pairs.Binarize
	cfg          tokenize.Config
}

// newTokenizeFlags returns dpo-tokenize's flag set, bound to f's fields.
func newTokenizeFlags(stderr io.Writer) (*flag.FlagSet, *tokenizeFlags) {
	f := &tokenizeFlags{cfg: tokenize.DefaultConfig()}
	fs := newFlagSet(toolTokenize, stderr, tokenizeUsage)
	fs.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer: a Hugging Face model `DIR` (tokenizer.json, tokenizer_config.json), a tokenizer.json FILE, or builtin:bytes")
	fs.StringVar(&f.chatTemplate, "chat-template", "auto", "chat template for conversational pairs: auto (tokenizer_config.json / chat_template.jinja), none, or a Jinja `FILE`")
	fs.StringVar(&f.templateArgs, "chat-template-kwargs", "", "extra chat template variables as a JSON object, e.g. '{\"enable_thinking\": false}'")
	fs.StringVar(&f.eosToken, "eos-token", "", "EOS token text appended to text completions (default: tokenizer_config.json's eos_token; \"none\" appends nothing)")
	fs.IntVar(&f.cfg.MaxLength, "max-length", f.cfg.MaxLength, "maximum prompt+completion tokens, as TRL's DPOConfig.max_length (0: no limit)")
	fs.StringVar(&f.cfg.Truncation, "truncation-mode", f.cfg.Truncation, "what --max-length keeps: keep_start (cut the completions' end; a pair whose prompt fills --max-length is dropped) or keep_end (cut the prompt's start for the longer completion; a pair whose completion fills --max-length is dropped)")
	fs.IntVar(&f.cfg.MaxPromptLength, "max-prompt-length", f.cfg.MaxPromptLength, "maximum prompt tokens, keeping the prompt's end (0: no limit; TRL 1.16 has no such option)")
	fs.IntVar(&f.cfg.MaxCompletionLength, "max-completion-length", f.cfg.MaxCompletionLength, "maximum completion tokens, keeping the start (0: no limit; TRL 1.16 has no such option)")
	fs.BoolVar(&f.strict, "strict", false, "fail instead of dropping pairs (too long, chosen equal to rejected) or warning about empty prompts")
	fs.StringVar(&f.onError, "on-error", "fail", "bad input rows: fail, or skip (count them and write them to --rejects)")
	fs.StringVar(&f.rejects, "rejects", "", "write rejected and dropped rows with their reasons to this JSONL `FILE`")
	fs.StringVar(&f.out, "o", "-", "output `FILE` (- for stdout), written atomically")
	fs.StringVar(&f.format, "format", "auto", "input format: auto, jsonl, json, parquet, arrow")
	fs.StringVar(&f.split, "split", pairs.DefaultSplit, "`SPLIT` read from an input directory of a Hugging Face DatasetDict (save_to_disk)")
	fs.StringVar(&f.columns, "columns", "", "dataset column names as role=column pairs, roles chosen, rejected, prompt, id, system, tools (e.g. prompt=question,system=system); default: TRL's names, no system column")
	fs.StringVar(&f.rated.Mode, "pairs", pairs.BestWorst, "rated completions (rows {prompt, completions, scores}, or a judge's {id, prompt, completion, score} rows) become pairs: best-worst, best-random (UltraFeedback's binarization, seeded by --seed) or all (every ordered pair with a score gap above --min-score-gap)")
	fs.Float64Var(&f.rated.MinScoreGap, "min-score-gap", 0, "rated completions: a pair needs chosen's score minus rejected's above this (0: any strictly better); prompts without such a pair are counted and skipped")
	fs.Uint64Var(&f.rated.Seed, "seed", 0, "rated completions: seed of --pairs best-random's draw (per prompt id)")
	fs.IntVar(&f.workers, "workers", runtime.GOMAXPROCS(0), "encoding goroutines (output order always equals input order)")
	fs.StringVar(&f.summary, "summary", "", "also write the summary as JSON to this `FILE`")
	codecFlagVar(fs, &f.codec)
	fs.IntVar(&f.batchRows, "batch-rows", 0, "rows per record batch (0: default)")
	fs.Func("max-line-bytes", fmt.Sprintf("refuse a JSON Lines record (or JSON array element) longer than this `SIZE` (file:line in the error) before reading it all, and a Parquet/Arrow row whose strings add up to more (a row error naming the row and field): a number of bytes or one such as 64MiB, 0 for no limit (default %s)", formatBytes(pairs.DefaultMaxLineBytes)), func(v string) error {
		n, err := parseBytes(v)
		if err != nil {
			return fmt.Errorf("%q: want a size such as 64MiB, or 0 for no limit", v)
		}
		if f.maxLine = int(n); n == 0 {
			f.maxLine = -1
		}
		return nil
	})
	fs.BoolVar(&f.quiet, "q", false, "no summary or progress on stderr")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	return fs, f
}

// Tokenize is dpo-tokenize.
func Tokenize(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	fs, f := newTokenizeFlags(stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.version {
		fmt.Fprintln(stdout, versionLine("dpo-tokenize"))
		return nil
	}
	inputs, err := expandInputs(fs.Args())
	if err != nil {
		return err
	}
	input := strings.Join(inputs, " + ") // for messages
	columns, err := pairs.ParseColumns(f.columns)
	if err != nil {
		return &UsageError{Err: err}
	}
	_, f.cfg.SystemColumn = columns["system"]
	if f.tokenizer == "" {
		return usagef("--tokenizer is required (a model directory, a tokenizer.json, or builtin:bytes)")
	}
	if err := f.cfg.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	if err := f.rated.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	if f.onError != "fail" && f.onError != "skip" {
		return usagef("--on-error %q: want fail or skip", f.onError)
	}
	if f.onError == "skip" && f.rejects == "" {
		return usagef("--on-error skip needs --rejects FILE: skipped rows are never dropped silently")
	}
	if f.templateArgs != "" {
		if err := json.Unmarshal([]byte(f.templateArgs), &f.cfg.TemplateKwargs); err != nil {
			return usagef("--chat-template-kwargs: not a JSON object: %v", err)
		}
	}
	log := stderr
	if f.quiet {
		log = io.Discard
	}

	ins := []pathArg{{"", input}}
	if f.chatTemplate != "auto" && f.chatTemplate != "none" && f.chatTemplate != "" {
		ins = append(ins, pathArg{"--chat-template", f.chatTemplate})
	}
	if err := refuseBinaryToTerminal("dpo-tokenize", f.out, stdout); err != nil {
		return err
	}
	outs, err := openOutputs(stdin, stdout, ins, []pathArg{{"--rejects", f.rejects}, {"--summary", f.summary}, {"-o", f.out}})
	if err != nil {
		return err
	}
	defer outs.abort()
	rejects, summary, out := outs.files[0], outs.files[1], outs.files[2]

	enc, err := loadEncoder(ctx, f.tokenizer, f.chatTemplate, f.eosToken, f.cfg)
	if err != nil {
		return err
	}
	tok := enc.Tokenizer()

	mem := memory.DefaultAllocator
	in, err := pairs.OpenAll(inputs, stdin, pairs.Options{Format: f.format, Mem: mem, Columns: columns, Rated: &f.rated, MaxLineBytes: f.maxLine, Split: f.split})
	if err != nil {
		return err
	}
	defer in.Close()

	meta := arrowio.NewMetadata("dpo-tokenize", Version)
	meta.SetTokenizer(tok.Name(), tok.SHA256())
	meta.Set(keyTokenizerVocabSize, fmt.Sprint(tok.VocabSize()))
	tmplSHA := ""
	if tmpl := enc.ChatTemplate(); tmpl != nil {
		tmplSHA = tmpl.SHA256()
	}
	meta.SetChatTemplateSHA256(tmplSHA)
	stageOpts := struct {
		tokenize.Config
		BOSToken string            `json:"bos_token"`
		EOSToken string            `json:"eos_token"`
		Columns  map[string]string `json:"columns,omitempty"`
		Rated    pairs.Binarize    `json:"rated"`
	}{Config: f.cfg, Columns: columns, Rated: f.rated}
	stageOpts.BOSToken, stageOpts.EOSToken = enc.SpecialTokens()
	if err := meta.SetStage(arrowio.StageTokenize, Version, stageOpts); err != nil {
		return err
	}

	schema := arrowio.PairsSchema(meta)
	w, err := arrowio.NewWriter(out, schema, arrowio.WriterOptions{Codec: f.codec, BatchRows: f.batchRows, Mem: mem, File: arrowio.WantsIPCFile(out)})
	if err != nil {
		return &UsageError{Err: err}
	}
	sink := &pairSink{w: w, mem: mem, schema: schema}
	prog := newProgress(log, !f.quiet && isTerminal(stderr), "pairs")
	opts := tokenize.Options{
		InputName: arrowio.InputName(input),
		Workers:   f.workers,
		Strict:    f.strict,
		SkipBad:   f.onError == "skip",
		Log:       log,
		Progress:  prog.update,
	}
	if rejects != nil {
		opts.Rejects = rejects
	}
	sum, runErr := tokenize.Run(ctx, in, enc, sink, opts)
	prog.done()
	rated := pairs.ReadRatedStats(in)
	if rated.Prompts > 0 {
		sum.Rated = &rated
	}
	if runErr != nil {
		// The output is aborted by the deferred cleanup: no end marker, no file.
		if errors.Is(runErr, pairs.ErrLineTooLong) {
			return fmt.Errorf("%w; raise the limit with --max-line-bytes if the line is meant", runErr)
		}
		return runErr
	}
	if sum.Written == 0 {
		if !f.quiet {
			sum.Format(stderr)
		}
		return errors.New("no pairs written: the input is empty or every pair was dropped or rejected")
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out.Name(), err)
	}
	if summary != nil {
		if err := writeJSONOutput(summary, "--summary", sum); err != nil {
			return err
		}
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if !f.quiet {
		sum.Format(stderr)
	}
	return nil
}

// loadEncoder loads the tokenizer spec and the chat template (see
// --chat-template; its rendering stops when ctx is cancelled) and returns
// the encoder dpo-tokenize encodes pairs with, and dpo-sample prompts.
// eosToken is --eos-token: "" for tokenizer_config.json's, "none" for no
// EOS appended to text completions, or a token's text.
func loadEncoder(ctx context.Context, spec, chatTemplate, eosToken string, cfg tokenize.Config) (*tokenize.Encoder, error) {
	tok, tcfg, err := loadTokenizer(spec)
	if err != nil {
		return nil, err
	}
	tmpl, err := loadChatTemplate(chatTemplate, spec, tcfg)
	if err != nil {
		return nil, err
	}
	if tmpl != nil {
		tmpl = tmpl.WithContext(ctx) // SIGTERM stops a runaway template
	}
	bos, eos := "", ""
	var render chat.RenderOptions
	if tcfg != nil {
		render = tcfg.RenderOptions()
		bos, eos = tcfg.BOSToken, tcfg.EOSToken
	}
	if tok.Name() == "builtin:bytes" {
		bos, eos = "<|bos|>", "<|eos|>"
	}
	switch eosToken {
	case "":
	case "none":
		eos = ""
	default:
		eos = eosToken
	}
	enc, err := tokenize.NewEncoder(cfg, tok, tmpl, bos, eos, render)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", spec, err)
	}
	return enc, nil
}

// loadTokenizer loads a tokenizer and, when there is one beside it, its
// tokenizer_config.json.
func loadTokenizer(spec string) (*tokenizer.Tokenizer, *chat.Config, error) {
	if name, ok := strings.CutPrefix(spec, "builtin:"); ok {
		t, err := tokenizer.Builtin(name)
		if err != nil {
			return nil, nil, &UsageError{Err: err}
		}
		return t, nil, nil
	}
	t, err := tokenizer.Load(spec)
	if err != nil {
		return nil, nil, err
	}
	dir := spec
	if st, err := os.Stat(spec); err == nil && !st.IsDir() {
		dir = filepath.Dir(spec)
	}
	if !exists(filepath.Join(dir, "tokenizer_config.json")) && !exists(filepath.Join(dir, "chat_template.jinja")) {
		return t, nil, nil
	}
	cfg, err := chat.LoadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	return t, cfg, nil
}

func loadChatTemplate(spec, tokSpec string, cfg *chat.Config) (*chat.Template, error) {
	var src, from string
	switch spec {
	case "none":
		return nil, nil
	case "auto", "":
		if cfg == nil || cfg.ChatTemplate == "" {
			return nil, nil
		}
		src, from = cfg.ChatTemplate, tokSpec
	default:
		b, err := os.ReadFile(spec)
		if err != nil {
			return nil, fmt.Errorf("--chat-template: %w", err)
		}
		src, from = string(b), spec
	}
	t, err := chat.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("chat template from %s: %w", from, err)
	}
	return t.WithName(from), nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// pairSink appends tokenized pairs to an arrowio.Writer.
type pairSink struct {
	w      *arrowio.Writer
	mem    memory.Allocator
	schema *arrow.Schema
}

func (s *pairSink) WritePairs(ps []tokenize.Pair) error {
	b, err := arrowio.NewPairBuilder(s.mem, s.schema)
	if err != nil {
		return err
	}
	defer b.Release()
	for _, p := range ps {
		b.Append(p.ID, p.Prompt, p.Chosen, p.Rejected)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return s.w.Write(rec)
}

// writeFileAtomic writes data to path through a temp file and a rename.
func writeFileAtomic(path string, data []byte) error {
	o, err := arrowio.CreateOutput(path, nil)
	if err != nil {
		return err
	}
	if _, err := o.Write(data); err != nil {
		o.Abort()
		return err
	}
	return o.Commit()
}

// keyTokenizerVocabSize records the tokenizer's vocabulary size, so that a
// later stage can refuse a model whose embedding table is smaller.
const keyTokenizerVocabSize = "dpo.tokenizer.vocab_size"
