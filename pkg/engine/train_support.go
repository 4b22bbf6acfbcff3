package engine

import "github.com/gomlx/compute"

// BucketLen returns the padded sequence length the engine compiles for a
// sequence of n tokens (16, 24, 32, 48, 64, 96, ...). The training stage
// pads its batches to the same buckets so that few graphs compile.
func BucketLen(n int) int { return bucketLen(n) }

// BucketRows returns the most rows a batch of padded length T holds under
// batchTokens (a power of two, at least 1), as the engine forms batches.
func BucketRows(T, batchTokens int) int { return floorPow2(batchTokens / T) }

// Backend returns the engine's compute backend, for the training stage's
// own executables over Model.Store (nil after Close).
func (e *Engine) Backend() compute.Backend { return e.backend }
