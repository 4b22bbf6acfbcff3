package model

import (
	"strings"
	"testing"
)

// A number written as a JSON string is named as a string, not printed as if
// it were the number.
func TestConfigFieldTypeMessages(t *testing.T) {
	for _, tc := range []struct{ field, json, want string }{
		{"hidden_size", `"96"`, `want an integer, got the string "96"`},
		{"rms_norm_eps", `"1e-5"`, `want a number, got the string "1e-5"`},
		{"tie_word_embeddings", `"true"`, `want true or false, got the string "true"`},
	} {
		src := `{"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":259,"hidden_size":96,"intermediate_size":256,"num_hidden_layers":1,"num_attention_heads":4}`
		src = strings.Replace(src, `}`, `,"`+tc.field+`":`+tc.json+`}`, 1)
		if tc.field == "hidden_size" {
			src = strings.Replace(src, `"hidden_size":96,`, ``, 1)
		}
		_, err := ParseConfig([]byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.field, err, tc.want)
		}
	}
}
