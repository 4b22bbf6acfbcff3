// Command dpo-score computes implicit rewards, margins and preference
// accuracy of a policy on preference pairs. See `dpo-score -h`.
package main

import (
	"os"

	"github.com/dpo-go/dpo/internal/cli"
)

func main() { os.Exit(cli.Main("dpo-score", cli.Score)) }
