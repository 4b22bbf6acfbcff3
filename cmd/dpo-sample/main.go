// Command dpo-sample generates completions for prompts with a causal LM
// (greedy or sampled, batched with a KV cache). See `dpo-sample -h`.
package main

import (
	"os"

	"github.com/dpo-go/dpo/internal/cli"
)

func main() { os.Exit(cli.Main("dpo-sample", cli.Sample)) }
