package arrowio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// completionBatchRows is the rows per record batch WriteCompletions writes.
const completionBatchRows = 1024

// WriteCompletions writes rows as a completions stream of
// CompletionsSchema(meta) (an Arrow IPC file when opts.File), in record
// batches of 1024 rows, and closes the writer (end marker, footer). An
// error from NewWriter (a bad codec) is returned as it is.
func WriteCompletions(w io.Writer, meta Metadata, rows []Completion, opts WriterOptions) error {
	if opts.Mem == nil {
		opts.Mem = memory.DefaultAllocator
	}
	schema := CompletionsSchema(meta)
	wr, err := NewWriter(w, schema, opts)
	if err != nil {
		return err
	}
	b, err := NewCompletionBuilder(opts.Mem, schema)
	if err != nil {
		return err
	}
	defer b.Release()
	for i, r := range rows {
		b.Append(r)
		if b.Len() == completionBatchRows || i == len(rows)-1 {
			rec := b.NewRecordBatch()
			err := wr.Write(rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
	}
	return wr.Close()
}

// WriteCompletionsJSONL writes one JSON object per completion and line,
// with the stream's column names (Completion's json tags), through a
// LineWriter: whatever reaches w ends at a line boundary. A row that
// cannot be encoded is an error naming its id and sample index.
func WriteCompletionsJSONL(w io.Writer, rows []Completion) error {
	lw := NewLineWriter(w)
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		line.Reset()
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("completion %q sample %d: %w", r.ID, r.SampleIndex, err)
		}
		if _, err := lw.Write(line.Bytes()); err != nil {
			return err
		}
	}
	return lw.Flush()
}
