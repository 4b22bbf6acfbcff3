// Package gputool holds the helpers of the GPU benchmark (bench/gpu):
// random-init checkpoints with real Qwen2.5 shapes written by our own
// writer (MkModel) and synthetic preference pairs of exact byte lengths
// (MkPairs). The JSON dump the Python scripts read is bench/internal/streamdump.
package gputool
