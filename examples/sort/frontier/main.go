// Command frontier gathers `make frontier`'s runs (one directory per β, all
// DPO runs from the same SFT reference) into the DPO paper's reward–KL
// frontier: per policy, the judge's mean reward on held-out samples at
// temperature 1 against a Monte-Carlo estimate of KL(π‖π_ref), the mean over
// those samples of logp − ref_logp (dpo-sample's logp under the policy,
// dpo-reflogp's ref_logp under the reference, summed over the completion).
//
//	frontier -ref out/frontier/KEY/ref -o frontier.jsonl -png frontier.png out/frontier/KEY/b*
//
// A run directory holds samples.jsonl (dpo-sample --jsonl-copy, judged by
// examples/sort/judge) and samples-ref.arrow (the same samples' Arrow stream
// after dpo-reflogp --model REF), in its -samples subdirectory if given, after.json (dpo-score --summary on the
// held-out pairs; not in the -ref directory) and optionally gen.jsonl
// (greedy generations, judged). It writes one JSON object per directory
// (beta, kl, kl_stderr, reward, samples_exact, n_samples, reward_accuracy,
// generation_accuracy, chosen_logp_shift, rejected_logp_shift, dir) to -o,
// the plot to -png, and a Markdown table to stderr.
//
// Exit status: 0 success, 1 a missing or bad file (named), 2 usage error.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
)

const usage = `Usage: frontier [-ref DIR] [-samples SUBDIR] [-o frontier.jsonl] [-png frontier.png] RUNDIR...

The reward–KL frontier of the sort demo's β sweep (make frontier).

Example:
  frontier -ref examples/out/frontier/KEY/ref -png frontier.png examples/out/frontier/KEY/b* > frontier.jsonl

Exit status: 0 success, 1 a missing or bad file, 2 usage error.

`

func main() {
	log.SetFlags(0)
	log.SetPrefix("frontier: ")
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		flag.PrintDefaults()
	}
	cfg := config{}
	flag.StringVar(&cfg.ref, "ref", "", "run `DIR` of the reference's own samples (the KL-0 point; no after.json)")
	flag.StringVar(&cfg.samples, "samples", "", "read samples.jsonl and samples-ref.arrow from this `SUBDIR` of each run directory (the Makefile's n<N>-t<max-new-tokens>)")
	flag.StringVar(&cfg.out, "o", "-", "JSON Lines output `FILE` (- for stdout)")
	flag.StringVar(&cfg.png, "png", "", "write the plot to this PNG `FILE`")
	flag.StringVar(&cfg.title, "title", "sort demo: reward vs KL, one DPO run per β", "the plot's title")
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
