package cli

import (
	"io"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/progress"
	"github.com/dpo-go/dpo/pkg/arrowio"
)

// rowProgress reports rows done on stderr (internal/progress): a line redrawn
// in place on a terminal, a plain line every 30 s and at the end
// elsewhere; nothing with -q (w is io.Discard).
type rowProgress struct{ m *progress.Meter }

func newProgress(w io.Writer, terminal bool, unit string) rowProgress {
	return rowProgress{progress.New(w, progress.Options{Unit: unit, Terminal: terminal})}
}

func (p rowProgress) update(n int64) { p.m.Update(n, "") }
func (p rowProgress) done()          { p.m.Done() }

// countTotal sets the total for the ETA when the inputs are files: their
// rows (the shard's share with --shard), counted by reading them once
// (cheap beside a model's forward passes). Stdin, or a failure to count,
// leaves the total unknown.
func (p rowProgress) countTotal(inputs []string, shard *shardSpec, mem memory.Allocator) {
	for _, in := range inputs {
		if in == "-" {
			return
		}
	}
	total, err := arrowio.CountRows(inputs, mem)
	if err != nil {
		return
	}
	if shard.active() {
		lo, hi := shard.bounds(total)
		total = hi - lo
	}
	p.m.SetTotal(total)
}
