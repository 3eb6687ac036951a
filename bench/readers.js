// bench/readers.js: readers beside a live writer, pmem's KVStore against
// lmdb-js, side by side in one run.
//
// Setup: 1M records (--quick: 100k), 16-byte keys, 200-byte values.
// - catch-up: in one process, a get through a read-only store beside an
//   idle writer (it loads the published tail, which has not moved) against
//   the same get through the writer's own store (no catch-up at all), in
//   alternating rounds, the fastest round of each: the difference is what
//   following the writer costs when nothing changed. Target: at most 20 ns
//   per get.
// - load: one writer process doing durable puts of random existing keys
//   (pmem: put; lmdb-js: putSync, which commits and syncs), one reader
//   worker_thread and one reader process doing random gets of existing
//   keys, all for the same seconds. Targets: reader gets/s at least 1.0x
//   lmdb-js's; writer puts/s with readers present at least 3x lmdb-js
//   putSync.
// - lag: the writer puts a marker key (every 16th put, between the same
//   puts as above); a polling reader process gets it in a loop. Lag is the
//   time from the marker's put returning in the writer to the poller seeing
//   it (CLOCK_MONOTONIC, shared by the processes), for every marker (a
//   skipped one was seen with the next). Target: p99 at most 50 us.
// lmdb-js readers reset their read transaction every 1000 gets (load) and
// before each poll (lag), else they would read one snapshot forever.
//
// `node bench/readers.js [--quick] [--catch-up] [--mode msync|forced]`
// (--catch-up: the catch-up measure alone, 25 rounds, for has and getInto
// too). Files go to $PMEM_BENCH_DIR or /dev/shm and are removed at the end.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');

const { machine } = require('./harness/util');

const DIST = path.join(__dirname, '..', 'dist');
const BASE = process.env.PMEM_BENCH_DIR || '/dev/shm';
const KEY_BYTES = 16;
const VALUE_BYTES = 200;
const LAG_KEY = Buffer.from('~lag-marker-key~');

const key = (i) => Buffer.from(`k${String(i).padStart(KEY_BYTES - 1, '0')}`, 'latin1');
function valueOf(seq) {
  const v = Buffer.alloc(VALUE_BYTES, seq & 0xff);
  v.writeUInt32LE(seq >>> 0, 0);
  return v;
}
const now = () => Number(process.hrtime.bigint());
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

function openStore(system, dir, role) {
  if (system === 'pmem') {
    const { KVStore } = require(DIST);
    return KVStore.open(path.join(dir, 'store.kv'), role === 'writer' ? { maxSize: 2 ** 32 } : { readOnly: true });
  }
  const { open } = require('lmdb');
  return open({ path: path.join(dir, 'lmdb'), keyEncoding: 'binary', encoding: 'binary', mapSize: 2 ** 32, readOnly: role !== 'writer' });
}

/**
 * A side file every role maps: word 0 counts the roles that have opened
 * their store (each waits for all of them, so no open overlaps the
 * measurement); then the lag slots, [t returned, seq] each, from slot 1.
 */
const SLOTS = 4096;
function lagSlots(dir, create) {
  const { openMapping } = require(DIST);
  const m = openMapping(path.join(dir, 'lag'), create ? { size: SLOTS * 16, create: true } : {});
  const b = m.buffer;
  return { m, f64: new Float64Array(b.buffer, b.byteOffset, SLOTS * 2), i32: new Int32Array(b.buffer, b.byteOffset, SLOTS * 4) };
}

/** Counts this role as open, waits for all `cfg.roles`, and returns when the measurement ends. */
function barrier(cfg) {
  const c = lagSlots(cfg.dir, false);
  Atomics.add(c.i32, 0, 1);
  while (Atomics.load(c.i32, 0) < cfg.roles) {
    // spin: every role starts together
  }
  c.m.close();
  return Date.now() + cfg.seconds * 1000;
}
const slotOf = (seq) => 1 + (seq % (SLOTS - 1));

/** The roles, each in its own process or worker; each measures for `cfg.seconds` once all `cfg.roles` are open. */
const ROLES = {
  writer(cfg) {
    const db = openStore(cfg.system, cfg.dir, 'writer');
    const lag = cfg.lag ? lagSlots(cfg.dir, false) : null;
    const rand = rng(7);
    const put = cfg.system === 'pmem' ? (k, v) => db.put(k, v) : (k, v) => db.putSync(k, v);
    const end = barrier(cfg);
    let n = 0;
    let marks = 0;
    const t0 = now();
    while (Date.now() < end) {
      for (let i = 0; i < 64; i++) {
        n++;
        if (lag !== null && n % 16 === 0) {
          marks++;
          put(LAG_KEY, valueOf(marks));
          const t = now();
          const slot = slotOf(marks);
          lag.f64[2 * slot] = t;
          Atomics.store(lag.i32, 4 * slot + 2, marks);
        } else {
          put(key(Math.floor(rand() * cfg.records)), valueOf(n));
        }
      }
    }
    const seconds = (now() - t0) / 1e9;
    db.close();
    return { puts: n, perSecond: n / seconds };
  },
  reader(cfg) {
    const db = openStore(cfg.system, cfg.dir, 'reader');
    const rand = rng(cfg.seed);
    const keys = [];
    for (let i = 0; i < 65536; i++) keys.push(key(Math.floor(rand() * cfg.records)));
    const lmdb = cfg.system === 'lmdb';
    const end = barrier(cfg);
    let n = 0;
    let bytes = 0;
    const t0 = now();
    while (Date.now() < end) {
      for (let i = 0; i < 1000; i++) {
        const v = db.get(keys[(n + i) & 65535]);
        bytes += v.length;
      }
      n += 1000;
      if (lmdb) db.resetReadTxn();
    }
    const seconds = (now() - t0) / 1e9;
    if (bytes !== n * VALUE_BYTES) throw new Error(`read ${bytes} bytes in ${n} gets`);
    db.close();
    return { gets: n, perSecond: n / seconds };
  },
  poller(cfg) {
    const db = openStore(cfg.system, cfg.dir, 'reader');
    const lag = lagSlots(cfg.dir, false);
    const lmdb = cfg.system === 'lmdb';
    const lags = [];
    const stamped = (k) => Atomics.load(lag.i32, 4 * slotOf(k) + 2) === k;
    let last = -1;
    const end = barrier(cfg);
    while (Date.now() < end) {
      if (lmdb) db.resetReadTxn();
      const v = db.get(LAG_KEY);
      if (v === undefined) continue;
      const seq = v.readUInt32LE(0);
      if (seq === last || seq === 0) continue; // 0: the marker the fill wrote
      const seen = now();
      const until = Date.now() + 100; // the writer stamps the time just after its put returned
      while (!stamped(seq) && Date.now() < until) {
        // wait for it
      }
      if (!stamped(seq)) continue;
      // The markers skipped since the last one seen became visible now too
      // (the slowest ones; the writer stamped them before this one).
      for (let k = last < 0 ? seq : Math.max(last + 1, seq - SLOTS + 2); k <= seq; k++) {
        if (stamped(k)) lags.push(Math.max(0, seen - lag.f64[2 * slotOf(k)]));
      }
      last = seq;
    }
    db.close();
    lags.sort((a, b) => a - b);
    const q = (p) => (lags.length === 0 ? NaN : lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] / 1000);
    return { seen: lags.length, p50us: q(0.5), p99us: q(0.99), maxUs: q(1) };
  },
};

function runChild(role, cfg) {
  return new Promise((resolve, reject) => {
    const cp = spawn(process.execPath, [__filename, '--role', role, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    cp.stdout.on('data', (d) => (out += d));
    cp.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${role} exited with ${code}`))));
  });
}
function runWorker(role, cfg) {
  return new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: { role, cfg } });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

function fill(system, dir, records) {
  if (system === 'pmem') {
    const { KVStore } = require(DIST);
    const s = KVStore.open(path.join(dir, 'store.kv'), { create: true, size: Math.ceil((records * 240 * 1.3) / 2 ** 20 + 8) * 2 ** 20, maxSize: 2 ** 32 });
    for (let i = 0; i < records; i++) s.put(key(i), valueOf(i));
    s.put(LAG_KEY, valueOf(0));
    s.close();
  } else {
    const db = openStore('lmdb', dir, 'writer');
    for (let i = 0; i < records; i += 10000) {
      db.transactionSync(() => {
        for (let j = i; j < Math.min(records, i + 10000); j++) db.put(key(j), valueOf(j));
      });
    }
    db.putSync(LAG_KEY, valueOf(0));
    db.close();
  }
}

/**
 * ns per call: the writer's own store (no catch-up) against a reader beside
 * it, the tail unmoved; get (the target), and with `all` has and getInto too.
 */
function catchUpCost(dir, records, rounds, all = false) {
  const { KVStore } = require(DIST);
  const w = KVStore.open(path.join(dir, 'store.kv'), { maxSize: 2 ** 32 });
  const r = KVStore.open(path.join(dir, 'store.kv'), { readOnly: true });
  const rand = rng(3);
  const keys = [];
  for (let i = 0; i < 50000; i++) keys.push(key(Math.floor(rand() * records)));
  const target = Buffer.alloc(VALUE_BYTES);
  // One loop per call, each its own function: no call site is shared by the measures.
  const loops = {
    get: (s) => { let b = 0; for (const k of keys) b += s.get(k).length; return b; },
    has: (s) => { let b = 0; for (const k of keys) b += s.has(k) ? VALUE_BYTES : 0; return b; },
    getInto: (s) => { let b = 0; for (const k of keys) b += s.getInto(k, target); return b; },
  };
  const out = {};
  for (const op of all ? ['get', 'has', 'getInto'] : ['get']) {
    const time = (s) => {
      const t0 = now();
      if (loops[op](s) !== keys.length * VALUE_BYTES) throw new Error('short read');
      return (now() - t0) / keys.length;
    };
    time(w);
    time(r);
    const own = [];
    const beside = [];
    for (let i = 0; i < rounds; i++) {
      own.push(time(w));
      beside.push(time(r));
    }
    // The fastest round of each: on a shared machine, slower rounds measure the neighbours.
    const min = (a) => Math.min(...a);
    out[op] = { ownNs: min(own), readerNs: min(beside), diffNs: min(beside) - min(own) };
  }
  r.close();
  w.close();
  return all ? out : out.get;
}

async function runSystem(system, dir, records, seconds) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fill(system, dir, records);
  const base = { system, dir, records };
  // load
  lagSlots(dir, true).m.close();
  let cfg = { ...base, seconds, roles: 3 };
  const [writer, rWorker, rProcess] = await Promise.all([
    runChild('writer', cfg), runWorker('reader', { ...cfg, seed: 11 }), runChild('reader', { ...cfg, seed: 12 }),
  ]);
  // lag
  fs.rmSync(path.join(dir, 'lag'));
  lagSlots(dir, true).m.close();
  cfg = { ...base, seconds, roles: 2, lag: true };
  const [lagWriter, lag] = await Promise.all([runChild('writer', cfg), runChild('poller', cfg)]);
  const catchUp = system === 'pmem' ? catchUpCost(dir, records, 9) : null;
  const size = spawnSync('du', ['-sb', dir], { encoding: 'utf8' }).stdout.split('\t')[0];
  fs.rmSync(dir, { recursive: true, force: true });
  return { writer, readerWorker: rWorker, readerProcess: rProcess, lagWriter, lag, catchUp, bytes: Number(size) };
}

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const catchUpOnly = args.includes('--catch-up');
  const mode = args.includes('--mode') ? args[args.indexOf('--mode') + 1] : null;
  if (mode === null) {
    // Each durability mode in a child: libpmem reads PMEM_IS_PMEM_FORCE once.
    const out = [];
    for (const m of ['msync', 'forced']) {
      const env = { ...process.env };
      if (m === 'forced') env.PMEM_IS_PMEM_FORCE = '1';
      else delete env.PMEM_IS_PMEM_FORCE;
      const r = spawnSync(process.execPath, [__filename, ...(quick ? ['--quick'] : []), ...(catchUpOnly ? ['--catch-up'] : []), '--mode', m], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`mode ${m} exited with ${r.status}`);
      out.push(JSON.parse(r.stdout));
    }
    const md = markdown(out, quick);
    process.stdout.write(JSON.stringify({ markdown: md, results: out }) + '\n');
    return;
  }
  const records = quick ? 100000 : 1000000;
  const seconds = quick ? 1 : 3;
  const dir = fs.mkdtempSync(path.join(BASE, 'pmem-bench-readers-'));
  try {
    if (catchUpOnly) {
      const d = path.join(dir, 'pmem');
      fs.mkdirSync(d);
      fill('pmem', d, records);
      const catchUp = catchUpCost(d, records, 25, true);
      process.stdout.write(JSON.stringify({ mode, records, seconds: 0, machine: machine(), catchUpOnly, pmem: { catchUp } }));
      return;
    }
    const pmem = await runSystem('pmem', path.join(dir, 'pmem'), records, seconds);
    const lmdb = await runSystem('lmdb', path.join(dir, 'lmdb'), records, seconds);
    process.stdout.write(JSON.stringify({ mode, records, seconds, machine: machine(), pmem, lmdb }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function markdown(results, quick) {
  const m = results[0].machine;
  const f = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
  const lines = [
    '## readers: readers beside a live writer (bench/readers.js)',
    '',
    `${m.cpu}${m.virtual ? ' (VM)' : ''}, ${m.cores} cores, load average ${m.loadAverage.join(', ')}; ${results[0].records.toLocaleString('en-US')} records of 16 B keys and 200 B values, ` +
      `${results[0].seconds} s per phase${quick ? ' (quick)' : ''}; files on ${BASE}. lmdb-js's durability is its sync on commit, on the same filesystem.`,
    '',
    '| mode | | pmem | lmdb-js | pmem / lmdb-js | target |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const p = r.pmem;
    const l = r.lmdb;
    if (r.catchUpOnly) {
      for (const [op, c] of Object.entries(p.catchUp)) {
        lines.push(`| ${r.mode} | catch-up, nothing changed: ns per ${op} over the writer's own | ${f(c.diffNs, 1)} (${f(c.readerNs, 0)} vs ${f(c.ownNs, 0)}) | | | ${op === 'get' ? '≤ 20 ns' : ''} |`);
      }
      continue;
    }
    const rows = [
      ['reader worker gets/s', p.readerWorker.perSecond, l.readerWorker.perSecond, '≥ 1.0×'],
      ['reader process gets/s', p.readerProcess.perSecond, l.readerProcess.perSecond, '≥ 1.0×'],
      ['writer durable puts/s, readers present', p.writer.perSecond, l.writer.perSecond, '≥ 3×'],
    ];
    for (const [name, a, b, t] of rows) lines.push(`| ${r.mode} | ${name} | ${f(a)} | ${f(b)} | ${f(a / b, 2)}× | ${t} |`);
    lines.push(`| ${r.mode} | visibility lag p50 / p99 / max (µs) | ${f(p.lag.p50us, 1)} / ${f(p.lag.p99us, 1)} / ${f(p.lag.maxUs, 0)} | ` +
      `${f(l.lag.p50us, 1)} / ${f(l.lag.p99us, 1)} / ${f(l.lag.maxUs, 0)} | | p99 ≤ 50 µs |`);
    lines.push(`| ${r.mode} | catch-up, nothing changed: ns per get over the writer's own get | ${f(p.catchUp.diffNs, 1)} (${f(p.catchUp.readerNs, 0)} vs ${f(p.catchUp.ownNs, 0)}) | | | ≤ 20 ns |`);
  }
  return lines.join('\n');
}

if (!isMainThread && workerData && workerData.role) {
  parentPort.postMessage(ROLES[workerData.role](workerData.cfg));
} else if (process.argv[2] === '--role') {
  process.stdout.write(JSON.stringify(ROLES[process.argv[3]](JSON.parse(process.argv[4]))));
} else {
  main().catch((e) => {
    process.stderr.write(`bench/readers.js: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
  });
}
