#!/usr/bin/env node
// gen.js writes expected.jsonl: what Hugging Face's Rust tokenizers (npm
// @anush008/tokenizers, crate 0.22) produces for every case of cases.json.
// A case is a real base tokenizer.json with top-level components replaced
// ("override") and model fields replaced ("model"); component_test.go builds
// the same file. Run from the repository root:
//
//	node pkg/tokenizer/testdata/components/gen.js
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.resolve(__dirname, '..', '..', '..', '..');
const nm = path.join(root, 'tools', 'refs', 'node_modules');
const { Tokenizer } = require(path.join(nm, '@anush008', 'tokenizers'));
const bases = {
  gpt2: path.join(root, 'testdata', 'tokenizers', 'gpt2', 'tokenizer.json'),
  mistral: path.join(nm, '@lenml', 'tokenizer-llama2', 'models', 'tokenizer.json'),
};
(async () => {
  const spec = JSON.parse(fs.readFileSync(path.join(__dirname, 'cases.json'), 'utf8'));
  const out = [];
  for (const c of spec.cases) {
    const j = JSON.parse(fs.readFileSync(bases[c.base], 'utf8'));
    Object.assign(j, c.override || {});
    Object.assign(j.model, c.model || {});
    let tok;
    try { tok = Tokenizer.fromString(JSON.stringify(j)); } catch (e) { throw new Error(c.name + ": " + e.message); }
    for (const text of spec.texts.concat(c.texts || [])) {
      const ids = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
      const idsSpecial = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
      out.push(JSON.stringify({
        case: c.name, text, ids, ids_special: idsSpecial,
        decoded: await tok.decode(idsSpecial, false), decoded_skip: await tok.decode(idsSpecial, true),
      }));
    }
  }
  fs.writeFileSync(path.join(__dirname, 'expected.jsonl'), out.join('\n') + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
