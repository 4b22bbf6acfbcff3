// Command pairs turns judged samples of the sort demo into preference pairs
// aimed at the policy's own mistakes: for each prompt, chosen is the exact
// sort (the judge is a verifier: it knows the answer) and rejected is the
// policy's most likely wrong sample (highest "logp" among the samples with
// score < 1). Prompts whose samples are all right give no pair.
//
//	dpo-sample --n 4 --temperature 1 --format jsonl ... | sort-judge | sort-pairs > pairs.jsonl
//
// Input: JSON Lines {id, prompt, completion, logp, score, ...} as dpo-sample
// and examples/sort/judge write them, the samples of one prompt on
// consecutive lines. Output: {id, prompt, chosen, rejected} lines for
// dpo-tokenize; a summary goes to stderr.
//
// Exit status: 0 success, 1 bad input line, 2 usage error.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("pairs: ")
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, "Usage: pairs < judged.jsonl > pairs.jsonl\n\nOne pair per prompt: the exact sort over the policy's most likely wrong sample.\n")
		flag.PrintDefaults()
	}
	all := flag.Bool("all", false, "a pair for every distinct wrong sample of a prompt, not only the most likely one")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	s, err := run(os.Stdin, os.Stdout, *all)
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	log.Printf("prompts %d, pairs %d from %d prompts (prompts with every sample right: %d), samples %d, exact %d",
		s.prompts, s.pairs, s.paired, s.prompts-s.paired, s.samples, s.exact)
}

type sample struct {
	ID         string   `json:"id"`
	Prompt     string   `json:"prompt"`
	Completion string   `json:"completion"`
	Logp       *float64 `json:"logp"`
	Score      *float64 `json:"score"`
}

type pair struct {
	ID       string `json:"id"`
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
}

type stats struct{ prompts, paired, pairs, samples, exact int }

// run reads judged samples from r and writes one pair per prompt with a
// wrong sample to w.
func run(r io.Reader, w io.Writer, all bool) (stats, error) {
	var st stats
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	var group []sample
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		st.prompts++
		ps, err := pairsOf(group, all)
		group = group[:0]
		if err != nil {
			return err
		}
		if len(ps) > 0 {
			st.paired++
		}
		for _, p := range ps {
			st.pairs++
			if err := enc.Encode(p); err != nil {
				return err
			}
		}
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var s sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return st, fmt.Errorf("line %d: %v", line, err)
		}
		if s.Score == nil || s.Logp == nil {
			return st, fmt.Errorf("line %d: want numeric \"score\" and \"logp\" (dpo-sample --format jsonl | judge)", line)
		}
		st.samples++
		if *s.Score == 1 {
			st.exact++
		}
		if len(group) > 0 && group[0].ID != s.ID {
			if err := flush(); err != nil {
				return st, err
			}
		}
		group = append(group, s)
	}
	if err := sc.Err(); err != nil {
		return st, err
	}
	if err := flush(); err != nil {
		return st, err
	}
	return st, bw.Flush()
}

// pairsOf returns the pairs of one prompt's samples: the exact sort over
// the most likely wrong sample, or with all over each distinct wrong sample
// (most likely first); none when every sample is right.
func pairsOf(g []sample, all bool) ([]pair, error) {
	rest, found := strings.CutPrefix(strings.TrimSpace(g[0].Prompt), "sort:")
	if !found {
		return nil, fmt.Errorf("id %q: prompt is not \"sort: LETTERS\"", g[0].ID)
	}
	want := []rune(strings.TrimSpace(rest))
	slices.Sort(want)
	var wrong []sample
	for _, s := range g {
		if *s.Score < 1 && !slices.ContainsFunc(wrong, func(w sample) bool { return w.Completion == s.Completion }) {
			wrong = append(wrong, s)
		}
	}
	slices.SortStableFunc(wrong, func(a, b sample) int { return cmp.Compare(*b.Logp, *a.Logp) })
	if !all && len(wrong) > 1 {
		wrong = wrong[:1]
	}
	ps := make([]pair, len(wrong))
	for i, w := range wrong {
		ps[i] = pair{ID: g[0].ID, Prompt: g[0].Prompt, Chosen: string(want), Rejected: w.Completion}
	}
	return ps, nil
}
