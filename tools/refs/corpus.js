#!/usr/bin/env node
// corpus.js builds the deterministic tokenizer test corpus: well over 1,000
// strings aimed at the places where tokenizers disagree (pre-tokenizer regex
// edges, Unicode normalization, byte fallback, added/special tokens, decoding
// of partial UTF-8). The same list is produced on every run: random parts use
// a seeded PRNG (mulberry32), never Math.random.
//
// As a module: require('./corpus').corpus() returns the array of strings.
// As a command: `node tools/refs/corpus.js` prints one JSON string per line.
'use strict';

function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Ranges of code points assigned since early Unicode versions, so that every
// implementation (Go's unicode tables, Oniguruma's, Rust's) agrees on their
// categories and normalization.
const RANGES = [
  [0x20, 0x7e], [0xa0, 0xff], [0x100, 0x17f], [0x180, 0x24f], [0x250, 0x2af], [0x300, 0x36f],
  [0x391, 0x3a1], [0x3a3, 0x3ce], [0x400, 0x4ff], [0x531, 0x556], [0x561, 0x587], [0x5d0, 0x5ea],
  [0x5b0, 0x5c3], [0x621, 0x63a], [0x640, 0x652], [0x660, 0x669], [0x905, 0x939], [0x93e, 0x94d],
  [0x966, 0x96f], [0x985, 0x98c], [0xe01, 0xe3a], [0xe40, 0xe4e], [0xe50, 0xe59], [0x10d0, 0x10f0],
  [0x1100, 0x1112], [0x1161, 0x1175], [0x11a8, 0x11c2], [0x1e00, 0x1eff], [0x2010, 0x2027],
  [0x2030, 0x205e], [0x20a0, 0x20b5], [0x2100, 0x214f], [0x2190, 0x21ff], [0x2200, 0x22ff],
  [0x2460, 0x24ff], [0x2500, 0x257f], [0x25a0, 0x25ff], [0x2600, 0x26ff], [0x3000, 0x303f],
  [0x3041, 0x3096], [0x30a1, 0x30fa], [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0xff01, 0xff5e],
  [0x1f300, 0x1f5ff], [0x1f600, 0x1f64f], [0x1f680, 0x1f6c5], [0x1d400, 0x1d454], [0x10000, 0x1000b],
  [0x20000, 0x2a6d6],
];

function randomCodePoint(rnd) {
  const [lo, hi] = RANGES[Math.floor(rnd() * RANGES.length)];
  return String.fromCodePoint(lo + Math.floor(rnd() * (hi - lo + 1)));
}

function corpus() {
  const out = [];
  const add = (...xs) => { for (const x of xs) out.push(x); };

  // --- basics, empty and whitespace-only
  add('', ' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\r', ' \n', '\n ', ' \t \n', '\u00a0', '\u3000',
    'a', 'A', '.', '0', 'hello', 'Hello', ' Hello', 'Hello ', ' Hello ', 'Hello world', 'Hello  world',
    'Hello\tworld', 'Hello\nworld', 'Hello\n\nworld', 'Hello\r\nworld', 'Hello\rworld', '  leading two',
    'trailing two  ', '\n\nleading newlines', 'trailing newlines\n\n', 'The quick brown fox jumps over the lazy dog.',
    'THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!', 'Pack my box with five dozen liquor jugs?');

  // --- contractions in every case and position
  const contr = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];
  for (const c of contr) {
    const up = c.toUpperCase();
    const mixed = c.length > 2 ? c[0] + c[1].toUpperCase() + c.slice(2) : c.toUpperCase();
    add(`it${c}`, `IT${up}`, `it${mixed} fine`, `he ${c}`, c, ` ${c}`, `${c}x`, `don${c} stop`, `x${c}${c}`);
  }
  add("I'm sure they'll've done it, isn't it? We'd", "DON'T YOU'RE WE'VE I'M YOU'LL HE'D IT'S",
    "rock 'n' roll", "'quoted'", "''double''", "O'Neil's", 'it’s curly', "l'homme d'affaires", "'S'T'RE");

  // --- accents and normalization forms
  const accented = ['café', 'naïve', 'résumé', 'Ångström', 'jalapeño', 'façade', 'Zürich', 'coöperate', 'São Paulo',
    'Dvořák', 'Łódź', 'Ελληνικά', 'Tiếng Việt', 'œuvre', 'ﬁnance', 'Ⅻ', '½', 'ℌ', 'Å', 'K'];
  for (const w of accented) add(w, w.normalize('NFD'), ' ' + w.normalize('NFKC'), w.normalize('NFKD') + '.');
  // long runs of combining marks: > 30 non-starters is where stream-safe
  // normalizers (Go's x/text inserts U+034F) part ways with plain NFC
  add('x' + '\u0301'.repeat(31), 'e' + '\u0316\u0301'.repeat(20) + ' next', 'a' + '\u0301'.repeat(30) + 'b', 'ko' + '\u0308\u0323'.repeat(16));
  add('e\u0301', 'a\u0300\u0301\u0302\u0303', '\u0301 leading combining mark', 'x\u0308\u0308\u0308\u0308', 'ḱ̷̡̛̗͍̥̯͍̱̙͖̰̦̗͕̫͓͔̭͙̹̮̭̙̍̔̀̓̓͆̿̓̿̿̈̍͊̈́͜͝͠ͅͅ zalgo');

  // --- scripts
  add('日本語のテキストです。', '東京は日本の首都です', 'カタカナとひらがな', '中文测试，你好世界！', '繁體中文測試',
    '한국어 텍스트입니다', '안녕하세요 세계', '\u1112\u1161\u11ab\u1100\u1173\u11af', '한국어'.normalize('NFD'),
    'ᄀᄁᄂᄃ ᅡᅢᅣ ᆨᆩᆪ', 'مرحبا بالعالم', 'العربية: ١٢٣٤٥٦', 'שלום עולם', 'עִבְרִית', 'नमस्ते दुनिया', 'हिन्दी में परीक्षण',
    'สวัสดีชาวโลก', 'ภาษาไทยไม่มีช่องว่าง', 'Русский текст, Ёжик', 'Українська мова', 'Ελληνικά κείμενα', 'Հայերեն', 'ქართული ენა',
    'বাংলা ভাষা', 'தமிழ்', 'ગુજરાતી', 'ᚠᚢᚦᚨᚱᚲ', '𐀀𐀁𐀂 Linear B', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝', '𠀀𠀁𠀂 CJK ext B', 'ʻŌlelo Hawaiʻi',
    'English中文mixed한국어العربية', 'abcабвαβγ', 'Tokyo東京2024年', 'ok👍ok', 'αβγ123δεζ', 'זה text מעורב', 'नमस्ते hello 你好');

  // --- emoji
  add('😀', '😀😃😄', '👍🏽', '👍🏻👍🏼👍🏽👍🏾👍🏿', '👨‍👩‍👧‍👦', '👩🏽‍💻', '🏳️‍🌈', '🇺🇸🇯🇵🇫🇷', '1️⃣#️⃣', '❤️', '❤', '☺️', '🧑‍🤝‍🧑',
    'emoji 😀 in text', 'family: 👨‍👩‍👧 done', '🤷🏻‍♂️', '\u200d', 'a\u200db', '👨\u200d', '\ufe0f', '🫠🫡', '🐍 python', '🔥🔥🔥🔥🔥');

  // --- digits and numbers
  for (let n = 1; n <= 25; n++) add('1234567890'.repeat(4).slice(0, n));
  add('3.14159', '-42', '+7', '1,000,000', '1 000 000', '0x1F', '1e-10', '2024-06-01', '12:34:56', '$1,299.99', '99%', '١٢٣', '१२३',
    '１２３', '²³', '½¼', 'Ⅳ', 'v1.2.3', 'abc123def', '123abc', 'phone: +1 (555) 123-4567', 'IPv4 192.168.0.1', 'a1b2c3d4e5',
    '0000000000000000', '9'.repeat(64), 'pi=3.141592653589793238462643383279502884197');

  // --- code
  add('def f(x):\n    return x ** 2\n', 'import numpy as np\nprint(np.arange(10))', 'class Foo:\n\tdef __init__(self):\n\t\tpass\n',
    'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hi")\n}\n', 'if err != nil {\n\treturn fmt.Errorf("x: %w", err)\n}',
    '{"key": [1, 2, 3], "nested": {"a": null, "b": true}}', '[{"id":1},{"id":2}]', '<html><body><p class="x">Hi &amp; bye</p></body></html>',
    '<!DOCTYPE html>\n<div id="main">\n  <span>text</span>\n</div>', 'const f = (a, b) => a + b; // sum', 'SELECT * FROM users WHERE id = 42;',
    '#!/bin/sh\nset -eu\nfor f in *.txt; do echo "$f"; done', 'key: value\nlist:\n  - a\n  - b\n', '# Title\n\n* item\n* **bold** _it_\n\n```go\nx := 1\n```',
    'int main(void) { printf("%d\\n", 1); return 0; }', '    indented four\n        eight\n', 'a\tb\tc\n1\t2\t3\n', 'x=1;y=2;z=x+y', '$$\\frac{a}{b}$$',
    'https://example.com/path?q=1&r=two#frag', 'user@example.com', 'C:\\Users\\name\\file.txt', '/usr/local/bin/', '-->', '<=>', '!==', '::', '...', '—', '–');

  // --- control characters and invisibles
  const ctrls = [];
  for (let c = 0; c < 0x20; c++) ctrls.push(String.fromCharCode(c));
  ctrls.push('\u007f', '\u0080', '\u0085', '\u009f', '\u00ad', '\u200b', '\u200c', '\u200e', '\u200f', '\u2028', '\u2029', '\u2060', '\ufeff', '\ufffd', '\ufffc');
  for (const c of ctrls) add(c, `a${c}b`, ` ${c} `);
  // Unicode whitespace and case folding edges of the pre-tokenizer regexes
  add("it'ſ", "'ſ", "IT'Ş", "we'ʟʟ", 'a\u1680b', 'a\u180eb', 'a\u2000\u2001\u200ab', 'a\u205fb', 'a\u0085\u0085b', '  \u00a0 x', 'x \u3000 ');
  add('\ufeffBOM at start', 'zero\u200bwidth\u200bspace', '\u0000\u0000\u0000', 'tab\t\t\tand\u000bvtab\u000cff', '\u001b[31mred\u001b[0m');

  // --- special-token strings inside text
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|begin_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<s>', '</s>',
    '<unk>', '<start_of_turn>', '<end_of_turn>', '<bos>', '<eos>', '<pad>', '[INST]', '[/INST]', '<think>', '</think>', '<|fim_prefix|>', '<mask>'];
  for (const s of specials) {
    add(s, ` ${s}`, `${s} `, `a${s}b`, `a ${s} b`, `\n${s}\n`, `${s}${s}`, `${s.toUpperCase()}`, s.slice(0, -1));
  }
  add('<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\nHi there.<|im_end|>\n',
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>',
    '<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\nhello<end_of_turn>\n', '<s>[INST] Tell me a joke [/INST] Why did</s>',
    '<|endoftext|><|endoftext|> double', 'text<|endoftext|>', '< |endoftext| >', '<|endoftext', 'endoftext|>');

  // --- repeated characters and runs
  for (const r of ['a', 'ab', '.', '-', '=', '!', ' ', '\n', '\t', 'é', '😀', '字', '\r\n', ' a', '0']) {
    for (const n of [2, 3, 7, 16, 33, 100]) add(r.repeat(n));
  }
  for (let n = 1; n <= 12; n++) add('x' + ' '.repeat(n) + 'y', ' '.repeat(n) + 'z', 'w' + ' '.repeat(n), 'p' + '\n'.repeat(n) + 'q');

  // --- whitespace soup (seeded)
  {
    const rnd = mulberry32(1);
    const alpha = [' ', ' ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u2003', 'a', 'Z', '1', '.', "'s", '字'];
    for (let i = 0; i < 150; i++) {
      const n = 1 + Math.floor(rnd() * 12);
      let s = '';
      for (let j = 0; j < n; j++) s += alpha[Math.floor(rnd() * alpha.length)];
      add(s);
    }
  }

  // --- very long words
  {
    const rnd = mulberry32(2);
    let letters = '';
    for (let i = 0; i < 10000; i++) letters += String.fromCharCode(97 + Math.floor(rnd() * 26));
    add('a'.repeat(10000), letters, ' ' + letters, '日'.repeat(5000), '😀'.repeat(2000), '7'.repeat(10000), ' '.repeat(10000),
      'ab'.repeat(5000), 'https://example.com/' + 'x/'.repeat(2000), 'Supercalifragilisticexpialidocious'.repeat(300));
  }

  // --- random printable ASCII (seeded)
  {
    const rnd = mulberry32(3);
    for (let i = 0; i < 120; i++) {
      const n = 1 + Math.floor(rnd() * 60);
      let s = '';
      for (let j = 0; j < n; j++) s += String.fromCharCode(32 + Math.floor(rnd() * 95));
      add(s);
    }
  }

  // --- random Unicode (seeded; assigned, long-stable ranges only)
  {
    const rnd = mulberry32(4);
    for (let i = 0; i < 220; i++) {
      const n = 1 + Math.floor(rnd() * 40);
      let s = '';
      for (let j = 0; j < n; j++) s += rnd() < 0.15 ? ' ' : randomCodePoint(rnd);
      add(s);
    }
  }

  // --- mixed-script word salad (seeded)
  {
    const rnd = mulberry32(5);
    const words = ['the', 'The', 'THE', ' of', 'and', "it's", 'naïve', 'cafe\u0301', '東京', 'ソウル', '서울', 'القاهرة', 'ירושלים', 'मुंबई',
      'กรุงเทพ', 'Москва', '42', '3.14', '1000000', '😀', '👍🏽', '👨‍👩‍👧', '\n', '\t', '  ', ',', '.', '!?', '...', '"', '(', ')', '<s>',
      '<|endoftext|>', '<|im_start|>', '[INST]', '<bos>', 'def', '{', '}', '=>', '//', '\r\n', 'Ω', 'ß', 'İ', 'ı', 'ﬀ', '™'];
    for (let i = 0; i < 120; i++) {
      const n = 1 + Math.floor(rnd() * 14);
      let s = '';
      for (let j = 0; j < n; j++) s += (rnd() < 0.5 ? ' ' : '') + words[Math.floor(rnd() * words.length)];
      add(s);
    }
  }

  // --- chat-like and DPO-dataset-like paragraphs
  add('Human: What is the capital of France?\n\nAssistant: The capital of France is Paris.',
    'Human: Can you help me write a poem about the sea?\n\nAssistant: Of course! Here is a short poem:\n\nThe waves roll in, the waves roll out,\nA restless blue without a doubt.',
    "I'm sorry, but I can't help with that request. If you have another question, I'd be happy to help!",
    'Sure! Here\'s a Python function that reverses a string:\n\n```python\ndef reverse(s: str) -> str:\n    return s[::-1]\n```\n\nThis uses slicing with a step of -1.',
    'Step 1: Preheat the oven to 180°C (350°F).\nStep 2: Mix 200 g flour, 100 g sugar and 2 eggs.\nStep 3: Bake for 25–30 minutes.',
    'The mitochondria is the powerhouse of the cell. It produces ATP through oxidative phosphorylation, a process that takes place in the inner membrane.',
    'Q: If a train leaves at 3:15 PM and travels 120 km at 80 km/h, when does it arrive?\nA: 120 / 80 = 1.5 hours, so it arrives at 4:45 PM.',
    'Je pense, donc je suis. — René Descartes, «Discours de la méthode» (1637).',
    '「吾輩は猫である。名前はまだ無い。」これは夏目漱石の小説の冒頭です。',
    '사용자: 오늘 날씨 어때?\n어시스턴트: 오늘은 맑고 기온은 23도입니다.',
    '{"prompt": "Explain DPO.", "chosen": "Direct Preference Optimization trains a policy directly on preference pairs.", "rejected": "DPO is a kind of pizza."}',
    'chosen: The answer is 42.\nrejected: I don\'t know lol',
    'Thank you for your question! 😊 Let me break it down:\n\n1. **First**, consider the inputs.\n2. **Second**, compute the result.\n\nHope this helps! 👍',
    'User: translate "good morning" to Spanish, German and Japanese\nAssistant: Buenos días / Guten Morgen / おはようございます',
    'As an AI language model, I do not have personal opinions. However, here are some perspectives:\n- Pro: ...\n- Con: ...',
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nSummarize: The cat sat on the mat.<|im_end|>\n<|im_start|>assistant\n',
    'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.',
    'He said, "It\'s 5 o\'clock somewhere," and laughed—then left.\r\nNext line with CRLF.\r\n\r\nDone.',
    'Rating: ★★★★☆ (4/5)\nPros: fast, cheap\nCons: loud\n\n',
    '   Indented answer with trailing spaces   \n\n\n');

  // dedupe, keep first occurrence order
  const seen = new Set();
  return out.filter((s) => (seen.has(s) ? false : (seen.add(s), true)));
}

// randomCorpus returns n seeded random strings for differential fuzzing
// against the reference (golden.js --random N --seed S --out DIR): each is a
// few segments drawn from pools of the constructs that matter to tokenizers.
function randomCorpus(n, seed) {
  const rnd = mulberry32(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const pools = [
    ['the', 'The', 'HELLO', 'world', 'naïve', 'cafe\u0301', 'Straße', 'İstanbul', 'ǅ', 'ﬁ', 'Ⅻ', '東京', 'ソウル', '서울', '한', '\u1100\u1161', 'العربية', 'עברית', 'हिन्दी', 'ไทย', 'Москва', 'ελληνικά', 'ʻokina'],
    ["'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'d", "'", '’s', "'x", "n't"],
    [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\r', ' \n', '\u00a0', '\u3000', '\u2009', '\u200b', '\u0085', '\u2028', '\u000b', '\u000c'],
    ['0', '7', '42', '123', '1234', '12345', '3.14', '1,000', '١٢٣', '१२', '²', '½', '１２'],
    ['😀', '👍🏽', '👨‍👩‍👧', '🏳️‍🌈', '🇯🇵', '❤️', '1️⃣', '\u200d', '\ufe0f', '🤷🏻‍♂️'],
    ['\u0301', '\u0316', '\u0308\u0323', '\u0300\u0301\u0302', '\u034f', '\u0670', '\u093c'],
    ['.', ',', '!', '?', '...', '--', '—', '"', '(', ')', '{', '}', '[', ']', '<', '>', '/', '\\', '@', '#', '$', '%', '^', '&', '*', '_', '=', '+', '|', '~', '`'],
    ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|begin_of_text|>', '<|eot_id|>', '<s>', '</s>', '<unk>', '<bos>', '<eos>', '<start_of_turn>', '<end_of_turn>', '[INST]', '<think>', '<mask>', '<|tool|>', 'New York', 'cat', '▁', '▁▁', '<0x41>'],
    ['def', 'func', 'return', '=>', '::', '!=', '==', '//', '/*', '*/', '#!', '${x}', 'x_1', 'camelCase', 'snake_case', 'URL', 'https://a.b/c?d=e'],
    ['\u0000', '\u0001', '\u001b', '\u007f', '\u0080', '\u00ad', '\ufeff', '\ufffd', '\ue000', '\uffff', '\u{10ffff}', '\u{1d11e}', '\u{20000}'],
  ];
  const out = [];
  for (let i = 0; i < n; i++) {
    const k = 1 + Math.floor(rnd() * 12);
    let s = '';
    for (let j = 0; j < k; j++) {
      const r = rnd();
      if (r < 0.08) s += randomCodePoint(rnd);
      else if (r < 0.12) s += pick(pick(pools)).repeat(2 + Math.floor(rnd() * 40));
      else if (r < 0.16) s += pick(pick(pools)).toUpperCase();
      else s += pick(pick(pools));
    }
    out.push(s);
  }
  return out;
}

module.exports = { corpus, randomCorpus, mulberry32 };

if (require.main === module) {
  for (const s of corpus()) process.stdout.write(JSON.stringify(s) + '\n');
}
