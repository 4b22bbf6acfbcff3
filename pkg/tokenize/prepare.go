package tokenize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/dpo-go/dpo/pkg/chat"
	"github.com/dpo-go/dpo/pkg/pairs"
)

// DropChosenEqualsRejected is the drop reason of a pair whose chosen and
// rejected completions are identical (no preference to learn).
const DropChosenEqualsRejected = "chosen_equals_rejected"

// prepare drops pairs without a preference and merges the system column into
// the first turn:
//
//   - message-list pairs: a system message {"role": "system", "content":
//     System} is put before the prompt's messages (a prompt that already
//     starts with a system message is an error: which one wins is not
//     representable);
//   - text pairs read with a system column (Config.SystemColumn) and a chat
//     template: the pair becomes a conversation, [system (when not empty),
//     user: prompt] + [assistant: completion], as chat templates expect;
//   - text pairs without a chat template: the prompt becomes System, a blank
//     line ("\n\n"), then the prompt.
//
// A tools column on a text pair that is not rendered with the template is
// an error (the tools would be lost).
func (e *Encoder) prepare(ex pairs.Example) (pairs.Example, error) {
	if equalText(ex.Chosen, ex.Rejected) {
		return ex, &DropError{Reason: DropChosenEqualsRejected}
	}
	return e.mergeSystem(ex, "pair")
}

// mergeSystem applies prepare's rules for the system column (and a tools
// column on text) to ex; what names ex in the errors ("pair", "prompt").
func (e *Encoder) mergeSystem(ex pairs.Example, what string) (pairs.Example, error) {
	chat_ := ex.Prompt.IsChat() || ex.Chosen.IsChat()
	if !chat_ && e.cfg.SystemColumn && e.tmpl != nil {
		var p []chat.Message
		if ex.System != "" {
			p = append(p, chat.Message{Role: "system", Content: ex.System})
		}
		ex.Prompt = pairs.Text{Messages: append(p, chat.Message{Role: "user", Content: ex.Prompt.Str})}
		ex.Chosen = pairs.Text{Messages: []chat.Message{{Role: "assistant", Content: ex.Chosen.Str}}}
		ex.Rejected = pairs.Text{Messages: []chat.Message{{Role: "assistant", Content: ex.Rejected.Str}}}
		return ex, nil
	}
	if !chat_ && hasTools(ex.Tools) {
		return ex, fmt.Errorf("field tools: tool schemas on a text %s are not representable (only conversational rows, or text rows with --columns system=... and a chat template, are rendered with the template)", what)
	}
	if ex.System == "" {
		return ex, nil
	}
	if !chat_ {
		ex.Prompt.Str = ex.System + "\n\n" + ex.Prompt.Str
		return ex, nil
	}
	if len(ex.Prompt.Messages) > 0 && ex.Prompt.Messages[0].Role == "system" {
		return ex, errors.New("field system: the prompt already starts with a system message; a second one from the system column is not representable")
	}
	ex.Prompt.Messages = slices.Concat([]chat.Message{{Role: "system", Content: ex.System}}, ex.Prompt.Messages)
	return ex, nil
}

func equalText(a, b pairs.Text) bool {
	if a.IsChat() != b.IsChat() {
		return false
	}
	if a.IsChat() {
		return slices.Equal(a.Messages, b.Messages)
	}
	return a.Str == b.Str
}

// hasTools reports whether a tools column holds at least one tool.
func hasTools(t json.RawMessage) bool {
	var b bytes.Buffer
	if len(t) == 0 || json.Compact(&b, t) != nil {
		return false
	}
	return b.String() != "[]"
}

// withTools returns a copy of extra with "tools" set, as TRL passes a tools
// column to apply_chat_template(tools=...).
func withTools(extra map[string]any, tools json.RawMessage) map[string]any {
	m := maps.Clone(extra)
	if m == nil {
		m = map[string]any{}
	}
	m["tools"] = tools
	return m
}

// emptyPrompt reports whether ex has an empty prompt (and no system text to
// stand for it): TRL accepts it, but it is usually a column that was not
// read (see --columns).
func emptyPrompt(ex pairs.Example) bool {
	return !ex.Prompt.IsChat() && ex.Prompt.Str == "" && ex.System == ""
}
