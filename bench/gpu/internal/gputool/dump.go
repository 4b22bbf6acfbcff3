package gputool

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// Row is one pair of a dumped stream. RefChosen and RefRejected are nil
// when the stream has no reference columns.
type Row struct {
	ID          string   `json:"id"`
	Prompt      []int32  `json:"prompt"`
	Chosen      []int32  `json:"chosen"`
	Rejected    []int32  `json:"rejected"`
	RefChosen   *float64 `json:"ref_chosen_logps,omitempty"`
	RefRejected *float64 `json:"ref_rejected_logps,omitempty"`
}

// ReadRows reads every row of a dpo stream.
func ReadRows(r io.Reader, name string, mem memory.Allocator) ([]Row, error) {
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
		var refs [2]*array.Float64
		for k, col := range []string{arrowio.ColRefChosenLogps, arrowio.ColRefRejectedLogps} {
			idx := rec.Schema().FieldIndices(col)
			if len(idx) == 0 {
				continue
			}
			f, ok := rec.Column(idx[0]).(*array.Float64)
			if !ok {
				return nil, rd.Errorf("column %s has type %s, want float64", col, rec.Column(idx[0]).DataType())
			}
			refs[k] = f
		}
		for i := range p.Rows {
			row := Row{ID: p.ID.Value(i), Prompt: slices.Clone(p.Prompt.Row(i)), Chosen: slices.Clone(p.Chosen.Row(i)), Rejected: slices.Clone(p.Rejected.Row(i))}
			if refs[0] != nil && refs[1] != nil {
				c, r := refs[0].Value(i), refs[1].Value(i)
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

// Dump writes a stream's rows as one JSON object {"rows": [...]}.
func Dump(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("dump: at most one input")
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
	rows, err := ReadRows(f, arrowio.InputName(in), memory.DefaultAllocator)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if err := json.NewEncoder(w).Encode(map[string]any{"rows": rows}); err != nil {
		return err
	}
	return w.Flush()
}
