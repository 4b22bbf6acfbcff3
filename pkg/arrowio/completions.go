package arrowio

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// KeyKind is the schema metadata key naming what a stream's rows are:
// absent for preference pairs, [KindCompletions] for sampled completions.
const KeyKind = "dpo.kind"

// KindCompletions is the dpo.kind of a completions stream (one row per
// sampled completion, see [CompletionsSchema]).
const KindCompletions = "completions"

// Column names of a completions stream (dpo-sample's output) and of the
// columns later stages add to it.
const (
	ColPrompt             = "prompt"               // utf8: the prompt as given (for conversations, the JSON of the messages)
	ColCompletion         = "completion"           // utf8: the decoded completion
	ColSampleIndex        = "sample_index"         // int32: 0..N-1 within the prompt's id
	ColCompletionInputIDs = "completion_input_ids" // list<int32>
	ColLogp               = "logp"                 // float64: summed log-prob under the sampling model, untempered
	ColFinishReason       = "finish_reason"        // utf8: "eos", "stop" or "length"
	ColRefLogp            = "ref_logp"             // float64: reference model's summed completion log-prob (dpo-reflogp)
	ColPolicyLogp         = "policy_logp"          // float64: scored model's summed completion log-prob (dpo-score --rank)
	ColReward             = "reward"               // float64: β·(policy_logp − ref_logp) (dpo-score --rank)
	ColRank               = "rank"                 // int32: 1 = highest reward within the prompt's id (dpo-score --rank)
	ColScore              = "score"                // float64: a judge's score
)

// Finish reasons of a completion.
const (
	FinishEOS    = "eos"    // the model emitted an end-of-sequence token (included in the ids)
	FinishStop   = "stop"   // a --stop string was produced
	FinishLength = "length" // --max-new-tokens was reached
)

// completionFields are the columns of a completions stream, in order.
func completionFields() []arrow.Field {
	return []arrow.Field{
		{Name: ColID, Type: arrow.BinaryTypes.String},
		{Name: ColSampleIndex, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColPrompt, Type: arrow.BinaryTypes.String},
		{Name: ColCompletion, Type: arrow.BinaryTypes.String},
		{Name: ColPromptInputIDs, Type: TokenIDs},
		{Name: ColCompletionInputIDs, Type: TokenIDs},
		{Name: ColLogp, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColFinishReason, Type: arrow.BinaryTypes.String},
	}
}

// CompletionsSchema returns the schema written by dpo-sample: id,
// sample_index, prompt, completion, prompt_input_ids, completion_input_ids,
// logp, finish_reason, carrying meta plus dpo.kind=completions (and the
// format version when meta lacks it).
func CompletionsSchema(meta Metadata) *arrow.Schema {
	m := meta.Clone()
	m.Set(KeyKind, KindCompletions)
	return schemaWith(m, completionFields())
}

// IsCompletions reports whether the metadata marks a completions stream.
func (m Metadata) IsCompletions() bool {
	k, _ := m.Get(KeyKind)
	return k == KindCompletions
}

// RequireCompletions checks that the schema has the completions columns
// that later stages need (id, sample_index, prompt_input_ids,
// completion_input_ids); the texts, logp and finish_reason are optional for
// them.
func (r *Reader) RequireCompletions() error {
	return r.RequireColumns(
		arrow.Field{Name: ColID, Type: arrow.BinaryTypes.String},
		arrow.Field{Name: ColSampleIndex, Type: arrow.PrimitiveTypes.Int32},
		arrow.Field{Name: ColPromptInputIDs, Type: TokenIDs},
		arrow.Field{Name: ColCompletionInputIDs, Type: TokenIDs},
	)
}

// Completion is one row of a completions stream.
type Completion struct {
	ID            string  `json:"id"`
	SampleIndex   int32   `json:"sample_index"`
	Prompt        string  `json:"prompt"`
	Completion    string  `json:"completion"`
	PromptIDs     []int32 `json:"prompt_input_ids"`
	CompletionIDs []int32 `json:"completion_input_ids"`
	Logp          float64 `json:"logp"`
	FinishReason  string  `json:"finish_reason"`
}

// CompletionBuilder accumulates completion rows and produces record batches
// of [CompletionsSchema]. It is not safe for concurrent use.
type CompletionBuilder struct {
	schema      *arrow.Schema
	b           *array.RecordBuilder
	id, prompt  *array.StringBuilder
	completion  *array.StringBuilder
	finish      *array.StringBuilder
	sampleIndex *array.Int32Builder
	logp        *array.Float64Builder
	lists       [2]*array.ListBuilder
	vals        [2]*array.Int32Builder
}

// NewCompletionBuilder returns a builder for schema, which must have exactly
// the columns of [CompletionsSchema] in its order.
func NewCompletionBuilder(mem memory.Allocator, schema *arrow.Schema) (*CompletionBuilder, error) {
	want := completionFields()
	if schema.NumFields() != len(want) {
		return nil, fmt.Errorf("arrowio: completion builder needs the %d completion columns, schema has %d columns", len(want), schema.NumFields())
	}
	for i, w := range want {
		f := schema.Field(i)
		if f.Name != w.Name || !arrow.TypeEqual(f.Type, w.Type) {
			return nil, fmt.Errorf("arrowio: completion builder: column %d is %s %s, want %s %s", i, f.Name, f.Type, w.Name, w.Type)
		}
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	c := &CompletionBuilder{schema: schema, b: array.NewRecordBuilder(mem, schema)}
	c.id = c.b.Field(0).(*array.StringBuilder)
	c.sampleIndex = c.b.Field(1).(*array.Int32Builder)
	c.prompt = c.b.Field(2).(*array.StringBuilder)
	c.completion = c.b.Field(3).(*array.StringBuilder)
	for i := range 2 {
		c.lists[i] = c.b.Field(4 + i).(*array.ListBuilder)
		c.vals[i] = c.lists[i].ValueBuilder().(*array.Int32Builder)
	}
	c.logp = c.b.Field(6).(*array.Float64Builder)
	c.finish = c.b.Field(7).(*array.StringBuilder)
	return c, nil
}

// Append adds one row. The slices are copied.
func (c *CompletionBuilder) Append(r Completion) {
	c.id.Append(r.ID)
	c.sampleIndex.Append(r.SampleIndex)
	c.prompt.Append(r.Prompt)
	c.completion.Append(r.Completion)
	for i, ids := range [2][]int32{r.PromptIDs, r.CompletionIDs} {
		c.lists[i].Append(true)
		c.vals[i].AppendValues(ids, nil)
	}
	c.logp.Append(r.Logp)
	c.finish.Append(r.FinishReason)
}

// Len returns the number of rows appended since the last NewRecordBatch.
func (c *CompletionBuilder) Len() int { return c.id.Len() }

// NewRecordBatch returns the rows appended so far as one record batch and
// resets the builder. The caller releases the record.
func (c *CompletionBuilder) NewRecordBatch() arrow.RecordBatch { return c.b.NewRecordBatch() }

// Schema returns the builder's schema.
func (c *CompletionBuilder) Schema() *arrow.Schema { return c.schema }

// Release frees the builder's memory.
func (c *CompletionBuilder) Release() { c.b.Release() }

// Completions is the columns of one completions record batch that later
// stages need, read zero-copy.
type Completions struct {
	Rows        int
	ID          *array.String // owned by the record
	SampleIndex []int32
	Prompt      Int32Lists
	Completion  Int32Lists
}

// ReadCompletions returns the id, sample_index, prompt_input_ids and
// completion_input_ids columns of rec without copying. A missing column, a
// wrong type, a null or inconsistent offsets is a *ColumnError.
func ReadCompletions(rec arrow.RecordBatch) (Completions, error) {
	c := Completions{Rows: int(rec.NumRows())}
	idCol, err := column(rec, ColID)
	if err != nil {
		return Completions{}, err
	}
	id, ok := idCol.(*array.String)
	if !ok {
		return Completions{}, &ColumnError{ColID, fmt.Errorf("has type %s, want utf8", idCol.DataType())}
	}
	if id.NullN() > 0 {
		return Completions{}, &ColumnError{ColID, fmt.Errorf("row %d is null", firstNull(id))}
	}
	c.ID = id
	if c.SampleIndex, err = Int32Column(rec, ColSampleIndex); err != nil {
		return Completions{}, err
	}
	if c.Prompt, err = Int32ListColumn(rec, ColPromptInputIDs); err != nil {
		return Completions{}, err
	}
	if c.Completion, err = Int32ListColumn(rec, ColCompletionInputIDs); err != nil {
		return Completions{}, err
	}
	return c, nil
}

// Int32Column returns the int32 column name of rec without copying, after
// checking it has no nulls.
func Int32Column(rec arrow.RecordBatch, name string) ([]int32, error) {
	col, err := column(rec, name)
	if err != nil {
		return nil, err
	}
	a, ok := col.(*array.Int32)
	if !ok {
		return nil, &ColumnError{name, fmt.Errorf("has type %s, want int32", col.DataType())}
	}
	if a.NullN() > 0 {
		return nil, &ColumnError{name, fmt.Errorf("row %d is null", firstNull(a))}
	}
	return a.Int32Values(), nil
}

// StringColumn returns the utf8 column name of rec, after checking it has no
// nulls.
func StringColumn(rec arrow.RecordBatch, name string) (*array.String, error) {
	col, err := column(rec, name)
	if err != nil {
		return nil, err
	}
	a, ok := col.(*array.String)
	if !ok {
		return nil, &ColumnError{name, fmt.Errorf("has type %s, want utf8", col.DataType())}
	}
	if a.NullN() > 0 {
		return nil, &ColumnError{name, fmt.Errorf("row %d is null", firstNull(a))}
	}
	return a, nil
}
