package train

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestTrainerStateLayout(t *testing.T) {
	st := trainerState{Step: 4, TotalSteps: 9, Epoch: 1, Index: 6, Seed: 3, NumRows: 8, DType: "F32",
		Objective: "sigmoid=1", NumTokens: 120, epochFloat: 1.75, logging: 1,
		history: []map[string]any{{"step": 1.0, "loss": 0.7}}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// The top-level fields of transformers 5's TrainerState.save_to_json.
	for _, k := range []string{"best_global_step", "best_metric", "best_model_checkpoint", "epoch", "eval_steps",
		"global_step", "is_hyper_param_search", "is_local_process_zero", "is_world_process_zero", "log_history",
		"logging_steps", "max_steps", "num_input_tokens_seen", "num_train_epochs", "save_steps",
		"stateful_callbacks", "total_flos", "train_batch_size", "trial_name", "trial_params"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	if m["global_step"] != 4.0 || m["max_steps"] != 9.0 || m["epoch"] != 1.75 {
		t.Errorf("global_step/max_steps/epoch = %v/%v/%v", m["global_step"], m["max_steps"], m["epoch"])
	}
	var back trainerState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	want := trainerState{Step: 4, TotalSteps: 9, Epoch: 1, Index: 6, Seed: 3, NumRows: 8, DType: "F32", Objective: "sigmoid=1", NumTokens: 120}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("round trip: got %+v, want %+v", back, want)
	}
	// The earlier flat layout still resumes.
	old := `{"global_step":2,"max_steps":5,"epoch_index":0,"index":4,"seed":42,"num_rows":8,"bco_running_moments":{"Mean":0.5,"Var":1,"Std":1,"Count":2},"export_dtype":"BF16","objective":"ipo=1"}`
	var o trainerState
	if err := json.Unmarshal([]byte(old), &o); err != nil {
		t.Fatal(err)
	}
	if o.Step != 2 || o.TotalSteps != 5 || o.Index != 4 || o.BCO.Mean != 0.5 || o.DType != "BF16" || o.Objective != "ipo=1" {
		t.Errorf("old layout: got %+v", o)
	}
}
