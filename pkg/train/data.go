package train

import (
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/model"
)

// dataset is a validated stream of pairs, spilled to a memory-mapped file
// so that epochs can read it in any order.
type dataset struct {
	name   string
	meta   arrowio.Metadata
	sp     *arrowio.Spilled
	recs   []arrow.RecordBatch
	pairs  []arrowio.Pairs
	refC   [][]float64 // per batch; nil without reference columns
	refR   [][]float64
	rows   []rowRef
	hasRef bool

	synthetic []pair // tests only: rows held in memory
}

type rowRef struct{ batch, index int32 }

// pair is one row's data (slices alias the mapping).
type pair struct {
	prompt, chosen, rejected []int32
	refChosen, refRejected   float64
}

func (d *dataset) len() int { return len(d.rows) }

func (d *dataset) pair(i int) pair {
	if d.synthetic != nil {
		return d.synthetic[i]
	}
	r := d.rows[i]
	p := d.pairs[r.batch]
	out := pair{prompt: p.Prompt.Row(int(r.index)), chosen: p.Chosen.Row(int(r.index)), rejected: p.Rejected.Row(int(r.index))}
	if d.hasRef {
		out.refChosen, out.refRejected = d.refC[r.batch][r.index], d.refR[r.batch][r.index]
	}
	return out
}

func (d *dataset) id(i int) string {
	if d.synthetic != nil {
		return ""
	}
	r := d.rows[i]
	if ids := d.pairs[r.batch].ID; ids != nil {
		return ids.Value(int(r.index))
	}
	return ""
}

// rowName names row i in errors: "ref.arrow: row 12 (id \"x\")".
func (d *dataset) rowName(i int) string {
	if id := d.id(i); id != "" {
		return fmt.Sprintf("%s: row %d (id %q)", d.name, i, id)
	}
	return fmt.Sprintf("%s: row %d", d.name, i)
}

func (d *dataset) close() {
	if d == nil {
		return
	}
	for _, r := range d.recs {
		r.Release()
	}
	d.recs = nil
	if d.sp != nil {
		_ = d.sp.Close()
	}
}

// openDataset reads path ("-": stdin), spills it, and checks every row
// against the model: token ids inside the vocabulary, a non-empty prompt
// (the first token has no prediction), sequences within the model's
// positions, non-empty completions when the objective divides by lengths,
// and finite reference log-probs when needRef. An input whose batch order
// cannot be checked (written before format version 3) gets a warning on
// warn.
func openDataset(paths []string, stdin io.Reader, mem memory.Allocator, cfg *model.Config, needRef, needLengths bool, warn io.Writer) (_ *dataset, err error) {
	r, err := arrowio.OpenAll(paths, stdin, mem)
	if err != nil {
		return nil, err
	}
	defer r.Release()
	r.SetWarnings(warn)
	if err := r.RequirePairs(); err != nil {
		return nil, err
	}
	d := &dataset{name: r.Name(), meta: r.Metadata()}
	if len(paths) > 1 { // rows are numbered over all inputs
		d.name = strings.Join(paths, " + ")
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	schema := r.Schema()
	hasC := len(schema.FieldIndices(arrowio.ColRefChosenLogps)) > 0
	hasR := len(schema.FieldIndices(arrowio.ColRefRejectedLogps)) > 0
	d.hasRef = hasC && hasR
	if needRef && !d.hasRef {
		return nil, fmt.Errorf("%s: no %s/%s columns: the loss needs reference log-probs (run dpo-reflogp first, or use --reference-free or a reference-free loss such as simpo or sft)",
			d.name, arrowio.ColRefChosenLogps, arrowio.ColRefRejectedLogps)
	}
	if d.hasRef {
		if err := r.RequireColumns(
			arrow.Field{Name: arrowio.ColRefChosenLogps, Type: arrow.PrimitiveTypes.Float64},
			arrow.Field{Name: arrowio.ColRefRejectedLogps, Type: arrow.PrimitiveTypes.Float64}); err != nil {
			return nil, err
		}
	}
	sp, err := arrowio.Spill(r, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	d.sp = sp
	for b := 0; b < sp.NumBatches(); b++ {
		rec, err := sp.Batch(b)
		if err != nil {
			return nil, fmt.Errorf("%s: batch %d: %w", d.name, b, err)
		}
		d.recs = append(d.recs, rec)
		p, err := arrowio.ReadPairs(rec)
		if err != nil {
			return nil, fmt.Errorf("%s: batch %d: %w", d.name, b, err)
		}
		d.pairs = append(d.pairs, p)
		var rc, rr []float64
		if d.hasRef {
			if rc, err = arrowio.Float64Column(rec, arrowio.ColRefChosenLogps); err != nil {
				return nil, fmt.Errorf("%s: batch %d: %w", d.name, b, err)
			}
			if rr, err = arrowio.Float64Column(rec, arrowio.ColRefRejectedLogps); err != nil {
				return nil, fmt.Errorf("%s: batch %d: %w", d.name, b, err)
			}
		}
		d.refC, d.refR = append(d.refC, rc), append(d.refR, rr)
		for i := 0; i < p.Rows; i++ {
			d.rows = append(d.rows, rowRef{int32(b), int32(i)})
		}
	}
	if len(d.rows) == 0 {
		return nil, fmt.Errorf("%s: the stream has no pairs", d.name)
	}
	for i := range d.rows {
		if err := d.check(i, cfg, needRef, needLengths); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *dataset) check(i int, cfg *model.Config, needRef, needLengths bool) error {
	p := d.pair(i)
	if len(p.prompt) == 0 {
		return fmt.Errorf("%s: %s is empty: the first token has no prediction, so a completion needs at least one prompt token (e.g. BOS)",
			d.rowName(i), arrowio.ColPromptInputIDs)
	}
	for _, c := range []struct {
		col  string
		toks []int32
	}{{arrowio.ColPromptInputIDs, p.prompt}, {arrowio.ColChosenInputIDs, p.chosen}, {arrowio.ColRejectedInputIDs, p.rejected}} {
		for j, t := range c.toks {
			if t < 0 || int(t) >= cfg.VocabSize {
				return fmt.Errorf("%s: %s[%d] = %d is outside the model's vocabulary [0, %d)", d.rowName(i), c.col, j, t, cfg.VocabSize)
			}
		}
		if c.col != arrowio.ColPromptInputIDs {
			if err := cfg.CheckSeqLen(len(p.prompt) + len(c.toks)); err != nil {
				return fmt.Errorf("%s: prompt + %s: %w", d.rowName(i), c.col, err)
			}
			if needLengths && len(c.toks) == 0 {
				return fmt.Errorf("%s: %s is empty and the loss divides by the completion length", d.rowName(i), c.col)
			}
		}
	}
	if needRef {
		for _, v := range []struct {
			col string
			x   float64
		}{{arrowio.ColRefChosenLogps, p.refChosen}, {arrowio.ColRefRejectedLogps, p.refRejected}} {
			if err := arrowio.CheckLogProb(v.x); err != nil {
				return fmt.Errorf("%s: %s = %w", d.rowName(i), v.col, err)
			}
		}
	}
	return nil
}
