// Package pairs reads preference-pair datasets in the formats TRL's
// DPOTrainer accepts and turns every record into an [Example]: a prompt, a
// chosen completion and a rejected completion, each either plain text or a
// list of chat messages.
//
// # Dataset formats
//
// The record layouts are those of TRL's "dataset_formats" guide:
//
//   - standard: "prompt", "chosen" and "rejected" are strings;
//   - conversational: the three fields are lists of {"role", "content"}
//     messages (chosen and rejected usually hold the assistant turn);
//   - implicit prompt: only "chosen" and "rejected" are given (strings or
//     message lists) and the prompt is their longest common prefix, found
//     with the rule of TRL's extract_prompt (see [ExtractPrompt]).
//
// A record whose "prompt" is of a different kind than its completions (a
// string prompt beside message-list completions, or the reverse) is treated
// as TRL's maybe_extract_prompt treats it: the prompt field is ignored and the
// prompt is extracted from chosen and rejected. If they share nothing, the
// record is rejected with an error naming the mixed kinds. (TRL 1.16's
// DPOTrainer does not call maybe_extract_prompt: it extracts a prompt only
// from a dataset without a prompt column, and fails on such a record.) A
// null prompt is extracted the same way, where TRL would fail on the None.
//
// A null field counts as absent (a null prompt means an implicit prompt). A
// message must have a non-empty string "role" and a "content" that is a
// string, a list of OpenAI-style text parts ([{"type": "text", "text":
// ...}], flattened by concatenating the texts), or null in a message with
// tool_calls (the template then sees None, as in transformers). Other
// content parts (images...) are row errors naming the part. In JSON inputs
// the other message keys (tool_calls, tool_call_id, name,
// reasoning_content...) are kept, in order, in chat.Message.Extra and passed
// to the chat template as transformers passes them; in Arrow and Parquet
// inputs messages are read as {role, content} only. Strings must be valid
// UTF-8: invalid bytes, and JSON \u escapes of unpaired UTF-16 surrogates
// (which Python keeps but cannot encode), are row errors naming the field.
//
// An optional "id" field (string or integer) names the example; without it
// the example's ID is its 0-based row number (over all inputs with
// [OpenAll]). An optional "tools" field (a list of tool schemas, or a string
// holding one) is passed to the chat template, as TRL forwards a tools
// column. A system column is read only when [Options].Columns maps it;
// Columns also renames the other fields (orca-style "question" as the
// prompt). Other fields are ignored.
//
// # Rated completions
//
// With [Options].Rated set, an input may instead hold rated completions
// — grouped rows {prompt, completions, scores} (raw UltraFeedback's
// completion objects through Columns) or a judge's flat rows {id, prompt,
// completion, score}, grouped by id — told apart by a JSON input's first
// record, or an Arrow or Parquet input's columns (whose rows are then read
// as the JSON objects of their values: list<string> completions,
// list<double> scores). They are binarized into Examples with the rules of [Binarize];
// pair ids are "<id>/<i>-<j>". A prompt that yields no pair is returned as
// a recoverable *[SkipError] carrying its id and row, so that callers count
// and report it.
//
// [ParseJudgeScores] reads a judge's scores of sampled completions (JSON
// Lines of {id, sample_index, score}) for dpo-score --rank: [JudgeScores]
// joins them to a completions stream by (id, sample_index), and a score
// given twice, or one that matched no completion, is an error naming its
// line.
//
// # Containers
//
// [Open] reads JSON Lines, a JSON array of objects (streamed, never loaded
// whole), Parquet, and Arrow IPC files and streams. JSON inputs may be gzip-
// or zstd-compressed; compression and format are detected from the first
// bytes, so "-" (standard input) works for every container. Parquet and Arrow
// IPC files need random access, so from standard input or from inside a
// compressed file they are first copied to a temporary file.
//
// # Errors
//
// A record that cannot be turned into an Example makes [Reader.Next] return a
// *[RowError] naming the file, the row (and line for JSON Lines), and the
// field path such as chosen[1].content. A RowError is recoverable: the next
// call to Next continues with the next record. Any other error (I/O, corrupt
// compression, an unreadable Parquet file, a column of an unsupported type)
// is fatal.
package pairs
