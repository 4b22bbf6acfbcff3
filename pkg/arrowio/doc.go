// Package arrowio owns the dpo stream contract: the zstd-compressed Arrow IPC
// streams that the dpo tools read and write (see docs/format.md).
//
// It provides
//
//   - [Writer]: an Arrow IPC stream writer that re-chunks records into batches
//     of about [WriterOptions].BatchRows rows, compresses their buffers (zstd by
//     default, lz4 or none) and, on Close, appends the end marker: a zero-row
//     batch whose IPC message custom_metadata carries the total row count;
//   - [Reader]: a stream reader that validates every batch, converts
//     arrow-go panics on corrupt input into errors naming the input and batch,
//     and fails on a stream that ends without the end marker, whose row count
//     disagrees with it, or whose batches are lost, repeated or out of order
//     (each carries its index, row offset and the previous batch's checksum,
//     format version 3); [Open] also reads Arrow IPC files (their stream
//     part, the footer's blocks checked to be in file order; the footer
//     vouches for completeness when the end marker is missing), [OpenAll] reads several inputs in order as one stream, and
//     [Reader.SetRange] with [CountRows] restricts it to a row range (shards);
//   - [Metadata]: the versioned schema metadata (format version, producing
//     tool, tokenizer identity, chat template hash, the options of every stage)
//     with typed getters and [Metadata.CheckSameTokenizer];
//   - column names, [PairsSchema], [PairBuilder] and the zero-copy accessor
//     [ReadPairs] for the preference-pair columns TRL uses;
//   - [CompletionsSchema], [CompletionBuilder] and [ReadCompletions] for
//     completions streams (dpo-sample's output, dpo.kind=completions: one
//     row per sampled completion);
//   - [OpenInput] and [CreateOutput]: "-" for stdin/stdout, atomic file output
//     (temp file, fsync, rename on Commit);
//   - [LineWriter] and [WriteLines]: JSON Lines outputs written in whole
//     lines, a partial write into a regular file cut back to a line boundary;
//   - [Spill]: writes a stream once to an uncompressed Arrow IPC file and
//     memory-maps it for random access by consumers that need several passes.
package arrowio
