// Command flip makes label noise for `make noise`: it swaps chosen and
// rejected on a deterministic, seeded subset of preference pairs (JSON
// Lines, before dpo-tokenize), so that the reference log-probabilities that
// dpo-reflogp computes afterwards follow the flipped labels.
//
//	flip -rate 0.2 -seed 1 < examples/sort/train.jsonl | dpo-tokenize --tokenizer builtin:bytes | dpo-reflogp --model REF > noisy-ref.arrow
//
// Exactly round(rate × pairs) rows are flipped, chosen by a permutation
// drawn from -seed; a higher rate with the same seed flips a superset of the
// rows a lower one flips. Flipped rows get "flipped": true. A summary
// (pairs, flipped, rate, seed) goes to stderr as JSON.
//
// Exit status: 0 success, 1 a bad input line (named), 2 usage error.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
)

const usage = `Usage: flip -rate R [-seed S] < pairs.jsonl > flipped.jsonl

Swaps chosen and rejected on round(R × pairs) pairs drawn with seed S.

Example:
  flip -rate 0.2 -seed 1 < examples/sort/train.jsonl > train-f0.2.jsonl

Exit status: 0 success, 1 bad input line, 2 usage error.

`

func main() {
	log.SetFlags(0)
	log.SetPrefix("flip: ")
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		flag.PrintDefaults()
	}
	rate := flag.Float64("rate", -1, "fraction of the pairs to flip, in [0, 1]")
	seed := flag.Uint64("seed", 1, "seed of the subset")
	flag.Parse()
	if flag.NArg() > 0 || *rate < 0 || *rate > 1 {
		flag.Usage()
		os.Exit(2)
	}
	st, err := flipPairs(os.Stdin, os.Stdout, *rate, *seed)
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	b, _ := json.Marshal(st)
	log.Printf("%s", b)
}
