package train

import (
	"errors"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
)

func TestRouterAuxCoef(t *testing.T) {
	moe := &model.Config{Arch: model.ArchQwen3Moe, MoE: model.MoE{RouterAuxLossCoef: 0.001}}
	llama := &model.Config{Arch: model.ArchLlama}
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name    string
		flag    *float64
		cfg     *model.Config
		want    float64
		wantErr bool
	}{
		{"moe default is the config's", nil, moe, 0.001, false},
		{"moe flag wins", f(0.3), moe, 0.3, false},
		{"moe flag 0 turns it off", f(0), moe, 0, false},
		{"dense default off", nil, llama, 0, false},
		{"dense 0 accepted", f(0), llama, 0, false},
		{"dense non-zero refused", f(0.1), llama, 0, true},
		{"negative refused", f(-1), moe, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.RouterAuxLossCoef = tt.flag
			got, err := c.routerAuxCoef(tt.cfg)
			var ce *ConfigError
			if tt.wantErr != (err != nil) || (err != nil && !errors.As(err, &ce)) {
				t.Fatalf("err %v, want a ConfigError: %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("coef %v, want %v", got, tt.want)
			}
		})
	}
}
