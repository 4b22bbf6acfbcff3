"""Oracle: TRL's DPOTrainer on a tiny random model, for pkg/train's TestTrainAgainstTRL.

Usage: trl_train.py SPEC.json OUTDIR

SPEC.json:
  model_config   a transformers config dict (Llama or Qwen2), created with
                 AutoModelForCausalLM.from_config under torch.manual_seed(init_seed)
                 and saved (float32) to OUTDIR/model
  init_seed      int
  pairs          [{"prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...]}]
                 in the order the trainer must visit them (dpo-train's order;
                 the sampler here is sequential)
  cases          [{"name", "loss_type": [...], "loss_weights": [...] | null, "beta",
                   "label_smoothing", "learning_rate", "lr_scheduler_type",
                   "warmup_steps", "weight_decay", "max_grad_norm",
                   "batch_size", "grad_accum", "max_steps", "ld_alpha" | null,
                   "f_divergence_type", "f_alpha_divergence_coef", "use_weighting",
                   "router_aux_loss_coef": float | null (MoE models; null: the config's),
                   "eval": bool (evaluate on the same pairs after training, in one batch),
                   "peft": {LoraConfig kwargs} (optional: DPOTrainer(peft_config=LoraConfig(
                           task_type="CAUSAL_LM", **peft)), PEFT's own initialisation)}]

For every case it writes OUTDIR/<name>/:
  log.json             {"log_history": trainer.state.log_history,
                        "ref_chosen_logps": [...], "ref_rejected_logps": [...],
                        "eval": trainer.evaluate() after training, when asked}
                       (reference log-probs in the order of "pairs", computed by
                       TRL's own precompute_ref_log_probs path from the initial model)
  model.safetensors    the final weights (a mixture-of-experts model's experts
                       per expert, named as save_pretrained writes them)
  trainer_state.json   transformers' Trainer state, as Trainer writes it
  with "peft" also:
  init_adapter/        the adapter as the trainer wrapped the model, before training
                       (PeftModel.save_pretrained)
  adapter/             the trained adapter (PeftModel.save_pretrained)
  grads.safetensors    "step<k>/<adapter key>": every trainable parameter's gradient
                       as the optimizer step k sees it (after clipping; callback
                       on_pre_optimizer_step); keys as in adapter_model.safetensors

CPU, float32, eager attention (and experts), no gradient checkpointing, dropout off,
HF_HUB_OFFLINE=1; one process runs every case.
"""

import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from tokenizers.models import WordLevel  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
hf_logging.set_verbosity_error()


def tokenizer(vocab_size):
    # The pairs are pre-tokenized; the trainer only needs a pad and an eos token.
    vocab = {f"t{i}": i for i in range(vocab_size)}
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="t0"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="t0", eos_token="t1")


class Trainer(DPOTrainer):
    # The dataset is already tokenized (prompt_ids, chosen_ids, rejected_ids):
    # TRL's text preprocessing is the tokenization oracle's business, not this one's.
    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        return dataset


def adapter_key(name):
    # PeftModel parameter name -> adapter_model.safetensors key
    return name.replace(".modules_to_save.default.", ".").replace(".default.", ".")


class GradRecorder(TrainerCallback):
    """Records the trainable parameters' gradients before each optimizer step."""

    def __init__(self):
        self.grads = {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        for n, p in model.named_parameters():
            if p.requires_grad and p.grad is not None:
                self.grads[f"step{state.global_step + 1}/{adapter_key(n)}"] = p.grad.detach().clone()


def per_expert(state):
    """transformers 5 keeps MoE experts fused (mlp.experts.gate_up_proj
    [E, 2I, H], rows [gate; up]; mlp.experts.down_proj [E, H, I]);
    save_pretrained, and so dpo-train, writes one tensor per expert."""
    out = {}
    for n, t in state.items():
        if n.endswith(".mlp.experts.gate_up_proj"):
            p, inter = n[: -len("gate_up_proj")], t.shape[1] // 2
            for e in range(t.shape[0]):
                out[f"{p}{e}.gate_proj.weight"] = t[e, :inter].contiguous()
                out[f"{p}{e}.up_proj.weight"] = t[e, inter:].contiguous()
        elif n.endswith(".mlp.experts.down_proj"):
            p = n[: -len("down_proj")]
            for e in range(t.shape[0]):
                out[f"{p}{e}.down_proj.weight"] = t[e].contiguous()
        else:
            out[n] = t
    return out


def main():
    spec = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    cfg = AutoConfig.for_model(**spec["model_config"])
    cfg._attn_implementation = "eager"
    torch.manual_seed(spec["init_seed"])
    impl = {"attn_implementation": "eager"}
    if getattr(cfg, "num_experts", 0):  # MoE: the loop over experts, not grouped_mm
        impl["experts_implementation"] = "eager"
    model0 = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, **impl)
    model_dir = os.path.join(out, "model")
    model0.save_pretrained(model_dir, safe_serialization=True)
    tok = tokenizer(cfg.vocab_size)
    rows = spec["pairs"]
    data = {k: [r[k] for r in rows] for k in ("prompt_ids", "chosen_ids", "rejected_ids")}

    for case in spec["cases"]:
        name = case["name"]
        cdir = os.path.join(out, name)
        os.makedirs(cdir, exist_ok=True)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, **impl)
        args = DPOConfig(
            output_dir=os.path.join(cdir, "run"),
            use_cpu=True,
            bf16=False,
            fp16=False,
            gradient_checkpointing=False,
            seed=42,
            data_seed=42,
            train_sampling_strategy="sequential",
            per_device_train_batch_size=case["batch_size"],
            per_device_eval_batch_size=len(rows),
            gradient_accumulation_steps=case["grad_accum"],
            max_steps=case["max_steps"],
            learning_rate=case["learning_rate"],
            lr_scheduler_type=case["lr_scheduler_type"],
            warmup_steps=case["warmup_steps"],
            weight_decay=case["weight_decay"],
            adam_beta1=0.9,
            adam_beta2=0.999,
            adam_epsilon=1e-8,
            optim="adamw_torch",
            max_grad_norm=case["max_grad_norm"],
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            dataloader_drop_last=False,
            precompute_ref_log_probs=True,
            max_length=None,
            loss_type=case["loss_type"],
            loss_weights=case.get("loss_weights"),
            beta=case["beta"],
            label_smoothing=case.get("label_smoothing", 0.0),
            ld_alpha=case.get("ld_alpha"),
            f_divergence_type=case.get("f_divergence_type", "reverse_kl"),
            f_alpha_divergence_coef=case.get("f_alpha_divergence_coef", 0.5),
            use_weighting=case.get("use_weighting", False),
            router_aux_loss_coef=case.get("router_aux_loss_coef"),
        )
        eval_ds = Dataset.from_dict(data) if case.get("eval") else None
        kwargs = {}
        if case.get("peft"):
            from peft import LoraConfig

            kwargs["peft_config"] = LoraConfig(task_type="CAUSAL_LM", **case["peft"])
        trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict(data), eval_dataset=eval_ds,
                          processing_class=tok, **kwargs)
        recorder = None
        if case.get("peft"):
            trainer.model.save_pretrained(os.path.join(cdir, "init_adapter"))
            recorder = GradRecorder()
            trainer.add_callback(recorder)
        refs = trainer.train_dataset
        ref_c = [float(x) for x in refs["ref_chosen_logps"]]
        ref_r = [float(x) for x in refs["ref_rejected_logps"]]
        trainer.train()
        evaluation = trainer.evaluate() if case.get("eval") else None
        state = per_expert({k: v.detach().contiguous().clone() for k, v in trainer.model.state_dict().items()})
        save_file(state, os.path.join(cdir, "model.safetensors"))
        trainer.state.save_to_json(os.path.join(cdir, "trainer_state.json"))
        if recorder is not None:
            trainer.model.save_pretrained(os.path.join(cdir, "adapter"))
            save_file({k: v.contiguous() for k, v in recorder.grads.items()}, os.path.join(cdir, "grads.safetensors"))
        with open(os.path.join(cdir, "log.json"), "w") as f:
            json.dump({"log_history": trainer.state.log_history, "ref_chosen_logps": ref_c,
                       "ref_rejected_logps": ref_r, "eval": evaluation}, f)
        print(f"{name}: {trainer.state.global_step} steps", flush=True)


if __name__ == "__main__":
    main()
