// KVStore benchmark: fillseq, fillrandom, overwrite, readrandom,
// readmissing, range scan, delete and reopen, at 16-byte keys and 100-byte
// values, against the C floor of a durable put (bench/c/kv-floor.c: memcpy
// + pmem_persist of the same record), compiled here with gcc.
// Env: KV_BENCH_KEYS (default 1000000), KV_BENCH_REOPEN_KEYS (the store
// reopened at scale, default 10000000; 0 skips it), PMEM_BENCH_DIR (default
// /dev/shm).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { KVStore } = require('../dist');

const N = Number(process.env.KV_BENCH_KEYS || 1e6);
// The reopen target is for a store of 10M keys: built untimed.
const REOPEN_N = Number(process.env.KV_BENCH_REOPEN_KEYS ?? 1e7);
const DIR = process.env.PMEM_BENCH_DIR || '/dev/shm';
const VALUE = Buffer.alloc(100, 'v');
// The record a put writes: 16-byte header, 8-byte entry header, key, value, padded to 8.
const RECORD = (16 + 8 + 16 + 100 + 7) & ~7;
const CHUNK = 1000;

const key = (i) => `k${String(i).padStart(15, '0')}`;
const order = Array.from({ length: N }, (_, i) => i);
let seed = 42;
for (let i = N - 1; i > 0; i--) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  const j = seed % (i + 1);
  [order[i], order[j]] = [order[j], order[i]];
}
// The keys of a phase, made just before it (untimed) as flat strings laid
// out in the order the phase uses them, so that fetching the next key is a
// sequential read, as db_bench's key generation into a buffer is. Looking a
// key up at random in one array of (concatenated, hence cons) strings costs
// two or three dependent cache misses of the benchmark's own, 0.5-0.7 us on
// a VM, which the C floor, keyed by position, never pays. Only the arrays a
// phase needs stay alive: every full GC marks them all.
const flat = (s) => Buffer.from(s, 'latin1').toString('latin1');
const keysIn = (index) => order.map((_, i) => flat(key(index(i))));

/** Runs fn(i) for i < n; returns the median per-op ns of chunks of 1000 and ops/s overall. */
function timed(n, fn) {
  const chunks = [];
  const t0 = process.hrtime.bigint();
  for (let c = 0; c < n; c += CHUNK) {
    const s = process.hrtime.bigint();
    const end = Math.min(n, c + CHUNK);
    for (let i = c; i < end; i++) fn(i);
    chunks.push(Number(process.hrtime.bigint() - s) / (end - c));
  }
  const total = Number(process.hrtime.bigint() - t0);
  chunks.sort((a, b) => a - b);
  return { medianNs: chunks[chunks.length >> 1], opsPerSec: n / (total / 1e9) };
}

function floor() {
  const src = path.join(__dirname, 'c', 'kv-floor.c');
  const exe = path.join(os.tmpdir(), `kv-floor-${process.pid}`);
  execFileSync('gcc', ['-O2', '-o', exe, src, '-lpmem']);
  const file = path.join(DIR, `kv-floor-${process.pid}`);
  try {
    const out = execFileSync(exe, [file, String(N), String(RECORD)], { encoding: 'utf8' });
    const [, median, , mean, , isPmem, , readMedian] = out.trim().split(/\s+/);
    return { medianNs: Number(median), meanNs: Number(mean), isPmem: isPmem === '1', readNs: Number(readMedian) };
  } finally {
    fs.rmSync(file, { force: true });
    fs.rmSync(exe, { force: true });
  }
}

/**
 * Builds a store of REOPEN_N keys (untimed, one put each: one record per
 * key, in a child process) and times three reopens, each in a fresh
 * process, as a program opening its store at start does.
 */
function reopenAtScale(file) {
  const size = Math.ceil((REOPEN_N * RECORD * 1.25) / 2 ** 20) * 2 ** 20 + (64 << 20);
  execFileSync(process.execPath, [__filename, '--build', file, String(size)], { stdio: 'inherit' });
  const ms = [];
  let records = 0;
  for (let r = 0; r < 3; r++) {
    const out = JSON.parse(execFileSync(process.execPath, [__filename, '--reopen', file], { encoding: 'utf8' }));
    if (out.count !== REOPEN_N) throw new Error(`reopened ${out.count} keys, wrote ${REOPEN_N}`);
    ms.push(out.ms);
    records = out.records;
  }
  fs.rmSync(file, { force: true });
  ms.sort((a, b) => a - b);
  const gb = (size / 2 ** 30).toFixed(2);
  return `${'reopen'.padEnd(12)} ${ms[1].toFixed(0).padStart(7)} ms median of 3 (${ms.map((m) => m.toFixed(0)).join(', ')}) ` +
    `for ${REOPEN_N} keys in ${records} records, ${gb} GiB file; target <= 2000 ms: ${ms[1] <= 2000 ? 'met' : 'missed'}`;
}

function main() {
  const file = path.join(DIR, `kv-bench-${process.pid}`);
  const size = Math.max(64 << 20, N * RECORD * 3);
  const rows = [];
  const row = (name, r, extra = '') => {
    rows.push(`${name.padEnd(12)} ${(r.opsPerSec / 1e6).toFixed(2).padStart(7)} M ops/s  median ${r.medianNs.toFixed(0).padStart(6)} ns/op ${extra}`);
    return r;
  };
  const c = floor();
  let store = KVStore.open(file, { create: true, size, maxSize: size * 2 });
  try {
    let keys = keysIn((i) => i);
    const fillseq = row('fillseq', timed(N, (i) => store.put(keys[i], VALUE)));
    keys = null;
    const tablePerKey = store.stats().indexBytes / N;
    store.close();
    fs.rmSync(file);
    store = KVStore.open(file, { create: true, size, maxSize: size * 2 });
    const randomKeys = keysIn((i) => order[i]); // also for the reads, scans and deletes below
    const fillrandom = row('fillrandom', timed(N, (i) => store.put(randomKeys[i], VALUE)));
    let overwriteKeys = keysIn((i) => order[N - 1 - i]);
    const overwrite = row('overwrite', timed(N, (i) => store.put(overwriteKeys[i], VALUE)));
    overwriteKeys = null;
    const readrandom = row('readrandom', timed(N, (i) => store.get(randomKeys[i])));
    let missingKeys = order.map((i) => flat(`m${String(i).padStart(15, '0')}`));
    row('readmissing', timed(N, (i) => store.get(missingKeys[i])));
    missingKeys = null;
    for (const label of ['first, sorts', 'again']) {
      let scanned = 0;
      const scanT0 = process.hrtime.bigint();
      for (const _ of store.range()) scanned++;
      const scanNs = Number(process.hrtime.bigint() - scanT0);
      rows.push(`${'range scan'.padEnd(12)} ${(scanned / (scanNs / 1e9) / 1e6).toFixed(2).padStart(7)} M entries/s (${label})`);
    }
    const prefixR = timed(10000, (i) => {
      for (const _ of store.range({ gte: randomKeys[i], limit: 100 })) void _;
    });
    rows.push(`${'range 100'.padEnd(12)} ${(prefixR.opsPerSec / 1e3).toFixed(1).padStart(7)} K scans/s of 100 entries from a random key`);
    const st = store.stats();
    store.close();
    const t0 = process.hrtime.bigint();
    store = KVStore.open(file);
    const reopenMs = Number(process.hrtime.bigint() - t0) / 1e6;
    rows.push(`${'reopen'.padEnd(12)} ${reopenMs.toFixed(0).padStart(7)} ms for ${N} keys (recovery ${store.stats().recovery.ms.toFixed(0)} ms, ${store.stats().recovery.records} records)`);
    row('delete', timed(N, (i) => store.delete(randomKeys[i])));
    store.close();
    fs.rmSync(file, { force: true });
    if (REOPEN_N > 0) rows.push(reopenAtScale(file));
    console.log(`KVStore, ${N} keys, 16-byte keys, 100-byte values, ${RECORD}-byte records`);
    console.log(`${os.cpus()[0].model}, ${os.cpus().length} cpus, node ${process.version}, ${DIR}, ` +
      `mode ${c.isPmem ? (process.env.PMEM_IS_PMEM_FORCE === '1' ? 'forced (CLWB+SFENCE on DRAM)' : 'dax') : 'msync'}`);
    console.log(rows.join('\n'));
    console.log(`C floor (memcpy + pmem_persist of one record): median ${c.medianNs.toFixed(0)} ns; ` +
      `median durable put / floor = ${(fillseq.medianNs / c.medianNs).toFixed(2)} (fillseq), ${(fillrandom.medianNs / c.medianNs).toFixed(2)} (fillrandom), ` +
      `${(overwrite.medianNs / c.medianNs).toFixed(2)} (overwrite)`);
    console.log(`C floor of a random get (memcpy of a random record's value, no index): median ${c.readNs.toFixed(0)} ns ` +
      `= ${(1e3 / c.readNs).toFixed(2)} M ops/s; readrandom / floor = ${(readrandom.medianNs / c.readNs).toFixed(2)}`);
    console.log(`index memory per key: hash table ${tablePerKey.toFixed(1)} B (stats().indexBytes), ` +
      `${(st.indexBytes / st.count).toFixed(1)} B once a range scan has built the key order`);
  } finally {
    if (!store.closed) store.close();
    fs.rmSync(file, { force: true });
  }
}

if (process.argv[2] === '--build') {
  const store = KVStore.open(process.argv[3], { create: true, size: Number(process.argv[4]) });
  for (let i = 0; i < REOPEN_N; i++) store.put(key(i), VALUE);
  store.close();
} else if (process.argv[2] === '--reopen') {
  const t0 = process.hrtime.bigint();
  const store = KVStore.open(process.argv[3]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(JSON.stringify({ ms, count: store.count, records: store.stats().recovery.records }));
  store.close();
} else {
  main();
}
