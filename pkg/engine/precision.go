package engine

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
)

// GraphOptions configures how a forward graph is built.
type GraphOptions struct {
	// VocabChunk bounds the logits held at once (see the package doc);
	// <= 0 means DefaultVocabChunk.
	VocabChunk int
	// BF16 selects mixed precision: every matrix product (the q/k/v/o and
	// MLP projections, GPT-2's Conv1D, the attention scores q·kᵀ and
	// probs·v, and the LM head's logits) rounds its operands to bfloat16,
	// accumulates in float32 and rounds the product to bfloat16, as
	// torch.autocast's bf16 GEMMs do. Weights stay float32 variables (the
	// master weights the optimizer updates); embeddings, the residual
	// stream, norms, RoPE, activations, softmax and log-softmax stay
	// float32. Gradients flow back through the same casts: the backward
	// products' results are rounded to bf16 as well (GoMLX builds them as
	// float32 products of the bf16 values, which gives the same numbers).
	BF16 bool
	// Checkpoint recomputes each decoder layer's activations during the
	// backward pass instead of keeping them from the forward pass: only
	// the layers' inputs (the residual stream) are kept. It changes memory
	// and time, not the values computed.
	Checkpoint bool
	// LoRA maps the HF name of each linear module with a LoRA adapter
	// (e.g. "model.layers.0.self_attn.q_proj") to its scale; its A and B
	// are the store's variables named as PEFT names them (see
	// [Model.AttachAdapter], [Model.LoRAScales]). nil: no adapter.
	LoRA map[string]float64
	// LoRADropout, in training graphs only, drops the LoRA branches'
	// inputs (see [LoRADropout]); nil: none (evaluation, scoring).
	LoRADropout *LoRADropout
}

func (o GraphOptions) withDefaults() GraphOptions {
	if o.VocabChunk <= 0 {
		o.VocabChunk = DefaultVocabChunk
	}
	return o
}

// net is a forward pass under construction: the weights and the options
// that change how its layers are built.
type net struct {
	w    weights
	opts GraphOptions
	// moe accumulates the MoE router statistics of the forward for the
	// load-balancing loss (moe.go); nil: not collected.
	moe *moeRouting
}

// dot is Dot(x, y).Einsum(eq) in the net's precision; the result is float32.
func (n net) dot(x, y *Node, eq string) *Node {
	if !n.opts.BF16 {
		return n.dot32(x, y, eq)
	}
	if isGoBackend(x.Graph()) {
		// The Go backend's bfloat16 products are wrong on AVX2-only CPUs
		// when built with GOEXPERIMENT=simd (GoMLX compute v0.1.2's AVX2
		// bf16 matmul kernels; measured on an AMD EPYC: median 3.7 nats off
		// the torch bf16 references, TestBF16LogProbsAgainstTorch). The
		// product of two bf16 values is exact in float32, so a float32
		// product of the rounded operands, rounded to bf16, gives the same
		// numbers (up to the order of float32 sums) on every CPU.
		return roundBF16(n.dot32(roundBF16(x), roundBF16(y), eq))
	}
	out := Dot(toBF16(x), toBF16(y)).
		WithAccumulatorDType(dtypes.Float32).WithOutputDType(dtypes.BFloat16).Einsum(eq)
	return toF32(out)
}

// dot32 is the float32 product of x and y.
func (n net) dot32(x, y *Node, eq string) *Node {
	if axis, ok := matmulEquations[eq]; ok {
		return matmulNode(x, y, axis)
	}
	return Dot(x, y).Einsum(eq)
}

// roundBF16 rounds float32 values to bfloat16 and back.
func roundBF16(x *Node) *Node { return toF32(toBF16(x)) }

// isGoBackend reports whether g runs on GoMLX's pure-Go backend.
func isGoBackend(g *Graph) bool { return g.Backend().String() == gobackend.BackendName }

// blockStart marks the input of a decoder layer: with Checkpoint, the
// layer's activations are recomputed in the backward pass from here.
func (n net) blockStart(x *Node) *Node {
	if !n.opts.Checkpoint {
		return x
	}
	return x.Checkpoint()
}

// blocksEnd ends the checkpointed layers: what follows is kept as usual.
func (n net) blocksEnd(x *Node) *Node {
	if !n.opts.Checkpoint {
		return x
	}
	return x.StopCheckpoint()
}

func toBF16(x *Node) *Node {
	if x.DType() == dtypes.BFloat16 {
		return x
	}
	return ConvertDType(x, dtypes.BFloat16)
}

func toF32(x *Node) *Node {
	if x.DType() == dtypes.Float32 {
		return x
	}
	return ConvertDType(x, dtypes.Float32)
}
