//go:build xla

package engine

// Building with -tags xla compiles in the XLA backend ("xla:cpu",
// "xla:cuda"); it needs CGO and the PJRT plugin at run time.
import _ "github.com/gomlx/go-xla/compute/xla"
