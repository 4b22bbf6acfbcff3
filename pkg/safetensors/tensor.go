package safetensors

// DType is a safetensors dtype string ("F32", "BF16", "F16", ...).
type DType string

const (
	F32  DType = "F32"
	BF16 DType = "BF16"
	F16  DType = "F16"
	F64  DType = "F64"
	I64  DType = "I64"
	I32  DType = "I32"
)

// Tensor is one named tensor. Data holds the raw little-endian bytes; for a
// memory-mapped file it aliases the mapping and must not be modified.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
	// Lazy, when set on a tensor to be written (Data nil), returns its
	// bytes when the encoder reaches it, so that writing a large set
	// holds one tensor's bytes at a time. The bytes must have the size of
	// DType and Shape.
	Lazy func() ([]byte, error)
}
