package cli

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// TestIPCFileInputs: dpo-tokenize's output rewritten as an Arrow IPC *file*
// by pyarrow (zstd) is read by dpo-reflogp as the stream itself is (it
// failed with "invalid metadata length 1330795073"). Polars' write_ipc
// writes the schema only in the footer (read) but drops the schema metadata
// (tokenizer identity...), so its file is refused as not a dpo stream. A
// JSONL file given to dpo-reflogp gets an error that says so.
func TestIPCFileInputs(t *testing.T) {
	py := testrefs.Python(t, "pyarrow", "polars")
	model := randomModel(t, 8)
	dir := t.TempDir()
	stream := writeBytes(t, dir, "pairs.arrows", tokenizeExample(t, 9))
	paFile, plFile := filepath.Join(dir, "pyarrow.arrow"), filepath.Join(dir, "polars.arrow")
	script := `import sys, pyarrow as pa, pyarrow.ipc as ipc, polars as pl
src, pa_out, pl_out = sys.argv[1:4]
t = ipc.open_stream(open(src, "rb")).read_all()
with ipc.new_file(pa_out, t.schema, options=ipc.IpcWriteOptions(compression="zstd")) as w:
    w.write_table(t)
pl.read_ipc_stream(src).write_ipc(pl_out)
`
	if out, err := exec.Command(py, "-c", script, stream, paFile, plFile).CombinedOutput(); err != nil {
		t.Fatalf("pyarrow/polars: %v\n%s", err, out)
	}
	run := func(in string) string {
		t.Helper()
		o := filepath.Join(dir, "ref-"+filepath.Base(in))
		var errb bytes.Buffer
		if err := Reflogp(context.Background(), []string{"--model", model, "-q", "--batch-tokens", "512", "-o", o, in}, nil, io.Discard, &errb); err != nil {
			t.Fatalf("%s: %v\n%s", in, err, errb.String())
		}
		return o
	}
	wc, wr := streamRows(t, run(stream))
	gc, gr := streamRows(t, run(paFile))
	sameRows(t, "pyarrow IPC file", gc, gr, wc, wr)
	err := Reflogp(context.Background(), []string{"--model", model, "-q", plFile}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "schema metadata has no dpo.format_version") {
		t.Errorf("Polars IPC file: %v", err)
	}
	jsonl := writeFile(t, "pairs.jsonl", `{"prompt":"a","chosen":"b","rejected":"c"}`+"\n")
	err = Reflogp(context.Background(), []string{"--model", model, "-q", jsonl}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "run dpo-tokenize on it first") {
		t.Errorf("JSONL to dpo-reflogp: %v", err)
	}
}
