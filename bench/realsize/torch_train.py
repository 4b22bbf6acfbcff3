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

With --trl the same steps run through TRL's DPOTrainer instead (TRL
1.16 has no reference-free option: precompute_ref_log_probs, so the
reference pass runs once before the timed steps, in the wall time and peak
RSS; sequential sampling, the pairs' token ids as the dataset,
no saving; with --lora the PEFT config is handed to the trainer), timed
per optimizer step by a callback.

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
    ap.add_argument("--trl", action="store_true")
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
    if a.lora and not a.trl:
        import peft
        model = peft.get_peft_model(model, lora_config(a.lora))
    if a.trl:
        return trl_train(a, model, prompts, chosen, rejected)
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


def lora_config(r):
    import peft
    return peft.LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


def trl_train(a, model, prompts, chosen, rejected):
    import datasets
    import tempfile
    from trl import DPOConfig

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "throughput"))
    from torch_step import trl_pieces  # noqa: E402

    Trainer, Clock, tok = trl_pieces()
    n = a.batch * a.steps
    idx = [i % len(prompts) for i in range(n)]
    ds = datasets.Dataset.from_dict({"prompt_ids": [prompts[i] for i in idx], "chosen_ids": [chosen[i] for i in idx],
                                     "rejected_ids": [rejected[i] for i in idx]})
    with tempfile.TemporaryDirectory() as out:
        args = DPOConfig(output_dir=out, use_cpu=True, per_device_train_batch_size=a.batch, max_steps=a.steps,
                         report_to="none", precompute_ref_log_probs=True, learning_rate=1e-5, lr_scheduler_type="linear",
                         max_grad_norm=1.0, beta=0.1, logging_steps=1, save_strategy="no", dataloader_num_workers=0,
                         max_length=None, disable_tqdm=True, train_sampling_strategy="sequential",
                         gradient_checkpointing=a.gradient_checkpointing)
        clock = Clock()
        tr = Trainer(model=model, args=args, train_dataset=ds, processing_class=tok, callbacks=[clock],
                     peft_config=lora_config(a.lora) if a.lora else None)
        tr.train()
    for k, sec in enumerate(clock.times):
        rows = [(len(prompts[i]) * 2 + len(chosen[i]) + len(rejected[i])) for i in idx[k * a.batch:(k + 1) * a.batch]]
        print(json.dumps({"step": k + 1, "seconds": sec, "tokens": sum(rows), "tokens_per_second": sum(rows) / sec}), flush=True)
    print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "threads": a.threads, "torch": torch.__version__, "transformers": transformers.__version__}))


if __name__ == "__main__":
    sys.exit(main())
