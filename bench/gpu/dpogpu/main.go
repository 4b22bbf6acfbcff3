// Command dpogpu is the one binary the GPU benchmark (bench/gpu/run.sh)
// carries to the GPU machine: the dpo tools (tokenize, reflogp, train,
// score) plus the helpers the benchmark needs (mkmodel, mkpairs, dump),
// chosen by the first argument or by the name it is invoked as
// (dpo-reflogp -> reflogp), busybox style. One binary instead of four
// keeps what travels under the transfer limit (each tool links GoMLX and
// Arrow: about 42 MB stripped).
//
//	dpogpu reflogp --model DIR pairs.arrow > ref.arrow
//	dpogpu mkmodel --layers 2 --out DIR          # Qwen2.5-0.5B shapes, random init
//	dpogpu mkpairs --n 8 --prompt-len 64 --chosen-len 32 --rejected-len 48 > pairs.jsonl
//	dpogpu dump ref.arrow > rows.json            # token ids and reference log-probs as JSON
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dpo-go/dpo/bench/gpu/internal/gputool"
	"github.com/dpo-go/dpo/bench/internal/streamdump"
	"github.com/dpo-go/dpo/internal/cli"
)

var commands = map[string]cli.RunFunc{
	"tokenize": cli.Tokenize,
	"reflogp":  cli.Reflogp,
	"train":    cli.Train,
	"score":    cli.Score,
	"mkmodel":  gputool.MkModel,
	"mkpairs":  gputool.MkPairs,
	"dump":     streamdump.Command(false),
	"detect":   gputool.Detect,
}

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "dpo-")
	if _, ok := commands[name]; !ok {
		if len(os.Args) < 2 || commands[os.Args[1]] == nil {
			fmt.Fprintln(os.Stderr, "usage: dpogpu tokenize|reflogp|train|score|mkmodel|mkpairs|dump|detect [flags]")
			os.Exit(2)
		}
		name = os.Args[1]
		os.Args = os.Args[1:]
	}
	os.Exit(cli.Main("dpo-"+name, commands[name]))
}
