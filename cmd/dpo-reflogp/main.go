// Command dpo-reflogp appends a frozen reference model's completion
// log-probabilities to a tokenized pair stream. See `dpo-reflogp -h`.
package main

import (
	"os"

	"github.com/dpo-go/dpo/internal/cli"
)

func main() { os.Exit(cli.Main("dpo-reflogp", cli.Reflogp)) }
