// Package dpo owns the Direct Preference Optimization objective family: the
// loss over per-pair scalars (summed completion log-probs of the policy and
// the frozen reference, and completion lengths), independent of the model.
//
// [Objective.Loss] builds the loss as a GoMLX graph, so the trainer gets
// gradients from GoMLX autodiff; [Objective.LossFloat64] is the same
// definition in plain Go float64 (used by dpo-score and for cross-checks).
// Both are tested against an independent PyTorch implementation
// (tools/torchref/losses.py → testdata/losses_golden.json).
//
// # Objectives
//
// An objective is a weighted sum of terms parsed from a specification such
// as "sigmoid" or "sigmoid=1,sft=0.2" (see [Parse]); each term is averaged
// over the batch, as TRL's DPOTrainer does with its loss_type list and
// loss_weights. With z = (π_w - ref_w) - (π_l - ref_l), the chosen and
// rejected log-ratios c = π_w - ref_w and r = π_l - ref_l, σ the logistic
// function and ε the label smoothing, the terms are TRL's:
//
//	sigmoid       -(1-ε)·log σ(βz) - ε·log σ(-βz)                 DPO / cDPO
//	hinge         max(0, 1 - βz)                                   SLiC
//	ipo           (z - 1/(2β))²                                    IPO (see below)
//	robust        (-(1-ε)·log σ(βz) + ε·log σ(-βz)) / (1-2ε)       rDPO
//	exo_pair      σ(βz)(log σ(βz) - log(1-ε)) + σ(-βz)(log σ(-βz) - log ε), ε=0 → 1e-3
//	nca_pair      -log σ(βc) - ½·log σ(-βc) - ½·log σ(-βr)
//	bco_pair      -log σ(βc - δ) - log σ(-(βr - δ)), δ a running reward mean
//	sppo_hard     (c - 1/(2β))² + (r + 1/(2β))²
//	aot           cDPO on β·(sort(π_w-π_l) - sort(ref_w-ref_l))   (sorted over the batch)
//	aot_unpaired  cDPO on β·(sort(c) - sort(r)); "aot_pair" is accepted as an alias
//	apo_zero      1 - σ(βc) + σ(βr)
//	apo_down      σ(βc) + 1 - σ(βz)
//	discopop      -log σ(βz)·(1-m) + exp(-βz)·m,  m = σ(βz/τ)
//	sigmoid_norm  cDPO on β·((π_w-ref_w)/|y_w| - (π_l-ref_l)/|y_l|)
//	sft           -Σ π_w / Σ |y_w|: mean NLL per chosen token over the batch
//	simpo         cDPO on β·(π_w/|y_w| - π_l/|y_l|) - γ             SimPO (reference-free)
//
// RPO (TRL's rpo_alpha=α) is "sigmoid=1,sft=α". TRL has no "sigmoid_norm";
// here it is DPO on per-token average log-ratios, with label smoothing.
//
// Semantics copied from TRL on purpose:
//   - IPO length normalisation: when any term is ipo, every log-prob
//     (policy and reference) is divided by its completion length before
//     all terms (TRL's concatenated_forward does this for the whole
//     loss_type list), except sft, sigmoid_norm and simpo, which are
//     defined on the raw sums.
//   - sft is TRL's token-level cross-entropy: total chosen log-prob over
//     total chosen tokens of the batch, not a mean of per-pair averages.
//   - bco_pair: δ is the mean of TRL's RunningMoments after updating it with
//     the batch mean of [βc, βr] (gradient stopped). The trainer carries a
//     [RunningMoments] across steps, passes its Mean and Count as
//     [Inputs.BCOMean]/[Inputs.BCOCount], and after each step calls
//     Update with the value of [Outputs.BCOBatchMean].
//   - aot sorts over the batch; ties are broken by position (a stable sort).
//   - Reference-free DPO: [Config.ReferenceFree] sets every reference log-prob
//     to 0. Objectives of only simpo and sft need no reference either
//     ([Objective.NeedsReference]).
//
// TRL's newest DPOTrainer rewrite dropped label smoothing from sigmoid, the
// running mean from bco_pair and the IPO length normalisation, and its
// robust loss reduces to sigmoid; this package follows the earlier (0.2x)
// definitions, which are those of the papers.
//
// # Metrics
//
// Per batch, with TRL's names ([MetricNames]): loss, rewards/chosen (mean
// β·(π_w - ref_w)), rewards/rejected, rewards/accuracies (fraction with
// chosen reward strictly greater), rewards/margins, logps/chosen and
// logps/rejected (mean policy log-probs). They use per-token averaged
// log-probs when an ipo term is present or the only preference term is
// simpo (as TRL's DPOTrainer and CPOTrainer report them), the summed ones
// otherwise. Unlike TRL, rewards are not multiplied by the sum of the term
// weights.
//
// # Numerics
//
// log σ and σ are evaluated in forms that never overflow (log σ(x) =
// min(x,0) - log1p(exp(-|x|))), with the gradient of log σ at 0 exactly ½.
// discopop's exp(-βz)·m is computed as exp(log σ(βz/τ) - βz), so very
// negative margins give 0 instead of inf·0 in float32.
package dpo
