package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// shardSpec is --shard I/N: the I-th (0-based) of N contiguous slices of the
// input rows. With T rows in all, shard I holds rows floor(I*T/N) up to
// floor((I+1)*T/N)-1, so the shards' outputs, concatenated in order 0..N-1,
// hold every row once, in input order.
type shardSpec struct {
	I, N int
	// allowPartial is --allow-partial-shards: inputs that are an
	// incomplete shard set are meant (see arrowio.CheckInputs).
	allowPartial bool
}

func (s *shardSpec) String() string {
	if s == nil || s.N == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

func (s *shardSpec) Set(v string) error {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return fmt.Errorf("want I/N with 0 <= I < N, e.g. 0/8 (Slurm: $SLURM_ARRAY_TASK_ID/N; Kubernetes: $JOB_COMPLETION_INDEX/N)")
	}
	s.I, s.N = i, n
	return nil
}

// addShardFlag registers --shard on fs.
func addShardFlag(fs *flag.FlagSet) *shardSpec {
	s := &shardSpec{}
	fs.Var(s, "shard", "process only shard `I/N` (0-based I) of the input rows: a contiguous slice, so the N outputs in order 0..N-1 are the unsharded output (inputs must be files, read twice)")
	addAllowPartialShardsFlag(fs, &s.allowPartial)
	return s
}

// addAllowPartialShardsFlag registers --allow-partial-shards on fs.
func addAllowPartialShardsFlag(fs *flag.FlagSet, p *bool) {
	fs.BoolVar(p, "allow-partial-shards", false, "accept inputs that are shards (--shard I/N outputs) but not a complete set, each shard once (e.g. 0/3 and 2/3 only); a shard given twice is refused all the same")
}

// checkInputs refuses inputs that were not made alike (tokenizer, chat
// template, reference model and options) or an incomplete or repeated
// shard set (arrowio.CheckInputs).
func (s *shardSpec) checkInputs(inputs []string, ignoreTokenizer bool, log io.Writer) error {
	return arrowio.CheckInputs(inputs, arrowio.MixOptions{AllowPartialShards: s.allowPartial, IgnoreTokenizer: ignoreTokenizer, Warn: log})
}

// bounds returns the shard's rows [lo, hi) of total rows.
func (s *shardSpec) bounds(total int64) (lo, hi int64) {
	n := int64(s.N)
	return int64(s.I) * total / n, (int64(s.I) + 1) * total / n
}

// apply counts the inputs' rows and restricts r to the shard. It is a no-op
// without --shard.
// open reads the input streams as one (warnings about old stream
// versions to log) and keeps this shard's rows of them.
func (s *shardSpec) open(inputs []string, stdin io.Reader, mem memory.Allocator, log io.Writer) (*arrowio.Reader, error) {
	r, err := arrowio.OpenAll(inputs, stdin, mem)
	if err != nil {
		return nil, err
	}
	r.SetWarnings(log)
	if err := s.apply(r, inputs, mem); err != nil {
		r.Release()
		return nil, err
	}
	return r, nil
}

func (s *shardSpec) apply(r *arrowio.Reader, inputs []string, mem memory.Allocator) error {
	if s.N == 0 {
		return nil
	}
	for _, in := range inputs {
		if in == "-" {
			return usagef("--shard needs input files (it counts the rows first), not stdin")
		}
	}
	total, err := arrowio.CountRows(inputs, mem)
	if err != nil {
		return err
	}
	lo, hi := s.bounds(total)
	r.SetRange(lo, hi)
	return nil
}

// active reports whether --shard was given.
func (s *shardSpec) active() bool { return s.N > 0 }
