package chat

// Message is one turn of a conversation, as in TRL's conversational
// dataset format and Hugging Face chat templates.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}
