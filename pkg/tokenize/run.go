package tokenize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/pairs"
)

// Sink receives tokenized pairs in input order.
type Sink interface {
	WritePairs(ps []Pair) error
}

// Options control a Run.
type Options struct {
	InputName string    // for error messages
	Workers   int       // 0: all cores
	ChunkRows int       // rows per unit of work; 0: 256
	Strict    bool      // a pair that cannot fit fails the run
	SkipBad   bool      // bad rows are counted and written to Rejects instead of failing
	Rejects   io.Writer // JSONL of rejected and dropped rows with reasons; may be nil
	Log       io.Writer // warnings; may be nil
	Progress  func(read int64)
	// MaxWarnings caps the per-row warnings logged (the counts are exact).
	MaxWarnings int
}

// Summary counts what a run did.
type Summary struct {
	Read           int64            `json:"read"`
	Written        int64            `json:"written"`
	Dropped        map[string]int64 `json:"dropped"`
	Rejected       int64            `json:"rejected"`
	PrefixMismatch int64            `json:"prefix_mismatch"`
	EmptyPrompt    int64            `json:"empty_prompt"`
	Truncated      int64            `json:"truncated"`
	Lengths        map[string]Stats `json:"lengths"`
	// Skipped counts rated prompts that yielded no pair, by reason
	// (pairs.SkipSingle, pairs.SkipTie).
	Skipped map[string]int64 `json:"skipped,omitempty"`
	// Rated counts the rated completions read, when the input held some.
	Rated *pairs.RatedStats `json:"rated,omitempty"`
}

// Stats summarises token lengths.
type Stats struct {
	Min, P50, P90, P99, Max int
	Mean                    float64
}

type item struct {
	ex  pairs.Example
	err error // a *pairs.RowError
}

type chunk struct {
	seq   int
	items []item
	out   []result
}

type result struct {
	pair Pair
	err  error
}

// Run reads every example from r, encodes it with enc on opts.Workers
// goroutines, and hands the pairs to sink in input order.
func Run(ctx context.Context, r pairs.Reader, enc *Encoder, sink Sink, opts Options) (*Summary, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	rows := opts.ChunkRows
	if rows <= 0 {
		rows = 256
	}
	if opts.MaxWarnings == 0 {
		opts.MaxWarnings = 5
	}
	g, ctx := errgroup.WithContext(ctx)
	todo := make(chan *chunk, workers*2)
	done := make(chan *chunk, workers*2)

	// Reader.
	g.Go(func() error {
		defer close(todo)
		seq := 0
		var read int64
		for {
			c := &chunk{seq: seq}
			for len(c.items) < rows {
				ex, err := r.Next()
				if err == io.EOF {
					break
				}
				var rowErr *pairs.RowError
				var skip *pairs.SkipError
				if err != nil && !errors.As(err, &rowErr) && !errors.As(err, &skip) {
					return err
				}
				c.items = append(c.items, item{ex: ex, err: err})
			}
			if len(c.items) == 0 {
				return nil
			}
			read += int64(len(c.items))
			if opts.Progress != nil {
				opts.Progress(read)
			}
			select {
			case todo <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
			seq++
			if len(c.items) < rows {
				return nil
			}
		}
	})

	// Encoders.
	var wg errgroup.Group
	for range workers {
		wg.Go(func() error {
			for c := range todo {
				c.out = make([]result, len(c.items))
				for i, it := range c.items {
					if it.err != nil {
						c.out[i].err = it.err
						continue
					}
					c.out[i].pair, c.out[i].err = enc.Encode(it.ex)
				}
				select {
				case done <- c:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(done)
		return wg.Wait()
	})

	// Collector: restores input order, counts, writes.
	sum := &Summary{Dropped: map[string]int64{}, Skipped: map[string]int64{}}
	lens := map[string][]int{}
	g.Go(func() error {
		pending := map[int]*chunk{}
		next := 0
		warned := 0
		warn := func(format string, args ...any) {
			if opts.Log != nil && warned < opts.MaxWarnings {
				fmt.Fprintf(opts.Log, "warning: "+format+"\n", args...)
				warned++
				if warned == opts.MaxWarnings {
					fmt.Fprintln(opts.Log, "warning: further row warnings are counted in the summary only")
				}
			}
		}
		for c := range done {
			pending[c.seq] = c
			for pending[next] != nil {
				c := pending[next]
				delete(pending, next)
				next++
				batch := make([]Pair, 0, len(c.items))
				for i, res := range c.out {
					ex := c.items[i].ex
					var skip *pairs.SkipError
					if errors.As(res.err, &skip) {
						// A rated prompt without a pair: counted, never silent.
						sum.Skipped[skip.Reason]++
						if err := writeReject(opts.Rejects, ex, nil, "skipped: "+skip.Reason+": "+skip.Detail); err != nil {
							return err
						}
						continue
					}
					sum.Read++
					if res.err != nil {
						var drop *DropError
						var rowErr *pairs.RowError
						switch {
						case errors.As(res.err, &drop):
							if opts.Strict {
								return fmt.Errorf("row %d (id %q): %w (strict mode)", ex.Row, ex.ID, res.err)
							}
							sum.Dropped[drop.Reason]++
							if drop.Reason == DropChosenEqualsRejected {
								warn("row %d (id %q): chosen equals rejected; dropped (no preference to learn)", ex.Row, ex.ID)
							}
							if err := writeReject(opts.Rejects, ex, nil, "dropped: "+drop.Reason); err != nil {
								return err
							}
						case errors.As(res.err, &rowErr):
							if !opts.SkipBad {
								return res.err
							}
							sum.Rejected++
							if err := writeReject(opts.Rejects, ex, rowErr, rowErr.Error()); err != nil {
								return err
							}
						default:
							err := fmt.Errorf("%s: row %d (id %q): %w", opts.InputName, ex.Row, ex.ID, res.err)
							if !opts.SkipBad {
								return err
							}
							sum.Rejected++
							if err := writeReject(opts.Rejects, ex, nil, err.Error()); err != nil {
								return err
							}
						}
						continue
					}
					if emptyPrompt(ex) {
						if opts.Strict {
							return fmt.Errorf("%s: row %d (id %q): empty prompt (strict mode); is the prompt in a column with another name? (--columns prompt=NAME)", opts.InputName, ex.Row, ex.ID)
						}
						sum.EmptyPrompt++
						warn("row %d (id %q): empty prompt; is the prompt in a column with another name? (--columns prompt=NAME)", ex.Row, ex.ID)
					}
					p := res.pair
					if len(p.PrefixMismatch) > 0 {
						sum.PrefixMismatch++
						warn("row %d (id %q): the prompt's ids are not a prefix of prompt+%s's ids (tokens merge across the boundary, or the template renders the prompt alone differently); as in TRL, the completions start where the ids diverge and the prompt keeps %d tokens", ex.Row, ex.ID, strings.Join(p.PrefixMismatch, " and prompt+"), len(p.Prompt))
					}
					if p.Truncated {
						sum.Truncated++
					}
					lens["prompt"] = append(lens["prompt"], len(p.Prompt))
					lens["chosen"] = append(lens["chosen"], len(p.Chosen))
					lens["rejected"] = append(lens["rejected"], len(p.Rejected))
					lens["sequence"] = append(lens["sequence"], len(p.Prompt)+max(len(p.Chosen), len(p.Rejected)))
					batch = append(batch, p)
				}
				if len(batch) > 0 {
					if err := sink.WritePairs(batch); err != nil {
						return err
					}
					sum.Written += int64(len(batch))
				}
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return sum, err
	}
	sum.Lengths = map[string]Stats{}
	for k, v := range lens {
		sum.Lengths[k] = stats(v)
	}
	return sum, nil
}

func writeReject(w io.Writer, ex pairs.Example, rowErr *pairs.RowError, reason string) error {
	if w == nil {
		return nil
	}
	rec := map[string]any{"row": ex.Row, "id": ex.ID, "reason": reason}
	if rowErr != nil {
		rec["row"] = rowErr.Row
		if rowErr.Line > 0 {
			rec["line"] = rowErr.Line
		}
		if rowErr.Field != "" {
			rec["field"] = rowErr.Field
		}
		if len(rowErr.Raw) > 0 {
			if utf8.Valid(rowErr.Raw) {
				rec["raw"] = string(rowErr.Raw)
			} else {
				rec["raw_bytes"] = rowErr.Raw // base64 in JSON
			}
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return arrowio.WriteLines(w, append(b, '\n')) // whole lines only
}

func stats(v []int) Stats {
	if len(v) == 0 {
		return Stats{}
	}
	s := slices.Clone(v)
	sort.Ints(s)
	q := func(p float64) int { return s[min(len(s)-1, int(p*float64(len(s))))] }
	total := 0
	for _, x := range s {
		total += x
	}
	return Stats{Min: s[0], P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: s[len(s)-1], Mean: float64(total) / float64(len(s))}
}

// Format writes the human summary.
func (s *Summary) Format(w io.Writer) {
	if s.Rated != nil {
		fmt.Fprintf(w, "rated completions: %d prompts, %d completions, binarized into %d pairs\n", s.Rated.Prompts, s.Rated.Completions, s.Rated.Pairs)
	}
	fmt.Fprintf(w, "pairs read %d, written %d", s.Read, s.Written)
	var dropped int64
	keys := make([]string, 0, len(s.Dropped))
	for k, v := range s.Dropped {
		dropped += v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, ", dropped %d", dropped)
	if dropped > 0 {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, s.Dropped[k])
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, ", rejected (bad rows) %d, truncated %d, prompt-prefix mismatches %d, empty prompts %d\n", s.Rejected, s.Truncated, s.PrefixMismatch, s.EmptyPrompt)
	if len(s.Skipped) > 0 {
		keys := make([]string, 0, len(s.Skipped))
		var n int64
		for k, v := range s.Skipped {
			keys = append(keys, k)
			n += v
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, s.Skipped[k])
		}
		fmt.Fprintf(w, "  rated prompts skipped (no pair) %d (%s)\n", n, strings.Join(parts, ", "))
	}
	for _, k := range []string{"prompt", "chosen", "rejected", "sequence"} {
		st, ok := s.Lengths[k]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "  %-8s tokens: min %d, p50 %d, p90 %d, p99 %d, max %d, mean %.1f\n", k, st.Min, st.P50, st.P90, st.P99, st.Max, st.Mean)
	}
}
