// The string group of Redis 7.0 (the bitmap commands are in bits.ts).
import { NOT_INTEGER, ReplyError, WRONGTYPE, type Client } from '../client';
import { EMBSTR_MAX } from '../dict';
import { MAX_STRING, TYPE_STRING } from '../records';
import { NOTIFY_GENERIC, NOTIFY_KEY_MISS, NOTIFY_STRING } from '../notify';
import type { RespServer } from '../server';
import { i64Arg, I64_MAX, I64_MIN, keyArg, syntax, timeMs, toI64, word } from './args';
import { addAsLongDouble, readLongDouble, ZERO } from './long-double';
import { lcs } from './lcs';
import type { Def } from './types';

/**
 * The string value of `key`, or undefined; WRONGTYPE for another type.
 * `read`: a write command's read of the old value (GETSET, GETDEL, GETEX,
 * SET GET), whose miss raises 'keymiss' as Redis's lookupKeyRead does (a
 * read-only command's misses are raised by the dispatcher).
 */
export function getString(s: RespServer, c: Client, key: string, read = false): Buffer | undefined {
  const v = s.keyspace.get(c.db, key);
  if (v === undefined) {
    s.stats.keyspaceMisses++;
    if (read) s.keyspace.notify.raise(NOTIFY_KEY_MISS, 'keymiss', c.db, key);
    return undefined;
  }
  s.stats.keyspaceHits++;
  if (v.type !== TYPE_STRING) throw new ReplyError(WRONGTYPE);
  return v.value;
}

/**
 * A string's size after a write, checked against the largest bulk and the
 * largest string the store holds, before a buffer of that size is made.
 */
export function checkSize(s: RespServer, n: number): void {
  if (n > s.limits.maxBulk || n > MAX_STRING) throw new ReplyError('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
}

/**
 * An expiry option's time (ms since the epoch) from its unit and argument,
 * as Redis checks it. @throws ReplyError "invalid expire time in '<cmd>' command"
 */
export function expireTime(s: RespServer, unit: 'ex' | 'px' | 'exat' | 'pxat', arg: Buffer, cmd: string): number {
  const n = i64Arg(arg);
  const bad = (): never => {
    throw new ReplyError(`ERR invalid expire time in '${cmd}' command`);
  };
  if (n <= 0n) bad();
  let ms = unit === 'ex' || unit === 'exat' ? n * 1000n : n;
  if (ms > I64_MAX) bad();
  if (unit === 'ex' || unit === 'px') ms += BigInt(s.keyspace.now());
  if (ms > I64_MAX) bad();
  return timeMs(ms);
}

/** SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL] */
function set(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  let nx = false;
  let xx = false;
  let get = false;
  let keepttl = false;
  let at: number | null = null;
  let unit: 'ex' | 'px' | 'exat' | 'pxat' | null = null;
  let unitArg: Buffer | null = null;
  for (let i = 3; i < argv.length; i++) {
    const w = word(argv[i]);
    if (w === 'nx' && !xx) nx = true;
    else if (w === 'xx' && !nx) xx = true;
    else if (w === 'get') get = true;
    else if (w === 'keepttl' && unit === null) keepttl = true;
    // A unit again is taken, its last time used; another unit is a syntax error (parseExtendedStringArgumentsOrReply).
    else if ((w === 'ex' || w === 'px' || w === 'exat' || w === 'pxat') && (unit === null || unit === w) && !keepttl && i + 1 < argv.length) {
      unit = w;
      unitArg = argv[++i];
    } else syntax();
  }
  if (unit !== null) at = expireTime(s, unit, unitArg as Buffer, 'set');
  const old = get ? getString(s, c, key, true) : undefined;
  if (!get && (nx || xx)) {
    const exists = s.keyspace.exists(c.db, key);
    if ((nx && exists) || (xx && !exists)) {
      c.out.nil();
      return;
    }
  }
  if (get && (nx || xx)) {
    const exists = old !== undefined;
    if ((nx && exists) || (xx && !exists)) {
      if (old === undefined) c.out.nil();
      else c.out.bulk(old);
      return;
    }
  }
  s.keyspace.set(c.db, key, TYPE_STRING, argv[2], keepttl ? 'keep' : at);
  setEvents(s, c.db, key, at);
  if (!get) c.out.ok();
  else if (old === undefined) c.out.nil();
  else c.out.bulk(old);
}

/** SET's events (setGenericCommand): 'set', and 'expire' when it set an expiry. */
function setEvents(s: RespServer, db: number, key: string, at: number | null): void {
  s.keyspace.notify.raise(NOTIFY_STRING, 'set', db, key);
  if (at !== null) s.keyspace.notify.raise(NOTIFY_GENERIC, 'expire', db, key);
}

function setnx(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  if (s.keyspace.exists(c.db, key)) {
    c.out.int(0);
    return;
  }
  s.keyspace.set(c.db, key, TYPE_STRING, argv[2], null);
  setEvents(s, c.db, key, null);
  c.out.int(1);
}

function setexLike(unit: 'ex' | 'px', cmd: string) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const key = keyArg(argv[1]);
    const at = expireTime(s, unit, argv[2], cmd);
    s.keyspace.set(c.db, key, TYPE_STRING, argv[3], at);
    setEvents(s, c.db, key, at);
    c.out.ok();
  };
}

function get(s: RespServer, c: Client, argv: Buffer[]): void {
  const v = getString(s, c, keyArg(argv[1]));
  if (v === undefined) c.out.nil();
  else c.out.bulk(v);
}

function getset(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const old = getString(s, c, key, true);
  s.keyspace.set(c.db, key, TYPE_STRING, argv[2], null);
  s.keyspace.notify.raise(NOTIFY_STRING, 'set', c.db, key);
  if (old === undefined) c.out.nil();
  else c.out.bulk(old);
}

function getdel(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const v = getString(s, c, key, true);
  if (v === undefined) {
    c.out.nil();
    return;
  }
  s.keyspace.delete(c.db, key);
  s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', c.db, key);
  c.out.bulk(v);
}

/** GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST] */
function getex(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  let unit: 'ex' | 'px' | 'exat' | 'pxat' | null = null;
  let unitArg: Buffer | null = null;
  let persist = false;
  // The options' syntax first (parseExtendedStringArgumentsOrReply): an
  // option again is taken (a unit's last time is used), another one is not.
  for (let i = 2; i < argv.length; i++) {
    const w = word(argv[i]);
    if ((w === 'ex' || w === 'px' || w === 'exat' || w === 'pxat') && (unit === null || unit === w) && !persist && i + 1 < argv.length) {
      unit = w;
      unitArg = argv[++i];
    } else if (w === 'persist' && unit === null) persist = true;
    else syntax();
  }
  // Then, as Redis: the key (nil when missing, WRONGTYPE), then the time.
  const v = getString(s, c, key, true);
  if (v === undefined) {
    c.out.nil();
    return;
  }
  const at = unit === null ? null : expireTime(s, unit, unitArg as Buffer, 'getex');
  if (at !== null) s.keyspace.notify.raise(NOTIFY_GENERIC, s.keyspace.expire(c.db, key, at) ? 'del' : 'expire', c.db, key);
  else if (persist && s.keyspace.persist(c.db, key)) s.keyspace.notify.raise(NOTIFY_GENERIC, 'persist', c.db, key);
  c.out.bulk(v);
}

function mget(s: RespServer, c: Client, argv: Buffer[]): void {
  c.out.array(argv.length - 1);
  for (let i = 1; i < argv.length; i++) {
    // A reply past the output limit is never sent (ReplyWriter.limit): no more values are copied for it.
    if (c.out.overflowed) return;
    const v = s.keyspace.get(c.db, keyArg(argv[i]));
    if (v === undefined || v.type !== TYPE_STRING) c.out.nil();
    else c.out.bulk(v.value);
  }
}

function msetCheck(argv: Buffer[], name: string): void {
  if (argv.length % 2 === 0) throw new ReplyError(`ERR wrong number of arguments for '${name}' command`);
  for (let i = 1; i < argv.length; i += 2) keyArg(argv[i]);
}

function msetOne(s: RespServer, db: number, key: string, v: Buffer): void {
  s.keyspace.set(db, key, TYPE_STRING, v, null);
  s.keyspace.notify.raise(NOTIFY_STRING, 'set', db, key);
}

function mset(s: RespServer, c: Client, argv: Buffer[]): void {
  msetCheck(argv, 'mset');
  // Every pair goes into the same batch: all of MSET is one record.
  for (let i = 1; i < argv.length; i += 2) msetOne(s, c.db, keyArg(argv[i]), argv[i + 1]);
  c.out.ok();
}

function msetnx(s: RespServer, c: Client, argv: Buffer[]): void {
  msetCheck(argv, 'msetnx');
  for (let i = 1; i < argv.length; i += 2) {
    if (s.keyspace.exists(c.db, keyArg(argv[i]))) {
      c.out.int(0);
      return;
    }
  }
  for (let i = 1; i < argv.length; i += 2) msetOne(s, c.db, keyArg(argv[i]), argv[i + 1]);
  c.out.int(1);
}

function append(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const old = getString(s, c, key);
  const n = (old?.length ?? 0) + argv[2].length;
  checkSize(s, n);
  const v = old === undefined ? argv[2] : Buffer.concat([old, argv[2]]);
  s.keyspace.set(c.db, key, TYPE_STRING, v, 'keep');
  // Redis appends to a raw copy of the value (even of an empty argument); a new key is encoded from its bytes, as SET's.
  if (old !== undefined) s.keyspace.pinEncoding(c.db, key, 'raw');
  s.keyspace.notify.raise(NOTIFY_STRING, 'append', c.db, key);
  c.out.int(v.length);
}

function strlen(s: RespServer, c: Client, argv: Buffer[]): void {
  c.out.int(getString(s, c, keyArg(argv[1]))?.length ?? 0);
}

function setrange(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const off = i64Arg(argv[2]);
  if (off < 0n) throw new ReplyError('ERR offset is out of range');
  const old = getString(s, c, key);
  const val = argv[3];
  if (val.length === 0) {
    c.out.int(old?.length ?? 0);
    return;
  }
  const end = off + BigInt(val.length);
  if (end > BigInt(Math.min(s.limits.maxBulk, MAX_STRING))) checkSize(s, Number(end));
  const len = Math.max(old?.length ?? 0, Number(end));
  const v = Buffer.alloc(len);
  old?.copy(v);
  val.copy(v, Number(off));
  s.keyspace.set(c.db, key, TYPE_STRING, v, 'keep');
  // Redis writes into a raw copy of the value, or a new raw one: raw however short.
  s.keyspace.pinEncoding(c.db, key, 'raw');
  s.keyspace.notify.raise(NOTIFY_STRING, 'setrange', c.db, key);
  c.out.int(len);
}

function getrange(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const start64 = i64Arg(argv[2]);
  const end64 = i64Arg(argv[3]);
  const v = getString(s, c, key);
  if (v === undefined) {
    c.out.bulk('');
    return;
  }
  const n = v.length;
  // Compared as integers: past 2^53, two indexes one apart are one double.
  if (start64 < 0n && end64 < 0n && start64 > end64) {
    c.out.bulk('');
    return;
  }
  let start = Number(start64);
  let end = Number(end64);
  if (start < 0) start = n + start;
  if (end < 0) end = n + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= n) end = n - 1;
  if (n === 0 || start > end) c.out.bulk('');
  else c.out.bulk(v.subarray(start, end + 1));
}

function incrBy(s: RespServer, c: Client, key: string, by: bigint): void {
  const old = getString(s, c, key);
  let n = 0n;
  if (old !== undefined) {
    const v = toI64(old);
    if (v === null) throw new ReplyError(NOT_INTEGER);
    n = v;
  }
  const r = n + by;
  if (r > I64_MAX || r < I64_MIN) throw new ReplyError('ERR increment or decrement would overflow');
  s.keyspace.set(c.db, key, TYPE_STRING, Buffer.from(r.toString(), 'latin1'), 'keep');
  s.keyspace.notify.raise(NOTIFY_STRING, 'incrby', c.db, key);
  c.out.int(r);
}

function incrbyfloat(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  // Redis's order: the key's type, its value, then the increment.
  const old = getString(s, c, key);
  const n = old === undefined ? ZERO : readLongDouble(old);
  if (n === null) throw new ReplyError('ERR value is not a valid float');
  const by = readLongDouble(argv[2]);
  if (by === null) throw new ReplyError('ERR value is not a valid float');
  // An infinity is a float to Redis (strtold), and so is its sum.
  const text = n === 'inf' || by === 'inf' ? null : addAsLongDouble(n, by);
  if (text === null) throw new ReplyError('ERR increment would produce NaN or Infinity');
  s.keyspace.set(c.db, key, TYPE_STRING, Buffer.from(text, 'latin1'), 'keep');
  // Redis makes the result with createStringObject: embstr or raw by its length, never int ("2" too).
  s.keyspace.pinEncoding(c.db, key, text.length <= EMBSTR_MAX ? 'embstr' : 'raw');
  s.keyspace.notify.raise(NOTIFY_STRING, 'incrbyfloat', c.db, key);
  c.out.bulk(text);
}

export const STRING_COMMANDS: Record<string, Def> = {
  get: [2, 'readonly fast', 1, 1, 1, get],
  set: [-3, 'write', 1, 1, 1, set],
  setnx: [3, 'write fast', 1, 1, 1, setnx],
  setex: [4, 'write', 1, 1, 1, setexLike('ex', 'setex')],
  psetex: [4, 'write', 1, 1, 1, setexLike('px', 'psetex')],
  getset: [3, 'write fast', 1, 1, 1, getset],
  getdel: [2, 'write fast', 1, 1, 1, getdel],
  getex: [-2, 'write fast', 1, 1, 1, getex],
  mget: [-2, 'readonly fast', 1, -1, 1, mget],
  mset: [-3, 'write', 1, -1, 2, mset],
  msetnx: [-3, 'write', 1, -1, 2, msetnx],
  append: [3, 'write fast', 1, 1, 1, append],
  strlen: [2, 'readonly fast', 1, 1, 1, strlen],
  setrange: [4, 'write', 1, 1, 1, setrange],
  getrange: [4, 'readonly', 1, 1, 1, getrange],
  substr: [4, 'readonly', 1, 1, 1, getrange],
  incr: [2, 'write fast', 1, 1, 1, (s, c, a) => incrBy(s, c, keyArg(a[1]), 1n)],
  decr: [2, 'write fast', 1, 1, 1, (s, c, a) => incrBy(s, c, keyArg(a[1]), -1n)],
  incrby: [3, 'write fast', 1, 1, 1, (s, c, a) => incrBy(s, c, keyArg(a[1]), i64Arg(a[2]))],
  decrby: [3, 'write fast', 1, 1, 1, (s, c, a) => {
    const by = i64Arg(a[2]);
    if (by === I64_MIN) throw new ReplyError('ERR decrement would overflow');
    incrBy(s, c, keyArg(a[1]), -by);
  }],
  incrbyfloat: [3, 'write fast', 1, 1, 1, incrbyfloat],
  lcs: [-3, 'readonly', 1, 2, 1, lcs],
};
