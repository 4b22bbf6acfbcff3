// Command mkbase writes a randomly initialised HF checkpoint (float32) for
// a config.json, for benchmarks: mkbase CONFIG.json OUTDIR SEED.
package main

import (
	"fmt"
	"log"
	"os"
	"strconv"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

func main() {
	log.SetPrefix("mkbase: ")
	log.SetFlags(0)
	if err := run(os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

func run(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: mkbase CONFIG.json OUTDIR SEED")
	}
	cfg, err := model.LoadConfig(args[0])
	if err != nil {
		return err
	}
	seed, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return model.Save(args[1], model.RandomInit(cfg, seed), safetensors.F32)
}
