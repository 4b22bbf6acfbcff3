// Package refbench holds the helpers of the dpo-reflogp benchmark
// (bench/reflogp/run.sh): a random-init Qwen2-family checkpoint of a chosen
// size (MkModel) and a dpo pairs stream of uniformly random token ids with
// fixed prompt and completion lengths (MkPairs). Its "dump" command
// (bench/internal/streamdump) keeps each row's record-batch index, so the
// PyTorch side (bench/reflogp/torch_forward.py) can rebuild the engine's
// batches, which are planned per record batch, without pyarrow.
package refbench
