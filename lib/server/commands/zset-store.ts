// Sorted sets in the keyspace: the collection type's registration (a zset is
// rebuilt from its element records at open), the record writes of the zset
// commands, and Redis's score texts. An element's id is its member; its
// payload is the score, a little-endian float64 (docs/formats.md,
// "Collections").
import { ReplyError, type Client } from '../client';
import { ELEMENT_PREFIX, registerType, TYPE_ZSET, type Collection } from '../collections';
import { NOTIFY_GENERIC, NOTIFY_ZSET } from '../notify';
import type { RespServer } from '../server';
import { ZSetValue, type LexRange, type ScoreRange } from '../zset';
import { cString, rangeDouble, strictDouble } from './args';

/** Redis 7.0's zset-max-listpack-entries and -value defaults: OBJECT ENCODING's threshold. */
const LISTPACK_ENTRIES = 128;
const LISTPACK_VALUE = 64;

function scoreBytes(score: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(score, 0);
  return b;
}

/** Whether `z` is a listpack once it holds `member` too. */
function listpackWith(z: ZSetValue, member: string): boolean {
  const size = z.size + (z.members.has(member) ? 0 : 1);
  return size <= LISTPACK_ENTRIES && member.length <= LISTPACK_VALUE && encodingOf(z) === 'listpack';
}

/** OBJECT ENCODING's answer: what Redis 7.0 would use for a zset of this size and these members. */
export function encodingOf(z: ZSetValue): string {
  if (z.size > LISTPACK_ENTRIES) return 'skiplist';
  for (const m of z.members.ids) if (m.length > LISTPACK_VALUE) return 'skiplist';
  return 'listpack';
}

registerType<ZSetValue>({
  type: TYPE_ZSET,
  name: 'zset',
  create: () => new ZSetValue(),
  // The skiplist orders members itself: open need not sort the records.
  ordered: false,
  load: (z, member, payload) => {
    if (payload.length === 8) z.set(member, payload.readDoubleLE(0));
  },
  size: (z) => z.size,
  encoding: (z) => encodingOf(z),
  *elements(z) {
    for (let i = 0; i < z.size; i++) yield [z.members.ids[i], scoreBytes(z.members.vals[i])];
  },
  ids: (z) => z.members.ids.values(),
  members: (z) => z.members,
});

/** The zset at `key`, or undefined when absent. @throws ReplyError WRONGTYPE */
export function zsetOf(s: RespServer, db: number, key: string): ZSetValue | undefined {
  return s.keyspace.collection<ZSetValue>(db, key, TYPE_ZSET)?.data;
}

/** Whether `key` holds a sorted set (no error for another type). */
export function isZSet(s: RespServer, db: number, key: string): boolean {
  return s.keyspace.type(db, key) === TYPE_ZSET;
}

/** The zset at `key`, created empty when absent. @throws ReplyError WRONGTYPE */
export function zsetFor(s: RespServer, db: number, key: string): Collection<ZSetValue> {
  return s.keyspace.createCollection<ZSetValue>(db, key, TYPE_ZSET);
}

/** A member is an element id: the store's key limit less the element prefix. */
export const MAX_MEMBER = 4096 - ELEMENT_PREFIX;

/** A member argument. @throws ReplyError for a member over the limit */
export function memberArg(b: Buffer): string {
  if (b.length > MAX_MEMBER) throw new ReplyError(`ERR member is ${b.length} bytes; the limit is ${MAX_MEMBER}`);
  return b.toString('latin1');
}

/**
 * Sets `member`'s score in DRAM and its record in the batch. A score of -0
 * is stored as 0 when the zset is a listpack once it holds `member` (or when
 * `listpack` says so), as Redis stores it there (an integer); a skiplist
 * keeps the sign. @returns whether it was new
 */
export function zput(s: RespServer, c: Collection<ZSetValue>, member: string, score: number, listpack?: boolean): boolean {
  if (Object.is(score, -0) && (listpack ?? listpackWith(c.data, member))) score = 0;
  const added = c.data.set(member, score);
  s.keyspace.putElement(c, member, scoreBytes(score));
  return added;
}

/** Removes `member` from DRAM and its record in the batch (the caller then calls `zdone`). */
export function zdel(s: RespServer, c: Collection<ZSetValue>, member: string): boolean {
  if (!c.data.delete(member)) return false;
  s.keyspace.deleteElement(c, member);
  return true;
}

/** The collection of a live zset (after `zsetOf` found it). */
export function zcoll(s: RespServer, db: number, key: string): Collection<ZSetValue> {
  return s.keyspace.collection<ZSetValue>(db, key, TYPE_ZSET) as Collection<ZSetValue>;
}

/** Deletes the key of a zset left empty. @returns whether it did */
export function zdone(s: RespServer, c: Collection<ZSetValue>): boolean {
  return s.keyspace.deleteIfEmpty(c);
}

/** A removal's events, when `n` members went: `event`, and 'del' when the key was deleted. */
export function zremoved(s: RespServer, c: Collection<ZSetValue>, event: string, n: number, deleted: boolean): void {
  if (n === 0) return;
  s.keyspace.notify.raise(NOTIFY_ZSET, event, c.db, c.key);
  if (deleted) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', c.db, c.key);
}

/**
 * Writes a whole new zset at `key` (replacing whatever is there), or
 * deletes `key` when `entries` is empty; raises `event` (or 'del').
 */
export function zstore(s: RespServer, db: number, key: string, entries: Iterable<[string, number]>, event: string): number {
  let c: Collection<ZSetValue> | null = null;
  const all = [...entries];
  // Redis builds the result as a skiplist, then makes a small one a listpack.
  const listpack = all.length <= LISTPACK_ENTRIES && all.every(([m]) => m.length <= LISTPACK_VALUE);
  for (const [m, sc] of all) {
    c ??= s.keyspace.replaceCollection<ZSetValue>(db, key, TYPE_ZSET);
    zput(s, c, m, sc, listpack);
  }
  if (c === null) {
    if (s.keyspace.delete(db, key)) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', db, key);
    return 0;
  }
  s.keyspace.notify.raise(NOTIFY_ZSET, event, db, key);
  return c.data.size;
}

/**
 * A score argument, as Redis reads one (getDoubleFromObject: a number too
 * large for a double is not taken as infinity, nor one too small as zero;
 * `inf` spelled out is a score).
 * @throws ReplyError "value is not a valid float"
 */
export function scoreArg(b: Buffer): number {
  const n = strictDouble(b.toString('latin1'));
  if (n === null) throw new ReplyError('ERR value is not a valid float');
  return n;
}

/** A double as C's "%.17g" prints it (Redis's score replies); inf as "inf". */
export function formatScore(d: number): string {
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  // Integers up to 2^53 print as JavaScript prints them (all their digits, at most 16).
  if (Number.isInteger(d) && Math.abs(d) <= 2 ** 53) return String(d);
  const a = Math.abs(d);
  // A multiple of 1/1024 below 1e5 is exactly a decimal of at most 15 significant digits: %.17g prints
  // that decimal, and so does JavaScript's shortest form (no other decimal that short is the same double).
  if (a < 1e5 && Number.isInteger(d * 1024)) return String(d);
  if (a >= 1e-4 && a < 1e17) {
    // The 17 significant digits in fixed notation, as %.17g prints this range; trailing zeros go.
    // A value that rounds up to 1e17 comes back in exponent form: the general path below prints it.
    const t = d.toPrecision(17);
    if (!t.includes('e')) return t.includes('.') ? trimZeros(t) : t;
  }
  const [mant, expText] = d.toExponential(16).split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 17) {
    const m = mant.includes('.') ? trimZeros(mant) : mant;
    const e = Math.abs(exp);
    return `${m}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  }
  const fixed = d.toFixed(16 - exp);
  return fixed.includes('.') ? trimZeros(fixed) : fixed;
}

/** A decimal fraction without its trailing zeros (and without its point when nothing follows it). */
function trimZeros(t: string): string {
  let end = t.length;
  while (t.charCodeAt(end - 1) === 0x30) end--;
  if (t.charCodeAt(end - 1) === 0x2e) end--;
  return t.slice(0, end);
}

/** A score in a reply: RESP3 a double, RESP2 a bulk string. */
export function replyScore(c: Client, d: number): void {
  c.out.double(formatScore(d));
}

/**
 * zslParseRange: "(" makes a bound exclusive; a bound is read up to its
 * first NUL (cString). @throws ReplyError "min or max is not a float"
 */
export function scoreRange(min: Buffer, max: Buffer): ScoreRange {
  const one = (b: Buffer): [number, boolean] => {
    const t = cString(b);
    const ex = t.startsWith('(');
    const n = rangeDouble(ex ? t.slice(1) : t);
    if (n === null) throw new ReplyError('ERR min or max is not a float');
    return [n, ex];
  };
  const [lo, minEx] = one(min);
  const [hi, maxEx] = one(max);
  return { min: lo, max: hi, minEx, maxEx };
}

/** zslParseLexRange: "-", "+", "(x" or "[x". @throws ReplyError "min or max not valid string range item" */
export function lexRange(min: Buffer, max: Buffer): LexRange {
  const r: LexRange = { min: null, max: null, minEx: false, maxEx: false };
  const bad = (): never => {
    throw new ReplyError('ERR min or max not valid string range item');
  };
  const one = (b: Buffer, isMin: boolean): void => {
    const t = b.toString('latin1');
    if (t === '+') {
      if (isMin) r.minPlus = true;
    } else if (t === '-') {
      if (!isMin) r.maxMinus = true;
    } else if (t.startsWith('(') || t.startsWith('[')) {
      if (isMin) {
        r.min = t.slice(1);
        r.minEx = t[0] === '(';
      } else {
        r.max = t.slice(1);
        r.maxEx = t[0] === '(';
      }
    } else bad();
  };
  one(min, true);
  one(max, false);
  return r;
}

/** Replies members (with scores): RESP2 a flat array, RESP3 [member, score] pairs. */
export function replyEntries(c: Client, entries: [string, number][], withScores: boolean): void {
  if (!withScores) {
    c.out.array(entries.length);
    for (const [m] of entries) c.out.bulkLatin1(m);
    return;
  }
  if (c.out.proto === 3) {
    c.out.array(entries.length);
    for (const [m, sc] of entries) {
      c.out.array(2);
      c.out.bulkLatin1(m);
      replyScore(c, sc);
    }
    return;
  }
  c.out.array(entries.length * 2);
  for (const [m, sc] of entries) {
    c.out.bulkLatin1(m);
    replyScore(c, sc);
  }
}
