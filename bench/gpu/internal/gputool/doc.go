// Package gputool holds the helpers of the GPU benchmark (bench/gpu):
// random-init checkpoints with real Qwen2.5 shapes written by our own
// writer (MkModel), synthetic preference pairs of exact byte lengths
// (MkPairs), and a JSON dump of a reference stream (Dump) that the Python
// comparison scripts read without pyarrow.
package gputool
