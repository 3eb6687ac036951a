// bench/readers-lag.js: where the visibility lag's tail comes from.
//
// The lag phase of bench/readers.js (a writer process putting random
// existing keys and a marker key every 16th put; a poller process getting
// the marker in a loop), with every marker recorded beside what happened
// around it:
// - writer: when its put began and returned (CLOCK_MONOTONIC), so a slow
//   put (growth, a cleaning step) shows;
// - poller: when the get that saw the marker began and ended, how many
//   records that get replayed and how many catch-ups, remaps and resyncs
//   ran since the marker before; the V8 GC events of the poller (start and
//   duration, from a PerformanceObserver, read after the loop); the
//   poller's run-queue wait (/proc/self/schedstat, field 2) and
//   involuntary context switches (getrusage) since the marker before, both
//   read after the marker's lag was taken.
// Lags are reported for the markers the poller saw, and for every marker
// (one it skipped became visible with the later one it saw).
// A marker's window is [put returned, seen]; a GC overlaps it when it ran
// between the put's start and the seeing get's end.
//
// `node bench/readers-lag.js [--records N] [--seconds S] [--dist DIR] [--poll get|getInto] [--json]`
// (--dist: the dist/ of another checkout, to compare builds; the mode is
// PMEM_IS_PMEM_FORCE of the environment). Files go to $PMEM_BENCH_DIR or
// /dev/shm and are removed at the end.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { PerformanceObserver, performance } = require('node:perf_hooks');

const BASE = process.env.PMEM_BENCH_DIR || '/dev/shm';
const KEY_BYTES = 16;
const VALUE_BYTES = 200;
const LAG_KEY = Buffer.from('~lag-marker-key~');
const SLOTS = 8192; // per slot: f64 [put returned, put began], i32 seq at word 4
const OVER_US = 50;

const key = (i) => Buffer.from(`k${String(i).padStart(KEY_BYTES - 1, '0')}`, 'latin1');
function valueOf(seq) {
  const v = Buffer.alloc(VALUE_BYTES, seq & 0xff);
  v.writeUInt32LE(seq >>> 0, 0);
  return v;
}
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
/** CLOCK_MONOTONIC in ns, from performance.now() (a double: no BigInt per call). */
function clock() {
  const origin = Number(process.hrtime.bigint()) - performance.now() * 1e6;
  return () => origin + performance.now() * 1e6;
}
/** This process's CPU time so far, ms. */
const cpuMs = () => { const u = process.resourceUsage(); return (u.userCPUTime + u.systemCPUTime) / 1000; };
/** Busy CPU time of the whole machine so far, ms (/proc/stat: all but idle and iowait). */
function machineBusyMs() {
  const f = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const tick = 10; // USER_HZ 100
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) * tick;
}
const slotOf = (seq) => 1 + (seq % (SLOTS - 1));

function side(dist, dir, create) {
  const { openMapping } = require(dist);
  const m = openMapping(path.join(dir, 'lag'), create ? { size: SLOTS * 32, create: true } : {});
  const b = m.buffer;
  return { m, f64: new Float64Array(b.buffer, b.byteOffset, SLOTS * 4), i32: new Int32Array(b.buffer, b.byteOffset, SLOTS * 8) };
}
function barrier(c, roles, seconds) {
  Atomics.add(c.i32, 0, 1);
  while (Atomics.load(c.i32, 0) < roles) {
    // spin: both roles start together
  }
  return Date.now() + seconds * 1000;
}
function gcObserver() {
  const gcs = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, dur: e.duration, kind: e.detail ? e.detail.kind : e.kind });
  });
  obs.observe({ entryTypes: ['gc'] });
  return { gcs, stop: async () => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); obs.disconnect(); } };
}
function schedWait(fd) {
  const b = Buffer.alloc(128);
  return () => {
    const n = fs.readSync(fd, b, 0, 128, 0);
    return Number(b.toString('latin1', 0, n).split(' ')[1]);
  };
}

const ROLES = {
  async writer(cfg) {
    const { KVStore } = require(cfg.dist);
    const db = KVStore.open(path.join(cfg.dir, 'store.kv'), { maxSize: 2 ** 32 });
    const lag = side(cfg.dist, cfg.dir, false);
    const now = clock();
    const gc = gcObserver();
    const rand = rng(7);
    const end = barrier(lag, 2, cfg.seconds);
    const origin = Number(process.hrtime.bigint()) - performance.now() * 1e6;
    let n = 0;
    let marks = 0;
    const t0 = now();
    while (Date.now() < end) {
      for (let i = 0; i < 64; i++) {
        n++;
        if (n % 16 === 0) {
          marks++;
          const before = now();
          db.put(LAG_KEY, valueOf(marks));
          const t = now();
          const slot = slotOf(marks);
          lag.f64[4 * slot] = t;
          lag.f64[4 * slot + 1] = before;
          Atomics.store(lag.i32, 8 * slot + 4, marks);
        } else {
          db.put(key(Math.floor(rand() * cfg.records)), valueOf(n));
        }
      }
    }
    const seconds = (now() - t0) / 1e9;
    const stats = db.stats();
    db.close();
    await gc.stop();
    return { puts: n, perSecond: n / seconds, marks, cpuMs: cpuMs(), gcs: gc.gcs.map((g) => ({ ...g, start: origin + g.start * 1e6 })), fileBytes: stats.fileBytes };
  },
  async poller(cfg) {
    const { openMapping } = require(cfg.dist);
    const { KvFollower } = require(path.join(cfg.dist, 'kv', 'follow'));
    const { readValue, readInto } = require(path.join(cfg.dist, 'kv', 'follow-reads'));
    // --poll getInto: the poller copies into one buffer, so it allocates nothing per poll.
    const into = cfg.poll === 'getInto' ? Buffer.alloc(VALUE_BYTES) : null;
    const poll = into === null ? () => f.read(readValue, LAG_KEY) : () => (f.read(readInto, LAG_KEY, into) < 0 ? undefined : into);
    const file = path.join(cfg.dir, 'store.kv');
    // A reader keeps a descriptor of the file, to map it again through it (KVStore.open's readOnly path).
    const f = new KvFollower(file, fs.openSync(file, 'r'), openMapping(file, { readOnly: true, shared: true }));
    const st = f.stats;
    const lag = side(cfg.dist, cfg.dir, false);
    const now = clock();
    const gc = gcObserver();
    const sfd = fs.openSync('/proc/self/schedstat', 'r');
    const wait = schedWait(sfd);
    const marks = [];
    const skipped = []; // lags of markers overtaken before the poller saw them
    let last = -1;
    let prev = { replayed: st.replayed, catchUps: st.catchUps, remaps: st.remaps, resyncs: st.resyncs, wait: wait(), nivcsw: process.resourceUsage().involuntaryContextSwitches, gets: 0 };
    let gets = 0;
    let prevStart = 0;
    let prevEnd = 0;
    const end = barrier(lag, 2, cfg.seconds);
    const origin = Number(process.hrtime.bigint()) - performance.now() * 1e6;
    while (Date.now() < end) {
      const r0 = st.replayed;
      const g0 = now();
      const v = poll();
      const g1 = now();
      gets++;
      const seq = v === undefined ? 0 : v.readUInt32LE(0);
      if (seq === last || seq === 0) {
        prevStart = g0;
        prevEnd = g1;
        continue;
      }
      const replayedInGet = st.replayed - r0;
      // Every marker since the last one seen became visible with this one.
      for (let k = last < 0 ? seq : last + 1; k < seq; k++) {
        const sl = slotOf(k);
        if (Atomics.load(lag.i32, 8 * sl + 4) === k) skipped.push((g1 - lag.f64[4 * sl]) / 1000);
      }
      last = seq;
      const slot = slotOf(seq);
      const until = Date.now() + 100;
      while (Atomics.load(lag.i32, 8 * slot + 4) !== seq && Date.now() < until) {
        // wait for the writer's time stamp
      }
      if (Atomics.load(lag.i32, 8 * slot + 4) !== seq) continue;
      const returned = lag.f64[4 * slot];
      const began = lag.f64[4 * slot + 1];
      const w = wait();
      const nivcsw = process.resourceUsage().involuntaryContextSwitches;
      marks.push({
        seq, lagUs: (g1 - returned) / 1000, putUs: (returned - began) / 1000, began, returned, getStart: g0, getEnd: g1,
        getUs: (g1 - g0) / 1000, prevGetUs: (prevEnd - prevStart) / 1000, loopGapUs: (g0 - prevEnd) / 1000,
        replayedInGet, replayed: st.replayed - prev.replayed, catchUps: st.catchUps - prev.catchUps,
        remaps: st.remaps - prev.remaps, resyncs: st.resyncs - prev.resyncs, waitUs: (w - prev.wait) / 1000, nivcsw: nivcsw - prev.nivcsw,
        gets: gets - prev.gets,
      });
      prev = { replayed: st.replayed, catchUps: st.catchUps, remaps: st.remaps, resyncs: st.resyncs, wait: wait(), nivcsw: process.resourceUsage().involuntaryContextSwitches, gets };
      prevStart = g0;
      prevEnd = g1;
    }
    f.close();
    fs.closeSync(sfd);
    await gc.stop();
    return { marks, skipped, cpuMs: cpuMs(), gcs: gc.gcs.map((g) => ({ ...g, start: origin + g.start * 1e6 })) };
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

function fill(dist, dir, records) {
  const { KVStore } = require(dist);
  const s = KVStore.open(path.join(dir, 'store.kv'), { create: true, size: Math.ceil((records * 240 * 1.3) / 2 ** 20 + 8) * 2 ** 20, maxSize: 2 ** 32 });
  for (let i = 0; i < records; i++) s.put(key(i), valueOf(i));
  s.put(LAG_KEY, valueOf(0));
  s.close();
}

const overlaps = (g, from, to) => g.start < to && g.start + g.dur * 1e6 > from;

/** Each marker over OVER_US, put beside the causes seen in its window. */
function analyse(w, p) {
  const marks = p.marks;
  const lags = marks.map((m) => Math.max(0, m.lagUs)).sort((a, b) => a - b);
  const q = (x) => lags[Math.min(lags.length - 1, Math.floor(x * lags.length))];
  const causes = { pollerGc: 0, writerGcBeforeReturn: 0, writerGcAfterReturn: 0, waited: 0, nivcsw: 0, remap: 0, resync: 0, bigReplay: 0, slowGet: 0, none: 0 };
  const over = [];
  const typical = marks.filter((m) => m.lagUs <= OVER_US);
  const med = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
  for (const m of marks) {
    if (m.lagUs <= OVER_US) continue;
    const pg = p.gcs.filter((g) => overlaps(g, m.returned - 5e3, m.getEnd));
    const wg = w.gcs.filter((g) => overlaps(g, m.began, m.returned));
    // The writer's GC after the put returned: its helper threads may take the poller's CPU.
    const wa = w.gcs.filter((g) => overlaps(g, m.returned, m.getEnd));
    const c = [];
    if (pg.length) c.push(`poller GC ${pg.map((g) => `${g.kind}:${(g.dur * 1000).toFixed(0)}us`).join(',')}`);
    if (wg.length) c.push(`writer GC in put ${wg.map((g) => `${(g.dur * 1000).toFixed(0)}us`).join(',')}`);
    if (wa.length) c.push(`writer GC after return ${wa.map((g) => `${g.kind}:${(g.dur * 1000).toFixed(0)}us`).join(',')}`);
    if (m.waitUs > 5) c.push(`runqueue wait ${m.waitUs.toFixed(0)}us`);
    if (m.nivcsw > 0) c.push(`nivcsw ${m.nivcsw}`);
    if (m.remaps) c.push(`remap ${m.remaps}`);
    if (m.resyncs) c.push(`resync ${m.resyncs}`);
    if (m.replayedInGet > 64) c.push(`replayed ${m.replayedInGet} in the get`);
    if (m.getUs > OVER_US) c.push(`get ${m.getUs.toFixed(0)}us`);
    if (pg.length) causes.pollerGc++;
    if (wg.length) causes.writerGcBeforeReturn++;
    if (wa.length) causes.writerGcAfterReturn++;
    if (m.waitUs > 5) causes.waited++;
    if (m.nivcsw > 0) causes.nivcsw++;
    if (m.remaps) causes.remap++;
    if (m.resyncs) causes.resync++;
    if (m.replayedInGet > 64) causes.bigReplay++;
    if (m.getUs > OVER_US) causes.slowGet++;
    if (c.length === 0) causes.none++;
    over.push({ seq: m.seq, lagUs: +m.lagUs.toFixed(1), putUs: +m.putUs.toFixed(1), getUs: +m.getUs.toFixed(1), prevGetUs: +m.prevGetUs.toFixed(1), loopGapUs: +m.loopGapUs.toFixed(1), replayedInGet: m.replayedInGet, causes: c.join('; ') });
  }
  const all = [...lags, ...p.skipped.map((x) => Math.max(0, x))].sort((a, b) => a - b);
  const qa = (x) => all[Math.min(all.length - 1, Math.floor(x * all.length))];
  const pollerGcTotal = p.gcs.reduce((a, g) => a + g.dur, 0);
  return {
    marks: marks.length, p50us: q(0.5), p99us: q(0.99), maxUs: q(1), over: over.length, causes,
    everyMarker: { marks: all.length, p50us: qa(0.5), p99us: qa(0.99), over: all.filter((x) => x > OVER_US).length },
    typical: { getUs: med(typical.map((m) => m.getUs)), replayedInGet: med(typical.map((m) => m.replayedInGet)), waitUs: med(typical.map((m) => m.waitUs)) },
    pollerGcs: p.gcs.length, pollerGcMs: +pollerGcTotal.toFixed(2), pollerGcMaxUs: +(Math.max(0, ...p.gcs.map((g) => g.dur)) * 1000).toFixed(0),
    writerGcs: w.gcs.length, writerPutsPerSecond: Math.round(w.perSecond), fileBytes: w.fileBytes, overList: over,
  };
}

async function main() {
  const args = process.argv.slice(2);
  const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
  const dist = path.resolve(opt('--dist', path.join(__dirname, '..', 'dist')));
  const records = Number(opt('--records', 1000000));
  const seconds = Number(opt('--seconds', 3));
  const dir = fs.mkdtempSync(path.join(BASE, 'pmem-bench-readers-lag-'));
  try {
    fill(dist, dir, records);
    side(dist, dir, true).m.close();
    const cfg = { dist, dir, records, seconds, poll: opt('--poll', 'get') };
    const load0 = os.loadavg()[0];
    const busy0 = machineBusyMs();
    const [w, p] = await Promise.all([runChild('writer', cfg), runChild('poller', cfg)]);
    // CPU the rest of the machine used while the two roles ran (their open and fill included: an upper bound).
    const othersMs = machineBusyMs() - busy0 - w.cpuMs - p.cpuMs;
    const a = analyse(w, p);
    a.othersCpuMs = Math.round(othersMs);
    const mode = process.env.PMEM_IS_PMEM_FORCE === '1' ? 'forced' : 'msync';
    const out = { mode, dist, records, seconds, poll: cfg.poll, load: [load0, os.loadavg()[0]], ...a };
    if (!args.includes('--json')) delete out.overList;
    process.stdout.write(JSON.stringify(args.includes('--json') ? { ...out, raw: { w, p } } : out, null, 1) + '\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--role') {
  ROLES[process.argv[3]](JSON.parse(process.argv[4])).then((r) => process.stdout.write(JSON.stringify(r)), (e) => {
    process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  });
} else {
  main().catch((e) => {
    process.stderr.write(`bench/readers-lag.js: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
  });
}
