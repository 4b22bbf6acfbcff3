package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/chat"
	"github.com/dpo-go/dpo/pkg/ckpt"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/pairs"
	"github.com/dpo-go/dpo/pkg/sample"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

const sampleUsage = `Usage: dpo-sample --model DIR [flags] [prompts.jsonl|pairs.arrow|-] > completions.arrow

Generates --n completions per prompt with a causal LM (a Hugging Face
checkpoint, or a PEFT LoRA adapter directory with its base), batched with a
KV cache, and writes one row per completion: id, sample_index, prompt,
completion (decoded, special tokens skipped), prompt_input_ids,
completion_input_ids (the eos token included when the model ended with it),
logp (the summed, untempered log-probability of the completion tokens under
the model: what dpo-reflogp computes for the same tokens) and finish_reason
(eos, stop or length), as a zstd Arrow stream (dpo.kind=completions) or
JSONL (--format jsonl).

Prompts are JSONL rows {"id": ..., "prompt": "text" | [messages]} (id
optional: the row number), rendered as dpo-tokenize renders a pair's prompt
(text with the tokenizer's special tokens; messages with the chat template
and its generation prompt), or a dpo pairs stream, whose prompt_input_ids
are used as they are.

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
  dpo-sample --model ./policy --n 4 --temperature 0.8 --top-p 0.95 --format jsonl prompts.jsonl \
    | ./judge | dpo-tokenize --tokenizer ./policy > pairs.arrow    (judges: docs/judges.md)

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
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// samplePrompt is one prompt to complete.
type samplePrompt struct {
	id   string
	text string // as given (JSON of the messages for conversations)
	ids  []int32
}

// Sample is dpo-sample.
func Sample(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("dpo-sample", stderr, sampleUsage)
	modelDir := fs.String("model", "", "model: a Hugging Face checkpoint `DIR`, or a PEFT adapter directory (see --base)")
	tokSpec := fs.String("tokenizer", "", "tokenizer: a model `DIR`, a tokenizer.json FILE or builtin:bytes (default: the model directory's tokenizer.json, or the builtin tokenizer its dpo.json names)")
	chatTmpl := fs.String("chat-template", "auto", "chat template for conversational prompts: auto (tokenizer_config.json / chat_template.jinja), none, or a Jinja `FILE`")
	out := fs.String("o", "-", "output `FILE` (- for stdout), written atomically")
	format := fs.String("format", "arrow", "output format: arrow (zstd Arrow IPC stream) or jsonl")
	codec := fs.String("codec", arrowio.CodecZstd, "stream buffer compression: zstd, lz4, none")
	n := fs.Int("n", 1, "completions per prompt")
	maxNew := fs.Int("max-new-tokens", 256, "most tokens generated per completion")
	cfg := sample.DefaultConfig()
	fs.Float64Var(&cfg.Temperature, "temperature", cfg.Temperature, "sampling temperature; 0 = greedy decoding")
	fs.IntVar(&cfg.TopK, "top-k", 0, "keep the k most likely tokens (0: off)")
	fs.Float64Var(&cfg.TopP, "top-p", 1, "nucleus sampling: keep the most likely tokens up to this probability mass (1: off)")
	fs.Float64Var(&cfg.MinP, "min-p", 0, "drop tokens less likely than min-p times the most likely one (0: off)")
	seed := fs.Uint64("seed", 0, "random seed (with the prompt id and sample index: one stream per completion)")
	var stops stringList
	fs.Var(&stops, "stop", "stop a completion when its text contains this `STRING` (repeatable; the string is kept)")
	mf := addModelFlags(fs)
	std := addStdFlags(fs)
	input, done, err := std.parseInput(fs, args, stdout)
	if done || err != nil {
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
	outs, err := openOutputs(stdin, stdout, inputArgs([]string{input}), []pathArg{{"-o", *out}})
	if err != nil {
		return err
	}
	defer outs.abort()
	o := outs.files[0]

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
	tok, tcfg, err := loadTokenizer(spec)
	if err != nil {
		return err
	}
	tmpl, err := loadChatTemplate(*chatTmpl, spec, tcfg)
	if err != nil {
		return err
	}
	if tmpl != nil {
		tmpl = tmpl.WithContext(ctx)
	}
	enc := promptEncoder{tok: tok, tmpl: tmpl, bosID: -1}
	if tcfg != nil {
		enc.render = tcfg.RenderOptions()
		enc.render.BOSToken, enc.render.EOSToken = tcfg.BOSToken, tcfg.EOSToken
		if id, ok := tok.TokenToID(tcfg.BOSToken); ok && tcfg.BOSToken != "" {
			enc.bosID = id
		}
	}
	if tok.Name() == "builtin:bytes" {
		enc.bosID = 256
	}

	meta, prompts, err := readPrompts(input, stdin, enc)
	if err != nil {
		return err
	}
	if len(prompts) == 0 {
		return fmt.Errorf("%s: %w", arrowio.InputName(input), errNoRows)
	}
	if meta.Len() == 0 {
		meta = arrowio.NewMetadata("dpo-sample", Version)
		meta.SetTokenizer(tok.Name(), tok.SHA256())
		tmplSHA := ""
		if tmpl != nil {
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
	eos, err := eosTokenIDs(baseDir, mcfg)
	if err != nil {
		return err
	}
	opts := sampleOptions{Model: *modelDir, Architecture: string(mcfg.Arch), Backend: lm.eng.BackendName(),
		BatchTokens: mf.opts.BatchTokens, BF16: mf.opts.BF16, Sampling: cfg, N: *n, MaxNewTokens: *maxNew,
		Seed: *seed, Stop: stops, EOSTokenIDs: eos}
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
	rows, newTokens, err := generateCompletions(ctx, lm.model, tok, prompts, *n, *maxNew, cfg, *seed, stops, eos,
		newProgress(log, !std.quiet && isTerminal(stderr), "completions"))
	if err != nil {
		return err
	}
	if *format == "jsonl" {
		err = writeCompletionsJSONL(o, rows)
	} else {
		err = writeCompletionsArrow(o, meta, rows, *codec)
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

// eosTokenIDs returns the config's eos ids and generation_config.json's
// (transformers' generate stops at any of them).
func eosTokenIDs(dir string, cfg *model.Config) ([]int32, error) {
	var ids []int32
	add := func(id int) {
		if id >= 0 && !slices.Contains(ids, int32(id)) {
			ids = append(ids, int32(id))
		}
	}
	for _, id := range cfg.EOSTokenIDs {
		add(id)
	}
	path := filepath.Join(dir, "generation_config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ids, nil
	}
	if err != nil {
		return nil, err
	}
	var gc struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(b, &gc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var one int
	var many []int
	switch {
	case len(gc.EOS) == 0 || string(gc.EOS) == "null":
	case json.Unmarshal(gc.EOS, &one) == nil:
		add(one)
	case json.Unmarshal(gc.EOS, &many) == nil:
		for _, id := range many {
			add(id)
		}
	default:
		return nil, fmt.Errorf("%s: field eos_token_id: want an integer or a list of integers, got %s", path, gc.EOS)
	}
	return ids, nil
}

// promptEncoder turns a prompt into ids as dpo-tokenize encodes a pair's
// prompt.
type promptEncoder struct {
	tok    *tokenizer.Tokenizer
	tmpl   *chat.Template
	render chat.RenderOptions
	bosID  int32
}

func (e promptEncoder) text(s string) []int32 {
	ids := e.tok.Encode(s, true)
	if e.bosID >= 0 && len(ids) >= 2 && ids[0] == e.bosID && ids[1] == e.bosID {
		ids = ids[1:]
	}
	return ids
}

func (e promptEncoder) messages(msgs []chat.Message) ([]int32, error) {
	if e.tmpl == nil {
		return nil, errors.New("conversational prompt but no chat template (the tokenizer has none; pass --chat-template FILE)")
	}
	opts := e.render
	opts.AddGenerationPrompt = true
	text, err := e.tmpl.Render(msgs, opts)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return e.tok.Encode(text, false), nil
}

// readPrompts reads JSONL prompts or a dpo pairs stream. meta is the
// stream's metadata (empty for JSONL).
func readPrompts(input string, stdin io.Reader, enc promptEncoder) (arrowio.Metadata, []samplePrompt, error) {
	name := arrowio.InputName(input)
	var src io.Reader = stdin
	if input != "-" {
		f, err := os.Open(input)
		if err != nil {
			return arrowio.Metadata{}, nil, err
		}
		defer f.Close()
		src = f
	}
	br := bufio.NewReaderSize(src, 1<<16)
	head, _ := br.Peek(512)
	switch pairs.Sniff(head) {
	case "arrow":
		return readStreamPrompts(input, br, enc)
	case "jsonl":
		ps, err := readJSONLPrompts(name, br, enc)
		return arrowio.Metadata{}, ps, err
	}
	return arrowio.Metadata{}, nil, fmt.Errorf("%s: not JSONL prompts or a dpo pairs stream (Parquet, JSON arrays and compressed input are not read by dpo-sample)", name)
}

func readJSONLPrompts(name string, r *bufio.Reader, enc promptEncoder) ([]samplePrompt, error) {
	var out []samplePrompt
	for line := 1; ; line++ {
		raw, err := r.ReadBytes('\n')
		if len(strings.TrimSpace(string(raw))) > 0 {
			p, perr := jsonPrompt(raw, line, enc)
			if perr != nil {
				return nil, fmt.Errorf("%s: line %d: %w", name, line, perr)
			}
			out = append(out, p)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
}

// jsonPrompt decodes one JSONL prompt row.
func jsonPrompt(raw []byte, line int, enc promptEncoder) (samplePrompt, error) {
	var row struct {
		ID     json.RawMessage `json:"id"`
		Prompt json.RawMessage `json:"prompt"`
	}
	if err := json.Unmarshal(raw, &row); err != nil {
		return samplePrompt{}, err
	}
	p := samplePrompt{id: fmt.Sprint(line - 1)}
	if len(row.ID) > 0 && string(row.ID) != "null" {
		var s string
		var i int64
		switch {
		case json.Unmarshal(row.ID, &s) == nil:
			p.id = s
		case json.Unmarshal(row.ID, &i) == nil:
			p.id = fmt.Sprint(i)
		default:
			return p, fmt.Errorf("field id: want a string or an integer, got %s", row.ID)
		}
	}
	var err error
	switch t := strings.TrimSpace(string(row.Prompt)); {
	case t == "" || t == "null":
		return p, errors.New("field prompt: missing")
	case t[0] == '"':
		if err := json.Unmarshal(row.Prompt, &p.text); err != nil {
			return p, fmt.Errorf("field prompt: %w", err)
		}
		p.ids = enc.text(p.text)
	case t[0] == '[':
		var msgs []chat.Message
		if err := json.Unmarshal(row.Prompt, &msgs); err != nil {
			return p, fmt.Errorf("field prompt: want a string or a list of {role, content} messages with string content: %w", err)
		}
		p.text = t
		if p.ids, err = enc.messages(msgs); err != nil {
			return p, fmt.Errorf("field prompt: %w", err)
		}
	default:
		return p, fmt.Errorf("field prompt: want a string or a list of messages, got %.20s", t)
	}
	if len(p.ids) == 0 {
		return p, errors.New("field prompt: no tokens (the first token needs a prompt token to follow)")
	}
	return p, nil
}

// readStreamPrompts reads the prompts of a dpo pairs stream (one per row,
// the prompt text decoded from its ids).
func readStreamPrompts(input string, r io.Reader, enc promptEncoder) (arrowio.Metadata, []samplePrompt, error) {
	ar, err := arrowio.OpenAll([]string{"-"}, r, memory.DefaultAllocator)
	if err != nil {
		return arrowio.Metadata{}, nil, fmt.Errorf("%s: %w", arrowio.InputName(input), err)
	}
	defer ar.Release()
	var out []samplePrompt
	for batch := 0; ar.Next(); batch++ {
		p, err := arrowio.ReadPairs(ar.Record())
		if err != nil {
			return arrowio.Metadata{}, nil, fmt.Errorf("%s: batch %d: %w", arrowio.InputName(input), batch, err)
		}
		for i := range p.Rows {
			ids := slices.Clone(p.Prompt.Row(i))
			if len(ids) == 0 {
				return arrowio.Metadata{}, nil, fmt.Errorf("%s: batch %d, row %d (id %q): prompt_input_ids is empty", arrowio.InputName(input), batch, i, p.ID.Value(i))
			}
			out = append(out, samplePrompt{id: p.ID.Value(i), text: decodeText(enc.tok, ids), ids: ids})
		}
	}
	if err := ar.Err(); err != nil {
		return arrowio.Metadata{}, nil, err
	}
	return ar.Metadata(), out, nil
}

// decodeText is the text of ids without special tokens; bytes that are not
// UTF-8 (a byte-level model can produce any) become U+FFFD, as
// transformers' decode (errors="replace") makes them.
func decodeText(tok *tokenizer.Tokenizer, ids []int32) string {
	return strings.ToValidUTF8(tok.Decode(ids, true), "\uFFFD")
}

// genRow is one completion being generated.
type genRow struct {
	prompt int
	index  int
	ids    []int32
	logp   float64
	finish string
}

// generateCompletions runs the model over every (prompt, sample index)
// and returns the rows in that order, and the tokens generated.
func generateCompletions(ctx context.Context, m *engine.Model, tok *tokenizer.Tokenizer, prompts []samplePrompt, n, maxNew int,
	cfg sample.Config, seed uint64, stops []string, eos []int32, prog rowProgress) ([]arrowio.Completion, int, error) {
	rows := make([]genRow, 0, len(prompts)*n)
	ids := make([][]int32, 0, len(prompts)*n)
	for i, p := range prompts {
		for j := range n {
			rows = append(rows, genRow{prompt: i, index: j, finish: arrowio.FinishLength})
			ids = append(ids, p.ids)
		}
	}
	rngs := make(map[int]*rand.Rand) // streams of the rows being generated
	s := sample.New(cfg)
	total := 0
	next := func(row int, logits []float32) (int32, bool) {
		r := &rows[row]
		rng, ok := rngs[row]
		if !ok {
			rng = sample.RNG(seed, prompts[r.prompt].id, r.index)
			rngs[row] = rng
		}
		t := s.Draw(logits, rng)
		r.ids = append(r.ids, t)
		r.logp += sample.LogProb(logits, t)
		total++
		if slices.Contains(eos, t) {
			r.finish = arrowio.FinishEOS
			delete(rngs, row)
			return t, true
		}
		if len(stops) > 0 {
			text := decodeText(tok, r.ids)
			for _, s := range stops {
				if strings.Contains(text, s) {
					r.finish = arrowio.FinishStop
					delete(rngs, row)
					return t, true
				}
			}
		}
		if len(r.ids) >= maxNew {
			delete(rngs, row)
		}
		return t, false
	}
	if _, err := m.Generate(ctx, ids, maxNew, next, func(done, total int) { prog.m.SetTotal(int64(total)); prog.update(int64(done)) }); err != nil {
		return nil, 0, err
	}
	prog.done()
	out := make([]arrowio.Completion, len(rows))
	for i, r := range rows {
		p := prompts[r.prompt]
		out[i] = arrowio.Completion{ID: p.id, SampleIndex: int32(r.index), Prompt: p.text,
			Completion: decodeText(tok, r.ids), PromptIDs: p.ids, CompletionIDs: r.ids, Logp: r.logp, FinishReason: r.finish}
	}
	return out, total, nil
}

// writeCompletionsArrow writes rows as a completions stream.
func writeCompletionsArrow(o io.Writer, meta arrowio.Metadata, rows []arrowio.Completion, codec string) error {
	mem := memory.DefaultAllocator
	schema := arrowio.CompletionsSchema(meta)
	w, err := arrowio.NewWriter(o, schema, arrowio.WriterOptions{Codec: codec, Mem: mem})
	if err != nil {
		return &UsageError{Err: err}
	}
	b, err := arrowio.NewCompletionBuilder(mem, schema)
	if err != nil {
		return err
	}
	defer b.Release()
	const batchRows = 1024
	flush := func() error {
		rec := b.NewRecordBatch()
		defer rec.Release()
		return w.Write(rec)
	}
	for i, r := range rows {
		b.Append(r)
		if b.Len() == batchRows || i == len(rows)-1 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return w.Close()
}

// completionJSON is a completion as a JSONL row (the stream's columns).
type completionJSON struct {
	ID            string  `json:"id"`
	SampleIndex   int32   `json:"sample_index"`
	Prompt        string  `json:"prompt"`
	Completion    string  `json:"completion"`
	PromptIDs     []int32 `json:"prompt_input_ids"`
	CompletionIDs []int32 `json:"completion_input_ids"`
	Logp          float64 `json:"logp"`
	FinishReason  string  `json:"finish_reason"`
}

func writeCompletionsJSONL(o io.Writer, rows []arrowio.Completion) error {
	bw := bufio.NewWriter(o)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(completionJSON(r)); err != nil {
			return err
		}
	}
	return bw.Flush()
}
