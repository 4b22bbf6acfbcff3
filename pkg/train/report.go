package train

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dpo-go/dpo/internal/tbevents"
)

// RunsDir is the directory under Out that holds TensorBoard event files
// (--report-to tensorboard), as transformers' Trainer writes them under
// output_dir/runs.
const RunsDir = "runs"

// ReportTargets are the values --report-to accepts. metrics.jsonl is
// always written (resume and the plot read it); "jsonl" names it so a
// TRL-style list reads naturally.
var ReportTargets = []string{"jsonl", "tensorboard", "none"}

// parseReportTo checks a comma-separated --report-to list and says whether
// it asks for TensorBoard.
func parseReportTo(s string) (tensorboard bool, err error) {
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !slices.Contains(ReportTargets, t) {
			return false, fmt.Errorf("--report-to %q: want a comma-separated list of %s", t, strings.Join(ReportTargets, ", "))
		}
		tensorboard = tensorboard || t == "tensorboard"
	}
	return tensorboard, nil
}

// openReports opens the TensorBoard writer when Config.ReportTo asks
// for one. A resumed run adds a new event file; TensorBoard drops the
// events a killed run wrote past the checkpoint when it sees the step
// go back.
func (r *runner) openReports() error {
	tb, err := parseReportTo(r.c.ReportTo)
	if err != nil || !tb {
		return err
	}
	r.tb, err = tbevents.Create(filepath.Join(r.c.Out, RunsDir))
	return err
}

// tensorboardTag maps a metrics.jsonl key to the tag transformers'
// TensorBoardCallback gives it: eval_x -> eval/x, anything else -> train/x.
func tensorboardTag(key string) string {
	if rest, ok := strings.CutPrefix(key, "eval_"); ok {
		return "eval/" + rest
	}
	return "train/" + key
}

// reportScalars writes the numeric fields of one metrics record to the
// TensorBoard writer (if any) at the record's step.
func (r *runner) reportScalars(rec map[string]any) error {
	if r.tb == nil {
		return nil
	}
	step, _ := rec["step"].(float64)
	vals := map[string]float64{}
	for k, v := range rec {
		if k == "step" {
			continue
		}
		switch x := v.(type) {
		case float64:
			vals[tensorboardTag(k)] = x
		case int:
			vals[tensorboardTag(k)] = float64(x)
		case int64:
			vals[tensorboardTag(k)] = float64(x)
		}
	}
	if err := r.tb.Scalars(int64(step), vals); err != nil {
		return err
	}
	return r.tb.Flush()
}

func (r *runner) closeReports() {
	if r.tb != nil {
		r.tb.Close()
		r.tb = nil
	}
}
