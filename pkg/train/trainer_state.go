package train

import (
	"encoding/json"
	"math"

	"github.com/dpo-go/dpo/pkg/dpo"
)

// trainerState is trainer_state.json. It is written in the layout of
// transformers' Trainer (TrainerState.save_to_json: global_step, epoch,
// max_steps, log_history, best_metric, best_model_checkpoint, ...), so
// that tools reading HF checkpoints work; what dpo-train needs to resume
// sits under "dpo_train".
type trainerState struct {
	Step       int
	TotalSteps int
	Epoch      int // epoch of the last step done
	Index      int // position after it in that epoch's shuffled order
	Seed       int64
	NumRows    int
	BCO        dpo.RunningMoments
	DType      string
	Objective  string
	NumTokens  int64

	// Written only (transformers' fields).
	epochFloat float64
	history    []map[string]any
	logging    int
	save       int
	eval       int
	epochs     int
	batchSize  int
}

// resumeFields are dpo-train's own fields (the layout before the
// transformers one had them at the top level, which readState accepts).
type resumeFields struct {
	Step       int                `json:"global_step"`
	TotalSteps int                `json:"max_steps"`
	Epoch      int                `json:"epoch_index"`
	Index      int                `json:"index"`
	Seed       int64              `json:"seed"`
	NumRows    int                `json:"num_rows"`
	BCO        dpo.RunningMoments `json:"bco_running_moments"`
	DType      string             `json:"export_dtype"`
	Objective  string             `json:"objective"`
	NumTokens  int64              `json:"num_tokens"`
}

// hfTrainerState mirrors transformers 5's TrainerState JSON.
type hfTrainerState struct {
	BestGlobalStep      *int             `json:"best_global_step"`
	BestMetric          *float64         `json:"best_metric"`
	BestModelCheckpoint *string          `json:"best_model_checkpoint"`
	Epoch               float64          `json:"epoch"`
	EvalSteps           int              `json:"eval_steps"`
	GlobalStep          int              `json:"global_step"`
	IsHyperParamSearch  bool             `json:"is_hyper_param_search"`
	IsLocalProcessZero  bool             `json:"is_local_process_zero"`
	IsWorldProcessZero  bool             `json:"is_world_process_zero"`
	LogHistory          []map[string]any `json:"log_history"`
	LoggingSteps        int              `json:"logging_steps"`
	MaxSteps            int              `json:"max_steps"`
	NumInputTokensSeen  int64            `json:"num_input_tokens_seen"`
	NumTrainEpochs      int              `json:"num_train_epochs"`
	SaveSteps           int              `json:"save_steps"`
	StatefulCallbacks   map[string]any   `json:"stateful_callbacks"`
	TotalFlos           float64          `json:"total_flos"`
	TrainBatchSize      int              `json:"train_batch_size"`
	TrialName           *string          `json:"trial_name"`
	TrialParams         map[string]any   `json:"trial_params"`
	DPOTrain            *resumeFields    `json:"dpo_train"`
}

func (s trainerState) MarshalJSON() ([]byte, error) {
	hist := s.history
	if hist == nil {
		hist = []map[string]any{}
	}
	return json.Marshal(hfTrainerState{
		Epoch: s.epochFloat, EvalSteps: s.eval, GlobalStep: s.Step,
		IsLocalProcessZero: true, IsWorldProcessZero: true,
		LogHistory: hist, LoggingSteps: s.logging, MaxSteps: s.TotalSteps,
		NumTrainEpochs: s.epochs, SaveSteps: s.save, StatefulCallbacks: map[string]any{},
		TrainBatchSize: s.batchSize,
		DPOTrain:       &resumeFields{s.Step, s.TotalSteps, s.Epoch, s.Index, s.Seed, s.NumRows, s.BCO, s.DType, s.Objective, s.NumTokens},
	})
}

func (s *trainerState) UnmarshalJSON(b []byte) error {
	var hf struct {
		DPOTrain *resumeFields `json:"dpo_train"`
	}
	if err := json.Unmarshal(b, &hf); err != nil {
		return err
	}
	f := hf.DPOTrain
	if f == nil { // the earlier flat layout
		f = new(resumeFields)
		if err := json.Unmarshal(b, f); err != nil {
			return err
		}
	}
	*s = trainerState{Step: f.Step, TotalSteps: f.TotalSteps, Epoch: f.Epoch, Index: f.Index, Seed: f.Seed,
		NumRows: f.NumRows, BCO: f.BCO, DType: f.DType, Objective: f.Objective, NumTokens: f.NumTokens}
	return nil
}

// trainerState returns the state after step (1-based), with the metrics
// logged so far as log_history.
func (r *runner) trainerState(step int) trainerState {
	sp := r.plan[step-1]
	var hist []map[string]any
	for _, rec := range r.history {
		if s, ok := rec["step"].(float64); ok && int(s) <= step {
			hist = append(hist, rec)
		}
	}
	return trainerState{Step: step, TotalSteps: len(r.plan), Epoch: sp.epoch, Index: sp.end, Seed: r.c.Seed,
		NumRows: r.train.len(), BCO: r.bco, DType: string(r.dtype), Objective: r.obj.String(), NumTokens: r.numTokens,
		epochFloat: sp.epochFloat(),
		history:    hist, logging: r.c.LoggingSteps, save: r.c.SaveSteps, eval: r.c.EvalSteps,
		epochs: int(math.Ceil(r.c.Epochs)), batchSize: r.c.BatchSize * r.c.devices()}
}
