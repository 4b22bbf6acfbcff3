package gputool

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
)

// Pair is one line of the JSONL MkPairs writes (TRL's standard format).
type Pair struct {
	ID       string `json:"id"`
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
}

// RandomPairs returns n pairs of printable ASCII text with exactly the
// given byte lengths (so exactly that many tokens with builtin:bytes),
// deterministic in seed.
func RandomPairs(n, promptLen, chosenLen, rejectedLen int, seed uint64, idPrefix string) []Pair {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	const alphabet = "abcdefghijklmnopqrstuvwxyz      .,ETAOINSHRDLU0123456789"
	text := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	out := make([]Pair, n)
	for i := range out {
		out[i] = Pair{ID: fmt.Sprintf("%s%05d", idPrefix, i), Prompt: text(promptLen), Chosen: text(chosenLen), Rejected: text(rejectedLen)}
	}
	return out
}

// MkPairs writes RandomPairs as JSONL.
func MkPairs(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkpairs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 8, "pairs")
	p := fs.Int("prompt-len", 64, "prompt bytes")
	c := fs.Int("chosen-len", 32, "chosen bytes")
	rj := fs.Int("rejected-len", 48, "rejected bytes")
	seed := fs.Uint64("seed", 1, "random seed")
	prefix := fs.String("id-prefix", "p", "prefix of the ids")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n <= 0 || *p < 0 || *c <= 0 || *rj <= 0 {
		return fmt.Errorf("mkpairs: --n, --chosen-len and --rejected-len must be > 0, --prompt-len >= 0")
	}
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	for _, pr := range RandomPairs(*n, *p, *c, *rj, *seed, *prefix) {
		if err := enc.Encode(pr); err != nil {
			return err
		}
	}
	return w.Flush()
}
