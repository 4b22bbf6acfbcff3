package ckpt

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTripAndTokenizer(t *testing.T) {
	dir := t.TempDir()
	if _, _, ok, err := Tokenizer(dir); ok || err != nil {
		t.Fatalf("empty dir: ok=%v err=%v", ok, err)
	}
	m := Meta{TokenizerName: "builtin:bytes", TokenizerSHA256: "builtin:bytes", Beta: 0.25, Loss: "sigmoid"}
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	got, ok, err := Read(dir)
	if err != nil || !ok || got != m {
		t.Fatalf("Read = %+v %v %v", got, ok, err)
	}
	if name, sha, ok, _ := Tokenizer(dir); !ok || name != "builtin:bytes" || sha != "builtin:bytes" {
		t.Fatalf("Tokenizer from dpo.json = %q %q %v", name, sha, ok)
	}
	// tokenizer.json wins, hashed: sha256("{}") computed by `printf '{}' | sha256sum`.
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, sha, ok, _ := Tokenizer(dir); !ok || sha != "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Fatalf("Tokenizer from tokenizer.json = %q %v", sha, ok)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(dir); err == nil {
		t.Fatal("want an error for a corrupt dpo.json")
	}
}
