//go:build xla && linux && cgo

package engine

/*
#include <malloc.h>
*/
import "C"

// XLA's CPU runtime allocates each execution's temporaries (GiBs for a
// training step at real size) with the C allocator. glibc raises its mmap
// threshold dynamically each time such a block is freed, so later blocks
// of up to 32 MiB come from the heap arenas, where fragmentation keeps the
// freed memory resident: on the Qwen2.5-0.5B shape (full fine-tuning,
// batch 1, xla:cpu) the resident set grew by 0.3-2.5 GB a step, to 17.8 GB
// at step 3 (bench/realsize). A fixed 1 MiB threshold (which also turns the
// dynamic adjustment off) and trim threshold return freed temporaries to
// the system: the same run held 12.2 GB at every step's peak and 7.4 GB
// between steps. musl and other libcs accept and ignore these calls.
func init() {
	C.mallopt(C.M_MMAP_THRESHOLD, 1<<20)
	C.mallopt(C.M_TRIM_THRESHOLD, 1<<20)
}
