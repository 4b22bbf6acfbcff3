package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// writeSaveToDisk lays out a DatasetDict directory as Hugging Face
// datasets' save_to_disk does (dataset_dict.json; per split state.json and
// data-0000i-of-0000N.arrow Arrow IPC streams), one shard per split, the
// split's name in each prompt. (pkg/pairs tests directories written by
// datasets itself.)
func writeSaveToDisk(t *testing.T, dir string, splits ...string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	quoted := `"` + strings.Join(splits, `", "`) + `"`
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "dataset_dict.json"), []byte(`{"splits": [`+quoted+`]}`), 0o644))
	sc := arrow.NewSchema([]arrow.Field{{Name: "prompt", Type: arrow.BinaryTypes.String}, {Name: "chosen", Type: arrow.BinaryTypes.String}, {Name: "rejected", Type: arrow.BinaryTypes.String}}, nil)
	for _, split := range splits {
		sd := filepath.Join(dir, split)
		must(os.MkdirAll(sd, 0o755))
		must(os.WriteFile(filepath.Join(sd, "state.json"), []byte(`{"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_fingerprint": "x", "_format_type": null, "_split": null}`), 0o644))
		must(os.WriteFile(filepath.Join(sd, "dataset_info.json"), []byte(`{}`), 0o644))
		b := array.NewRecordBuilder(mem, sc)
		for i, v := range []string{split + " a", "good", "bad", split + " b", "yes", "no"} {
			b.Field(i % 3).(*array.StringBuilder).Append(v)
		}
		rec := b.NewRecordBatch()
		b.Release()
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(sc), ipc.WithAllocator(mem))
		must(w.Write(rec))
		must(w.Close())
		rec.Release()
		must(os.WriteFile(filepath.Join(sd, "data-00000-of-00001.arrow"), buf.Bytes(), 0o644))
	}
}

// dpo-tokenize reads a save_to_disk DatasetDict directory at --split
// (default train); an unknown split is an error listing the splits.
func TestTokenizeDatasetDir(t *testing.T) {
	dir := t.TempDir()
	writeSaveToDisk(t, dir, "train", "test")
	tokenize := func(args ...string) ([]goldenPair, error) {
		var out bytes.Buffer
		err := Tokenize(context.Background(), append([]string{"--tokenizer", "builtin:bytes", "-q"}, args...), nil, &out, io.Discard)
		if err != nil {
			return nil, err
		}
		rows, _ := readPairsStream(t, out.Bytes())
		return rows, nil
	}
	for _, tc := range []struct{ split, want string }{{"", "train a"}, {"test", "test a"}} {
		args := []string{dir}
		if tc.split != "" {
			args = []string{"--split", tc.split, dir}
		}
		rows, err := tokenize(args...)
		if err != nil {
			t.Fatalf("--split %q: %v", tc.split, err)
		}
		if len(rows) != 2 || !strings.HasPrefix(decodeBytes(rows[0].Prompt), tc.want) {
			t.Errorf("--split %q: %d rows, first prompt %q, want 2 from %q", tc.split, len(rows), decodeBytes(rows[0].Prompt), tc.want)
		}
	}
	if _, err := tokenize("--split", "validation", dir); err == nil || !strings.Contains(err.Error(), `without a split "validation" (its splits: train, test)`) {
		t.Errorf("unknown split: %v", err)
	}
}

// decodeBytes turns builtin:bytes ids back into text.
func decodeBytes(ids []int32) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= 0 && id < 256 {
			b = append(b, byte(id))
		}
	}
	return string(b)
}
