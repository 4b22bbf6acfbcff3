package safetensors

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzShardedIndex reads an arbitrary model.safetensors.index.json beside
// two real shards: OpenModel must return a set or an error, never panic,
// and never open a file outside the directory.
func FuzzShardedIndex(f *testing.F) {
	f.Add([]byte(`{"metadata": {"total_size": 24}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "model-00002-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "../outside.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "/etc/passwd"}}`))
	f.Add([]byte(`{"weight_map": {}}`))
	f.Add([]byte(`{"metadata": null, "weight_map": {"a": ""}}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	for i, name := range []string{"a", "b"} {
		t, err := FromFloat32(name, F32, []int{3}, []float32{1, 2, float32(i)})
		if err != nil {
			f.Fatal(err)
		}
		if err := Write(filepath.Join(dir, "model-0000"+string(rune('1'+i))+"-of-00002.safetensors"), []*Tensor{t}, nil); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, index []byte) {
		if err := os.WriteFile(filepath.Join(dir, IndexFile), index, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := OpenModel(dir)
		if err != nil {
			return
		}
		defer s.Close()
		for _, n := range s.Names() {
			x, ok := s.Tensor(n)
			if !ok || x == nil {
				t.Fatalf("Names lists %q but Tensor has none", n)
			}
			if _, err := x.Float32s(); err != nil {
				t.Fatalf("tensor %q: %v", n, err)
			}
		}
	})
}
