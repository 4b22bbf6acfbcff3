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

// planRows is the row planner under every forward the engine plans: it
// groups rows by the bucket of their length (buckets in order of first
// appearance, rows in visiting order within one) and cuts each group into
// batches of rowsFor(bucket) rows, every batch of a bucket (the last,
// partial one included) padded to that row count. Rows are visited
// shortest first when sorted (stable), else in input order.
func planRows(lens []int, sorted bool, rowsFor func(bucket int) int) []batch {
	order := make([]int, len(lens))
	for i := range order {
		order[i] = i
	}
	if sorted {
		sort.SliceStable(order, func(a, b int) bool { return lens[order[a]] < lens[order[b]] })
	}
	byBucket := map[int][]int{}
	var buckets []int
	for _, i := range order {
		b := bucketLen(lens[i])
		if _, ok := byBucket[b]; !ok {
			buckets = append(buckets, b)
		}
		byBucket[b] = append(byBucket[b], i)
	}
	var out []batch
	for _, T := range buckets {
		rows, size := byBucket[T], rowsFor(T)
		for s := 0; s < len(rows); s += size {
			out = append(out, batch{rows: rows[s:min(s+size, len(rows))], size: size, length: T})
		}
	}
	return out
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
	return planRows(lens, true, func(T int) int { return floorPow2(batchTokens / T) })
}

// maxPackedRow bounds the rows that packing fills (tokens): attention
// costs grow with the square of a row's length.
const maxPackedRow = 1024

// layoutBatch is one forward of a scoring call: groups (indices into the
// groups of the call) and the shape they are laid out in.
type layoutBatch struct {
	groups  []int
	T, rows int // row length; at least this many rows
}

// segmentLens returns the lengths of the segments g is laid out in: one
// with a shared prompt, else one per completion (prompt repeated).
func (g Group) segmentLens(o LayoutOptions) []int {
	if o.SharedPrompt {
		return []int{g.len()}
	}
	lens := make([]int, len(g.Completions))
	for i, c := range g.Completions {
		lens[i] = len(g.Prompt) + len(c)
	}
	return lens
}

// RowLen is the row length of one forward over groups laid out with o
// (the training stage's micro-batches): the bucket of the longest segment,
// or with packing the length (up to 1024 tokens, or that bucket when
// longer) that needs the fewest padded tokens (see [PackedLen]).
func RowLen(groups []Group, o LayoutOptions) int {
	var lens []int
	for _, g := range groups {
		lens = append(lens, g.segmentLens(o)...)
	}
	if !o.Pack {
		longest := 0
		for _, l := range lens {
			longest = max(longest, l)
		}
		return bucketLen(longest)
	}
	return packedLen(lens, maxPackedRow)
}

// plan is the engine's one planner of scoring calls (SequenceLogProbs,
// TokenLogProbs: score, reflogp and the trainer's evaluation): it cuts
// groups into forward batches of about batchTokens tokens. Plain rows are
// the layout of one sequence per group, neither shared nor packed. Without
// packing it is planBatches over the groups' lengths (one shape per
// bucket; a group without a shared prompt counts as its longest
// sequence). With packing, groups longer than the packed row length run as
// in planBatches; the others are packed first-fit decreasing into rows of
// one length (packedLen, at most maxPackedRow and batchTokens),
// batchTokens/length rows a batch.
func plan(groups []Group, batchTokens int, o LayoutOptions) []layoutBatch {
	lens := make([]int, len(groups))
	for i, g := range groups {
		for _, l := range g.segmentLens(o) {
			lens[i] = max(lens[i], l)
		}
	}
	var out []layoutBatch
	fromPlan := func(idx []int) {
		sub := make([]int, len(idx))
		for j, i := range idx {
			sub[j] = lens[i]
		}
		for _, b := range planBatches(sub, batchTokens) {
			lb := layoutBatch{T: b.length, rows: b.size}
			for _, j := range b.rows {
				lb.groups = append(lb.groups, idx[j])
			}
			out = append(out, lb)
		}
	}
	if !o.Pack {
		all := make([]int, len(groups))
		for i := range all {
			all[i] = i
		}
		fromPlan(all)
		return out
	}
	rowCap := bucketLen(min(maxPackedRow, batchTokens))
	if rowCap > min(maxPackedRow, batchTokens) {
		rowCap = bucketLen(rowCap/2 + 1)
	}
	var long, short []int
	var shortLens []int
	for i, l := range lens {
		if l > rowCap {
			long = append(long, i)
		} else {
			short = append(short, i)
			shortLens = append(shortLens, l)
		}
	}
	if len(short) > 0 {
		T := packedLen(shortLens, rowCap)
		rows := packRows(shortLens, T, true)
		perBatch := max(1, batchTokens/T)
		for s := 0; s < len(rows); s += perBatch {
			lb := layoutBatch{T: T}
			for _, r := range rows[s:min(s+perBatch, len(rows))] {
				for _, j := range r {
					lb.groups = append(lb.groups, short[j])
				}
			}
			sort.Ints(lb.groups)
			out = append(out, lb)
		}
	}
	fromPlan(long)
	return out
}

// planGenerate plans generation: rows grouped by prompt bucket (input order
// within one, batch.length the bucket) and cut into batches of one row
// count: floorPow2(batchTokens / capacity), or fewer for a small call (the
// power of two >= the number of rows). As planBatches does for scoring,
// every batch has that shape, so a row's numbers depend on its own prompt,
// the call's capacity and row count, not on which rows share its batch.
// Over several devices the row count is rounded up to a multiple of them
// (so that the rows split, devices.go); padding rows are never emitted.
func planGenerate(lens []int, capacity, batchTokens, devices int) []batch {
	rowsPer := generateRows(len(lens), capacity, batchTokens, devices)
	return planRows(lens, false, func(int) int { return rowsPer })
}

// generateRows is the row count of planGenerate's batches for n prompts
// over the given number of devices.
func generateRows(n, capacity, batchTokens, devices int) int {
	rows := min(floorPow2(max(1, batchTokens/capacity)), ceilPow2(n))
	if devices > 1 {
		rows = (rows + devices - 1) / devices * devices
	}
	return rows
}

// ceilPow2 returns the smallest power of two >= n (1 for n < 1).
func ceilPow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}
