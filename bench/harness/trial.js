'use strict';
// One trial of the key-value workloads, in a child process of its own:
// opens a fresh store of one configuration, runs fillrandom, overwrite and
// readrandom in that order on the same keys, and prints the ns per
// operation of each, over the phase and as the median of 1000-operation
// chunks, as one JSON line. A workload that was not asked for
// still runs when a later one needs its data (readrandom needs fillrandom),
// but is not reported. readrandom reads every key twice and times the second
// pass. Before any of it, every configuration does the same work untimed on
// a scratch store of its own, with other keys (see warmUp).
//
//   node bench/harness/trial.js '<json spec>'
//   spec: { config, dir, records, keyBytes, valueBytes, seed, workloads,
//           warm: { records, ms } (default 30000 records, 1500 ms) }

const fs = require('node:fs');
const v8 = require('node:v8');
const vm = require('node:vm');
const { config: configOf } = require('./drivers');
const { seededRandom } = require('../../dist/testing');

const WORKLOADS = ['fillrandom', 'overwrite', 'readrandom'];

v8.setFlagsFromString('--expose-gc');
/** A full garbage collection, run before each timed phase (see runAll). */
const gc = vm.runInNewContext('gc');

function shuffled(n, rnd) {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function bytes(n, rnd) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0;
  return b;
}

/**
 * The keys, the values of fillrandom and of overwrite, and the three
 * orders. Keys are distinct random bytes; values are slices of a
 * random pool at offsets that vary from key to key (incompressible, so no
 * store gains from compression).
 */
function dataset({ records, keyBytes, valueBytes, seed }) {
  const rnd = seededRandom(seed);
  const keys = [];
  const seen = new Set();
  while (keys.length < records) {
    const k = bytes(keyBytes, rnd);
    const hex = k.toString('hex');
    if (seen.has(hex)) continue;
    seen.add(hex);
    keys.push(k);
  }
  const pool = bytes(valueBytes + 8192, rnd);
  const values = (shift) =>
    keys.map((_, i) => {
      const at = (i * 61 + shift) % 8192;
      return pool.subarray(at, at + valueBytes);
    });
  return {
    keys,
    fill: values(0),
    over: values(4099),
    orders: [shuffled(records, rnd), shuffled(records, rnd), shuffled(records, rnd)],
  };
}

/**
 * Runs the workloads of `spec` in order on a fresh store in `dir`, and
 * returns, for each one asked for, the ns per operation over the whole
 * phase (`ns`) and the median of its chunks' ns per operation (`chunkNs`).
 */
async function runAll(config, spec, dir, data) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const handle = await config.open(dir, spec);
  const last = Math.max(...spec.workloads.map((w) => WORKLOADS.indexOf(w)));
  const ns = {};
  const chunkNs = {};
  let current = data.fill;
  for (let w = 0; w <= last; w++) {
    const name = WORKLOADS[w];
    if (name === 'overwrite' && !spec.workloads.includes(name)) continue; // nothing later needs it
    const fn = require(`../${name}`)[config.competitor];
    if (name === 'overwrite') current = data.over;
    const ctx = { config, ...inPhaseOrder(data.keys, current, data.orders[w]) };
    // Reads change nothing, so they get an untimed pass first: the caches
    // settle on this store's data.
    if (name === 'readrandom') await fn(handle, ctx);
    // No garbage collection owed to the setup lands inside the timing: with
    // pmem's KVStore, which sees its file through one 64 MiB ArrayBuffer, V8
    // began a full collection at each open and finished it a few ms later,
    // inside fillrandom (--trace-gc). The phase's own garbage is still
    // collected, and timed.
    gc();
    // Timed whole, and in chunks of CHUNK operations (the median chunk
    // leaves out a chunk that the scheduler interrupted, as bench/kv.js
    // does). lmdb-js's `put` then `await flushed` is timed whole only: its
    // writes are batched up to the flush it awaits.
    const perChunk = [];
    let result = { bytes: 0, tail: 0 };
    const t0 = process.hrtime.bigint();
    if (config.write === 'flushed') {
      result = await fn(handle, ctx);
    } else {
      for (let from = 0; from < ctx.order.length; from += CHUNK) {
        const part = ctx.order.slice(from, from + CHUNK);
        const c0 = process.hrtime.bigint();
        const r = await fn(handle, { ...ctx, order: part });
        perChunk.push(Number(process.hrtime.bigint() - c0) / part.length);
        if (r) {
          result.bytes += r.bytes;
          result.tail += r.tail;
        }
      }
    }
    const elapsed = Number(process.hrtime.bigint() - t0);
    if (name === 'readrandom') {
      let tail = 0;
      for (const v of current) tail += v[v.length - 1];
      const want = { bytes: spec.records * spec.valueBytes, tail };
      if (result.bytes !== want.bytes || result.tail !== want.tail) {
        throw new Error(`readrandom read ${JSON.stringify(result)}, expected ${JSON.stringify(want)}`);
      }
    }
    if (spec.workloads.includes(name)) {
      ns[name] = elapsed / spec.records;
      chunkNs[name] = perChunk.length > 0 ? median(perChunk) : ns[name];
    }
  }
  await config.close(handle);
  fs.rmSync(dir, { recursive: true, force: true });
  return { ns, chunkNs };
}

/**
 * The phase's keys and values laid out in the order it uses them, with
 * `order` counting up: the i-th operation reads the i-th key object, made
 * i-th (new objects over the same bytes' copies for keys, over the same
 * pool for values), so fetching the next key and value is a sequential
 * read, as db_bench's key generation into a buffer is. Looked up at
 * random in arrays made in key order, each operation paid three or four
 * cache misses of the benchmark's own (the array slot, the Buffer object,
 * its bytes, for the key and again for the value), which no store causes
 * and the C floor never pays: 0.6-0.7 µs per operation at 1M records
 * (docs/bench.md, "The harness and bench/kv.js at the same scale").
 * Every configuration gets the same arrays.
 */
function inPhaseOrder(keys, values, order) {
  const n = order.length;
  const k = new Array(n);
  const v = new Array(n);
  for (let j = 0; j < n; j++) {
    const i = order[j];
    k[j] = Buffer.from(keys[i]);
    v[j] = Buffer.from(values[i].buffer, values[i].byteOffset, values[i].length);
  }
  return { keys: k, values: v, order: Array.from({ length: n }, (_, j) => j) };
}

/** Operations per timed chunk. */
const CHUNK = 1000;

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Warm-up, unless the spec says otherwise: passes until this many records were written, or this long. */
const WARM = { records: 30000, ms: 1500 };

/**
 * The same workloads, untimed, on scratch stores with other keys and values
 * (other seeds), pass after pass until warm.records records or warm.ms have
 * gone by (at least one pass), so that the timed run sees every library's
 * steady state rather than V8 compiling its JavaScript. Timed cold, a store
 * whose put is mostly JavaScript (pmem's KVStore) paid 5-10 us per put for
 * its first few thousand puts, and still about 3x its steady cost after one
 * pass of 10000; a thin binding pays far less. Every configuration gets the
 * same warm-up; a slow one (fsync per put) stops at the time limit.
 */
async function warmUp(config, spec) {
  const warm = spec.warm || WARM;
  const t0 = performance.now();
  for (let pass = 1, written = 0; pass === 1 || (written < warm.records && performance.now() - t0 < warm.ms); pass++) {
    const scratch = { ...spec, seed: spec.seed + 7919 * pass };
    await runAll(config, scratch, `${spec.dir}-warmup`, dataset(scratch));
    written += spec.records;
  }
}

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const config = configOf(spec.config);
  await warmUp(config, spec);
  const { ns, chunkNs } = await runAll(config, spec, spec.dir, dataset(spec));
  process.stdout.write(JSON.stringify({ ns, chunkNs }) + '\n');
}

module.exports = { WORKLOADS };

if (require.main === module) {
  main().catch((err) => {
    // The last line is what the parent reports.
    // The message's first line: a module's "Require stack" follows it.
    process.stderr.write(`${err && err.stack ? err.stack : err}\nfailed: ${String(err && err.message ? err.message : err).split('\n')[0]}\n`);
    process.exit(1);
  });
}
