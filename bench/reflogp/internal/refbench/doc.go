// Package refbench holds the helpers of the dpo-reflogp benchmark
// (bench/reflogp/run.sh): a random-init Qwen2-family checkpoint of a chosen
// size (MkModel), a dpo pairs stream of uniformly random token ids with
// fixed prompt and completion lengths (MkPairs), and a JSON dump of a
// reference stream that keeps each row's record-batch index (Dump), so the
// PyTorch side (bench/reflogp/torch_forward.py) can rebuild the engine's
// batches, which are planned per record batch, without pyarrow.
package refbench
