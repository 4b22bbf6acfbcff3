package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// python returns /usr/bin/python3 when it can import the given modules;
// otherwise the test is skipped, or failed under DPO_REQUIRE_REFS=1.
func python(t *testing.T, modules ...string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	args := []string{"-c", "import " + strings.Join(modules, ", ")}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("reference python3 with %v unavailable: %v %s", modules, err, out)
		if os.Getenv("DPO_REQUIRE_REFS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

func torchrefDir() string { return filepath.Join(testrefs.Root(), "tools", "torchref") }

// edgeFloats are float32 values that exercise rounding: ties, subnormals,
// overflow, signed zeros, infinities, NaN, plus random values over a wide
// exponent range.
func edgeFloats() []float32 {
	v := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.1, 1.0 / 3, 65504, 65519.99, 65520, 1e5, -1e5,
		6.1e-5, 6.0e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-8, 1e-30, 3.0e38, float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x3F808000), // bf16 tie, even below
		math.Float32frombits(0x3F818000), // bf16 tie, odd below
		math.Float32frombits(0x3F801000), // f16 tie
		math.Float32frombits(0x3F803000), // f16 tie odd
		math.Float32frombits(0x7F7FFFFF), // max float32: bf16 rounds to inf
		math.Float32frombits(0x00000001), // smallest subnormal
		math.Float32frombits(0x387FC000), // f16 subnormal tie region
		math.Float32frombits(0x33000000), // 2^-25: half of smallest f16 subnormal, tie to 0
		math.Float32frombits(0x33000001),
		math.Float32frombits(0x33C00000), // 1.5 * 2^-24: tie to even (2^-23)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		v = append(v, float32(r.NormFloat64()*math.Pow(2, float64(r.Intn(60)-30))))
	}
	for i := 0; i < 500; i++ {
		v = append(v, math.Float32frombits(r.Uint32()&^0x7F800000|uint32(r.Intn(255))<<23))
	}
	return v
}

// TestConversionsMatchTorch compares F32->BF16 and F32->F16 rounding and
// the widening back to F32 against torch's casts, bit for bit.
func TestConversionsMatchTorch(t *testing.T) {
	py := python(t, "torch", "numpy")
	vals := edgeFloats()
	bits := make([]uint32, len(vals))
	for i, f := range vals {
		bits[i] = math.Float32bits(f)
	}
	in, _ := json.Marshal(bits)
	script := `
import json, sys, numpy as np, torch
b = np.array(json.load(sys.stdin), dtype=np.uint32)
x = torch.from_numpy(b.view(np.float32).copy())
bf = x.to(torch.bfloat16)
h = x.to(torch.float16)
json.dump({
  "bf16": bf.view(torch.int16).numpy().astype(np.uint16).tolist(),
  "f16": h.view(torch.int16).numpy().astype(np.uint16).tolist(),
  "bf16_back": bf.float().numpy().view(np.uint32).tolist(),
  "f16_back": h.float().numpy().view(np.uint32).tolist(),
}, sys.stdout)`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("torch reference: %v", err)
	}
	var ref struct{ BF16, F16, BF16Back, F16Back []uint32 }
	if err := json.Unmarshal(out, &struct {
		BF16     *[]uint32 `json:"bf16"`
		F16      *[]uint32 `json:"f16"`
		BF16Back *[]uint32 `json:"bf16_back"`
		F16Back  *[]uint32 `json:"f16_back"`
	}{&ref.BF16, &ref.F16, &ref.BF16Back, &ref.F16Back}); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, f := range vals {
		nan := f != f
		if g := BF16FromFloat32(f); uint32(g) != ref.BF16[i] && !nan {
			t.Errorf("BF16FromFloat32(%g bits %08x) = %04x, torch %04x", f, bits[i], g, ref.BF16[i])
			bad++
		}
		if g := F16FromFloat32(f); uint32(g) != ref.F16[i] && !nan {
			t.Errorf("F16FromFloat32(%g bits %08x) = %04x, torch %04x", f, bits[i], g, ref.F16[i])
			bad++
		}
		if g := math.Float32bits(Float32FromBF16(uint16(ref.BF16[i]))); g != ref.BF16Back[i] && !nan {
			t.Errorf("Float32FromBF16(%04x) = %08x, torch %08x", ref.BF16[i], g, ref.BF16Back[i])
			bad++
		}
		if g := math.Float32bits(Float32FromF16(uint16(ref.F16[i]))); g != ref.F16Back[i] && !nan {
			t.Errorf("Float32FromF16(%04x) = %08x, torch %08x", ref.F16[i], g, ref.F16Back[i])
			bad++
		}
		if bad > 20 {
			t.Fatal("too many mismatches")
		}
	}
}

func TestF16AllValuesRoundTrip(t *testing.T) {
	// Every finite half widens exactly and narrows back to itself.
	for h := 0; h < 1<<16; h++ {
		f := Float32FromF16(uint16(h))
		if f != f {
			if F16FromFloat32(f)&0x7C00 != 0x7C00 || F16FromFloat32(f)&0x3FF == 0 {
				t.Fatalf("NaN %04x does not stay NaN", h)
			}
			continue
		}
		if g := F16FromFloat32(f); g != uint16(h) {
			t.Fatalf("half %04x -> %g -> %04x", h, f, g)
		}
		if b := BF16FromFloat32(Float32FromBF16(uint16(h))); b != uint16(h) && Float32FromBF16(uint16(h)) == Float32FromBF16(uint16(h)) {
			t.Fatalf("bf16 %04x does not round-trip", h)
		}
	}
}

func sampleTensors(t testing.TB) []*Tensor {
	t.Helper()
	mk := func(name string, dt DType, shape []int, v []float32) *Tensor {
		x, err := FromFloat32(name, dt, shape, v)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	return []*Tensor{
		mk("z.weight", F32, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		mk("a.bias", F32, []int{3}, []float32{-1, 0.5, 7}),
		mk("m.half", F16, []int{2, 2}, []float32{0.1, -2, 65504, 1e-7}),
		mk("b.brain", BF16, []int{1, 3}, []float32{0.1, -3.25, 1e30}),
		mk("scalar", F64, []int{}, []float32{2.5}),
		mk("empty", F32, []int{0, 4}, nil),
	}
}

func TestWriteOpenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	ts := sampleTensors(t)
	meta := map[string]string{"format": "pt", "note": "héllo \"quoted\""}
	if err := Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 {
		t.Errorf("header length %d: data section not 8-byte aligned", n)
	}
	if !bytes.HasPrefix(raw[8:], []byte(`{"__metadata__":{"format":"pt"`)) {
		t.Errorf("header does not start with sorted __metadata__: %s", raw[8:8+n])
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.Metadata(), meta) {
		t.Errorf("metadata %v, want %v", f.Metadata(), meta)
	}
	want := []string{"a.bias", "b.brain", "empty", "m.half", "scalar", "z.weight"}
	if !reflect.DeepEqual(f.Names(), want) {
		t.Errorf("names %v, want %v", f.Names(), want)
	}
	for _, w := range ts {
		g, ok := f.Tensor(w.Name)
		if !ok {
			t.Fatalf("tensor %s missing", w.Name)
		}
		if g.DType != w.DType || !reflect.DeepEqual(append([]int{}, g.Shape...), append([]int{}, w.Shape...)) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("tensor %s: got %s%v, want %s%v", w.Name, g.DType, g.Shape, w.DType, w.Shape)
		}
		gv, err := g.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		wv, _ := w.Float32s()
		if !reflect.DeepEqual(gv, wv) {
			t.Errorf("tensor %s values %v, want %v", w.Name, gv, wv)
		}
	}
	// Offsets: larger dtypes first, then by name (the Rust writer's order).
	var hdr map[string]json.RawMessage
	json.Unmarshal(raw[8:8+n], &hdr)
	var sc struct {
		DataOffsets []int `json:"data_offsets"`
	}
	json.Unmarshal(hdr["scalar"], &sc)
	if sc.DataOffsets[0] != 0 {
		t.Errorf("F64 tensor should come first, offsets %v", sc.DataOffsets)
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory has %d entries, want 1", len(entries))
	}
}

func TestWriteNoMetadata(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Write(path, sampleTensors(t)[:1], nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("__metadata__")) {
		t.Error("empty metadata should be omitted")
	}
	want := `{"z.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`
	n := binary.LittleEndian.Uint64(raw)
	if got := strings.TrimRight(string(raw[8:8+n]), " "); got != want {
		t.Errorf("header %s, want %s", got, want)
	}
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	good, _ := FromFloat32("w", F32, []int{2}, []float32{1, 2})
	tests := []struct {
		name    string
		tensors []*Tensor
		want    string
	}{
		{"duplicate", []*Tensor{good, good}, `"w": duplicate`},
		{"short data", []*Tensor{{Name: "s", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}}, `"s"`},
		{"bad dtype", []*Tensor{{Name: "d", DType: "Q4", Shape: []int{1}, Data: make([]byte, 1)}}, `"d": unknown dtype`},
		{"metadata name", []*Tensor{{Name: "__metadata__", DType: F32, Shape: []int{}, Data: make([]byte, 4)}}, "invalid tensor name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			err := Write(path, tt.tensors, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want containing %q", err, tt.want)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("failed Write left a file")
			}
		})
	}
	if _, err := FromFloat32("x", F32, []int{2, 2}, []float32{1}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("FromFloat32 length mismatch: %v", err)
	}
}

// image builds a safetensors image from a raw header string and data size.
func image(header string, data int) []byte {
	b := make([]byte, 8, 8+len(header)+data)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, data)...)
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name string
		buf  []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "too short"},
		{"huge header", func() []byte { b := make([]byte, 16); binary.LittleEndian.PutUint64(b, 1<<40); return b }(), "exceeds"},
		{"header past end", func() []byte { b := make([]byte, 16); binary.LittleEndian.PutUint64(b, 100); return b }(), "past the end"},
		{"not object", image(`[1,2]   `, 0), "not a JSON object"},
		{"bad json", image(`{"a":{`, 0), "header"},
		{"unknown dtype", image(`{"w":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}}`, 4), `"w": unknown dtype`},
		{"size mismatch", image(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), `"w": F32[2] needs 8 bytes`},
		{"out of range", image(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), `"w": data_offsets [0, 8] out of range`},
		{"reversed", image(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 4), `"w"`},
		{"overlap", image(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlap"},
		{"gap", image(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "gap"},
		{"trailing data", image(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8), "cover"},
		{"duplicate", image(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), `"a": duplicate`},
		{"negative shape", image(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), `"a"`},
		{"missing shape", image(`{"a":{"dtype":"F32","data_offsets":[0,0]}}`, 0), `"a": missing shape`},
		{"bad offsets", image(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, 4), `"a": data_offsets`},
		{"unknown field", image(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, 4), `"a"`},
		{"bad metadata", image(`{"__metadata__":{"k":1}}`, 0), "__metadata__"},
		{"trailing json", image(`{}{}`, 0), "trailing"},
	}
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Open(directory): %v", err)
	}
	if _, err := Open(filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("Open(absent): %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".safetensors")
			if err := os.WriteFile(path, tt.buf, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatalf("Open succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q: want it to name %s and contain %q", err, path, tt.want)
			}
		})
	}
}

// TestNumpyReadsOurFile: the independent numpy reader sees the same
// tensors, dtypes, shapes, values and metadata that Write wrote.
func TestNumpyReadsOurFile(t *testing.T) {
	py := python(t, "numpy")
	path := filepath.Join(t.TempDir(), "x.safetensors")
	ts := sampleTensors(t)
	meta := map[string]string{"format": "pt"}
	if err := Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, filepath.Join(torchrefDir(), "safetensors_np.py"), path).Output()
	if err != nil {
		t.Fatalf("numpy reader: %v", err)
	}
	var ref struct {
		Metadata map[string]string
		Tensors  map[string]struct {
			DType  DType `json:"dtype"`
			Shape  []int
			Values []float64
		}
	}
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ref.Metadata, meta) {
		t.Errorf("numpy metadata %v", ref.Metadata)
	}
	if len(ref.Tensors) != len(ts) {
		t.Errorf("numpy sees %d tensors, want %d", len(ref.Tensors), len(ts))
	}
	for _, w := range ts {
		r, ok := ref.Tensors[w.Name]
		if !ok {
			t.Errorf("numpy misses %s", w.Name)
			continue
		}
		wv, _ := w.Float64s()
		if r.DType != w.DType || fmt.Sprint(r.Shape) != fmt.Sprint(w.Shape) || fmt.Sprint(r.Values) != fmt.Sprint(wv) {
			t.Errorf("%s: numpy %s%v %v, want %s%v %v", w.Name, r.DType, r.Shape, r.Values, w.DType, w.Shape, wv)
		}
	}
}

// TestReadNumpyFile: Open reads a file written by the numpy writer, in
// each float dtype, with values numpy computed.
func TestReadNumpyFile(t *testing.T) {
	py := python(t, "numpy")
	dir := t.TempDir()
	script := `
import sys, json, numpy as np
sys.path.insert(0, sys.argv[1])
import safetensors_np as st
rng = np.random.default_rng(7)
ts = {"w": rng.standard_normal((3, 5)).astype(np.float32), "b": (rng.standard_normal(4) * 1e-3).astype(np.float32)}
for dt in ("F32", "F16", "BF16"):
    st.save(sys.argv[2] + "/" + dt + ".safetensors", ts, {"dtype": dt}, dtype=dt)
    back, _, _ = st.load(sys.argv[2] + "/" + dt + ".safetensors")
    json.dump({k: [float(x) for x in v.astype(np.float32).ravel()] for k, v in back.items()}, open(sys.argv[2] + "/" + dt + ".json", "w"))
`
	if out, err := exec.Command(py, "-c", script, torchrefDir(), dir).CombinedOutput(); err != nil {
		t.Fatalf("numpy writer: %v\n%s", err, out)
	}
	for _, dt := range []DType{F32, F16, BF16} {
		f, err := Open(filepath.Join(dir, string(dt)+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		var want map[string][]float64
		js, _ := os.ReadFile(filepath.Join(dir, string(dt)+".json"))
		json.Unmarshal(js, &want)
		if f.Metadata()["dtype"] != string(dt) {
			t.Errorf("%s: metadata %v", dt, f.Metadata())
		}
		for name, w := range want {
			tn, ok := f.Tensor(name)
			if !ok || tn.DType != dt {
				t.Fatalf("%s: tensor %s missing or wrong dtype", dt, name)
			}
			g, err := tn.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			for i := range w {
				if float64(g[i]) != w[i] {
					t.Errorf("%s %s[%d] = %g, numpy %g", dt, name, i, g[i], w[i])
				}
			}
		}
		f.Close()
	}
}

func TestOpenModelSharded(t *testing.T) {
	dir := t.TempDir()
	ts := sampleTensors(t)
	if err := Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), ts[:3], map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), ts[3:], map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	wm := map[string]string{}
	for i, x := range ts {
		wm[x.Name] = fmt.Sprintf("model-0000%d-of-00002.safetensors", 1+i/3)
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 123}, "weight_map": wm})
	os.WriteFile(filepath.Join(dir, IndexFile), idx, 0o644)
	s, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Names()) != len(ts) || len(s.Paths()) != 2 || s.Metadata()["total_size"] != "123" {
		t.Errorf("names %v paths %v meta %v", s.Names(), s.Paths(), s.Metadata())
	}
	for _, w := range ts {
		g, ok := s.Tensor(w.Name)
		if !ok || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("tensor %s differs", w.Name)
		}
	}
	// A weight_map pointing at the wrong shard names the tensor.
	wm["a.bias"] = "model-00002-of-00002.safetensors"
	idx, _ = json.Marshal(map[string]any{"weight_map": wm})
	os.WriteFile(filepath.Join(dir, IndexFile), idx, 0o644)
	if _, err := OpenModel(dir); err == nil || !strings.Contains(err.Error(), `"a.bias"`) {
		t.Errorf("wrong shard: err %v", err)
	}
	wm["a.bias"] = "../etc/passwd"
	idx, _ = json.Marshal(map[string]any{"weight_map": wm})
	os.WriteFile(filepath.Join(dir, IndexFile), idx, 0o644)
	if _, err := OpenModel(dir); err == nil || !strings.Contains(err.Error(), "invalid shard") {
		t.Errorf("path escape: err %v", err)
	}
}

func TestOpenModelSingleAndMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenModel(dir); err == nil || !strings.Contains(err.Error(), SingleFile) {
		t.Errorf("missing: err %v", err)
	}
	if err := Write(filepath.Join(dir, SingleFile), sampleTensors(t), nil); err != nil {
		t.Fatal(err)
	}
	s, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Names()) != 6 {
		t.Errorf("names %v", s.Names())
	}
}

func FuzzOpen(f *testing.F) {
	var buf bytes.Buffer
	Encode(&buf, sampleTensors(f), map[string]string{"format": "pt"})
	f.Add(buf.Bytes())
	f.Add(image(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4))
	f.Add(image(`{"a":{"dtype":"BF16","shape":[2,0],"data_offsets":[0,0]},"b":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`, 8))
	f.Add(image(`{"__metadata__":{"x":"y"}}`, 0))
	if b, err := os.ReadFile(filepath.Join(testrefs.Root(), "testdata", "models", "llama_bf16", "model.safetensors")); err == nil {
		f.Add(b) // a golden checkpoint written by the numpy reference
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to a file that parses to the same
		// tensors.
		var ts []*Tensor
		for _, n := range file.Names() {
			x, _ := file.Tensor(n)
			ts = append(ts, x)
			if x.DType.Size() > 0 {
				x.Float32s() // must not panic
			}
		}
		var out bytes.Buffer
		if err := Encode(&out, ts, file.Metadata()); err != nil {
			t.Fatalf("re-encoding a valid file: %v", err)
		}
		again, err := Parse(out.Bytes())
		if err != nil {
			t.Fatalf("re-parsing: %v", err)
		}
		for _, n := range file.Names() {
			a, _ := file.Tensor(n)
			b, ok := again.Tensor(n)
			if !ok || !bytes.Equal(a.Data, b.Data) || a.DType != b.DType || fmt.Sprint(a.Shape) != fmt.Sprint(b.Shape) {
				t.Fatalf("tensor %q changed on re-encoding", n)
			}
		}
	})
}

func BenchmarkFloat32s(b *testing.B) {
	v := make([]float32, 1<<20)
	for i := range v {
		v[i] = float32(i) * 1e-3
	}
	for _, dt := range []DType{F32, BF16, F16} {
		x, _ := FromFloat32("w", dt, []int{len(v)}, v)
		b.Run(string(dt), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(x.Data)))
			for i := 0; i < b.N; i++ {
				if _, err := x.Float32s(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestByteIdenticalToNumpyWriter: for single-dtype files the layout is
// fully determined (names sorted, compact JSON, "__metadata__" first,
// space padding to 8 bytes), so Write and the independent numpy writer
// must produce the same bytes.
func TestByteIdenticalToNumpyWriter(t *testing.T) {
	py := python(t, "numpy")
	dir := t.TempDir()
	script := `
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import safetensors_np as st
rng = np.random.default_rng(3)
ts = {"model.norm.weight": rng.standard_normal(7).astype(np.float32),
      "lm_head.weight": rng.standard_normal((5, 3)).astype(np.float32),
      "a": np.zeros((0, 2), np.float32), "model.layers.10.x": rng.standard_normal((2, 2, 2)).astype(np.float32)}
for dt in ("F32", "BF16", "F16"):
    st.save(sys.argv[2] + "/np_" + dt, ts, {"format": "pt", "b": "2"}, dtype=dt)
    np.save(sys.argv[2] + "/vals_" + dt, np.concatenate([ts[k].ravel() for k in sorted(ts)]))
`
	if out, err := exec.Command(py, "-c", script, torchrefDir(), dir).CombinedOutput(); err != nil {
		t.Fatalf("numpy writer: %v\n%s", err, out)
	}
	for _, dt := range []DType{F32, BF16, F16} {
		ref, err := ReadFile(filepath.Join(dir, "np_"+string(dt)))
		if err != nil {
			t.Fatal(err)
		}
		// Rebuild the tensors from float32 values with FromFloat32.
		src, err := ReadFile(filepath.Join(dir, "np_F32"))
		if err != nil {
			t.Fatal(err)
		}
		var ts []*Tensor
		for _, n := range src.Names() {
			x, _ := src.Tensor(n)
			v, _ := x.Float32s()
			y, err := FromFloat32(n, dt, x.Shape, v)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, y)
		}
		out := filepath.Join(dir, "go_"+string(dt))
		if err := Write(out, ts, ref.Metadata()); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(out)
		b, _ := os.ReadFile(filepath.Join(dir, "np_"+string(dt)))
		if !bytes.Equal(a, b) {
			n := binary.LittleEndian.Uint64(b)
			t.Errorf("%s: Write output differs from numpy writer\ngo:    %q\nnumpy: %q", dt, a[8:min(len(a), 8+int(n))], b[8:8+n])
		}
	}
}

// TestWriteLazy: tensors whose bytes come from Lazy write the same file as
// the same tensors with Data; a Lazy that returns the wrong size or an
// error fails the write and leaves no file.
func TestWriteLazy(t *testing.T) {
	dir := t.TempDir()
	ts := sampleTensors(t)
	eager, lazy := filepath.Join(dir, "eager.safetensors"), filepath.Join(dir, "lazy.safetensors")
	if err := Write(eager, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	var lz []*Tensor
	calls := 0
	for _, x := range ts {
		data := x.Data
		lz = append(lz, &Tensor{Name: x.Name, DType: x.DType, Shape: x.Shape, Lazy: func() ([]byte, error) { calls++; return data, nil }})
	}
	if err := Write(lazy, lz, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(eager)
	b, _ := os.ReadFile(lazy)
	if !bytes.Equal(a, b) || calls != len(ts) {
		t.Errorf("lazy write differs from eager (or Lazy called %d times for %d tensors)", calls, len(ts))
	}
	for _, bad := range []func() ([]byte, error){
		func() ([]byte, error) { return []byte{1, 2, 3}, nil },
		func() ([]byte, error) { return nil, fmt.Errorf("device gone") },
	} {
		p := filepath.Join(dir, "bad.safetensors")
		x := &Tensor{Name: "w", DType: F32, Shape: []int{2}, Lazy: bad}
		if err := Write(p, []*Tensor{x}, nil); err == nil || !strings.Contains(err.Error(), `"w"`) {
			t.Errorf("bad Lazy: err %v, want one naming the tensor", err)
		}
		if _, err := os.Stat(p); err == nil {
			t.Error("a failed lazy write left its file")
		}
	}
}
