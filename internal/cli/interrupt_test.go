package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
)

// childTool is the environment variable that makes the test binary run
// one tool through Main (see TestMain), as the installed binary would.
const childTool = "DPO_CLI_TEST_TOOL"

func TestMain(m *testing.M) {
	switch os.Getenv(childTool) {
	case "":
	case "dpo-reflogp":
		os.Exit(Main("dpo-reflogp", Reflogp))
	default:
		fmt.Fprintln(os.Stderr, "unknown", childTool)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// slowWorkload writes a model and a pairs stream whose every forward
// batch takes seconds on the CPU backend (a 4-layer, 256-wide model over
// 16k-token batches of 600-token rows).
func slowWorkload(t *testing.T) (modelDir, pairs string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := model.ParseConfig([]byte(`{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
		"vocab_size": 259, "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
		"num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 2048,
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": false,
		"initializer_range": 0.02, "bos_token_id": 256, "eos_token_id": 257, "pad_token_id": 258}`))
	if err != nil {
		t.Fatal(err)
	}
	modelDir = filepath.Join(dir, "model")
	if err := model.Save(modelDir, model.RandomInit(cfg, 1), safetensors.F32); err != nil {
		t.Fatal(err)
	}
	if err := ckpt.Write(modelDir, ckpt.Meta{TokenizerName: "builtin:bytes", TokenizerSHA256: "builtin:bytes"}); err != nil {
		t.Fatal(err)
	}
	meta := arrowio.NewMetadata("dpo-tokenize", "test")
	meta.SetTokenizer("builtin:bytes", "builtin:bytes")
	schema := arrowio.PairsSchema(meta)
	b, err := arrowio.NewPairBuilder(nil, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	rng := rand.New(rand.NewPCG(1, 2))
	toks := func(n int) []int32 {
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(rng.IntN(256))
		}
		return v
	}
	for i := range 256 {
		b.Append(fmt.Sprint(i), toks(400), toks(200), toks(200))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w, err := arrowio.NewWriter(&buf, schema, arrowio.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pairs = filepath.Join(dir, "pairs.arrow")
	if err := os.WriteFile(pairs, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return modelDir, pairs
}

// SIGTERM stops dpo-reflogp within a few seconds even inside a long
// forward batch (the run checks its context only between batches: Main
// stops waiting after interruptGrace), exit status 1, and no output file,
// temporary or final, is left.
func TestReflogpSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a scoring process")
	}
	modelDir, pairs := slowWorkload(t)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "ref.arrow")
	cmd := exec.Command(os.Args[0], "--model", modelDir, "--batch-tokens", "16384", "--plain-batches", "-o", out, pairs)
	cmd.Env = append(os.Environ(), childTool+"=dpo-reflogp")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the model to be loaded and the first batch under way.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "reference model") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no start; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running 60 s after SIGTERM; stderr:\n%s", stderr.String())
	}
	took := time.Since(sent)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %v, want status 1; stderr:\n%s", err, stderr.String())
	}
	if took > interruptGrace+3*time.Second {
		t.Errorf("exited %v after SIGTERM, want within %v", took, interruptGrace+3*time.Second)
	}
	ents, _ := os.ReadDir(outDir)
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
	t.Logf("exited %v after SIGTERM; stderr %q", took.Round(time.Millisecond), stderr.String())
}

// The grace logic itself: a run that returns in time gives its own code;
// one that does not is abandoned after the grace with its outputs
// discarded.
func TestRunInterruptible(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := runInterruptible(ctx, time.Second, func() int { return 7 }, &bytes.Buffer{}, "interrupted"); code != 7 {
		t.Errorf("prompt run: code %d", code)
	}
	out := filepath.Join(t.TempDir(), "o.arrow")
	outs, err := openOutputs(nil, nil, nil, []pathArg{{"-o", out}})
	if err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{}, 1)
	defer func() { block <- struct{}{} }()
	var log bytes.Buffer
	start := time.Now()
	if code := runInterruptible(ctx, 100*time.Millisecond, func() int { <-block; return 0 }, &log, "interrupted"); code != 1 || !strings.Contains(log.String(), "interrupted") {
		t.Errorf("stuck run: code %d, log %q", code, log.String())
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	if err := outs.commit(); err == nil {
		t.Error("commit after abortLive succeeded")
	}
}

// A dpo-train run left after the grace (here: stuck reading its input,
// after it created and locked --out) leaves no --out behind: the
// directory it created is removed with its lock file.
func TestRunInterruptibleAbandonsOut(t *testing.T) {
	out := filepath.Join(t.TempDir(), "new", "run")
	cfg := filepath.Join("..", "..", "examples", "sort", "model", "config.json")
	pr, pw := io.Pipe() // an input that never comes
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 1)
	go func() {
		for { // cancel once the run holds --out
			if _, err := os.Stat(filepath.Join(out, train.LockFile)); err == nil {
				started <- struct{}{}
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var log bytes.Buffer
	code := runInterruptible(ctx, 100*time.Millisecond, func() int {
		err := Train(context.Background(), []string{"--init-config", cfg, "--loss", "sft", "-q", "--out", out, "-"}, pr, io.Discard, io.Discard)
		return ExitCode(err)
	}, &log, "interrupted")
	<-started
	if code != 1 || !strings.Contains(log.String(), "interrupted") {
		t.Errorf("code %d, log %q", code, log.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		ents, _ := os.ReadDir(out)
		t.Errorf("--out left behind: %v %v", err, ents)
	}
}

// dpo-train's checkpoint writes are waited for past the grace (no partial
// checkpoint), and the run's own code is returned once it is saved; a
// run that is not saving is left after the grace.
func TestRunInterruptibleWaitsForSave(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	trainSaving.Store(true)
	defer trainSaving.Store(false)
	start := time.Now()
	code := runInterruptible(ctx, 50*time.Millisecond, func() int {
		time.Sleep(400 * time.Millisecond) // the checkpoint write
		trainSaving.Store(false)
		time.Sleep(100 * time.Millisecond) // then the run returns
		return 9
	}, &bytes.Buffer{}, "interrupted")
	if code != 9 || time.Since(start) < 400*time.Millisecond {
		t.Errorf("saving run: code %d after %v, want its own 9 after the save", code, time.Since(start))
	}
	var log bytes.Buffer
	block := make(chan struct{}, 1)
	defer func() { block <- struct{}{} }()
	start = time.Now()
	if code := runInterruptible(ctx, 50*time.Millisecond, func() int { <-block; return 0 }, &log, "step dropped"); code != 1 || log.String() != "step dropped\n" || time.Since(start) > time.Second {
		t.Errorf("computing run: code %d, log %q after %v", code, log.String(), time.Since(start))
	}
}
