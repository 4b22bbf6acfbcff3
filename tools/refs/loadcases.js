#!/usr/bin/env node
// loadcases.js prints, for each small tokenizer.json used by
// pkg/tokenizer/fuzz_test.go (TestLoadErrors, TestLoadMinimal), whether the
// HF Rust tokenizers library rejects it, or what it encodes "ab a" to and
// decodes [0, 1, 2, 99999] to. Run from the repository root:
//   node tools/refs/loadcases.js
'use strict';
const { Tokenizer } = require('@anush008/tokenizers');
const cases = {
  empty: '',
  notjson: 'not json',
  truncated: '{"version":"1.0","model":{"type":"BPE","vocab":{"a":0',
  obj: '{}',
  nullj: 'null',
  arr: '[]',
  modelnum: '{"model":5}',
  unknownModel: '{"model":{"type":"Nope","vocab":{}}}',
  unknownPre: '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Nope"}}',
  mergeOOV: '{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a c"]}}',
  mergeBad: '{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["abc"]}}',
  minimalBPE: '{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}',
  minimalBPEarr: '{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]}}',
  full: '{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}',
  vocabNeg: '{"model":{"type":"BPE","vocab":{"a":-1},"merges":[]}}',
  vocabStr: '{"model":{"type":"BPE","vocab":{"a":"x"},"merges":[]}}',
  addedBadId: '{"added_tokens":[{"id":"x","content":"<s>","special":true}],"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}',
  addedNoContent: '{"added_tokens":[{"id":5,"special":true}],"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}',
  badRegex: '{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(["},"behavior":"Isolated","invert":false},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}',
  unkNotInVocab: '{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"<unk>"}}',
  wordlevel: '{"model":{"type":"WordLevel","vocab":{"a":0,"[UNK]":1},"unk_token":"[UNK]"}}',
  unigram: '{"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0],["a",-1.5]]}}',
  unigramBad: '{"model":{"type":"Unigram","unk_id":5,"vocab":[["<unk>",0]]}}',
  noType: '{"model":{"vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}',
};
(async () => {
for (const [k, v] of Object.entries(cases)) {
  try { const t = Tokenizer.fromString(v); const e = await t.encode('ab a', null, {addSpecialTokens: true}); const d = await t.decode([0, 1, 2, 99999], false); console.log(k, 'OK', e.getIds(), JSON.stringify(d)); }
  catch (e) { console.log(k, 'ERR', String(e).slice(0, 120)); }
}
})();
