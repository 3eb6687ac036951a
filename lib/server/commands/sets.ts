// The set group: SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS, SMOVE,
// SPOP, SRANDMEMBER, SINTER, SINTERCARD, SINTERSTORE, SUNION, SUNIONSTORE,
// SDIFF, SDIFFSTORE, SSCAN. A set is a Members of member → true in DRAM,
// and one element record per member, with an empty payload, in the store.
import { ReplyError, type Client } from '../client';
import { type Collection, registerType, TYPE_SET } from '../collections';
import { Members } from '../members';
import { NOTIFY_GENERIC, NOTIFY_SET } from '../notify';
import type { RespServer } from '../server';
import { cursorArg, keyArg, toI64, word } from './args';
import { intOrder, randomCount, randomSlots, replyRandom, scanMembers } from './elements';
import type { Def } from './types';

type SetData = Members<true>;

/** Redis's set-max-intset-entries default: the intset encoding's limit. */
const SMALL_ENTRIES = 512;
const MAX_MEMBER = 4096 - 9;
const EMPTY = Buffer.alloc(0);

function add(m: SetData, id: string): boolean {
  if (!m.big && (m.size >= SMALL_ENTRIES || toI64(id) === null)) m.big = true;
  return m.set(id, true);
}

registerType<SetData>({
  type: TYPE_SET,
  ordered: false,
  name: 'set',
  create: () => new Members<true>(),
  load: (m, id) => {
    // Each member is read once at open.
    if (!m.big && (m.size >= SMALL_ENTRIES || toI64(id) === null)) m.big = true;
    m.append(id, true);
  },
  size: (m) => m.size,
  encoding: (m) => (m.big ? 'hashtable' : 'intset'),
  elements: function* elements(m) {
    for (const id of m.ids) yield [id, EMPTY];
  },
  ids: (m) => m.ids.values(),
  members: (m) => m,
});

function memberArg(b: Buffer): string {
  if (b.length > MAX_MEMBER) throw new ReplyError(`ERR member is ${b.length} bytes; the limit is ${MAX_MEMBER}`);
  return b.toString('latin1');
}

function read(s: RespServer, c: Client, key: Buffer): Collection<SetData> | undefined {
  return s.keyspace.collection<SetData>(c.db, keyArg(key), TYPE_SET);
}

function addMember(s: RespServer, set: Collection<SetData>, id: string): boolean {
  if (!add(set.data, id)) return false;
  s.keyspace.putElement(set, id, EMPTY);
  return true;
}

function removeMember(s: RespServer, set: Collection<SetData>, id: string): boolean {
  if (!set.data.delete(id)) return false;
  s.keyspace.deleteElement(set, id);
  return true;
}

function sadd(s: RespServer, c: Client, argv: Buffer[]): void {
  const ids: string[] = [];
  for (let i = 2; i < argv.length; i++) ids.push(memberArg(argv[i]));
  // Every member of the command goes into the one batch: after a crash all are there or none.
  const set = s.keyspace.createCollection<SetData>(c.db, keyArg(argv[1]), TYPE_SET);
  let n = 0;
  for (const id of ids) if (addMember(s, set, id)) n++;
  if (n > 0) s.keyspace.notify.raise(NOTIFY_SET, 'sadd', c.db, set.key);
  c.out.int(n);
}

function srem(s: RespServer, c: Client, argv: Buffer[]): void {
  const set = read(s, c, argv[1]);
  let n = 0;
  if (set !== undefined) {
    for (let i = 2; i < argv.length; i++) if (removeMember(s, set, argv[i].toString('latin1'))) n++;
    // The last member's delete and the key's delete are in the same batch.
    const deleted = s.keyspace.deleteIfEmpty(set);
    if (n > 0) removedEvents(s, set, 'srem', deleted);
  }
  c.out.int(n);
}

/** A removal's events: `event`, and 'del' when the set was deleted. */
function removedEvents(s: RespServer, set: Collection<SetData>, event: string, deleted: boolean): void {
  s.keyspace.notify.raise(NOTIFY_SET, event, set.db, set.key);
  if (deleted) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', set.db, set.key);
}

function scard(s: RespServer, c: Client, argv: Buffer[]): void {
  c.out.int(read(s, c, argv[1])?.data.size ?? 0);
}

function sismember(s: RespServer, c: Client, argv: Buffer[]): void {
  c.out.int(read(s, c, argv[1])?.data.has(argv[2].toString('latin1')) === true ? 1 : 0);
}

function smismember(s: RespServer, c: Client, argv: Buffer[]): void {
  const set = read(s, c, argv[1])?.data;
  c.out.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) c.out.int(set?.has(argv[i].toString('latin1')) === true ? 1 : 0);
}

function replySet(c: Client, ids: readonly string[]): void {
  c.out.set(ids.length);
  for (const id of ids) c.out.bulkLatin1(id);
}

function smembers(s: RespServer, c: Client, argv: Buffer[]): void {
  const m = read(s, c, argv[1])?.data;
  if (m === undefined || m.big) {
    replySet(c, m?.ids ?? []);
    return;
  }
  // An intset's order: ascending values.
  c.out.set(m.size);
  for (const i of intOrder(m.ids)) c.out.bulkLatin1(m.ids[i]);
}

/** SMOVE source destination member */
function smove(s: RespServer, c: Client, argv: Buffer[]): void {
  const from = keyArg(argv[1]);
  const to = keyArg(argv[2]);
  const id = memberArg(argv[3]);
  const src = s.keyspace.collection<SetData>(c.db, from, TYPE_SET);
  if (src === undefined) {
    c.out.int(0);
    return;
  }
  s.keyspace.collection<SetData>(c.db, to, TYPE_SET); // WRONGTYPE before any write
  if (from === to) {
    c.out.int(src.data.has(id) ? 1 : 0);
    return;
  }
  if (!removeMember(s, src, id)) {
    c.out.int(0);
    return;
  }
  // The member's delete, its put, and the source's delete when emptied: one batch.
  removedEvents(s, src, 'srem', s.keyspace.deleteIfEmpty(src));
  if (addMember(s, s.keyspace.createCollection<SetData>(c.db, to, TYPE_SET), id)) s.keyspace.notify.raise(NOTIFY_SET, 'sadd', c.db, to);
  c.out.int(1);
}

/** SPOP key [count] */
function spop(s: RespServer, c: Client, argv: Buffer[]): void {
  if (argv.length > 3) throw new ReplyError('ERR syntax error');
  let count = -1;
  if (argv.length === 3) {
    // getPositiveLongFromObjectOrReply: one text for a non-integer and a negative.
    const n = toI64(argv[2]);
    if (n === null || n < 0n) throw new ReplyError('ERR value is out of range, must be positive');
    count = Number(n);
  }
  const set = read(s, c, argv[1]);
  if (set === undefined) {
    if (count < 0) c.out.nil();
    else c.out.set(0);
    return;
  }
  const m = set.data;
  if (count < 0) {
    const id = m.ids[m.randomSlot()];
    removeMember(s, set, id);
    removedEvents(s, set, 'spop', s.keyspace.deleteIfEmpty(set));
    c.out.bulkLatin1(id);
    return;
  }
  const ids = randomSlots(m.size, Math.min(count, m.size)).map((i) => m.ids[i]);
  for (const id of ids) removeMember(s, set, id);
  const deleted = s.keyspace.deleteIfEmpty(set);
  if (count > 0) removedEvents(s, set, 'spop', deleted);
  replySet(c, ids);
}

/** SRANDMEMBER key [count] */
function srandmember(s: RespServer, c: Client, argv: Buffer[]): void {
  if (argv.length > 3) throw new ReplyError('ERR syntax error');
  if (argv.length === 2) {
    const m = read(s, c, argv[1])?.data;
    if (m === undefined) c.out.nil();
    else c.out.bulkLatin1(m.ids[m.randomSlot()]);
    return;
  }
  const count = randomCount(argv[2]);
  const m = read(s, c, argv[1])?.data;
  if (m === undefined || count === 0) {
    c.out.array(0);
    return;
  }
  replyRandom(s, c, m.size, count, 1, (i) => c.out.bulkLatin1(m.ids[i]));
}

/** The sets at `keys` (undefined for a missing key); WRONGTYPE for any key of another type, before anything else. */
function sets(s: RespServer, c: Client, keys: Buffer[]): (SetData | undefined)[] {
  return keys.map((k) => read(s, c, k)?.data);
}

function inter(all: (SetData | undefined)[], limit: number): string[] {
  if (all.some((m) => m === undefined)) return [];
  const ms = (all as SetData[]).slice().sort((a, b) => a.size - b.size);
  const out: string[] = [];
  for (const id of ms[0].ids) {
    let inAll = true;
    for (let j = 1; j < ms.length && inAll; j++) if (ms[j] !== ms[0] && !ms[j].has(id)) inAll = false;
    if (!inAll) continue;
    out.push(id);
    if (limit > 0 && out.length >= limit) break;
  }
  return out;
}

function union(all: (SetData | undefined)[]): string[] {
  const out = new Set<string>();
  for (const m of all) if (m !== undefined) for (const id of m.ids) out.add(id);
  return [...out];
}

function diff(all: (SetData | undefined)[]): string[] {
  const first = all[0];
  if (first === undefined) return [];
  return first.ids.filter((id) => {
    for (let j = 1; j < all.length; j++) if (all[j] !== undefined && (all[j] === first || (all[j] as SetData).has(id))) return false;
    return true;
  });
}

type SetOp = (all: (SetData | undefined)[]) => string[];

function readOp(op: SetOp) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => replySet(c, op(sets(s, c, argv.slice(1))));
}

/**
 * SINTERSTORE / SUNIONSTORE / SDIFFSTORE destination key...: the result
 * replaces the destination (whatever its type; its expiry goes) or deletes
 * it when empty. The old destination's META delete and the new one's META
 * and members are one batch.
 */
function storeOp(op: SetOp, event: string) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const dst = keyArg(argv[1]);
    const ids = op(sets(s, c, argv.slice(2)));
    if (ids.length > 0) {
      const set = s.keyspace.replaceCollection<SetData>(c.db, dst, TYPE_SET);
      for (const id of ids) addMember(s, set, id);
      s.keyspace.notify.raise(NOTIFY_SET, event, c.db, dst);
    } else if (s.keyspace.delete(c.db, dst)) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', c.db, dst);
    c.out.int(ids.length);
  };
}

/** SINTERCARD numkeys key... [LIMIT n] */
function sintercard(s: RespServer, c: Client, argv: Buffer[]): void {
  const nk = toI64(argv[1]);
  if (nk === null || nk < 1n) throw new ReplyError('ERR numkeys should be greater than 0');
  if (nk > BigInt(argv.length - 2)) throw new ReplyError("ERR Number of keys can't be greater than number of args");
  const n = Number(nk);
  let limit = 0;
  for (let j = 2 + n; j < argv.length; j++) {
    if (word(argv[j]) === 'limit' && j + 1 < argv.length) {
      const l = toI64(argv[++j]);
      if (l === null || l < 0n) throw new ReplyError("ERR LIMIT can't be negative");
      limit = Number(l);
    } else throw new ReplyError('ERR syntax error');
  }
  c.out.int(inter(sets(s, c, argv.slice(2, 2 + n)), limit).length);
}

function sscan(s: RespServer, c: Client, argv: Buffer[]): void {
  const cur = cursorArg(argv[2]);
  const m = read(s, c, argv[1])?.data;
  scanMembers(c, argv, cur, m, m !== undefined && !m.big ? () => intOrder(m.ids) : null, 1, (i) => c.out.bulkLatin1((m as SetData).ids[i]));
}

export const SET_COMMANDS: Record<string, Def> = {
  sadd: [-3, 'write fast', 1, 1, 1, sadd],
  srem: [-3, 'write fast', 1, 1, 1, srem],
  scard: [2, 'readonly fast', 1, 1, 1, scard],
  sismember: [3, 'readonly fast', 1, 1, 1, sismember],
  smismember: [-3, 'readonly fast', 1, 1, 1, smismember],
  smembers: [2, 'readonly', 1, 1, 1, smembers],
  smove: [4, 'write fast', 1, 2, 1, smove],
  spop: [-2, 'write fast', 1, 1, 1, spop],
  srandmember: [-2, 'readonly', 1, 1, 1, srandmember],
  sinter: [-2, 'readonly', 1, -1, 1, readOp((all) => inter(all, 0))],
  sintercard: [-3, 'readonly', 0, 0, 0, sintercard],
  sinterstore: [-3, 'write', 1, -1, 1, storeOp((all) => inter(all, 0), 'sinterstore')],
  sunion: [-2, 'readonly', 1, -1, 1, readOp(union)],
  sunionstore: [-3, 'write', 1, -1, 1, storeOp(union, 'sunionstore')],
  sdiff: [-2, 'readonly', 1, -1, 1, readOp(diff)],
  sdiffstore: [-3, 'write', 1, -1, 1, storeOp(diff, 'sdiffstore')],
  sscan: [-3, 'readonly', 1, 1, 1, sscan],
};
