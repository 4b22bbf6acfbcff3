// Package tokenizer loads Hugging Face tokenizer.json files and encodes and
// decodes text exactly as the Rust tokenizers library (v0.22) does, in pure Go.
//
// It owns the whole encode pipeline of a fast tokenizer:
//
//  1. added tokens (special or not) are split out of the input first, longest
//     match wins, honouring single_word, lstrip, rstrip and normalized;
//  2. the remaining pieces are normalized (NFC/NFD/NFKC/NFKD, Lowercase,
//     Strip, Replace, Prepend, StripAccents, ByteLevel, Bert, Sequence);
//  3. pre-tokenized (ByteLevel, Split with regex or string patterns and every
//     split behaviour, Metaspace, Digits, Punctuation, Whitespace,
//     WhitespaceSplit, CharDelimiterSplit, BertPreTokenizer, Sequence);
//  4. tokenized by a BPE model (byte-level or SentencePiece-style with
//     byte_fallback, fuse_unk, ignore_merges, prefixes/suffixes) using a
//     priority-queue merge and a bounded concurrent word cache;
//  5. post-processed (TemplateProcessing, ByteLevel, RobertaProcessing,
//     BertProcessing, Sequence) when special tokens are requested.
//
// Decoding runs the configured decoder chain (ByteLevel, Metaspace, Replace,
// ByteFallback, Fuse, Strip, WordPiece, BPEDecoder, Sequence).
//
// A component type this package does not implement (Unigram, WordPiece and
// WordLevel models, the Precompiled normalizer, UnicodeScripts, CTC, ...) is
// an error at Load time naming the component; nothing is silently
// approximated. Fields HF's deserializer requires are required here too.
//
// HF compiles Split and Replace regexes with Oniguruma (Ruby syntax); they
// run here on regexp2 after a translation of the constructs whose meaning
// differs (possessive quantifiers, \h, \w, POSIX brackets, line anchors),
// and the GPT-2, Llama 3 and Qwen2 split regexes use hand-written scanners.
// Known residual differences: regexp2's (?i) does not fold U+017F (long s)
// or U+212A (Kelvin) in arbitrary patterns (the hand-written scanners do),
// and Unicode tables follow Go's version rather than Rust's.
//
// Load of a tokenizer.json file gives the Rust library's tokenizer; Load of
// a model directory gives what transformers 5.x's AutoTokenizer (and so TRL)
// uses, which differs for LlamaTokenizer directories (Llama 2, Mistral v0.1
// style): transformers rebuilds their normalizer, pre-tokenizer and decoder
// from tokenizer_config.json's legacy and add_prefix_space (hfclass.go).
//
// Like transformers (and unlike calling the Rust library directly), the
// truncation and padding sections of a tokenizer.json are ignored: Encode
// never truncates or pads.
//
// Builtin("bytes") is a lossless byte tokenizer that needs no file: ids
// 0..255 are raw bytes, then <|bos|>=256, <|eos|>=257, <|pad|>=258.
package tokenizer
