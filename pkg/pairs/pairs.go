package pairs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/chat"
)

// Text is a prompt or a completion: plain text (Str) or, when Messages is
// not nil, a list of chat messages. Exactly one of the two is used.
type Text struct {
	Str      string
	Messages []chat.Message
}

// IsChat reports whether t is a list of chat messages.
func (t Text) IsChat() bool { return t.Messages != nil }

// Example is one preference pair.
type Example struct {
	// ID is the record's "id" field (integers in decimal) or, without one,
	// Row in decimal.
	ID string
	// Row is the 0-based index of the record in the input.
	Row int64
	// Prompt, Chosen and Rejected are all plain text or all message lists.
	Prompt, Chosen, Rejected Text
	// ImplicitPrompt is true when Prompt was extracted from the common
	// prefix of chosen and rejected.
	ImplicitPrompt bool
	// System is the system column's text (Options.Columns maps it); ""
	// when there is none. The tokenizer merges it into the first turn.
	System string
	// Tools is the tools column, a JSON list of tool schemas for the chat
	// template (nil when absent or null).
	Tools json.RawMessage
}

// Options configures [Open].
type Options struct {
	// Format is "auto" (or empty), "jsonl", "json", "parquet" or "arrow"
	// (an Arrow IPC file or stream). Compression is always detected.
	Format string
	// Mem allocates Arrow and Parquet buffers; nil means
	// memory.DefaultAllocator.
	Mem memory.Allocator
	// Columns maps roles (chosen, rejected, prompt, id, system, tools) to
	// the dataset's column names, e.g. {"prompt": "question", "system":
	// "system"}; unmapped roles use their own name, except system, which is
	// read only when mapped. See ParseColumns.
	Columns map[string]string
	// Rated, when not nil, lets inputs hold rated completions (grouped
	// {prompt, completions, scores} rows or flat {id, prompt, completion,
	// score} rows, told apart by a JSON input's first record or an Arrow
	// or Parquet input's columns), which are binarized into pairs with
	// these settings; inputs of pairs are read as before.
	Rated *Binarize
	// PromptOnly reads prompts without completions (dpo-sample's input):
	// the chosen and rejected columns are not read (nor may they be
	// mapped), and each Example has only ID, Row, Prompt, System and
	// Tools. A row needs a prompt (a string, possibly empty, or a non-empty
	// list of messages); without one Next returns a *RowError naming the
	// prompt column. It cannot be combined with Rated.
	PromptOnly bool
	// MaxLineBytes bounds a JSON Lines record (one line, without its
	// terminator): a longer line fails with ErrLineTooLong naming
	// file:line before more than MaxLineBytes of it is held in memory.
	// It bounds one element of a JSON array too (the decoder holds a few
	// times the bound before failing, naming the row).
	// 0 means DefaultMaxLineBytes; < 0 means no limit.
	MaxLineBytes int
	// Split is the split read from a Hugging Face DatasetDict directory
	// (save_to_disk); "" means DefaultSplit. See DatasetDirFiles.
	Split string
}

// DefaultMaxLineBytes is the default bound on a JSON Lines record (see
// Options.MaxLineBytes): far above any real preference pair (a 128k-token
// conversation is a few MiB), far below what decoding the line costs in
// memory (some 30 times its size).
const DefaultMaxLineBytes = 16 << 20

// ErrLineTooLong is wrapped by the error of a JSON Lines record longer than
// Options.MaxLineBytes. It ends reading: the line is not a row that can be
// skipped, it is a limit to raise.
var ErrLineTooLong = errors.New("line too long")

// Reader yields the examples of a dataset in input order.
type Reader interface {
	// Next returns the next example, io.EOF at the end, a *RowError for a
	// record that is invalid (the caller may call Next again), or another
	// error, after which the Reader is unusable.
	Next() (Example, error)
	// Close releases the reader's resources (and removes any temporary
	// file); it does not close the stdin passed to Open.
	Close() error
}

// Errors wrapped by RowError.Err, for errors.Is.
var (
	ErrSyntax      = errors.New("malformed JSON")
	ErrMissing     = errors.New("missing field")
	ErrType        = errors.New("wrong type")
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	ErrEmpty       = errors.New("empty value")
	ErrMixedKinds  = errors.New("mixed text and message kinds")
	ErrNoPrompt    = errors.New("cannot extract an implicit prompt")
	ErrDuplicate   = errors.New("duplicate row")
	// ErrTooLarge: an Arrow or Parquet row whose strings hold more than
	// Options.MaxLineBytes (the JSON Lines bound, applied to a row's
	// strings in the columnar formats).
	ErrTooLarge = errors.New("row too large")
)

// RowError describes a record that could not be turned into an Example.
// It is recoverable: Next may be called again.
type RowError struct {
	File  string // the input's name ("<stdin>" for standard input)
	Row   int64  // 0-based record index
	Line  int64  // 1-based line for JSON Lines, else 0
	Field string // field path such as chosen[1].content; empty for the whole record
	Err   error
	Raw   []byte // the raw record when available (JSON inputs)
}

func (e *RowError) Error() string {
	var loc string
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	} else {
		loc = fmt.Sprintf("%s: row %d: ", e.File, e.Row)
	}
	if e.Field != "" {
		return fmt.Sprintf("%sfield %q: %v", loc, e.Field, e.Err)
	}
	return loc + e.Err.Error()
}

func (e *RowError) Unwrap() error { return e.Err }

// fieldError is a RowError before the location is known.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.err.Error()
	}
	return fmt.Sprintf("field %q: %v", e.field, e.err)
}

// kindError is an error message that matches one of the Err* kinds with
// errors.Is without repeating the kind's text.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func ferr(field string, kind error, format string, args ...any) *fieldError {
	return &fieldError{field: field, err: &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}}
}

// eofReader is a Reader with no examples.
type eofReader struct{ close func() error }

func (r eofReader) Next() (Example, error) { return Example{}, io.EOF }
func (r eofReader) Close() error {
	if r.close != nil {
		return r.close()
	}
	return nil
}
