package arrowio

import (
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestReadPairsZeroCopy(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := genRows(20, 12)
	rec := buildRecord(t, mem, PairsSchema(testMeta()), rows)
	defer rec.Release()

	p, err := ReadPairs(rec)
	if err != nil {
		t.Fatal(err)
	}
	vals := rec.Column(2).(*array.List).ListValues().Data().Buffers()[1].Bytes()
	if unsafe.Pointer(&p.Chosen.Values[0]) != unsafe.Pointer(&vals[0]) {
		t.Error("Chosen.Values is a copy, want the record's buffer")
	}
	// Slices with a non-zero offset (as the writer's re-chunking makes).
	for _, r := range [][2]int64{{0, 20}, {3, 9}, {19, 20}, {7, 7}} {
		sl := rec.NewSlice(r[0], r[1])
		p, err := ReadPairs(sl)
		if err != nil {
			t.Fatal(err)
		}
		if p.Rows != int(r[1]-r[0]) || p.Prompt.Len() != p.Rows {
			t.Errorf("slice %v: Rows %d, Prompt.Len %d", r, p.Rows, p.Prompt.Len())
		}
		for i := 0; i < p.Rows; i++ {
			w := rows[int(r[0])+i]
			if p.ID.Value(i) != w.id || !slices.Equal(p.Prompt.Row(i), w.prompt) || !slices.Equal(p.Chosen.Row(i), w.chosen) || !slices.Equal(p.Rejected.Row(i), w.rejected) {
				t.Errorf("slice %v row %d differs", r, i)
			}
		}
		sl.Release()
	}
}

func TestReadPairsNulls(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := PairsSchema(testMeta())
	for _, tc := range []struct {
		name  string
		build func(b *array.RecordBuilder)
		want  string
	}{
		{"null id", func(b *array.RecordBuilder) {
			b.Field(0).(*array.StringBuilder).AppendNull()
			for i := 1; i < 4; i++ {
				b.Field(i).(*array.ListBuilder).Append(true)
			}
		}, `column "id": row 1 is null`},
		{"null list", func(b *array.RecordBuilder) {
			b.Field(0).(*array.StringBuilder).Append("x")
			b.Field(1).(*array.ListBuilder).Append(true)
			b.Field(2).(*array.ListBuilder).AppendNull()
			b.Field(3).(*array.ListBuilder).Append(true)
		}, `column "chosen_input_ids": row 1 is null`},
		{"null token", func(b *array.RecordBuilder) {
			b.Field(0).(*array.StringBuilder).Append("x")
			b.Field(1).(*array.ListBuilder).Append(true)
			b.Field(2).(*array.ListBuilder).Append(true)
			lb := b.Field(3).(*array.ListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{1, 0, 3}, []bool{true, false, true})
		}, `column "rejected_input_ids": row 1: token 1 is null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := array.NewRecordBuilder(mem, schema)
			defer b.Release()
			// Row 0 is valid.
			b.Field(0).(*array.StringBuilder).Append("ok")
			for i := 1; i < 4; i++ {
				b.Field(i).(*array.ListBuilder).Append(true)
			}
			tc.build(b)
			rec := b.NewRecordBatch()
			defer rec.Release()
			_, err := ReadPairs(rec)
			checkErr(t, err, tc.want)
		})
	}
}

func TestPairBuilderSchema(t *testing.T) {
	if _, err := NewPairBuilder(nil, RefLogpsSchema(Metadata{})); err == nil || !strings.Contains(err.Error(), "schema has 6 columns") {
		t.Errorf("ref schema: %v", err)
	}
	bad := arrow.NewSchema([]arrow.Field{
		{Name: ColID, Type: arrow.BinaryTypes.String},
		{Name: ColChosenInputIDs, Type: TokenIDs},
		{Name: ColPromptInputIDs, Type: TokenIDs},
		{Name: ColRejectedInputIDs, Type: TokenIDs},
	}, nil)
	if _, err := NewPairBuilder(nil, bad); err == nil || !strings.Contains(err.Error(), "column 1 is chosen_input_ids") {
		t.Errorf("swapped columns: %v", err)
	}
	s := PairsSchema(Metadata{})
	if v, _ := s.Metadata().GetValue(KeyFormatVersion); v != FormatVersion {
		t.Errorf("PairsSchema without metadata lacks the format version")
	}
	if _, err := AppendFields(s, arrow.Field{Name: ColID, Type: arrow.BinaryTypes.String}); err == nil {
		t.Error("AppendFields accepted a duplicate column")
	}
}

func TestAppendColumnsErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := buildRecord(t, mem, PairsSchema(Metadata{}), genRows(3, 1))
	defer rec.Release()
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues([]float64{1, 2}, nil)
	short := fb.NewArray()
	fb.Release()
	defer short.Release()
	schema := RefLogpsSchema(Metadata{})
	if _, err := AppendColumns(schema, rec, short, short); err == nil || !strings.Contains(err.Error(), `column "ref_chosen_logps" has 2 rows, want 3`) {
		t.Errorf("short column: %v", err)
	}
	if _, err := AppendColumns(schema, rec, short); err == nil {
		t.Error("missing column accepted")
	}
}
