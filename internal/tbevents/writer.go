package tbevents

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's masked CRC-32C.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// Writer appends scalar events to one event file.
type Writer struct {
	path string
	f    *os.File
	w    *bufio.Writer
	now  func() time.Time
	err  error
}

// Create makes dir (and parents) and a new event file in it.
func Create(dir string) (*Writer, error) {
	return create(dir, time.Now)
}

func create(dir string, now func() time.Time) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	t := now()
	path := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s.%d", t.Unix(), host, os.Getpid()))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	w := &Writer{path: path, f: f, w: bufio.NewWriter(f), now: now}
	w.record(encodeEvent(wallTime(t), 0, "brain.Event:2", nil))
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Path is the event file's path.
func (w *Writer) Path() string { return w.path }

func wallTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Scalars writes one event at step holding a scalar per tag (in sorted tag
// order, so files are reproducible). Non-finite values are written as they
// are; TensorBoard shows them as gaps.
func (w *Writer) Scalars(step int64, values map[string]float64) error {
	if w.err != nil {
		return w.err
	}
	tags := make([]string, 0, len(values))
	for k := range values {
		tags = append(tags, k)
	}
	sort.Strings(tags)
	var summary []byte
	for _, tag := range tags {
		var v []byte
		v = protowire.AppendTag(v, 1, protowire.BytesType)
		v = protowire.AppendString(v, tag)
		v = protowire.AppendTag(v, 2, protowire.Fixed32Type)
		v = protowire.AppendFixed32(v, math.Float32bits(float32(values[tag])))
		summary = protowire.AppendTag(summary, 1, protowire.BytesType)
		summary = protowire.AppendBytes(summary, v)
	}
	w.record(encodeEvent(wallTime(w.now()), step, "", summary))
	return w.err
}

// Flush writes buffered events to the file.
func (w *Writer) Flush() error {
	if w.err == nil {
		if err := w.w.Flush(); err != nil {
			w.err = fmt.Errorf("tensorboard %s: %w", w.path, err)
		}
	}
	return w.err
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	err := w.Flush()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("tensorboard %s: %w", w.path, cerr)
	}
	return err
}

// encodeEvent encodes a tensorflow.Event. summary is an encoded Summary
// (nil: none); fileVersion "" is omitted.
func encodeEvent(wall float64, step int64, fileVersion string, summary []byte) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(wall))
	if step != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(step))
	}
	if fileVersion != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, fileVersion)
	}
	if summary != nil {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, summary)
	}
	return b
}

// record writes one TFRecord.
func (w *Writer) record(data []byte) {
	if w.err != nil {
		return
	}
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], maskedCRC(hdr[:8]))
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], maskedCRC(data))
	for _, p := range [][]byte{hdr[:], data, tail[:]} {
		if _, err := w.w.Write(p); err != nil {
			w.err = fmt.Errorf("tensorboard %s: %w", w.path, err)
			return
		}
	}
}
