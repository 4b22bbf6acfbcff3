package arrowio

import (
	"bytes"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestSpill(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	rows := genRows(1000, 10)
	data := writeStream(t, mem, testMeta(), rows, 333, WriterOptions{BatchRows: 128})
	r, err := NewReader(bytes.NewReader(data), "stdin", mem)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Spill(r, dir)
	r.Release()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := dirEntries(t, dir); len(n) != 0 {
		t.Errorf("spill directory holds %v after mapping", n)
	}
	if s.NumRows() != 1000 || s.NumBatches() != 8 {
		t.Fatalf("NumRows %d, NumBatches %d; want 1000, 8", s.NumRows(), s.NumBatches())
	}
	if !s.Metadata().Equal(testMeta()) {
		t.Errorf("metadata %s", s.Metadata())
	}
	// Several epochs in random order, from several goroutines.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				row := rng.Int64N(s.NumRows())
				b, i, err := s.Locate(row)
				if err != nil {
					errs <- err
					return
				}
				rec, err := s.Batch(b)
				if err != nil {
					errs <- err
					return
				}
				p, err := ReadPairs(rec)
				if err == nil {
					want := rows[row]
					if p.ID.Value(i) != want.id || !slices.Equal(p.Prompt.Row(i), want.prompt) ||
						!slices.Equal(p.Chosen.Row(i), want.chosen) || !slices.Equal(p.Rejected.Row(i), want.rejected) {
						t.Errorf("row %d (batch %d index %d) differs", row, b, i)
					}
				}
				rec.Release()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s.BatchStart(1) != 128 || s.BatchStart(8) != 1000 {
		t.Errorf("BatchStart(1) = %d, BatchStart(8) = %d", s.BatchStart(1), s.BatchStart(8))
	}
	if _, _, err := s.Locate(1000); err == nil {
		t.Error("Locate(1000) succeeded")
	}
	if _, err := s.Batch(8); err == nil {
		t.Error("Batch(8) succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Batch(0); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Errorf("Batch after Close: %v", err)
	}
}

// TestSpillTruncated: a truncated stream fails the spill, naming the input,
// and leaves nothing in the directory.
func TestSpillTruncated(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	data, ends := boundaries(t, mem, genRows(30, 11), 10)
	r, err := NewReader(bytes.NewReader(data[:ends[1]]), "pairs.arrows", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	_, err = Spill(r, dir)
	checkErr(t, err, "pairs.arrows: stream ends without the end marker after 20 rows")
	if n := dirEntries(t, dir); len(n) != 0 {
		t.Errorf("spill directory holds %v after a failed spill", n)
	}
}

func TestSpillEmpty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	data := writeStream(t, mem, testMeta(), nil, 1, WriterOptions{})
	r, err := NewReader(bytes.NewReader(data), "empty.arrows", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	s, err := Spill(r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.NumRows() != 0 || s.NumBatches() != 0 {
		t.Errorf("NumRows %d NumBatches %d", s.NumRows(), s.NumBatches())
	}
}

// While a spill is in progress (a producer still writing the pipe) the
// spill directory holds no file, so a SIGKILL then leaves nothing behind.
func TestSpillLeavesNoFileWhileSpilling(t *testing.T) {
	if !mappingOutlivesFile {
		t.Skip("the spill file is visible until Close on this platform")
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	data, ends := boundaries(t, mem, genRows(30, 11), 10)
	pr, pw := io.Pipe()
	go pw.Write(data[:ends[1]]) // two batches, then the producer stalls
	r, err := NewReader(pr, "stdin", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	done := make(chan error, 1)
	go func() { _, err := Spill(r, dir); done <- err }()
	time.Sleep(200 * time.Millisecond) // the spill has written what it got
	if n := dirEntries(t, dir); len(n) != 0 {
		t.Errorf("spill directory holds %v while spilling", n)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-done; err == nil {
		t.Error("spill of a broken pipe succeeded")
	}
}
