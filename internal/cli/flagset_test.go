package cli

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/train"
)

// TestUnknownFlagEveryTool: a mistyped flag is one line on stderr naming
// the nearest flag (ours or TRL's spelling), exit 2, no usage.
func TestUnknownFlagEveryTool(t *testing.T) {
	for _, tt := range []struct{ tool, typo, want string }{
		{toolTrain, "--lerning-rate", "--learning-rate"},
		{toolTrain, "--lerning_rate", "--learning_rate"},
		{toolTrain, "--bta", "--beta"},
		{toolTokenize, "--max-lenght", "--max-length"},
		{toolReflogp, "--modle", "--model"},
		{toolScore, "--polcy", "--policy"},
		{toolSample, "--temperture", "--temperature"},
	} {
		var stdout, stderr bytes.Buffer
		code := runMain(t.Context(), tools()[tt.tool], []string{tt.typo, "x"}, strings.NewReader(""), &stdout, &stderr)
		want := "unknown flag " + tt.typo + "; did you mean " + tt.want + "? (" + tt.tool + " -h lists all flags)\n"
		if code != 2 || stderr.String() != want || stdout.Len() > 0 {
			t.Errorf("%s %s: exit %d, stderr %q, want %q", tt.tool, tt.typo, code, stderr.String(), want)
		}
	}
	var stderr bytes.Buffer
	if code := runMain(t.Context(), Train, []string{"--zzzzzzzz"}, strings.NewReader(""), io.Discard, &stderr); code != 2 || strings.Contains(stderr.String(), "did you mean") {
		t.Errorf("no near flag: exit %d, %q", code, stderr.String())
	}
}

// TestTRLAliases: TRL's spellings set our flags, and -h shows both.
func TestTRLAliases(t *testing.T) {
	out := t.TempDir()
	want, _, err := parseTrain([]string{"--model", "m", "--out", out, "--lr", "2e-5", "--batch-size", "4", "--epochs", "1.5",
		"--grad-accum", "2", "--beta", "0.2", "--loss", "ipo", "--lr-scheduler", "cosine", "--warmup-ratio", "0.1", "a.arrow"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--model_name_or_path", "m", "--output_dir", out, "--learning_rate", "2e-5", "--per_device_train_batch_size", "4",
			"--num_train_epochs", "1.5", "--gradient_accumulation_steps", "2", "--beta", "0.2", "--loss_type", "ipo",
			"--lr_scheduler_type", "cosine", "--warmup_steps", "0.1", "--max_steps", "-1", "a.arrow"},
		{"--model-name-or-path", "m", "--output-dir", out, "--learning-rate", "2e-5", "--per-device-train-batch-size", "4",
			"--num-train-epochs", "1.5", "--gradient-accumulation-steps=2", "--beta", "0.2", "--loss-type", "ipo",
			"--lr-scheduler-type", "cosine", "--warmup_ratio", "0.1", "a.arrow"},
	} {
		got, _, err := parseTrain(args, io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if got.LR != want.LR || got.BatchSize != want.BatchSize || got.Epochs != want.Epochs || got.GradAccum != want.GradAccum ||
			got.Beta != want.Beta || got.Loss != want.Loss || got.Scheduler != want.Scheduler || got.WarmupRatio != want.WarmupRatio ||
			got.Model != want.Model || got.Out != want.Out || got.MaxSteps != 0 {
			t.Errorf("%v:\n got %+v\nwant %+v", args, got, want)
		}
	}
	var help bytes.Buffer
	runMain(t.Context(), Train, []string{"-h"}, strings.NewReader(""), &help, io.Discard)
	for _, s := range []string{"-lr float  (TRL: --learning_rate)", "-batch-size int  (TRL: --per_device_train_batch_size)", "-loss string  (TRL: --loss_type)"} {
		if !strings.Contains(help.String(), s) {
			t.Errorf("-h lacks %q", s)
		}
	}
	if strings.Contains(help.String(), "\n  -learning_rate") {
		t.Error("-h lists an alias as a flag of its own")
	}
}

// trlYAML is a TRL DPO YAML as TRL's examples write them.
const trlYAML = `model_name_or_path: MODEL
dataset_name: trl-lib/ultrafeedback_binarized
output_dir: OUT
learning_rate: 5.0e-7
num_train_epochs: 0.5
per_device_train_batch_size: 2
per_device_eval_batch_size: 4
gradient_accumulation_steps: 8
gradient_checkpointing: true
loss_type: [sigmoid, bco_pair]
loss_weights: [0.8, 0.2]
beta: 0.05
max_length: 512
truncation_mode: keep_end
lr_scheduler_type: cosine_with_min_lr
lr_scheduler_kwargs: {min_lr_rate: 0.1}
warmup_steps: 0.1
logging_steps: 25
eval_strategy: steps
eval_steps: 50
save_strategy: steps
save_steps: 100
save_total_limit: 2
precompute_ref_log_probs: true
use_peft: true
lora_r: 32
lora_alpha: 16
lora_target_modules: [q_proj, v_proj]
run_name: dpo-qwen
optim: adamw_torch_fused
padding_free: false
disable_dropout: true
dtype: bfloat16
dataset_num_proc: 8
push_to_hub: true
report_to: [tensorboard]
resume_from_checkpoint: null
weight_decay: 0.01
max_grad_norm: 0.5
adam_beta2: 0.98
seed: 3
bf16: true
`

// TestTRLConfigEveryTool: one TRL YAML drives every tool: each applies
// its keys, notes those without effect that it owns, and passes over the
// others silently.
func TestTRLConfigEveryTool(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	path := writeConfig(t, "dpo.yaml", strings.NewReplacer("MODEL", "m", "OUT", out).Replace(trlYAML))
	var stderr bytes.Buffer
	c, _, err := parseTrain([]string{"--config", path, "a.arrow"}, io.Discard, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	rate := 0.1
	if c.Model != "m" || c.Out != out || c.LR != 5e-7 || c.Epochs != 0.5 || c.BatchSize != 2 || c.GradAccum != 8 ||
		!c.GradCheckpointing || c.Loss != "sigmoid,bco_pair" || len(c.LossWeights) != 2 || c.Beta != 0.05 ||
		c.Scheduler != train.SchedCosineMinLR || c.SchedulerKwargs.MinLRRate == nil || *c.SchedulerKwargs.MinLRRate != rate ||
		c.WarmupRatio != 0.1 || c.WarmupSteps != 0 || c.LoggingSteps != 25 || c.EvalSteps != 50 || c.SaveSteps != 100 ||
		c.SaveTotalLimit != 2 || c.LoRA.R != 32 || c.LoRA.Alpha != 16 || c.LoRA.Dropout != 0.05 || c.LoRA.Target != "q_proj,v_proj" ||
		c.ReportTo != "tensorboard" || c.WeightDecay != 0.01 || c.MaxGradNorm != 0.5 || c.AdamBeta2 != 0.98 || c.Seed != 3 || !c.BF16 {
		t.Errorf("dpo-train applied %+v", c)
	}
	for _, note := range []string{"per_device_eval_batch_size", "run_name", "dtype bfloat16", "push_to_hub"} {
		if !strings.Contains(stderr.String(), "dpo-train: note: "+note) {
			t.Errorf("dpo-train: no note on %s:\n%s", note, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "dataset_name") || strings.Count(stderr.String(), "\n") != 4 {
		t.Errorf("dpo-train notes:\n%s", stderr.String())
	}
	// -q silences the notes.
	stderr.Reset()
	if _, _, err := parseTrain([]string{"--config", path, "-q", "a.arrow"}, io.Discard, &stderr); err != nil || stderr.Len() > 0 {
		t.Errorf("-q: %v, %q", err, stderr.String())
	}
	// dpo-tokenize: max_length, truncation_mode, model_name_or_path (its
	// tokenizer), seed; notes on dataset_name and dataset_num_proc.
	stderr.Reset()
	err = Tokenize(t.Context(), []string{"--config", path, filepath.Join(dir, "none.jsonl")}, strings.NewReader(""), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "tokenizer: ") || !strings.Contains(err.Error(), "m") {
		t.Errorf("dpo-tokenize: %v", err)
	}
	if s := stderr.String(); !strings.Contains(s, "dpo-tokenize: note: dataset_name") || !strings.Contains(s, "dpo-tokenize: note: dataset_num_proc") || strings.Contains(s, "push_to_hub") {
		t.Errorf("dpo-tokenize notes:\n%s", s)
	}
	for _, tool := range []string{toolReflogp, toolScore, toolSample} {
		stderr.Reset()
		err := tools()[tool](t.Context(), []string{"--config", path, filepath.Join(dir, "none")}, strings.NewReader(""), io.Discard, &stderr)
		if err != nil && strings.Contains(err.Error(), "--config") || strings.Contains(stderr.String(), "note") {
			t.Errorf("%s: %v\n%s", tool, err, stderr.String())
		}
	}
}

// TestTRLConfigRefusedAndUnknown: what cannot be honoured is refused with
// a reason; every unknown key is reported at once, with suggestions.
func TestTRLConfigRefusedAndUnknown(t *testing.T) {
	path := writeConfig(t, "bad.yaml", "optim: sgd\nfp16: true\nlerning_rate: 1\nper_device_train_batchsize: 2\nzzzzzzzzz: 1\nlr: 2\n")
	_, _, err := parseTrain([]string{"--config", path, "--out", "o", "--model", "m", "a.arrow"}, io.Discard, io.Discard)
	if ExitCode(err) != 2 {
		t.Fatalf("%v", err)
	}
	for _, want := range []string{
		`key "optim": refused: sgd: dpo-train's optimizer is AdamW`,
		`key "fp16": refused: true:`,
		`key "lerning_rate": unknown key; did you mean learning_rate?`,
		`key "per_device_train_batchsize": unknown key; did you mean per_device_train_batch_size?`,
		`key "zzzzzzzzz": unknown key: no flag`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// dpo-tokenize passes over dpo-train's keys, refusals included.
	err = Tokenize(t.Context(), []string{"--config", path, "--tokenizer", "builtin:bytes", "none.jsonl"}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || strings.Contains(err.Error(), "optim") || !strings.Contains(err.Error(), "zzzzzzzzz") || strings.Contains(err.Error(), `"lr"`) {
		t.Errorf("dpo-tokenize: %v", err)
	}
}

// TestCompletion: `TOOL completion SHELL` prints a script holding every
// flag in both spellings; bash -n (and zsh -n, fish -n where installed)
// accept it.
func TestCompletion(t *testing.T) {
	for name, run := range tools() {
		for _, shell := range completionShells {
			var stdout, stderr bytes.Buffer
			if code := runMain(t.Context(), run, []string{"completion", shell}, strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("%s completion %s: exit %d: %s", name, shell, code, stderr.String())
			}
			script := stdout.String()
			want := []string{"config", "version", "q"}
			if name == toolTrain {
				want = append(want, "lr", "learning_rate", "learning-rate", "batch-size", "per_device_train_batch_size")
			}
			for _, f := range want {
				if shell == "fish" && !strings.Contains(script, " -l "+f+" ") || shell != "fish" && !strings.Contains(script, "--"+f+" ") {
					t.Errorf("%s completion %s lacks --%s", name, shell, f)
				}
			}
			sh, err := exec.LookPath(shell)
			if err != nil {
				if shell == "bash" {
					t.Fatal(err)
				}
				continue
			}
			f := filepath.Join(t.TempDir(), "c."+shell)
			if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(sh, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n on %s's script: %v\n%s", shell, name, err, out)
			}
		}
		if code := runMain(t.Context(), run, []string{"completion", "tcsh"}, strings.NewReader(""), io.Discard, io.Discard); code != 2 {
			t.Errorf("%s completion tcsh: exit %d", name, code)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"modle", "model", 1}, {"lerning-rate", "learning-rate", 1}, {"abc", "", 3}, {"kitten", "sitting", 3}} {
		if got := editDistance(tt.a, tt.b); got != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}

// TestCodecCheckedAtParse: a bad --codec is a usage error (exit 2) when
// the flags are read, before any input is opened or model loaded; a good
// one is accepted and shown with its default in -h.
func TestCodecCheckedAtParse(t *testing.T) {
	for _, tool := range []string{toolTokenize, toolReflogp, toolSample} {
		var stderr bytes.Buffer
		code := runMain(t.Context(), tools()[tool], []string{"--codec", "gzip", "/nonexistent/input.jsonl"}, strings.NewReader(""), io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), `invalid value "gzip" for flag -codec: want zstd, lz4 or none`) || strings.Contains(stderr.String(), "nonexistent") {
			t.Errorf("%s --codec gzip: exit %d, %q", tool, code, stderr.String())
		}
		var stdout bytes.Buffer
		if code := runMain(t.Context(), tools()[tool], []string{"-h"}, strings.NewReader(""), &stdout, io.Discard); code != 0 || !strings.Contains(stdout.String(), `zstd, lz4, none (default "zstd")`) {
			t.Errorf("%s -h: exit %d, codec line missing:\n%s", tool, code, stdout.String())
		}
	}
	fs, f := newTokenizeFlags(io.Discard)
	if err := parse(fs, []string{"--codec", "lz4", "x"}); err != nil || f.codec != "lz4" {
		t.Errorf("--codec lz4: %v, codec %q", err, f.codec)
	}
	if fs, f := newTokenizeFlags(io.Discard); parse(fs, []string{"x"}) != nil || f.codec != "zstd" {
		t.Errorf("default codec %q", f.codec)
	}
}
