// pmem serve's lists and sorted sets under SIGKILL. A client keeps a window
// of requests in flight (multi-value LPUSH/RPUSH, LPOP/RPOP with a count,
// LINSERT, LSET, LREM, LTRIM, LMOVE, RPOPLPUSH, multi-member ZADD with
// NX/XX/GT/LT/CH/INCR, ZINCRBY, ZREM, ZPOPMIN/ZPOPMAX with a count,
// ZREMRANGEBYSCORE/BYRANK, ZUNIONSTORE/ZINTERSTORE, DEL, MULTI/EXEC mixing
// them) and logs every acknowledged reply; after its Nth acknowledgement (N
// drawn at random, a count, not a time) the server process is killed. After
// each restart every list (in order) and every sorted set (member, score and
// Redis's order) must be the state after every acknowledged request and a
// prefix of the ones in flight (one connection: requests run, and are
// committed, in order). At the end the store, its lazy free run to
// completion, must hold exactly the element records of the live
// collections. The kill must land while requests are in flight.
// PMEM_SERVE_KILLS sets the count (default 20).
import * as path from 'node:path';

import { seededRandom } from '../lib/testing/random';
import { runCollectionKills, type Op } from './fixtures/serve/collection-kill';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { testDir } from './helpers';

const KILLS = Number(process.env.PMEM_SERVE_KILLS ?? 20);
const WINDOW = 32;
const KEYS = 12;

type ZSet = Map<string, number>;
type Model = Map<string, string[] | ZSet>;

const LISTS = Array.from({ length: KEYS }, (_, i) => `l:${i}`);
const ZSETS = Array.from({ length: KEYS }, (_, i) => `z:${i}`);
const UNIVERSE = [...LISTS, ...ZSETS];

function listOf(m: Model, k: string): string[] {
  let l = m.get(k) as string[] | undefined;
  if (l === undefined) m.set(k, (l = []));
  return l;
}

function zsetOf(m: Model, k: string): ZSet {
  let z = m.get(k) as ZSet | undefined;
  if (z === undefined) m.set(k, (z = new Map()));
  return z;
}

/** Redis deletes a collection that became empty. */
function prune(m: Model, k: string): void {
  const v = m.get(k);
  if (v !== undefined && (Array.isArray(v) ? v.length : v.size) === 0) m.delete(k);
}

/** Redis's range arithmetic (LTRIM, ZREMRANGEBYRANK): [lo, hi] clamped, or null when empty. */
function range(len: number, start: number, stop: number): [number, number] | null {
  if (start < 0) start = Math.max(0, len + start);
  if (stop < 0) stop = len + stop;
  if (stop >= len) stop = len - 1;
  if (start > stop || start >= len) return null;
  return [start, stop];
}

/** Members in Redis's order: score, then member bytes. */
function ordered(z: ZSet): [string, number][] {
  return [...z].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function applyZadd(z: ZSet, c: string[]): void {
  let i = 2;
  const flags = new Set<string>();
  while (['NX', 'XX', 'GT', 'LT', 'CH', 'INCR'].includes(c[i])) flags.add(c[i++]);
  for (; i < c.length; i += 2) {
    const score = Number(c[i]);
    const mem = c[i + 1];
    const old = z.get(mem);
    if (flags.has('NX') && old !== undefined) continue;
    if (flags.has('XX') && old === undefined) continue;
    const next = flags.has('INCR') && old !== undefined ? old + score : score;
    if (old !== undefined && flags.has('GT') && !(next > old)) continue;
    if (old !== undefined && flags.has('LT') && !(next < old)) continue;
    z.set(mem, next);
  }
}

function applyCmd(m: Model, c: string[]): void {
  const [name, key] = c;
  const list = m.get(key) as string[] | undefined;
  const zset = m.get(key) as ZSet | undefined;
  switch (name) {
    case 'LPUSH':
      listOf(m, key).unshift(...c.slice(2).reverse());
      break;
    case 'RPUSH':
      listOf(m, key).push(...c.slice(2));
      break;
    case 'LPOP':
      list?.splice(0, Number(c[2]));
      prune(m, key);
      break;
    case 'RPOP':
      list?.splice(Math.max(0, list.length - Number(c[2])));
      prune(m, key);
      break;
    case 'LINSERT': {
      const at = list === undefined ? -1 : list.indexOf(c[3]);
      if (list !== undefined && at >= 0) list.splice(c[2] === 'BEFORE' ? at : at + 1, 0, c[4]);
      break;
    }
    case 'LSET': {
      // An index out of range (or no list) is an error reply and changes nothing.
      const i = Number(c[2]) < 0 ? (list?.length ?? 0) + Number(c[2]) : Number(c[2]);
      if (list !== undefined && i >= 0 && i < list.length) list[i] = c[3];
      break;
    }
    case 'LREM': {
      if (list === undefined) break;
      const count = Number(c[2]);
      let left = count === 0 ? Infinity : Math.abs(count);
      const idx = list.map((_, i) => i);
      if (count < 0) idx.reverse();
      const drop = new Set<number>();
      for (const i of idx) if (left > 0 && list[i] === c[3]) (drop.add(i), left--);
      m.set(key, list.filter((_, i) => !drop.has(i)));
      prune(m, key);
      break;
    }
    case 'LTRIM': {
      if (list === undefined) break;
      const r = range(list.length, Number(c[2]), Number(c[3]));
      if (r === null) m.delete(key);
      else m.set(key, list.slice(r[0], r[1] + 1));
      break;
    }
    case 'LMOVE':
    case 'RPOPLPUSH': {
      const [from, to] = name === 'RPOPLPUSH' ? ['RIGHT', 'LEFT'] : [c[3], c[4]];
      const src = m.get(c[1]) as string[] | undefined;
      if (src === undefined) break;
      const v = (from === 'LEFT' ? src.shift() : src.pop()) as string;
      prune(m, c[1]);
      const dst = listOf(m, c[2]);
      if (to === 'LEFT') dst.unshift(v);
      else dst.push(v);
      break;
    }
    case 'ZADD':
      applyZadd(zsetOf(m, key), c);
      prune(m, key);
      break;
    case 'ZINCRBY': {
      const z = zsetOf(m, key);
      z.set(c[3], (z.get(c[3]) ?? 0) + Number(c[2]));
      break;
    }
    case 'ZREM':
      for (const x of c.slice(2)) zset?.delete(x);
      prune(m, key);
      break;
    case 'ZPOPMIN':
    case 'ZPOPMAX': {
      if (zset === undefined) break;
      const o = ordered(zset);
      if (name === 'ZPOPMAX') o.reverse();
      for (const [mem] of o.slice(0, Number(c[2]))) zset.delete(mem);
      prune(m, key);
      break;
    }
    case 'ZREMRANGEBYSCORE':
      for (const [mem, s] of zset ?? []) if (s >= Number(c[2]) && s <= Number(c[3])) zset?.delete(mem);
      prune(m, key);
      break;
    case 'ZREMRANGEBYRANK': {
      if (zset === undefined) break;
      const o = ordered(zset);
      const r = range(o.length, Number(c[2]), Number(c[3]));
      if (r !== null) for (const [mem] of o.slice(r[0], r[1] + 1)) zset.delete(mem);
      prune(m, key);
      break;
    }
    case 'ZUNIONSTORE':
    case 'ZINTERSTORE': {
      const a = (m.get(c[3]) as ZSet | undefined) ?? new Map<string, number>();
      const b = (m.get(c[4]) as ZSet | undefined) ?? new Map<string, number>();
      const agg = c[6] ?? 'SUM';
      const combine = (x: number, y: number): number => (agg === 'SUM' ? x + y : agg === 'MIN' ? Math.min(x, y) : Math.max(x, y));
      const out: ZSet = new Map();
      if (name === 'ZINTERSTORE') {
        for (const [mem, s] of a) if (b.has(mem)) out.set(mem, combine(s, b.get(mem) as number));
      } else {
        for (const [mem, s] of a) out.set(mem, s);
        for (const [mem, s] of b) out.set(mem, out.has(mem) ? combine(out.get(mem) as number, s) : s);
      }
      if (out.size === 0) m.delete(c[1]);
      else m.set(c[1], out);
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

const ZADD_FLAGS = [[], ['NX'], ['XX'], ['GT'], ['LT'], ['CH'], ['XX', 'GT', 'CH'], ['NX', 'CH'], ['LT', 'CH']];

function makeCmd(rnd: () => number, n: number): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const int = (lo: number, hi: number): string => String(lo + Math.floor(rnd() * (hi - lo + 1)));
  const val = (): string => `v${Math.floor(rnd() * 8)}`;
  const mem = (): string => `m${Math.floor(rnd() * 12)}`;
  const side = (): string => (rnd() < 0.5 ? 'LEFT' : 'RIGHT');
  const x = rnd();
  if (x < 0.12) return [rnd() < 0.5 ? 'LPUSH' : 'RPUSH', pick(LISTS), val(), val(), val(), `n${n}`];
  if (x < 0.18) return [rnd() < 0.5 ? 'LPOP' : 'RPOP', pick(LISTS), int(1, 3)];
  if (x < 0.23) return ['LINSERT', pick(LISTS), rnd() < 0.5 ? 'BEFORE' : 'AFTER', val(), `i${n}`];
  if (x < 0.26) return ['LSET', pick(LISTS), int(-4, 4), `s${n}`];
  if (x < 0.29) return ['LREM', pick(LISTS), int(-2, 2), val()];
  if (x < 0.31) return ['LTRIM', pick(LISTS), int(-6, 2), int(-3, 12)];
  if (x < 0.36) return ['LMOVE', pick(LISTS), pick(LISTS), side(), side()];
  if (x < 0.38) return ['RPOPLPUSH', pick(LISTS), pick(LISTS)];
  if (x < 0.54) return ['ZADD', pick(ZSETS), ...pick(ZADD_FLAGS), int(-9, 9), mem(), int(-9, 9), mem(), int(-9, 9), mem()];
  if (x < 0.58) return ['ZADD', pick(ZSETS), ...pick([[], ['NX'], ['XX'], ['GT'], ['LT']]), 'INCR', int(-4, 4), mem()];
  if (x < 0.63) return ['ZINCRBY', pick(ZSETS), int(-5, 5), mem()];
  if (x < 0.69) return ['ZREM', pick(ZSETS), mem(), mem()];
  if (x < 0.74) return [rnd() < 0.5 ? 'ZPOPMIN' : 'ZPOPMAX', pick(ZSETS), int(1, 3)];
  if (x < 0.77) return ['ZREMRANGEBYSCORE', pick(ZSETS), int(-9, 3), int(-3, 9)];
  if (x < 0.8) return ['ZREMRANGEBYRANK', pick(ZSETS), int(-4, 1), int(-3, 3)];
  if (x < 0.88) {
    return [rnd() < 0.5 ? 'ZUNIONSTORE' : 'ZINTERSTORE', pick(ZSETS), '2', pick(ZSETS), pick(ZSETS), 'AGGREGATE', pick(['SUM', 'MIN', 'MAX'])];
  }
  return ['DEL', pick(rnd() < 0.5 ? LISTS : ZSETS)];
}

function makeOp(rnd: () => number, n: number): Op {
  if (rnd() < 0.1) return { exec: [makeCmd(rnd, n), makeCmd(rnd, n), makeCmd(rnd, n)] };
  return { cmd: makeCmd(rnd, n) };
}

/** The only error replies the workload can draw: LSET past either end, or of no list. */
function expectedError(op: Op, error: string): boolean {
  return 'cmd' in op && op.cmd[0] === 'LSET' && /^ERR (no such key|index out of range)/.test(error);
}

/** A canonical text of every collection: lists in order, sorted sets in Redis's order with scores. */
function canon(m: Model): string {
  const lines: string[] = [];
  for (const [k, v] of m) {
    const els = Array.isArray(v) ? v : ordered(v).map(([mem, s]) => `${mem}=${s}`);
    lines.push(`${k}:${els.join(',')}`);
  }
  return lines.sort().join('\n');
}

/** What the server holds, every key asked for by name (LRANGE, ZRANGE WITHSCORES), in the server's order. */
async function snapshot(port: number): Promise<string> {
  const c = new RawClient(port);
  await c.ready;
  const listed = text(await c.call('KEYS', '*')) as string[];
  const extra = listed.filter((k) => !UNIVERSE.includes(k));
  if (extra.length > 0) throw new Error(`keys nobody wrote: ${extra.join(' ')}`);
  c.send(Buffer.concat(UNIVERSE.map((k) => (k.startsWith('l:') ? frame('LRANGE', k, '0', '-1') : frame('ZRANGE', k, '0', '-1', 'WITHSCORES')))));
  const lines: string[] = [];
  for (const k of UNIVERSE) {
    const r = text(await c.read()) as string[];
    if (r.length === 0) continue;
    if (k.startsWith('l:')) lines.push(`${k}:${r.join(',')}`);
    else {
      const els: string[] = [];
      for (let i = 0; i < r.length; i += 2) els.push(`${r[i]}=${Number(r[i + 1])}`);
      lines.push(`${k}:${els.join(',')}`);
    }
  }
  c.close();
  return lines.sort().join('\n');
}

function copy(m: Model): Model {
  return new Map([...m].map(([k, v]) => [k, Array.isArray(v) ? [...v] : new Map(v)]));
}

test(`pmem serve: ${KILLS} kill -9 of lists and sorted sets under load; every acknowledged write after each restart, no element leaked`, async () => {
  await runCollectionKills<Model>({
    name: 'serve-lists-zsets-kill',
    dir: path.join(testDir(), `serve-lists-zsets-kill-${process.pid}`),
    kills: KILLS,
    window: WINDOW,
    rnd: seededRandom(99),
    model: new Map(),
    copy,
    apply,
    canon,
    snapshot,
    makeOp,
    wire,
    expectedError,
    size: (m) => m.size,
  });
}, 600_000);
