package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// reorderBatches rewrites a dpo stream in batches of 2 rows, then emits its
// data batches in the order perm gives (their metadata, order keys and
// checksums included, unchanged), then the end marker.
func reorderBatches(t *testing.T, stream []byte, perm []int) []byte {
	t.Helper()
	r, err := arrowio.NewReader(bytes.NewReader(stream), "in", memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	var rebatched bytes.Buffer
	w, err := arrowio.NewWriter(&rebatched, r.Schema(), arrowio.WriterOptions{BatchRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		if err := w.Write(r.Record()); err != nil {
			t.Fatal(err)
		}
	}
	r.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ir, err := ipc.NewReader(&rebatched)
	if err != nil {
		t.Fatal(err)
	}
	defer ir.Release()
	var recs []arrow.RecordBatch
	for ir.Next() {
		rec := ir.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	var out bytes.Buffer
	iw := ipc.NewWriter(&out, ipc.WithSchema(ir.Schema()))
	for _, i := range append(perm, len(recs)-1) {
		if err := iw.Write(recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := iw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		rec.Release()
	}
	return out.Bytes()
}

// A tool given a stream whose batches were swapped, repeated or lost (each
// batch intact, the row count right where a batch replaces another) exits
// 1 naming the file and the batch.
func TestToolsRefuseReorderedBatches(t *testing.T) {
	model := randomModel(t, 8)
	stream := tokenizeExample(t, 8) // 8 pairs: 4 batches of 2
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		perm []int
		want string
	}{
		{"swapped", []int{0, 2, 1, 3}, "swapped.arrows: batch 1: dpo.batch_index 2 where batch 1 belongs"},
		{"repeated", []int{0, 1, 1, 3}, "repeated.arrows: batch 2: dpo.batch_index 1 where batch 2 belongs: batch 1 repeated"},
		{"lost", []int{0, 1, 3}, "lost.arrows: batch 2: dpo.batch_index 3 where batch 2 belongs: batch 2 missing"},
		{"intact", []int{0, 1, 2, 3}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := writeBytes(t, dir, tc.name+".arrows", reorderBatches(t, stream, tc.perm))
			err := Reflogp(context.Background(), []string{"--model", model, "-q", in}, nil, io.Discard, io.Discard)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ExitCode(err) != 1 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d, err %v; want exit 1 and %q", ExitCode(err), err, tc.want)
			}
		})
	}
}
