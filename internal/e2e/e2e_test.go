package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/arrowio"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dpo-e2e-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/...")
	cmd.Dir = testrefs.Root()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building the tools: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sh runs a shell pipeline with the tools on PATH, in dir.
func sh(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "-o", "pipefail", "-ec", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s\n%v\nstderr:\n%s", script, err, stderr.String())
	}
	return string(out)
}

const tinyConfig = `{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "vocab_size": 259, "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
  "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
  "hidden_act": "silu", "tie_word_embeddings": true, "initializer_range": 0.02,
  "bos_token_id": 256, "eos_token_id": 257, "pad_token_id": 258, "torch_dtype": "float32"
}`

func TestPipeline(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs bash")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tinyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(testrefs.Root(), "examples", "sort", "train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")[:256]
	if err := os.WriteFile(filepath.Join(dir, "pairs.jsonl"), []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	// The reference: a little SFT from random initialisation, through a pipe.
	sh(t, dir, `dpo-tokenize --tokenizer builtin:bytes -q pairs.jsonl | tee pairs.arrow \
		| dpo-train --init-config config.json --seed 1 --loss sft --lr 1e-2 --epochs 2 --batch-size 32 -q --out sft -`)
	// Reference log-probs, DPO and scoring, chained through pipes.
	sh(t, dir, `dpo-tokenize --tokenizer builtin:bytes -q < pairs.jsonl | dpo-reflogp --model sft -q | tee ref.arrow \
		| dpo-train --model sft --loss sigmoid --beta 0.5 --lr 5e-3 --epochs 3 --batch-size 32 -q --out dpo -`)
	sh(t, dir, `dpo-score --policy sft --summary before.json -q < ref.arrow > before.arrow
		dpo-score --policy dpo --summary after.json -q ref.arrow > after.arrow`)

	cols := readColumns(t, filepath.Join(dir, "after.arrow"), 256)
	want := "id,prompt_input_ids,chosen_input_ids,rejected_input_ids,ref_chosen_logps,ref_rejected_logps,policy_chosen_logps,policy_rejected_logps,reward_chosen,reward_rejected,reward_margin,correct"
	if cols != want {
		t.Errorf("columns\n %s\nwant\n %s", cols, want)
	}
	if cols := readColumns(t, filepath.Join(dir, "pairs.arrow"), 256); cols != "id,prompt_input_ids,chosen_input_ids,rejected_input_ids" {
		t.Errorf("tokenized columns %s", cols)
	}
	before, after := summary(t, filepath.Join(dir, "before.json")), summary(t, filepath.Join(dir, "after.json"))
	if before.Accuracy != 0.5 || before.Pairs != 256 {
		t.Errorf("before DPO: %+v (want accuracy exactly 0.5: the policy is the reference)", before)
	}
	if after.Accuracy < 0.6 || after.Margin <= 0 {
		t.Errorf("training-pair reward accuracy did not rise: before %.3f, after %.3f (margin %.4f)", before.Accuracy, after.Accuracy, after.Margin)
	}
	t.Logf("training pairs: reward accuracy %.3f -> %.3f, margin %.4f", before.Accuracy, after.Accuracy, after.Margin)
	// The trained policy is a Hugging Face checkpoint with its dpo.json.
	for _, f := range []string{"config.json", "model.safetensors", "dpo.json", "metrics.jsonl", "plot.png"} {
		if _, err := os.Stat(filepath.Join(dir, "dpo", f)); err != nil {
			t.Errorf("dpo-train output: %v", err)
		}
	}
}

func readColumns(t *testing.T, path string, wantRows int64) string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.Open(path, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	for r.Next() {
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if r.Rows() != wantRows {
		t.Errorf("%s: %d rows, want %d", path, r.Rows(), wantRows)
	}
	var names []string
	for _, f := range r.Schema().Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ",")
}

type scoreSummary struct {
	Pairs    int64
	Accuracy float64
	Margin   float64 `json:"mean_margin"`
}

func summary(t *testing.T, path string) scoreSummary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s scoreSummary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}
