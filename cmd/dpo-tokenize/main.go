// Command dpo-tokenize turns preference pairs into token ids. See
// `dpo-tokenize -h` and the README.
package main

import (
	"os"

	"github.com/dpo-go/dpo/internal/cli"
)

func main() { os.Exit(cli.Main("dpo-tokenize", cli.Tokenize)) }
