package cli

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// trlKey is one key of TRL 1.16's DPOConfig (transformers'
// TrainingArguments included), ScriptArguments or ModelConfig, or of an
// older TRL's DPO YAML, and what the dpo tools do with it. One YAML drives
// every tool: a tool applies the keys that set one of its flags, notes or
// refuses the keys it owns, and passes over the others silently.
type trlKey struct {
	name string
	// flags names the flag the key sets, per tool; a tool it does not name
	// applies the key when it has a flag of the key's name (_ read as -).
	flags map[string]string
	// owner is the tool that notes or refuses the key when the key sets
	// none of its flags.
	owner string
	// check, when set, reads a value (not null) first: it returns the value
	// for the flag (or, without a flag, the value is only checked), a note
	// for stderr, or an error when the value cannot be honoured.
	check func(v string) (string, string, error)
	// note is printed by the owner when the key has no effect here.
	note string
}

// Tool names.
const (
	toolTokenize = "dpo-tokenize"
	toolReflogp  = "dpo-reflogp"
	toolTrain    = "dpo-train"
	toolScore    = "dpo-score"
	toolSample   = "dpo-sample"
)

// trlKeys returns the table, by key.
var trlKeys = sync.OnceValue(func() map[string]*trlKey {
	m := map[string]*trlKey{}
	add := func(k *trlKey) {
		if m[k.name] != nil {
			panic("cli: TRL key " + k.name + " twice")
		}
		m[k.name] = k
	}
	train := func(name, flag string) *trlKey {
		k := &trlKey{name: name, owner: toolTrain}
		if flag != "" {
			k.flags = map[string]string{toolTrain: flag}
		}
		add(k)
		return k
	}

	// Applied: they set a flag (by name when the flag is spelled as the
	// key with - for _).
	for name, flag := range map[string]string{
		"learning_rate":               "lr",
		"lr_scheduler_type":           "lr-scheduler",
		"per_device_train_batch_size": "batch-size",
		"gradient_accumulation_steps": "grad-accum",
		"num_train_epochs":            "epochs",
		"loss_type":                   "loss",
		"output_dir":                  "out",
		"lora_target_modules":         "lora-target",
		// train_config.json's lora section (train.LoRAConfig's names).
		"lora.r":               "lora-r",
		"lora.target_modules":  "lora-target",
		"lora.modules_to_save": "lora-modules-to-save",
	} {
		train(name, flag)
	}
	for _, name := range []string{
		"lr_scheduler_kwargs", "warmup_steps", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon",
		"max_grad_norm", "bf16", "gradient_checkpointing", "logging_steps", "eval_steps", "save_steps",
		"save_total_limit", "seed", "beta", "label_smoothing", "loss_weights", "ld_alpha", "f_divergence_type",
		"f_alpha_divergence_coef", "use_weighting", "discopop_tau", "router_aux_loss_coef", "sync_ref_model",
		"ref_model_mixup_alpha", "ref_model_sync_steps", "use_peft", "lora_r", "lora_alpha", "lora_dropout",
		"lora_modules_to_save", "use_rslora",
		// older TRL releases
		"rpo_alpha", "warmup_ratio", "simpo_gamma", "reference_free",
	} {
		train(name, "")
	}
	train("max_steps", "").check = func(v string) (string, string, error) {
		if n, err := strconv.Atoi(v); err == nil && n < 0 {
			return "0", "", nil // transformers' -1: train for num_train_epochs
		}
		return v, "", nil
	}
	train("report_to", "").check = reportTo
	train("resume_from_checkpoint", "resume").check = func(v string) (string, string, error) {
		if b, err := strconv.ParseBool(v); err == nil {
			return strconv.FormatBool(b), "", nil
		}
		return "true", fmt.Sprintf("resume_from_checkpoint %s: dpo-train resumes from the newest complete checkpoint in its --out (output_dir)", v), nil
	}
	add(&trlKey{name: "model_name_or_path", flags: map[string]string{toolTokenize: "tokenizer", toolReflogp: "model", toolTrain: "model"}})
	for _, name := range []string{"max_length", "truncation_mode", "max_prompt_length", "max_completion_length"} {
		add(&trlKey{name: name, owner: toolTokenize})
	}

	// Checked: accepted when the value is what dpo-train does anyway,
	// refused when it cannot be honoured.
	only := func(name, want, why string) {
		train(name, "").check = func(v string) (string, string, error) {
			if strings.EqualFold(v, want) {
				return v, "", nil
			}
			return "", "", fmt.Errorf("%s: %s", v, why)
		}
	}
	only("disable_dropout", "true", "dpo-train never applies the model's dropout (TRL's default disable_dropout: true)")
	only("fp16", "false", "dpo-train has no fp16 mixed precision; bf16: true gives bfloat16 products with float32 master weights")
	only("use_dora", "false", "DoRA adapters are not implemented; use plain LoRA")
	only("load_in_8bit", "false", "quantized base weights are not supported")
	only("load_in_4bit", "false", "quantized base weights are not supported")
	only("lora_task_type", "CAUSAL_LM", "dpo-train trains causal LMs only")
	only("dataloader_drop_last", "false", "dpo-train keeps an epoch's last, short batch as transformers does by default")
	only("load_best_model_at_end", "false", "dpo-train writes the final model, not the best checkpoint")
	only("train_sampling_strategy", "random", "dpo-train shuffles the pairs each epoch (random)")
	train("eval_strategy", "").check = oneOf("dpo-train evaluates --eval every eval_steps steps and at the end; give steps or no", "no", "steps")
	train("save_strategy", "").check = func(v string) (string, string, error) {
		switch v {
		case "steps":
			return v, "", nil
		case "no":
			return v, "save_strategy no: dpo-train always writes the final model (and checkpoints every save_steps when given)", nil
		}
		return "", "", fmt.Errorf("%s: dpo-train saves every save_steps steps and at the end; give steps or no", v)
	}
	train("logging_strategy", "").check = oneOf("dpo-train logs every logging_steps steps", "steps")
	train("optim", "").check = func(v string) (string, string, error) {
		switch v {
		case "adamw_torch", "adamw_torch_fused", "adamw_hf", "adamw_apex_fused", "adamw_torch_xla", "adamw_torch_npu_fused":
			return v, "", nil
		}
		return "", "", fmt.Errorf("%s: dpo-train's optimizer is AdamW with float32 states (optim adamw_torch or adamw_torch_fused)", v)
	}
	train("precompute_ref_log_probs", "").check = func(v string) (string, string, error) {
		if b, _ := strconv.ParseBool(v); b {
			return v, "", nil
		}
		return v, "precompute_ref_log_probs false: reference log-probs are always precomputed here (dpo-reflogp); the losses are the same", nil
	}
	refuseSet := func(name, why string) {
		train(name, "").check = func(v string) (string, string, error) { return "", "", fmt.Errorf("%s: %s", v, why) }
	}
	refuseSet("lora_target_parameters", "LoRA on parameters (not modules) is not implemented; use lora_target_modules")
	refuseSet("neftune_noise_alpha", "NEFTune's embedding noise is not implemented")
	for _, name := range []string{"dtype", "torch_dtype"} {
		train(name, "").check = func(v string) (string, string, error) {
			switch v {
			case "float32", "auto":
				return v, "", nil
			}
			return v, fmt.Sprintf("%s %s: dpo-train keeps float32 master weights; bf16: true gives bfloat16 matrix products", name, v), nil
		}
	}

	// Noted: accepted, with no effect here.
	noted := func(owner, note string, names ...string) {
		for _, name := range names {
			add(&trlKey{name: name, owner: owner, note: note})
		}
	}
	noted(toolTokenize, "dpo-tokenize reads the dataset files given as inputs (export a Hub dataset with datasets' to_json first)",
		"dataset_name", "dataset_config", "dataset_train_split", "dataset_test_split", "dataset_streaming")
	noted(toolTokenize, "dpo-tokenize's parallelism is --workers", "dataset_num_proc")
	noted(toolTrain, "the Hub is not reached; dpo-train writes to --out only", "push_to_hub", "hub_token", "hub_private_repo",
		"hub_model_id", "hub_strategy", "hub_always_push", "hub_revision", "model_revision")
	noted(toolTrain, "metrics go to --out/metrics.jsonl (and TensorBoard with report_to tensorboard)", "run_name", "project",
		"logging_dir", "logging_first_step", "log_on_each_node", "logging_nan_inf_filter", "log_level", "log_level_replica",
		"disable_tqdm", "include_num_input_tokens_seen", "trackio_space_id", "trackio_bucket_id", "trackio_static_space_id")
	noted(toolTrain, "evaluation uses --batch-size", "per_device_eval_batch_size", "eval_accumulation_steps", "eval_delay",
		"eval_on_start", "eval_do_concat_batches", "eval_use_gather_object", "include_for_metrics", "batch_eval_metrics",
		"prediction_loss_only", "bf16_full_eval", "fp16_full_eval", "metric_for_best_model", "greater_is_better")
	noted(toolTrain, "batches are packed and padded by dpo-train itself (--no-packing, --no-shared-prompt); the losses are the same",
		"padding_free", "pad_to_multiple_of", "pad_token", "use_logits_to_keep", "remove_unused_columns", "label_names",
		"length_column_name", "precompute_ref_batch_size")
	noted(toolTrain, "one process on one device here (--backend picks it)", "use_cpu", "local_rank", "ddp_find_unused_parameters",
		"ddp_bucket_cap_mb", "ddp_broadcast_buffers", "ddp_static_graph", "ddp_backend", "ddp_timeout", "fsdp", "fsdp_config",
		"deepspeed", "accelerator_config", "parallelism_config", "average_tokens_across_devices", "save_on_each_node",
		"dataloader_num_workers", "dataloader_pin_memory", "dataloader_persistent_workers", "dataloader_prefetch_factor",
		"dataloader_multiprocessing_context", "dataloader_in_order", "tf32", "torch_compile", "torch_compile_backend",
		"torch_compile_mode", "torch_empty_cache_steps", "use_liger_kernel", "liger_kernel_config", "use_cache",
		"activation_offloading", "activation_checkpointing", "activation_checkpointing_kwargs", "gradient_checkpointing_kwargs",
		"auto_find_batch_size", "attn_implementation", "trust_remote_code", "model_init_kwargs", "debug", "skip_memory_metrics",
		"optim_target_modules", "optim_args", "full_determinism", "data_seed", "ignore_data_skip", "ignore_bias_buffers",
		"gradient_checkpointing_use_reentrant", "restore_callback_states_from_checkpoint", "enable_jit_checkpoint",
		"save_only_model", "do_train", "do_eval", "do_predict", "bnb_4bit_quant_type", "use_bnb_nested_quant",
		"bnb_4bit_quant_storage")
	noted(toolTrain, "DPOTrainer does not use it (its loss has label_smoothing)", "label_smoothing_factor")
	return m
})

// oneOf returns a check that accepts the values want.
func oneOf(why string, want ...string) func(string) (string, string, error) {
	return func(v string) (string, string, error) {
		for _, w := range want {
			if v == w {
				return v, "", nil
			}
		}
		return "", "", fmt.Errorf("%s: %s", v, why)
	}
}

// reportTo keeps the report_to targets dpo-train has (tensorboard, none,
// jsonl) and notes the others (wandb, trackio, ...), which it cannot reach.
func reportTo(v string) (string, string, error) {
	var keep, drop []string
	for _, t := range strings.Split(v, ",") {
		switch t = strings.TrimSpace(t); t {
		case "":
		case "all":
			keep = append(keep, "tensorboard")
			drop = append(drop, t)
		case "none", "jsonl", "tensorboard":
			keep = append(keep, t)
		default:
			drop = append(drop, t)
		}
	}
	note := ""
	if len(drop) > 0 {
		note = fmt.Sprintf("report_to %s: dpo-train reports to --out/metrics.jsonl and, when asked, TensorBoard only", strings.Join(drop, ", "))
	}
	if len(keep) == 0 {
		keep = []string{"jsonl"}
	}
	return strings.Join(keep, ","), note, nil
}

// target returns the flag key k sets in the flag set of tool, with has
// telling which flags the set has; "" when none.
func (k *trlKey) target(tool string, has func(string) bool) string {
	if f, ok := k.flags[tool]; ok {
		return f
	}
	if f := strings.ReplaceAll(k.name, "_", "-"); !strings.Contains(f, ".") && has(f) {
		return f
	}
	return ""
}
