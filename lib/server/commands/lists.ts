// The list group (Redis 7.0's): pushes, pops, ranges, LINSERT, LREM, LTRIM,
// LPOS, LMOVE, LMPOP, and the blocking BLPOP, BRPOP, BLMOVE, BRPOPLPUSH,
// BLMPOP. Each element is its own store record under its position (see
// docs/formats.md, "Collections"); a command's record writes go into
// the pending batch, so the whole command is one atomic durable write.
import { ReplyError, SYNTAX, type Client } from '../client';
import { blockOrServe } from '../blocking';
import type { ListValue } from '../list';
import { NOTIFY_GENERIC, NOTIFY_LIST } from '../notify';
import type { RespServer } from '../server';
import { i64Arg, keyArg, keyBuf, word } from './args';
import { deleteList, isList, listFor, listOf, writeAt } from './list-store';
import type { Def } from './types';

const HEAD = 0;
const TAIL = 1;
type End = typeof HEAD | typeof TAIL;

function endArg(b: Buffer): End {
  const w = word(b);
  if (w === 'left') return HEAD;
  if (w === 'right') return TAIL;
  throw new ReplyError(SYNTAX);
}

/** getRangeLongFromObjectOrReply with a message: an integer from `min` to `max`, else `msg`. */
function rangeArg(b: Buffer, min: number, max: number, msg: string): number {
  const n = Number(i64Arg(b, msg));
  if (n < min || n > max) throw new ReplyError(msg);
  return n;
}

/** getPositiveLongFromObjectOrReply: one message for a non-integer and a negative. */
export const positive = (b: Buffer, msg = 'value is out of range, must be positive'): number => rangeArg(b, 0, Infinity, `ERR ${msg}`);

/**
 * A list's positions are numbers: one past 2^53 - 1 would give two elements
 * one record (ListValue.roomAt). A queue that never empties moves 2^53
 * positions in 285 years at a million pushes a second. Refused before
 * anything is written.
 */
const noPositions = (): ReplyError =>
  new ReplyError(`ERR this end of the list has no positions left (${2 ** 53 - 1} at most); empty the list or move it to a new key`);

/** Pushes `values` at `end` of the list at `key` (created when absent), and raises lpush/rpush. @returns the new length */
function pushValues(s: RespServer, db: number, key: string, end: End, values: Buffer[]): number {
  const l = listFor(s, db, key);
  if (!l.roomAt(end === HEAD, values.length)) throw noPositions();
  for (const v of values) {
    const p = end === HEAD ? l.pushFront(v) : l.pushBack(v);
    writeAt(s, db, key, p, v);
  }
  s.keyspace.notify.raise(NOTIFY_LIST, end === HEAD ? 'lpush' : 'rpush', db, key);
  return l.length;
}

/** Pops one element from `end`; deletes the key when it empties. The caller raises popEvents. */
function popOne(s: RespServer, db: number, key: string, l: ListValue, end: End): Buffer {
  const [p, v] = end === HEAD ? l.popFront() : l.popBack();
  writeAt(s, db, key, p, null);
  if (l.length === 0) deleteList(s, db, key);
  return v;
}

/** A pop's events (Redis's listElementsRemoved): lpop/rpop, and 'del' when the list emptied. */
function popEvents(s: RespServer, db: number, key: string, l: ListValue, end: End): void {
  s.keyspace.notify.raise(NOTIFY_LIST, end === HEAD ? 'lpop' : 'rpop', db, key);
  if (l.length === 0) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', db, key);
}

/** Pops up to `count` elements from `end`, with their events. */
function popMany(s: RespServer, db: number, key: string, l: ListValue, end: End, count: number): Buffer[] {
  const out: Buffer[] = [];
  const n = Math.min(count, l.length);
  for (let i = 0; i < n; i++) {
    const [p, v] = end === HEAD ? l.popFront() : l.popBack();
    writeAt(s, db, key, p, null);
    out.push(v);
  }
  if (l.length === 0) deleteList(s, db, key);
  popEvents(s, db, key, l, end);
  return out;
}

function push(end: End, onlyExisting: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const key = keyArg(argv[1]);
    const l = listOf(s, c.db, key);
    if (l === undefined && onlyExisting) {
      c.out.int(0);
      return;
    }
    c.out.int(pushValues(s, c.db, key, end, argv.slice(2)));
  };
}

function pop(end: End) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    if (argv.length > 3) throw new ReplyError(`ERR wrong number of arguments for '${end === HEAD ? 'lpop' : 'rpop'}' command`);
    const hasCount = argv.length === 3;
    const count = hasCount ? positive(argv[2]) : 0;
    const key = keyArg(argv[1]);
    const l = listOf(s, c.db, key);
    if (l === undefined) {
      if (hasCount) c.out.nilArray();
      else c.out.nil();
      return;
    }
    if (!hasCount) {
      c.out.bulk(popOne(s, c.db, key, l, end));
      popEvents(s, c.db, key, l, end);
    } else if (count === 0) c.out.array(0);
    else c.out.bulks(popMany(s, c.db, key, l, end, count));
  };
}

function llen(s: RespServer, c: Client, argv: Buffer[]): void {
  c.out.int(listOf(s, c.db, keyArg(argv[1]))?.length ?? 0);
}

/** Clamps Redis's start/end (negative from the end) to [0, len); null when empty. */
function clamp(start: number, end: number, len: number): [number, number] | null {
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (start > end || start >= len) return null;
  if (end >= len) end = len - 1;
  return [start, end];
}

function lrange(s: RespServer, c: Client, argv: Buffer[]): void {
  const start = Number(i64Arg(argv[2]));
  const end = Number(i64Arg(argv[3]));
  const l = listOf(s, c.db, keyArg(argv[1]));
  const r = l === undefined ? null : clamp(start, end, l.length);
  c.out.bulks(r === null || l === undefined ? [] : l.slice(r[0], r[1]));
}

function lindex(s: RespServer, c: Client, argv: Buffer[]): void {
  // Redis's order: the key (nil when missing, WRONGTYPE), then the index.
  const l = listOf(s, c.db, keyArg(argv[1]));
  if (l === undefined) {
    c.out.nil();
    return;
  }
  const i = Number(i64Arg(argv[2]));
  const at = i < 0 ? l.length + i : i;
  if (at < 0 || at >= l.length) c.out.nil();
  else c.out.bulk(l.at(at));
}

function lset(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const l = listOf(s, c.db, key);
  if (l === undefined) throw new ReplyError('ERR no such key');
  const i = Number(i64Arg(argv[2]));
  const at = i < 0 ? l.length + i : i;
  if (at < 0 || at >= l.length) throw new ReplyError('ERR index out of range');
  const v = argv[3];
  writeAt(s, c.db, key, l.set(at, v), v);
  s.keyspace.notify.raise(NOTIFY_LIST, 'lset', c.db, key);
  c.out.ok();
}

function linsert(s: RespServer, c: Client, argv: Buffer[]): void {
  const where = word(argv[2]);
  if (where !== 'before' && where !== 'after') throw new ReplyError(SYNTAX);
  const key = keyArg(argv[1]);
  const l = listOf(s, c.db, key);
  if (l === undefined) {
    c.out.int(0);
    return;
  }
  const pivot = argv[3];
  let i = 0;
  while (i < l.length && !l.at(i).equals(pivot)) i++;
  if (i === l.length) {
    c.out.int(-1);
    return;
  }
  const v = argv[4];
  const at = l.insertAt(where === 'before' ? i : i + 1, v);
  if (at === null) throw noPositions();
  const { pos, moves } = at;
  // The moves first: a moved element's old record may be the new one's, and the later write wins.
  for (const m of moves) {
    writeAt(s, c.db, key, m.from, null);
    writeAt(s, c.db, key, m.to, m.value);
  }
  writeAt(s, c.db, key, pos, v);
  s.keyspace.notify.raise(NOTIFY_LIST, 'linsert', c.db, key);
  c.out.int(l.length);
}

function lrem(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const count = Number(i64Arg(argv[2]));
  const l = listOf(s, c.db, key);
  if (l === undefined) {
    c.out.int(0);
    return;
  }
  const v = argv[3];
  const max = count === 0 ? Infinity : Math.abs(count);
  let n = 0;
  if (count >= 0) {
    for (let i = 0; i < l.length && n < max; ) {
      if (l.at(i).equals(v)) {
        writeAt(s, c.db, key, l.removeAt(i), null);
        n++;
      } else i++;
    }
  } else {
    for (let i = l.length - 1; i >= 0 && n < max; i--) {
      if (l.at(i).equals(v)) {
        writeAt(s, c.db, key, l.removeAt(i), null);
        n++;
      }
    }
  }
  if (l.length === 0) deleteList(s, c.db, key);
  if (n > 0) {
    s.keyspace.notify.raise(NOTIFY_LIST, 'lrem', c.db, key);
    if (l.length === 0) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', c.db, key);
  }
  c.out.int(n);
}

function ltrim(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const start = Number(i64Arg(argv[2]));
  const end = Number(i64Arg(argv[3]));
  const l = listOf(s, c.db, key);
  if (l === undefined) {
    c.out.ok();
    return;
  }
  const r = clamp(start, end, l.length);
  const [keepFrom, keepTo] = r === null ? [l.length, l.length - 1] : r;
  const fromTail = l.length - 1 - keepTo;
  for (let i = 0; i < keepFrom; i++) writeAt(s, c.db, key, l.popFront()[0], null);
  for (let i = 0; i < fromTail && l.length > 0; i++) writeAt(s, c.db, key, l.popBack()[0], null);
  if (l.length === 0) deleteList(s, c.db, key);
  s.keyspace.notify.raise(NOTIFY_LIST, 'ltrim', c.db, key);
  if (l.length === 0) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', c.db, key);
  c.out.ok();
}

/** LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len] */
function lpos(s: RespServer, c: Client, argv: Buffer[]): void {
  let rank = 1;
  let count = -1;
  let maxlen = 0;
  for (let j = 3; j < argv.length; j++) {
    const opt = word(argv[j]);
    const more = j + 1 < argv.length;
    if (opt === 'rank' && more) {
      rank = Number(i64Arg(argv[++j]));
      if (rank === 0) throw new ReplyError("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
    } else if (opt === 'count' && more) count = positive(argv[++j], "COUNT can't be negative");
    else if (opt === 'maxlen' && more) maxlen = positive(argv[++j], "MAXLEN can't be negative");
    else throw new ReplyError(SYNTAX);
  }
  const l = listOf(s, c.db, keyArg(argv[1]));
  if (l === undefined) {
    if (count !== -1) c.out.array(0);
    else c.out.nil();
    return;
  }
  const fromTail = rank < 0;
  let skip = Math.abs(rank) - 1;
  const want = count === -1 ? 1 : count === 0 ? Infinity : count;
  const found: number[] = [];
  const len = l.length;
  const el = argv[2];
  for (let k = 0; k < len && found.length < want && (maxlen === 0 || k < maxlen); k++) {
    const i = fromTail ? len - 1 - k : k;
    if (!l.at(i).equals(el)) continue;
    if (skip > 0) skip--;
    else found.push(i);
  }
  if (count === -1) {
    if (found.length === 0) c.out.nil();
    else c.out.int(found[0]);
    return;
  }
  c.out.array(found.length);
  for (const i of found) c.out.int(i);
}

/**
 * Moves one element from `src`'s `from` end to `dst`'s `to` end, both
 * lists (checked by the caller). @returns the element
 */
function moveOne(s: RespServer, db: number, src: string, l: ListValue, dst: string, from: End, to: End): Buffer {
  // The destination's room before the pop, which would otherwise be written
  // with the push refused. Moving within one list needs none when it pops
  // and pushes one end, or leaves the list empty before the push.
  const d = listOf(s, db, dst);
  if (d !== undefined && !(d === l && (from === to || l.length === 1)) && !d.roomAt(to === HEAD, 1)) throw noPositions();
  if (src === dst && s.keyspace.notify.flags !== 0) {
    // The list is emptied and made again here, but not in Redis: its events are a push and a pop, no 'new' or 'del'.
    let v: Buffer | undefined;
    s.keyspace.notify.muted(() => {
      v = popOne(s, db, src, l, from);
      pushValues(s, db, dst, to, [v]);
    });
    s.keyspace.notify.raise(NOTIFY_LIST, to === HEAD ? 'lpush' : 'rpush', db, dst);
    s.keyspace.notify.raise(NOTIFY_LIST, from === HEAD ? 'lpop' : 'rpop', db, src);
    return v as Buffer;
  }
  const v = popOne(s, db, src, l, from);
  pushValues(s, db, dst, to, [v]);
  popEvents(s, db, src, l, from); // after the push's, as Redis raises them
  return v;
}

function lmoveLike(fixed: [End, End] | null) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const [from, to] = fixed ?? [endArg(argv[3]), endArg(argv[4])];
    const src = keyArg(argv[1]);
    const dst = keyArg(argv[2]);
    const l = listOf(s, c.db, src);
    if (l === undefined) {
      c.out.nil();
      return;
    }
    listOf(s, c.db, dst); // WRONGTYPE before any write
    c.out.bulk(moveOne(s, c.db, src, l, dst, from, to));
  };
}

/** The reply of an MPOP: [key, [elements]]. */
function replyKeyValues(c: Client, key: string, values: Buffer[]): void {
  c.out.array(2);
  c.out.bulk(keyBuf(key));
  c.out.bulks(values);
}

/** LMPOP/BLMPOP's arguments from `numkeysAt`: keys, end, count (1 unless given). */
function mpopArgs(argv: Buffer[], numkeysAt: number): { keys: string[]; end: End; count: number } {
  const numkeys = rangeArg(argv[numkeysAt], 1, Infinity, 'ERR numkeys should be greater than 0');
  const whereAt = numkeysAt + numkeys + 1;
  if (whereAt >= argv.length) throw new ReplyError(SYNTAX);
  const end = endArg(argv[whereAt]);
  let count = -1;
  for (let j = whereAt + 1; j < argv.length; j++) {
    if (count === -1 && word(argv[j]) === 'count' && j + 1 < argv.length) count = rangeArg(argv[++j], 1, Infinity, 'ERR count should be greater than 0');
    else throw new ReplyError(SYNTAX);
  }
  const keys = argv.slice(numkeysAt + 1, whereAt).map(keyArg);
  return { keys, end, count: count === -1 ? 1 : count };
}

function lmpop(s: RespServer, c: Client, argv: Buffer[]): void {
  const { keys, end, count } = mpopArgs(argv, 1);
  for (const key of keys) {
    const l = listOf(s, c.db, key);
    if (l === undefined) continue;
    replyKeyValues(c, key, popMany(s, c.db, key, l, end, count));
    return;
  }
  c.out.nilArray();
}

function bpop(end: End) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const keys = argv.slice(1, -1).map(keyArg);
    // A wrong type on any key is an error before anything is served (Redis checks as it walks the keys).
    blockOrServe(s, c, keys, argv[argv.length - 1], isList, (key) => {
      const l = listOf(s, c.db, key);
      if (l === undefined) return false;
      const v = popOne(s, c.db, key, l, end);
      popEvents(s, c.db, key, l, end);
      c.out.array(2);
      c.out.bulk(keyBuf(key));
      c.out.bulk(v);
      return true;
    }, () => c.out.nilArray());
  };
}

function blmoveLike(fixed: [End, End] | null) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const [from, to] = fixed ?? [endArg(argv[3]), endArg(argv[4])];
    const src = keyArg(argv[1]);
    const dst = keyArg(argv[2]);
    blockOrServe(s, c, [src], argv[fixed === null ? 5 : 3], isList, () => {
      const l = listOf(s, c.db, src);
      if (l === undefined) return false;
      listOf(s, c.db, dst); // WRONGTYPE before any write
      c.out.bulk(moveOne(s, c.db, src, l, dst, from, to));
      return true;
      // As Redis: inside EXEC (where it cannot block) the null of a bulk
      // reply, after a wait that timed out the null of an array.
    }, () => (s.dispatch.inExec ? c.out.nil() : c.out.nilArray()));
  };
}

function blmpop(s: RespServer, c: Client, argv: Buffer[]): void {
  const { keys, end, count } = mpopArgs(argv, 2);
  blockOrServe(s, c, keys, argv[1], isList, (key) => {
    const l = listOf(s, c.db, key);
    if (l === undefined) return false;
    replyKeyValues(c, key, popMany(s, c.db, key, l, end, count));
    return true;
  }, () => c.out.nilArray());
}

export const LIST_COMMANDS: Record<string, Def> = {
  lpush: [-3, 'write fast', 1, 1, 1, push(HEAD, false)],
  rpush: [-3, 'write fast', 1, 1, 1, push(TAIL, false)],
  lpushx: [-3, 'write fast', 1, 1, 1, push(HEAD, true)],
  rpushx: [-3, 'write fast', 1, 1, 1, push(TAIL, true)],
  lpop: [-2, 'write fast', 1, 1, 1, pop(HEAD)],
  rpop: [-2, 'write fast', 1, 1, 1, pop(TAIL)],
  llen: [2, 'readonly fast', 1, 1, 1, llen],
  lrange: [4, 'readonly', 1, 1, 1, lrange],
  lindex: [3, 'readonly', 1, 1, 1, lindex],
  lset: [4, 'write', 1, 1, 1, lset],
  linsert: [5, 'write', 1, 1, 1, linsert],
  lrem: [4, 'write', 1, 1, 1, lrem],
  ltrim: [4, 'write', 1, 1, 1, ltrim],
  lpos: [-3, 'readonly', 1, 1, 1, lpos],
  lmove: [5, 'write', 1, 2, 1, lmoveLike(null)],
  rpoplpush: [3, 'write', 1, 2, 1, lmoveLike([TAIL, HEAD])],
  lmpop: [-4, 'write', 0, 0, 0, lmpop],
  blpop: [-3, 'write', 1, -2, 1, bpop(HEAD)],
  brpop: [-3, 'write', 1, -2, 1, bpop(TAIL)],
  blmove: [6, 'write', 1, 2, 1, blmoveLike(null)],
  brpoplpush: [4, 'write', 1, 2, 1, blmoveLike([TAIL, HEAD])],
  blmpop: [-5, 'write', 0, 0, 0, blmpop],
};
