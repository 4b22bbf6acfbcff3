// Package engine runs causal language models on GoMLX: it scores
// sequences (summed and per-token completion log-probabilities, the
// quantity DPO needs from both the policy and the frozen reference model),
// generates with a KV cache, and builds the graphs the training stage
// differentiates.
//
// GoMLX is wrapped entirely inside this package for scoring and
// generation: callers use [New], [Engine.LoadModel],
// [Model.SequenceLogProbs], [Model.TokenLogProbs] and [Model.Generate] and
// never see a GoMLX type. The training stage, which needs gradients, uses
// the exported graph builders ([LayoutTokenStatsGraph],
// [LayoutLogProbsGraph]) over the variables held in [Model.Store], and runs
// its graphs through [Model.Run]; those are the only places GoMLX types
// appear in the API.
//
// # One forward, many options
//
// The forward is one function (forward, logprobs.go) over one input type
// (inputs.go): token ids, a position per token and an attention mask
// builder, plus an optional KV cache. Everything else is an option of it,
// entering through a seam (docs: shared/ENGINE.md):
//
//	concern                 seam
//	where a weight is from  net.w(name) over the store; LoRA in net.linear (lora.go)
//	what a row contains     a layout: tokens, positions, segment and branch ids (layout.go)
//	attention               mask = causal ∧ same segment ∧ (prompt ∨ same branch) ∧ window
//	the head                lmHead (head.go): soft-cap and chunked log-softmax, on scored positions only
//	a family                a block function and a tensor-name map (decoder.go, llama.go, gpt2.go)
//	generation              the same block with a KV cache in its inputs (generate.go)
//
// Families: the Llama family (Llama, Mistral, Qwen2, Qwen3) and the
// generic decoder block (Gemma 2 and 3, OLMo 2, Phi-3, Qwen3-MoE) share
// decoderHidden, whose norms, soft-capping, qk-norm, sliding windows and
// MoE routing are options of the block; GPT-2 has its own block
// (gpt2Hidden). Qwen3-MoE's routed experts (moe.go) also collect the
// router's load-balancing statistics for the training stage's aux loss.
//
// LoRA ([Model.AttachAdapter], [GraphOptions.LoRA]): an adapted linear
// module adds s·(x·Aᵀ)·Bᵀ to its frozen base product; the adapter's A and B
// are variables next to the weights, and a merged export is W + s·B·A.
//
// # Layouts
//
// A forward batch is a [Layout]: rows of segments, each a prompt and the
// completions that continue it ([Group]), with per-token positions, so
// that a pair's chosen and rejected completions can share one computation
// of their prompt ([LayoutOptions.SharedPrompt]) and several segments can
// share a row ([LayoutOptions.Pack]). The head runs only on the positions
// whose next token is a completion token. Plain right-padded rows (the
// path before layouts, [Switches.Plain]) are the layout of one sequence
// per row with every position scored ([PlainLayoutInputs]); their values
// are those of that path, bit for bit.
//
// # Planning, running, compiling
//
// One planner (batch.go) cuts a call's sequences into forward batches
// (bucketed lengths and row counts, so that a run meets few shapes; see
// below), one typed input struct per graph flattens into and rebuilds from
// the graph's inputs ([LayoutOf.Fields]), and one runner (runner.go) keeps
// one executable per (graph, input shapes) and counts compilations and
// their time ([Model.CompileStats]).
//
// Generation ([Model.Generate]) left-pads a batch's prompts to one bucket,
// runs the forward over them once (prefill, filling the cache) and then
// one token per row per step (decode, reading and writing the cache), with
// the same block code: greedy output equals the argmax of the training
// forward.
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
// spots"). On XLA, whose Exp and Logistic are native kernels, the graphs
// use them directly: the float64 detour would double every activation
// the backward keeps.
//
// Variables hold their values on the device only: a weight loaded from a
// checkpoint, or a training state tensor, is moved to the device and its
// host copy freed at once ([Model.CreateVariable], [Model.SetVariable]).
// A -tags xla build on Linux sets glibc's malloc to return freed blocks
// above 1 MiB to the system, so the GiBs of temporaries each XLA
// execution allocates do not stay resident (malloc_xla_linux.go).
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
// length (or packed, with layouts), and results are returned in input
// order; on the plain path padding and batch composition do not change any
// sequence's result.
package engine
