package engine

import (
	"context"
	"fmt"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/core/tensors"
)

// Generation runs the same forward (decoderHidden / gpt2Hidden) with a KV
// cache in its inputs. A batch of R rows is left padded to its prompt
// bucket Tp, as transformers' generate pads a batch, so that every row's
// next token goes to the same cache slot:
//
//	slots  [0, pad_b)          padding (never attended)
//	       [pad_b, Tp)         the prompt, positions 0 .. len_b-1
//	       Tp + s              the s-th generated token, position Tp + s - pad_b
//
// Prefill is the forward over the [R, Tp] prompt rows; it writes slots
// [0, Tp) of a cache of capacity C (one capacity for the whole call:
// bucketLen(largest prompt bucket + max new tokens), so that the decode step
// compiles once per row count). Decode is the forward over [R, 1] new
// tokens at slot start, which reads the cache and writes that slot. Key
// slot s is visible from query slot q when pad_b <= s <= q and, on a layer
// with a sliding window w, q - s < w (slots and positions differ by pad_b,
// so this is the training mask's window). Positions are transformers'
// attention_mask.cumsum(-1) - 1 (0 on padding).
//
// The cache is the graphs' state: tensors returned by one call and passed
// to the next (the pure-Go backend has no in-place dynamic update; a
// decode step rewrites each layer's cache with Where over its slots, which
// costs what reading it for attention costs).

// kvCache is the keys and values of every layer, [R, C, nKV, D] each.
type kvCache struct {
	capacity int
	start    *Node   // scalar int32: the slot of the first new token (nil: prefill, slot 0)
	inK, inV []*Node // the cache before this forward (nil for prefill)
	k, v     []*Node // the cache after it, by layer
}

// keysValues returns the keys and values layer l attends to for the new
// tokens' k, v [B, T, nKV, D]: themselves without a cache; with one, the
// layer's cache [B, C, nKV, D] with k and v written at the new slots.
func (in *inputs) keysValues(l int, k, v *Node) (*Node, *Node) {
	c := in.cache
	if c == nil {
		return k, v
	}
	write := func(x, old *Node) *Node {
		d := x.Shape().Dimensions
		B, T := d[0], d[1]
		if old == nil { // prefill: slots [0, T), zeros after
			if T == c.capacity {
				return x
			}
			return Concatenate([]*Node{x, Zeros(x.Graph(), shapeOf(x.DType(), B, c.capacity-T, d[2], d[3]))}, 1)
		}
		if T != 1 {
			panic(fmt.Errorf("engine: a decode step writes one token per row, got %d", T))
		}
		full := old.Shape().Dimensions
		slot := Iota(x.Graph(), shapeOf(dtypes.Int32, full...), 1)
		at := Equal(slot, BroadcastToDims(c.start, full...))
		return Where(at, BroadcastToDims(x, full...), old)
	}
	var oldK, oldV *Node
	if c.inK != nil {
		oldK, oldV = c.inK[l], c.inV[l]
	}
	k, v = write(k, oldK), write(v, oldV)
	c.k[l], c.v[l] = k, v
	return k, v
}

// cachedInputs is the layout of left-padded rows with a KV cache of
// capacity C: the new tokens [B, T] sit at slots start .. start+T-1 (start
// nil: 0), row b's first pad[b] slots are padding.
//
//	tokens [B, T] int32
//	pad    [B]    int32
//	start  scalar int32, or nil (prefill)
func cachedInputs(tokens, pad, start *Node, c *kvCache) *inputs {
	g := tokens.Graph()
	B, T := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
	C := c.capacity
	qslot := Iota(g, shapeOf(dtypes.Int32, B, T), 1) // [B, T]
	if start != nil {
		qslot = Add(qslot, BroadcastToDims(start, B, T))
	}
	padBT := BroadcastToDims(ExpandAxes(pad, 1), B, T)
	positions := Max(Sub(qslot, padBT), ZerosLike(qslot)) // [B, T]
	maskFn := func(window int) *Node {
		q := BroadcastToDims(Reshape(qslot, B, T, 1), B, T, C)  // [B, T, C]
		s := Iota(g, shapeOf(dtypes.Int32, B, T, C), 2)         // [B, T, C]
		p := BroadcastToDims(Reshape(pad, B, 1, 1), B, T, C)    // [B, T, C]
		allowed := And(GreaterOrEqual(s, p), LessOrEqual(s, q)) // [B, T, C]
		if window > 0 {
			allowed = And(allowed, LessThan(Sub(q, s), Const(g, int32(window))))
		}
		return Reshape(allowed, B, 1, 1, T, C)
	}
	return &inputs{tokens: tokens, positions: positions, maskFn: maskFn, cache: c}
}

// generateGraph runs prefill (start nil, cacheIn nil) or one decode step
// and returns the logits of each row's last new token [B, V] (soft-capped
// as the model outputs them) followed by the cache after the step, keys
// and values by layer: k0, v0, k1, v1, ...
func generateGraph(n net, cfg *model.Config, tokens, pad, start *Node, capacity int, cacheIn []*Node) []*Node {
	L := cfg.NumLayers
	c := &kvCache{capacity: capacity, start: start, k: make([]*Node, L), v: make([]*Node, L)}
	if cacheIn != nil {
		c.inK, c.inV = make([]*Node, L), make([]*Node, L)
		for l := range L {
			c.inK[l], c.inV[l] = cacheIn[2*l], cacheIn[2*l+1]
		}
	}
	hidden, head := forward(n, cfg, cachedInputs(tokens, pad, start, c)) // [B, T, H]
	B, T, H := hidden.Shape().Dimensions[0], hidden.Shape().Dimensions[1], hidden.Shape().Dimensions[2]
	last := Reshape(Slice(hidden, AxisRange(), AxisRange(T-1, T), AxisRange()), B, H) // [B, H]
	logits := head.logits(last)                                                       // [B, V]
	out := []*Node{logits}
	for l := range L {
		out = append(out, c.k[l], c.v[l])
	}
	return out
}

// NextFunc chooses a row's next token from its next-token logits [V]
// (float32, soft-capped as the model outputs them; the slice is only valid
// during the call). It returns the token and whether the row ends with it.
// row is the index of the row's prompt in the Generate call.
type NextFunc func(row int, logits []float32) (token int32, stop bool)

// GenerateStats counts what a Generate call ran.
type GenerateStats struct {
	Batches, PrefillTokens, DecodeSteps int
}

// GenerateCapacity returns the KV cache capacity Generate uses for prompts
// of at most maxPrompt tokens and maxNew new tokens.
func GenerateCapacity(maxPrompt, maxNew int) int {
	return bucketLen(bucketLen(maxPrompt) + maxNew)
}

// Generate decodes up to maxNew tokens after each prompt, in batches with a
// KV cache (see the comment at the top of generate.go). After each forward
// it calls next, in row order within a batch, for each row that has not
// ended; a row ends when next says so or after maxNew tokens. Rows run in
// batches of rows with the same prompt-length bucket; progress, if not nil,
// is called after each batch with the number of rows done.
func (m *Model) Generate(ctx context.Context, prompts [][]int32, maxNew int, next NextFunc, progress func(done, total int)) (GenerateStats, error) {
	var st GenerateStats
	if maxNew < 1 {
		return st, fmt.Errorf("engine: max new tokens must be at least 1, got %d", maxNew)
	}
	lens := make([]int, len(prompts))
	maxLen := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return st, fmt.Errorf("engine: row %d: empty prompt (the first token needs a prompt token to follow)", i)
		}
		for j, t := range p {
			if t < 0 || int(t) >= m.cfg.VocabSize {
				return st, fmt.Errorf("engine: row %d: token %d at position %d is outside the vocabulary [0, %d)", i, t, j, m.cfg.VocabSize)
			}
		}
		if err := m.cfg.CheckSeqLen(len(p) + maxNew); err != nil {
			return st, fmt.Errorf("engine: row %d: prompt of %d tokens + %d new tokens: %w", i, len(p), maxNew, err)
		}
		lens[i] = len(p)
		maxLen = max(maxLen, len(p))
	}
	if len(prompts) == 0 {
		return st, nil
	}
	capacity := GenerateCapacity(maxLen, maxNew)
	done := 0
	for _, b := range planGenerate(lens, capacity, m.eng.opts.BatchTokens, m.eng.Devices()) {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := m.generateBatch(ctx, prompts, b, capacity, maxNew, next, &st); err != nil {
			return st, err
		}
		done += len(b.rows)
		if progress != nil {
			progress(done, len(prompts))
		}
	}
	return st, nil
}

// genIn are the inputs of a prefill or decode graph by name (*Node inside
// a graph, *tensors.Tensor outside); fields is the one order in which they
// are fed and read.
type genIn[T any] struct {
	decode bool
	Tokens T // [R, Tp] prompts (prefill), [R, 1] new tokens (decode), int32
	Pad    T // [R] int32: row b's first pad[b] slots are padding
	// Capacity [C] int8 (prefill) carries the cache capacity in its shape.
	Capacity T
	// Start (decode) scalar int32: the slot of the new tokens.
	Start T
	// Cache (decode): the cache before the step, keys and values by layer
	// (k0, v0, k1, v1, ...; [R, C, nKV, D] each). Its length must be set
	// before fields is read (2 per layer).
	Cache []T
}

func (g *genIn[T]) fields() []*T {
	if !g.decode {
		return []*T{&g.Tokens, &g.Pad, &g.Capacity}
	}
	f := []*T{&g.Tokens, &g.Pad, &g.Start}
	for i := range g.Cache {
		f = append(f, &g.Cache[i])
	}
	return f
}

// generateBatch runs prefill and decode steps for one batch.
func (m *Model) generateBatch(ctx context.Context, prompts [][]int32, b batch, capacity, maxNew int, next NextFunc, st *GenerateStats) error {
	R, Tp := b.size, b.length
	tokens := make([]int32, R*Tp)
	pad := make([]int32, R)
	for r := range R {
		if r >= len(b.rows) { // padding row: one token
			pad[r] = int32(Tp - 1)
			continue
		}
		p := prompts[b.rows[r]]
		pad[r] = int32(Tp - len(p))
		copy(tokens[r*Tp+Tp-len(p):], p)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	err := catch(func() error {
		gs := m.engineGraphs()
		var cache []*tensors.Tensor
		release := func() {
			for _, t := range cache {
				_ = t.FinalizeAll()
			}
			cache = nil
		}
		defer release()
		pre := genIn[*tensors.Tensor]{
			Tokens:   tensors.FromFlatDataAndDimensions(tokens, R, Tp),
			Pad:      tensors.FromFlatDataAndDimensions(pad, R),
			Capacity: tensors.FromShape(shapeOf(dtypes.Int8, capacity))}
		res, err := m.call(gs.prefill, flatFields(pre.fields()))
		if err != nil {
			return err
		}
		st.Batches++
		st.PrefillTokens += R * Tp
		active := make([]bool, len(b.rows))
		for r := range active {
			active[r] = true
		}
		last := make([]int32, R)
		for step := 0; ; step++ {
			logits, err := tensors.CopyFlatData[float32](res[0])
			if err != nil {
				return err
			}
			_ = res[0].FinalizeAll()
			release()
			cache = res[1:]
			V := len(logits) / R
			alive := 0
			for r, row := range b.rows {
				if !active[r] {
					continue
				}
				tok, stop := next(row, logits[r*V:(r+1)*V])
				if tok < 0 || int(tok) >= m.cfg.VocabSize {
					return fmt.Errorf("engine: row %d: next token %d is outside the vocabulary [0, %d)", row, tok, m.cfg.VocabSize)
				}
				last[r] = tok
				if stop || step+1 >= maxNew {
					active[r] = false
					continue
				}
				alive++
			}
			if alive == 0 {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			dec := genIn[*tensors.Tensor]{decode: true,
				Tokens: tensors.FromFlatDataAndDimensions(append([]int32(nil), last...), R, 1),
				Pad:    tensors.FromFlatDataAndDimensions(pad, R),
				Start:  tensors.FromScalar(int32(Tp + step)),
				Cache:  cache}
			res, err = m.call(gs.decode, flatFields(dec.fields()))
			if err != nil {
				return err
			}
			st.DecodeSteps++
		}
	})
	if err != nil {
		return fmt.Errorf("engine: generating a batch of %d rows, prompt bucket %d, cache %d (first row %d): %w", R, Tp, capacity, b.rows[0], err)
	}
	return nil
}
