// Command refbench makes the inputs of the dpo-reflogp benchmark
// (bench/reflogp/run.sh) and dumps its outputs for the PyTorch side.
//
//	refbench mkmodel --layers 4 --hidden 256 --vocab 32000 --out DIR
//	refbench mkpairs --n 64 --prompt-len 128 --chosen-len 128 --rejected-len 128 --vocab 32000 > pairs.arrow
//	refbench dump ref.arrow > rows.json
//	refbench profile --model DIR --pairs pairs.arrow --cpuprofile cpu.pprof
package main

import (
	"fmt"
	"os"

	"github.com/dpo-go/dpo/bench/internal/streamdump"
	"github.com/dpo-go/dpo/bench/reflogp/internal/refbench"
	"github.com/dpo-go/dpo/internal/cli"
)

var commands = map[string]cli.RunFunc{
	"mkmodel": refbench.MkModel,
	"mkpairs": refbench.MkPairs,
	"dump":    streamdump.Command(true),
	"profile": refbench.Profile,
}

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: refbench mkmodel|mkpairs|dump|profile [flags]")
		os.Exit(2)
	}
	name := os.Args[1]
	os.Args = os.Args[1:]
	os.Exit(cli.Main("refbench "+name, commands[name]))
}
