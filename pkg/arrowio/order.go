package arrowio

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

// Batch order keys (format version 3; see docs/format.md, "Batch order and
// completeness"). Every data batch carries its position and the checksum of
// the batch before it; the end marker closes the chain. All of them are
// covered by the batch's own KeyChecksum.
const (
	KeyBatchIndex  = "dpo.batch_index"  // decimal index of the data batch, from 0
	KeyRowOffset   = "dpo.row_offset"   // decimal number of data rows before the batch
	KeyPrevCRC     = "dpo.prev_crc32c"  // KeyChecksum of the previous batch; "00000000" for batch 0
	KeyTotalBatchN = "dpo.num_batches"  // end marker: decimal number of data batches
	noPrevChecksum = "00000000"         // KeyPrevCRC of the first data batch
	orderVersion   = 3                  // the first format version with the keys above
	orderSinceText = "format version 3" // for messages
)

// orderState checks the order keys of one input.
type orderState struct {
	// mode: orderOff (a version-1 or -2 stream, or an Arrow IPC file whose
	// first batch has no KeyBatchIndex), orderOn, or orderUnknown (an IPC
	// file before its first batch).
	mode    int
	next    int    // index the next data batch must carry
	rows    int64  // data rows of the batches read (zero-row ones included)
	prevSum string // KeyChecksum of the previous batch
	warned  bool
}

const (
	orderOff = iota
	orderOn
	orderUnknown
)

func newOrderState(version string, ipcFile bool) orderState {
	s := orderState{mode: orderOff, prevSum: noPrevChecksum}
	switch n, err := strconv.Atoi(version); {
	case ipcFile:
		// A file is usually another tool's rewrite, which may have dropped
		// batch metadata: the first batch decides.
		s.mode = orderUnknown
	case err == nil && n >= orderVersion:
		s.mode = orderOn
	}
	return s
}

// parseCount parses a canonical non-negative decimal (no sign, no leading
// zeros), as the writer formats it.
func parseCount(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != v {
		return 0, false
	}
	return n, true
}

// checkOrder checks the order keys of a record batch message (a data batch,
// or the end marker when end) whose checksum has been verified. The error
// is wrapped by Reader.fail, which names the input and the batch.
func (s *orderState) checkOrder(md arrow.Metadata, rows int64, end bool) error {
	_, has := md.GetValue(KeyBatchIndex)
	if end {
		_, has = md.GetValue(KeyTotalBatchN)
	}
	if s.mode == orderUnknown {
		s.mode = orderOff
		if has {
			s.mode = orderOn
		}
	}
	if s.mode == orderOff {
		return nil
	}
	get := func(key string) (int64, error) {
		v, ok := md.GetValue(key)
		if !ok {
			return 0, fmt.Errorf("no %s in the batch's metadata (every batch of a %s stream has one): corrupt data", key, orderSinceText)
		}
		n, ok := parseCount(v)
		if !ok {
			return 0, fmt.Errorf("invalid %s %q: corrupt data", key, v)
		}
		return n, nil
	}
	prev, ok := md.GetValue(KeyPrevCRC)
	if !ok {
		return fmt.Errorf("no %s in the batch's metadata (every batch of a %s stream has one): corrupt data", KeyPrevCRC, orderSinceText)
	}
	sum, ok := md.GetValue(KeyChecksum)
	if !ok {
		return fmt.Errorf("no %s checksum in the batch's metadata (the batch order keys are chained through it): corrupt data", KeyChecksum)
	}
	if end {
		n, err := get(KeyTotalBatchN)
		if err != nil {
			return err
		}
		if n != int64(s.next) {
			return fmt.Errorf("end marker says %d batches but the stream holds %d: batches lost or repeated", n, s.next)
		}
		if prev != s.prevSum {
			return fmt.Errorf("end marker's %s %s is not the last batch's %s %s: batches lost, repeated, reordered or from another stream", KeyPrevCRC, prev, KeyChecksum, s.prevSum)
		}
		return nil
	}
	idx, err := get(KeyBatchIndex)
	if err != nil {
		return err
	}
	switch {
	case idx < int64(s.next):
		return fmt.Errorf("%s %d where batch %d belongs: batch %d repeated or batches out of order", KeyBatchIndex, idx, s.next, idx)
	case idx > int64(s.next):
		if idx == int64(s.next)+1 {
			return fmt.Errorf("%s %d where batch %d belongs: batch %d missing or batches out of order", KeyBatchIndex, idx, s.next, s.next)
		}
		return fmt.Errorf("%s %d where batch %d belongs: batches %d to %d missing or batches out of order", KeyBatchIndex, idx, s.next, s.next, idx-1)
	}
	off, err := get(KeyRowOffset)
	if err != nil {
		return err
	}
	if off != s.rows {
		return fmt.Errorf("%s %d but %d rows precede it: batches lost, repeated or reordered", KeyRowOffset, off, s.rows)
	}
	if prev != s.prevSum {
		return fmt.Errorf("%s %s is not the previous batch's %s %s: batches lost, repeated, reordered or from another stream", KeyPrevCRC, prev, KeyChecksum, s.prevSum)
	}
	s.next++
	s.rows += rows
	s.prevSum = sum
	return nil
}

// SetWarnings makes the reader write a warning line to w for each input
// whose batch order it cannot check (a stream written before format version
// 3, or an Arrow IPC file without dpo batch metadata). nil: no warnings.
func (r *Reader) SetWarnings(w io.Writer) { r.warn = w }

// warnUnordered writes the warning for the current input, once.
func (r *Reader) warnUnordered() {
	if r.warn == nil || r.order.warned || r.order.mode != orderOff {
		return
	}
	r.order.warned = true
	if r.ipcFile {
		fmt.Fprintf(r.warn, "warning: %s: Arrow IPC file without dpo batch metadata: batch order is checked only against the footer\n", r.name)
		return
	}
	fmt.Fprintf(r.warn, "warning: %s: written by an older dpo (format version %s): batch order is not checked, lost or repeated batches only through the end marker's row count; regenerate it\n", r.name, r.meta.FormatVersion())
}

// checkFooterBlocks checks the record batch blocks that the footer of the
// Arrow IPC file f (the footer starting at footerStart) lists: each must
// start after the previous one ends, so no block is listed twice, blocks do
// not overlap and they are in file order (the order they were written).
func checkFooterBlocks(f *os.File, footerStart int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	n := st.Size() - 10 - footerStart
	if n <= 0 || n > maxMetadataBytes {
		return fmt.Errorf("Arrow IPC file footer of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, footerStart); err != nil {
		return fmt.Errorf("reading the Arrow IPC file footer: %w", err)
	}
	root, err := fbU32(b, 0)
	if err != nil {
		return err
	}
	footer, err := fbTableAt(b, int(root))
	if err != nil {
		return fmt.Errorf("Arrow IPC file footer: %w", err)
	}
	start, count, err := footer.vector(3, 24) // recordBatches: [Block{offset int64, metaDataLength int32, pad, bodyLength int64}]
	if err != nil {
		return fmt.Errorf("Arrow IPC file footer: %w", err)
	}
	var prevEnd int64
	for k := 0; k < count; k++ {
		p := start + 24*k
		off := int64(binary.LittleEndian.Uint64(b[p:]))
		meta := int64(int32(binary.LittleEndian.Uint32(b[p+8:])))
		body := int64(binary.LittleEndian.Uint64(b[p+16:]))
		if off < 8 || meta < 0 || body < 0 || off > footerStart || meta+body > footerStart-off {
			return fmt.Errorf("record batch %d: footer block [%d, +%d+%d) outside the file's %d data bytes: corrupt file", k, off, meta, body, footerStart)
		}
		if k > 0 && off < prevEnd {
			for j := 0; j < k; j++ {
				if int64(binary.LittleEndian.Uint64(b[start+24*j:])) == off {
					return fmt.Errorf("record batch %d: the footer lists the block at offset %d twice (also as record batch %d): corrupt file", k, off, j)
				}
			}
			return fmt.Errorf("record batch %d: footer block at offset %d starts before the previous one ends (%d): blocks overlap or are out of order: corrupt file", k, off, prevEnd)
		}
		prevEnd = off + meta + body
	}
	return nil
}
