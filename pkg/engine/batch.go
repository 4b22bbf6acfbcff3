package engine

import "sort"

// batch is a group of rows padded to the same shape.
type batch struct {
	rows   []int // indices into the input, at most size of them
	size   int   // rows in the compiled shape (power of two >= len(rows))
	length int   // padded sequence length (a bucket)
}

// bucketLen rounds n up to 16, 24, 32, 48, 64, 96, 128, ...: powers of
// two and 1.5x powers of two, so padding stays under a third of a row.
func bucketLen(n int) int {
	b := 16
	for {
		if n <= b {
			return b
		}
		if n <= b+b/2 {
			return b + b/2
		}
		b *= 2
	}
}

// floorPow2 returns the largest power of two <= n (1 for n < 1).
func floorPow2(n int) int {
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}

// planBatches sorts rows by length, groups them by length bucket and cuts
// each group into batches of at most floorPow2(batchTokens/bucket) rows
// (at least one). Every batch of a bucket, the last partial one included, is
// padded to that same number of rows: a bucket compiles exactly one shape,
// and a sequence's result is bit-identical whatever else is in the input
// (the Go backend's matmul switches algorithms with the matrix size, so a
// different row count can change the last bits). The price is padding work
// on a bucket's last batch.
func planBatches(lens []int, batchTokens int) []batch {
	order := make([]int, len(lens))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return lens[order[a]] < lens[order[b]] })
	var out []batch
	for start := 0; start < len(order); {
		T := bucketLen(lens[order[start]])
		end := start
		for end < len(order) && bucketLen(lens[order[end]]) == T {
			end++
		}
		maxRows := floorPow2(batchTokens / T)
		for s := start; s < end; s += maxRows {
			e := min(s+maxRows, end)
			out = append(out, batch{rows: order[s:e], size: maxRows, length: T})
		}
		start = end
	}
	return out
}
