// Package streamdump writes the rows of a dpo stream as JSON, for the
// benchmarks' Python scripts (bench/gpu, bench/reflogp), which read it
// without pyarrow.
package streamdump

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// Row is one pair of a stream. RefChosen and RefRejected are nil when the
// stream has no reference columns.
type Row struct {
	ID          string   `json:"id"`
	Batch       int      `json:"batch"` // record batch of the stream holding the row
	Prompt      []int32  `json:"prompt"`
	Chosen      []int32  `json:"chosen"`
	Rejected    []int32  `json:"rejected"`
	RefChosen   *float64 `json:"ref_chosen_logps,omitempty"`
	RefRejected *float64 `json:"ref_rejected_logps,omitempty"`
}

// ReadRows reads every row of a dpo stream. With requireRef, a stream
// without ref_chosen_logps and ref_rejected_logps is an error.
func ReadRows(r io.Reader, name string, mem memory.Allocator, requireRef bool) ([]Row, error) {
	rd, err := arrowio.NewReader(r, name, mem)
	if err != nil {
		return nil, err
	}
	defer rd.Release()
	var rows []Row
	for rd.Next() {
		p, err := rd.Pairs()
		if err != nil {
			return nil, err
		}
		rec := rd.Record()
		var refs [2][]float64
		for k, col := range []string{arrowio.ColRefChosenLogps, arrowio.ColRefRejectedLogps} {
			if !requireRef && len(rec.Schema().FieldIndices(col)) == 0 {
				continue
			}
			if refs[k], err = arrowio.Float64Column(rec, col); err != nil {
				return nil, rd.Errorf("%w", err)
			}
		}
		for i := range p.Rows {
			row := Row{ID: p.ID.Value(i), Batch: rd.Batch(),
				Prompt: slices.Clone(p.Prompt.Row(i)), Chosen: slices.Clone(p.Chosen.Row(i)), Rejected: slices.Clone(p.Rejected.Row(i))}
			if refs[0] != nil && refs[1] != nil {
				c, r := refs[0][i], refs[1][i]
				row.RefChosen, row.RefRejected = &c, &r
			}
			rows = append(rows, row)
		}
	}
	if err := rd.Err(); err != nil {
		return nil, err
	}
	return rows, nil
}

// Command returns the "dump" command: it writes the rows of one stream
// (a file, or stdin) as one JSON object {"rows": [...]}.
func Command(requireRef bool) func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return func(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		fs := flag.NewFlagSet("dump", flag.ContinueOnError)
		fs.SetOutput(stderr)
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 1 {
			return fmt.Errorf("dump: at most one input, got %s", strings.Join(fs.Args(), " "))
		}
		in := "-"
		if fs.NArg() == 1 {
			in = fs.Arg(0)
		}
		f, err := arrowio.OpenInput(in, stdin)
		if err != nil {
			return err
		}
		defer f.Close()
		rows, err := ReadRows(f, arrowio.InputName(in), memory.DefaultAllocator, requireRef)
		if err != nil {
			return fmt.Errorf("dump: %w", err)
		}
		w := bufio.NewWriter(stdout)
		if err := json.NewEncoder(w).Encode(map[string]any{"rows": rows}); err != nil {
			return err
		}
		return w.Flush()
	}
}
