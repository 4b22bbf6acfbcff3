package chat

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Message is one turn of a conversation, as in TRL's conversational
// dataset format and Hugging Face chat templates.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Extra is the message's other keys as a JSON object in their original
	// order ("" for none): tool_calls, tool_call_id, name,
	// reasoning_content, or "content": null. Templates see them as
	// transformers passes them; a key here overrides Role and Content.
	Extra string `json:"-"`
}

// String formats m as {role content}, with Extra after the content when
// there is one.
func (m Message) String() string {
	if m.Extra == "" {
		return "{" + m.Role + " " + m.Content + "}"
	}
	return "{" + m.Role + " " + m.Content + " " + m.Extra + "}"
}

// MessagesJSON is the JSON of a conversation with each message's other
// keys (Message.Extra: tool_calls, a null content...) kept.
func MessagesJSON(msgs []Message) (string, error) {
	var b strings.Builder
	b.WriteByte('[')
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		var extra map[string]json.RawMessage
		if m.Extra != "" {
			if err := json.Unmarshal([]byte(m.Extra), &extra); err != nil {
				return "", err
			}
		}
		b.WriteByte('{')
		sep := ""
		for _, kv := range []struct{ k, v string }{{"role", m.Role}, {"content", m.Content}} {
			if _, ok := extra[kv.k]; ok {
				continue // Extra overrides it
			}
			v, err := json.Marshal(kv.v)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "%s%q:%s", sep, kv.k, v)
			sep = ","
		}
		if inner := strings.TrimSpace(m.Extra); len(inner) > 2 {
			if inner = strings.TrimSpace(inner[1 : len(inner)-1]); inner != "" {
				b.WriteString(sep + inner)
			}
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String(), nil
}
