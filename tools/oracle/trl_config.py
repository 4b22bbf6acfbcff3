"""Parses a TRL DPO YAML with TRL's own TrlParser (DPOConfig, ScriptArguments,
ModelConfig) and prints, as JSON, the values dpo applies, and transformers'
learning rate at every step of a schedule. Request (stdin): {"config": path,
"total": steps} for each
request of a JSON list; the answers are a list in the same order."""
import json
import sys
import warnings

warnings.filterwarnings("ignore")

import torch
from transformers.optimization import get_scheduler
from trl import DPOConfig, ModelConfig, ScriptArguments, TrlParser

def answer(req):
    parser = TrlParser((ScriptArguments, DPOConfig, ModelConfig))
    script, cfg, model = parser.parse_args_and_config(args=["--config", req["config"]])
    total = req["total"]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.learning_rate)
    sched = get_scheduler(cfg.lr_scheduler_type, opt, num_warmup_steps=cfg.get_warmup_steps(total),
                          num_training_steps=total, scheduler_specific_kwargs=cfg.lr_scheduler_kwargs or {})
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    loss = cfg.loss_type if isinstance(cfg.loss_type, list) else [cfg.loss_type]
    return {
        "model": model.model_name_or_path, "output_dir": cfg.output_dir, "learning_rate": cfg.learning_rate,
        "batch_size": cfg.per_device_train_batch_size, "grad_accum": cfg.gradient_accumulation_steps,
        "epochs": cfg.num_train_epochs, "beta": cfg.beta, "loss": ",".join(loss), "loss_weights": cfg.loss_weights,
        "max_length": cfg.max_length, "truncation_mode": cfg.truncation_mode, "scheduler": str(cfg.lr_scheduler_type.value
        if hasattr(cfg.lr_scheduler_type, "value") else cfg.lr_scheduler_type), "warmup_steps": cfg.get_warmup_steps(total),
        "seed": cfg.seed, "weight_decay": cfg.weight_decay, "max_grad_norm": cfg.max_grad_norm, "adam_beta2": cfg.adam_beta2,
        "logging_steps": cfg.logging_steps, "save_steps": cfg.save_steps, "eval_steps": cfg.eval_steps,
        "use_peft": model.use_peft, "lora_r": model.lora_r, "lora_alpha": model.lora_alpha, "lora_dropout": model.lora_dropout,
        "lora_target_modules": model.lora_target_modules, "bf16": cfg.bf16, "gradient_checkpointing": cfg.gradient_checkpointing,
        "lrs": lrs,
    }


json.dump([answer(r) for r in json.load(sys.stdin)], sys.stdout)
