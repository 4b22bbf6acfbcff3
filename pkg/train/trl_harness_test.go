package train_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// tinyLlamaConfig is the transformers config of the random Llama the TRL
// oracle tests train (byte vocabulary plus bos/eos).
func tinyLlamaConfig() map[string]any {
	return map[string]any{
		"model_type": "llama", "vocab_size": 259, "hidden_size": 32, "intermediate_size": 64,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
		"hidden_act": "silu", "tie_word_embeddings": false, "initializer_range": 0.2,
		"bos_token_id": 256, "eos_token_id": 257,
	}
}

// runTRL runs tools/oracle/trl_train.py once for every case (one Python
// process): a model made from modelConfig with initSeed, trained on the
// pairs ps in the order perm. It returns the output directory (one
// subdirectory per case) and the directory of the initial model.
func runTRL(t *testing.T, py, dir string, modelConfig map[string]any, initSeed int, ps []synthPair, perm []int, cases any) (trlDir, modelDir string) {
	t.Helper()
	start := time.Now()
	var pyPairs []map[string][]int32
	for _, i := range perm {
		p := ps[i]
		pyPairs = append(pyPairs, map[string][]int32{"prompt_ids": p.prompt, "chosen_ids": p.chosen, "rejected_ids": p.rejected})
	}
	spec := map[string]any{"model_config": modelConfig, "init_seed": initSeed, "pairs": pyPairs, "cases": cases}
	specPath := filepath.Join(dir, "spec.json")
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	trlDir = filepath.Join(dir, "trl")
	if out, err := exec.Command(py, testrefs.OracleScript("trl_train.py"), specPath, trlDir).CombinedOutput(); err != nil {
		t.Fatalf("trl_train.py: %v\n%s", err, out)
	}
	t.Logf("TRL: ran in %v", time.Since(start).Round(time.Second))
	return trlDir, filepath.Join(trlDir, "model")
}

// trlLog is a case's log.json written by trl_train.py.
type trlLog struct {
	History []map[string]any `json:"log_history"`
	RefC    []float64        `json:"ref_chosen_logps"`
	RefR    []float64        `json:"ref_rejected_logps"`
	Eval    map[string]any   `json:"eval"`
}

// readTRLLog reads case name's log and returns it with the reference
// log-probs TRL computed, indexed like the pairs (undoing perm).
func readTRLLog(t *testing.T, trlDir, name string, perm []int) (trlLog, [][2]float64) {
	t.Helper()
	var l trlLog
	readJSON(t, filepath.Join(trlDir, name, "log.json"), &l)
	refs := make([][2]float64, len(perm))
	for k, i := range perm {
		refs[i] = [2]float64{l.RefC[k], l.RefR[k]}
	}
	return l, refs
}

// trainLogs returns the entries of TRL's log history with a training loss.
func (l trlLog) trainLogs() []map[string]any {
	var out []map[string]any
	for _, h := range l.History {
		if _, ok := h["loss"]; ok {
			out = append(out, h)
		}
	}
	return out
}
