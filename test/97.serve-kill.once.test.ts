// pmem serve under SIGKILL. A client keeps a window of requests in flight
// (SET with and without expiry times, DEL, INCR, MSET, MULTI/EXEC) and logs
// every acknowledged reply; after its Nth acknowledgement (N drawn at random,
// a count, not a time) the server process is killed. After each restart the
// store must hold the state after every acknowledged request and a prefix of
// the ones in flight (one connection: requests run, and are committed, in
// order), nothing lost, and no key whose expiry time has passed. The kill
// must land while requests are in flight. PMEM_SERVE_KILLS sets the count
// (default 20; scripts/test-serve-kill.sh runs 200).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { seededRandom } from '../lib/testing/random';
import { expectKillsLanded } from './fixtures/kill-report';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { testDir } from './helpers';

const KILLS = Number(process.env.PMEM_SERVE_KILLS ?? 20);
const WINDOW = 32;
const KEYS = 300;
const BIN = path.join(__dirname, '..', 'bin', 'pmem');

interface Entry {
  v: string;
  /** ms since the epoch, or null */
  exp: number | null;
}
type Model = Map<string, Entry>;
type Op =
  | { kind: 'set'; key: string; v: string; exp: number | null }
  | { kind: 'del'; key: string }
  | { kind: 'incr'; key: string }
  | { kind: 'mset'; pairs: [string, string][] }
  | { kind: 'exec'; ops: Op[] };

function wire(op: Op): { bytes: Buffer[]; replies: number } {
  switch (op.kind) {
    case 'set':
      return { bytes: [op.exp === null ? frame('SET', op.key, op.v) : frame('SET', op.key, op.v, 'PXAT', String(op.exp))], replies: 1 };
    case 'del':
      return { bytes: [frame('DEL', op.key)], replies: 1 };
    case 'incr':
      return { bytes: [frame('INCR', op.key)], replies: 1 };
    case 'mset':
      return { bytes: [frame('MSET', ...op.pairs.flat())], replies: 1 };
    case 'exec': {
      const inner = op.ops.map((o) => wire(o).bytes[0]);
      return { bytes: [frame('MULTI'), ...inner, frame('EXEC')], replies: op.ops.length + 2 };
    }
  }
}

function apply(m: Model, op: Op): void {
  switch (op.kind) {
    case 'set': m.set(op.key, { v: op.v, exp: op.exp }); break;
    case 'del': m.delete(op.key); break;
    case 'incr': m.set(op.key, { v: String(Number(m.get(op.key)?.v ?? '0') + 1), exp: null }); break;
    case 'mset': for (const [k, v] of op.pairs) m.set(k, { v, exp: null }); break;
    case 'exec': for (const o of op.ops) apply(m, o); break;
  }
}

function makeOp(rnd: () => number, n: number): Op {
  const key = (): string => `k:${Math.floor(rnd() * KEYS)}`;
  const x = rnd();
  const now = Date.now();
  const exp = (): number | null => {
    const e = rnd();
    if (e < 0.3) return now + 5 + Math.floor(rnd() * 50); // expires while the server runs, or before the restart
    if (e < 0.4) return now - 1000; // already past: never visible
    if (e < 0.6) return now + 3600_000;
    return null;
  };
  if (x < 0.5) return { kind: 'set', key: key(), v: `v${n}`, exp: exp() };
  if (x < 0.6) return { kind: 'del', key: key() };
  if (x < 0.75) return { kind: 'incr', key: `c:${Math.floor(rnd() * 20)}` };
  if (x < 0.9) return { kind: 'mset', pairs: [[key(), `m${n}a`], [key(), `m${n}b`]] };
  return { kind: 'exec', ops: [{ kind: 'set', key: key(), v: `x${n}a`, exp: exp() }, { kind: 'del', key: key() }, { kind: 'incr', key: `c:${Math.floor(rnd() * 20)}` }] };
}

async function startServer(file: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--file', file], {
    env: { ...process.env, PMEM_IS_PMEM_FORCE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /address: +127\.0\.0\.1:(\d+)[\s\S]*ready to accept connections/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`pmem serve exited (${code}) before it was ready: ${out}${err}`)));
  });
  return { child, port };
}

/** Every key the workload uses. */
const UNIVERSE = [...Array.from({ length: KEYS }, (_, i) => `k:${i}`), ...Array.from({ length: 20 }, (_, i) => `c:${i}`)];

/**
 * What the server holds: every key's value and whether it has an expiry,
 * each key asked for by name (GET, PTTL), so that a key past its time is
 * looked up, not only listed; and the time window of the read.
 */
async function snapshot(port: number): Promise<{ data: Map<string, { v: string; ttl: boolean }>; t0: number; t1: number }> {
  const c = new RawClient(port);
  await c.ready;
  const t0 = Date.now();
  const listed = text(await c.call('KEYS', '*')) as string[];
  const keys = [...new Set([...UNIVERSE, ...listed])];
  c.send(Buffer.concat(keys.flatMap((k) => [frame('GET', k), frame('PTTL', k)])));
  const data = new Map<string, { v: string; ttl: boolean }>();
  for (const k of keys) {
    const v = text(await c.read()) as string | null;
    const ttl = (await c.read()) as number;
    if (v !== null) data.set(k, { v, ttl: ttl >= 0 });
  }
  const t1 = Date.now();
  c.close();
  return { data, t0, t1 };
}

/**
 * Whether `got` is `model` as seen between t0 and t1: a key whose expiry
 * time is before t0 must be absent; one that expires within [t0, t1] may be
 * either. @returns a difference, or null
 */
function differs(model: Model, got: Map<string, { v: string; ttl: boolean }>, t0: number, t1: number, counts: { expiredChecked: number }): string | null {
  for (const k of new Set([...model.keys(), ...got.keys()])) {
    const m = model.get(k);
    const g = got.get(k);
    if (m !== undefined && m.exp !== null && m.exp >= t0 && m.exp <= t1 + 1) continue; // expiring while read
    const live = m !== undefined && (m.exp === null || m.exp > t1);
    if (m !== undefined && !live) {
      counts.expiredChecked++;
      if (g !== undefined) return `${k}: expired at ${m.exp}, before ${t0}, but back with ${g.v}`;
      continue;
    }
    if (!live) {
      if (g !== undefined) return `${k}: should be absent, holds ${g.v}`;
      continue;
    }
    if (g === undefined) return `${k}: lost (expected ${m.v})`;
    if (g.v !== m.v) return `${k}: holds ${g.v}, expected ${m.v}`;
    if (g.ttl !== (m.exp !== null)) return `${k}: expiry ${g.ttl ? 'present' : 'missing'}, expected ${m.exp}`;
  }
  return null;
}

test(`pmem serve: ${KILLS} kill -9 under load; every acknowledged write after each restart, no expired key back`, async () => {
  const dir = path.join(testDir(), `serve-kill-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'serve.kv');
  const rnd = seededRandom(97);
  let model: Model = new Map();
  let n = 0;
  const report = { runs: 0, kills: 0, killsDuringWork: 0, killsAfterStart: 0, completed: 0, acked: 0, seconds: 0 };
  const counts = { expiredChecked: 0, inFlightApplied: 0 };
  const started = Date.now();
  try {
    let inFlight: Op[] = [];
    for (let run = 0; run <= KILLS; run++) {
      const { child, port } = await startServer(file);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // The state now must be the model plus a prefix of what was in flight at the kill.
      const snap = await snapshot(port);
      let matched = -1;
      const candidate = new Map(model);
      for (let i = 0; i <= inFlight.length; i++) {
        if (i > 0) apply(candidate, inFlight[i - 1]);
        if (differs(candidate, snap.data, snap.t0, snap.t1, { expiredChecked: 0 }) === null) {
          matched = i;
          break;
        }
      }
      if (matched < 0) {
        child.kill('SIGKILL');
        throw new Error(`run ${run}: the store matches no prefix of the in-flight requests: ${differs(model, snap.data, snap.t0, snap.t1, counts)}`);
      }
      differs(model, snap.data, snap.t0, snap.t1, counts); // counts the expired keys checked absent
      for (let i = 0; i < matched; i++) apply(model, inFlight[i]);
      counts.inFlightApplied += matched;
      inFlight = [];
      if (run === KILLS) {
        child.kill('SIGTERM');
        await exited;
        break;
      }
      report.runs++;
      // The load: a window of requests in flight; the kill comes at the Nth acknowledgement.
      const killAt = 20 + Math.floor(rnd() * 400);
      const c = new RawClient(port);
      await c.ready;
      const sent: { op: Op; replies: number }[] = [];
      let acks = 0;
      const fill = (): void => {
        while (sent.length < WINDOW) {
          const op = makeOp(rnd, n++);
          const w = wire(op);
          c.send(Buffer.concat(w.bytes));
          sent.push({ op, replies: w.replies });
        }
      };
      fill();
      for (;;) {
        const head = sent[0];
        let last: unknown = null;
        for (let i = 0; i < head.replies; i++) last = text(await c.read());
        if (last === null) throw new Error(`run ${run}: the connection closed before the kill`);
        if (typeof last === 'string' && last.startsWith('-')) throw new Error(`run ${run}: ${last}`);
        sent.shift();
        apply(model, head.op); // acknowledged: logged
        acks++;
        report.acked++;
        if (acks === killAt) break;
        fill();
      }
      // Requests are in flight (the window is refilled before every read): the kill lands during the work.
      const during = sent.length > 0;
      child.kill('SIGKILL');
      await exited;
      report.kills++;
      if (during) {
        report.killsDuringWork++;
        report.killsAfterStart++;
      }
      inFlight = sent.map((s) => s.op);
      c.close();
    }
    report.seconds = (Date.now() - started) / 1000;
    // eslint-disable-next-line no-console
    console.log(`serve-kill: ${counts.expiredChecked} expired keys checked absent, ${counts.inFlightApplied} in-flight requests found applied`);
    expectKillsLanded('serve-kill', report);
    expect(report.kills).toBe(KILLS);
    expect(counts.expiredChecked).toBeGreaterThan(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 600_000);
