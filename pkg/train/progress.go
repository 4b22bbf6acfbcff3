package train

import "github.com/dpo-go/dpo/internal/progress"

// newProgress reports steps done, rate, elapsed time and ETA on the log:
// a line redrawn in place with Config.Progress (a terminal), else a plain
// line at least every 30 s (internal/progress).
func (r *runner) newProgress(start, total int) *progress.Meter {
	return progress.New(r.log, progress.Options{Unit: "steps", Total: int64(total), Start: int64(start), Terminal: r.c.Progress})
}
