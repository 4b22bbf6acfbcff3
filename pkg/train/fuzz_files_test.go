package train

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCheckpointFiles reads arbitrary train_config.json, trainer_state.json
// and run_identity.json from a checkpoint directory, as --resume does:
// errors are fine, panics are not.
func FuzzCheckpointFiles(f *testing.F) {
	c := DefaultConfig()
	c.Out, c.Model = "out", "base"
	cfg, _ := json.Marshal(c)
	st, _ := json.Marshal(trainerState{Step: 3, TotalSteps: 6, Epoch: 1, Index: 4, Seed: 42, NumRows: 10, DType: "F32", Objective: "sigmoid"})
	id, _ := json.Marshal(runIdentity{ConfigSHA256: "ab", Model: "sha256:cd", Data: dataIdentity{Rows: 10, TokenizerSHA256: "ef", ContentCRC32C: "01234567"}})
	f.Add(cfg, st, id)
	f.Add([]byte(`{"learning_rate":"1e-6","num_train_epochs":-1}`), []byte(`{"global_step":-5,"num_rows":1e300}`), []byte(`{"data":null}`))
	f.Add([]byte(`null`), []byte(`[]`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, cfgJSON, stateJSON, idJSON []byte) {
		dir := t.TempDir()
		for name, b := range map[string][]byte{TrainConfigFile: cfgJSON, TrainerFile: stateJSON, IdentityFile: idJSON} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if prev, err := readConfig(dir); err == nil {
			_ = prev.Validate()
			if _, err := json.Marshal(prev.determinism()); err != nil {
				// NaN cannot come from JSON; anything else must marshal.
				t.Fatalf("determinism of a parsed config: %v", err)
			}
		}
		var st trainerState
		_ = json.Unmarshal(stateJSON, &st)
		r := &runner{c: &c, log: io.Discard}
		_ = r.checkResumeIdentity(dir, runIdentity{Data: dataIdentity{Rows: 10}})
	})
}
