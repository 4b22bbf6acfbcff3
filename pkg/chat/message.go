package chat

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
