// bench/tx.js: a 64-byte transactional update from JavaScript
// (pool.transaction(tx => tx.write(ptr, buf64))) against the same
// transaction written in C (bench/c/tx.c, gcc -O2, same libpmemobj 1.12.1),
// plus PersistentList push and remove throughput.
//
// Runs each durability mode on /dev/shm in a child process of its own
// (libpmem reads PMEM_IS_PMEM_FORCE once, at load): msync (plain) and
// forced (PMEM_IS_PMEM_FORCE=1). `node bench/tx.js --mode forced` runs one.
// Prints the machine, medians, min/max and the JS/C ratio (target <= 1.2).
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROUNDS = 9;
const TX_OPS = 20000;
const LIST_OPS = 5000;
const DIR = process.env.PMEM_BENCH_DIR || '/dev/shm';

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summary(xs) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

function buildC() {
  const exe = path.join(os.tmpdir(), `pmem-bench-tx-${process.pid}`);
  execFileSync('gcc', ['-O2', '-o', exe, path.join(__dirname, 'c', 'tx.c'), '-lpmemobj']);
  return exe;
}

// --- one mode, in this process ------------------------------------------

function timeRounds(ops, fn) {
  const out = [];
  fn(Math.min(ops, 2000)); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    fn(ops);
    out.push(Number(process.hrtime.bigint() - t0) / ops);
  }
  return out;
}

function runMode(exe) {
  const { ObjPool, PersistentList } = require('../dist');
  const file = path.join(DIR, `pmem-bench-tx-${process.pid}.pool`);
  const cFile = `${file}.c`;
  fs.rmSync(file, { force: true });

  const pool = ObjPool.create(file, { layout: 'bench-tx', size: 64 * 1024 * 1024 });
  const ptr = pool.alloc(64, { zero: true });
  const buf64 = Buffer.alloc(64, 0x5a);
  const txRound = (n) => {
    for (let i = 0; i < n; i++) {
      buf64[0] = i;
      pool.transaction((tx) => tx.write(ptr, buf64));
    }
  };
  txRound(TX_OPS / 10); // warm-up
  // C and JS rounds alternate, so that both sides see the same machine
  // state (this is meant to run on shared, noisy machines too).
  const c = [];
  const js = [];
  for (let r = 0; r < ROUNDS; r++) {
    c.push(...JSON.parse(execFileSync(exe, [cFile, String(TX_OPS), '1'], { encoding: 'utf8' })).tx64);
    const t0 = process.hrtime.bigint();
    txRound(TX_OPS);
    js.push(Number(process.hrtime.bigint() - t0) / TX_OPS);
  }

  const list = PersistentList.inRoot(pool);
  const value = Buffer.alloc(64, 1);
  const push = timeRounds(LIST_OPS, (n) => {
    for (let i = 0; i < n; i++) list.push(value);
  });
  const remove = timeRounds(LIST_OPS, (n) => {
    for (let i = 0; i < n; i++) {
      if (list.length === 0) list.push(value);
      list.shift();
    }
  });
  pool.close();
  fs.rmSync(file, { force: true });
  return { c, js, push, remove };
}

// --- the parent: both modes, printed ------------------------------------

function fmt(s) {
  return `median ${s.median.toFixed(0)} ns (min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)})`;
}

function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    process.stdout.write(JSON.stringify(runMode(args[1])));
    return;
  }
  const modes = args[0] === '--mode' ? [args[1]] : ['msync', 'forced'];
  const exe = buildC();
  const cpus = os.cpus();
  console.log(`machine: ${cpus[0] ? cpus[0].model : 'unknown cpu'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  console.log(`load average: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (a busy machine widens min/max)`);
  console.log(`pool dir: ${DIR} (emulated persistent memory unless a DAX mount); ${ROUNDS} rounds each`);
  let status = 0;
  for (const mode of modes) {
    const env = { ...process.env };
    if (mode === 'forced') env.PMEM_IS_PMEM_FORCE = '1';
    else delete env.PMEM_IS_PMEM_FORCE;
    const r = spawnSync(process.execPath, [__filename, '--child', exe], { env, encoding: 'utf8' });
    if (r.status !== 0) {
      console.error(r.stderr);
      status = 1;
      continue;
    }
    const res = JSON.parse(r.stdout);
    const c = summary(res.c);
    const js = summary(res.js);
    const ratio = js.median / c.median;
    // Each JS round runs right after a C round: the median of the paired
    // ratios resists the machine's load drifting during the run.
    const paired = median(res.js.map((v, i) => v / res.c[i]));
    console.log(`\n== durability mode: ${mode}${mode === 'forced' ? ' (PMEM_IS_PMEM_FORCE=1: CLWB/SFENCE)' : ' (msync)'}`);
    console.log(`tx 64 B, C      : ${fmt(c)}`);
    console.log(`tx 64 B, JS     : ${fmt(js)}`);
    console.log(`ratio JS / C    : ${ratio.toFixed(2)}x of medians, ${paired.toFixed(2)}x median of paired rounds (target <= 1.20x)`);
    const push = summary(res.push);
    const remove = summary(res.remove);
    console.log(`list push 64 B  : ${fmt(push)}, ${(1e9 / push.median / 1000).toFixed(0)} k ops/s`);
    console.log(`list shift      : ${fmt(remove)}, ${(1e9 / remove.median / 1000).toFixed(0)} k ops/s`);
  }
  fs.rmSync(exe, { force: true });
  process.exitCode = status;
}

main();
