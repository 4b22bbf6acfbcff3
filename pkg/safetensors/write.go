package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Encode writes the safetensors image of tensors and meta to w. The layout
// follows the reference Rust writer (used by Python's safetensors.torch):
// tensors ordered by decreasing dtype size, then by name, laid out back to
// back; "__metadata__" first in the header when meta is non-empty; the
// header padded with spaces so the data section starts on an 8-byte
// boundary.
func Encode(w io.Writer, tensors []*Tensor, meta map[string]string) error {
	sorted, header, err := encodeHeader(tensors, meta)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, t := range sorted {
		data := t.Data
		if data == nil && t.Lazy != nil {
			var err error
			if data, err = t.Lazy(); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			if len(data) != t.byteSize() {
				return fmt.Errorf("tensor %q: %s%v needs %d bytes, got %d", t.Name, t.DType, t.Shape, t.byteSize(), len(data))
			}
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("writing tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

func encodeHeader(tensors []*Tensor, meta map[string]string) ([]*Tensor, []byte, error) {
	sorted := append([]*Tensor(nil), tensors...)
	seen := map[string]bool{}
	for _, t := range sorted {
		if t == nil {
			return nil, nil, fmt.Errorf("safetensors: nil tensor")
		}
		if t.Name == "" || t.Name == "__metadata__" {
			return nil, nil, fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if seen[t.Name] {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: duplicate name", t.Name)
		}
		seen[t.Name] = true
		if err := t.Validate(); err != nil {
			return nil, nil, err
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		si, sj := sorted[i].DType.Size(), sorted[j].DType.Size()
		if si != sj {
			return si > sj
		}
		return sorted[i].Name < sorted[j].Name
	})
	var h bytes.Buffer
	h.WriteByte('{')
	if len(meta) > 0 {
		m, err := json.Marshal(meta) // keys sorted
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: encoding metadata: %w", err)
		}
		h.WriteString(`"__metadata__":`)
		h.Write(m)
	}
	var off uint64
	for i, t := range sorted {
		if i > 0 || len(meta) > 0 {
			h.WriteByte(',')
		}
		name, _ := json.Marshal(t.Name)
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		e, err := json.Marshal(headerEntry{DType: t.DType, Shape: shape, DataOffsets: []uint64{off, off + uint64(t.byteSize())}})
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		h.Write(name)
		h.WriteByte(':')
		h.Write(e)
		off += uint64(t.byteSize())
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	return sorted, h.Bytes(), nil
}

// Write writes tensors and meta to path atomically (see WriteAtomic) in
// Encode's layout. Errors name the path and the offending tensor.
func Write(path string, tensors []*Tensor, meta map[string]string) error {
	if _, _, err := encodeHeader(tensors, meta); err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	return WriteAtomic(path, func(w io.Writer) error { return Encode(w, tensors, meta) })
}

// WriteAtomic creates path through a temporary file in the same
// directory: write is called with a buffered writer, then the file is
// flushed, fsynced, made world-readable (0644) and renamed over path, and
// the directory is fsynced. On error the temporary file is removed.
func WriteAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: syncing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: closing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: renaming into %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: some filesystems refuse directory fsync
		d.Close()
	}
	return nil
}
