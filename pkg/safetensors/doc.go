// Package safetensors reads and writes Hugging Face safetensors files.
//
// Format: an 8-byte little-endian header length N, N bytes of JSON mapping
// tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" string map,
// then the data section. Open memory-maps the file and validates the header
// as the reference Rust implementation does: sane header length, known
// dtypes, byte sizes equal to shape × dtype size, offsets contiguous,
// non-overlapping and covering the whole data section. Tensor data alias
// the mapping: no copy is made until Float32s converts them.
//
// OpenModel opens a model directory, either one model.safetensors or a
// sharded checkpoint described by model.safetensors.index.json.
//
// Write writes a file atomically (temporary file, fsync, rename) with the
// layout of the Rust writer: tensors ordered by dtype size then name, the
// header padded with spaces to a multiple of 8 bytes. FromFloat32 encodes
// float32 values as F32, BF16 or F16 (round to nearest even).
package safetensors
