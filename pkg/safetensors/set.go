package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File names of a Hugging Face model directory.
const (
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// Set is a model's tensors across one or more files.
type Set struct {
	dir      string
	files    []*File
	tensors  map[string]*Tensor
	names    []string
	metadata map[string]string
}

// OpenModel opens dir/model.safetensors.index.json (a sharded checkpoint:
// its weight_map names the shard holding each tensor) or, without one,
// dir/model.safetensors.
func OpenModel(dir string) (*Set, error) {
	s := &Set{dir: dir, tensors: map[string]*Tensor{}}
	idxPath := filepath.Join(dir, IndexFile)
	data, err := os.ReadFile(idxPath)
	switch {
	case err == nil:
		if err := s.openSharded(idxPath, data); err != nil {
			s.Close()
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		f, err := Open(filepath.Join(dir, SingleFile))
		if err != nil {
			return nil, err
		}
		s.files = []*File{f}
		s.metadata = f.Metadata()
		for _, n := range f.Names() {
			s.tensors[n], _ = f.Tensor(n)
		}
	default:
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	for n := range s.tensors {
		s.names = append(s.names, n)
	}
	sort.Strings(s.names)
	return s, nil
}

func (s *Set) openSharded(idxPath string, data []byte) error {
	var idx struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return fmt.Errorf("safetensors: %s: %w", idxPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return fmt.Errorf("safetensors: %s: empty or missing weight_map", idxPath)
	}
	s.metadata = map[string]string{}
	for k, v := range idx.Metadata {
		s.metadata[k] = fmt.Sprint(v)
	}
	shards := map[string]*File{}
	names := make([]string, 0, len(idx.WeightMap))
	for n := range idx.WeightMap {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		shard := idx.WeightMap[name]
		if shard == "" || filepath.IsAbs(shard) || strings.Contains(filepath.ToSlash(shard), "/") || shard == ".." {
			return fmt.Errorf("safetensors: %s: tensor %q: invalid shard file name %q", idxPath, name, shard)
		}
		f, ok := shards[shard]
		if !ok {
			var err error
			if f, err = Open(filepath.Join(s.dir, shard)); err != nil {
				return fmt.Errorf("%w (shard of %s)", err, idxPath)
			}
			shards[shard] = f
			s.files = append(s.files, f)
		}
		t, ok := f.Tensor(name)
		if !ok {
			return fmt.Errorf("safetensors: %s: tensor %q: weight_map names shard %s, which does not hold it", idxPath, name, shard)
		}
		s.tensors[name] = t
	}
	return nil
}

// Tensor returns the named tensor.
func (s *Set) Tensor(name string) (*Tensor, bool) {
	t, ok := s.tensors[name]
	return t, ok
}

// Names lists all tensor names, sorted.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Metadata is the single file's __metadata__ or the index's "metadata".
func (s *Set) Metadata() map[string]string { return s.metadata }

// Paths lists the files backing the set.
func (s *Set) Paths() []string {
	var p []string
	for _, f := range s.files {
		p = append(p, f.Path())
	}
	return p
}

// Close closes every file, keeping the first error.
func (s *Set) Close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.files = nil
	return first
}
