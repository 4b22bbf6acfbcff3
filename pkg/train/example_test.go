package train_test

import (
	"fmt"

	"github.com/dpo-go/dpo/pkg/train"
)

// The defaults follow TRL's DPOConfig; a configuration is validated before
// any data or model is touched.
func ExampleConfig_Validate() {
	c := train.DefaultConfig()
	fmt.Println(c.Loss, c.Beta, c.LR, c.Scheduler, c.MaxGradNorm)
	c.Out, c.Model = "out", "base"
	fmt.Println(c.Validate())
	c.GradAccum = 0
	fmt.Println(c.Validate())
	// Output:
	// sigmoid 0.1 1e-06 linear 1
	// <nil>
	// --grad-accum 0: must be >= 1
}
