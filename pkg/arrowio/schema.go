package arrowio

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Column names, as TRL's DPOTrainer names them.
const (
	ColID               = "id"                 // utf8: the pair's id from the input
	ColPromptInputIDs   = "prompt_input_ids"   // list<int32>
	ColChosenInputIDs   = "chosen_input_ids"   // list<int32>
	ColRejectedInputIDs = "rejected_input_ids" // list<int32>

	ColRefChosenLogps   = "ref_chosen_logps"   // float64: reference model, summed over the completion
	ColRefRejectedLogps = "ref_rejected_logps" // float64

	ColPolicyChosenLogps   = "policy_chosen_logps"   // float64: scored (trained) model
	ColPolicyRejectedLogps = "policy_rejected_logps" // float64
	ColRewardChosen        = "reward_chosen"         // float64: β·(policy − ref), TRL's rewards/chosen (β·policy/|y| reference-free)
	ColRewardRejected      = "reward_rejected"       // float64: TRL's rewards/rejected
	ColRewardMargin        = "reward_margin"         // float64: reward_chosen − reward_rejected
	ColCorrect             = "correct"               // bool: reward_margin > 0 (TRL's rewards/accuracies)
)

// TokenIDs is the type of the *_input_ids columns: list<int32>.
var TokenIDs = arrow.ListOf(arrow.PrimitiveTypes.Int32)

// pairFields are the first four columns of every dpo stream.
func pairFields() []arrow.Field {
	return []arrow.Field{
		{Name: ColID, Type: arrow.BinaryTypes.String},
		{Name: ColPromptInputIDs, Type: TokenIDs},
		{Name: ColChosenInputIDs, Type: TokenIDs},
		{Name: ColRejectedInputIDs, Type: TokenIDs},
	}
}

// PairsSchema returns the schema written by dpo-tokenize: id and the three
// token id columns, carrying meta as schema metadata. The format version is
// added when meta lacks it.
func PairsSchema(meta Metadata) *arrow.Schema {
	return schemaWith(meta, pairFields())
}

// RefLogpsSchema returns the schema written by dpo-reflogp: the pair columns
// followed by ref_chosen_logps and ref_rejected_logps.
func RefLogpsSchema(meta Metadata) *arrow.Schema {
	return schemaWith(meta, append(pairFields(),
		arrow.Field{Name: ColRefChosenLogps, Type: arrow.PrimitiveTypes.Float64},
		arrow.Field{Name: ColRefRejectedLogps, Type: arrow.PrimitiveTypes.Float64},
	))
}

func schemaWith(meta Metadata, fields []arrow.Field) *arrow.Schema {
	m := meta.Clone()
	if _, ok := m.Get(KeyFormatVersion); !ok {
		m.Set(KeyFormatVersion, FormatVersion)
	}
	md := m.Arrow()
	return arrow.NewSchema(fields, &md)
}

// WithMetadata returns schema with its metadata replaced by meta.
func WithMetadata(schema *arrow.Schema, meta Metadata) *arrow.Schema {
	md := meta.Arrow()
	return arrow.NewSchema(schema.Fields(), &md)
}

// AppendFields returns schema with fields added at the end (its metadata is
// kept). A field whose name is already present is an error.
func AppendFields(schema *arrow.Schema, fields ...arrow.Field) (*arrow.Schema, error) {
	out := schema.Fields()
	for _, f := range fields {
		if len(schema.FieldIndices(f.Name)) > 0 {
			return nil, fmt.Errorf("arrowio: column %q is already in the schema", f.Name)
		}
		out = append(out, f)
	}
	md := schema.Metadata()
	return arrow.NewSchema(out, &md), nil
}

// AppendColumns returns a record with rec's columns followed by cols, under
// schema (which must list rec's fields followed by one field per col). The
// caller releases the result; rec and cols keep their own references.
func AppendColumns(schema *arrow.Schema, rec arrow.RecordBatch, cols ...arrow.Array) (arrow.RecordBatch, error) {
	n := rec.NumRows()
	if int(rec.NumCols())+len(cols) != schema.NumFields() {
		return nil, fmt.Errorf("arrowio: schema has %d columns, record %d + %d appended", schema.NumFields(), rec.NumCols(), len(cols))
	}
	all := append(append([]arrow.Array(nil), rec.Columns()...), cols...)
	for i, c := range all {
		f := schema.Field(i)
		if int64(c.Len()) != n {
			return nil, fmt.Errorf("arrowio: column %q has %d rows, want %d", f.Name, c.Len(), n)
		}
		if !arrow.TypeEqual(c.DataType(), f.Type) {
			return nil, fmt.Errorf("arrowio: column %q has type %s, want %s", f.Name, c.DataType(), f.Type)
		}
	}
	return array.NewRecordBatch(schema, all, n), nil
}

// PairBuilder accumulates pair rows (id and three token id lists) and
// produces record batches of the pairs schema. It is not safe for concurrent
// use.
type PairBuilder struct {
	schema *arrow.Schema
	b      *array.RecordBuilder
	id     *array.StringBuilder
	lists  [3]*array.ListBuilder
	vals   [3]*array.Int32Builder
}

// NewPairBuilder returns a builder for schema, which must start with the four
// pair columns (id, prompt_input_ids, chosen_input_ids, rejected_input_ids)
// and have no others (see [PairsSchema]).
func NewPairBuilder(mem memory.Allocator, schema *arrow.Schema) (*PairBuilder, error) {
	want := pairFields()
	if schema.NumFields() != len(want) {
		return nil, fmt.Errorf("arrowio: pair builder needs the %d pair columns, schema has %d columns", len(want), schema.NumFields())
	}
	for i, w := range want {
		f := schema.Field(i)
		if f.Name != w.Name || !arrow.TypeEqual(f.Type, w.Type) {
			return nil, fmt.Errorf("arrowio: pair builder: column %d is %s %s, want %s %s", i, f.Name, f.Type, w.Name, w.Type)
		}
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	p := &PairBuilder{schema: schema, b: array.NewRecordBuilder(mem, schema)}
	p.id = p.b.Field(0).(*array.StringBuilder)
	for i := range 3 {
		p.lists[i] = p.b.Field(i + 1).(*array.ListBuilder)
		p.vals[i] = p.lists[i].ValueBuilder().(*array.Int32Builder)
	}
	return p, nil
}

// Append adds one row. The slices are copied.
func (p *PairBuilder) Append(id string, prompt, chosen, rejected []int32) {
	p.id.Append(id)
	for i, ids := range [3][]int32{prompt, chosen, rejected} {
		p.lists[i].Append(true)
		p.vals[i].AppendValues(ids, nil)
	}
}

// Len returns the number of rows appended since the last NewRecordBatch.
func (p *PairBuilder) Len() int { return p.id.Len() }

// NewRecordBatch returns the rows appended so far as one record batch and
// resets the builder. The caller releases the record.
func (p *PairBuilder) NewRecordBatch() arrow.RecordBatch { return p.b.NewRecordBatch() }

// Schema returns the builder's schema.
func (p *PairBuilder) Schema() *arrow.Schema { return p.schema }

// Release frees the builder's memory.
func (p *PairBuilder) Release() { p.b.Release() }

// Int32Lists is a list<int32> column read zero-copy: row i is
// Values[Offsets[i]:Offsets[i+1]]. Offsets has one more entry than rows and
// need not start at 0. The slices alias the record's buffers: they are valid
// while the record is, and must not be modified.
type Int32Lists struct {
	Offsets []int32
	Values  []int32
}

// Len returns the number of rows.
func (l Int32Lists) Len() int { return max(len(l.Offsets)-1, 0) }

// Row returns row i (aliasing the record's memory).
func (l Int32Lists) Row(i int) []int32 { return l.Values[l.Offsets[i]:l.Offsets[i+1]:l.Offsets[i+1]] }

// Pairs is the pair columns of one record batch, read zero-copy.
type Pairs struct {
	Rows     int
	ID       *array.String // the id column (owned by the record)
	Prompt   Int32Lists
	Chosen   Int32Lists
	Rejected Int32Lists
}

// ColumnError names a column that is missing or malformed.
type ColumnError struct {
	Column string
	Err    error
}

func (e *ColumnError) Error() string { return fmt.Sprintf("column %q: %v", e.Column, e.Err) }
func (e *ColumnError) Unwrap() error { return e.Err }

// ReadPairs returns the pair columns of rec without copying. Columns are
// found by name (others are ignored); a missing column, a wrong type, a
// null, or inconsistent offsets is a *ColumnError naming the column.
// [Reader.Pairs] adds the input name and batch index.
func ReadPairs(rec arrow.RecordBatch) (Pairs, error) {
	p := Pairs{Rows: int(rec.NumRows())}
	idCol, err := column(rec, ColID)
	if err != nil {
		return Pairs{}, err
	}
	id, ok := idCol.(*array.String)
	if !ok {
		return Pairs{}, &ColumnError{ColID, fmt.Errorf("has type %s, want utf8", idCol.DataType())}
	}
	if id.NullN() > 0 {
		return Pairs{}, &ColumnError{ColID, fmt.Errorf("row %d is null", firstNull(id))}
	}
	p.ID = id
	for _, c := range []struct {
		name string
		dst  *Int32Lists
	}{{ColPromptInputIDs, &p.Prompt}, {ColChosenInputIDs, &p.Chosen}, {ColRejectedInputIDs, &p.Rejected}} {
		if *c.dst, err = Int32ListColumn(rec, c.name); err != nil {
			return Pairs{}, err
		}
	}
	return p, nil
}

// Int32ListColumn returns the list<int32> column name of rec without copying,
// after checking it has no nulls and consistent offsets.
func Int32ListColumn(rec arrow.RecordBatch, name string) (Int32Lists, error) {
	col, err := column(rec, name)
	if err != nil {
		return Int32Lists{}, err
	}
	l, ok := col.(*array.List)
	if !ok || l.ListValues().DataType().ID() != arrow.INT32 {
		return Int32Lists{}, &ColumnError{name, fmt.Errorf("has type %s, want list<int32>", col.DataType())}
	}
	if l.NullN() > 0 {
		return Int32Lists{}, &ColumnError{name, fmt.Errorf("row %d is null", firstNull(l))}
	}
	vals := l.ListValues().(*array.Int32)
	n, off := l.Len(), l.Data().Offset()
	all := l.Offsets()
	if len(all) < off+n+1 {
		return Int32Lists{}, &ColumnError{name, fmt.Errorf("offsets buffer has %d entries, want %d", len(all), off+n+1)}
	}
	offsets := all[off : off+n+1]
	nv := int32(vals.Len())
	for i := 0; i < n; i++ {
		if offsets[i] < 0 || offsets[i] > offsets[i+1] || offsets[i+1] > nv {
			return Int32Lists{}, &ColumnError{name, fmt.Errorf("row %d: invalid offsets [%d, %d) over %d values", i, offsets[i], offsets[i+1], nv)}
		}
	}
	if vals.NullN() > 0 {
		// A null token id inside a row's range is an error; nulls in
		// unreferenced slots are harmless.
		for i := 0; i < n; i++ {
			for j := offsets[i]; j < offsets[i+1]; j++ {
				if vals.IsNull(int(j)) {
					return Int32Lists{}, &ColumnError{name, fmt.Errorf("row %d: token %d is null", i, j-offsets[i])}
				}
			}
		}
	}
	return Int32Lists{Offsets: offsets, Values: vals.Int32Values()}, nil
}

// Float64Column returns the float64 column name of rec without copying,
// after checking it has no nulls.
func Float64Column(rec arrow.RecordBatch, name string) ([]float64, error) {
	col, err := column(rec, name)
	if err != nil {
		return nil, err
	}
	f, ok := col.(*array.Float64)
	if !ok {
		return nil, &ColumnError{name, fmt.Errorf("has type %s, want float64", col.DataType())}
	}
	if f.NullN() > 0 {
		return nil, &ColumnError{name, fmt.Errorf("row %d is null", firstNull(f))}
	}
	return f.Float64Values(), nil
}

func column(rec arrow.RecordBatch, name string) (arrow.Array, error) {
	idx := rec.Schema().FieldIndices(name)
	switch len(idx) {
	case 0:
		return nil, &ColumnError{name, fmt.Errorf("missing (columns: %v)", columnNames(rec.Schema()))}
	case 1:
		return rec.Column(idx[0]), nil
	default:
		return nil, &ColumnError{name, fmt.Errorf("appears %d times", len(idx))}
	}
}

func columnNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i := range names {
		names[i] = s.Field(i).Name
	}
	return names
}

func firstNull(a arrow.Array) int {
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			return i
		}
	}
	return -1
}
