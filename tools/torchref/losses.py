#!/usr/bin/python3
"""Independent PyTorch reference for the DPO objective family (pkg/dpo).

Run with Debian's python3-torch:

    /usr/bin/python3 tools/torchref/losses.py > pkg/dpo/testdata/losses_golden.json

Every loss is written here directly from its paper / TRL 1.x's DPOTrainer
(_compute_loss) and CPOTrainer (simpo) definitions, in float64 (with
dpo-train's deliberate differences: cDPO label smoothing on sigmoid and
sigmoid_norm, bco_pair's running mean; see pkg/dpo/doc.go), and differentiated with torch.autograd. The
Go tests compare pkg/dpo's GoMLX graph (values and autodiff gradients) and its
plain float64 implementation against the numbers written here.

Inputs are per-pair summed completion log-probs of the policy and the reference
and completion lengths. All input values are multiples of 1/256, so they are
exactly representable in float32 as well.

Conventions (TRL's, see pkg/dpo/doc.go):
  * z = (pi_c - ref_c) - (pi_l - ref_l); chosen/rejected log-ratios
    cl = pi_c - ref_c, rl = pi_l - ref_l.
  * ipo divides each log-ratio by its completion length inside the term
    (TRL 1.x); every other term and the metrics use the summed log-probs.
  * sft = cross-entropy over all chosen completion tokens of the batch
    = -sum(pi_c) / sum(len_c), always on raw sums.
  * the objective is sum_k weight_k * mean_batch(term_k).
  * reference_free: reference log-probs are 0. Objectives made only of simpo
    and sft use no reference either.
  * rewards = beta * (pi - ref) on the same log-probs the metrics use:
    averaged only when the only preference term is simpo (TRL CPOTrainer).
"""

import json
import math
import random
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

NEEDS_REF = {"sigmoid", "hinge", "ipo", "robust", "exo_pair", "nca_pair", "bco_pair",
             "sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop",
             "sigmoid_norm"}


def q(x):
    """Round to a multiple of 1/256 (exact in float32 for |x| < 2^15)."""
    return round(x * 256) / 256


def make_batches():
    rnd = random.Random(20240611)
    batches = {}

    # "main": realistic values, one pair where policy == reference and
    # chosen == rejected (z = 0 exactly), no accidental ties elsewhere.
    n = 8
    pc, pr, rc, rr, lc, lr = [], [], [], [], [], []
    for i in range(n):
        lc_i, lr_i = rnd.randint(1, 64), rnd.randint(1, 64)
        rc_i = q(-lc_i * rnd.uniform(0.3, 2.5))
        rr_i = q(-lr_i * rnd.uniform(0.3, 2.5))
        pc_i = q(rc_i + rnd.gauss(0, 3))
        pr_i = q(rr_i + rnd.gauss(0, 3))
        if i == 4:
            lc_i = lr_i = 9
            pc_i = pr_i = rc_i = rr_i = -20.0
        pc.append(pc_i); pr.append(pr_i); rc.append(rc_i); rr.append(rr_i)
        lc.append(lc_i); lr.append(lr_i)
    batches["main"] = dict(policy_chosen=pc, policy_rejected=pr, ref_chosen=rc,
                           ref_rejected=rr, chosen_lengths=lc, rejected_lengths=lr)

    # "large": margins of hundreds of nats in both directions (beta*z up to
    # about +-60 at beta=0.1), testing the numerically stable forms.
    pc = [-10.5, -700.25, -50.0, -420.75, -3.125, -260.0]
    rc = [-400.25, -90.5, -55.5, -20.0, -300.0, -262.5]
    pr = [-610.0, -15.75, -48.25, -30.5, -150.0, -250.125]
    rr = [-20.5, -600.0, -47.0, -400.0, -12.0, -251.0]
    lc = [3, 200, 12, 150, 1, 80]
    lr = [180, 5, 11, 9, 40, 77]
    batches["large"] = dict(policy_chosen=pc, policy_rejected=pr, ref_chosen=rc,
                            ref_rejected=rr, chosen_lengths=lc, rejected_lengths=lr)

    # "equal": policy == reference everywhere (DPO loss is exactly ln 2).
    pc = [-12.0, -3.5, -88.25, -41.0]
    pr = [-19.75, -3.5, -60.0, -44.5]
    batches["equal"] = dict(policy_chosen=pc, policy_rejected=pr, ref_chosen=list(pc),
                            ref_rejected=list(pr), chosen_lengths=[4, 2, 30, 17],
                            rejected_lengths=[7, 2, 25, 16])
    # "ties": equal log-ratios across pairs, so the aot sorts meet ties
    # (broken by position: torch.sort(stable=True) and pkg/dpo agree).
    batches["ties"] = dict(
        policy_chosen=[-10.0, -12.0, -10.0, -30.0, -12.0, -5.0],
        policy_rejected=[-12.0, -14.0, -12.0, -31.0, -14.0, -5.0],
        ref_chosen=[-11.0, -13.0, -11.0, -30.0, -13.0, -5.0],
        ref_rejected=[-11.0, -13.0, -11.0, -31.0, -14.0, -6.0],
        chosen_lengths=[2, 3, 2, 10, 3, 1], rejected_lengths=[3, 4, 3, 11, 4, 2])
    return batches


def parse_spec(spec):
    terms = []
    for part in spec.split(","):
        name, _, w = part.partition("=")
        name = name.strip()
        if name == "aot_pair":
            name = "aot_unpaired"
        terms.append((name, float(w) if w else 1.0))
    return terms


def cdpo(x, eps):
    """Conservative DPO (Mitchell 2023): -(1-eps) log s(x) - eps log s(-x)."""
    return -(1 - eps) * F.logsigmoid(x) - eps * F.logsigmoid(-x)


def running_update(state, x):
    """TRL RunningMoments.update with a 0-dim tensor (count 1, variance 0)."""
    mean, var, count = state["mean"], state["var"], state["count"]
    delta = x - mean
    tot = count + 1
    old_sum = var * count + delta ** 2 * count * 1 / tot
    new_mean = mean + delta * 1 / tot
    new_var = (old_sum + 0.0) / tot
    return {"mean": new_mean, "var": new_var, "count": tot}


def objective(case, t):
    """Returns (loss, chosen_rewards, rejected_rewards, metrics, bco_after)."""
    terms = parse_spec(case["spec"])
    names = [n for n, _ in terms]
    beta = case["beta"]
    eps = case["label_smoothing"]
    pi_c, pi_l = t["policy_chosen"], t["policy_rejected"]
    len_c, len_l = t["chosen_lengths"], t["rejected_lengths"]
    use_ref = (not case["reference_free"]) and any(n in NEEDS_REF for n in names)
    if use_ref:
        ref_c, ref_l = t["ref_chosen"], t["ref_rejected"]
    else:
        ref_c, ref_l = torch.zeros_like(pi_c), torch.zeros_like(pi_l)

    # TRL 1.x: the log-probs are sums; only the ipo term divides the
    # log-ratios by the completion lengths (see the ipo branch).
    a_pc, a_pl, a_rc, a_rl = pi_c, pi_l, ref_c, ref_l
    chosen_lr = a_pc - a_rc
    rejected_lr = a_pl - a_rl
    logits = (a_pc - a_pl) - (a_rc - a_rl)

    bco_after = None
    loss = torch.zeros(())
    for name, w in terms:
        if name == "sigmoid":  # DPO, Rafailov et al. eq. 7; cDPO label smoothing
            per = cdpo(beta * logits, eps)
        elif name == "hinge":  # SLiC (Zhao et al. 2023)
            per = torch.relu(1 - beta * logits)
        elif name == "ipo":  # IPO, Azar et al. eq. 17, tau = beta; per-token log-ratios (TRL 1.x)
            zi = chosen_lr / len_c - rejected_lr / len_l
            per = (zi - 1 / (2 * beta)) ** 2
        elif name == "robust":  # rDPO, Chowdhury et al. 2024
            per = (-(1 - eps) * F.logsigmoid(beta * logits)
                   + eps * F.logsigmoid(-beta * logits)) / (1 - 2 * eps)
        elif name == "exo_pair":  # EXO, Ji et al. 2024 eq. 16: KL(p_theta || p_rh), K = 2
            e = eps if eps != 0 else 1e-3
            p_w = torch.sigmoid(beta * logits)
            p_l = torch.sigmoid(-beta * logits)
            # log p_w written as logsigmoid, which does not underflow
            per = p_w * (F.logsigmoid(beta * logits) - math.log(1 - e)) + \
                p_l * (F.logsigmoid(-beta * logits) - math.log(e))
        elif name == "nca_pair":  # NCA, Chen et al. 2024
            r_c, r_l = beta * chosen_lr, beta * rejected_lr
            per = -F.logsigmoid(r_c) - 0.5 * F.logsigmoid(-r_c) - 0.5 * F.logsigmoid(-r_l)
        elif name == "bco_pair":  # BCO, Jung et al. 2024, with TRL's running reward mean
            r_c, r_l = beta * chosen_lr, beta * rejected_lr
            batch_mean = torch.cat((r_c, r_l)).mean().detach()
            bco_after = running_update(case["bco_state"], batch_mean.item())
            delta = bco_after["mean"]
            per = -F.logsigmoid(r_c - delta) - F.logsigmoid(-(r_l - delta))
        elif name == "sppo_hard":  # SPPO, Wu et al. 2024, hard P (1 winner / 0 loser)
            per = (chosen_lr - 0.5 / beta) ** 2 + (rejected_lr + 0.5 / beta) ** 2
        elif name == "aot":  # AOT, Melnyk et al. 2024, paired
            s_pol, _ = torch.sort(a_pc - a_pl, dim=0, stable=True)
            s_ref, _ = torch.sort(a_rc - a_rl, dim=0, stable=True)
            per = cdpo(beta * (s_pol - s_ref), eps)
        elif name == "aot_unpaired":  # AOT unpaired
            s_c, _ = torch.sort(chosen_lr, dim=0, stable=True)
            s_l, _ = torch.sort(rejected_lr, dim=0, stable=True)
            per = cdpo(beta * (s_c - s_l), eps)
        elif name == "apo_zero":  # APO, D'Oosterlinck et al. 2024 eq. 7
            per = (1 - torch.sigmoid(beta * chosen_lr)) + torch.sigmoid(beta * rejected_lr)
        elif name == "apo_down":  # APO eq. 8
            per = torch.sigmoid(beta * chosen_lr) + (1 - torch.sigmoid(beta * (chosen_lr - rejected_lr)))
        elif name == "discopop":  # DiscoPOP, Chris Lu et al. 2024 eq. 5
            x = beta * logits
            mod = torch.sigmoid(x / case["discopop_tau"])
            per = -F.logsigmoid(x) * (1 - mod) + torch.exp(-x) * mod
        elif name == "sigmoid_norm":  # DPO on per-token average log-ratios
            zn = (pi_c - ref_c) / len_c - (pi_l - ref_l) / len_l
            per = cdpo(beta * zn, eps)
        elif name == "sft":  # token-level NLL of the chosen completions (RPO term)
            per = (-(pi_c.sum() / len_c.sum())).expand(pi_c.shape[0])
        elif name == "simpo":  # SimPO, Meng et al. 2024, with cDPO smoothing (TRL CPO)
            u = beta * (pi_c / len_c - pi_l / len_l) - case["simpo_gamma"]
            per = cdpo(u, eps)
        else:
            raise ValueError(name)
        loss = loss + w * per.mean()

    pref = [n for n in names if n != "sft"]
    averaged = bool(pref) and all(n == "simpo" for n in pref)
    with torch.no_grad():
        if averaged:
            m_pc, m_pl, m_rc, m_rl = pi_c / len_c, pi_l / len_l, ref_c / len_c, ref_l / len_l
        else:
            m_pc, m_pl, m_rc, m_rl = pi_c, pi_l, ref_c, ref_l
        cr = beta * (m_pc - m_rc)
        rr = beta * (m_pl - m_rl)
        metrics = {
            "loss": loss.item(),
            "rewards/chosen": cr.mean().item(),
            "rewards/rejected": rr.mean().item(),
            "rewards/accuracies": (cr > rr).double().mean().item(),
            "rewards/margins": (cr - rr).mean().item(),
            "logps/chosen": m_pc.mean().item(),
            "logps/rejected": m_pl.mean().item(),
        }
    return loss, cr.tolist(), rr.tolist(), metrics, bco_after


CASES = [
    # name, spec, overrides
    ("sigmoid", "sigmoid", {}),
    ("sigmoid_ls", "sigmoid", {"label_smoothing": 0.1}),
    ("sigmoid_beta05", "sigmoid", {"beta": 0.5}),
    ("sigmoid_reference_free", "sigmoid", {"reference_free": True, "beta": 0.05}),
    ("hinge", "hinge", {}),
    ("hinge_beta05", "hinge", {"beta": 0.5}),
    ("hinge_reference_free", "hinge", {"reference_free": True}),
    ("ipo", "ipo", {}),
    ("ipo_beta05", "ipo", {"beta": 0.5}),
    ("robust", "robust", {"label_smoothing": 0.1}),
    ("robust_ls03", "robust", {"label_smoothing": 0.3, "beta": 0.2}),
    ("exo_pair", "exo_pair", {}),
    ("exo_pair_ls", "exo_pair", {"label_smoothing": 0.2}),
    ("nca_pair", "nca_pair", {}),
    ("bco_pair_fresh", "bco_pair", {"bco_state": {"mean": 0.0, "var": 1.0, "count": 1e-24}}),
    ("bco_pair_state", "bco_pair", {"bco_state": {"mean": 0.05, "var": 0.5, "count": 3.0}}),
    ("sppo_hard", "sppo_hard", {}),
    ("aot", "aot", {}),
    ("aot_ls", "aot", {"label_smoothing": 0.1}),
    ("aot_unpaired", "aot_unpaired", {}),
    ("aot_pair_alias", "aot_pair", {"label_smoothing": 0.05}),
    ("apo_zero", "apo_zero", {}),
    ("apo_down", "apo_down", {}),
    ("discopop", "discopop", {}),
    ("discopop_tau05", "discopop", {"discopop_tau": 0.5, "beta": 0.2}),
    ("sigmoid_norm", "sigmoid_norm", {"beta": 0.5, "label_smoothing": 0.05}),
    ("sft", "sft", {}),
    ("simpo", "simpo", {"beta": 2.0, "simpo_gamma": 0.5}),
    ("simpo_ls", "simpo", {"beta": 2.5, "simpo_gamma": 1.0, "label_smoothing": 0.1}),
    ("rpo", "sigmoid=1,sft=0.2", {}),
    ("ipo_sigmoid", "ipo=0.5,sigmoid=1", {}),
    ("simpo_sft", "simpo=1,sft=0.3", {"beta": 2.0, "simpo_gamma": 0.8}),
    ("mix", "apo_zero=0.7,bco_pair=0.3,hinge=2", {"bco_state": {"mean": -0.2, "var": 0.1, "count": 10.0}}),
    ("mix_ls", "sigmoid,nca_pair=0.5,discopop=0.25,sppo_hard=0.01",
     {"label_smoothing": 0.15, "beta": 0.2}),
]

DEFAULTS = {"beta": 0.1, "label_smoothing": 0.0, "simpo_gamma": 0.5, "discopop_tau": 0.05,
            "reference_free": False, "bco_state": None}

FIELDS = ["policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected"]


def main():
    batches = make_batches()
    out_cases = []
    for bname, b in batches.items():
        for name, spec, over in CASES:
            case = dict(DEFAULTS)
            case.update(over)
            case["spec"] = spec
            t = {k: torch.tensor(b[k], dtype=torch.float64, requires_grad=True) for k in FIELDS}
            t["chosen_lengths"] = torch.tensor(b["chosen_lengths"], dtype=torch.float64)
            t["rejected_lengths"] = torch.tensor(b["rejected_lengths"], dtype=torch.float64)
            loss, cr, rr, metrics, bco_after = objective(case, t)
            grads = torch.autograd.grad(loss, [t[k] for k in FIELDS], allow_unused=True)
            grad = {}
            for k, g in zip(FIELDS, grads):
                grad[k] = (g if g is not None else torch.zeros_like(t[k])).tolist()
            rec = {"name": f"{bname}/{name}", "batch": bname}
            rec.update(case)
            rec.update({"loss": loss.item(), "grad": grad, "chosen_rewards": cr,
                        "rejected_rewards": rr, "metrics": metrics, "bco_after": bco_after})
            out_cases.append(rec)
    json.dump({"generator": "tools/torchref/losses.py", "torch": torch.__version__,
               "batches": batches, "cases": out_cases}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
