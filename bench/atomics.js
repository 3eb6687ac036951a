// bench/atomics.js: Mapping's 8-byte atomics and the multi-producer list.
//
// - One thread: ns per load64, store64, compareExchange64 and fetchAdd64
//   on a mapping, against `Atomics` on the same BigUint64Array view (what
//   they are built on), a plain typed-array load (the baseline), and the
//   cheapest native call a mapping has (`flush(0, 0)`: the hot-path call
//   with nothing to flush), which a native lock cmpxchg would cost at least.
// - Two processes on one counter: fetchAdd64 and a compareExchange64 loop,
//   the pair's wall time against one process making all the increments
//   alone; the final count must be exact.
// - Appends of 64-byte values: SharedAppendList against AppendList (one
//   producer, the baseline), and two producer processes on one
//   SharedAppendList against one producer making all the appends.
//
// Each durability mode runs in a child process (libpmem reads
// PMEM_IS_PMEM_FORCE once, at load). Medians of the rounds.
// `node bench/atomics.js [--quick]`.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { machine, pmemEnv, summarize } = require('./harness/util');

const DIR = process.env.PMEM_BENCH_DIR || '/dev/shm';
const MODES = [
  { name: 'msync', force: false },
  { name: 'forced', force: true },
];

function plan(quick) {
  return quick
    ? { rounds: 3, ops: 1_000_000, counter: 1_000_000, appends: 5000 }
    : { rounds: 7, ops: 5_000_000, counter: 4_000_000, appends: 20000 };
}

/** ns per call of each single-thread operation, one round. */
function singleRound(pmem, file, ops) {
  const m = pmem.openMapping(file, { size: 4096, create: true });
  const u64 = new BigUint64Array(m.buffer.buffer, 0, 512);
  const time = (fn) => {
    fn(Math.min(ops, 100000)); // warm-up: lets the JIT settle
    const t0 = process.hrtime.bigint();
    fn(ops);
    return Number(process.hrtime.bigint() - t0) / ops;
  };
  let sink = 0n;
  const r = {
    'plain load (baseline)': time((n) => { for (let i = 0; i < n; i++) sink ^= u64[8]; }),
    'Atomics.load': time((n) => { for (let i = 0; i < n; i++) sink ^= Atomics.load(u64, 8); }),
    'Mapping.load64': time((n) => { for (let i = 0; i < n; i++) sink ^= m.load64(64); }),
    'Atomics.store': time((n) => { for (let i = 0; i < n; i++) Atomics.store(u64, 8, 5n); }),
    'Mapping.store64': time((n) => { for (let i = 0; i < n; i++) m.store64(64, 5n); }),
    'Atomics.compareExchange': time((n) => { for (let i = 0; i < n; i++) Atomics.compareExchange(u64, 8, 5n, 5n); }),
    'Mapping.compareExchange64': time((n) => { for (let i = 0; i < n; i++) m.compareExchange64(64, 5n, 5n); }),
    'Atomics.add': time((n) => { for (let i = 0; i < n; i++) Atomics.add(u64, 8, 1n); }),
    'Mapping.fetchAdd64': time((n) => { for (let i = 0; i < n; i++) m.fetchAdd64(64, 1n); }),
    'native call floor: flush(0, 0)': time((n) => { for (let i = 0; i < n; i++) m.flush(0, 0); }),
  };
  if (sink === 42n) console.error('');
  m.close();
  return r;
}

/** A counter party: waits for `parties` to arrive, counts, reports its ns. */
function counterParty(file, parties, n, how) {
  const pmem = require('../dist');
  const m = pmem.openMapping(file);
  m.fetchAdd64(8, 1n);
  while (m.load64(8) < BigInt(parties)) {
    // wait for the other party
  }
  const t0 = process.hrtime.bigint();
  if (how === 'fetchAdd') {
    for (let i = 0; i < n; i++) m.fetchAdd64(0, 1n);
  } else {
    for (let i = 0; i < n; i++) {
      for (let v = m.load64(0); ; ) {
        const seen = m.compareExchange64(0, v, v + 1n);
        if (seen === v) break;
        v = seen;
      }
    }
  }
  const ns = Number(process.hrtime.bigint() - t0);
  m.close();
  return { ns };
}

/** An append party: `n` 64-byte values to a SharedAppendList (or, alone, an AppendList). */
function appendParty(file, parties, n, kind) {
  const pmem = require('../dist');
  const m = pmem.openMapping(file);
  const list = kind === 'single' ? pmem.AppendList.open(m, 64) : pmem.SharedAppendList.open(m, 64);
  const value = Buffer.alloc(64, 7);
  m.fetchAdd64(0, 1n);
  while (m.load64(0) < BigInt(parties)) {
    // wait for the other party
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) list.append(value);
  const ns = Number(process.hrtime.bigint() - t0);
  m.close();
  return { ns };
}

/** Runs `parties` processes of this script at once; the wall time is the slowest party's. */
function parties(env, args, count) {
  return Promise.all(
    Array.from({ length: count }, () => new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [__filename, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`party exited with ${code}`))));
    })),
  ).then((rs) => Math.max(...rs.map((r) => r.ns)));
}

async function modeChild(quick) {
  const pmem = require('../dist');
  const p = plan(quick);
  const dir = fs.mkdtempSync(path.join(DIR, 'pmem-bench-atomics-'));
  const env = process.env;
  try {
    const single = {};
    for (let r = 0; r < p.rounds; r++) {
      for (const [k, v] of Object.entries(singleRound(pmem, path.join(dir, 'single'), p.ops))) (single[k] ??= []).push(v);
    }
    const counter = {};
    const file = path.join(dir, 'counter');
    for (let r = 0; r < p.rounds; r++) {
      for (const how of ['fetchAdd', 'cas']) {
        for (const count of [1, 2]) {
          const m = pmem.openMapping(file, { size: 4096, create: true });
          m.store64(0, 0n);
          m.store64(8, 0n);
          const ns = await parties(env, ['--counter', file, String(count), String(p.counter / count), how], count);
          if (m.load64(0) !== BigInt(p.counter)) throw new Error(`${how}: the counter holds ${m.load64(0)}, not ${p.counter}`);
          m.close();
          (counter[`${how}, ${count} process${count > 1 ? 'es' : ''}`] ??= []).push(ns / p.counter);
        }
      }
    }
    const append = {};
    for (let r = 0; r < p.rounds; r++) {
      for (const [kind, count] of [['single', 1], ['shared', 1], ['shared', 2]]) {
        const f = path.join(dir, `list-${kind}-${count}`);
        fs.rmSync(f, { force: true });
        const m = pmem.openMapping(f, { size: 64 + (p.appends + 16) * 192, create: true });
        if (kind === 'single') pmem.AppendList.format(m, 64);
        else pmem.SharedAppendList.format(m, 64);
        const ns = await parties(env, ['--append', f, String(count), String(p.appends / count), kind], count);
        const got = (kind === 'single' ? pmem.AppendList : pmem.SharedAppendList).open(m, 64).length;
        if (got !== p.appends) throw new Error(`${kind} x${count}: ${got} values, not ${p.appends}`);
        m.close();
        fs.rmSync(f);
        const name = kind === 'single' ? 'AppendList, 1 process (baseline)' : `SharedAppendList, ${count} process${count > 1 ? 'es' : ''}`;
        (append[name] ??= []).push(ns / p.appends);
      }
    }
    const med = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, summarize(v)]));
    console.log(JSON.stringify({ single: med(single), counter: med(counter), append: med(append) }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function table(title, rows, baseline) {
  const base = rows[baseline].median;
  let s = `| ${title} | ns (median) | min–max | × ${baseline} |\n|---|---|---|---|\n`;
  for (const [k, v] of Object.entries(rows)) {
    s += `| ${k} | ${v.median.toFixed(1)} | ${v.min.toFixed(1)}–${v.max.toFixed(1)} | ${(v.median / base).toFixed(2)} |\n`;
  }
  return s;
}

function main() {
  const quick = process.argv.includes('--quick');
  const m = machine();
  let md = `## atomics\n\n${m.cpu}, ${m.cores} cores${m.virtual ? ' (virtual)' : ''}, ${m.kernel}, node ${m.node}, ` +
    `load average ${m.loadAverage.join(' ')}; files on ${DIR}; ${plan(quick).rounds} rounds.\n`;
  const results = {};
  for (const mode of MODES) {
    const r = spawnSync(process.execPath, [__filename, '--mode-child', ...(quick ? ['--quick'] : [])], {
      env: pmemEnv(mode.force),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 16 * 2 ** 20,
    });
    if (r.status !== 0) throw new Error(`the ${mode.name} child exited with ${r.status ?? r.signal}`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop());
    results[mode.name] = res;
    md += `\n### ${mode.name}\n\n`;
    md += table('one thread, per call', res.single, 'plain load (baseline)') + '\n';
    md += table('one counter, per increment (wall time)', res.counter, 'fetchAdd, 1 process') + '\n';
    md += table('64 B appends, per append (wall time)', res.append, 'AppendList, 1 process (baseline)');
  }
  console.log(md);
  console.log(JSON.stringify({ markdown: md, machine: m, results }));
}

const argv = process.argv.slice(2);
if (argv[0] === '--counter') {
  console.log(JSON.stringify(counterParty(argv[1], Number(argv[2]), Number(argv[3]), argv[4])));
} else if (argv[0] === '--append') {
  console.log(JSON.stringify(appendParty(argv[1], Number(argv[2]), Number(argv[3]), argv[4])));
} else if (argv[0] === '--mode-child') {
  modeChild(argv.includes('--quick')).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main();
}
