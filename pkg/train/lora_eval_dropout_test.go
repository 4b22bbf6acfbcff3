package train_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/pkg/train"
)

// TestEvalRunsLoRAWithoutDropout: evaluation runs the adapter in eval
// mode, as PEFT's lora_dropout does under model.eval(). With
// --lora-dropout 0.5 the eval metrics (plain scoring through the engine,
// and evaluateTRL's graph, the path of --use-weighting and --ld-alpha)
// equal, bit for bit, those of the same adapter with dropout 0, and a
// second evaluation repeats them; without the adapter they differ (so the
// adapter's branch, where the dropout would sit, is computed).
func TestEvalRunsLoRAWithoutDropout(t *testing.T) {
	base, adDir, in := adapterCopies(t)
	dir := t.TempDir()
	for _, path := range []struct {
		name string
		mod  func(*train.Config)
	}{
		{"plain", func(*train.Config) {}},
		{"use_weighting", func(c *train.Config) { c.UseWeighting = true }},
	} {
		t.Run(path.name, func(t *testing.T) {
			eval := func(p float64, withAdapter bool) map[string]float64 {
				t.Helper()
				c := testConfig(base, in, filepath.Join(dir, fmt.Sprint(path.name, p, withAdapter)))
				c.Eval = in
				if withAdapter {
					c.LoRA.Adapter, c.LoRA.Dropout = adDir, p
				}
				path.mod(&c)
				m, err := train.Evaluate(c)
				if err != nil {
					t.Fatal(err)
				}
				if len(m) == 0 {
					t.Fatal("no eval metrics")
				}
				return m
			}
			dropped, again, none := eval(0.5, true), eval(0.5, true), eval(0, true)
			for k, v := range none {
				if dropped[k] != v {
					t.Errorf("%s: %.9g with lora_dropout 0.5, %.9g with 0", k, dropped[k], v)
				}
				if again[k] != dropped[k] {
					t.Errorf("%s: %.9g, then %.9g", k, dropped[k], again[k])
				}
			}
			if base := eval(0, false); base["eval_logps/chosen"] == none["eval_logps/chosen"] {
				t.Errorf("the adapter does not change eval_logps/chosen (%.9g): the test exercises nothing", none["eval_logps/chosen"])
			}
		})
	}
}
