// bench/wal.js: the write-ahead log against the C floors, in one run.
//
// - Durable appends of 100 B, 1 KiB, 4 KiB and 64 KiB (Wal.append), against
//   the C persist floor for the same bytes (bench/c/memcpy_persist.c:
//   pmem_memcpy_persist of a record of the same size, header included, and
//   nothing else, into pre-faulted memory). Targets: a 100 B append at most
//   2x the floor; a 4 KiB append at least 80% of pmem_memcpy_persist
//   bandwidth, 64 KiB at least 70%.
// - Batched appends (Wal.appendBatch) of 100 B, 1 KiB, 4 KiB and 64 KiB
//   records, 16 and 256 per batch, per record against the same C floor as
//   single appends. Targets: at least 2M records/s for 100 B records; 4 KiB
//   and larger at least 70% of pmem_memcpy_persist bandwidth, as for single
//   appends.
// The redo transaction (TxLog.run) is measured in bench/tx.js.
//
// Each durability mode runs in a child process (libpmem reads
// PMEM_IS_PMEM_FORCE once, at load); inside it, C and JS rounds alternate.
// `node bench/wal.js [--quick] [--mode msync|forced]`.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { buildC, summarize } = require('./harness/util');

const HEADER = 32; // a WAL record header (docs/formats.md)
const SIZES = [100, 1024, 4096, 65536];
const BATCH_SIZES = [100, 1024, 4096, 65536];
const record = (payload) => (HEADER + payload + 7) & ~7;
const DIR = process.env.PMEM_BENCH_DIR || '/dev/shm';
// The log's file and the C floor's are the same size, so both cycle the
// same amount of memory (the same page-table walks per record).
const FILE_BYTES = 64 * 2 ** 20;

function plan(quick) {
  const k = quick ? 5 : 1;
  return {
    rounds: quick ? 3 : 7,
    // Appends per round, by record size; the C floor makes as many. Each
    // round is long enough to reach the steady state: on the EPYC hosts a
    // burst of 1,500 64 KiB copies costs 1.5x a burst of 20,000 per record,
    // in C as in JavaScript (docs/bench.md).
    ops: { 100: 50000 / k, 1024: 40000 / k, 4096: 40000 / k, 65536: 8000 / k },
    // Batches per round, by record size and batch size.
    batches: {
      100: { 16: 4000 / k, 256: 300 / k },
      1024: { 16: 2000 / k, 256: 150 / k },
      4096: { 16: 800 / k, 256: 50 / k },
      65536: { 16: 100 / k, 256: Math.ceil(10 / k) },
    },
  };
}

// --- one mode, in a child process ----------------------------------------

/** ns per append of `payload`, checkpointing (untimed) whenever half the ring is used. */
function appendRound(wal, payload, n, batch) {
  const records = batch ? Array.from({ length: batch }, () => payload) : null;
  const per = record(payload.length) * (batch || 1);
  let ns = 0;
  let cpu = 0;
  for (let done = 0; done < n; ) {
    if (wal.stats.used + per > wal.stats.dataSize / 2) wal.checkpoint();
    const room = Math.floor((wal.stats.dataSize / 2 - wal.stats.used) / per);
    const k = Math.max(1, Math.min(n - done, room));
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    if (records) for (let i = 0; i < k; i++) wal.appendBatch(records);
    else for (let i = 0; i < k; i++) wal.append(payload);
    ns += Number(process.hrtime.bigint() - t0);
    const c = process.cpuUsage(c0);
    cpu += (c.user + c.system) * 1000;
    done += k;
  }
  return { wall: ns / n, cpu: cpu / n };
}

function child(quick, memExe) {
  const { openMapping, Wal } = require('../dist');
  const p = plan(quick);
  const base = path.join(DIR, `pmem-bench-wal-${process.pid}`);
  const m = openMapping(`${base}.wal`, { size: FILE_BYTES, create: true });
  // Fault every page in, untimed, one store per page as the C floor does:
  // a log pays page faults on its first lap around the ring only.
  for (let i = 0; i < m.length; i += 4096) m.bytes[i] = 0;
  const wal = Wal.format(m);
  // Wall-clock and CPU time of each round: on a loaded machine a round's
  // wall-clock time includes the time it was preempted, its CPU time not.
  const samples = () => {
    const o = { js: {}, c: {}, batch: {} };
    for (const s of SIZES) {
      o.js[s] = [];
      o.c[s] = [];
    }
    for (const s of BATCH_SIZES) {
      o.batch[s] = {};
      for (const b of Object.keys(p.batches[s])) o.batch[s][b] = [];
    }
    return o;
  };
  const out = { isPmem: m.isPmem, ...samples(), cpu: samples() };

  // Warm-up: fault the ring in and let the JIT settle.
  for (const s of SIZES) appendRound(wal, Buffer.alloc(s, 0x61), Math.min(200, p.ops[s]));
  for (let r = 0; r < p.rounds; r++) {
    const floor = JSON.parse(
      execFileSync(memExe, [`${base}.c`, String(FILE_BYTES), String(p.ops[100]), ...SIZES.map((s) => `${record(s)}:${p.ops[s]}`)], {
        encoding: 'utf8',
      }),
    );
    for (const s of SIZES) {
      out.c[s].push(floor.ns[record(s)]);
      out.cpu.c[s].push(floor.cpuNs[record(s)]);
    }
    for (const s of SIZES) {
      const t = appendRound(wal, Buffer.alloc(s, 0x61), p.ops[s]);
      out.js[s].push(t.wall);
      out.cpu.js[s].push(t.cpu);
    }
    for (const s of BATCH_SIZES) {
      for (const b of Object.keys(p.batches[s])) {
        const t = appendRound(wal, Buffer.alloc(s, 0x62), p.batches[s][b], Number(b));
        out.batch[s][b].push(t.wall / Number(b));
        out.cpu.batch[s][b].push(t.cpu / Number(b));
      }
    }
  }
  m.close();
  for (const ext of ['wal', 'c']) fs.rmSync(`${base}.${ext}`, { force: true });
  return out;
}

// --- the parent ------------------------------------------------------------

const fmtNs = (ns) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const cell = (s) => `${fmtNs(s.median)} (${fmtNs(s.min)}–${fmtNs(s.max)})`;
const gbps = (bytes, ns) => `${(bytes / ns).toFixed(2)} GB/s`;
const verdict = (ok) => (ok ? 'met' : '**missed**');
const sizeName = (s) => (s >= 1024 ? `${s / 1024} KiB` : `${s} B`);

function table(mode, all) {
  const rows = [`### wal, ${mode}${mode === 'forced' ? ' (PMEM_IS_PMEM_FORCE=1: CLWB/SFENCE on DRAM)' : ' (msync)'}\n`];
  for (const [clock, res] of [['wall-clock', all], ['CPU time', all.cpu]]) {
    rows.push(`\n${clock}:\n`);
    rows.push(...appendRows(res));
  }
  return rows.join('\n');
}

function appendRows(res) {
  const rows = [];
  rows.push('| operation | JS (Wal) | C floor: pmem_memcpy_persist of the record, pre-faulted | JS / C | target |');
  rows.push('|---|---:|---:|---:|---|');
  for (const s of SIZES) {
    const js = summarize(res.js[s]);
    const c = summarize(res.c[s]);
    const ratio = js.median / c.median;
    let target = '';
    if (s === 100) target = `≤ 2× the floor: ${verdict(ratio <= 2)}`;
    const share = s === 4096 ? 0.8 : 0.7;
    if (s >= 4096) target = `≥ ${share * 100}% of the bandwidth (${gbps(s, js.median)} vs ${gbps(s, c.median)}): ${verdict(ratio <= 1 / share)}`;
    rows.push(`| append ${sizeName(s)} | ${cell(js)} | ${cell(c)} | ${ratio.toFixed(2)}× | ${target} |`);
  }
  for (const s of BATCH_SIZES) {
    const c = summarize(res.c[s]);
    for (const b of Object.keys(res.batch[s])) {
      const per = summarize(res.batch[s][b]);
      const rate = 1e9 / per.median;
      const measured = `${(rate / 1e6).toFixed(2)} M records/s, ${gbps(s, per.median)}`;
      let target = '';
      if (s === 100) target = `; ≥ 2 M/s: ${verdict(rate >= 2e6)}`;
      if (s >= 4096) target = `; ≥ 70% of the bandwidth: ${verdict(per.median / c.median <= 1 / 0.7)}`;
      rows.push(`| appendBatch of ${b} × ${sizeName(s)}, per record | ${cell(per)} | ${cell(c)} | ${(per.median / c.median).toFixed(2)}× | ${measured}${target} |`);
    }
  }
  return rows;
}

function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  if (args[0] === '--child') {
    process.stdout.write(JSON.stringify(child(quick, args[1])));
    return;
  }
  const mi = args.indexOf('--mode');
  const modes = mi >= 0 ? [args[mi + 1]] : ['msync', 'forced'];
  const memExe = buildC('memcpy_persist');
  const cpus = os.cpus();
  const lines = [
    '## wal: durable appends and group commit against the C floor\n',
    `machine: ${cpus[0] ? cpus[0].model : 'unknown cpu'}, ${cpus.length} cores, Node ${process.version}; files on ${DIR}; ` +
      `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}. Medians (min–max) over ${plan(quick).rounds} rounds, C and JS alternating.\n`,
  ];
  let status = 0;
  for (const mode of modes) {
    process.stderr.write(`bench wal: mode ${mode}\n`);
    const env = { ...process.env };
    if (mode === 'forced') env.PMEM_IS_PMEM_FORCE = '1';
    else delete env.PMEM_IS_PMEM_FORCE;
    const r = spawnSync(process.execPath, [__filename, '--child', memExe, ...(quick ? ['--quick'] : [])], {
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

main();
