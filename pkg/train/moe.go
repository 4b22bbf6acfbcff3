package train

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"

	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
)

// AuxLossMetric is the metrics key of the MoE router's load-balancing loss
// (TRL's DPOTrainer logs it as "aux_loss").
const AuxLossMetric = "aux_loss"

// routerAuxCoef returns the weight of the MoE router's load-balancing loss
// in the training loss, as TRL 1.16's DPOTrainer decides it: the
// --router-aux-loss-coef when given, else the model config's
// router_aux_loss_coef; 0 turns it off. TRL adds it for every model whose
// config has output_router_logits (whatever its value), that is every
// Qwen3-MoE, and refuses a non-zero coefficient for other models.
func (c *Config) routerAuxCoef(cfg *model.Config) (float64, error) {
	moe := cfg.Arch == model.ArchQwen3Moe
	if c.RouterAuxLossCoef == nil {
		if !moe {
			return 0, nil
		}
		return cfg.MoE.RouterAuxLossCoef, nil
	}
	coef := *c.RouterAuxLossCoef
	if !(coef >= 0) {
		return 0, &ConfigError{Err: fmt.Errorf("--router-aux-loss-coef %v: must be >= 0", coef)}
	}
	if coef != 0 && !moe {
		return 0, &ConfigError{Err: fmt.Errorf("--router-aux-loss-coef %v: %s is not a mixture-of-experts model, so there is no router loss to weight (TRL refuses it too)", coef, cfg.Arch)}
	}
	return coef, nil
}

// withAuxLoss adds scale·coef·aux to the micro-batch's loss (scale: its
// weight in the step) and returns the new loss and the aux loss (0 when
// off), from the router statistics of the same forward (st.AuxLoss: over
// every real token of the chosen and rejected rows, as TRL's one forward
// over the concatenated batch).
func (o *optimizer) withAuxLoss(st engine.TokenStats, loss, scale *graph.Node) (*graph.Node, *graph.Node) {
	if o.auxCoef == 0 || st.AuxLoss == nil {
		return loss, graph.ScalarZero(loss.Graph(), dtypes.Float32)
	}
	return graph.Add(loss, graph.Mul(graph.MulScalar(st.AuxLoss, o.auxCoef), scale)), st.AuxLoss
}
