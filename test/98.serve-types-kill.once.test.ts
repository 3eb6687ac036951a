// pmem serve's hashes and sets under SIGKILL. A client keeps a window of
// requests in flight (multi-field HSET, HDEL, HINCRBY, multi-member SADD,
// SREM, SMOVE, SINTERSTORE, SUNIONSTORE, DEL, MULTI/EXEC mixing them) and
// logs every acknowledged reply; after its Nth acknowledgement (N drawn at
// random, a count, not a time) the server process is killed. After each
// restart every hash and set must be the state after every acknowledged
// request and a prefix of the ones in flight (one connection: requests run,
// and are committed, in order). At the end the store, its lazy free run to
// completion, must hold exactly the element records of the live
// collections: no kill left elements of a dead collection behind. The kill
// must land while requests are in flight. PMEM_SERVE_KILLS sets the count
// (default 20).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { KVStore } from '../lib';
import { NS_ELEMENT, typeOf } from '../lib/server/collections';
import '../lib/server/commands/table';
import { Keyspace } from '../lib/server/keyspace';
import { seededRandom } from '../lib/testing/random';
import { expectKillsLanded } from './fixtures/kill-report';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { testDir } from './helpers';

const KILLS = Number(process.env.PMEM_SERVE_KILLS ?? 20);
const WINDOW = 32;
const KEYS = 30;
const BIN = path.join(__dirname, '..', 'bin', 'pmem');

type Hash = Map<string, string>;
type Model = Map<string, Hash | Set<string>>;
type Op = { cmd: string[] } | { exec: string[][] };

const HASHES = Array.from({ length: KEYS }, (_, i) => `h:${i}`);
const SETS = Array.from({ length: KEYS }, (_, i) => `s:${i}`);
const UNIVERSE = [...HASHES, ...SETS];

function hashOf(m: Model, k: string): Hash {
  let h = m.get(k) as Hash | undefined;
  if (h === undefined) m.set(k, (h = new Map()));
  return h;
}

function setOf(m: Model, k: string): Set<string> {
  let s = m.get(k) as Set<string> | undefined;
  if (s === undefined) m.set(k, (s = new Set()));
  return s;
}

/** Redis deletes a collection that became empty. */
function prune(m: Model, k: string): void {
  const v = m.get(k);
  if (v !== undefined && v.size === 0) m.delete(k);
}

function applyCmd(m: Model, c: string[]): void {
  const [name, key] = c;
  switch (name) {
    case 'HSET': {
      const h = hashOf(m, key);
      for (let i = 2; i < c.length; i += 2) h.set(c[i], c[i + 1]);
      break;
    }
    case 'HDEL':
      for (const f of c.slice(2)) (m.get(key) as Hash | undefined)?.delete(f);
      prune(m, key);
      break;
    case 'HINCRBY': {
      const h = hashOf(m, key);
      h.set(c[2], String(Number(h.get(c[2]) ?? '0') + Number(c[3])));
      break;
    }
    case 'SADD': {
      const s = setOf(m, key);
      for (const x of c.slice(2)) s.add(x);
      break;
    }
    case 'SREM':
      for (const x of c.slice(2)) (m.get(key) as Set<string> | undefined)?.delete(x);
      prune(m, key);
      break;
    case 'SMOVE': {
      const src = m.get(c[1]) as Set<string> | undefined;
      if (src === undefined || c[1] === c[2] || !src.delete(c[3])) break;
      prune(m, c[1]);
      setOf(m, c[2]).add(c[3]);
      break;
    }
    case 'SINTERSTORE':
    case 'SUNIONSTORE': {
      const a = (m.get(c[2]) as Set<string> | undefined) ?? new Set<string>();
      const b = (m.get(c[3]) as Set<string> | undefined) ?? new Set<string>();
      const out = name === 'SINTERSTORE' ? [...a].filter((x) => b.has(x)) : [...new Set([...a, ...b])];
      if (out.length === 0) m.delete(c[1]);
      else m.set(c[1], new Set(out));
      break;
    }
    case 'DEL':
      m.delete(key);
      break;
    default:
      throw new Error(`no model for ${name}`);
  }
}

function apply(m: Model, op: Op): void {
  if ('cmd' in op) applyCmd(m, op.cmd);
  else for (const c of op.exec) applyCmd(m, c);
}

function wire(op: Op): { bytes: Buffer; replies: number } {
  if ('cmd' in op) return { bytes: frame(...op.cmd), replies: 1 };
  return { bytes: Buffer.concat([frame('MULTI'), ...op.exec.map((c) => frame(...c)), frame('EXEC')]), replies: op.exec.length + 2 };
}

function makeCmd(rnd: () => number, n: number): string[] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const field = (): string => `f${Math.floor(rnd() * 12)}`;
  const member = (): string => `m${Math.floor(rnd() * 16)}`;
  const x = rnd();
  if (x < 0.25) return ['HSET', pick(HASHES), field(), `v${n}a`, field(), `v${n}b`, field(), `v${n}c`];
  if (x < 0.35) return ['HDEL', pick(HASHES), field(), field(), field()];
  if (x < 0.42) return ['HINCRBY', pick(HASHES), 'n', String(1 + Math.floor(rnd() * 5))];
  if (x < 0.62) return ['SADD', pick(SETS), member(), member(), member(), member()];
  if (x < 0.72) return ['SREM', pick(SETS), member(), member(), member()];
  if (x < 0.8) return ['SMOVE', pick(SETS), pick(SETS), member()];
  if (x < 0.87) return [rnd() < 0.5 ? 'SINTERSTORE' : 'SUNIONSTORE', pick(SETS), pick(SETS), pick(SETS)];
  return ['DEL', pick(rnd() < 0.5 ? HASHES : SETS)];
}

function makeOp(rnd: () => number, n: number): Op {
  if (rnd() < 0.1) return { exec: [makeCmd(rnd, n), makeCmd(rnd, n), makeCmd(rnd, n)] };
  return { cmd: makeCmd(rnd, n) };
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

/** A canonical text of every collection: key, then its sorted elements. */
function canon(m: Model): string {
  const lines: string[] = [];
  for (const [k, v] of m) {
    const els = v instanceof Map ? [...v].map(([f, x]) => `${f}=${x}`) : [...v];
    lines.push(`${k}:${els.sort().join(',')}`);
  }
  return lines.sort().join('\n');
}

/** What the server holds, every key asked for by name (HGETALL, SMEMBERS). */
async function snapshot(port: number): Promise<string> {
  const c = new RawClient(port);
  await c.ready;
  const listed = text(await c.call('KEYS', '*')) as string[];
  const extra = listed.filter((k) => !UNIVERSE.includes(k));
  if (extra.length > 0) throw new Error(`keys nobody wrote: ${extra.join(' ')}`);
  c.send(Buffer.concat(UNIVERSE.map((k) => (k.startsWith('h:') ? frame('HGETALL', k) : frame('SMEMBERS', k)))));
  const m: Model = new Map();
  for (const k of UNIVERSE) {
    const r = text(await c.read()) as string[];
    if (r.length === 0) continue;
    if (k.startsWith('h:')) {
      const h = new Map<string, string>();
      for (let i = 0; i < r.length; i += 2) h.set(r[i], r[i + 1]);
      m.set(k, h);
    } else m.set(k, new Set(r));
  }
  c.close();
  return canon(m);
}

test(`pmem serve: ${KILLS} kill -9 of hashes and sets under load; every acknowledged write after each restart, no element leaked`, async () => {
  const dir = path.join(testDir(), `serve-types-kill-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'serve.kv');
  const rnd = seededRandom(98);
  const model: Model = new Map();
  let n = 0;
  const report = { runs: 0, kills: 0, killsDuringWork: 0, killsAfterStart: 0, completed: 0, acked: 0, seconds: 0 };
  let inFlightApplied = 0;
  const started = Date.now();
  try {
    let inFlight: Op[] = [];
    for (let run = 0; run <= KILLS; run++) {
      const { child, port } = await startServer(file);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // The state now must be the model plus a prefix of what was in flight at the kill.
      const got = await snapshot(port);
      const candidate: Model = new Map([...model].map(([k, v]) => [k, v instanceof Map ? new Map(v) : new Set(v)]));
      let matched = canon(candidate) === got ? 0 : -1;
      for (let i = 0; matched < 0 && i < inFlight.length; i++) {
        apply(candidate, inFlight[i]);
        if (canon(candidate) === got) matched = i + 1;
      }
      if (matched < 0) {
        child.kill('SIGKILL');
        throw new Error(`run ${run}: the store matches no prefix of the in-flight requests:\n${got}\nexpected at least:\n${canon(model)}`);
      }
      for (let i = 0; i < matched; i++) apply(model, inFlight[i]);
      inFlightApplied += matched;
      inFlight = [];
      if (run === KILLS) {
        child.kill('SIGTERM');
        await exited;
        break;
      }
      report.runs++;
      const killAt = 20 + Math.floor(rnd() * 300);
      const c = new RawClient(port);
      await c.ready;
      const sent: { op: Op; replies: number }[] = [];
      let acks = 0;
      const fill = (): void => {
        while (sent.length < WINDOW) {
          const op = makeOp(rnd, n++);
          const w = wire(op);
          c.send(w.bytes);
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
    // No element record outlives its collection: free what is queued, then count.
    const store = KVStore.open(file);
    let records = 0;
    let elements = 0;
    try {
      const ks = new Keyspace(store, 16);
      while (ks.freeStep() > 0) ks.commit();
      ks.commit();
      for (const _ of store.keys({ prefix: Buffer.from([NS_ELEMENT]) })) records++;
      for (const d of ks.dbs) for (const col of d.colls.values()) elements += typeOf(col.type).size(col.data);
    } finally {
      store.close();
    }
    // eslint-disable-next-line no-console
    console.log(`serve-types-kill: ${inFlightApplied} in-flight requests found applied; ${elements} elements live, ${model.size} keys`);
    expect(records).toBe(elements);
    expect(elements).toBeGreaterThan(0);
    expectKillsLanded('serve-types-kill', report);
    expect(report.kills).toBe(KILLS);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 600_000);
