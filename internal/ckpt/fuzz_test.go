package ckpt

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead reads an arbitrary dpo.json: Read and Tokenizer return a value
// or an error, never panic; what Write writes reads back.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"tokenizer_name":"qwen3","tokenizer_sha256":"ab12","beta":0.1,"loss":"sigmoid","step":12}`))
	f.Add([]byte(`{"beta":"0.1"}`))
	f.Add([]byte(`{"beta":1e999}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"length_normalized":true,"reference_free":true,"producer":"dpo-train dev"}`))
	f.Add([]byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, ok, err := Read(dir)
		if err != nil {
			return
		}
		if !ok {
			t.Fatal("dpo.json exists but ok is false")
		}
		if _, _, _, err := Tokenizer(dir); err != nil {
			t.Fatalf("Tokenizer after a successful Read: %v", err)
		}
		out := t.TempDir()
		if err := Write(out, m); err != nil {
			return // e.g. a value JSON cannot hold
		}
		m2, _, err := Read(out)
		if err != nil {
			t.Fatalf("re-reading what Write wrote: %v", err)
		}
		_ = m2
	})
}
