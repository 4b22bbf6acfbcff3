package chat_test

import (
	"fmt"
	"log"

	"github.com/dpo-go/dpo/pkg/chat"
)

func Example() {
	tmpl, err := chat.Compile(`{%- for m in messages %}
<|im_start|>{{ m.role }}
{{ m.content | trim }}<|im_end|>
{%- endfor %}
{%- if add_generation_prompt %}
<|im_start|>assistant
{%- endif %}`)
	if err != nil {
		log.Fatal(err)
	}
	prompt, err := tmpl.Render([]chat.Message{
		{Role: "user", Content: "  What is 2+2?  "},
	}, chat.RenderOptions{AddGenerationPrompt: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", prompt)
	// Output: "<|im_start|>user\nWhat is 2+2?<|im_end|><|im_start|>assistant"
}
