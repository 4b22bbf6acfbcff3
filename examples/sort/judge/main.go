// Command judge scores sort-demo completions: the exact-sort checker, a
// judge in the protocol of docs/judges.md.
//
// It reads JSON Lines {id, sample_index, prompt, completion, ...} on stdin
// and writes each object back, in order, with a numeric "score" added (other
// fields are passed through, in their order):
//
//	dpo-sample --format jsonl ... | go run ./examples/sort/judge > judged.jsonl
//
// The prompt is "sort: LETTERS\n" (a string, or a conversation whose last
// user message is that text). The completion is compared after removing
// surrounding white space and a trailing end-of-sequence marker ("<|eos|>",
// "</s>", "<|endoftext|>", "<|im_end|>"). Score 1 means the completion is
// exactly the prompt's letters sorted; otherwise the score is the fraction
// of positions that hold the right letter, over the longer of the answer and
// the completion (so always below 1; 0 for an empty completion).
//
// Exit status: 0 success, 1 a line that is not a JSON object with a sort
// prompt and a string completion (the error names the line), 2 usage error.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("judge: ")
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdin, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

const usage = `Usage: judge < completions.jsonl > judged.jsonl

Scores sort-demo completions (docs/judges.md): adds "score" to each JSON line,
1 for the exact sorted answer, else the fraction of positions right.

Example:
  dpo-sample --format jsonl ... | go run ./examples/sort/judge | dpo-tokenize --tokenizer builtin:bytes > pairs.arrow

Exit status: 0 success, 1 bad input line, 2 usage error.
`
