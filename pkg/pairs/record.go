package pairs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/dpo-go/dpo/pkg/chat"
)

// valueKind is what a record's field held.
type valueKind uint8

const (
	absent   valueKind = iota // the field is not in the record
	null                      // JSON null or an Arrow null
	str                       // a string
	messages                  // a list of messages
)

// value is one decoded prompt/chosen/rejected field.
type value struct {
	kind valueKind
	str  string
	msgs []chat.Message
}

func (v value) text() Text {
	if v.kind == messages {
		if v.msgs == nil {
			return Text{Messages: []chat.Message{}}
		}
		return Text{Messages: v.msgs}
	}
	return Text{Str: v.str}
}

func (v value) kindName() string {
	if v.kind == messages {
		return "a list of messages"
	}
	return "a string"
}

// record is a decoded input record, before validation.
type record struct {
	id                       string
	hasID                    bool
	prompt, chosen, rejected value
	system                   string          // the system column ("" none)
	tools                    json.RawMessage // the tools column (nil none)

	obj     map[string]json.RawMessage // a JSON record's fields
	present [numCols]bool              // a JSON record has the role's field
}

// build validates rec and turns it into an Example (see the package
// documentation for the rules).
func build(rec *record, row int64, names columns) (Example, *fieldError) {
	ex := Example{Row: row, ID: rec.id, System: rec.system, Tools: rec.tools}
	if !rec.hasID {
		ex.ID = strconv.FormatInt(row, 10)
	}
	if names.promptOnly() {
		col := names[colPrompt]
		switch rec.prompt.kind {
		case absent:
			return ex, ferr(col, ErrMissing, "missing (the prompt column is mapped with --columns prompt=NAME)")
		case null:
			return ex, ferr(col, ErrMissing, "is null")
		case messages:
			if len(rec.prompt.msgs) == 0 {
				return ex, ferr(col, ErrEmpty, "empty list of messages")
			}
		}
		ex.Prompt = rec.prompt.text()
		return ex, nil
	}
	for _, f := range []struct {
		name string
		v    value
	}{{"chosen", rec.chosen}, {"rejected", rec.rejected}} {
		switch f.v.kind {
		case absent:
			return ex, ferr(f.name, ErrMissing, "missing")
		case null:
			return ex, ferr(f.name, ErrMissing, "is null")
		case str:
			if f.v.str == "" {
				return ex, ferr(f.name, ErrEmpty, "empty completion (empty string)")
			}
		case messages:
			if len(f.v.msgs) == 0 {
				return ex, ferr(f.name, ErrEmpty, "empty completion (empty list of messages)")
			}
		}
	}
	if rec.chosen.kind != rec.rejected.kind {
		return ex, ferr("rejected", ErrMixedKinds, "chosen is %s but rejected is %s", rec.chosen.kindName(), rec.rejected.kindName())
	}
	switch {
	case rec.prompt.kind == rec.chosen.kind:
		// Explicit prompt. TRL's is_conversational needs a first message,
		// so an empty prompt list is an error; an empty prompt string is
		// accepted as TRL accepts it.
		if rec.prompt.kind == messages && len(rec.prompt.msgs) == 0 {
			return ex, ferr("prompt", ErrEmpty, "empty list of messages")
		}
		ex.Prompt, ex.Chosen, ex.Rejected = rec.prompt.text(), rec.chosen.text(), rec.rejected.text()
		return ex, nil
	case rec.prompt.kind == absent || rec.prompt.kind == null:
		p, c, r, err := ExtractPrompt(rec.chosen.text(), rec.rejected.text())
		if err != nil {
			return ex, &fieldError{err: err}
		}
		ex.Prompt, ex.Chosen, ex.Rejected, ex.ImplicitPrompt = p, c, r, true
		return ex, nil
	default:
		// TRL's maybe_extract_prompt ignores a prompt whose kind differs
		// from the completions' and extracts the prompt from them (datasets
		// that repeat the user turn as a plain-text "prompt" column).
		p, c, r, err := ExtractPrompt(rec.chosen.text(), rec.rejected.text())
		if err == nil && p.IsChat() && len(p.Messages) == 0 {
			err = fmt.Errorf("chosen and rejected have no message in common")
		}
		if err != nil || (!p.IsChat() && p.Str == "") {
			return ex, ferr("prompt", ErrMixedKinds, "prompt is %s but chosen and rejected are %s, and no implicit prompt can be extracted from them to replace it",
				rec.prompt.kindName(), rec.chosen.kindName())
		}
		ex.Prompt, ex.Chosen, ex.Rejected, ex.ImplicitPrompt = p, c, r, true
		return ex, nil
	}
}

// ExtractPrompt splits an implicit prompt off chosen and rejected with the
// rule of TRL's extract_prompt (trl/data_utils.py): find the first position
// (a Unicode code point for strings, a message for message lists) where
// chosen and rejected differ; if the character before it is a single space
// " ", move the split one back so that the space starts the completions;
// the prompt is chosen up to the split, the completions are the rests.
//
// Where TRL's loop would produce garbage this returns an error wrapping
// ErrNoPrompt: chosen equal to rejected, one a prefix of the other (TRL
// would silently cut one character or message too early), and message lists
// that differ from the first message (TRL fails later on the empty prompt).
// Strings that differ from the first character give an empty prompt, as in
// TRL, except that a trailing space of chosen is not moved (TRL's Python
// index -1 would wrap around to the end of chosen).
//
// chosen and rejected must be of the same kind; otherwise the error wraps
// ErrMixedKinds.
func ExtractPrompt(chosen, rejected Text) (prompt, chosenRest, rejectedRest Text, err error) {
	if chosen.IsChat() != rejected.IsChat() {
		return Text{}, Text{}, Text{}, &kindError{ErrMixedKinds, "chosen and rejected must both be strings or both be lists of messages"}
	}
	if chosen.IsChat() {
		c, r := chosen.Messages, rejected.Messages
		n := min(len(c), len(r))
		idx := 0
		for idx < n && c[idx] == r[idx] {
			idx++
		}
		if idx == n {
			return Text{}, Text{}, Text{}, prefixError(len(c), len(r), "messages")
		}
		if idx == 0 {
			return Text{}, Text{}, Text{}, &kindError{ErrNoPrompt, "cannot extract an implicit prompt: chosen and rejected differ from their first message"}
		}
		return Text{Messages: slices.Clip(c[:idx])}, Text{Messages: c[idx:]}, Text{Messages: r[idx:]}, nil
	}
	c, r := chosen.Str, rejected.Str
	// i is the byte offset of the current code point in both strings (they
	// agree up to it); prevSpace says whether the previous one was ' '.
	i, prevSpace := 0, false
	for i < len(c) && i < len(r) {
		rc, nc := utf8.DecodeRuneInString(c[i:])
		rr, nr := utf8.DecodeRuneInString(r[i:])
		if rc != rr || nc != nr || (rc == utf8.RuneError && c[i:i+nc] != r[i:i+nr]) {
			if prevSpace {
				i--
			}
			return Text{Str: c[:i]}, Text{Str: c[i:]}, Text{Str: r[i:]}, nil
		}
		prevSpace = rc == ' '
		i += nc
	}
	return Text{}, Text{}, Text{}, prefixError(utf8.RuneCountInString(c), utf8.RuneCountInString(r), "characters")
}

func prefixError(nc, nr int, unit string) error {
	switch {
	case nc == nr:
		return &kindError{ErrNoPrompt, "cannot extract an implicit prompt: chosen and rejected are identical"}
	case nc < nr:
		return &kindError{ErrNoPrompt, fmt.Sprintf("cannot extract an implicit prompt: chosen is a prefix of rejected (%d of %d %s), which would leave an empty completion", nc, nr, unit)}
	default:
		return &kindError{ErrNoPrompt, fmt.Sprintf("cannot extract an implicit prompt: rejected is a prefix of chosen (%d of %d %s), which would leave an empty completion", nr, nc, unit)}
	}
}
