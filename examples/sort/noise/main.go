// Command noise gathers `make noise`'s runs (one directory per loss and
// flip rate: DPO from the same SFT reference on training pairs with a
// fraction of the labels flipped by examples/sort/flip) into noise.jsonl
// (loss, flip_rate, reward_accuracy on the clean held-out pairs with its
// 95% interval, generation_accuracy of greedy decoding on the held-out
// prompts, the chosen and rejected log-prob shifts, args, dir), a plot of
// reward accuracy against the flip rate with a line per loss (-png), the
// same for generation accuracy (-gen-png), and a Markdown table on stderr.
//
//	noise -o noise.jsonl -png noise.png examples/out/noise/KEY/*-f*
//
// A run directory holds run.json ({"loss": NAME, "flip_rate": R, "args":
// the dpo-train options}), after.json (dpo-score --summary) and gen.jsonl
// (greedy generations judged by examples/sort/judge).
//
// Exit status: 0 success, 1 a missing or bad file (named), 2 usage error.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
)

const usage = `Usage: noise [-o noise.jsonl] [-png noise.png] [-gen-png noise-gen.png] RUNDIR...

Label-noise results of the sort demo (make noise): a line per loss and flip rate.

Example:
  noise -png noise.png examples/out/noise/KEY/*-f* > noise.jsonl

Exit status: 0 success, 1 a missing or bad file, 2 usage error.

`

func main() {
	log.SetFlags(0)
	log.SetPrefix("noise: ")
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		flag.PrintDefaults()
	}
	cfg := config{}
	flag.StringVar(&cfg.out, "o", "-", "JSON Lines output `FILE` (- for stdout)")
	flag.StringVar(&cfg.png, "png", "", "write reward accuracy vs flip rate to this PNG `FILE`")
	flag.StringVar(&cfg.genPNG, "gen-png", "", "write generation accuracy vs flip rate to this PNG `FILE`")
	flag.StringVar(&cfg.title, "title", "sort demo: DPO losses under flipped preference labels", "the plots' title")
	flag.Parse()
	cfg.dirs = flag.Args()
	if len(cfg.dirs) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(cfg, os.Stdout, os.Stderr); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}
