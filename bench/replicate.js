'use strict';
// The replicated journal's cost, in one run: 100-byte records,
//   - one writer: the latency (p50, p99) of a local durable append (Wal),
//     and of a replicated append acknowledged 'persisted' by a backup over
//     loopback and over a veth pair into a network namespace; beside each
//     link, the TCP round trip measured on it (a 100-byte ping-pong);
//   - 64 writers with group commit: appends/s of the replicated journal
//     against the same journal acknowledging 'local' (its intent durable,
//     nothing sent), and against a plain Wal's appends;
//   - for reference, redis-server with one replica, a write followed by
//     `WAIT 1 0` (which counts receipt by the replica, not its fsync).
// Targets: one writer's p50 overhead ≤ one round trip + 30 µs; 64 writers
// ≥ 0.5× local throughput. The backup runs in a process of its own.
//
//   node bench/replicate.js [--quick]
//   node bench/replicate.js --many
//   node --cpu-prof --cpu-prof-dir=DIR bench/replicate.js --profile-many
//
// --many runs only the 64 writers over loopback, 'persisted' and then
// 'local', and prints both rates and their ratio: one line, for runs of
// two builds alternated in the same hour.
// --profile-many runs only the 64 writers' 'persisted' case over loopback
// and prints its rate; the backup process is started with this process's
// node flags, so DIR gets a CPU profile of the primary (this process) and
// one of the backup.
//
// The durability mode is the environment's (PMEM_IS_PMEM_FORCE=1: forced,
// else msync), for the primary and the backup alike.

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { log, machine } = require('./harness/util');
const { openLink } = require('../test/fixtures/replicate-faults/net');

const ROOT = path.join(__dirname, '..');
const { Wal, ReplicatedWal } = require(path.join(ROOT, 'dist'));

const quick = process.argv.includes('--quick');
const profileMany = process.argv.includes('--profile-many');
const manyOnly = process.argv.includes('--many');
const ONE = quick ? 2000 : 20000;
const MANY = quick ? 20000 : 200000;
const WRITERS = 64;
const RECORD = Buffer.alloc(100, 0x61);
const JOURNAL = 64 * 2 ** 20;

function percentiles(ns) {
  const s = Float64Array.from(ns).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: at(0.5) / 1000, p99: at(0.99) / 1000, n: s.length };
}

/** A process in `link`'s namespace (or beside this one), started with `argv`, resolved when it prints a line starting with `ready`. */
/** Every process this bench started: killed when it exits, also on a signal or an error. */
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));

function startIn(link, argv, ready) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s) => {
      out += s;
      const line = out.split('\n').find((l) => l.startsWith(ready));
      if (line !== undefined) resolve({ child, line });
    });
    child.on('exit', (code) => reject(new Error(`${argv.join(' ')} exited with ${code}: ${out}`)));
  });
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.removeAllListeners('exit');
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

/** The TCP round trip on a link: a 100-byte ping-pong with an echo process at `host`. */
async function roundTrip(link, host, n) {
  const echo = `require('net').createServer({noDelay:true},(s)=>s.pipe(s)).listen(0,'${host}',function(){console.log('ready '+this.address().port)})`;
  const { child, line } = await startIn(link, link.exec([process.execPath, '-e', echo]), 'ready');
  try {
    const port = Number(line.split(' ')[1]);
    const s = net.connect({ host, port, noDelay: true });
    await new Promise((r) => s.once('connect', r));
    const times = [];
    let got = 0;
    let t0 = 0n;
    await new Promise((resolve) => {
      const send = () => {
        t0 = process.hrtime.bigint();
        s.write(RECORD);
      };
      s.on('data', (d) => {
        got += d.length;
        if (got < RECORD.length) return;
        got -= RECORD.length;
        times.push(Number(process.hrtime.bigint() - t0));
        if (times.length === n) resolve();
        else send();
      });
      send();
    });
    s.destroy();
    return percentiles(times.slice(Math.floor(n / 10)));
  } finally {
    await stop(child);
  }
}

function localOne(dir, n) {
  const file = path.join(dir, 'local.wal');
  const wal = Wal.open(file, { create: true, size: JOURNAL });
  try {
    const times = [];
    for (let i = 0; i < n; i++) {
      if (wal.stats.used > JOURNAL / 2) wal.truncate(wal.nextLsn);
      const t0 = process.hrtime.bigint();
      wal.append(RECORD);
      times.push(Number(process.hrtime.bigint() - t0));
    }
    return percentiles(times.slice(Math.floor(n / 10)));
  } finally {
    wal.close();
    fs.rmSync(file, { force: true });
  }
}

function localMany(dir, n) {
  const file = path.join(dir, 'local-many.wal');
  const wal = Wal.open(file, { create: true, size: JOURNAL });
  try {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      if (wal.stats.used > JOURNAL / 2) wal.truncate(wal.nextLsn);
      wal.append(RECORD);
    }
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    wal.close();
    fs.rmSync(file, { force: true });
  }
}

async function withBackup(link, dir, fn) {
  const cfg = { file: path.join(dir, 'backup.wal'), port: 0, host: link.backupHost, size: JOURNAL };
  const script = path.join(ROOT, 'test', 'fixtures', 'replicate-faults', 'backup.js');
  const flags = profileMany ? process.execArgv : [];
  const { child, line } = await startIn(link, link.exec([process.execPath, ...flags, script, JSON.stringify(cfg)]), 'listening');
  try {
    return await fn(`${link.backupHost}:${line.split(' ')[1]}`);
  } finally {
    await stop(child);
    fs.rmSync(cfg.file, { force: true });
  }
}

async function openReplicated(dir, replica, ack) {
  const file = path.join(dir, 'primary.wal');
  fs.rmSync(file, { force: true });
  const wal = await ReplicatedWal.open(file, { replicas: [replica], create: true, size: JOURNAL, ack, timeoutMs: 10000 });
  return { wal, file };
}

async function replicatedOne(dir, replica, n) {
  const { wal, file } = await openReplicated(dir, replica, 'persisted');
  try {
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await wal.append(RECORD);
      times.push(Number(process.hrtime.bigint() - t0));
    }
    return percentiles(times.slice(Math.floor(n / 10)));
  } finally {
    await wal.close();
    fs.rmSync(file, { force: true });
  }
}

async function replicatedMany(dir, replica, n, ack) {
  const { wal, file } = await openReplicated(dir, replica, ack);
  try {
    let left = n;
    const writer = async () => {
      while (left > 0) {
        left--;
        await wal.append(RECORD);
      }
    };
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: WRITERS }, writer));
    const rate = n / (Number(process.hrtime.bigint() - t0) / 1e9);
    // 'local' appends resolve before their round trip ends: one 'persisted'
    // append waits for those round trips, so that none is left in flight at close.
    if (ack === 'local') await wal.append(RECORD, { ack: 'persisted' });
    const st = wal.stats;
    return { rate, perRoundTrip: st.recordsPerRoundTrip };
  } finally {
    await wal.close();
    fs.rmSync(file, { force: true });
  }
}

/** A minimal RESP client: sends a pipeline, resolves when `replies` single-line replies came back. */
function respClient(port, host) {
  const s = net.connect({ port, host, noDelay: true });
  let pending = null;
  let lines = 0;
  s.setEncoding('latin1').on('data', (d) => {
    for (let i = d.indexOf('\n'); i >= 0; i = d.indexOf('\n', i + 1)) lines++;
    if (pending && lines >= pending.n) {
      const p = pending;
      pending = null;
      lines -= p.n;
      p.resolve();
    }
  });
  return {
    ready: new Promise((r) => s.once('connect', r)),
    send(text, n) {
      return new Promise((resolve) => {
        pending = { n, resolve };
        s.write(text);
      });
    },
    close: () => s.destroy(),
  };
}

async function redisReference(link, dir, n, manyN) {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) return null;
  // redis-server cannot listen on port 0 and say which port it got: the ports are picked here.
  const masterPort = 16000 + (process.pid % 20000);
  const replicaPort = masterPort + 1;
  const argv = (host, port, name, extra) => {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { recursive: true });
    return ['redis-server', '--port', String(port), '--bind', host, '--dir', d, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no', ...extra];
  };
  const master = spawn('redis-server', argv(link.primaryHost, masterPort, 'master', []).slice(1), { stdio: 'ignore' });
  children.add(master);
  // The replica runs where the backup does: in the backup's namespace over the veth pair.
  const r = link.exec(argv(link.backupHost, replicaPort, 'replica', ['--replicaof', link.primaryHost, String(masterPort)]));
  const replica = spawn(r[0], r.slice(1), { stdio: 'ignore' });
  children.add(replica);
  try {
    for (let i = 0; ; i++) {
      const info = spawnSync('redis-cli', ['-h', link.primaryHost, '-p', String(masterPort), 'info', 'replication'], { encoding: 'utf8' }).stdout || '';
      if (/connected_slaves:1/.test(info) && /state=online/.test(info)) break;
      if (i > 300) throw new Error(`the redis replica did not come online: ${info}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    const value = RECORD.toString('latin1');
    const cmd = (key) => `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n`;
    const c = respClient(masterPort, link.primaryHost);
    await c.ready;
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await c.send(cmd(`k${i}`), 2);
      times.push(Number(process.hrtime.bigint() - t0));
    }
    c.close();
    const clients = Array.from({ length: WRITERS }, () => respClient(masterPort, link.primaryHost));
    await Promise.all(clients.map((x) => x.ready));
    let left = manyN;
    const t0 = process.hrtime.bigint();
    await Promise.all(clients.map(async (x, j) => {
      while (left > 0) {
        left--;
        await x.send(cmd(`m${j}-${left}`), 2);
      }
    }));
    const rate = manyN / (Number(process.hrtime.bigint() - t0) / 1e9);
    for (const x of clients) x.close();
    return { one: percentiles(times.slice(Math.floor(n / 10))), rate };
  } finally {
    master.kill('SIGKILL');
    replica.kill('SIGKILL');
  }
}

async function main() {
  const mode = process.env.PMEM_IS_PMEM_FORCE === '1' ? 'forced' : 'msync';
  const dir = fs.mkdtempSync('/dev/shm/pmem-bench-replicate-');
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  if (profileMany) {
    const link = { kind: 'loopback', primaryHost: '127.0.0.1', backupHost: '127.0.0.1', exec: (a) => a, close() {} };
    const r = await withBackup(link, dir, (replica) => replicatedMany(dir, replica, MANY, 'persisted'));
    process.stdout.write(`${mode}, loopback, ${WRITERS} writers, persisted: ${Math.round(r.rate)} appends/s, ${r.perRoundTrip.toFixed(1)} records per round trip\n`);
    return;
  }
  if (manyOnly) {
    const link = { kind: 'loopback', primaryHost: '127.0.0.1', backupHost: '127.0.0.1', exec: (a) => a, close() {} };
    const persisted = await withBackup(link, dir, (replica) => replicatedMany(dir, replica, MANY, 'persisted'));
    const local = await withBackup(link, dir, (replica) => replicatedMany(dir, replica, MANY, 'local'));
    const k = (r) => `${Math.round(r.rate / 1000)}k/s`;
    process.stdout.write(`${mode}, loopback, ${WRITERS} writers: persisted ${k(persisted)}, local ${k(local)}, ratio ${(persisted.rate / local.rate).toFixed(2)}, `
      + `${persisted.perRoundTrip.toFixed(1)} records per round trip\n`);
    return;
  }
  const links = [['loopback', { kind: 'loopback', primaryHost: '127.0.0.1', backupHost: '127.0.0.1', exec: (a) => a, close() {} }]];
  const veth = openLink('rb');
  // The namespace and the veth pair go with this process, also when it fails.
  process.on('exit', () => veth.close());
  if (veth.kind === 'netns') links.push(['veth', veth]);
  else log(`replicate: no veth pair (${veth.reason}); loopback only`);
  const results = { mode, machine: machine(), links: {} };
  try {
    log('replicate: local Wal, one writer');
    results.localOne = localOne(dir, ONE);
    log('replicate: local Wal, appends/s');
    results.localMany = localMany(dir, MANY);
    for (const [name, link] of links) {
      const r = {};
      log(`replicate: ${name}: round trip`);
      r.rtt = await roundTrip(link, link.backupHost, ONE);
      // A fresh backup for each journal: a backup follows one journal.
      log(`replicate: ${name}: one writer, persisted`);
      r.one = await withBackup(link, dir, (replica) => replicatedOne(dir, replica, ONE));
      log(`replicate: ${name}: ${WRITERS} writers, persisted`);
      r.many = await withBackup(link, dir, (replica) => replicatedMany(dir, replica, MANY, 'persisted'));
      log(`replicate: ${name}: ${WRITERS} writers, local`);
      r.manyLocal = await withBackup(link, dir, (replica) => replicatedMany(dir, replica, MANY, 'local'));
      log(`replicate: ${name}: redis-server with a replica, WAIT 1 0`);
      try {
        r.redis = await redisReference(link, dir, ONE, MANY / 4);
      } catch (e) {
        log(`replicate: ${name}: redis reference failed: ${e.message}`);
        r.redis = null;
      }
      results.links[name] = r;
    }
  } finally {
    veth.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const us = (x) => x.toFixed(1);
  const k = (x) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : String(Math.round(x)));
  const m = results.machine;
  let md = `## replicate\n\n100-byte records; ${m.cores} CPUs (${m.cpu}), load average ${m.loadAverage.join(' ')}: shared and loaded, provisional. ` +
    `Mode: ${mode}. Latencies in µs (p50 / p99), after the first tenth of the run.\n\n` +
    `Local Wal append: ${us(results.localOne.p50)} / ${us(results.localOne.p99)}; ${k(results.localMany)} appends/s (one thread).\n\n` +
    '| link | TCP round trip | replicated append | p50 overhead − round trip (target ≤ 30) | 64 writers persisted | 64 writers local | persisted / local (target ≥ 0.5) | records per round trip | redis + replica, WAIT 1 0 | redis, 64 clients |\n' +
    '|---|---|---|---|---|---|---|---|---|---|\n';
  for (const [name, r] of Object.entries(results.links)) {
    const over = r.one.p50 - results.localOne.p50 - r.rtt.p50;
    md += `| ${name} | ${us(r.rtt.p50)} / ${us(r.rtt.p99)} | ${us(r.one.p50)} / ${us(r.one.p99)} | ${us(over)} | ${k(r.many.rate)}/s | ${k(r.manyLocal.rate)}/s | ` +
      `${(r.many.rate / r.manyLocal.rate).toFixed(2)} (${(r.many.rate / results.localMany).toFixed(2)} of a plain Wal) | ${r.many.perRoundTrip ? r.many.perRoundTrip.toFixed(1) : '—'} | ` +
      `${r.redis ? `${us(r.redis.one.p50)} / ${us(r.redis.one.p99)}` : '—'} | ${r.redis ? `${k(r.redis.rate)}/s` : '—'} |\n`;
  }
  process.stdout.write(`${md}\n`);
  process.stdout.write(`${JSON.stringify({ markdown: md, results })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
