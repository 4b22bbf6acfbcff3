// Command dpo-train trains a causal LM with Direct Preference Optimization on
// a reference stream. See `dpo-train -h` and the README.
package main

import (
	"os"

	"github.com/dpo-go/dpo/internal/cli"
)

func main() { os.Exit(cli.Main("dpo-train", cli.Train)) }
