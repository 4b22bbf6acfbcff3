package tokenize

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dpo-go/dpo/pkg/chat"
	"github.com/dpo-go/dpo/pkg/pairs"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

// Truncation modes, as TRL's DPOConfig.truncation_mode.
const (
	KeepEnd   = "keep_end"
	KeepStart = "keep_start"
)

// Drop reasons, as counted in the summary.
const (
	DropPromptFillsMaxLength     = "prompt_fills_max_length"
	DropCompletionFillsMaxLength = "completion_fills_max_length"
	DropEmptyCompletion          = "empty_completion_after_tokenization"
)

// Config holds every option that shapes the ids. It is recorded in the
// stream metadata.
type Config struct {
	MaxLength           int            `json:"max_length"`            // prompt+completion; 0 = no limit
	MaxPromptLength     int            `json:"max_prompt_length"`     // 0 = no limit
	MaxCompletionLength int            `json:"max_completion_length"` // 0 = no limit
	Truncation          string         `json:"truncation_mode"`       // keep_end | keep_start
	TemplateKwargs      map[string]any `json:"chat_template_kwargs,omitempty"`
	// SystemColumn is true when the dataset's system column is read: text
	// pairs are then rendered as conversations (see Example.System).
	SystemColumn bool `json:"system_column,omitempty"`
}

// DefaultConfig returns TRL 1.16's DPOConfig defaults: max_length 1024,
// truncation_mode keep_start. DPOConfig has no max_prompt_length or
// max_completion_length (TRL removed them), so those caps are off.
func DefaultConfig() Config {
	return Config{MaxLength: 1024, Truncation: KeepStart}
}

// Validate checks the options.
func (c Config) Validate() error {
	if c.Truncation != KeepEnd && c.Truncation != KeepStart {
		return fmt.Errorf("truncation mode %q: want %s or %s", c.Truncation, KeepEnd, KeepStart)
	}
	if c.MaxLength < 0 || c.MaxPromptLength < 0 || c.MaxCompletionLength < 0 {
		return errors.New("max lengths must be >= 0 (0 means no limit)")
	}
	return nil
}

// Encoder encodes pairs. It is safe for concurrent use.
type Encoder struct {
	cfg      Config
	tok      *tokenizer.Tokenizer
	tmpl     *chat.Template // nil: no chat template
	special  chat.RenderOptions
	eos      string // EOS token text appended to text completions
	eosID    int32
	bosID    int32 // -1 if none
	eosIsStr bool  // the tokenizer recognises eos as an added token in text
}

// NewEncoder builds an encoder. tmpl may be nil (text pairs only). eos and
// bos are the token strings of tokenizer_config.json ("" if unknown).
func NewEncoder(cfg Config, tok *tokenizer.Tokenizer, tmpl *chat.Template, bos, eos string, extra chat.RenderOptions) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Encoder{cfg: cfg, tok: tok, tmpl: tmpl, special: extra, eos: eos, eosID: -1, bosID: -1}
	e.special.BOSToken, e.special.EOSToken = bos, eos
	if cfg.TemplateKwargs != nil {
		if e.special.Extra == nil {
			e.special.Extra = map[string]any{}
		}
		for k, v := range cfg.TemplateKwargs {
			e.special.Extra[k] = v
		}
	}
	if eos != "" {
		id, ok := tok.TokenToID(eos)
		if !ok {
			return nil, fmt.Errorf("eos token %q is not in the tokenizer's vocabulary", eos)
		}
		e.eosID = id
		// The token text is matched as an added token only if encoding it
		// alone yields exactly its id.
		e.eosIsStr = slices.Equal(tok.Encode(eos, false), []int32{id})
	}
	if bos != "" {
		if id, ok := tok.TokenToID(bos); ok {
			e.bosID = id
		}
	}
	return e, nil
}

// Pair is one tokenized pair.
type Pair struct {
	ID                       string
	Prompt, Chosen, Rejected []int32
	// PrefixMismatch lists the completions ("chosen", "rejected") whose joint
	// encoding did not start with the prompt's ids.
	PrefixMismatch []string
	// Truncated is true when any truncation removed tokens.
	Truncated bool
}

// DropError reports a pair that cannot be written under the truncation
// options (counted by reason, or fatal in strict mode).
type DropError struct{ Reason string }

func (e *DropError) Error() string { return "pair dropped: " + e.Reason }

// Encode tokenizes one example. Row-level problems (template errors, a
// missing chat template) are returned as errors naming the field; a pair that
// cannot fit returns a *DropError.
func (e *Encoder) Encode(ex pairs.Example) (Pair, error) {
	p := Pair{ID: ex.ID}
	var prompt, chosen, rejected []int32
	ex, err := e.prepare(ex)
	if err != nil {
		return p, err
	}
	if ex.Prompt.IsChat() || ex.Chosen.IsChat() {
		prompt, chosen, rejected, p.PrefixMismatch, err = e.encodeChat(ex)
	} else {
		prompt, chosen, rejected, p.PrefixMismatch = e.encodeText(ex)
	}
	if err != nil {
		return p, err
	}
	if len(chosen) == 0 || len(rejected) == 0 {
		return p, &DropError{Reason: DropEmptyCompletion}
	}
	p.Prompt, p.Chosen, p.Rejected, p.Truncated, err = e.truncate(prompt, chosen, rejected)
	return p, err
}

func (e *Encoder) encodeText(ex pairs.Example) (prompt, chosen, rejected []int32, mismatch []string) {
	prompt = e.encodeTextSpecial(ex.Prompt.Str)
	joint := func(completion string) []int32 {
		text := ex.Prompt.Str + completion
		appendID := false
		if e.eos != "" && !strings.HasSuffix(completion, e.eos) {
			if e.eosIsStr {
				text += e.eos
			} else {
				appendID = true
			}
		}
		ids := e.encodeTextSpecial(text)
		if appendID {
			ids = append(ids, e.eosID)
		}
		return ids
	}
	return split(prompt, joint(ex.Chosen.Str), joint(ex.Rejected.Str))
}

// split cuts prompt+chosen and prompt+rejected where the completions start,
// as TRL's DPOTrainer does: after the longest prefix that the prompt's ids
// share with both joint encodings. The prompt keeps that prefix. When the
// prompt's ids are not a prefix of a joint encoding (tokens merged across
// the boundary, or a template that renders the prompt alone differently),
// the completion's name is listed in mismatch.
func split(prompt, pc, pr []int32) (p, c, r []int32, mismatch []string) {
	n := min(commonPrefix(prompt, pc), commonPrefix(prompt, pr))
	if n < len(prompt) {
		if commonPrefix(prompt, pc) < len(prompt) {
			mismatch = append(mismatch, "chosen")
		}
		if commonPrefix(prompt, pr) < len(prompt) {
			mismatch = append(mismatch, "rejected")
		}
	}
	return prompt[:n:n], pc[n:], pr[n:], mismatch
}

func commonPrefix(a, b []int32) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// encodeTextSpecial encodes with the tokenizer's special tokens, removing a
// BOS doubled by a text that already starts with it.
func (e *Encoder) encodeTextSpecial(text string) []int32 {
	ids := e.tok.Encode(text, true)
	if e.bosID >= 0 && len(ids) >= 2 && ids[0] == e.bosID && ids[1] == e.bosID {
		ids = ids[1:]
	}
	return ids
}

// Prompt is a prompt encoded for generation.
type Prompt struct {
	ID string
	// Text is the prompt after the system column's merge: its text, or the
	// JSON of its messages (chat.MessagesJSON) for a conversation.
	Text string
	IDs  []int32
}

// EncodePrompt encodes the prompt side of ex (chosen and rejected unread)
// exactly as Encode encodes a pair's prompt: the system and tools columns
// merged by the same rules, a conversation rendered with the generation
// prompt, text with the tokenizer's special tokens and no doubled BOS. No
// truncation applies. A prompt with no tokens is an error (generation
// needs a token to follow).
func (e *Encoder) EncodePrompt(ex pairs.Example) (Prompt, error) {
	p := Prompt{ID: ex.ID}
	ex.Chosen, ex.Rejected = pairs.Text{}, pairs.Text{}
	ex, err := e.mergeSystem(ex, "prompt")
	if err != nil {
		return p, err
	}
	if ex.Prompt.IsChat() {
		if e.tmpl == nil {
			return p, errors.New("field prompt: conversational prompt but no chat template (the tokenizer has none; pass --chat-template FILE)")
		}
		if p.Text, err = chat.MessagesJSON(ex.Prompt.Messages); err != nil {
			return p, fmt.Errorf("field prompt: %w", err)
		}
		if p.IDs, _, err = e.encodeChatPrompt(ex); err != nil {
			return p, err
		}
	} else {
		p.Text = ex.Prompt.Str
		p.IDs = e.encodeTextSpecial(ex.Prompt.Str)
	}
	if len(p.IDs) == 0 {
		return p, errors.New("field prompt: no tokens (the first token needs a prompt token to follow)")
	}
	return p, nil
}

// Tokenizer returns the encoder's tokenizer.
func (e *Encoder) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// ChatTemplate returns the encoder's chat template (nil: none).
func (e *Encoder) ChatTemplate() *chat.Template { return e.tmpl }

// SpecialTokens returns the BOS and EOS token texts the encoder was built
// with ("" for none).
func (e *Encoder) SpecialTokens() (bos, eos string) { return e.special.BOSToken, e.eos }

// encodeChatPrompt renders ex's prompt messages with the generation prompt
// (and ex's tools) and encodes them; opts are the render options used.
func (e *Encoder) encodeChatPrompt(ex pairs.Example) (ids []int32, opts chat.RenderOptions, err error) {
	opts = e.special
	opts.AddGenerationPrompt = true
	if len(ex.Tools) > 0 {
		opts.Extra = withTools(opts.Extra, ex.Tools)
	}
	text, err := e.tmpl.Render(ex.Prompt.Messages, opts)
	if err != nil {
		return nil, opts, fmt.Errorf("field prompt: chat template: %w", err)
	}
	return e.tok.Encode(text, false), opts, nil
}

func (e *Encoder) encodeChat(ex pairs.Example) (prompt, chosen, rejected []int32, mismatch []string, err error) {
	if e.tmpl == nil {
		return nil, nil, nil, nil, errors.New("conversational pair but no chat template (the tokenizer has none; pass --chat-template FILE)")
	}
	if !ex.Prompt.IsChat() || !ex.Chosen.IsChat() || !ex.Rejected.IsChat() {
		return nil, nil, nil, nil, errors.New("prompt, chosen and rejected must all be message lists or all be strings")
	}
	prompt, opts, err := e.encodeChatPrompt(ex)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	opts.AddGenerationPrompt = false
	joint := func(name string, completion []chat.Message) ([]int32, error) {
		msgs := slices.Concat(ex.Prompt.Messages, completion)
		text, err := e.tmpl.Render(msgs, opts)
		if err != nil {
			return nil, fmt.Errorf("field %s: chat template: %w", name, err)
		}
		return e.tok.Encode(text, false), nil
	}
	pc, err := joint("chosen", ex.Chosen.Messages)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pr, err := joint("rejected", ex.Rejected.Messages)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	prompt, chosen, rejected, mismatch = split(prompt, pc, pr)
	return prompt, chosen, rejected, mismatch, nil
}

// truncate applies DPOConfig's truncation (see the package doc). keep_start
// equals TRL's. The prompt column is shared by both completions, so keep_end
// cuts the prompt for the longer completion: both sequences then fit in
// MaxLength, and the longer one equals TRL's.
func (e *Encoder) truncate(prompt, chosen, rejected []int32) (p, c, r []int32, truncated bool, err error) {
	cfg := e.cfg
	p, c, r = prompt, chosen, rejected
	if n := cfg.MaxPromptLength; n > 0 && len(p) > n {
		p, truncated = p[len(p)-n:], true
	}
	if n := cfg.MaxCompletionLength; n > 0 {
		if len(c) > n {
			c, truncated = c[:n], true
		}
		if len(r) > n {
			r, truncated = r[:n], true
		}
	}
	if n := cfg.MaxLength; n > 0 {
		switch cfg.Truncation {
		case KeepStart:
			if len(p) >= n {
				return nil, nil, nil, false, &DropError{Reason: DropPromptFillsMaxLength}
			}
			room := n - len(p)
			if len(c) > room {
				c, truncated = c[:room], true
			}
			if len(r) > room {
				r, truncated = r[:room], true
			}
		case KeepEnd:
			longest := max(len(c), len(r))
			if longest >= n {
				return nil, nil, nil, false, &DropError{Reason: DropCompletionFillsMaxLength}
			}
			if room := n - longest; len(p) > room {
				p, truncated = p[len(p)-room:], true
			}
		}
	}
	return p, c, r, truncated, nil
}
