"""PyTorch counterpart of bench/realsize's dpo-train runs: the same
checkpoint, the same token ids (read from the tokenized Arrow file), the
same steps, computed as TRL's DPOTrainer computes them, on the CPU.

Each step takes the next BATCH pairs in file order: chosen and rejected
rows concatenated into one right-padded forward (transformers' model, sdpa
attention, float32), full logits, log_softmax, gather, completion mask,
sum; sigmoid DPO loss (beta 0.1) against zero reference log-probs (the
reference's cost is not in a DPO step: TRL precomputes it, dpo-train reads
it from a stream; dpo-train runs here with --reference-free); backward;
clip_grad_norm_(1.0); AdamW (lr 1e-5, betas 0.9/0.999, eps 1e-8, no
weight decay); zero_grad(set_to_none=True). With --lora R: PEFT LoRA r=R,
alpha=2R, all linear layers, no dropout, AdamW over the adapter only.

Prints one JSON object per step (seconds, real tokens: prompts counted
twice, as dpo-train's tokens_per_second) and a last one with the peak RSS
of the process (ru_maxrss).

    .oracle-venv/bin/python bench/realsize/torch_train.py MODEL_DIR PAIRS.arrow BATCH STEPS [--lora R] [--threads N] [--gradient-checkpointing]
"""
import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import pyarrow.ipc as ipc  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("pairs")
    ap.add_argument("batch", type=int)
    ap.add_argument("steps", type=int)
    ap.add_argument("--lora", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--gradient-checkpointing", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t = ipc.open_file(a.pairs).read_all()
    prompts = t.column("prompt_input_ids").to_pylist()
    chosen = t.column("chosen_input_ids").to_pylist()
    rejected = t.column("rejected_input_ids").to_pylist()
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, attn_implementation="sdpa", dtype=torch.float32)
    if a.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if a.lora:
        import peft
        model = peft.get_peft_model(model, peft.LoraConfig(r=a.lora, lora_alpha=2 * a.lora, lora_dropout=0.0,
                                                           target_modules="all-linear", task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    for k in range(a.steps):
        idx = [(k * a.batch + j) % len(prompts) for j in range(a.batch)]
        rows = [prompts[i] + chosen[i] for i in idx] + [prompts[i] + rejected[i] for i in idx]
        plens = [len(prompts[i]) for i in idx] * 2
        real = sum(len(r) for r in rows)
        T = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), T, dtype=torch.long)
        att = torch.zeros(len(rows), T, dtype=torch.long)
        mask = torch.zeros(len(rows), T - 1)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            att[i, :len(r)] = 1
            mask[i, plens[i] - 1:len(r) - 1] = 1
        B = a.batch
        start = time.perf_counter()
        logits = model(input_ids=ids, attention_mask=att).logits[:, :-1]
        lp = torch.gather(logits.log_softmax(-1), 2, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        s = (lp * mask).sum(-1)
        loss = -torch.nn.functional.logsigmoid(0.1 * (s[:B] - s[B:])).mean()
        loss.backward()
        del logits, lp
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sec = time.perf_counter() - start
        print(json.dumps({"step": k + 1, "seconds": sec, "tokens": real, "tokens_per_second": real / sec,
                          "loss": loss.item(), "grad_norm": norm.item()}), flush=True)
    print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "threads": a.threads, "torch": torch.__version__, "transformers": transformers.__version__}))


if __name__ == "__main__":
    sys.exit(main())
