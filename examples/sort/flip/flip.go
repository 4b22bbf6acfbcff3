package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
)

// stats is what flip did, written to stderr.
type stats struct {
	Pairs   int     `json:"pairs"`
	Flipped int     `json:"flipped"`
	Rate    float64 `json:"rate"`
	Seed    uint64  `json:"seed"`
}

// chooseFlips returns, for n pairs, which round(rate·n) of them to flip: a
// subset drawn by a PCG stream seeded with seed, so the same (n, rate,
// seed) always flips the same rows, and a higher rate flips a superset of
// the rows a lower one flips (the subset is a prefix of one permutation).
func chooseFlips(n int, rate float64, seed uint64) []bool {
	k := int(math.Round(rate * float64(n)))
	perm := rand.New(rand.NewPCG(seed, 0x5eed)).Perm(n)
	flip := make([]bool, n)
	for _, i := range perm[:k] {
		flip[i] = true
	}
	return flip
}

// flipPairs reads pairs as JSON Lines (objects with string-valued chosen and
// rejected; other fields are kept) from r and writes them to w in order,
// with chosen and rejected swapped on the chosen subset; a flipped row gets
// "flipped": true. Empty lines are dropped.
func flipPairs(r io.Reader, w io.Writer, rate float64, seed uint64) (stats, error) {
	st := stats{Rate: rate, Seed: seed}
	if !(rate >= 0 && rate <= 1) {
		return st, fmt.Errorf("rate %v: want a fraction in [0, 1]", rate)
	}
	var rows []map[string]json.RawMessage
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var row map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return st, fmt.Errorf("line %d: %w", line, err)
		}
		for _, k := range []string{"chosen", "rejected"} {
			var s string
			if err := json.Unmarshal(row[k], &s); err != nil {
				return st, fmt.Errorf("line %d: %q is not a string (%v)", line, k, err)
			}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("reading the pairs: %w", err)
	}
	st.Pairs = len(rows)
	flip := chooseFlips(len(rows), rate, seed)
	bw := bufio.NewWriter(w)
	for i, row := range rows {
		if flip[i] {
			row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
			row["flipped"] = json.RawMessage("true")
			st.Flipped++
		}
		b, err := marshalOrdered(row)
		if err != nil {
			return st, fmt.Errorf("row %d: %w", i+1, err)
		}
		if _, err := bw.Write(append(b, '\n')); err != nil {
			return st, err
		}
	}
	return st, bw.Flush()
}

// marshalOrdered writes row's fields with id and prompt first, then chosen
// and rejected, then the rest by name.
func marshalOrdered(row map[string]json.RawMessage) ([]byte, error) {
	first := []string{"id", "prompt", "chosen", "rejected"}
	keys := make([]string, 0, len(row))
	for _, k := range first {
		if _, ok := row[k]; ok {
			keys = append(keys, k)
		}
	}
	var rest []string
	for k := range row {
		if !slices.Contains(first, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	keys = append(keys, rest...)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(&buf, row[k]); err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
