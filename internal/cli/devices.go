package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/dpo-go/dpo/pkg/engine"
)

// devicesUsage is --devices' help (dpo-reflogp, dpo-score, dpo-sample).
const devicesUsage = "run every forward data-parallel over `N` devices of an XLA backend (or all): rows split over a device mesh, weights replicated, XLA partitions the graph; 1 is one device"

// devicesFlag is --devices N|all, stored in engine.Options.Devices (-1: all).
type devicesFlag struct{ n *int }

func (d devicesFlag) String() string {
	if d.n == nil || *d.n <= 1 && *d.n != -1 {
		return "1"
	}
	if *d.n == -1 {
		return "all"
	}
	return strconv.Itoa(*d.n)
}

func (d devicesFlag) Set(s string) error {
	if s == "all" {
		*d.n = -1
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("want a device count >= 1 or all, got %q", s)
	}
	*d.n = n
	return nil
}

// devicesFlagVar registers --devices on fs.
func devicesFlagVar(fs *flag.FlagSet, n *int) {
	fs.Var(devicesFlag{n}, "devices", devicesUsage)
}

// logDevices says how many devices the engine runs on, when it may run on
// more than one.
func logDevices(log io.Writer, e *engine.Engine) {
	if e.Devices() > 1 || e.NumDevices() > 1 {
		fmt.Fprintf(log, "devices: %d of %d\n", e.Devices(), e.NumDevices())
	}
}

// devicesMeta is the device count a stream's metadata records: 0 (absent)
// on one device, so one-device streams stay as they were.
func devicesMeta(e *engine.Engine) int {
	if e.Devices() > 1 {
		return e.Devices()
	}
	return 0
}
