package pairs

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// pySaveToDisk writes, with Hugging Face datasets, the pairs of the JSON
// file argv[1] as a Dataset directory in 3 shards (argv[2]) and as a
// DatasetDict with train (the first 5 rows) and test splits (argv[3]).
const pySaveToDisk = `
import json, sys, os
os.environ["HF_DATASETS_OFFLINE"] = "1"
import datasets
datasets.disable_progress_bars()
rows = json.load(open(sys.argv[1], encoding="utf-8"))
ds = datasets.Dataset.from_list(rows)
ds.save_to_disk(sys.argv[2], num_shards=3)
datasets.DatasetDict({"train": ds.select(range(5)), "test": ds.select(range(5, len(rows)))}).save_to_disk(sys.argv[3])
`

// TestDatasetDir: a Hugging Face datasets save_to_disk directory (its
// Arrow IPC stream shards in state.json's order; a DatasetDict's split,
// train by default) reads as the same rows as the JSON it was made from;
// an unknown split is an error listing the splits, and another directory
// an error saying what is expected.
func TestDatasetDir(t *testing.T) {
	py := testrefs.Python(t, "datasets")
	dir := t.TempDir()
	var rows []map[string]any
	for i := range 8 {
		rows = append(rows, map[string]any{"id": "r" + string(rune('a'+i)), "prompt": strings.Repeat("p", i+1) + " é",
			"chosen": "good " + string(rune('0'+i)), "rejected": "bad"})
	}
	src, _ := json.Marshal(rows)
	jsonPath := filepath.Join(dir, "rows.json")
	if err := os.WriteFile(jsonPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	single, dict := filepath.Join(dir, "single"), filepath.Join(dir, "dict")
	cmd := exec.Command(py, "-c", pySaveToDisk, jsonPath, single, dict)
	cmd.Env = append(os.Environ(), "HF_HOME="+filepath.Join(dir, "hf"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("datasets: %v\n%s", err, out)
	}
	read := func(path string, opts Options) ([]Example, error) {
		r, err := Open(path, nil, opts)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		var out []Example
		for {
			ex, err := r.Next()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			out = append(out, ex)
		}
	}
	want, err := read(jsonPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := DatasetDirFiles(single, "")
	if err != nil || len(files) != 3 {
		t.Fatalf("DatasetDirFiles = %v, %v; want 3 shards", files, err)
	}
	for _, tc := range []struct {
		name, path, split string
		want              []Example
	}{
		{"Dataset", single, "", want},
		{"DatasetDict, default split", dict, "", want[:5]},
		{"DatasetDict, --split test", dict, "test", want[5:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(tc.path, Options{Split: tc.split})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d rows, want %d", len(got), len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				g.Row, w.Row = 0, 0
				if !reflect.DeepEqual(g, w) {
					t.Errorf("row %d: %+v, want %+v", i, g, w)
				}
			}
			// OpenAll too, with a file after the directory.
			r, err := OpenAll([]string{tc.path, jsonPath}, nil, Options{Split: tc.split})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for ; ; n++ {
				if _, err := r.Next(); err != nil {
					if err != io.EOF {
						t.Fatal(err)
					}
					break
				}
			}
			r.Close()
			if n != len(tc.want)+len(want) {
				t.Errorf("OpenAll: %d rows, want %d", n, len(tc.want)+len(want))
			}
		})
	}
	_, err = read(dict, Options{Split: "validation"})
	if err == nil || !strings.Contains(err.Error(), `without a split "validation" (its splits: train, test)`) {
		t.Errorf("unknown split: %v", err)
	}
	_, err = read(t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "not one Hugging Face datasets' save_to_disk wrote") {
		t.Errorf("plain directory: %v", err)
	}
}
