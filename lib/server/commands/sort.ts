// SORT and SORT_RO (Redis 7.0's): the elements of a list, set or sorted set,
// sorted by their own value or by a value looked up through a pattern
// (BY), as numbers or as bytes (ALPHA), cut by LIMIT, each replaced by
// values looked up through patterns (GET), and answered or stored in a list
// (STORE). A STORE is one batch, like every write command: the old
// destination's delete and the new list's elements are durable together.
//
// ALPHA compares bytes, as Redis does in the C locale: when the result is
// answered, as C strings (strcoll: up to the first NUL), and when it is
// stored, whole (memcmp, then the length). Equal elements keep their order.
import { ReplyError, SYNTAX, WRONGTYPE, type Client } from '../client';
import { TYPE_HASH, TYPE_LIST, TYPE_SET, TYPE_ZSET } from '../collections';
import type { ListValue } from '../list';
import type { Members } from '../members';
import { NOTIFY_GENERIC, NOTIFY_LIST } from '../notify';
import { TYPE_STRING } from '../records';
import type { RespServer } from '../server';
import type { ZSetValue } from '../zset';
import { i64Arg, keyArg, MAX_KEY, strtod, word } from './args';
import { writeAt } from './list-store';
import type { Def } from './types';

interface Options {
  desc: boolean;
  alpha: boolean;
  /** LIMIT's offset and count as given (count −1: to the end). */
  start: bigint;
  count: bigint;
  /** The BY pattern, or null: sort by the elements themselves. */
  by: Buffer | null;
  /** A BY pattern without '*' was given: the elements keep their order. */
  dontSort: boolean;
  get: Buffer[];
  store: string | null;
}

const STAR = 0x2a;

/** The bytes of `b` before its first NUL: where Redis's strchr and strstr on the pattern stop. */
function cLength(b: Buffer): number {
  const nul = b.indexOf(0);
  return nul < 0 ? b.length : nul;
}

/** sortCommandGeneric's option loop: every option is read before the key is looked up. */
function parse(argv: Buffer[], readOnly: boolean): Options {
  const o: Options = { desc: false, alpha: false, start: 0n, count: -1n, by: null, dontSort: false, get: [], store: null };
  for (let j = 2; j < argv.length; j++) {
    const left = argv.length - j - 1;
    const w = word(argv[j]);
    if (w === 'asc') o.desc = false;
    else if (w === 'desc') o.desc = true;
    else if (w === 'alpha') o.alpha = true;
    else if (w === 'limit' && left >= 2) {
      o.start = i64Arg(argv[j + 1]);
      o.count = i64Arg(argv[j + 2]);
      j += 2;
    } else if (!readOnly && w === 'store' && left >= 1) o.store = keyArg(argv[++j]);
    else if (w === 'by' && left >= 1) {
      const p = argv[++j];
      o.by = p;
      // A pattern with no '*' names one key for every element: nothing to
      // sort by. As in Redis, a later BY with '*' does not undo it.
      if (p.subarray(0, cLength(p)).indexOf(STAR) < 0) o.dontSort = true;
    } else if (w === 'get' && left >= 1) o.get.push(argv[++j]);
    else throw new ReplyError(SYNTAX);
  }
  return o;
}

/** lookupKeyRead: a live key (an expired one is deleted first), counted as a hit or a miss. */
function lookup(s: RespServer, db: number, key: string): number | undefined {
  const t = s.keyspace.type(db, key);
  if (t === undefined) s.stats.keyspaceMisses++;
  else s.stats.keyspaceHits++;
  return t;
}

/**
 * lookupKeyByPattern: `pattern` with its first '*' replaced by `element`;
 * "#" is the element itself; `key->field` after the '*' reads a hash's
 * field. Undefined when the pattern has no '*', when the key is absent or
 * of another type (a string, or a hash with `->`), or the field absent.
 */
function byPattern(s: RespServer, db: number, pattern: Buffer, element: string): string | undefined {
  if (pattern.length === 1 && pattern[0] === 0x23) return element; // "#"
  const c = cLength(pattern);
  const star = pattern.subarray(0, c).indexOf(STAR);
  if (star < 0) return undefined;
  const arrow = pattern.subarray(0, c).indexOf('->', star + 1, 'latin1');
  const isField = arrow >= 0 && arrow + 2 < c;
  const keyEnd = isField ? arrow : pattern.length;
  const prefix = pattern.toString('latin1', 0, star);
  const suffix = pattern.toString('latin1', star + 1, keyEnd);
  const key = prefix + element + suffix;
  // No key that long can be stored, so none is there.
  if (key.length > MAX_KEY) {
    s.stats.keyspaceMisses++;
    return undefined;
  }
  const t = lookup(s, db, key);
  if (t === undefined) return undefined;
  if (isField) {
    if (t !== TYPE_HASH) return undefined;
    return s.keyspace.collection<Members<string>>(db, key, TYPE_HASH)?.data.get(pattern.toString('latin1', arrow + 2));
  }
  if (t !== TYPE_STRING) return undefined;
  return s.keyspace.peek(db, key)?.value.toString('latin1');
}

/** The part of `v` a C string function sees: up to its first NUL. */
function cPart(v: string): string {
  const nul = v.indexOf('\0');
  return nul < 0 ? v : v.slice(0, nul);
}

/** DBL_MIN: a nonzero double below it is subnormal. */
const DBL_MIN = 2.2250738585072014e-308;
const HEX_TEXT = /^[ \t\n\v\f\r]*[+-]?0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?$/;
const DEC_TEXT = /^[ \t\n\v\f\r]*[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
/** More significant digits than any subnormal's exact decimal or hexadecimal form has. */
const MAX_EXACT_DIGITS = 1200;

/**
 * Whether text `t` (all of which strtod read) is exactly `value`, a
 * subnormal: glibc's strtod reports ERANGE for a subnormal result only when
 * it is rounded. Compared as rationals: the text's digits times a power of
 * 2 and 5 against the value's multiple of 2^-1074.
 */
function exactSubnormal(t: string, value: number): boolean {
  const m = BigInt(Math.abs(value) * 2 ** 537 * 2 ** 537); // exact: a subnormal is a multiple of 2^-1074 below 2^-1022
  let digits: string;
  let base: 10n | 16n;
  let pow2: number;
  let pow5: number;
  const h = HEX_TEXT.exec(t);
  if (h !== null) {
    const frac = h[2] ?? h[3] ?? '';
    digits = (h[1] ?? '') + frac;
    base = 16n;
    pow2 = Number(h[4] ?? '0') - 4 * frac.length;
    pow5 = 0;
  } else {
    const d = DEC_TEXT.exec(t);
    if (d === null) return false;
    const frac = d[2] ?? '';
    digits = (d[1] ?? '') + frac;
    base = 10n;
    pow2 = pow5 = Number(d[3] ?? '0') - frac.length;
  }
  // Trailing zeros go into the exponent, leading ones go: what is left is
  // the significant digits, which must be few for the text to be exact.
  const trimmed = digits.replace(/0+$/, '');
  const zeros = digits.length - trimmed.length;
  pow2 += base === 16n ? 4 * zeros : zeros;
  if (base === 10n) pow5 += zeros;
  const sig = trimmed.replace(/^0+/, '');
  if (sig.length === 0 || sig.length > MAX_EXACT_DIGITS || !Number.isFinite(pow2)) return false;
  let num = BigInt(`${base === 16n ? '0x' : ''}${sig}`);
  let den = 1n;
  pow2 += 1074;
  if (Math.abs(pow2) > 8 * MAX_EXACT_DIGITS || Math.abs(pow5) > 2 * MAX_EXACT_DIGITS) return false;
  if (pow2 >= 0) num <<= BigInt(pow2);
  else den <<= BigInt(-pow2);
  if (pow5 >= 0) num *= 5n ** BigInt(pow5);
  else den *= 5n ** BigInt(-pow5);
  return num === m * den;
}

/**
 * A value read as a number the way SORT reads it: strtod up to the first
 * NUL, which must take every byte before it; NaN, and what strtod reports
 * as out of range (ERANGE: past a double's largest, a nonzero text that
 * became 0, a subnormal that was rounded), are errors. The empty string
 * is 0.
 */
function score(v: string): number | null {
  const t = cPart(v);
  const d = strtod(t);
  if (d.end !== t.length || Number.isNaN(d.value) || d.overflow || d.underflow) return null;
  if (d.value !== 0 && Math.abs(d.value) < DBL_MIN && !exactSubnormal(t, d.value)) return null;
  return d.value;
}

/** Latin1 strings in the order of their bytes (memcmp, then the shorter first). */
const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
/** The same, of the parts before a NUL (strcoll in the C locale). */
const cOrder = (a: string, b: string): number => byteOrder(cPart(a), cPart(b));

function sortGeneric(readOnly: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const o = parse(argv, readOnly);
    const key = argv[1].toString('latin1');
    const type = argv[1].length > MAX_KEY ? undefined : lookup(s, c.db, key);
    if (type !== undefined && type !== TYPE_LIST && type !== TYPE_SET && type !== TYPE_ZSET) throw new ReplyError(WRONGTYPE);

    let { dontSort, alpha, by } = o;
    // A set has no order of its own: stored, its elements are sorted as bytes.
    if (dontSort && type === TYPE_SET && o.store !== null) {
      dontSort = false;
      alpha = true;
      by = null;
    }

    const list = type === TYPE_LIST ? s.keyspace.collection<ListValue>(c.db, key, TYPE_LIST)?.data : undefined;
    const set = type === TYPE_SET ? s.keyspace.collection<Members<true>>(c.db, key, TYPE_SET)?.data : undefined;
    const zset = type === TYPE_ZSET ? s.keyspace.collection<ZSetValue>(c.db, key, TYPE_ZSET)?.data : undefined;
    const len = list?.length ?? set?.size ?? zset?.size ?? 0;

    // LIMIT clamped to the elements, as Redis clamps it.
    const lenB = BigInt(len);
    let start = Number(o.start < 0n ? 0n : o.start > lenB ? lenB : o.start);
    const count = Number(o.count < -1n ? -1n : o.count > lenB ? lenB : o.count);
    let end = count < 0 ? len - 1 : start + count - 1;
    if (start >= len) {
      start = len - 1;
      end = len - 2;
    }
    if (end >= len) end = len - 1;

    // The elements, with LIMIT applied here when nothing is sorted and the
    // type has an order (a list's, or a sorted set's by score).
    let elements: string[];
    if (dontSort && (list !== undefined || zset !== undefined)) {
      elements = [];
      if (end >= start) {
        if (list !== undefined) {
          for (let k = start; k <= end; k++) elements.push(list.at(o.desc ? len - 1 - k : k).toString('latin1'));
        } else {
          for (const [m] of (zset as ZSetValue).range(start, end, o.desc)) elements.push(m);
        }
      }
      end -= start;
      start = 0;
    } else if (list !== undefined) {
      elements = new Array<string>(len);
      for (let k = 0; k < len; k++) elements[k] = list.at(k).toString('latin1');
    } else if (set !== undefined) elements = set.ids.slice();
    else if (zset !== undefined) elements = zset.range(0, len - 1, false).map(([m]) => m);
    else elements = [];

    if (!dontSort) {
      const n = elements.length;
      const order = new Array<number>(n);
      for (let k = 0; k < n; k++) order[k] = k;
      let cmp: (x: number, y: number) => number;
      if (alpha) {
        const collate = o.store === null ? cOrder : byteOrder;
        if (by !== null) {
          // A missing BY value sorts before every other.
          const vals = elements.map((e) => byPattern(s, c.db, by as Buffer, e));
          cmp = (x, y) => {
            const a = vals[x];
            const b = vals[y];
            if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
            return collate(a, b);
          };
        } else cmp = (x, y) => collate(elements[x], elements[y]);
      } else {
        // Numbers; a missing BY value is 0; equal numbers go by the elements' bytes.
        const scores = new Float64Array(n);
        let bad = false;
        for (let k = 0; k < n; k++) {
          const v = by !== null ? byPattern(s, c.db, by, elements[k]) : elements[k];
          if (v === undefined) continue;
          const d = score(v);
          if (d === null) bad = true;
          else scores[k] = d;
        }
        // Redis sorts and then refuses; nothing is stored.
        if (bad) throw new ReplyError("ERR One or more scores can't be converted into double");
        cmp = (x, y) => (scores[x] > scores[y] ? 1 : scores[x] < scores[y] ? -1 : byteOrder(elements[x], elements[y]));
      }
      order.sort(o.desc ? (x, y) => cmp(y, x) : cmp);
      elements = order.map((k) => elements[k]);
    }

    // The output: each element, or each GET pattern's value for it.
    const out: (string | undefined)[] = [];
    for (let k = start; k <= end; k++) {
      if (o.get.length === 0) out.push(elements[k]);
      else for (const p of o.get) out.push(byPattern(s, c.db, p, elements[k]));
    }

    if (o.store === null) {
      c.out.array(out.length);
      for (const v of out) {
        if (v === undefined) c.out.nil();
        else c.out.bulkLatin1(v);
      }
      return;
    }
    const dst = o.store;
    if (out.length > 0) {
      // The destination becomes a list, whatever it held (its expiry goes),
      // in the same batch as its old value's delete.
      const l = s.keyspace.replaceCollection<ListValue>(c.db, dst, TYPE_LIST).data;
      for (const v of out) {
        // A GET value that is missing is stored as the empty string.
        const b = Buffer.from(v ?? '', 'latin1');
        writeAt(s, c.db, dst, l.pushBack(b), b);
      }
      s.keyspace.notify.raise(NOTIFY_LIST, 'sortstore', c.db, dst);
    } else if (s.keyspace.delete(c.db, dst)) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', c.db, dst);
    c.out.int(out.length);
  };
}

/**
 * SORT's keys for COMMAND GETKEYS (Redis's sortGetKeys): the sorted key,
 * and the last STORE's destination. LIMIT skips two arguments, GET and BY
 * one; any other word is taken as an option of its own.
 */
export function sortKeys(args: Buffer[]): Buffer[] {
  const keys = [args[1]];
  let store: Buffer | null = null;
  for (let i = 2; i < args.length; i++) {
    const w = word(args[i]);
    if (w === 'limit') i += 2;
    else if (w === 'get' || w === 'by') i += 1;
    else if (w === 'store' && i + 1 < args.length) store = args[i + 1];
  }
  if (store !== null) keys.push(store);
  return keys;
}

export const SORT_COMMANDS: Record<string, Def> = {
  sort: [-2, 'write', 1, 1, 1, sortGeneric(false)],
  sort_ro: [-2, 'readonly', 1, 1, 1, sortGeneric(true)],
};
