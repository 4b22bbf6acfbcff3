package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/model"
)

// IdentityFile is written into every checkpoint: what the run that wrote it
// was made of, so that --resume refuses to continue it with other data, a
// different reference model or a different starting model.
const IdentityFile = "run_identity.json"

// runIdentity fingerprints a run.
type runIdentity struct {
	// ConfigSHA256 is the sha256 of the options a resumed run must share
	// (see determinism), as JSON.
	ConfigSHA256 string `json:"config_sha256"`
	// Model is the starting point: "sha256:<weights>" of --model, or
	// "init:<config sha256>:<seed>" of --init-config.
	Model string       `json:"model"`
	Data  dataIdentity `json:"data"`
	// Backend is the kind of backend that wrote the checkpoint ("go",
	// "xla:cpu", "xla:cuda"): a resumed run on another kind continues,
	// but only the same kind reproduces an uninterrupted run bit for bit.
	Backend string `json:"backend,omitempty"`
}

// dataIdentity is the training stream's identity: what its metadata says
// produced it, and a checksum of its content.
type dataIdentity struct {
	Rows               int    `json:"rows"`
	TokenizerSHA256    string `json:"tokenizer_sha256,omitempty"`
	ChatTemplateSHA256 string `json:"chat_template_sha256,omitempty"`
	TokenizeOptions    string `json:"tokenize_options,omitempty"`
	// Reference is dpo-reflogp's options without the model's path and the
	// backend: the reference weights' and config's sha256, bf16, ...
	Reference string `json:"reference,omitempty"`
	// ContentCRC32C covers every row's token ids and reference log-probs,
	// in stream order.
	ContentCRC32C string `json:"content_crc32c"`
}

// identity computes the run's identity (model weights are hashed once).
func (r *runner) identity() (runIdentity, error) {
	det, err := json.Marshal(r.c.determinism())
	if err != nil {
		return runIdentity{}, err
	}
	sum := sha256.Sum256(det)
	id := runIdentity{ConfigSHA256: hex.EncodeToString(sum[:]), Data: datasetIdentity(r.train)}
	switch {
	case r.c.Model != "":
		w, err := model.WeightsSHA256(r.c.Model)
		if err != nil {
			return id, fmt.Errorf("--model: %w", err)
		}
		id.Model = "sha256:" + w
	case r.c.InitConfig != "":
		cs, err := model.ConfigSHA256(r.c.InitConfig)
		if err != nil {
			return id, fmt.Errorf("--init-config: %w", err)
		}
		id.Model = fmt.Sprintf("init:%s:%d", cs, r.c.InitSeed)
	}
	return id, nil
}

func datasetIdentity(d *dataset) dataIdentity {
	id := dataIdentity{Rows: d.len()}
	_, id.TokenizerSHA256 = d.meta.Tokenizer()
	id.ChatTemplateSHA256 = d.meta.ChatTemplateSHA256()
	id.TokenizeOptions, _ = d.meta.Get(arrowio.StageOptionsKey(arrowio.StageTokenize))
	if raw, ok := d.meta.Get(arrowio.StageOptionsKey(arrowio.StageReflogp)); ok {
		var opts map[string]any
		if json.Unmarshal([]byte(raw), &opts) == nil {
			delete(opts, "model") // a path: the same weights may move
			delete(opts, "backend")
			b, _ := json.Marshal(opts) // keys sorted
			id.Reference = string(b)
		} else {
			id.Reference = raw
		}
	}
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	var buf []byte
	for i := range d.len() {
		p := d.pair(i)
		buf = buf[:0]
		for _, s := range [][]int32{p.prompt, p.chosen, p.rejected} {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s)))
			for _, t := range s {
				buf = binary.LittleEndian.AppendUint32(buf, uint32(t))
			}
		}
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(p.refChosen))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(p.refRejected))
		h.Write(buf)
	}
	id.ContentCRC32C = fmt.Sprintf("%08x", h.Sum32())
	return id
}

func writeIdentity(dir string, id runIdentity) error {
	return writeJSON(filepath.Join(dir, IdentityFile), id)
}

// readIdentity reads a checkpoint's identity; ok is false for checkpoints
// written before identities existed.
func readIdentity(dir string) (id runIdentity, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, IdentityFile))
	if errors.Is(err, os.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, err
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, false, fmt.Errorf("%s: %w", filepath.Join(dir, IdentityFile), err)
	}
	return id, true, nil
}

// checkResumeIdentity compares the identity of the run now with the one
// recorded in the checkpoint dir, naming what differs.
func (r *runner) checkResumeIdentity(dir string, now runIdentity) error {
	was, ok, err := readIdentity(dir)
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	if !ok {
		fmt.Fprintf(r.log, "warning: %s has no %s (written by an older dpo-train): the data cannot be checked beyond the row count\n", dir, IdentityFile)
		return nil
	}
	var diffs []string
	diff := func(what, then, now string) {
		if then != now {
			diffs = append(diffs, fmt.Sprintf("%s: %s in the checkpoint, %s now", what, orNone(then), orNone(now)))
		}
	}
	a, b := was.Data, now.Data
	diff("the stream's tokenizer (sha256)", a.TokenizerSHA256, b.TokenizerSHA256)
	diff("the stream's chat template (sha256)", a.ChatTemplateSHA256, b.ChatTemplateSHA256)
	diff("the stream's tokenize options", a.TokenizeOptions, b.TokenizeOptions)
	diff("the stream's reference model and options (dpo-reflogp)", a.Reference, b.Reference)
	diff("the number of rows", fmt.Sprint(a.Rows), fmt.Sprint(b.Rows))
	if len(diffs) == 0 {
		diff("the stream's content (crc32c of token ids and reference log-probs)", a.ContentCRC32C, b.ContentCRC32C)
	}
	// The options themselves are compared field by field before (see
	// determinism), with a better message; ConfigSHA256 is a record only,
	// so a version that adds options still resumes older checkpoints.
	if now.Model != "" && was.Model != "" {
		diff("the starting model", was.Model, now.Model)
	}
	if len(diffs) > 0 {
		return fmt.Errorf("--resume: %s was written by a different run:\n  %s\nresume with the same stream and options, or start a new run in another --out", dir, strings.Join(diffs, "\n  "))
	}
	return nil
}

// noteBackendChange names a resume onto another kind of backend than the
// checkpoint's: allowed, but the last bits then differ from an
// uninterrupted run.
func (r *runner) noteBackendChange(dir string) error {
	was, ok, err := readIdentity(dir)
	if err != nil || !ok || was.Backend == "" || was.Backend == r.ident.Backend {
		return err
	}
	fmt.Fprintf(r.log, "note: --resume: %s was written on the %s backend and continues on %s; the run goes on, but its last bits differ from an uninterrupted run (bit-identical resume needs the same backend: --backend %s)\n",
		dir, was.Backend, r.ident.Backend, was.Backend)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
