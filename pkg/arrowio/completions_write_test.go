package arrowio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

// WriteCompletions' stream reads back row for row, across several record
// batches, as a stream and as an IPC file.
func TestWriteCompletionsRoundTrip(t *testing.T) {
	rows := make([]Completion, 2*completionBatchRows+3)
	for i := range rows {
		rows[i] = Completion{ID: fmt.Sprintf("p%d", i/4), SampleIndex: int32(i % 4), Prompt: "sort: ba",
			Completion: "ab", PromptIDs: []int32{1, int32(i)}, CompletionIDs: []int32{int32(i % 7)}, Logp: -float64(i) / 8, FinishReason: "eos"}
	}
	for _, file := range []bool{false, true} {
		var buf bytes.Buffer
		if err := WriteCompletions(&buf, Metadata{}, rows, WriterOptions{File: file}); err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(bytes.NewReader(buf.Bytes()), "mem", nil)
		if err != nil {
			t.Fatalf("file %v: %v", file, err)
		}
		n, batches := 0, 0
		for r.Next() {
			batches++
			c, err := ReadCompletions(r.Record())
			if err != nil {
				t.Fatal(err)
			}
			logp, err := Float64Column(r.Record(), ColLogp)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Rows {
				want := rows[n]
				if c.ID.Value(i) != want.ID || c.SampleIndex[i] != want.SampleIndex || c.Prompt.Row(i)[1] != want.PromptIDs[1] ||
					c.Completion.Row(i)[0] != want.CompletionIDs[0] || logp[i] != want.Logp {
					t.Fatalf("file %v: row %d differs from what was written", file, n)
				}
				n++
			}
		}
		r.Release()
		if err := r.Err(); err != nil || n != len(rows) || batches < 2 {
			t.Fatalf("file %v: read %d rows in %d batches (%v), wrote %d in several", file, n, batches, err, len(rows))
		}
	}
	if err := WriteCompletions(&bytes.Buffer{}, Metadata{}, rows, WriterOptions{Codec: "gzip"}); err == nil || !strings.Contains(err.Error(), `unknown codec "gzip"`) {
		t.Errorf("codec gzip: %v", err)
	}
}

// One line per completion with the stream's column names; a NaN logp is an
// error naming the row, and no part of its line is written.
func TestWriteCompletionsJSONL(t *testing.T) {
	rows := []Completion{{ID: "a", SampleIndex: 1, Prompt: "<x>", Completion: "y", PromptIDs: []int32{1}, CompletionIDs: []int32{2, 3}, Logp: -1.5, FinishReason: "length"}}
	var buf bytes.Buffer
	if err := WriteCompletionsJSONL(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want := `{"id":"a","sample_index":1,"prompt":"<x>","completion":"y","prompt_input_ids":[1],"completion_input_ids":[2,3],"logp":-1.5,"finish_reason":"length"}` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s want %s", buf.String(), want)
	}
	var back Completion
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Logp != -1.5 || back.CompletionIDs[1] != 3 {
		t.Errorf("read back %+v, %v", back, err)
	}
	buf.Reset()
	bad := append(rows, Completion{ID: "b", SampleIndex: 2, Logp: math.NaN()})
	err := WriteCompletionsJSONL(&buf, bad)
	if err == nil || !strings.Contains(err.Error(), `completion "b" sample 2`) {
		t.Errorf("NaN logp: %v", err)
	}
	if out := buf.String(); out != "" && out != want {
		t.Errorf("after the error the output holds %q, want whole lines only", out)
	}
}
