package cli

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestLocalShardsScript runs examples/scale/local-shards.sh (docs/scale.md:
// K shard processes of dpo-reflogp, dpo-score and dpo-sample through
// shard-job.sh, the command of the Slurm and Kubernetes recipes, merged and
// compared with the unsharded runs) with 3 shards on 20 pairs of a tiny
// random model, the tools built from this tree, so that the recipe cannot
// rot: the script exits non-zero when a merged output differs. The Slurm
// script must parse, the Indexed Job manifest must be an Indexed Job that
// runs shard-job.sh with its completion count, and shard-job.sh refuses to
// run without a shard index.
func TestLocalShardsScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three tools and runs 13 processes")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	scale := filepath.Join("..", "..", "examples", "scale")
	if out, err := exec.Command("bash", "-n", filepath.Join(scale, "slurm-array.sh")).CombinedOutput(); err != nil {
		t.Errorf("slurm-array.sh: %v\n%s", err, out)
	}
	var job struct {
		Kind string
		Spec struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int
			Template       struct {
				Spec struct {
					Containers []struct{ Command []string }
				}
			}
		}
	}
	if err := yaml.Unmarshal(mustRead(t, filepath.Join(scale, "indexed-job.yaml")), &job); err != nil {
		t.Fatalf("indexed-job.yaml: %v", err)
	}
	if cs := job.Spec.Template.Spec.Containers; job.Kind != "Job" || job.Spec.CompletionMode != "Indexed" || len(cs) != 1 || len(cs[0].Command) < 3 ||
		!strings.HasSuffix(cs[0].Command[0], "/shard-job.sh") || cs[0].Command[2] != strconv.Itoa(job.Spec.Completions) {
		t.Errorf("indexed-job.yaml: not an Indexed Job running shard-job.sh TOOL <completions> ...: %+v", job)
	}
	noIndex := exec.Command("bash", filepath.Join(scale, "shard-job.sh"), "reflogp", "3", "x-%d-%d")
	noIndex.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	noIndex.Stderr = &stderr
	if err := noIndex.Run(); err == nil || !strings.Contains(stderr.String(), "no shard index") {
		t.Errorf("shard-job.sh without an index: %v, %q", err, stderr.String())
	}

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/dpo-reflogp", "./cmd/dpo-score", "./cmd/dpo-sample")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	model := randomModel(t, 5)
	dir := t.TempDir()
	in := writeBytes(t, dir, "pairs.arrow", tokenizeExample(t, 20))
	script, err := filepath.Abs(filepath.Join(scale, "local-shards.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script, "3", model, in, filepath.Join(dir, "work"))
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "DPO_FLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "local-shards: OK") {
		t.Fatalf("local-shards.sh: %v\n%s", err, out)
	}
	for _, tool := range []string{"dpo-reflogp", "dpo-score", "dpo-sample"} {
		if !strings.Contains(string(out), "local-shards: "+tool+": 3 shards = unsharded") {
			t.Errorf("the script did not compare %s:\n%s", tool, out)
		}
	}
	t.Logf("%s", out)
}

// TestSampleShard: dpo-sample --shard I/N samples the I-th contiguous slice
// of the prompts (3 prompts in 5 shards: shard 0 is empty, an empty output;
// shard 4 holds the last prompt) and records the shard in its stage
// options.
func TestSampleShard(t *testing.T) {
	model := randomModel(t, 5)
	dir := t.TempDir()
	in := writeBytes(t, dir, "pairs.arrow", tokenizeExample(t, 3))
	run := func(shard string, format string) []byte {
		t.Helper()
		out := filepath.Join(dir, "s"+strings.ReplaceAll(shard, "/", "-")+"."+format)
		var errb bytes.Buffer
		if err := Sample(t.Context(), []string{"--model", model, "--temperature", "0", "--max-new-tokens", "3", "--format", format,
			"-q", "--shard", shard, "-o", out, in}, nil, io.Discard, &errb); err != nil {
			t.Fatalf("--shard %s: %v\n%s", shard, err, errb.String())
		}
		return mustRead(t, out)
	}
	if b := run("0/5", "jsonl"); len(b) != 0 {
		t.Errorf("shard 0/5 of 3 prompts: %q, want an empty output", b)
	}
	all := strings.Split(strings.TrimSpace(string(run("0/1", "jsonl"))), "\n")
	last := strings.TrimSpace(string(run("4/5", "jsonl")))
	if len(all) != 3 || last != all[2] {
		t.Errorf("shard 4/5 of 3 prompts: %q, want the unsharded output's last row %q", last, all[len(all)-1])
	}
	if b := run("4/5", "arrow"); !bytes.Contains(b, []byte(`"shard":"4/5"`)) {
		t.Errorf("the arrow output's stage options do not record the shard")
	}
}

// TestShardParamsFlag: --shard-params reaches dpo-train's configuration
// and the model flags' engine options; with one device both refuse it
// with the reason (the equality on several devices: pkg/engine and
// pkg/train's TestShardParams... under make test-xla).
func TestShardParamsFlag(t *testing.T) {
	model := randomModel(t, 5)
	dir := t.TempDir()
	in := writeBytes(t, dir, "pairs.arrow", tokenizeExample(t, 3))
	const reason = "--shard-params splits the weights over several devices"
	if stderr, err := runTrain("--model", model, "--out", filepath.Join(dir, "out"), "--shard-params", "-q", in); err == nil || !strings.Contains(err.Error()+stderr, reason) {
		t.Errorf("dpo-train --shard-params on one device: %v\n%s", err, stderr)
	}
	var errb bytes.Buffer
	err := Reflogp(t.Context(), []string{"--model", model, "--shard-params", "-q", "-o", filepath.Join(dir, "ref.arrow"), in}, nil, io.Discard, &errb)
	if err == nil || !strings.Contains(err.Error()+errb.String(), reason) {
		t.Errorf("dpo-reflogp --shard-params on one device: %v\n%s", err, errb.String())
	}
}
