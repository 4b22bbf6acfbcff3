// Package train is the training stage of dpo (dpo-train): it optimises a
// causal LM, held by pkg/engine as GoMLX variables, on a stream of
// tokenized preference pairs with reference log-probs, using an objective
// of pkg/dpo, and writes Hugging Face checkpoints.
//
// # Steps
//
// An optimizer step consumes GradAccum micro-batches of at most BatchSize
// pairs (and, with BatchTokens, at most that many padded tokens of the
// chosen+rejected forward). Each micro-batch runs one compiled GoMLX graph
// (chosen and rejected sequences concatenated, as TRL's
// concatenated_forward, padded on the right to the engine's length
// buckets) that computes the policy's summed completion log-probs, the
// objective, and its gradient by GoMLX autodiff: the step's first
// micro-batch returns (n_micro/n_step)·∇loss, which becomes the gradient
// accumulators' value, and each later one adds its own into them (a
// second graph, the accumulators donated): the accumulated
// gradient is the gradient of the mean over all pairs of the step, not a
// mean of micro-batch means (for an sft-only objective the weights are
// chosen-token counts, so the token-level mean is exact too). Objectives
// that are not a mean over pairs (aot sorts within the batch, bco_pair's
// running mean, sft mixed with other terms) are evaluated per micro-batch,
// as TRL does.
//
// Then the step is applied: one graph computes the global gradient norm
// (reported as grad_norm, before clipping) and torch's clip_grad_norm_
// coefficient (max_norm/(norm+1e-6), at most 1); update graphs, one per
// group of at most 256 MiB of weights in the model's order, apply
// torch.optim.AdamW (decoupled weight decay, skipped for norms and biases;
// bias-corrected moments) to their weights and moments, and each group's
// accumulators are freed after it. Grouping keeps the update's transient
// memory at one group's new weights and moments instead of the whole
// model's (XLA allocates a graph's outputs next to its donated inputs);
// the results are bit-identical to one group. A non-finite gradient norm
// leaves every variable untouched and stops the run.
//
// # Devices
//
// With Config.Devices N > 1 every graph runs data-parallel over N devices
// of an XLA backend (engine.Options.Devices): a micro-batch holds
// BatchSize pairs per device, and the global batch is BatchSize × N ×
// GradAccum. With Config.ShardParams the weights, the accumulators and
// both moments are split over the devices (engine.Options.ShardParams);
// the accumulators then stay allocated between steps and the first
// micro-batch writes its gradient into them in the graph. Both give one
// device's numbers (docs/scale.md).
//
// # Precision and memory
//
// Weights, gradients, Adam moments and the update are float32. With
// Config.BF16 the forward and backward matrix products run in bf16 mixed
// precision (engine.GraphOptions.BF16): the float32 variables are the
// master weights, rounded to bf16 only as operands of each product. BF16
// is part of the configuration a resumed run must share. With
// Config.GradCheckpointing each decoder layer's activations are recomputed
// in the backward pass (engine.GraphOptions.Checkpoint); the results are
// bit-identical, so it may be switched between a run and its resumption.
//
// Before step 1 the run prints its estimated peak by component (weights,
// gradients, optimizer state, activations, logits; the larger of the
// gradient pass and the update's transient counts) and refuses a run, or a
// row, that exceeds Config.MaxMemory, naming the component and the flag
// that shrinks it. A checkpoint's training state is written one tensor at
// a time, copied from the device as the writer reaches it.
//
// # Data order and determinism
//
// Every epoch visits the pairs in a permutation drawn from a PCG generator
// seeded with (Seed, epoch), so the whole plan of micro-batches is a pure
// function of the data and the configuration. A checkpoint stores the
// float32 master weights, both Adam moments, the step (which fixes the
// epoch and the position in the permuted order) and the bco_pair running
// moments; resuming from it on the pure-Go backend gives bit-identical
// weights to an uninterrupted run. A checkpoint also resumes with another
// Config.Devices, BatchSize, GradAccum or BatchTokens when every step still
// takes the same pairs (the global batch BatchSize × Devices × GradAccum and
// the plan are the same: reshape.go); with the same micro-batches the run
// continues as the uninterrupted one up to the order of the devices'
// partial sums, and a log note says which. Another global batch is refused,
// naming both.
//
// # Interruptions and failures
//
// A cancelled context (SIGINT/SIGTERM in dpo-train) is honoured at the next
// micro-batch boundary: the checkpoint of the steps done is saved and Run
// returns an error wrapping ErrStopped. Config.Saving brackets each
// checkpoint write, so that dpo-train, which leaves a run whose micro-batch
// outlasts its 5 s grace, never leaves one while a checkpoint is written. A SIGKILL loses at most the steps after the
// last complete checkpoint. A non-finite log-prob, loss or gradient norm
// stops the run with an error naming the step, before any variable is
// updated and without writing a checkpoint.
//
// # Metrics
//
// metrics.jsonl has one JSON object per step with TRL 1.x's names (loss,
// rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins,
// logps/chosen, logps/rejected, logits/chosen, logits/rejected,
// mean_token_accuracy, entropy, num_tokens, grad_norm, learning_rate,
// epoch, step), tokens_per_second, and compiles and compile_seconds (the
// executables compiled so far and the seconds of their first calls,
// cumulative; the run's last stderr line sums them up). loss is the sum over micro-batches of
// their losses times their weights in the step (TRL logs the mean of the
// micro-batch losses: the same with equal micro-batches); the rewards and
// logps are over all pairs of the step; logits/* (mean over completion
// tokens of the logits' mean over the vocabulary), mean_token_accuracy
// (chosen completion tokens that are the model's top-1) and entropy are
// token means per micro-batch, then averaged over the micro-batches, as
// TRL's log does; num_tokens counts every prompt+completion token of the
// forwards so far. learning_rate is the rate used by that step, as
// transformers 5 logs it. Mixture-of-experts models add aux_loss, the
// router load-balancing loss of each micro-batch's forward averaged over
// the micro-batches, whose router_aux_loss_coef multiple is in loss (see
// moe.go). Evaluation adds the pair metrics with the eval_
// prefix. An sft-only objective runs no rejected forward and reports no
// rejected, margin or accuracy metrics. TestTrainAgainstTRL holds all of
// these (and the final weights) to TRL 1.16's DPOTrainer.
//
// # TRL 1.x options
//
// Config.LDAlpha (ld_alpha), Config.UseWeighting (use_weighting, WPO),
// Config.FDivergence/FAlphaCoef and Config.LossWeights are TRL's DPOConfig
// options. The per-token quantities they and the token metrics need come
// from engine.LayoutTokenStatsGraph. LD-DPO needs the reference summed
// with the same weights, which a plain sum cannot be turned into: the
// stream must declare it: an "ld_alpha" field in its dpo.reflogp.options.
// With ld_alpha or use_weighting, evaluation runs the same statistics
// forward (in micro-batches of BatchSize pairs) and reports the pair
// metrics; otherwise it scores summed log-probs with the engine.
//
// # Outputs
//
// Out/checkpoint-<step>/ holds an HF checkpoint (config.json,
// model.safetensors in the starting dtype, tokenizer files, dpo.json), the
// training state (train_state.safetensors; trainer_state.json in the layout
// of transformers' Trainer, with dpo-train's resume fields under
// "dpo_train"; earlier flat files are still read) and the
// effective configuration (train_config.json). It is written as
// checkpoint-<step>.tmp and renamed, so a directory without the suffix is
// always complete. The final model is written at the top of Out, with
// metrics.jsonl (TRL's metric names) and plot.png.
package train
