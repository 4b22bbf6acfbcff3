package arrowio

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// MaxBufferBytes bounds the size of one message body and of one
// decompressed buffer when reading. A corrupt length field in the input must
// not make the process try to allocate an absurd amount of memory (which the
// Go runtime reports as a fatal, unrecoverable error). The writer's batches
// stay far below it: 2048 rows of three 32k-token lists are 800 MiB.
const MaxBufferBytes = 1 << 30

// limitAllocator panics (recovered at the package boundary) instead of
// forwarding an allocation larger than max.
type limitAllocator struct {
	memory.Allocator
	max int
}

func (a limitAllocator) Allocate(size int) []byte {
	if size < 0 || size > a.max {
		panic(fmt.Sprintf("buffer of %d bytes exceeds the %d-byte limit (corrupt length field?)", size, a.max))
	}
	return a.Allocator.Allocate(size)
}

func (a limitAllocator) Reallocate(size int, b []byte) []byte {
	if size < 0 || size > a.max {
		panic(fmt.Sprintf("buffer of %d bytes exceeds the %d-byte limit (corrupt length field?)", size, a.max))
	}
	return a.Allocator.Reallocate(size, b)
}
