package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/train"
)

// loraFlags registers dpo-train's LoRA flags (PEFT's LoraConfig names and
// defaults).
func loraFlags(fs *flag.FlagSet, l *train.LoRAConfig) {
	fs.IntVar(&l.R, "lora-r", 0, "train a LoRA adapter of this rank instead of the full model (0: full fine-tuning)")
	fs.Float64Var(&l.Alpha, "lora-alpha", train.DefaultLoRAAlpha, "LoRA alpha: the update is scaled by alpha/r (alpha/sqrt(r) with --use-rslora)")
	fs.Float64Var(&l.Dropout, "lora-dropout", 0, "LoRA dropout on the adapters' inputs, as PEFT's lora_dropout (training only; masks from --seed and the step)")
	fs.StringVar(&l.Target, "lora-target", "", "target modules, comma-separated (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; GPT-2 c_attn,c_proj,c_fc) or all-linear; default PEFT's: q_proj,v_proj (GPT-2: c_attn)")
	fs.StringVar(&l.ModulesToSave, "lora-modules-to-save", "", "modules trained in full next to the adapters and saved in the adapter file, comma-separated (PEFT's modules_to_save, e.g. embed_tokens,lm_head; not with tied embeddings)")
	fs.BoolVar(&l.RSLoRA, "use-rslora", false, "rank-stabilised LoRA: scale alpha/sqrt(r)")
	fs.StringVar(&l.Adapter, "adapter", "", "start from this PEFT adapter `DIR` (its r, alpha and targets apply; --model is its base)")
	fs.BoolVar(&l.Merge, "merge-lora", false, "also write the merged full model (base + adapter) to DIR/merged")
}

// resolveModelDir returns the base model directory for dir and, when dir
// is a PEFT adapter directory, its path: the base is --base, else the
// adapter's base_model_name_or_path when that is a local directory.
func resolveModelDir(dir, base string) (baseDir, adapterDir string, err error) {
	if !adapter.IsAdapterDir(dir) {
		if base != "" {
			return "", "", usagef("--base %s: %s is not a PEFT adapter directory (no %s)", base, dir, adapter.ConfigFile)
		}
		return dir, "", nil
	}
	if base != "" {
		return base, dir, nil
	}
	ac, err := adapter.LoadConfig(dir)
	if err != nil {
		return "", "", err
	}
	if ac.BaseModel == "" {
		return "", "", fmt.Errorf("adapter %s: field base_model_name_or_path is null: pass the base model with --base DIR", filepath.Join(dir, adapter.ConfigFile))
	}
	if st, err := os.Stat(ac.BaseModel); err != nil || !st.IsDir() {
		return "", "", fmt.Errorf("adapter %s: field base_model_name_or_path %q is not a local directory: pass the base model with --base DIR", filepath.Join(dir, adapter.ConfigFile), ac.BaseModel)
	}
	return ac.BaseModel, dir, nil
}

// attachAdapter loads the adapter directory for l's model and attaches it.
func (l *loadedModel) attachAdapter(dir string) error {
	a, err := adapter.Load(dir, l.ck.Config)
	if err != nil {
		return fmt.Errorf("%w (base model %s)", err, l.base)
	}
	if err := l.model.AttachAdapter(a); err != nil {
		return fmt.Errorf("adapter %s: %w", dir, err)
	}
	l.adapter = a
	return nil
}

// tokenizerDir is the directory whose tokenizer identity is checked: the
// adapter's when it has tokenizer files or dpo.json, else the base's.
func tokenizerDir(baseDir, adapterDir string) string {
	if adapterDir == "" {
		return baseDir
	}
	if _, _, ok, err := ckpt.Tokenizer(adapterDir); ok || err != nil {
		return adapterDir
	}
	return baseDir
}
