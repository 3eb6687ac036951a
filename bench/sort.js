'use strict';
// bench/sort.js: external sort of gensort-layout records and of a text
// corpus under a 64 MiB DRAM budget, one run each, against GNU sort
// (LC_ALL=C sort -S 64M, its temporary directory on the same medium), the
// npm package external-merge-sort, and this sort with DRAM-hosted merge
// buffers (which needs more passes).
//
//   node bench/sort.js [--size BYTES] [--memory BYTES] [--dir DIR] [--quick] [--skip-ems] [--rounds N]
//
// --size defaults to 4 GiB per input (--quick: 64 MiB). DIR (default
// /dev/shm/pmem-bench-sort) holds the input, the temporary files and the
// outputs: about four times --size at once, checked before anything is
// written. Each sort runs in a child process of its own, which reports its
// wall time and peak RSS (GNU sort's through /usr/bin/time, when installed).
// Checked, from the counters: one merge pass, temporary bytes <= 1.05x the
// input, and outputs identical to GNU sort's (cmp); the exit code is 1 when
// one of these fails. Speed and RSS targets are reported, not asserted.
// With --rounds N every sort runs N times, the competitors taking turns
// within each round: a row's "× GNU" is the median of its per-round ratios
// to GNU sort's time in the same round (min–max beside it), so that a
// change of the machine's speed between two rows moves it less.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { generate } = require('./gensort');

const GiB = 2 ** 30;
const MiB = 2 ** 20;

// ---- children: one sort each, reporting {seconds, peakRss, counters} on stdout.

async function child(which, input, output, memory, tmp, kind) {
  const t0 = process.hrtime.bigint();
  let counters = null;
  if (which === 'pmem' || which === 'pmem-1' || which === 'pmem-dram') {
    const { externalSort } = require('../dist');
    const options = { memory, pmem: path.join(tmp, 'pmem-work'), mergeBuffers: which === 'pmem-dram' ? 'dram' : 'pmem' };
    // pmem-1: one thread (--parallel 1), as the sort ran before it used several.
    if (which === 'pmem-1') options.parallel = 1;
    if (kind === 'gensort') Object.assign(options, { recordSize: 100, keyLength: 10 });
    counters = externalSort(input, output, options);
  } else if (which === 'ems') {
    const { sort, createStore } = await import('external-merge-sort');
    // Lines split at '\n' only (readline would also take a '\r' away).
    async function* lines(file) {
      let rest = '';
      for await (const chunk of fs.createReadStream(file, { highWaterMark: MiB, encoding: 'latin1' })) {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop();
        yield* parts;
      }
      if (rest !== '') yield rest;
    }
    const write = async (chunk, filename) => {
      const out = fs.createWriteStream(filename, { highWaterMark: MiB, encoding: 'latin1' });
      for await (const line of chunk) if (!out.write(line + '\n')) await new Promise((r) => out.once('drain', r));
      await new Promise((r) => out.end(r));
      return lines(filename);
    };
    // Chunks of the budget's worth of records (JavaScript strings take
    // more memory than their bytes; the budget is honoured in records).
    const avgLine = kind === 'gensort' ? 100 : 48;
    const store = createStore(write, '.txt');
    const out = fs.createWriteStream(output, { highWaterMark: MiB, encoding: 'latin1' });
    // Lines are read as latin1, one character per byte: string order is byte order.
    const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
    for await (const line of sort(lines(input), { maxSize: Math.floor(memory / avgLine), comparer: cmp, store })) {
      if (!out.write(line + '\n')) await new Promise((r) => out.once('drain', r));
    }
    await new Promise((r) => out.end(r));
    await store.dispose();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage();
  // CPU seconds of every thread of the process (user and system).
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  // The kernel's high-water mark of this process's memory (VmHWM), not
  // getrusage's maxRSS, which a process started by fork and exec inherits
  // from its parent when that is larger.
  const peakRss = Number(/^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'latin1'))[1]) * 1024;
  process.stdout.write(JSON.stringify({ seconds, cpuSeconds, peakRss, counters }) + '\n');
}

// ---- the parent.

function log(msg) {
  process.stderr.write(`bench sort: ${msg}\n`);
}

function runChild(which, input, output, memory, tmp, kind, env) {
  const r = spawnSync(process.execPath, [__filename, '--child', which, input, output, String(memory), tmp, kind], {
    env: { ...process.env, ...env, TMPDIR: tmp }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * MiB,
  });
  if (r.status !== 0) throw new Error(`${which} exited with ${r.status ?? r.signal}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function runGnu(input, output, memory, tmp) {
  const args = ['-S', `${Math.floor(memory / 1024)}K`, '-T', tmp, '-o', output, input];
  const timed = fs.existsSync('/usr/bin/time');
  const t0 = process.hrtime.bigint();
  const r = timed
    ? spawnSync('/usr/bin/time', ['-f', '%M %U %S', 'sort', ...args], { env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' })
    : spawnSync('sort', args, { env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`GNU sort failed: ${r.stderr}`);
  const [kb, user, sys] = timed ? r.stderr.trim().split('\n').pop().split(' ').map(Number) : [NaN, NaN, NaN];
  return { seconds, cpuSeconds: Number.isFinite(user) ? user + sys : null, peakRss: Number.isFinite(kb) ? kb * 1024 : null, counters: null };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function same(a, b) {
  return spawnSync('cmp', ['-s', a, b]).status === 0;
}

function fmt(n, d = 2) {
  return n === null || n === undefined ? 'n/a' : n.toFixed(d);
}

function benchOne(kind, o, dir) {
  const input = path.join(dir, `input-${kind}.txt`);
  const gnuOut = path.join(dir, `gnu-${kind}.out`);
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(tmp, { recursive: true });
  log(`${kind}: generating ${(o.size / MiB).toFixed(0)} MiB`);
  generate(kind === 'gensort' ? 'ascii' : 'text', o.size, input, 42);
  const size = fs.statSync(input).size;
  const rows = [];
  const competitors = [
    ['GNU sort -S 64M (baseline)', () => runGnu(input, gnuOut, o.memory, tmp)],
    ['pmem, PMem merge buffers (msync)', (out) => runChild('pmem', input, out, o.memory, tmp, kind, {})],
    ['pmem, PMem merge buffers, one thread (msync)', (out) => runChild('pmem-1', input, out, o.memory, tmp, kind, {})],
    ['pmem, PMem merge buffers (forced)', (out) => runChild('pmem', input, out, o.memory, tmp, kind, { PMEM_IS_PMEM_FORCE: '1' })],
    ['pmem, DRAM merge buffers (msync)', (out) => runChild('pmem-dram', input, out, o.memory, tmp, kind, {})],
    ...(o.skipEms ? [] : [['external-merge-sort', (out) => runChild('ems', input, out, o.memory, tmp, kind, {})]]),
  ];
  let failed = false;
  /** Each competitor's runs, one per round. */
  const runs = competitors.map(() => []);
  for (let round = 0; round < o.rounds; round++) {
    for (let k = 0; k < competitors.length; k++) {
      const [name, run] = competitors[k];
      log(`${kind}: ${name}${o.rounds > 1 ? ` (round ${round + 1} of ${o.rounds})` : ''}`);
      const out = name.startsWith('GNU') ? gnuOut : path.join(dir, `out-${kind}.out`);
      const r = run(out);
      const identical = name.startsWith('GNU') ? true : same(out, gnuOut);
      if (!name.startsWith('GNU')) fs.rmSync(out, { force: true });
      const c = r.counters;
      const checks = [];
      if (!identical) checks.push('output differs from GNU sort');
      if (name.includes('PMem')) {
        if (c.mergePasses !== 1) checks.push(`${c.mergePasses} merge passes`);
        if (c.tempBytesWritten > 1.05 * size) checks.push(`temporary bytes ${(c.tempBytesWritten / size).toFixed(2)}x the input`);
      }
      if (checks.length > 0) failed = true;
      runs[k].push({ seconds: r.seconds, cpuSeconds: r.cpuSeconds, load: os.loadavg()[0], peakRss: r.peakRss, counters: c, identical, checks });
      fs.rmSync(path.join(tmp), { recursive: true, force: true });
      fs.mkdirSync(tmp, { recursive: true });
    }
  }
  fs.rmSync(input, { force: true });
  fs.rmSync(gnuOut, { force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
  const emsAt = competitors.findIndex(([name]) => name === 'external-merge-sort');
  /** Per round, this competitor's time over competitor j's in the same round. */
  const ratios = (k, j) => runs[k].map((r, i) => r.seconds / runs[j][i].seconds);
  for (let k = 0; k < competitors.length; k++) {
    const rs = runs[k];
    const toGnu = ratios(k, 0);
    rows.push({
      name: competitors[k][0],
      seconds: median(rs.map((r) => r.seconds)),
      cpuSeconds: rs.some((r) => r.cpuSeconds == null) ? null : median(rs.map((r) => r.cpuSeconds)),
      load: median(rs.map((r) => r.load)),
      peakRss: rs.some((r) => r.peakRss === null) ? null : Math.max(...rs.map((r) => r.peakRss)),
      counters: rs[rs.length - 1].counters,
      identical: rs.every((r) => r.identical),
      checks: [...new Set(rs.flatMap((r) => r.checks))],
      toGnu: median(toGnu),
      toGnuRange: [Math.min(...toGnu), Math.max(...toGnu)],
      toEms: emsAt < 0 ? null : median(ratios(k, emsAt)),
      rounds: rs.map((r) => r.seconds),
    });
  }
  const lines = [
    `### ${kind === 'gensort' ? 'gensort records (ASCII, 100 B, sorted as binary records with 10-byte keys)' : 'text corpus (lines of words and numbers)'}: ${(size / MiB).toFixed(0)} MiB, ${(o.memory / MiB).toFixed(0)} MiB budget`,
    '',
    '| sort | wall s | CPU s | load (1 min) | × GNU | × external-merge-sort | threads | runs | runs read | passes | temp bytes / input | peak RSS MiB | RSS − budget MiB | cmp | checks |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const c = r.counters;
    const range = o.rounds > 1 ? ` (${fmt(r.toGnuRange[0])}–${fmt(r.toGnuRange[1])})` : '';
    lines.push(`| ${r.name} | ${fmt(r.seconds, 1)} | ${r.cpuSeconds == null ? 'n/a' : fmt(r.cpuSeconds, 1)} | ${fmt(r.load, 1)} | ${fmt(r.toGnu)}${range} | ` +
      `${r.toEms === null ? 'n/a' : fmt(r.toEms)} | ${c ? c.threads : ''} | ${c ? c.runs : ''} | ${c ? c.mergeReads : ''} | ${c ? c.mergePasses : ''} | ` +
      `${c ? fmt(c.tempBytesWritten / size) : ''} | ${r.peakRss === null ? 'n/a' : fmt(r.peakRss / MiB, 0)} | ` +
      `${r.peakRss === null ? 'n/a' : fmt((r.peakRss - o.memory) / MiB, 0)} | ${r.identical ? 'same' : 'DIFFERS'} | ${r.checks.join('; ') || 'ok'} |`);
  }
  return { kind, size, rows, failed, markdown: lines.join('\n') };
}

function main() {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const [, which, input, output, memory, tmp, kind] = argv;
    return child(which, input, output, Number(memory), tmp, kind);
  }
  const o = { size: 4 * GiB, memory: 64 * MiB, dir: '/dev/shm/pmem-bench-sort', quick: false, skipEms: false, rounds: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--skip-ems') o.skipEms = true;
    else if (['--size', '--memory', '--dir', '--rounds'].includes(a) && i + 1 < argv.length) o[a.slice(2)] = a === '--dir' ? argv[++i] : Number(argv[++i]);
    else {
      process.stderr.write('usage: node bench/sort.js [--size BYTES] [--memory BYTES] [--dir DIR] [--quick] [--skip-ems] [--rounds N]\n');
      process.exit(2);
    }
  }
  if (o.quick && !argv.includes('--size')) o.size = 64 * MiB;
  if (!(o.size > 0) || !(o.memory >= 64 * 1024)) throw new Error('--size must be > 0 and --memory at least 64 KiB');
  if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error('--rounds must be a whole number from 1');
  fs.mkdirSync(o.dir, { recursive: true });
  // Input, GNU's output, one more output and the temporary files, at once.
  const need = 4 * o.size + 256 * MiB;
  const st = fs.statfsSync(o.dir);
  const free = st.bavail * st.bsize;
  if (free < need) {
    process.stderr.write(`bench sort: ${o.dir} has ${(free / GiB).toFixed(1)} GiB free; a ${(o.size / GiB).toFixed(2)} GiB input needs ` +
      `${(need / GiB).toFixed(1)} GiB (input, outputs and temporary files). Use --size or --dir.\n`);
    process.exit(1);
  }
  const m = { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / GiB), load: os.loadavg().map((x) => x.toFixed(1)) };
  log(`${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, load ${m.load.join(' ')}; files on ${o.dir}`);
  const results = [];
  try {
    for (const kind of ['gensort', 'text']) results.push(benchOne(kind, o, o.dir));
  } finally {
    fs.rmSync(o.dir, { recursive: true, force: true });
  }
  const md = [
    `## sort: ${(o.size / MiB).toFixed(0)} MiB inputs, ${(o.memory / MiB).toFixed(0)} MiB budget`,
    '',
    `${m.cpu}, ${m.cores} cores, load average ${m.load.join(' ')} at the start. Files on ${o.dir}; msync: a plain file there; forced: PMEM_IS_PMEM_FORCE=1.` +
      (o.rounds > 1 ? ` ${o.rounds} rounds, the sorts taking turns in each: wall s, CPU s and load are medians, × GNU the median (min–max) of the per-round ratios, peak RSS the largest.` : ''),
    '',
    ...results.map((r) => r.markdown + '\n'),
  ].join('\n');
  process.stdout.write(md + '\n' + JSON.stringify({ markdown: md, results }) + '\n');
  if (results.some((r) => r.failed)) process.exitCode = 1;
}

Promise.resolve(main()).catch((e) => {
  process.stderr.write(`bench sort: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
