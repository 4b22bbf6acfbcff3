package pairs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultSplit is the split read from a Hugging Face DatasetDict directory
// when Options.Split is empty.
const DefaultSplit = "train"

// DatasetDirFiles returns the data files of a directory written by Hugging
// Face datasets' save_to_disk, in order: a Dataset directory
// (dataset_info.json, state.json, data-0000i-of-0000N.arrow, which are
// Arrow IPC streams) lists them in state.json's _data_files; a DatasetDict
// directory (dataset_dict.json, one such directory per split) is read at
// split ("" for DefaultSplit), and an unknown split is an error listing the
// splits. Any other directory is an error.
func DatasetDirFiles(dir, split string) ([]string, error) {
	if split == "" {
		split = DefaultSplit
	}
	if b, err := os.ReadFile(filepath.Join(dir, "dataset_dict.json")); err == nil {
		var dd struct {
			Splits []string `json:"splits"`
		}
		if err := json.Unmarshal(b, &dd); err != nil {
			return nil, fmt.Errorf("pairs: %s: dataset_dict.json: %w", dir, err)
		}
		if !slices.Contains(dd.Splits, split) || !plainName(split) {
			return nil, fmt.Errorf("pairs: %s: a DatasetDict without a split %q (its splits: %s); choose one with --split", dir, split, strings.Join(dd.Splits, ", "))
		}
		dir = filepath.Join(dir, split)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pairs: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pairs: %s is a directory, but not one Hugging Face datasets' save_to_disk wrote (no state.json or dataset_dict.json): give its files (or a glob) instead", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("pairs: %w", err)
	}
	var st struct {
		DataFiles []struct {
			Filename string `json:"filename"`
		} `json:"_data_files"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("pairs: %s: state.json: %w", dir, err)
	}
	if len(st.DataFiles) == 0 {
		return nil, fmt.Errorf("pairs: %s: state.json lists no _data_files", dir)
	}
	var files []string
	for _, f := range st.DataFiles {
		if !plainName(f.Filename) {
			return nil, fmt.Errorf("pairs: %s: state.json: data file %q is not a file name in the directory", dir, f.Filename)
		}
		p := filepath.Join(dir, f.Filename)
		if st, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("pairs: %s: state.json lists %s: %w", dir, f.Filename, err)
		} else if st.IsDir() {
			return nil, fmt.Errorf("pairs: %s: state.json lists %s, a directory", dir, f.Filename)
		}
		files = append(files, p)
	}
	return files, nil
}

// plainName reports whether s names an entry of a directory (no separator,
// not . or ..).
func plainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`)
}

// ExpandDatasetDirs replaces each directory among paths by its data files
// (DatasetDirFiles).
func ExpandDatasetDirs(paths []string, split string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if st, err := os.Stat(p); p == "-" || err != nil || !st.IsDir() {
			out = append(out, p)
			continue
		}
		files, err := DatasetDirFiles(p, split)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}
