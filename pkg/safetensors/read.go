package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"syscall"
	"unicode/utf8"
)

// MaxHeaderSize bounds the JSON header, as the reference Rust
// implementation's MAX_HEADER_SIZE does.
const MaxHeaderSize = 100_000_000

// File is an open, memory-mapped safetensors file. Tensor data alias the
// mapping and are valid until Close.
type File struct {
	path     string
	mapping  []byte
	tensors  map[string]*Tensor
	names    []string
	metadata map[string]string
}

// Open memory-maps and validates a safetensors file.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %s: file of %d bytes is too short for a header", path, size)
	}
	if size > int64(^uint(0)>>1) {
		return nil, fmt.Errorf("safetensors: %s: file too large to map", path)
	}
	mapping, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("safetensors: mapping %s: %w", path, err)
	}
	sf, err := parse(mapping)
	if err != nil {
		syscall.Munmap(mapping)
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	sf.path, sf.mapping = path, mapping
	return sf, nil
}

// Parse validates an in-memory safetensors image; tensor data alias buf.
func Parse(buf []byte) (*File, error) {
	f, err := parse(buf)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// ReadFile reads a whole file into memory (no mapping) and parses it.
func ReadFile(path string) (*File, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := parse(buf)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	f.path = path
	return f, nil
}

type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

func parse(buf []byte) (*File, error) {
	if len(buf) < 8 {
		return nil, fmt.Errorf("%d bytes is too short for a header", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(len(buf)-8) {
		return nil, fmt.Errorf("header length %d runs past the end of the %d-byte file", n, len(buf))
	}
	header := buf[8 : 8+n]
	if len(header) == 0 || header[0] != '{' {
		return nil, fmt.Errorf("header is not a JSON object")
	}
	if !utf8.Valid(header) {
		return nil, fmt.Errorf("header is not valid UTF-8")
	}
	data := buf[8+n:]
	f := &File{tensors: map[string]*Tensor{}}

	dec := json.NewDecoder(bytes.NewReader(header))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	type span struct {
		name       string
		begin, end uint64
	}
	var spans []span
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON: %w", err)
		}
		name, _ := tok.(string)
		if name == "__metadata__" {
			if f.metadata != nil {
				return nil, fmt.Errorf("header: duplicate __metadata__")
			}
			var m map[string]string
			if err := dec.Decode(&m); err != nil {
				return nil, fmt.Errorf("header __metadata__: want a map of strings: %w", err)
			}
			if m == nil {
				m = map[string]string{}
			}
			f.metadata = m
			continue
		}
		if _, dup := f.tensors[name]; dup {
			return nil, fmt.Errorf("tensor %q: duplicate name in header", name)
		}
		var e headerEntry
		if err := decodeStrict(dec, &e); err != nil {
			return nil, fmt.Errorf("tensor %q: header entry: %w", name, err)
		}
		size := e.DType.Size()
		if size == 0 {
			return nil, fmt.Errorf("tensor %q: unknown dtype %q", name, e.DType)
		}
		if e.Shape == nil {
			return nil, fmt.Errorf("tensor %q: missing shape", name)
		}
		if len(e.DataOffsets) != 2 {
			return nil, fmt.Errorf("tensor %q: data_offsets must be [begin, end], got %v", name, e.DataOffsets)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin > end || end > uint64(len(data)) {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] out of range of the %d-byte data section", name, begin, end, len(data))
		}
		elems, err := numElements(e.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		if uint64(elems)*uint64(size) != end-begin {
			return nil, fmt.Errorf("tensor %q: %s%v needs %d bytes but data_offsets [%d, %d] span %d", name, e.DType, e.Shape, elems*size, begin, end, end-begin)
		}
		t := &Tensor{Name: name, DType: e.DType, Shape: e.Shape, Data: data[begin:end:end]}
		f.tensors[name] = t
		f.names = append(f.names, name)
		spans = append(spans, span{name, begin, end})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("header JSON: trailing data after the object")
	}
	// As the reference reader: sorted by offset, tensors must tile the data
	// section exactly, with no overlap and no gap.
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	var at uint64
	for _, s := range spans {
		if s.begin < at {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap another tensor", s.name, s.begin, s.end)
		}
		if s.begin > at {
			return nil, fmt.Errorf("tensor %q: gap of %d bytes before its data_offsets [%d, %d]", s.name, s.begin-at, s.begin, s.end)
		}
		at = s.end
	}
	if at != uint64(len(data)) {
		return nil, fmt.Errorf("data section has %d bytes but tensors cover %d", len(data), at)
	}
	sort.Strings(f.names)
	return f, nil
}

func decodeStrict(dec *json.Decoder, v *headerEntry) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// Path is the file name given to Open ("" for Parse).
func (f *File) Path() string { return f.path }

// Tensor returns the named tensor.
func (f *File) Tensor(name string) (*Tensor, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// Names lists the tensor names in sorted order.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Metadata returns the "__metadata__" map (nil when absent).
func (f *File) Metadata() map[string]string { return f.metadata }

// Close unmaps the file; tensors obtained from it become invalid.
func (f *File) Close() error {
	if f.mapping == nil {
		return nil
	}
	m := f.mapping
	f.mapping = nil
	f.tensors = nil
	if err := syscall.Munmap(m); err != nil {
		return fmt.Errorf("safetensors: unmapping %s: %w", f.path, err)
	}
	return nil
}
