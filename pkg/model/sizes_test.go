package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Oversized config fields are refused naming the field, before anything is
// allocated from them (hidden_size 2^40 panicked in makeslice;
// num_hidden_layers 2^40 allocated until the process was killed).
func TestConfigSizeBounds(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "..", "examples", "sort", "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field string
		value any
		want  string
	}{
		{"hidden_size", int64(1) << 40, "hidden_size"},
		{"num_hidden_layers", int64(1) << 40, "num_hidden_layers"},
		{"vocab_size", int64(1) << 40, "vocab_size"},
		{"intermediate_size", int64(1) << 40, "intermediate_size"},
		{"max_position_embeddings", int64(1) << 40, "max_position_embeddings"},
		// Each size within its bound, the product not.
		{"", nil, "parameters"},
	} {
		var m map[string]any
		if err := json.Unmarshal(base, &m); err != nil {
			t.Fatal(err)
		}
		if c.field != "" {
			m[c.field] = c.value
		} else {
			m["hidden_size"], m["intermediate_size"], m["num_hidden_layers"], m["vocab_size"] = 1<<17, 1<<20, 1<<12, 1<<10
			m["num_attention_heads"], m["num_key_value_heads"], m["head_dim"] = 1<<10, 1<<10, 128
		}
		b, _ := json.Marshal(m)
		_, err := ParseConfig(b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s = %v: err %v, want one naming %q", c.field, c.value, err, c.want)
		}
	}
	cfg, err := ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range ParamSpecs(cfg) {
		k := 1
		for _, d := range s.Shape {
			k *= d
		}
		n += k
	}
	if est := cfg.ParamEstimate(); est < 0.97*float64(n) || est > 1.03*float64(n) {
		t.Errorf("ParamEstimate %g, ParamSpecs count %d", est, n)
	}
}
