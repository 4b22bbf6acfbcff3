// Command gen writes the bundled example preference dataset: sorting letters.
//
// Each prompt asks to sort a short string of lowercase letters. The chosen
// completion is the correct sort; the rejected one is a near miss of one of
// four kinds (two adjacent letters swapped, one letter replaced, one letter
// dropped, one letter doubled), so the preference can only be learned by
// checking the answer against the prompt, not from surface features such as
// length or vocabulary alone. Held-out prompts use letter multisets that never
// occur in training.
//
//	go run ./examples/sort/gen -out examples/sort
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

type pair struct {
	ID       string `json:"id"`
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
	Kind     string `json:"kind"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	out := flag.String("out", "examples/sort", "output directory")
	nTrain := flag.Int("train", 2400, "training pairs")
	nHeld := flag.Int("heldout", 400, "held-out pairs")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*out, *nTrain, *nHeld, *seed); err != nil {
		log.Fatal(err)
	}
}

func run(out string, nTrain, nHeld int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	seen := map[string]bool{} // sorted multisets used so far
	var train, held []pair
	// Held-out first, so its multisets are reserved.
	for len(held) < nHeld {
		if p, key, ok := makePair(rng, fmt.Sprintf("heldout-%04d", len(held))); ok && !seen[key] {
			seen[key] = true
			held = append(held, p)
		}
	}
	for len(train) < nTrain {
		if p, key, ok := makePair(rng, fmt.Sprintf("train-%04d", len(train))); ok && !seen[key] {
			train = append(train, p)
		}
	}
	if err := write(filepath.Join(out, "train.jsonl"), train); err != nil {
		return err
	}
	return write(filepath.Join(out, "heldout.jsonl"), held)
}

func makePair(rng *rand.Rand, id string) (pair, string, bool) {
	n := 3 + rng.IntN(5) // 3..7 letters
	letters := make([]byte, n)
	for i := range letters {
		letters[i] = byte('a' + rng.IntN(26))
	}
	sorted := slices.Clone(letters)
	slices.Sort(sorted)
	key := string(sorted)
	var rej []byte
	var kind string
	switch rng.IntN(4) {
	case 0: // swap two adjacent, different letters
		kind = "swap"
		var idx []int
		for i := 0; i+1 < n; i++ {
			if sorted[i] != sorted[i+1] {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			return pair{}, "", false
		}
		i := idx[rng.IntN(len(idx))]
		rej = slices.Clone(sorted)
		rej[i], rej[i+1] = rej[i+1], rej[i]
	case 1: // replace one letter by one that keeps the order but is not in the prompt
		kind = "replace"
		i := rng.IntN(n)
		lo, hi := byte('a'), byte('z')
		if i > 0 {
			lo = sorted[i-1]
		}
		if i+1 < n {
			hi = sorted[i+1]
		}
		var cands []byte
		for c := lo; c <= hi; c++ {
			if c != sorted[i] && !slices.Contains(sorted, c) {
				cands = append(cands, c)
			}
		}
		if len(cands) == 0 {
			return pair{}, "", false
		}
		rej = slices.Clone(sorted)
		rej[i] = cands[rng.IntN(len(cands))]
	case 2: // drop one letter
		kind = "drop"
		i := rng.IntN(n)
		rej = slices.Concat(sorted[:i:i], sorted[i+1:])
	default: // double one letter
		kind = "double"
		i := rng.IntN(n)
		rej = slices.Concat(sorted[:i+1:i+1], sorted[i:])
	}
	return pair{
		ID:       id,
		Prompt:   "sort: " + string(letters) + "\n",
		Chosen:   string(sorted),
		Rejected: string(rej),
		Kind:     kind,
	}, key, true
}

func write(path string, ps []pair) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, p := range ps {
		if err := enc.Encode(p); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return f.Close()
}
