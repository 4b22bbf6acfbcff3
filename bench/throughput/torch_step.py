"""PyTorch and TRL counterparts of bench/throughput's dpo-train step.

Reads the micro-batch the Go bench dumped (-dump FILE: model shape and the
pairs' token ids) and times, on the CPU with torch.set_num_threads(THREADS):

  torch: the step as TRL's DPOTrainer computes it (chosen and rejected rows
         concatenated into one right-padded forward, full logits, log_softmax,
         gather, completion mask, sum; sigmoid DPO loss against fixed
         reference log-probs; backward), transformers' model with its
         default (sdpa) attention, float32, random init;
  trl:   DPOTrainer.train() for 1 step on the same pairs, the reference
         log-probs precomputed (ref_chosen_logps/ref_rejected_logps columns,
         precompute_ref_log_probs), same model, AdamW (reported only when
         the run succeeds).

Prints one line per measurement: name, seconds per step, real tokens/s
(prompts counted twice, as dpo-train's tokens_per_second).

    .oracle-venv/bin/python bench/throughput/torch_step.py FILE [reps] [threads] [--trl] [--cold]
"""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import torch  # noqa: E402
import transformers  # noqa: E402


def build(cfg):
    if cfg["model"] == "qwen":
        c = transformers.Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                                     num_hidden_layers=cfg["layers"], num_attention_heads=14, num_key_value_heads=2,
                                     max_position_embeddings=32768, rope_theta=1e6, tie_word_embeddings=True)
    else:
        c = transformers.LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048,
                                     num_hidden_layers=cfg["layers"], num_attention_heads=12, num_key_value_heads=12,
                                     max_position_embeddings=4096, tie_word_embeddings=False)
    torch.manual_seed(0)
    m = transformers.AutoModelForCausalLM.from_config(c, attn_implementation="sdpa", dtype=torch.float32)
    return m


def main():
    path = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    d = json.load(open(path))
    pairs = d["pairs"]
    model = build(d)
    real = sum(2 * len(p["prompt"]) + len(p["chosen"]) + len(p["rejected"]) for p in pairs)
    rows = [p["prompt"] + p["chosen"] for p in pairs] + [p["prompt"] + p["rejected"] for p in pairs]
    plens = [len(p["prompt"]) for p in pairs] * 2
    T = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    att = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        att[i, :len(r)] = 1
    mask = torch.zeros(len(rows), T - 1)
    for i, r in enumerate(rows):
        mask[i, plens[i] - 1:len(r) - 1] = 1
    B = len(pairs)
    ref = torch.zeros(2 * B)

    def step():
        model.zero_grad()
        logits = model(input_ids=ids, attention_mask=att).logits[:, :-1]
        lp = torch.gather(logits.log_softmax(-1), 2, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        s = (lp * mask).sum(-1)
        z = 0.1 * ((s[:B] - ref[:B]) - (s[B:] - ref[B:]))
        loss = -torch.nn.functional.logsigmoid(z).mean()
        loss.backward()

    if "--cold" not in sys.argv:
        step()  # warm-up (--cold: time the first step, for cases whose steps take minutes)
    t = time.perf_counter()
    for _ in range(reps):
        step()
    sec = (time.perf_counter() - t) / reps
    print("torch %.3f s/step %.1f tok/s (threads %d, rows %d x %d)" % (sec, real / sec, threads, len(rows), T))
    if "--trl" in sys.argv:
        trl_step(d, model, pairs, real, threads)


def trl_pieces():
    """TRL's DPOTrainer taking a dataset of token ids as it is (no
    tokenization), a callback timing each optimizer step (.times), and a
    two-word tokenizer for its pad and EOS ids. Also used by
    bench/realsize/torch_train.py."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import TrainerCallback
    from trl import DPOTrainer

    class Trainer(DPOTrainer):  # the pairs are token ids already
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

    class Clock(TrainerCallback):  # seconds of each optimizer step
        def __init__(self):
            self.times, self.t = [], None

        def on_step_begin(self, args, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t)

    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel({"t0": 0, "t1": 1}, unk_token="t0")), pad_token="t0", eos_token="t1")
    return Trainer, Clock, tok


def trl_step(d, model, pairs, real, threads):
    import datasets
    import tempfile
    from trl import DPOConfig

    Trainer, Clock, tok = trl_pieces()
    ds = datasets.Dataset.from_dict({
        "prompt_ids": [p["prompt"] for p in pairs],
        "chosen_ids": [p["chosen"] for p in pairs],
        "rejected_ids": [p["rejected"] for p in pairs],
    })
    with tempfile.TemporaryDirectory() as out:
        args = DPOConfig(output_dir=out, use_cpu=True, per_device_train_batch_size=len(pairs), max_steps=2,
                         report_to="none", precompute_ref_log_probs=True, learning_rate=1e-6, logging_steps=1,
                         save_strategy="no", dataloader_num_workers=0, max_length=None, disable_tqdm=True,
                         train_sampling_strategy="sequential")
        clock = Clock()
        try:
            tr = Trainer(model=model, args=args, train_dataset=ds, processing_class=tok, callbacks=[clock])
            tr.train()
            sec = clock.times[-1]
            print("trl %.3f s/step %.1f tok/s (DPOTrainer, precomputed reference log-probs, second step; steps %s)"
                  % (sec, real / sec, ", ".join("%.2f" % t for t in clock.times)))
        except Exception as e:  # noqa: BLE001
            print("trl not measured: %s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))


if __name__ == "__main__":
    main()
