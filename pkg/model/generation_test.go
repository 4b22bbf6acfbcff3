package model

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGenerationEOS: the config's ids, then generation_config.json's (an
// integer or a list), each once; a malformed field is an error naming the
// file and field.
func TestGenerationEOS(t *testing.T) {
	cfg := &Config{EOSTokenIDs: []int{2, 5}}
	for _, c := range []struct {
		gen  string // "" : no generation_config.json
		want []int32
		err  string
	}{
		{"", []int32{2, 5}, ""},
		{`{"eos_token_id": 7}`, []int32{2, 5, 7}, ""},
		{`{"eos_token_id": [5, 9, 9]}`, []int32{2, 5, 9}, ""},
		{`{"eos_token_id": null}`, []int32{2, 5}, ""},
		{`{"bos_token_id": 1}`, []int32{2, 5}, ""},
		{`{"eos_token_id": "x"}`, nil, "generation_config.json: field eos_token_id: want an integer or a list of integers"},
		{`{`, nil, "generation_config.json: unexpected end"},
	} {
		dir := t.TempDir()
		if c.gen != "" {
			if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(c.gen), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := GenerationEOS(dir, cfg)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.gen, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, %v; want %v", c.gen, got, err, c.want)
		}
	}
}
