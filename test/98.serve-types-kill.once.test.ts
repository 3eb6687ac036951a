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
import * as path from 'node:path';

import { seededRandom } from '../lib/testing/random';
import { runCollectionKills, type Op } from './fixtures/serve/collection-kill';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { testDir } from './helpers';

const KILLS = Number(process.env.PMEM_SERVE_KILLS ?? 20);
const WINDOW = 32;
const KEYS = 30;

type Hash = Map<string, string>;
type Model = Map<string, Hash | Set<string>>;

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
  await runCollectionKills<Model>({
    name: 'serve-types-kill',
    dir: path.join(testDir(), `serve-types-kill-${process.pid}`),
    kills: KILLS,
    window: WINDOW,
    rnd: seededRandom(98),
    model: new Map(),
    copy: (m) => new Map([...m].map(([k, v]) => [k, v instanceof Map ? new Map(v) : new Set(v)])),
    apply,
    canon,
    snapshot,
    makeOp,
    wire,
    size: (m) => m.size,
  });
}, 600_000);
