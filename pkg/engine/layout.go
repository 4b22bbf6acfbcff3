package engine

import (
	"fmt"
	"sort"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/core/tensors"
)

// This file lays sequences out in rows so that a forward computes only what
// DPO needs (issue #13):
//
//   - shared prompt: a prompt and the completions that continue it (a
//     pair's chosen and rejected) are one segment prompt|c1|c2 of a row;
//     completion i attends to the prompt and to itself, never to another
//     completion, and its positions continue the prompt's (the rejected
//     completion's first token has position len(prompt)), so every
//     completion sees exactly what it sees alone;
//   - packing: several such segments share a row (block-diagonal
//     attention, per-segment positions), filled to the row length;
//   - completion-only head: the LM head and log-softmax run only on the
//     positions whose next token is a completion token, gathered into a
//     compact vector whose length is bucketed (bucketLen), so graphs stay
//     few.
//
// The attention mask of a layout is, for query q and key k of one row,
//
//	doc[k] >= 0 ∧ doc[k] = doc[q] ∧ (branch[k] = 0 ∨ branch[k] = branch[q])
//	  ∧ k <= q (row offsets) ∧ pos[q] - pos[k] < window (when windowed)
//
// where doc numbers the segments of a row (-1: padding) and branch is 0
// for prompt tokens and i for completion i. Sliding windows are measured in
// positions, not row offsets: a rejected token is as far from a prompt
// token as it is in its own sequence, and chosen tokens in between are
// masked anyway.

// Group is a prompt and the completions that continue it (a pair's chosen
// and rejected, or one sequence's single completion). Out[i] is the output
// slot of completion i.
type Group struct {
	Prompt      []int32
	Completions [][]int32
	Out         []int
}

// len is the tokens of g laid out with a shared prompt.
func (g Group) len() int {
	n := len(g.Prompt)
	for _, c := range g.Completions {
		n += len(c)
	}
	return n
}

// LayoutOptions selects the layout's savings. The completion-only head is
// always on in a layout built here; plain rows, every position scored, are
// the layout of [PlainLayoutInputs].
type LayoutOptions struct {
	// SharedPrompt computes a group's prompt once for all its completions;
	// off, each completion is a segment of its own, prompt repeated.
	SharedPrompt bool
	// Pack puts several segments in one row; off, one segment per row.
	Pack bool
}

// Layout is one forward batch: rows of segments, and which positions the
// head scores.
type Layout struct {
	Rows, Len int     // B rows of T tokens
	Tokens    []int32 // [B*T]
	Positions []int32 // [B*T]
	Doc       []int32 // [B*T] segment of the row, -1 for padding
	Branch    []int32 // [B*T] 0 prompt, i completion i

	N      int     // scored positions (bucketed; the tail is padding)
	Pred   []int32 // [N] flat index b*T+t of the position that predicts
	Target []int32 // [N] the predicted token
	// Seq and Index say which completion token entry n is (-1: padding).
	Seq, Index []int32 // [N]

	Seqs int     // output slots
	Grid []int32 // [Seqs*T]: entry n of completion token j of slot s, N when none

	// Statistics for the throughput report.
	Real      int // tokens of the sequences as scored alone (prompt counted per completion)
	Computed  int // non-padding positions of the rows
	Duplicate int // prompt positions computed more than once
}

// splitGroups returns one group per completion (prompt repeated).
func splitGroups(groups []Group) []Group {
	var out []Group
	for _, g := range groups {
		for i, c := range g.Completions {
			out = append(out, Group{Prompt: g.Prompt, Completions: [][]int32{c}, Out: []int{g.Out[i]}})
		}
	}
	return out
}

// packRows assigns segments of the given lengths to rows of T tokens:
// first fit in decreasing length order with Pack (stable, so the result is
// a function of the input), else one per row.
func packRows(lens []int, T int, pack bool) [][]int {
	if !pack {
		rows := make([][]int, len(lens))
		for i := range lens {
			rows[i] = []int{i}
		}
		return rows
	}
	order := make([]int, len(lens))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return lens[order[a]] > lens[order[b]] })
	var rows [][]int
	var free []int
	for _, i := range order {
		placed := false
		for r := range rows {
			if free[r] >= lens[i] {
				rows[r] = append(rows[r], i)
				free[r] -= lens[i]
				placed = true
				break
			}
		}
		if !placed {
			rows = append(rows, []int{i})
			free = append(free, T-lens[i])
		}
	}
	return rows
}

// packedLen picks the row length for packing segments of lens: among the
// bucket lengths from the longest segment's up to maxT (at least that
// bucket), the one with the fewest padded tokens rows*T; ties go to the
// shorter rows (less attention work).
func packedLen(lens []int, maxT int) int {
	longest := 0
	for _, l := range lens {
		longest = max(longest, l)
	}
	best, bestCost := bucketLen(longest), -1
	for T := bucketLen(longest); ; T = bucketLen(T + 1) {
		cost := len(packRows(lens, T, true)) * T
		if bestCost < 0 || cost < bestCost {
			best, bestCost = T, cost
		}
		if T >= maxT {
			break
		}
	}
	return best
}

// NewLayout lays groups out in rows of T tokens (T >= every segment's
// length; with Pack, see packedLen for a choice) and at least minRows rows
// (padding rows are empty). seqs is the number of output slots (0: no
// Grid; then Out may hold any indices).
func NewLayout(groups []Group, seqs, T, minRows int, o LayoutOptions) *Layout {
	if !o.SharedPrompt {
		groups = splitGroups(groups)
	}
	lens := make([]int, len(groups))
	for i, g := range groups {
		lens[i] = g.len()
	}
	rows := packRows(lens, T, o.Pack)
	B := max(len(rows), minRows)
	l := &Layout{Rows: B, Len: T, Seqs: seqs,
		Tokens: make([]int32, B*T), Positions: make([]int32, B*T), Doc: make([]int32, B*T), Branch: make([]int32, B*T)}
	for i := range l.Doc {
		l.Doc[i] = -1
	}
	var pred, target, seq, index []int32
	for r, row := range rows {
		off := r * T
		for d, gi := range row {
			g := groups[gi]
			P := len(g.Prompt)
			for j, t := range g.Prompt {
				l.Tokens[off+j], l.Positions[off+j], l.Doc[off+j], l.Branch[off+j] = t, int32(j), int32(d), 0
			}
			last := off + P - 1 // the prompt's last token predicts each completion's first
			o := off + P
			for c, comp := range g.Completions {
				for j, t := range comp {
					l.Tokens[o+j], l.Positions[o+j], l.Doc[o+j], l.Branch[o+j] = t, int32(P+j), int32(d), int32(c+1)
					p := last
					if j > 0 {
						p = o + j - 1
					}
					pred, target = append(pred, int32(p)), append(target, t)
					seq, index = append(seq, int32(g.Out[c])), append(index, int32(j))
				}
				o += len(comp)
				l.Real += P + len(comp)
			}
			l.Computed += g.len()
			off += g.len()
		}
	}
	if !o.SharedPrompt { // a prompt is computed once per completion
		seen := map[string]bool{}
		for _, g := range groups {
			k := string(int32Bytes(g.Prompt))
			if seen[k] {
				l.Duplicate += len(g.Prompt)
			}
			seen[k] = true
		}
	}
	l.N = bucketLen(len(pred))
	for len(pred) < l.N {
		pred, target, seq, index = append(pred, 0), append(target, 0), append(seq, -1), append(index, -1)
	}
	l.Pred, l.Target, l.Seq, l.Index = pred, target, seq, index
	l.Grid = make([]int32, seqs*T)
	for i := range l.Grid {
		l.Grid[i] = int32(l.N)
	}
	for n, s := range seq {
		if s >= 0 && seqs > 0 {
			l.Grid[int(s)*T+int(index[n])] = int32(n)
		}
	}
	return l
}

func int32Bytes(x []int32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	return b
}

// LayoutOf is a layout's inputs by name: *graph.Node inside a graph
// ([LayoutInputs]) and *tensors.Tensor outside ([Layout.Inputs]). Fields
// lists them in the one order in which they are fed to and read from a
// graph; Flat and Take use it, so no caller counts positions.
type LayoutOf[T any] struct {
	Tokens, Positions, Doc, Branch T // [B, T] int32
	Pred, Target                   T // [N] int32
	// Grid [S, T] int32 maps output slots to scored positions; absent
	// (NoGrid) where the caller reads the scored positions directly.
	Grid   T
	NoGrid bool
}

// Fields returns pointers to the inputs in feeding order: tokens,
// positions, doc, branch [B, T]; pred, target [N]; grid [S, T] unless
// NoGrid.
func (l *LayoutOf[T]) Fields() []*T {
	f := []*T{&l.Tokens, &l.Positions, &l.Doc, &l.Branch, &l.Pred, &l.Target}
	if !l.NoGrid {
		f = append(f, &l.Grid)
	}
	return f
}

// Flat returns the inputs in the order of Fields.
func (l LayoutOf[T]) Flat() []T { return flatFields(l.Fields()) }

// Take sets the inputs from the head of in, in the order of Fields, and
// returns the rest of in.
func (l *LayoutOf[T]) Take(in []T) []T { return takeFields(l.Fields(), in) }

// flatFields returns the values fs point to.
func flatFields[T any](fs []*T) []T {
	out := make([]T, len(fs))
	for i, f := range fs {
		out[i] = *f
	}
	return out
}

// takeFields sets fs from the head of in and returns the rest.
func takeFields[T any](fs []*T, in []T) []T {
	if len(in) < len(fs) {
		panic(fmt.Errorf("engine: %d graph inputs, want at least %d", len(in), len(fs)))
	}
	for i, f := range fs {
		*f = in[i]
	}
	return in[len(fs):]
}

// Inputs returns the layout's tensors (no Grid when the layout has no
// output slots).
func (l *Layout) Inputs() LayoutOf[*tensors.Tensor] {
	bt := func(x []int32) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x, l.Rows, l.Len) }
	in := LayoutOf[*tensors.Tensor]{Tokens: bt(l.Tokens), Positions: bt(l.Positions), Doc: bt(l.Doc), Branch: bt(l.Branch),
		Pred: tensors.FromFlatDataAndDimensions(l.Pred, l.N), Target: tensors.FromFlatDataAndDimensions(l.Target, l.N),
		NoGrid: l.Seqs == 0}
	if !in.NoGrid {
		in.Grid = tensors.FromFlatDataAndDimensions(l.Grid, l.Seqs, l.Len)
	}
	return in
}

// LayoutInputs are a layout's tensors inside a graph (see [LayoutOf]).
type LayoutInputs = LayoutOf[*Node]

// NewLayoutInputs names the first graph inputs in the order of
// [LayoutOf.Fields], Grid included.
func NewLayoutInputs(in []*Node) LayoutInputs {
	var li LayoutInputs
	li.Take(in)
	return li
}

// PlainLayoutInputs is the layout of right-padded rows, built inside the
// graph: one sequence per row, token t at position t, and every position
// scored (N = B·(T-1): position t of row b, at b·(T-1)+t, predicts token
// t+1). Its output grid is in row coordinates ([B, T]: entry t of slot b is
// token t of row b, 0 outside prompts[b] <= t < lengths[b]), so the
// builders return what the path before the layouts did, value for value.
//
//	tokens  [B, T] int32, right padded
//	lengths [B]    int32, 1 <= lengths[b] <= T
//	prompts [B]    int32, 1 <= prompts[b] <= lengths[b]
func PlainLayoutInputs(tokens, lengths, prompts *Node) LayoutInputs {
	g := tokens.Graph()
	B, T := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
	N := B * (T - 1)
	pos := Iota(g, shapeOf(dtypes.Int32, B, T), 1)
	bcast := func(x *Node) *Node { return BroadcastToDims(ExpandAxes(x, 1), B, T) }
	real := LessThan(pos, bcast(lengths))
	minus1 := Scalar(g, dtypes.Int32, -1)
	row := Iota(g, shapeOf(dtypes.Int32, B, T), 0)
	// Scored position of token t of row b: b·(T-1) + t-1.
	n := Add(MulScalar(row, float64(T-1)), AddScalar(pos, -1))
	inCompletion := And(GreaterOrEqual(pos, bcast(prompts)), real)
	return LayoutInputs{
		Tokens:    tokens,
		Positions: pos,
		Doc:       Where(real, ZerosLike(pos), BroadcastToDims(minus1, B, T)),
		Branch:    ZerosLike(pos),
		Pred:      Reshape(Add(MulScalar(Iota(g, shapeOf(dtypes.Int32, B, T-1), 0), float64(T)), Iota(g, shapeOf(dtypes.Int32, B, T-1), 1)), N),
		Target:    Reshape(Slice(tokens, AxisRange(), AxisRange(1, T)), N),
		Grid:      Where(inCompletion, n, BroadcastToDims(Scalar(g, dtypes.Int32, N), B, T)),
	}
}

// layoutInputs is the forward's view of a layout: its tokens, positions
// and the segment mask.
func layoutInputs(li LayoutInputs) *inputs {
	B, T := li.Tokens.Shape().Dimensions[0], li.Tokens.Shape().Dimensions[1]
	return &inputs{
		tokens:    li.Tokens,
		positions: li.Positions,
		maskFn: func(window int) *Node {
			g := li.Tokens.Graph()
			bq := func(x *Node) *Node { return BroadcastToDims(Reshape(x, B, T, 1), B, T, T) } // [B, q, k] from q
			bk := func(x *Node) *Node { return BroadcastToDims(Reshape(x, B, 1, T), B, T, T) } // [B, q, k] from k
			shapeTT := shapeOf(dtypes.Int32, T, T)
			causal := BroadcastToDims(Reshape(LessOrEqual(Iota(g, shapeTT, 1), Iota(g, shapeTT, 0)), 1, T, T), B, T, T)
			docK, brK := bk(li.Doc), bk(li.Branch)
			zero := ZerosLike(docK)
			m := And(causal, And(GreaterOrEqual(docK, zero), Equal(docK, bq(li.Doc))))
			m = And(m, Or(Equal(brK, zero), Equal(brK, bq(li.Branch))))
			if window > 0 {
				d := Sub(bq(li.Positions), bk(li.Positions))
				m = And(m, LessThan(d, Const(g, int32(window))))
			}
			return Reshape(m, B, 1, 1, T, T)
		},
	}
}

// PackedLen is the row length packing chooses for segments of lens (see
// packedLen): at most maxT, unless the longest segment needs more.
func PackedLen(lens []int, maxT int) int { return packedLen(lens, maxT) }
