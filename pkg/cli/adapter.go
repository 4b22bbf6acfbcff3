package cli

import (
	"flag"

	"github.com/dpo-go/dpo/pkg/train"
)

// loraFlags registers dpo-train's LoRA flags (PEFT's LoraConfig names and
// defaults).
func loraFlags(fs *flag.FlagSet, l *train.LoRAConfig) {
	fs.IntVar(&l.R, "lora-r", 0, "train a LoRA adapter of this rank instead of the full model (0: full fine-tuning)")
	fs.Float64Var(&l.Alpha, "lora-alpha", train.DefaultLoRAAlpha, "LoRA alpha: the update is scaled by alpha/r (alpha/sqrt(r) with --use-rslora)")
	fs.Float64Var(&l.Dropout, "lora-dropout", 0, "LoRA dropout (only 0 is implemented)")
	fs.StringVar(&l.Target, "lora-target", "", "target modules, comma-separated (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; GPT-2 c_attn,c_proj,c_fc) or all-linear; default PEFT's: q_proj,v_proj (GPT-2: c_attn)")
	fs.BoolVar(&l.RSLoRA, "use-rslora", false, "rank-stabilised LoRA: scale alpha/sqrt(r)")
	fs.StringVar(&l.Adapter, "adapter", "", "start from this PEFT adapter `DIR` (its r, alpha and targets apply; --model is its base)")
	fs.BoolVar(&l.Merge, "merge-lora", false, "also write the merged full model (base + adapter) to DIR/merged")
}
