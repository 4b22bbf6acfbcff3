package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// More dtypes a header may name; Float32s converts F32, BF16, F16, F64,
// I64 and I32.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	I16    DType = "I16"
	U16    DType = "U16"
	U32    DType = "U32"
	U64    DType = "U64"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
)

// Size returns the byte size of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8E4M3, F8E5M2:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case I64, U64, F64:
		return 8
	}
	return 0
}

// BF16FromFloat32 rounds f to bfloat16 (round to nearest, ties to even, as
// torch's float->bfloat16 cast). NaN stays a quiet NaN.
func BF16FromFloat32(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x0040
	}
	rounding := uint32(0x7FFF) + (b>>16)&1
	return uint16((b + rounding) >> 16)
}

// Float32FromBF16 widens a bfloat16 exactly.
func Float32FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F16FromFloat32 rounds f to IEEE half precision (round to nearest, ties
// to even; overflow to ±Inf; subnormals kept).
func F16FromFloat32(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xFF)
	mant := b & 0x7FFFFF
	if exp == 0xFF { // Inf or NaN
		if mant != 0 {
			return sign | 0x7E00
		}
		return sign | 0x7C00
	}
	e := exp - 127 + 15
	if e >= 0x1F {
		return sign | 0x7C00
	}
	if e <= 0 {
		// Subnormal half (or zero): value = m * 2^-24.
		if e < -10 {
			return sign
		}
		m := mant | 0x800000  // implicit bit
		shift := uint(14 - e) // 13 + (1 - e)
		half := m >> shift
		rem := m & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1FFF
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, up to Inf: correct
	}
	return sign | uint16(half)
}

// Float32FromF16 widens an IEEE half exactly.
func Float32FromF16(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h & 0x3FF)
	switch {
	case exp == 0x1F:
		return math.Float32frombits(sign | 0x7F800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: normalise.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3FF)<<13)
}

// FromFloat32 builds a tensor holding v encoded as dtype (F32, BF16, F16 or
// F64).
func FromFloat32(name string, dtype DType, shape []int, v []float32) (*Tensor, error) {
	n, err := numElements(shape)
	if err != nil {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	if n != len(v) {
		return nil, fmt.Errorf("safetensors: tensor %q: shape %v holds %d values, got %d", name, shape, n, len(v))
	}
	t := &Tensor{Name: name, DType: dtype, Shape: append([]int(nil), shape...)}
	switch dtype {
	case F32:
		t.Data = make([]byte, 4*n)
		for i, x := range v {
			binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(x))
		}
	case F64:
		t.Data = make([]byte, 8*n)
		for i, x := range v {
			binary.LittleEndian.PutUint64(t.Data[8*i:], math.Float64bits(float64(x)))
		}
	case BF16:
		t.Data = make([]byte, 2*n)
		for i, x := range v {
			binary.LittleEndian.PutUint16(t.Data[2*i:], BF16FromFloat32(x))
		}
	case F16:
		t.Data = make([]byte, 2*n)
		for i, x := range v {
			binary.LittleEndian.PutUint16(t.Data[2*i:], F16FromFloat32(x))
		}
	default:
		return nil, fmt.Errorf("safetensors: tensor %q: cannot encode float32 values as %s", name, dtype)
	}
	return t, nil
}

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n, _ := numElements(t.Shape)
	return n
}

// maxElements bounds a tensor's element count so byte sizes cannot overflow.
const maxElements = 1 << 50

func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > maxElements/d {
			return 0, fmt.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	return n, nil
}

// Validate checks that the dtype is known and Data holds exactly
// shape × dtype-size bytes.
func (t *Tensor) Validate() error {
	size := t.DType.Size()
	if size == 0 {
		return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
	}
	n, err := numElements(t.Shape)
	if err != nil {
		return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	if t.Data == nil && t.Lazy != nil {
		return nil // checked when produced (Encode)
	}
	if len(t.Data) != n*size {
		return fmt.Errorf("safetensors: tensor %q: %s%v needs %d bytes, has %d", t.Name, t.DType, t.Shape, n*size, len(t.Data))
	}
	return nil
}

// byteSize is the size of the tensor's data: len(Data), or for a lazy
// tensor the size its dtype and shape give.
func (t *Tensor) byteSize() int {
	if t.Data == nil && t.Lazy != nil {
		return t.NumElements() * t.DType.Size()
	}
	return len(t.Data)
}

// Float32s decodes the tensor to float32: exact for F32, BF16 and F16;
// rounded for F64, I64 and I32.
func (t *Tensor) Float32s() ([]float32, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	n := t.NumElements()
	out := make([]float32, n)
	d := t.Data
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = Float32FromBF16(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case F16:
		for i := range out {
			out[i] = Float32FromF16(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	case I64:
		for i := range out {
			out[i] = float32(int64(binary.LittleEndian.Uint64(d[8*i:])))
		}
	case I32:
		for i := range out {
			out[i] = float32(int32(binary.LittleEndian.Uint32(d[4*i:])))
		}
	default:
		return nil, fmt.Errorf("safetensors: tensor %q: cannot convert %s to float32", t.Name, t.DType)
	}
	return out, nil
}

// Float64s decodes F64, F32, BF16, F16, I64 and I32 tensors to float64.
func (t *Tensor) Float64s() ([]float64, error) {
	if t.DType == F64 {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		out := make([]float64, t.NumElements())
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
		return out, nil
	}
	if t.DType == I64 {
		v, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out, nil
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, x := range f {
		out[i] = float64(x)
	}
	return out, nil
}

// Int64s decodes I64 and I32 tensors.
func (t *Tensor) Int64s() ([]int64, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	out := make([]int64, t.NumElements())
	switch t.DType {
	case I64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
	case I32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
	default:
		return nil, fmt.Errorf("safetensors: tensor %q: cannot convert %s to int64", t.Name, t.DType)
	}
	return out, nil
}
