package pairs_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/dpo-go/dpo/pkg/pairs"
)

func ExampleOpen() {
	data := `{"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
{"id": 7, "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}]}
{"chosen": 3, "rejected": "x"}
{"chosen": "Q: 1+1? A: 2", "rejected": "Q: 1+1? A: 3"}
`
	r, err := pairs.Open("-", strings.NewReader(data), pairs.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for {
		ex, err := r.Next()
		if err == io.EOF {
			break
		}
		var rowErr *pairs.RowError
		if errors.As(err, &rowErr) {
			fmt.Println("skip:", rowErr)
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		if ex.Prompt.IsChat() {
			fmt.Printf("%s: prompt %v, chosen %v, rejected %v\n", ex.ID, ex.Prompt.Messages, ex.Chosen.Messages, ex.Rejected.Messages)
		} else {
			fmt.Printf("%s: prompt %q, chosen %q, rejected %q (implicit %v)\n", ex.ID, ex.Prompt.Str, ex.Chosen.Str, ex.Rejected.Str, ex.ImplicitPrompt)
		}
	}
	// Output:
	// 0: prompt "The sky is", chosen " blue.", rejected " green." (implicit false)
	// 7: prompt [{user 2+2?}], chosen [{assistant 4}], rejected [{assistant 5}]
	// skip: <stdin>:3: field "chosen": expected a string or a list of messages, got number
	// 3: prompt "Q: 1+1? A:", chosen " 2", rejected " 3" (implicit true)
}

func ExampleExtractPrompt() {
	p, c, r, err := pairs.ExtractPrompt(pairs.Text{Str: "The sky is blue."}, pairs.Text{Str: "The sky is green."})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q %q %q\n", p.Str, c.Str, r.Str)
	// Output: "The sky is" " blue." " green."
}

func ExampleSniff() {
	for _, head := range []string{"PAR1", "ARROW1", "\xff\xff\xff\xff", " [{", "{\"chosen\"", "hello"} {
		fmt.Printf("%q\n", pairs.Sniff([]byte(head)))
	}
	// Output:
	// "parquet"
	// "arrow"
	// "arrow"
	// "json"
	// "jsonl"
	// ""
}
