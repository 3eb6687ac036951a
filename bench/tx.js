// bench/tx.js: transactions against their C floors, in one run.
//
// - A 64 B redo transaction, TxLog.run (one fence), against a 64 B
//   libpmemobj transaction of the same write in C (bench/c/tx.c, a
//   pre-faulted pool). Target: at most 0.5x. Also against the same
//   one-fence protocol written in C (bench/c/redo.c, pre-faulted): what the
//   protocol costs on this machine with no JavaScript at all.
// - A 64 B ObjPool transaction from JavaScript
//   (pool.transaction(tx => tx.write(ptr, buf64))) against the same
//   libpmemobj transaction in C (bench/c/tx.c). Target: at most 1.2x.
// - PersistentList push and shift throughput.
//
// Each durability mode runs in a child process (libpmem reads
// PMEM_IS_PMEM_FORCE once, at load): msync (plain) and forced
// (PMEM_IS_PMEM_FORCE=1). Inside it, C and JS rounds alternate, so that both
// see the same machine state (each C floor is one process that serves every
// round, started before the JavaScript warms up: see floorProcess); the
// report gives the ratio of the medians and the median of the per-round
// ratios, for wall-clock time and for the process's CPU time (which a loaded
// machine's preemptions do not inflate).
// `node bench/tx.js [--quick] [--mode msync|forced]`.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const { buildC, summarize } = require('./harness/util');

const DIR = process.env.PMEM_BENCH_DIR || '/dev/shm';

function plan(quick) {
  return { rounds: quick ? 5 : 11, txOps: quick ? 5000 : 20000, listOps: quick ? 1000 : 5000 };
}

// --- one mode, in a child process ----------------------------------------

/**
 * A C floor (bench/c/tx.c or redo.c) in one process that serves every
 * round: `round()` asks it for one timed round of `ops` transactions and
 * resolves to its `{ ns, cpuNs }`. This process forks once per floor, before
 * its own warm-up, and not once per round: a fork write-protects this
 * process's heap pages, and the first store into each page afterwards
 * faults (a few µs each under a shadow-paging hypervisor), which a round
 * that allocates as it runs would be charged for.
 */
function floorProcess(exe, file, ops) {
  const proc = spawn(exe, [file, String(ops)], { stdio: ['pipe', 'pipe', 'inherit'] });
  proc.stdin.on('error', () => {}); // a floor that exited early: its 'close' below reports it
  const waiting = [];
  let exited = null;
  readline.createInterface({ input: proc.stdout }).on('line', (line) => waiting.shift()?.resolve(JSON.parse(line)));
  const exit = new Promise((resolve) => proc.once('close', (code, signal) => {
    exited = `${path.basename(exe)} exited with ${code ?? signal}`;
    for (const w of waiting.splice(0)) w.reject(new Error(exited));
    resolve();
  }));
  return {
    round: () => new Promise((resolve, reject) => {
      if (exited !== null) return reject(new Error(exited));
      waiting.push({ resolve, reject });
      proc.stdin.write('\n');
    }),
    close: () => {
      proc.stdin.end();
      return exit;
    },
  };
}

function timeRounds(rounds, ops, fn) {
  const out = [];
  fn(Math.min(ops, 2000)); // warm-up
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn(ops);
    out.push(Number(process.hrtime.bigint() - t0) / ops);
  }
  return out;
}

async function child(quick, txExe, redoExe) {
  const { ObjPool, PersistentList, openMapping, TxLog } = require('../dist');
  const p = plan(quick);
  const base = path.join(DIR, `pmem-bench-tx-${process.pid}`);
  const buf64 = Buffer.alloc(64, 0x5a);
  const cTx = floorProcess(txExe, `${base}.c.pool`, p.txOps);
  const cRedo = floorProcess(redoExe, `${base}.c.redo`, p.txOps);

  // TxLog over a 1 MiB file, every page written once before timing, as the
  // C floors do: the log's two slots and the 64 KiB of targets.
  const m = openMapping(`${base}.txlog`, { size: 2 ** 20, create: true });
  for (let i = 0; i < m.length; i += 4096) m.bytes[i] = 0;
  const txlog = TxLog.format(m, { offset: 0, size: 8192 });
  const txlogRound = (n) => {
    for (let i = 0; i < n; i++) {
      buf64[0] = i;
      txlog.run((tx) => tx.write(16384 + (i % 1024) * 64, buf64));
    }
  };

  const pool = ObjPool.create(`${base}.pool`, { layout: 'bench-tx', size: 64 * 1024 * 1024 });
  const ptr = pool.alloc(64, { zero: true });
  const poolRound = (n) => {
    for (let i = 0; i < n; i++) {
      buf64[0] = i;
      pool.transaction((tx) => tx.write(ptr, buf64));
    }
  };

  txlogRound(p.txOps / 10); // warm-up
  poolRound(p.txOps / 10);
  // Wall-clock and CPU time of each round: on a loaded machine a round's
  // wall-clock time includes the time it was preempted, its CPU time not.
  const out = { cTx: [], cRedo: [], txlog: [], pool: [], cpu: { cTx: [], cRedo: [], txlog: [], pool: [] } };
  const timed = (name, fn) => {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn(p.txOps);
    out[name].push(Number(process.hrtime.bigint() - t0) / p.txOps);
    const c = process.cpuUsage(c0);
    out.cpu[name].push(((c.user + c.system) * 1000) / p.txOps);
  };
  const floor = async (name, proc) => {
    const r = await proc.round();
    out[name].push(r.ns);
    out.cpu[name].push(r.cpuNs);
  };
  for (let r = 0; r < p.rounds; r++) {
    await floor('cTx', cTx);
    await floor('cRedo', cRedo);
    timed('txlog', txlogRound);
    timed('pool', poolRound);
  }
  txlog.checkpoint();
  m.close();
  await Promise.all([cTx.close(), cRedo.close()]);

  const list = PersistentList.inRoot(pool);
  const value = Buffer.alloc(64, 1);
  out.push = timeRounds(p.rounds, p.listOps, (n) => {
    for (let i = 0; i < n; i++) list.push(value);
  });
  out.shift = timeRounds(p.rounds, p.listOps, (n) => {
    for (let i = 0; i < n; i++) {
      if (list.length === 0) list.push(value);
      list.shift();
    }
  });
  pool.close();
  for (const ext of ['txlog', 'pool', 'c.pool', 'c.redo']) fs.rmSync(`${base}.${ext}`, { force: true });
  return out;
}

// --- the parent ------------------------------------------------------------

const fmtNs = (ns) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const cell = (s) => `${fmtNs(s.median)} (${fmtNs(s.min)}–${fmtNs(s.max)})`;
const verdict = (ok) => (ok ? 'met' : '**missed**');
const median = (xs) => summarize(xs).median;

function table(mode, all) {
  const rows = [];
  rows.push(`### tx, ${mode}${mode === 'forced' ? ' (PMEM_IS_PMEM_FORCE=1: CLWB/SFENCE on DRAM)' : ' (msync)'}\n`);
  for (const [clock, res] of [['wall-clock', all], ['CPU time', all.cpu]]) {
    rows.push(`\n${clock}:\n`);
    rows.push(...transactionRows(res));
  }
  const push = summarize(all.push);
  const shift = summarize(all.shift);
  rows.push('\n| PersistentList (wall-clock) | measured | throughput |');
  rows.push('|---|---:|---:|');
  rows.push(`| push, 64 B | ${cell(push)} | ${(1e6 / push.median).toFixed(0)} k ops/s |`);
  rows.push(`| shift | ${cell(shift)} | ${(1e6 / shift.median).toFixed(0)} k ops/s |`);
  return rows.join('\n');
}

function transactionRows(res) {
  const rows = [];
  rows.push('| operation | measured | against | ratio of medians | median of per-round ratios | target |');
  rows.push('|---|---:|---:|---:|---:|---|');
  const row = (name, a, b, target) => {
    const sa = summarize(a);
    const sb = summarize(b);
    const ratio = sa.median / sb.median;
    const paired = median(a.map((v, i) => v / b[i]));
    rows.push(`| ${name} | ${cell(sa)} | ${cell(sb)} | ${ratio.toFixed(2)}× | ${paired.toFixed(2)}× | ${target ? target(paired) : ''} |`);
  };
  row('64 B TxLog.run vs a libpmemobj transaction of the same write in C (pre-faulted pool)', res.txlog, res.cTx, (r) => `≤ 0.5×: ${verdict(r <= 0.5)}`);
  row('64 B TxLog.run vs the same one-fence protocol in C (pre-faulted)', res.txlog, res.cRedo);
  row('the one-fence protocol in C vs the libpmemobj transaction in C', res.cRedo, res.cTx);
  row('64 B ObjPool transaction (JS) vs the same libpmemobj transaction in C', res.pool, res.cTx, (r) => `≤ 1.2×: ${verdict(r <= 1.2)}`);
  return rows;
}

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  if (args[0] === '--child') {
    process.stdout.write(JSON.stringify(await child(quick, args[1], args[2])));
    return;
  }
  const mi = args.indexOf('--mode');
  const modes = mi >= 0 ? [args[mi + 1]] : ['msync', 'forced'];
  const txExe = buildC('tx', ['libpmemobj']);
  const redoExe = buildC('redo');
  const cpus = os.cpus();
  const lines = [
    '## tx: redo transactions (TxLog) and libpmemobj transactions against their C floors\n',
    `machine: ${cpus[0] ? cpus[0].model : 'unknown cpu'}, ${cpus.length} cores, Node ${process.version}; files on ${DIR}; ` +
      `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}. Medians (min–max) over ${plan(quick).rounds} rounds ` +
      `of ${plan(quick).txOps} transactions, C and JS alternating, each C floor one process for every round.\n`,
  ];
  let status = 0;
  for (const mode of modes) {
    process.stderr.write(`bench tx: mode ${mode}\n`);
    const env = { ...process.env };
    if (mode === 'forced') env.PMEM_IS_PMEM_FORCE = '1';
    else delete env.PMEM_IS_PMEM_FORCE;
    const r = spawnSync(process.execPath, [__filename, '--child', txExe, redoExe, ...(quick ? ['--quick'] : [])], {
      env,
      encoding: 'utf8',
      maxBuffer: 64 * 2 ** 20,
    });
    if (r.status !== 0) {
      process.stderr.write(r.stderr);
      status = 1;
      continue;
    }
    lines.push(table(mode, JSON.parse(r.stdout)) + '\n');
  }
  console.log(lines.join('\n'));
  process.exitCode = status;
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exitCode = 1;
});
