package cli

import (
	"flag"

	"github.com/dpo-go/dpo/pkg/engine"
)

// layoutFlags registers the switches of the throughput layouts (issue #13;
// engine.Switches): all on by default, each flag turns one off.
func layoutFlags(fs *flag.FlagSet, s *engine.Switches) {
	fs.BoolVar(&s.NoSharedPrompt, "no-shared-prompt", false, "run each completion with its own copy of the prompt (default: prompt|chosen|rejected in one segment, the prompt computed once)")
	fs.BoolVar(&s.NoPacking, "no-packing", false, "one sequence (or shared-prompt pair) per padded row (default: several per row, block-diagonal attention)")
	fs.BoolVar(&s.Plain, "plain-batches", false, "the path before the layouts: right-padded rows, LM head over every position (implies --no-shared-prompt --no-packing; shard outputs byte for byte the unsharded one)")
}
