// Package engine runs causal language models (Llama family and GPT-2) on
// GoMLX and computes summed completion log-probabilities, the quantity DPO
// needs from both the policy and the frozen reference model.
//
// GoMLX is wrapped entirely inside this package for the inference path:
// callers use [New], [Engine.LoadModel] and [Model.SequenceLogProbs] and
// never see a GoMLX type. The training stage, which needs gradients, uses
// the exported graph builders ([CompletionLogProbsGraph]) together with the
// variables held in [Model.Store]; those are the only places GoMLX types
// appear in the API.
//
// # Backends
//
// The pure-Go backend is compiled in always. Without an explicit
// [Options.Backend] and without $GOMLX_BACKEND the engine uses
// "go:ops_sequential": the Go backend's parallel op scheduler can deadlock
// on machines with few cores. The XLA backend is only compiled in with the
// build tag "xla" (it needs CGO and the PJRT plugins).
//
// The Go backend's Exp and Logistic ops call math.Exp per element, whose
// amd64 FMA branch costs up to ~1 µs per call on some virtual machines; in
// float32 the engine's exp and sigmoid (SiLU) therefore go through the
// backend's pure-Go Expm1 in float64 instead, and attention's softmax and
// each vocabulary chunk of the log-softmax take the backend's fused softmax
// (one pass, a float32 polynomial exp) with their analytic gradients
// attached (fastexp.go, logprobs.go; docs/benchmarks.md, "Backend hot
// spots").
//
// The backend's matmul takes [M, K]·[K, N] and [M, K]·[N, K] as they are
// and transposes (element by element, on one core) for any other layout;
// GoMLX's generic DotGeneral gradient needs such transposes for every
// weight gradient and ends each gradient with a copy. The products of the
// linear layers, the LM head and attention (heads-major, batched over
// heads) therefore carry their own gradient (matmul.go), laid out for the
// backend, with at most one transpose of the smaller operand.
//
// # Parameters
//
// Every weight lives as a GoMLX variable whose path is "/" followed by the
// Hugging Face tensor name (for example
// "/model.layers.0.self_attn.q_proj.weight"), in float32 whatever the
// checkpoint's dtype. [Model.ExportTensors] writes them back with the HF
// names, shapes and the checkpoint's dtype.
//
// # Log-probabilities
//
// For a sequence x_0..x_{n-1} with prompt length p (1 <= p <= n) the
// engine returns
//
//	sum_{t=p}^{n-1} log_softmax(logits(x_0..x_{t-1}))[x_t]
//
// computed in float32 on the device and summed in float64 on the host.
// The vocabulary projection is never materialised as a full
// [tokens x vocab] matrix: the log-sum-exp is accumulated over vocabulary
// chunks of [Options.VocabChunk] columns (an online max/sum-of-exp merge),
// and the target logit is a gathered dot product, so the peak extra memory
// of the head is batch*seq*VocabChunk floats.
//
// The float32 values equal transformers' (eager attention) within 1.4e-7
// relative on every supported architecture and config variant
// (TestTransformersOracle, docs/oracles.md). Masked attention scores are the
// lowest finite float32, as transformers adds torch.finfo.min, so a padding
// query that a sliding window leaves without any visible key gets a
// uniform row instead of NaN.
//
// # Mixed precision and gradient checkpointing
//
// With [Options.BF16] (or [GraphOptions.BF16] for the training graph)
// every matrix product takes bfloat16 operands, accumulates in float32 and
// rounds its result to bfloat16, as torch.autocast's bf16 GEMMs do; the
// weights stay float32 variables (the training stage's master weights) and
// embeddings, the residual stream, norms, RoPE, activations, softmax and
// the log-softmax stay float32. Grouped-query key/value heads are repeated
// per query head before their products, as transformers' repeat_kv does,
// and the target logit is picked from the rounded logits, so gradients are
// rounded where PyTorch rounds them (tools/torchref with BF16_MATMUL is the
// reference; a training step's gradients agree to 6e-6 relative or better
// in four of five test models, 3e-3 in the fifth, where two float32 values
// a last bit apart round to different bf16 numbers).
// transformers under CPU torch.autocast(bfloat16) rounds more than this
// (the scaled attention scores, SiLU/GELU and the gate·up product run in
// bf16 there), so against it the engine's bf16 log-probs agree only to the
// order of the bf16-vs-float32 gap (2.2e-3 relative at worst, measured;
// docs/oracles.md).
// On the pure-Go backend bf16 is slower than float32 and saves no memory;
// it is meant for GPUs through XLA, where its speed is not measured yet.
//
// [GraphOptions.Checkpoint] wraps every decoder layer in GoMLX's
// Node.Checkpoint: the backward pass recomputes a layer's activations from
// its input instead of keeping them, trading about a third more compute
// for memory. Values and gradients are bit-identical with and without it.
//
// # Batching and compilation
//
// Every distinct input shape compiles a new graph. Sequence lengths are
// rounded up to buckets (16, 24, 32, 48, 64, 96, ... : powers of two and
// 1.5 times powers of two, so at most a third is padding) and the number of
// rows per batch is a power of two chosen from [Options.BatchTokens], so a
// whole dataset compiles only a handful of graphs. Sequences are sorted by
// length, padded on the right, and results are returned in input order;
// padding and batch composition do not change any sequence's result.
package engine
