package pairs

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A row of a Parquet or Arrow dataset whose strings hold more than
// MaxLineBytes (one huge cell, or several that add up) is a row error
// naming its row and the field that crossed the bound, before the string
// is copied; the rows around it are read, and no limit reads it.
func TestArrowRowTooLarge(t *testing.T) {
	mem := memory.NewGoAllocator()
	rows := [][4]string{
		{"p", "a", "b", "ok-0"},
		{"p", strings.Repeat("x", 3000), "b", "huge-cell"},
		{strings.Repeat("p", 600), "a", strings.Repeat("r", 600), "adds-up"},
		{"p", "c", "d", "ok-3"},
	}
	b := array.NewRecordBuilder(mem, textSchema)
	for _, r := range rows {
		b.Field(0).(*array.LargeStringBuilder).Append(r[0])
		for j := 1; j < 4; j++ {
			b.Field(j).(*array.StringBuilder).Append(r[j])
		}
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	for _, c := range containers {
		data := c.write(t, mem, textSchema, []arrow.RecordBatch{rec})
		path := writeFile(t, t.TempDir(), "d."+c.ext, data)
		for _, limit := range []int{1000, -1} {
			r, err := Open(path, nil, Options{MaxLineBytes: limit})
			if err != nil {
				t.Fatal(err)
			}
			ids, rowErrs := readIDs(t, r)
			r.Close()
			if limit < 0 {
				if len(ids) != 4 || len(rowErrs) != 0 {
					t.Errorf("%s, no limit: rows %v, errors %v", c.name, ids, rowErrs)
				}
				continue
			}
			if strings.Join(ids, ",") != "ok-0,ok-3" || len(rowErrs) != 2 {
				t.Fatalf("%s: rows %v, errors %v", c.name, ids, rowErrs)
			}
			for i, want := range []struct {
				row   int64
				field string
			}{{1, "chosen"}, {2, "prompt"}} { // the id, chosen, rejected, then the prompt are read
				re := rowErrs[i]
				if re.Row != want.row || re.Field != want.field || !errors.Is(re, ErrTooLarge) || !strings.Contains(re.Error(), "exceed 1000 bytes") {
					t.Errorf("%s: error %d: row %d field %q: %v", c.name, i, re.Row, re.Field, re)
				}
			}
		}
	}
}

// Rated completions in Arrow and Parquet (list<string> completions) over
// the bound: an error wrapping ErrLineTooLong naming the row and column,
// as a JSON Lines record over it; read whole without a limit.
func TestRatedArrowRowTooLarge(t *testing.T) {
	mem := memory.NewGoAllocator()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "prompt", Type: arrow.BinaryTypes.String},
		{Name: "completions", Type: arrow.ListOf(arrow.BinaryTypes.String)},
		{Name: "scores", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	for i, big := range []bool{false, true} {
		b.Field(0).(*array.StringBuilder).Append("p")
		lb := b.Field(1).(*array.ListBuilder)
		lb.Append(true)
		n := 1
		if big {
			n = 3000
		}
		lb.ValueBuilder().(*array.StringBuilder).Append(strings.Repeat("a", n))
		lb.ValueBuilder().(*array.StringBuilder).Append(string(rune('b' + i)))
		sb := b.Field(2).(*array.ListBuilder)
		sb.Append(true)
		sb.ValueBuilder().(*array.Float64Builder).AppendValues([]float64{1, 0}, nil)
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	for _, c := range containers {
		path := writeFile(t, t.TempDir(), "r."+c.ext, c.write(t, mem, sc, []arrow.RecordBatch{rec}))
		for _, limit := range []int{1000, -1} {
			r, err := Open(path, nil, Options{MaxLineBytes: limit, Rated: &Binarize{}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				_, err = r.Next()
				if err != nil {
					break
				}
				n++
			}
			r.Close()
			switch {
			case limit < 0 && (err != io.EOF || n != 2):
				t.Errorf("%s, no limit: %d pairs, %v", c.name, n, err)
			case limit > 0 && (n != 1 || !errors.Is(err, ErrLineTooLong) || !strings.Contains(err.Error(), `row 1: line too long: more than 1000 bytes as JSON by column "completions"`)):
				t.Errorf("%s: %d pairs, %v", c.name, n, err)
			}
		}
	}
}

// Grouped rated rows that repeat an id would give two prompts the same
// pair ids (<id>/<i>-<j>): the repeat is a row error naming both places;
// the first row's pairs and the other ids' stand.
func TestRatedGroupedRepeatedID(t *testing.T) {
	in := `{"id":"a","prompt":"p","completions":["x","y"],"scores":[1,0]}
{"id":"b","prompt":"q","completions":["x","y"],"scores":[1,0]}
{"id":"a","prompt":"p2","completions":["u","v"],"scores":[0,1]}
`
	r, err := Open("-", strings.NewReader(in), Options{Format: "jsonl", Rated: &Binarize{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ids, rowErrs := readIDs(t, r)
	if strings.Join(ids, ",") != "a/0-1,b/0-1" || len(rowErrs) != 1 {
		t.Fatalf("pairs %v, errors %v", ids, rowErrs)
	}
	if re := rowErrs[0]; re.Line != 3 || re.Field != "id" || !errors.Is(re, ErrDuplicate) || !strings.Contains(re.Error(), `id "a" is also the id of line 1`) {
		t.Errorf("error: line %d field %q: %v", re.Line, re.Field, re)
	}
}

// readIDs reads r to its end: the ids of its examples and its row errors.
func readIDs(t *testing.T, r Reader) (ids []string, rowErrs []*RowError) {
	t.Helper()
	for {
		ex, err := r.Next()
		if err == io.EOF {
			return ids, rowErrs
		}
		var re *RowError
		if errors.As(err, &re) {
			rowErrs = append(rowErrs, re)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ex.ID)
	}
}
