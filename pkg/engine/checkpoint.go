package engine

import (
	"fmt"

	"github.com/dpo-go/dpo/pkg/model"
)

// LoadModel puts a checkpoint's weights into a new model (see LoadWeights).
// The model keeps its own float32 copy: ck may be closed afterwards.
func (e *Engine) LoadModel(ck *model.Checkpoint) (*Model, error) {
	if ck == nil {
		return nil, fmt.Errorf("engine: LoadModel: nil checkpoint")
	}
	m, err := e.LoadWeights(ck.Config, ck.Tensors)
	if err != nil && ck.Dir != "" {
		return nil, fmt.Errorf("loading %s: %w", ck.Dir, err)
	}
	return m, err
}
