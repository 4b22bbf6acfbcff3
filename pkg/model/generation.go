package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// GenerationEOS returns the ids generation stops at: cfg's eos_token_id
// (one or a list) and the eos_token_id of dir's generation_config.json,
// when there is one (transformers' generate stops at any of them), each
// once, in that order.
func GenerationEOS(dir string, cfg *Config) ([]int32, error) {
	var ids []int32
	add := func(id int) {
		if id >= 0 && !slices.Contains(ids, int32(id)) {
			ids = append(ids, int32(id))
		}
	}
	for _, id := range cfg.EOSTokenIDs {
		add(id)
	}
	path := filepath.Join(dir, "generation_config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ids, nil
	}
	if err != nil {
		return nil, err
	}
	var gc struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(b, &gc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var one int
	var many []int
	switch {
	case len(gc.EOS) == 0 || string(gc.EOS) == "null":
	case json.Unmarshal(gc.EOS, &one) == nil:
		add(one)
	case json.Unmarshal(gc.EOS, &many) == nil:
		for _, id := range many {
			add(id)
		}
	default:
		return nil, fmt.Errorf("%s: field eos_token_id: want an integer or a list of integers, got %s", path, gc.EOS)
	}
	return ids, nil
}
