package arrowio

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

func TestCheckSameTokenizer(t *testing.T) {
	qwen := strings.Repeat("ab12", 16)
	llama := strings.Repeat("cd34", 16)
	m := NewMetadata("dpo-tokenize", "v1")
	m.SetTokenizer("qwen3", qwen)

	if err := m.CheckSameTokenizer("Qwen/Qwen3-0.6B", strings.ToUpper(qwen)); err != nil {
		t.Errorf("same hash, other name/case: %v", err)
	}
	err := m.CheckSameTokenizer("llama3", llama)
	want := "stream was tokenized with qwen3 (sha256 ab12ab12ab12…) but the model directory has llama3 (sha256 cd34cd34cd34…); pass --ignore-tokenizer-mismatch to override"
	if err == nil || err.Error() != want {
		t.Errorf("mismatch:\n got %v\nwant %s", err, want)
	}
	var tm *TokenizerMismatchError
	if !errors.As(err, &tm) || tm.StreamSHA256 != qwen || tm.SHA256 != llama {
		t.Errorf("error %#v is not a *TokenizerMismatchError with both hashes", err)
	}
	// Hashes sharing a 12-character prefix are shown in full.
	near := qwen[:12] + strings.Repeat("0", 52)
	if err := m.CheckSameTokenizer("qwen3", near); err == nil || !strings.Contains(err.Error(), near) || !strings.Contains(err.Error(), qwen) {
		t.Errorf("near hash: %v", err)
	}
	var none Metadata
	if err := none.CheckSameTokenizer("llama3", llama); err == nil || !strings.Contains(err.Error(), "stream records no tokenizer (dpo.tokenizer.sha256 missing)") {
		t.Errorf("no tokenizer: %v", err)
	}
}

func TestCheckFormatVersion(t *testing.T) {
	for _, tc := range []struct{ v, want string }{
		{"1", ""},
		{"2", ""},
		{"3", ""},
		{"4", "stream has format version 4 but this tool reads version 3"},
		{"0", `unsupported format version "0"`},
		{"", `unsupported format version ""`},
	} {
		m := NewMetadata("t", "v")
		m.Set(KeyFormatVersion, tc.v)
		checkErr(t, m.CheckFormatVersion(), tc.want)
	}
	checkErr(t, Metadata{}.CheckFormatVersion(), "not a dpo stream")
}

func TestMetadataMerge(t *testing.T) {
	a := testMeta()
	b := NewMetadata("dpo-score", "v2")
	b.Set("dpo.score.options", `{"beta":0.1}`)
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if tool, _ := a.Producer(); tool != "dpo-score" {
		t.Errorf("producer %q after merge", tool)
	}
	if name, _ := a.Tokenizer(); name != "qwen3" {
		t.Errorf("tokenizer lost: %q", name)
	}
	c := NewMetadata("x", "y")
	c.SetTokenizer("llama3", HashString("other"))
	before := a.Clone()
	checkErr(t, a.Merge(c), "dpo.tokenizer.sha256 differs")
	if !a.Equal(before) {
		t.Error("failed Merge changed the metadata")
	}
	if err := a.SetStage("bad.stage", "v", nil); err == nil {
		t.Error("stage name with a dot accepted")
	}
	var opts struct{ X int }
	if err := a.StageOptions(StageTrain, &opts); !errors.Is(err, ErrNoKey) {
		t.Errorf("absent options: %v", err)
	}
	a.Set(StageOptionsKey(StageTrain), "{not json")
	checkErr(t, a.StageOptions(StageTrain, &opts), "decoding dpo.train.options")
	checkErr(t, a.CheckSameChatTemplate(""), "stream was rendered with chat template sha256")
	if err := a.CheckSameChatTemplate(HashString("{{ messages }}")); err != nil {
		t.Error(err)
	}
}

// TestHashFile compares HashFile with coreutils' sha256sum on a reference
// tokenizer.json.
func TestHashFile(t *testing.T) {
	path := testrefs.Path(t, testrefs.Tokenizers()["qwen3"])
	sum, err := exec.LookPath("sha256sum")
	if err != nil {
		t.Skip("sha256sum not installed")
	}
	out, err := exec.Command(sum, path).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(string(out))[0]
	got, err := HashFile(path)
	if err != nil || got != want {
		t.Errorf("HashFile = %s, %v; sha256sum says %s", got, err, want)
	}
	b, _ := os.ReadFile(path)
	if HashBytes(b) != want {
		t.Error("HashBytes differs from sha256sum")
	}
	if _, err := HashFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("HashFile of a missing file succeeded")
	}
	// Known answer: sha256("") from FIPS 180-2.
	if HashString("") != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Error("HashString(\"\") wrong")
	}
}
