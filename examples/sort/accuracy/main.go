// Command accuracy summarises judged completions (JSON Lines with a numeric
// "score", as examples/sort/judge writes them): how many are exactly right
// (score 1) and the mean score.
//
//	dpo-sample --temperature 0 --format jsonl ... | go run ./examples/sort/judge | go run ./examples/sort/accuracy
//
// Exit status: 0 success, 1 a line without a numeric score, 2 usage error.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/dpo-go/dpo/examples/sort/internal/runs"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("accuracy: ")
	label := flag.String("label", "", "text printed before the numbers")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*label, os.Stdin, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// run prints the summary of the judged lines of r, after label.
func run(label string, r io.Reader, w io.Writer) error {
	j, err := runs.ReadJudged(r, "stdin")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%sexact %d/%d = %.3f, mean score %.3f\n", label, j.Exact, j.N, j.Accuracy(), j.MeanScore())
	return err
}
