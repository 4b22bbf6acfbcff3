"""Per-sequence summed completion log-probabilities, as dpo-reflogp computes
them and as TRL's DPOTrainer.concatenated_forward does:

    logp(completion | prompt) = Σ_{t = prompt_len}^{len-1}
                                log_softmax(logits[t-1])[input_ids[t]]

Labels are the inputs shifted left by one (logits at position t-1 predict
token t); prompt tokens and padding are masked out of the sum.
"""
import torch

import model


def completion_logps(weights, config_json, input_ids, prompt_lens, lengths, dtype=torch.float64):
    """input_ids [B, S] right-padded; prompt_lens and lengths per row.
    Returns (summed [B] tensor, list of per-token log-prob lists covering the
    completion tokens t = prompt_len..len-1)."""
    input_ids = torch.as_tensor(input_ids, dtype=torch.int64)
    B, S = input_ids.shape
    lengths = torch.as_tensor(lengths)
    prompt_lens = torch.as_tensor(prompt_lens)
    attn = (torch.arange(S)[None, :] < lengths[:, None]).long()
    lg = model.logits(weights, config_json, input_ids, attn, dtype)
    logp = torch.log_softmax(lg[:, :-1], dim=-1)          # predicts tokens 1..S-1
    labels = input_ids[:, 1:]
    tok = logp.gather(-1, labels[..., None])[..., 0]       # [B, S-1]
    pos = torch.arange(1, S)[None, :]                       # position of each label
    loss_mask = (pos >= prompt_lens[:, None]) & (pos < lengths[:, None])
    summed = (tok * loss_mask).sum(-1)
    per_token = [tok[b, loss_mask[b]].tolist() for b in range(B)]
    return summed, per_token, lg
