// bench/cache.js: TieredCache against lru-cache@11, side by side on seeded
// traces generated in bench/harness/traces.js, in one run on one machine.
//
// Both caches hold the same number of DRAM entries (1% of the keys);
// TieredCache also has a PMem tier (10% of the keys, write-back). On a
// miss, the value (32 bytes) is read from a backing KVStore and set.
// Traces: Zipf 0.9, 1.0 and 1.2 (10M requests over 1M keys), a loop over
// twice DRAM's entries, and Zipf 1.0 with one full scan of every key in
// its middle. Reported: hit ratios (TieredCache's DRAM tier and overall;
// lru-cache's), ops/s, p99 latency (of every 16th request), the requests
// after the scan until the DRAM hit ratio is back within 1 point of before;
// a DRAM hit against an lru-cache get; and the restart experiment: both
// caches restarted mid-trace (TieredCache closed and reopened from its
// file, preloading its hottest entries; lru-cache new and empty), with the
// hit ratio of the first 100k requests against the steady state before,
// and a chart of hit ratio over time across it.
//
// Hit ratios are exact for a trace and do not depend on the machine; times
// do. `node bench/cache.js [--quick] [--keys N] [--requests N] [--out DIR]`
// (--quick: 100k keys, 1M requests). The durability mode is the
// environment's: PMEM_IS_PMEM_FORCE=1 for CLWB+SFENCE, else msync.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { LRUCache } = require('lru-cache');

const { KVStore, TieredCache } = require('../dist');
const { ROOT, freshDir, log, machine, parseArgs, summarize } = require('./harness/util');
const traces = require('./harness/traces');
const { lineChart } = require('./harness/line-chart');

const VALUE_BYTES = 32;
const SLOT_BYTES = 128;
const WINDOW_SHARE = 0.001; // a window is 0.1% of a trace
const SAMPLE_EVERY = 16; // one timed request in 16, for p99

const pct = (x) => `${(x * 100).toFixed(1)}%`;

function main() {
  const o = parseArgs(process.argv.slice(2), {
    quick: { type: 'boolean', default: false },
    keys: { type: 'number' },
    requests: { type: 'number' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
  });
  const keys = o.keys ?? (o.quick ? 100_000 : 1_000_000);
  const requests = o.requests ?? (o.quick ? 1_000_000 : 10_000_000);
  const dram = Math.max(16, Math.floor(keys / 100));
  const pmemSlots = Math.floor(keys / 10);
  const mode = process.env.PMEM_IS_PMEM_FORCE === '1' ? 'forced' : 'msync';
  const dir = freshDir(path.join(process.env.PMEM_BENCH_DIR || '/dev/shm', `pmem-bench-cache-${process.pid}`));
  const m = machine();
  log(`cache: ${keys} keys, ${requests} requests, DRAM ${dram} entries, PMem ${pmemSlots} slots, ${mode}; load ${m.loadAverage.join(', ')}`);
  const keyOf = Array.from({ length: keys }, (_, i) => `key${i}`);

  const kv = KVStore.open(path.join(dir, 'backing.kv'), { create: true, size: Math.max(64, keys * 96) + (16 << 20), segmentSize: 1 << 22 });
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  for (let i = 0; i < keys; i++) kv.put(keyOf[i], value);

  const cacheFile = path.join(dir, 'tiered.cache');
  const openTiered = (fresh) => {
    if (fresh) fs.rmSync(cacheFile, { force: true });
    return new TieredCache({ file: cacheFile, pmemBytes: 64 + pmemSlots * SLOT_BYTES, dramEntries: dram, slotBytes: SLOT_BYTES });
  };
  const competitors = {
    'lru-cache': { open: () => new LRUCache({ max: dram }), tiered: false },
    TieredCache: { open: openTiered, tiered: true },
  };

  /**
   * Runs `trace` on a cache (read-through from the KVStore); `restartAt`
   * closes and reopens it there. Returns hit counts, windows and times.
   */
  function run(name, trace, { restartAt = -1 } = {}) {
    const comp = competitors[name];
    let cache = comp.open(true);
    const window = Math.max(1000, Math.floor(trace.length * WINDOW_SHARE));
    const series = []; // per window: [end, dram hit ratio, overall hit ratio]
    let hits = 0;
    let winHits = 0;
    let winDram = comp.tiered ? cache.stats().hits.dram : 0;
    let dramHits = 0;
    const lat = [];
    let elapsed = 0;
    let t0 = performance.now();
    for (let i = 0; i < trace.length; i++) {
      if (i === restartAt) {
        elapsed += performance.now() - t0;
        if (comp.tiered) {
          dramHits += cache.stats().hits.dram;
          cache.close();
          cache = comp.open(false);
          winDram = 0;
        } else {
          cache = comp.open(true);
        }
        t0 = performance.now();
      }
      const k = keyOf[trace[i]];
      const timed = i % SAMPLE_EVERY === 0;
      const s = timed ? performance.now() : 0;
      let v = cache.get(k);
      if (v === undefined) {
        v = kv.get(k);
        cache.set(k, v);
      } else {
        winHits++;
      }
      if (timed) lat.push(performance.now() - s);
      if ((i + 1) % window === 0) {
        let dramWin = winHits;
        if (comp.tiered) {
          const d = cache.stats().hits.dram;
          dramWin = d - winDram;
          winDram = d;
        }
        series.push([i + 1, dramWin / window, winHits / window]);
        hits += winHits;
        winHits = 0;
      }
    }
    elapsed += performance.now() - t0;
    hits += winHits;
    if (comp.tiered) {
      const st = cache.stats();
      dramHits += st.hits.dram;
      cache.close();
    } else {
      dramHits = hits;
    }
    lat.sort((a, b) => a - b);
    return {
      requests: trace.length,
      dramHitRatio: dramHits / trace.length,
      hitRatio: hits / trace.length,
      opsPerSec: trace.length / (elapsed / 1000),
      p99us: lat[Math.floor(lat.length * 0.99)] * 1000,
      p50us: lat[Math.floor(lat.length * 0.5)] * 1000,
      window,
      series,
    };
  }

  const rows = [];
  const runBoth = (label, trace, extra = {}) => {
    const r = { trace: label, requests: trace.length };
    for (const name of Object.keys(competitors)) {
      log(`${label}: ${name}`);
      r[name] = run(name, trace, extra);
    }
    rows.push(r);
    return r;
  };

  for (const alpha of [0.9, 1.0, 1.2]) runBoth(`Zipf ${alpha.toFixed(1)}`, traces.zipf(keys, requests, alpha, 42));
  runBoth(`loop over ${2 * dram} keys (2× DRAM)`, traces.loop(2 * dram, requests));
  const sp = traces.scanPolluted(keys, requests, 1.0, 43);
  const scanRow = runBoth(`Zipf 1.0 + one scan of all ${keys} keys`, sp.trace);
  scanRow.scan = {};
  for (const name of Object.keys(competitors)) {
    const ser = scanRow[name].series;
    const before = ser.filter(([end]) => end <= sp.scanStart && end > sp.scanStart * 0.8);
    const steady = before.reduce((a, w) => a + w[1], 0) / before.length;
    const back = ser.find(([end, d]) => end > sp.scanEnd && d >= steady - 0.01);
    const requestsToRecover = back ? back[0] - sp.scanEnd : null;
    scanRow.scan[name] = { steady, requestsToRecover, share: requestsToRecover === null ? null : requestsToRecover / sp.trace.length };
  }

  // The restart experiment: Zipf 1.0, restarted in the middle.
  const restartTrace = traces.zipf(keys, requests, 1.0, 44);
  const restartAt = Math.floor(requests / 2);
  const after = Math.min(100_000, Math.floor(requests / 10));
  const restart = { at: restartAt, firstRequests: after };
  for (const name of Object.keys(competitors)) {
    log(`restart: ${name}`);
    const r = run(name, restartTrace, { restartAt });
    const ser = r.series;
    const steadyW = ser.filter(([end]) => end <= restartAt && end > restartAt * 0.8);
    const postW = ser.filter(([end]) => end > restartAt && end <= restartAt + after);
    const firstW = ser.find(([end]) => end > restartAt);
    const avg = (ws, i) => ws.reduce((a, w) => a + w[i], 0) / ws.length;
    restart[name] = {
      steadyDram: avg(steadyW, 1),
      steady: avg(steadyW, 2),
      firstDram: avg(postW, 1),
      first: avg(postW, 2),
      firstWindowDram: firstW[1],
      firstWindow: firstW[2],
      series: ser,
    };
  }

  // A DRAM hit against an lru-cache get: every key present in DRAM, random order.
  const hitKeys = traces.zipf(dram, 1_000_000, 0, 45);
  const lru = new LRUCache({ max: dram });
  const tiered = openTiered(true);
  for (let i = 0; i < dram; i++) {
    lru.set(keyOf[i], value);
    tiered.set(keyOf[i], value);
  }
  const rounds = { 'lru-cache': [], TieredCache: [] };
  let sink = 0;
  for (let round = 0; round < (o.quick ? 5 : 9); round++) {
    for (const [name, c] of [['lru-cache', lru], ['TieredCache', tiered]]) {
      const t = performance.now();
      for (let i = 0; i < hitKeys.length; i++) if (c.get(keyOf[hitKeys[i]]) !== undefined) sink++;
      rounds[name].push(((performance.now() - t) * 1e6) / hitKeys.length);
    }
  }
  const st = tiered.stats();
  if (st.hits.dram !== sink / 2) throw new Error(`not every get was a DRAM hit: ${st.hits.dram} of ${sink / 2}`);
  tiered.close();
  const hit = { lru: summarize(rounds['lru-cache']), tiered: summarize(rounds.TieredCache) };
  hit.ratio = hit.tiered.median / hit.lru.median;

  kv.close();
  fs.rmSync(dir, { recursive: true, force: true });

  const res = { date: new Date().toISOString(), mode, machine: m, keys, requests, dram, pmemSlots, valueBytes: VALUE_BYTES, rows, hit, restart, loadAverageAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100) };
  const md = markdown(res);
  fs.mkdirSync(o.out, { recursive: true });
  const base = path.join(o.out, `cache-${res.date.slice(0, 16).replace(/[:T]/g, (c) => (c === 'T' ? '-' : ''))}${o.quick ? '-quick' : ''}`);
  fs.writeFileSync(`${base}.md`, md + '\n');
  const slim = { ...res, rows: rows.map((r) => strip(r)), restart: strip(restart) };
  fs.writeFileSync(`${base}.json`, JSON.stringify(slim, null, 2) + '\n');
  fs.writeFileSync(`${base}.svg`, chart(res));
  log(`wrote ${path.relative(process.cwd(), base)}.{md,json,svg}`);
  process.stdout.write(JSON.stringify({ markdown: md }) + '\n');
}

/** A copy without the per-window series (the chart has them). */
function strip(r) {
  const out = {};
  for (const [k, v] of Object.entries(r)) out[k] = v && typeof v === 'object' && 'series' in v ? { ...v, series: undefined } : v;
  return out;
}

function markdown(res) {
  const m = res.machine;
  const out = [
    `## cache: TieredCache against lru-cache@11 (${res.mode})`,
    '',
    `${m.cpu}${m.virtual ? ' (virtual machine)' : ''}, ${m.cores} cores, Node.js ${m.node}; load average ${m.loadAverage.join(', ')} at the start, ${res.loadAverageAtEnd.join(', ')} at the end. ` +
      `Durability mode: ${res.mode === 'forced' ? 'PMEM_IS_PMEM_FORCE=1 (CLWB+SFENCE on DRAM, /dev/shm)' : 'msync (/dev/shm)'}. ` +
      `${res.keys} keys, ${res.valueBytes} B values read from a KVStore on a miss; both caches hold ${res.dram} entries in DRAM (1% of the keys); ` +
      `TieredCache (write-back) also ${res.pmemSlots} PMem slots (10%). Hit ratios are exact for these seeded traces; times are provisional on a shared, loaded machine.`,
    '',
    '| trace | requests | lru-cache hit | TieredCache DRAM hit | TieredCache overall hit | DRAM − LRU | lru-cache ops/s | TieredCache ops/s | lru-cache p99 | TieredCache p99 |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of res.rows) {
    const l = r['lru-cache'];
    const t = r.TieredCache;
    out.push(`| ${r.trace} | ${r.requests} | ${pct(l.hitRatio)} | ${pct(t.dramHitRatio)} | ${pct(t.hitRatio)} | ${((t.dramHitRatio - l.hitRatio) * 100).toFixed(1)} pts | ` +
      `${(l.opsPerSec / 1e6).toFixed(2)} M | ${(t.opsPerSec / 1e6).toFixed(2)} M | ${l.p99us.toFixed(1)} µs | ${t.p99us.toFixed(1)} µs |`);
  }
  const scan = res.rows.find((r) => r.scan).scan;
  out.push('', 'After the full scan, requests until the DRAM hit ratio (per window of 0.1% of the trace) is back within 1 point of its level before the scan:', '');
  for (const [name, s] of Object.entries(scan)) {
    out.push(`- ${name}: steady ${pct(s.steady)}; ${s.requestsToRecover === null ? 'not recovered by the end of the trace' : `${s.requestsToRecover} requests (${(s.share * 100).toFixed(2)}% of the trace)`}`);
  }
  const h = res.hit;
  out.push('', `A DRAM hit (every key in DRAM, 1M gets in random order, median of ${h.lru.rounds} interleaved rounds): lru-cache get ${h.lru.median.toFixed(0)} ns (${h.lru.min.toFixed(0)}–${h.lru.max.toFixed(0)}), ` +
    `TieredCache get ${h.tiered.median.toFixed(0)} ns (${h.tiered.min.toFixed(0)}–${h.tiered.max.toFixed(0)}): ${h.ratio.toFixed(2)}× lru-cache.`, '');
  const rs = res.restart;
  const win = rs.TieredCache.series.length ? rs.TieredCache.series[0][0] : 0;
  out.push(`Restart after ${rs.at} requests of Zipf 1.0 (TieredCache closed and reopened from its file, preloading its hottest entries; lru-cache replaced by an empty one). Hit ratio of the first window (${win} requests) and of the first ${rs.firstRequests} requests after it, against the last 20% before it:`, '');
  out.push(`| | steady before | first ${win} after | first ${rs.firstRequests} after | first ${rs.firstRequests} / before |`, '|---|---:|---:|---:|---:|');
  const line = (label, steady, w, first) => out.push(`| ${label} | ${pct(steady)} | ${pct(w)} | ${pct(first)} | ${(first / steady).toFixed(2)} |`);
  line('lru-cache', rs['lru-cache'].steady, rs['lru-cache'].firstWindow, rs['lru-cache'].first);
  line('TieredCache, DRAM tier', rs.TieredCache.steadyDram, rs.TieredCache.firstWindowDram, rs.TieredCache.firstDram);
  line('TieredCache, overall', rs.TieredCache.steady, rs.TieredCache.firstWindow, rs.TieredCache.first);
  return out.join('\n');
}

function chart(res) {
  const rs = res.restart;
  return lineChart({
    title: `Hit ratio over time across a restart: Zipf 1.0, ${res.keys} keys, DRAM ${res.dram} entries`,
    subtitle: `${res.machine.cpu}, ${res.mode}. Per window of ${rs.TieredCache.series.length ? rs.TieredCache.series[0][0] : 0} requests. Restart: TieredCache reopened from its file (preload), lru-cache new.`,
    xLabel: 'requests',
    series: [
      { label: 'lru-cache', color: '#9aa4ae', points: rs['lru-cache'].series.map(([x, , y]) => [x, y]) },
      { label: 'TieredCache, DRAM tier', color: '#1f6feb', points: rs.TieredCache.series.map(([x, y]) => [x, y]) },
      { label: 'TieredCache, overall', color: '#2da44e', dash: '5 3', points: rs.TieredCache.series.map(([x, , y]) => [x, y]) },
    ],
    marks: [{ x: rs.at, label: 'restart' }],
  });
}

main();
