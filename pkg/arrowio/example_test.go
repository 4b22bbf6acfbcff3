package arrowio_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/dpo-go/dpo/pkg/arrowio"
)

// Write tokenized pairs as dpo-tokenize does, then read them back.
func Example() {
	meta := arrowio.NewMetadata("dpo-tokenize", "v1.0.0")
	meta.SetTokenizer("Qwen/Qwen3-0.6B", arrowio.HashString("contents of tokenizer.json"))
	if err := meta.SetStage(arrowio.StageTokenize, "v1.0.0", map[string]any{"max_length": 1024}); err != nil {
		log.Fatal(err)
	}
	schema := arrowio.PairsSchema(meta)

	var stream bytes.Buffer // a file from CreateOutput in a real tool
	w, err := arrowio.NewWriter(&stream, schema, arrowio.WriterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	b, err := arrowio.NewPairBuilder(memory.DefaultAllocator, schema)
	if err != nil {
		log.Fatal(err)
	}
	b.Append("a", []int32{1, 2, 3}, []int32{4, 5}, []int32{6})
	b.Append("b", []int32{1, 2}, []int32{7}, []int32{8, 9})
	rec := b.NewRecordBatch()
	b.Release()
	if err := w.Write(rec); err != nil {
		log.Fatal(err)
	}
	rec.Release()
	if err := w.Close(); err != nil { // writes the end marker
		log.Fatal(err)
	}

	r, err := arrowio.NewReader(&stream, "pairs.arrows", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Release()
	if err := r.RequirePairs(); err != nil {
		log.Fatal(err)
	}
	for r.Next() {
		p, err := r.Pairs()
		if err != nil {
			log.Fatal(err)
		}
		for i := 0; i < p.Rows; i++ {
			fmt.Println(p.ID.Value(i), p.Prompt.Row(i), p.Chosen.Row(i), p.Rejected.Row(i))
		}
	}
	if err := r.Err(); err != nil { // a missing end marker is reported here
		log.Fatal(err)
	}
	name, _ := r.Metadata().Tokenizer()
	fmt.Println(r.Rows(), "rows tokenized with", name)
	// Output:
	// a [1 2 3] [4 5] [6]
	// b [1 2] [7] [8 9]
	// 2 rows tokenized with Qwen/Qwen3-0.6B
}

func ExampleMetadata_CheckSameTokenizer() {
	meta := arrowio.NewMetadata("dpo-tokenize", "v1.0.0")
	meta.SetTokenizer("qwen3", "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12")
	err := meta.CheckSameTokenizer("llama3", "cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34")
	fmt.Println(err)
	// Output:
	// stream was tokenized with qwen3 (sha256 ab12ab12ab12…) but the model directory has llama3 (sha256 cd34cd34cd34…); pass --ignore-tokenizer-mismatch to override
}

func ExampleDerive() {
	upstream := arrowio.NewMetadata("dpo-tokenize", "v1.0.0")
	upstream.SetTokenizer("qwen3", arrowio.HashString("tok"))
	meta := arrowio.Derive(upstream, "dpo-reflogp", "v1.0.0")
	if err := meta.SetStage(arrowio.StageReflogp, "v1.0.0", map[string]string{"dtype": "float32"}); err != nil {
		log.Fatal(err)
	}
	schema := arrowio.RefLogpsSchema(meta)
	fmt.Println(schema.NumFields(), meta.StageVersion(arrowio.StageReflogp))
	v, _ := meta.Get(arrowio.StageOptionsKey(arrowio.StageReflogp))
	fmt.Println(v)
	// Output:
	// 6 v1.0.0
	// {"dtype":"float32"}
}

func ExampleCreateOutput() {
	var stdout bytes.Buffer
	out, err := arrowio.CreateOutput("-", &stdout) // or a path: written atomically
	if err != nil {
		log.Fatal(err)
	}
	defer out.Abort() // no-op after Commit; removes the temp file otherwise
	w, err := arrowio.NewWriter(out, arrowio.PairsSchema(arrowio.NewMetadata("example", "v0")), arrowio.WriterOptions{Codec: arrowio.CodecLZ4})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	if err := out.Commit(); err != nil {
		log.Fatal(err)
	}
	r, err := arrowio.NewReader(&stdout, "stdin", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Release()
	for r.Next() {
	}
	fmt.Println(r.Rows(), r.Err(), r.Complete())
	// Output:
	// 0 <nil> true
}
