'use strict';
// Workload "persist": `m.buffer.set(src, off); m.persist(off, len)` from
// JavaScript against the same memcpy + pmem_persist/pmem_msync in C
// (bench/c/persist.c), at 8 B, 64 B, 256 B and 4 KiB, offsets rotating over
// the mapping in cache-line-aligned steps. Rounds alternate JS and C, each
// in a child process of its own, once without and once with
// PMEM_IS_PMEM_FORCE=1 (libpmem reads it when it loads).
//
// Alone: node bench/persist.js [--quick] [--rounds N] [--iterations N]

const fs = require('node:fs');
const path = require('node:path');
const { log, summarize, pmemEnv, runJson, runNode, buildC, freshDir, parseArgs } = require('./harness/util');

const SIZES = [8, 64, 256, 4096];
const MAP_BYTES = 32 * 2 ** 20;
const LINE = 64;
const MODES = [
  { name: 'msync', force: false, label: '/dev/shm, msync (is_pmem=0)' },
  { name: 'forced', force: true, label: '/dev/shm, PMEM_IS_PMEM_FORCE=1 (CLWB+SFENCE)' },
];

const strideOf = (size) => Math.ceil(size / LINE) * LINE;

/**
 * The JavaScript side, in a child: one round over every size, ns per op.
 * Also times the pieces of a 64 B persist, to show where the time goes:
 * the copy alone, the persist alone (of a line already written back),
 * `persist(off, 0)` (argument checks and the native call, with nothing to
 * flush), a bare native call (the binding's drain), and `m.copy(off, src)`,
 * which copies and persists in one native call (pmem_memmove_persist).
 */
function child(file, iterations) {
  const pmem = require('../dist');
  const { binding } = require('../dist/core/binding');
  const m = pmem.openMapping(file, { size: MAP_BYTES, create: true });
  const buf = m.buffer;
  const src = Buffer.alloc(4096);
  for (let i = 0; i < src.length; i++) src[i] = (i * 131 + 7) & 0xff;
  // First touch of each page, untimed, as in persist.c.
  for (let off = 0; off < m.length; off += 4096) buf[off] = 0;

  const ns = {};
  const time = (fn) => {
    fn(Math.min(iterations, 20000)); // warm-up: lets the JIT settle
    const t0 = process.hrtime.bigint();
    fn(iterations);
    return Number(process.hrtime.bigint() - t0) / iterations;
  };
  const loop = (size, body) => (n) => {
    const stride = strideOf(size);
    const slots = Math.floor(m.length / stride);
    const s = src.subarray(0, size);
    let slot = 0;
    for (let i = 0; i < n; i++) {
      body(slot * stride, s, size);
      if (++slot === slots) slot = 0;
    }
  };
  for (const size of SIZES) {
    ns[size] = time(loop(size, (off, s, len) => { buf.set(s, off); m.persist(off, len); }));
  }
  const parts = {
    set64: time(loop(64, (off, s) => { buf.set(s, off); })),
    persist64: time(loop(64, (off, s, len) => { m.persist(off, len); })),
    persistEmpty: time(loop(64, (off) => { m.persist(off, 0); })),
    copy64: time(loop(64, (off, s) => { m.copy(off, s); })),
    nativeCall: time((n) => { for (let i = 0; i < n; i++) binding.drain(); }),
  };
  m.close();
  return { isPmem: m.isPmem, mode: m.mode, ns, parts };
}

/**
 * Runs the rounds and returns one row per mode and size, plus the
 * breakdown of the 64 B case.
 */
function run({ quick = false, rounds, iterations, dir = '/dev/shm/pmem-bench' } = {}) {
  rounds = rounds || (quick ? 5 : 11);
  iterations = iterations || (quick ? 50000 : 200000);
  const bin = buildC('persist');
  freshDir(dir);
  const rows = [];
  const breakdown = [];
  for (const mode of MODES) {
    const env = pmemEnv(mode.force);
    const js = Object.fromEntries(SIZES.map((s) => [s, []]));
    const c = Object.fromEntries(SIZES.map((s) => [s, []]));
    const parts = {};
    let isPmem;
    for (let r = 0; r < rounds; r++) {
      // A/B interleaved: a JS round, then a C round, on fresh files.
      const jsFile = path.join(dir, 'persist-js.dat');
      const cFile = path.join(dir, 'persist-c.dat');
      fs.rmSync(jsFile, { force: true });
      const a = runNode('persist.js', ['--child', jsFile, '--iterations', String(iterations)], { env });
      fs.rmSync(jsFile, { force: true });
      fs.rmSync(cFile, { force: true });
      const b = runJson(bin, [cFile, String(MAP_BYTES), String(iterations), ...SIZES.map(String)], { env });
      fs.rmSync(cFile, { force: true });
      if (Boolean(a.isPmem) !== Boolean(b.isPmem)) throw new Error(`JS and C disagree on is_pmem in mode ${mode.name}`);
      isPmem = a.isPmem;
      for (const s of SIZES) {
        js[s].push(a.ns[s]);
        c[s].push(b.ns[s]);
      }
      for (const [k, v] of Object.entries(a.parts)) (parts[k] = parts[k] || []).push(v);
      log(`persist ${mode.name} round ${r + 1}/${rounds}: 64 B JS ${a.ns[64].toFixed(0)} ns, C ${b.ns[64].toFixed(0)} ns`);
    }
    for (const s of SIZES) {
      const jsS = summarize(js[s]);
      const cS = summarize(c[s]);
      const paired = summarize(js[s].map((v, i) => v / c[s][i]));
      rows.push({ mode: mode.name, where: mode.label, isPmem, size: s, js: jsS, c: cS, ratio: jsS.median / cS.median, pairedRatio: paired });
    }
    const p = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, summarize(v)]));
    breakdown.push({ mode: mode.name, where: mode.label, c64: summarize(c[64]), ...p });
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return { rounds, iterations, mapBytes: MAP_BYTES, rows, breakdown };
}

function fmt(ns) {
  return ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);
}

/** The markdown tables for a result of run(). */
function markdown(res) {
  const out = [];
  out.push(`${res.rounds} rounds of ${res.iterations} operations, JS and C interleaved; ns per operation, median (min–max).`, '');
  out.push('| mode | size | JS set+persist | C memcpy+persist | JS/C (of medians) | JS/C per round, median (min–max) |');
  out.push('|---|---:|---:|---:|---:|---:|');
  for (const r of res.rows) {
    const p = r.pairedRatio;
    out.push(`| ${r.mode} | ${r.size} B | ${fmt(r.js.median)} (${fmt(r.js.min)}–${fmt(r.js.max)}) | ${fmt(r.c.median)} (${fmt(r.c.min)}–${fmt(r.c.max)}) | ${r.ratio.toFixed(2)}× | ${p.median.toFixed(2)}× (${p.min.toFixed(2)}–${p.max.toFixed(2)}) |`);
  }
  out.push('', 'Where a 64 B persist from JS spends its time (ns per operation, median):', '');
  out.push('| mode | C floor | JS set+persist | set only | persist only | persist(off, 0) | bare native call | copy(off, src) |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const b of res.breakdown) {
    const js = res.rows.find((r) => r.mode === b.mode && r.size === 64).js;
    out.push(`| ${b.mode} | ${fmt(b.c64.median)} | ${fmt(js.median)} | ${fmt(b.set64.median)} | ${fmt(b.persist64.median)} | ${fmt(b.persistEmpty.median)} | ${fmt(b.nativeCall.median)} | ${fmt(b.copy64.median)} |`);
  }
  return out.join('\n');
}

module.exports = { run, markdown, SIZES };

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const o = parseArgs(argv.slice(2), { iterations: { type: 'number', default: 100000 } });
    process.stdout.write(JSON.stringify(child(argv[1], o.iterations)) + '\n');
  } else {
    const o = parseArgs(argv, {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'number' },
      iterations: { type: 'number' },
    });
    const res = run(o);
    process.stdout.write(markdown(res) + '\n');
  }
}
