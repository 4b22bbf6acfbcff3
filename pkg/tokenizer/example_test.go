package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/dpo-go/dpo/pkg/tokenizer"
)

func ExampleBuiltin() {
	tok, err := tokenizer.Builtin("bytes")
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("hi!", false)
	eos, _ := tok.TokenToID("<|eos|>")
	ids = append(ids, eos)
	fmt.Println(ids, tok.VocabSize())
	fmt.Printf("%q %q\n", tok.Decode(ids, false), tok.Decode(ids, true))
	// Output:
	// [104 105 33 257] 259
	// "hi!<|eos|>" "hi!"
}

func ExampleLoad() {
	// GPT-2's tokenizer.json, committed under the repository's testdata.
	tok, err := tokenizer.Load("../../testdata/tokenizers/gpt2")
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Hello world<|endoftext|>", true)
	fmt.Println(ids)
	fmt.Println(tok.Decode(ids, false))
	fmt.Println(tok.Decode(ids, true))
	fmt.Println(tok.IsSpecial(50256), tok.VocabSize())
	// Output:
	// [15496 995 50256]
	// Hello world<|endoftext|>
	// Hello world
	// true 50257
}
