package tokenize

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/pairs"
)

// PromptInputsError is ReadPrompts' error for inputs it cannot read
// together as asked: a dpo pairs stream beside other inputs, or with a
// column mapping (its prompt ids are used as they are). It is the caller's
// usage error.
type PromptInputsError struct{ msg string }

func (e *PromptInputsError) Error() string { return e.msg }

// ReadPrompts reads the prompts of inputs ("-" or none: stdin): one dpo
// pairs stream (its prompt_input_ids used as they are, the text decoded
// from them; meta is its metadata), or datasets read by package pairs as
// dpo-tokenize reads them (JSONL, JSON arrays, Parquet, Arrow IPC files
// and streams, compressed or not, in order) with only the prompt side,
// encoded by enc.EncodePrompt: columns maps prompt, id, system and tools,
// and meta is empty. A row without a usable prompt is an error naming the
// file, row and field. A pairs stream whose batch order cannot be checked
// (written before format version 3) gets a warning on warn.
//
// A pairs stream is recognised by its schema, read from its first bytes
// (which stay unread): on stdin, and in regular files; a named pipe is not
// peeked, and package pairs reads it.
func ReadPrompts(inputs []string, stdin io.Reader, columns map[string]string, enc *Encoder, warn io.Writer) (arrowio.Metadata, []Prompt, error) {
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	if stdin != nil {
		stdin = bufio.NewReaderSize(stdin, 1<<16)
	}
	for _, in := range inputs {
		ok, err := isPairsStream(in, stdin)
		if err != nil {
			return arrowio.Metadata{}, nil, err
		}
		if !ok {
			continue
		}
		if len(inputs) > 1 {
			return arrowio.Metadata{}, nil, &PromptInputsError{arrowio.InputName(in) + " is a dpo pairs stream: it must be the only input"}
		}
		if len(columns) > 0 {
			return arrowio.Metadata{}, nil, &PromptInputsError{"--columns: " + arrowio.InputName(in) + " is a dpo pairs stream (its prompt_input_ids are used as they are)"}
		}
		return readStreamPrompts(in, stdin, enc, warn)
	}
	r, err := pairs.OpenAll(inputs, stdin, pairs.Options{Columns: columns, PromptOnly: true})
	if err != nil {
		return arrowio.Metadata{}, nil, err
	}
	defer r.Close()
	name := arrowio.InputsName(inputs)
	var out []Prompt
	for {
		ex, err := r.Next()
		if err == io.EOF {
			return arrowio.Metadata{}, out, nil
		}
		if err != nil {
			return arrowio.Metadata{}, nil, err
		}
		p, err := enc.EncodePrompt(ex)
		if err != nil {
			return arrowio.Metadata{}, nil, fmt.Errorf("%s: row %d (id %q): %w", name, ex.Row, ex.ID, err)
		}
		out = append(out, p)
	}
}

// isPairsStream reports whether input is an Arrow IPC stream or file whose
// schema has dpo's prompt_input_ids column. stdin must be a *bufio.Reader
// for "-".
func isPairsStream(input string, stdin io.Reader) (bool, error) {
	var br *bufio.Reader
	if input == "-" {
		var ok bool
		if br, ok = stdin.(*bufio.Reader); !ok {
			return false, nil
		}
	} else {
		if st, err := os.Stat(input); err != nil || !st.Mode().IsRegular() {
			return false, nil // not peeked: a pipe's bytes would be lost (pkg/pairs reads it, or says what is wrong)
		}
		f, err := os.Open(input)
		if err != nil {
			return false, fmt.Errorf("%s: %w", input, err)
		}
		defer f.Close()
		br = bufio.NewReaderSize(f, 1<<16)
	}
	head, _ := br.Peek(1 << 16)
	schema, ok := arrowio.SchemaOf(head)
	return ok && len(schema.FieldIndices(arrowio.ColPromptInputIDs)) > 0, nil
}

// readStreamPrompts reads the prompts of a dpo pairs stream (one per row,
// the prompt text decoded from its ids).
func readStreamPrompts(input string, stdin io.Reader, enc *Encoder, warn io.Writer) (arrowio.Metadata, []Prompt, error) {
	ar, err := arrowio.OpenAll([]string{input}, stdin, memory.DefaultAllocator)
	if err != nil {
		return arrowio.Metadata{}, nil, fmt.Errorf("%s: %w", arrowio.InputName(input), err)
	}
	defer ar.Release()
	ar.SetWarnings(warn)
	var out []Prompt
	for batch := 0; ar.Next(); batch++ {
		p, err := arrowio.ReadPairs(ar.Record())
		if err != nil {
			return arrowio.Metadata{}, nil, fmt.Errorf("%s: batch %d: %w", arrowio.InputName(input), batch, err)
		}
		for i := range p.Rows {
			ids := slices.Clone(p.Prompt.Row(i))
			if len(ids) == 0 {
				return arrowio.Metadata{}, nil, fmt.Errorf("%s: batch %d, row %d (id %q): prompt_input_ids is empty", arrowio.InputName(input), batch, i, p.ID.Value(i))
			}
			out = append(out, Prompt{ID: p.ID.Value(i), Text: enc.Tokenizer().DecodeText(ids), IDs: ids})
		}
	}
	if err := ar.Err(); err != nil {
		return arrowio.Metadata{}, nil, err
	}
	return ar.Metadata(), out, nil
}
