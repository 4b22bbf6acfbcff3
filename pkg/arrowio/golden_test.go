package arrowio

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

var update = flag.Bool("update", false, "rewrite the golden streams in testdata/")

// goldenMeta is fixed so the golden bytes do not depend on testMeta.
func goldenMeta() Metadata {
	m := NewMetadata("dpo-tokenize", "v0.1.0")
	m.SetTokenizer("gpt2", HashString("golden tokenizer"))
	if err := m.SetStage(StageTokenize, "v0.1.0", map[string]any{"max_length": 64, "max_prompt_length": 32, "truncation_mode": "keep_end"}); err != nil {
		panic(err)
	}
	return m
}

var goldens = []struct {
	file  string
	codec string
	exact bool   // bytes must match what the writer produces today
	old   string // an older format version: must stay readable, never rewritten
}{
	// Uncompressed: the byte layout of format version 3; a change means the
	// format changed (bump FormatVersion or restore compatibility).
	{"pairs_v3_none.arrows", CodecNone, true, ""},
	// zstd: must stay readable; its bytes depend on the zstd encoder version.
	{"pairs_v3_zstd.arrows", CodecZstd, false, ""},
	{"pairs_v3_lz4.arrows", CodecLZ4, false, ""},
	// Version 2 (batch checksums, no batch order keys) and version 1 (no
	// batch checksums), written by earlier releases.
	{"pairs_v2_none.arrows", CodecNone, false, "2"},
	{"pairs_v2_zstd.arrows", CodecZstd, false, "2"},
	{"pairs_v2_lz4.arrows", CodecLZ4, false, "2"},
	{"pairs_v1_none.arrows", CodecNone, false, "1"},
	{"pairs_v1_zstd.arrows", CodecZstd, false, "1"},
	{"pairs_v1_lz4.arrows", CodecLZ4, false, "1"},
}

func TestGolden(t *testing.T) {
	rows := genRows(10, 42)
	for _, g := range goldens {
		t.Run(g.file, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			path := filepath.Join("testdata", g.file)
			fresh := writeStream(t, mem, goldenMeta(), rows, 3, WriterOptions{Codec: g.codec, BatchRows: 4, Concurrency: 1})
			if *update && g.old == "" {
				if err := os.WriteFile(path, fresh, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			got, sizes, meta, err := readStream(t, data, mem)
			if err != nil {
				t.Fatal(err)
			}
			diffRows(t, got, rows)
			if len(sizes) != 3 || sizes[2] != 2 {
				t.Errorf("batch sizes %v, want [4 4 2]", sizes)
			}
			want := goldenMeta()
			if g.old != "" {
				want.Set(KeyFormatVersion, g.old)
			}
			if !meta.Equal(want) {
				t.Errorf("metadata\n%s\nwant\n%s", meta, want)
			}
			if g.exact && !bytes.Equal(fresh, data) {
				t.Errorf("the writer's output differs from %s: the stream layout changed", path)
			}
		})
	}
}

// FuzzReader feeds arbitrary bytes to the reader: it must return data or an
// error naming the input, never panic, hang or allocate without bound.
// Seeds: the golden streams, their truncations and bit-flipped variants.
func FuzzReader(f *testing.F) {
	for _, g := range goldens {
		data, err := os.ReadFile(filepath.Join("testdata", g.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, cut := range []int{0, 4, 8, len(data) / 3, len(data) / 2, len(data) - 9, len(data) - 8} {
			f.Add(data[:cut])
		}
		for _, pos := range []int{9, 100, len(data) / 2, len(data) - 200, len(data) - 20} {
			flipped := bytes.Clone(data)
			flipped[pos] ^= 0xFF
			f.Add(flipped)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		r, err := NewReader(bytes.NewReader(data), "fuzz.arrows", mem)
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte("fuzz.arrows")) {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		defer r.Release()
		for r.Next() {
			if p, err := r.Pairs(); err == nil {
				for i := 0; i < p.Rows; i++ {
					_ = p.ID.Value(i)
					_, _, _ = p.Prompt.Row(i), p.Chosen.Row(i), p.Rejected.Row(i)
				}
			}
		}
		if err := r.Err(); err != nil && !bytes.Contains([]byte(err.Error()), []byte("fuzz.arrows")) {
			t.Fatalf("error %q does not name the input", err)
		}
	})
}
