package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

func runTrain(args ...string) (stderr string, err error) {
	var out, errb bytes.Buffer
	err = Train(context.Background(), args, strings.NewReader(""), &out, &errb)
	return errb.String(), err
}

func writeBytes(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTrainEndToEnd runs dpo-tokenize | dpo-reflogp | dpo-train in
// process and checks what --out holds: the final HF checkpoint at the
// top, checkpoints with training state, dpo.json, tokenizer identity,
// metrics with TRL's names, the plot, and the nanoGPT-style log lines.
func TestTrainEndToEnd(t *testing.T) {
	base := randomModel(t, 11)
	dir := t.TempDir()
	ref := writeBytes(t, dir, "ref.arrow", refStream(t, base, 24))
	out := filepath.Join(dir, "out")
	args := []string{"--model", base, "--out", out, "--batch-size", "4", "--grad-accum", "2",
		"--lr", "1e-3", "--save-steps", "1", "--save-total-limit", "2", "--logging-steps", "1",
		"--eval", ref, "--eval-steps", "2", "--beta", "0.2", ref}
	stderr, err := runTrain(args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	checkTrainedConfig(t, filepath.Join(out, "train_config.json"), args)
	for _, f := range []string{"config.json", "model.safetensors", "dpo.json", "metrics.jsonl", "plot.png", "train_config.json",
		"checkpoint-3/model.safetensors", "checkpoint-3/train_state.safetensors", "checkpoint-3/trainer_state.json",
		"checkpoint-3/train_config.json", "checkpoint-3/dpo.json", "checkpoint-2/config.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint-1")); err == nil {
		t.Errorf("checkpoint-1 kept despite --save-total-limit 2")
	}
	m, ok, err := ckpt.Read(out)
	if err != nil || !ok {
		t.Fatalf("dpo.json: %v %v", ok, err)
	}
	if m.TokenizerSHA256 != "builtin:bytes" || m.Beta != 0.2 || m.Loss != "sigmoid=1" || m.Step != 3 {
		t.Errorf("dpo.json = %+v", m)
	}
	f, err := os.Open(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	prevCompiles := 0.0
	for sc.Scan() {
		var rec map[string]float64
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		n++
		for _, k := range []string{"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
			"logps/chosen", "logps/rejected", "grad_norm", "learning_rate", "epoch", "step", "tokens_per_second", "compiles", "compile_seconds"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("metrics line %d has no %q", n, k)
			}
		}
		if rec["compiles"] < 1 || rec["compile_seconds"] <= 0 || rec["compiles"] < prevCompiles {
			t.Errorf("metrics line %d: compiles %v, compile_seconds %v (the line before: %v compiles)", n, rec["compiles"], rec["compile_seconds"], prevCompiles)
		}
		prevCompiles = rec["compiles"]
		if _, ok := rec["eval_loss"]; ok != (n%2 == 0 || n == 3) {
			t.Errorf("metrics line %d: eval_loss present %v", n, ok)
		}
	}
	if n != 3 { // 24 pairs, 8 per step
		t.Errorf("%d metrics lines, want 3", n)
	}
	if !strings.Contains(stderr, "step 1: loss 0.6931, acc ") || !strings.Contains(stderr, " tok/s\n") {
		t.Errorf("log lines:\n%s", stderr)
	}
	// The trained model is usable as a reference model at once.
	var ref2 bytes.Buffer
	if err := Reflogp(context.Background(), []string{"--model", out, "-q"}, bytes.NewReader(tokenizeExample(t, 4)), &ref2, io.Discard); err != nil {
		t.Errorf("dpo-reflogp --model %s: %v", out, err)
	}
}

// TestTrainSFTWithoutReference: --loss sft trains from --init-config on a
// tokenized stream without reference columns.
func TestTrainSFTWithoutReference(t *testing.T) {
	dir := t.TempDir()
	pairs := writeBytes(t, dir, "pairs.arrow", tokenizeExample(t, 8))
	out := filepath.Join(dir, "sft")
	cfg := filepath.Join("..", "..", "examples", "sort", "model", "config.json")
	if stderr, err := runTrain("--init-config", cfg, "--loss", "sft", "--lr", "1e-3", "--batch-size", "4", "--out", out, "-q", pairs); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	// The sort example's sequences are built for builtin:bytes.
	if m, _, _ := ckpt.Read(out); m.TokenizerName != "builtin:bytes" || m.Loss != "sft=1" || !m.ReferenceFree {
		t.Errorf("dpo.json = %+v", m)
	}
}

func TestTrainErrors(t *testing.T) {
	base := randomModel(t, 12)
	dir := t.TempDir()
	ref := writeBytes(t, dir, "ref.arrow", refStream(t, base, 4))
	pairs := writeBytes(t, dir, "pairs.arrow", tokenizeExample(t, 4))
	notDir := writeBytes(t, dir, "file", []byte("x"))
	// A model directory with a tokenizer.json that is not builtin:bytes.
	other := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(base, f))
		if err != nil {
			t.Fatal(err)
		}
		writeBytes(t, other, f, b)
	}
	writeBytes(t, other, "tokenizer.json", []byte(`{"model":{"type":"BPE","vocab":{},"merges":[]}}`))
	// A tiny model whose vocabulary is smaller than the stream's ids.
	small := t.TempDir()
	cfgSmall := strings.Replace(string(mustRead(t, filepath.Join(base, "config.json"))), `"vocab_size": 259`, `"vocab_size": 100`, 1)
	if !strings.Contains(cfgSmall, `"vocab_size": 100`) {
		var m map[string]any
		_ = json.Unmarshal([]byte(cfgSmall), &m)
		m["vocab_size"] = 100
		b, _ := json.Marshal(m)
		cfgSmall = string(b)
	}
	smallCfg := writeBytes(t, small, "config.json", []byte(cfgSmall))
	// An empty stream.
	empty := writeBytes(t, dir, "empty.arrow", emptyStream(t))

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no out", []string{"--model", base, ref}, 2, "--out"},
		{"no model", []string{"--out", filepath.Join(dir, "o1"), ref}, 2, "--model"},
		{"both models", []string{"--model", base, "--init-config", smallCfg, "--out", filepath.Join(dir, "o2"), ref}, 2, "exclusive"},
		{"bad lr", []string{"--model", base, "--lr", "-1", "--out", filepath.Join(dir, "o3"), ref}, 2, "--lr"},
		{"bad loss", []string{"--model", base, "--loss", "nope", "--out", filepath.Join(dir, "o4"), ref}, 2, "--loss"},
		{"bad scheduler", []string{"--model", base, "--lr-scheduler", "step", "--out", filepath.Join(dir, "o5"), ref}, 2, "--lr-scheduler"},
		{"warmup both", []string{"--model", base, "--warmup-steps", "2", "--warmup-ratio", "0.1", "--out", filepath.Join(dir, "o6"), ref}, 2, "exclusive"},
		{"bad accum", []string{"--model", base, "--grad-accum", "0", "--out", filepath.Join(dir, "o7"), ref}, 2, "--grad-accum"},
		{"same input twice", []string{"--model", base, "--out", filepath.Join(dir, "o9"), ref, ref}, 2, "given twice"},
		{"no reference columns", []string{"--model", base, "--out", filepath.Join(dir, "o10"), pairs}, 1, "ref_chosen_logps"},
		{"tokenizer mismatch", []string{"--model", other, "--out", filepath.Join(dir, "o11"), ref}, 1, "--ignore-tokenizer-mismatch"},
		{"ids outside vocab", []string{"--init-config", smallCfg, "--out", filepath.Join(dir, "o12"), ref}, 1, "row 0 (id "},
		{"empty stream", []string{"--model", base, "--out", filepath.Join(dir, "o13"), empty}, 1, "no pairs"},
		{"unwritable out", []string{"--model", base, "--out", filepath.Join(notDir, "sub"), ref}, 1, "--out"},
		{"missing input", []string{"--model", base, "--out", filepath.Join(dir, "o14"), filepath.Join(dir, "nope.arrow")}, 1, "nope.arrow"},
		{"tr-dpo sync", []string{"--model", base, "--sync-ref-model", "--out", filepath.Join(dir, "o16"), ref}, 2, "precomputed"},
		{"tr-dpo alpha", []string{"--model", base, "--ref-model-mixup-alpha", "0.6", "--out", filepath.Join(dir, "o17"), ref}, 2, "TR-DPO"},
		{"loss weights count", []string{"--model", base, "--loss", "sigmoid,sft", "--loss-weights", "1", "--out", filepath.Join(dir, "o18"), ref}, 2, "1 weights for 2 loss types"},
		{"loss weights twice", []string{"--model", base, "--loss", "sigmoid=1,sft=2", "--loss-weights", "1,2", "--out", filepath.Join(dir, "o19"), ref}, 2, "already has weights"},
		{"loss weights not numbers", []string{"--model", base, "--loss", "sigmoid,sft", "--loss-weights", "1,x", "--out", filepath.Join(dir, "o20"), ref}, 2, "not a finite number"},
		{"ld alpha range", []string{"--model", base, "--ld-alpha", "1.5", "--out", filepath.Join(dir, "o21"), ref}, 2, "--ld-alpha"},
		{"ld alpha plain reference", []string{"--model", base, "--ld-alpha", "0.5", "--out", filepath.Join(dir, "o22"), ref}, 2, "plain sums"},
		{"f-divergence unknown", []string{"--model", base, "--f-divergence-type", "kl", "--out", filepath.Join(dir, "o23"), ref}, 2, "f_divergence_type"},
		{"f-divergence apo", []string{"--model", base, "--loss", "apo_zero", "--f-divergence-type", "forward_kl", "--out", filepath.Join(dir, "o24"), ref}, 2, "apo_zero"},
		{"weighting aot", []string{"--model", base, "--loss", "aot", "--use-weighting", "--out", filepath.Join(dir, "o25"), ref}, 2, "aot"},
		{"router aux on a dense model", []string{"--model", base, "--router-aux-loss-coef", "0.1", "--out", filepath.Join(dir, "o26"), ref}, 2, "not a mixture-of-experts"},
		{"non-finite", []string{"--model", base, "--lr", "1e30", "--max-grad-norm", "0", "--batch-size", "1", "--save-steps", "1", "--out", filepath.Join(dir, "o15"), ref}, 1, "step 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stderr, err := runTrain(append([]string{"-q"}, tt.args...)...)
			if code := ExitCode(err); code != tt.code {
				t.Fatalf("exit %d, want %d: %v\n%s", code, tt.code, err, stderr)
			}
			t.Logf("%v", err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
	// The tokenizer check can be overridden.
	if stderr, err := runTrain("-q", "--model", other, "--ignore-tokenizer-mismatch", "--max-steps", "1", "--out", filepath.Join(dir, "o16"), ref); err != nil {
		t.Errorf("--ignore-tokenizer-mismatch: %v\n%s", err, stderr)
	}
	// A non-finite run leaves no checkpoint of the bad step and no final model.
	if _, err := os.Stat(filepath.Join(dir, "o15", "checkpoint-2")); err == nil {
		t.Errorf("checkpoint written after the non-finite step")
	}
	if _, err := os.Stat(filepath.Join(dir, "o15", "model.safetensors")); err == nil {
		t.Errorf("final model written after the non-finite step")
	}
}

func emptyStream(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	meta := arrowio.NewMetadata("test", "dev")
	meta.SetTokenizer("builtin:bytes", "builtin:bytes")
	schema := arrowio.RefLogpsSchema(meta)
	w, err := arrowio.NewWriter(&buf, schema, arrowio.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTrainFromStdin: a piped stream is spilled once and read for every
// epoch; the result equals training from the file.
func TestTrainFromStdin(t *testing.T) {
	base := randomModel(t, 13)
	dir := t.TempDir()
	refBytes := refStream(t, base, 10)
	ref := writeBytes(t, dir, "ref.arrow", refBytes)
	args := []string{"--model", base, "--epochs", "2", "--batch-size", "4", "--lr", "1e-3", "-q"}
	fromFile := filepath.Join(dir, "file")
	if stderr, err := runTrain(append(args, "--out", fromFile, ref)...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	fromPipe := filepath.Join(dir, "pipe")
	var errb bytes.Buffer
	if err := Train(context.Background(), append(args, "--out", fromPipe, "-"), bytes.NewReader(refBytes), io.Discard, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	a, b := mustRead(t, filepath.Join(fromFile, "model.safetensors")), mustRead(t, filepath.Join(fromPipe, "model.safetensors"))
	if !bytes.Equal(a, b) {
		t.Errorf("training from stdin and from the file differ")
	}
	m, _, _ := ckpt.Read(fromPipe)
	if m.Step != 6 { // 10 pairs, 4 per step: 3 steps per epoch
		t.Errorf("dpo.json step %d, want 6", m.Step)
	}
}

// TestTrainBF16Checkpointing: --bf16 and --gradient-checkpointing run and
// are recorded in the effective configuration; the checkpoint keeps the
// base model's float32 dtype.
func TestTrainBF16Checkpointing(t *testing.T) {
	base := randomModel(t, 12)
	dir := t.TempDir()
	ref := writeBytes(t, dir, "ref.arrow", refStream(t, base, 8))
	out := filepath.Join(dir, "out")
	stderr, err := runTrain("--model", base, "--out", out, "--batch-size", "4", "--bf16", "--gradient-checkpointing", "-q", ref)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "train_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"bf16": true`, `"gradient_checkpointing": true`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("train_config.json lacks %s:\n%s", want, b)
		}
	}
	st, err := safetensors.ReadFile(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range st.Names() {
		if tt, _ := st.Tensor(name); tt.DType != safetensors.F32 {
			t.Errorf("%s saved as %s, want F32 (master weights)", name, tt.DType)
		}
	}
}
