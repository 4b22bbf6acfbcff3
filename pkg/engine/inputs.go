package engine

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
)

// inputs is what one forward pass sees: the token ids, each token's
// position (what RoPE rotates by and GPT-2's learned position table is
// indexed with) and which keys each query may attend to: a layout
// (layoutInputs; plain right-padded rows are the layout of
// PlainLayoutInputs) or generation's cached rows (cachedInputs). The
// families' forward code only reads these fields.
type inputs struct {
	tokens    *Node // [B, T] int32
	positions *Node // [B, T] int32

	// maskFn returns [B, 1, 1, T, Tk] booleans, true where query q may
	// attend key k, for a sliding window of w tokens (0: no window).
	maskFn func(window int) *Node
	masks  map[int]*Node // built masks, by window

	// cache, when set, holds earlier tokens' keys and values (decoding,
	// see generate.go): attention reads keys and values through
	// keysValues, and masks are [B, 1, 1, T, C] over the cache's slots.
	cache *kvCache
}

// mask returns the attention mask for window w, built once per window.
func (in *inputs) mask(window int) *Node {
	if m, ok := in.masks[window]; ok {
		return m
	}
	if in.masks == nil {
		in.masks = map[int]*Node{}
	}
	m := in.maskFn(window)
	in.masks[window] = m
	return m
}

// dims returns B and T.
func (in *inputs) dims() (B, T int) {
	d := in.tokens.Shape().Dimensions
	return d[0], d[1]
}
