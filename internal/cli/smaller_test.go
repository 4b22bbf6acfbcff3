package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A rejected record is reported under its own id even when the bad field
// comes before "id" in the object (it used to get its row index).
func TestRejectKeepsRealID(t *testing.T) {
	in := writeFile(t, "x.jsonl", `{"prompt":"p","chosen":"c","rejected":"r","id":"a"}
{"chosen":5,"prompt":"p","rejected":"r","id":"the-real-id"}
{"prompt":"p","chosen":"c","rejected":"r","id":"c"}
`)
	rej := filepath.Join(t.TempDir(), "rejects.jsonl")
	if _, _, err := runTokenize(t, "--tokenizer", "builtin:bytes", "-q", "--on-error", "skip", "--rejects", rej, "-o", filepath.Join(t.TempDir(), "o.arrow"), in); err != nil {
		t.Fatal(err)
	}
	ids := readRejectIDs(t, rej)
	if !ids["the-real-id"] || len(ids) != 1 {
		t.Errorf("reject ids %v, want the-real-id", ids)
	}
}

// Worst-pair ids are quoted: an id holding terminal escapes cannot drive
// the terminal.
func TestWorstPairIDsQuoted(t *testing.T) {
	s := &ScoreSummary{Pairs: 1, Worst: []WorstPair{{ID: "evil\x1b]0;pwned\x07\n", Margin: -1}}}
	var b bytes.Buffer
	s.Format(&b)
	if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), `id "evil\x1b]0;pwned\a\n"`) {
		t.Errorf("summary:\n%s", b.String())
	}
}

// dpo-train into a used --out: exit 2 naming --resume and --overwrite,
// before any compute; --overwrite refuses a foreign file too.
func TestTrainUsedOutExit2(t *testing.T) {
	base := randomModel(t, 11)
	dir := t.TempDir()
	in := writeBytes(t, dir, "ref.arrow", refStream(t, base, 4))
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(filepath.Join(out, "checkpoint-3"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := runTrain("--model", base, "--out", out, "-q", in)
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("err %v (exit %d)", err, ExitCode(err))
	}
	writeBytes(t, out, "notes.txt", []byte("mine"))
	_, err = runTrain("--model", base, "--out", out, "--overwrite", "-q", in)
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("--overwrite with a foreign file: %v", err)
	}
}
