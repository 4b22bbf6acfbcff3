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
// loss_weights. With the chosen and rejected log-ratios c = π_w - ref_w and
// r = π_l - ref_l (summed completion log-probs), the f-DPO scores
// s_c = f'(c), s_r = f'(r) (the log-ratios themselves under the default
// reverse_kl, see below), z = s_c - s_r, σ the logistic function and ε the
// label smoothing, the terms are those of TRL 1.x (1.16 checked):
//
//	sigmoid       -log σ(βz)  (-(1-ε)·log σ(βz) - ε·log σ(-βz) with ε > 0: cDPO, see below)
//	hinge         max(0, 1 - βz)                                   SLiC
//	ipo           (s_c/|y_w| - s_r/|y_l| - 1/(2β))²                IPO, per-token scores
//	robust        (-(1-ε)·log σ(βz) + ε·log σ(-βz)) / (1-2ε)       rDPO
//	exo_pair      σ(βz)(log σ(βz) - log(1-ε)) + σ(-βz)(log σ(-βz) - log ε), ε=0 → 1e-3
//	nca_pair      -log σ(βc) - ½·log σ(-βc) - ½·log σ(-βr)
//	bco_pair      -log σ(βc - δ) - log σ(-(βr - δ)), δ a running reward mean (see below)
//	sppo_hard     (c - 1/(2β))² + (r + 1/(2β))²
//	aot           -(1-ε)·log σ(βd) - ε·log σ(-βd), d = sort(π_w-π_l) - sort(ref_w-ref_l)
//	aot_unpaired  the same with d = sort(c) - sort(r); "aot_pair" is accepted as an alias
//	apo_zero      1 - σ(βc) + σ(βr)
//	apo_down      σ(βc) + 1 - σ(β(c - r))
//	discopop      -log σ(βz)·(1-m) + exp(-βz)·m,  m = σ(βz/τ)
//	sigmoid_norm  -log σ(β(s_c/|y_w| - s_r/|y_l|))  (cDPO with ε > 0)
//	sft           -Σ π_w / Σ |y_w|: mean NLL per chosen token over the batch
//	simpo         cDPO on β·(π_w/|y_w| - π_l/|y_l|) - γ   SimPO (reference-free; TRL's CPOTrainer)
//
// RPO (TRL's rpo_alpha=α) is "sigmoid=1,sft=α".
//
// TRL 1.x options:
//   - f_divergence_type ([Config.FDivergence]): the score of a log-ratio u
//     is u (reverse_kl), 1 - e^(-u) (forward_kl), log 2 + log σ(u)
//     (js_divergence) or (e^((α-1)u) - 1)/(α-1) (alpha_divergence with
//     [Config.FAlphaCoef] α; the exponent clamped at 80 as TRL does in
//     float32; α = 1 is reverse_kl). Only the terms built on z (sigmoid,
//     sigmoid_norm, hinge, ipo, exo_pair, robust, discopop) and sft accept
//     a divergence other than reverse_kl; the others are refused, as TRL
//     refuses them. Rewards stay β times the log-ratios.
//   - use_weighting (WPO): [Inputs.Weights] multiply every term's per-pair
//     loss before its batch mean, sft included.
//   - ld_alpha (LD-DPO) changes the log-probs themselves (the trainer sums
//     the tokens past the shorter completion of a pair with weight α, in
//     the policy and in the reference); the sft term then reads
//     [Inputs.RawPolicyChosen], the plain sums.
//
// Semantics as TRL 1.x's, which several older descriptions get wrong:
//   - ipo divides each score by its completion length inside the ipo term
//     only (TRL: "we confirmed this choice with the IPO authors"); the other
//     terms of the same objective and the metrics use the sums. (TRL 0.x
//     divided every log-prob, for all terms and the metrics, when ipo was
//     in the list.)
//   - robust is the rDPO formula above, not a re-weighted sigmoid.
//   - sigmoid_norm (TRL ≥ 1.5) is DPO on per-token scores.
//   - sft is TRL's token-level cross-entropy: total chosen log-prob over
//     total chosen tokens of the batch, not a mean of per-pair averages.
//   - aot sorts over the batch; ties are broken by position (a stable sort).
//   - Reference-free DPO: [Config.ReferenceFree] sets every reference log-prob
//     to 0. Objectives of only simpo and sft need no reference either
//     ([Objective.NeedsReference]).
//
// Deliberate differences from TRL 1.x (pkg/train's TestTrainAgainstTRL shows
// both):
//   - Label smoothing on sigmoid and sigmoid_norm: TRL 1.x ignores
//     label_smoothing there; here ε > 0 gives conservative DPO (cDPO, as TRL
//     0.x did), because a user who sets it for these losses asks for cDPO.
//     With ε = 0 (the default) both agree.
//   - bco_pair keeps the BCO paper's reward shift δ, which TRL 1.x dropped:
//     δ is the mean of TRL 0.x's RunningMoments after updating it with the
//     batch mean of [βc, βr] (gradient stopped). The trainer carries a
//     [RunningMoments] across steps, passes its Mean and Count as
//     [Inputs.BCOMean]/[Inputs.BCOCount], and after each step calls Update
//     with the value of [Outputs.BCOBatchMean].
//
// # Metrics
//
// Per batch, with TRL's names ([MetricNames]): loss, rewards/chosen (mean
// β·(π_w - ref_w)), rewards/rejected, rewards/accuracies (fraction with
// chosen reward strictly greater), rewards/margins, logps/chosen and
// logps/rejected (mean policy log-probs). They use the summed log-probs
// (ld_alpha-weighted when set), as TRL 1.x's DPOTrainer, except when the
// only preference term is simpo, where they use per-token averages (as
// TRL's CPOTrainer reports them). Unlike TRL 0.x, rewards are not
// multiplied by the sum of the term weights. The token-level metrics
// (logits/*, mean_token_accuracy, entropy, num_tokens) need the model's
// forward and are pkg/train's.
//
// # Evaluation
//
// [ImplicitReward] is a completion's reward as DPO defines it (β times the
// policy's log-ratio to the reference, or SimPO's length-normalised
// log-probability). [Evaluation] accumulates scored held-out pairs into
// dpo-score's [EvalSummary]: reward accuracy with ties counted half and a
// bootstrap 95% interval, TRL's strict accuracy, mean rewards and margin,
// how often policy and reference prefer the chosen completion, and the
// lowest-margin pairs.
//
// [Rank] orders the sampled completions of each prompt by implicit reward
// (ties by sample index) for dpo-score --rank, and [SummarizeRanking]
// compares that ranking with a judge's scores: how often the top-ranked
// completion is the judge's best, against a random pick ([RankSummary]).
//
// # Numerics
//
// log σ and σ are evaluated in forms that never overflow (log σ(x) =
// min(x,0) - log1p(exp(-|x|))), with the gradient of log σ at 0 exactly ½.
// discopop's exp(-βz)·m is computed as exp(log σ(βz/τ) - βz), so very
// negative margins give 0 instead of inf·0 in float32.
package dpo
