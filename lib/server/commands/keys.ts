// The keyspace group: DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, COPY, MOVE,
// RANDOMKEY, the EXPIRE family, TTL, PERSIST, OBJECT, TOUCH.
import { ReplyError, SYNTAX, type Client } from '../client';
import { typeOf } from '../collections';
import { EMBSTR_MAX } from '../dict';
import { globMatch, matchArg } from '../glob';
import { TYPE_NAMES, TYPE_STRING } from '../records';
import { copyKey, renameKey } from '../moves';
import { NOTIFY_GENERIC } from '../notify';
import type { RespServer } from '../server';
import { cString, cursorArg, i32Arg, i64Arg, I64_MAX, I64_MIN, intArg, keyArg, keyBuf, nameWord, syntax, timeMs, toI64, word } from './args';
import type { Def } from './types';

function del(s: RespServer, c: Client, argv: Buffer[]): void {
  let n = 0;
  for (let i = 1; i < argv.length; i++) {
    const key = keyArg(argv[i]);
    if (!s.keyspace.delete(c.db, key)) continue;
    s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', c.db, key);
    n++;
  }
  c.out.int(n);
}

function exists(s: RespServer, c: Client, argv: Buffer[]): void {
  let n = 0;
  for (let i = 1; i < argv.length; i++) if (s.keyspace.exists(c.db, keyArg(argv[i]))) n++;
  c.out.int(n);
}

function type(s: RespServer, c: Client, argv: Buffer[]): void {
  const t = s.keyspace.type(c.db, keyArg(argv[1]));
  c.out.status(t === undefined ? 'none' : TYPE_NAMES[t] ?? 'none');
}

function keys(s: RespServer, c: Client, argv: Buffer[]): void {
  const p = argv[1];
  const all = p.length === 1 && p[0] === 0x2a;
  const out: Buffer[] = [];
  for (const k of s.keyspace.liveKeys(c.db)) {
    const kb = keyBuf(k);
    if (all || globMatch(p, kb)) out.push(kb);
  }
  c.out.bulks(out);
}

/**
 * SCAN cursor [MATCH p] [COUNT n] [TYPE t]. The cursor walks the database's
 * key array from its end down: a delete moves the last key into the hole,
 * and the last key was either already visited or is visited again, so every
 * key present for the whole scan is returned (perhaps twice), as Redis
 * guarantees.
 */
function scan(s: RespServer, c: Client, argv: Buffer[]): void {
  const cur = cursorArg(argv[1]);
  let match: Buffer | null = null;
  let count = 10;
  let typeName: string | null = null;
  for (let i = 2; i < argv.length; i++) {
    const w = word(argv[i]);
    if (i + 1 >= argv.length) syntax();
    if (w === 'match') match = matchArg(argv[++i]);
    else if (w === 'count') {
      count = intArg(argv[++i]);
      if (count < 1) syntax();
    } else if (w === 'type') typeName = word(argv[++i]);
    else syntax();
  }
  const d = s.keyspace.dbs[c.db];
  let pos = cur === 0n ? d.size - 1 : Math.min(Number(cur) - 1, d.size - 1);
  const found: string[] = [];
  for (let n = 0; n < count && pos >= 0; n++, pos--) found.push(d.keys[pos]);
  const out: Buffer[] = [];
  for (const k of found) {
    const t = s.keyspace.type(c.db, k);
    if (t === undefined) continue;
    if (typeName !== null && TYPE_NAMES[t] !== typeName) continue;
    const kb = keyBuf(k);
    if (match !== null && !globMatch(match, kb)) continue;
    out.push(kb);
  }
  c.out.array(2);
  c.out.bulk(pos < 0 ? '0' : String(pos + 1));
  c.out.bulks(out);
}

function renameLike(nx: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const from = keyArg(argv[1]);
    const to = keyArg(argv[2]);
    const v = s.keyspace.get(c.db, from);
    if (v === undefined) throw new ReplyError('ERR no such key');
    if (from === to) {
      if (nx) c.out.int(0);
      else c.out.ok();
      return;
    }
    if (nx && s.keyspace.exists(c.db, to)) {
      c.out.int(0);
      return;
    }
    // Both writes go into one batch: after a crash exactly one name holds the value (a collection: its META).
    renameKey(s.keyspace, c.db, from, c.db, to);
    s.keyspace.notify.raise(NOTIFY_GENERIC, 'rename_from', c.db, from);
    s.keyspace.notify.raise(NOTIFY_GENERIC, 'rename_to', c.db, to);
    if (nx) c.out.int(1);
    else c.out.ok();
  };
}

/** COPY source destination [DB n] [REPLACE] */
function copy(s: RespServer, c: Client, argv: Buffer[]): void {
  const from = keyArg(argv[1]);
  const to = keyArg(argv[2]);
  let db = c.db;
  let replace = false;
  for (let i = 3; i < argv.length; i++) {
    const w = word(argv[i]);
    if (w === 'replace') replace = true;
    else if (w === 'db' && i + 1 < argv.length) {
      db = i32Arg(argv[++i]);
      if (db < 0 || db >= s.databases) throw new ReplyError('ERR DB index is out of range');
    } else syntax();
  }
  if (from === to && db === c.db) throw new ReplyError('ERR source and destination objects are the same');
  if (!s.keyspace.exists(c.db, from)) {
    c.out.int(0);
    return;
  }
  if (!replace && s.keyspace.exists(db, to)) {
    c.out.int(0);
    return;
  }
  copyKey(s.keyspace, c.db, from, db, to);
  s.keyspace.notify.raise(NOTIFY_GENERIC, 'copy_to', db, to);
  c.out.int(1);
}

function move(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const db = i32Arg(argv[2]);
  if (db < 0 || db >= s.databases) throw new ReplyError('ERR DB index is out of range');
  if (db === c.db) throw new ReplyError('ERR source and destination objects are the same');
  if (!s.keyspace.exists(c.db, key) || s.keyspace.exists(db, key)) {
    c.out.int(0);
    return;
  }
  renameKey(s.keyspace, c.db, key, db, key);
  s.keyspace.notify.raise(NOTIFY_GENERIC, 'move_from', c.db, key);
  s.keyspace.notify.raise(NOTIFY_GENERIC, 'move_to', db, key);
  c.out.int(1);
}

function randomkey(s: RespServer, c: Client): void {
  const k = s.keyspace.randomKey(c.db);
  if (k === undefined) c.out.nil();
  else c.out.bulk(keyBuf(k));
}

/** EXPIRE key n [NX | XX | GT | LT], and PEXPIRE, EXPIREAT, PEXPIREAT. */
function expireLike(unitMs: bigint, absolute: boolean, name: string) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const key = keyArg(argv[1]);
    // Redis's order: the options, then the time.
    let nx = false;
    let xx = false;
    let gt = false;
    let lt = false;
    for (let i = 3; i < argv.length; i++) {
      const w = word(argv[i]);
      if (w === 'nx') nx = true;
      else if (w === 'xx') xx = true;
      else if (w === 'gt') gt = true;
      else if (w === 'lt') lt = true;
      else throw new ReplyError(`ERR Unsupported option ${cString(argv[i])}`);
    }
    if (nx && (xx || gt || lt)) throw new ReplyError('ERR NX and XX, GT or LT options at the same time are not compatible');
    if (gt && lt) throw new ReplyError('ERR GT and LT options at the same time are not compatible');
    const n = i64Arg(argv[2]);
    const bad = (): never => {
      throw new ReplyError(`ERR invalid expire time in '${name}' command`);
    };
    // As Redis's expireGenericCommand: a time may be negative (the key is
    // deleted); only an overflow of the unit's conversion or of the
    // addition of now is refused.
    if (n > I64_MAX / unitMs || n < I64_MIN / unitMs) bad();
    let ms = n * unitMs;
    const base = absolute ? 0n : BigInt(s.keyspace.now());
    if (ms > I64_MAX - base) bad();
    ms += base;
    const cur = s.keyspace.expireOf(c.db, key);
    if (cur === undefined) {
      c.out.int(0);
      return;
    }
    const at = timeMs(ms);
    if ((nx && cur !== null) || (xx && cur === null) || (gt && (cur === null || at <= cur)) || (lt && cur !== null && at >= cur)) {
      c.out.int(0);
      return;
    }
    // A time already past deletes the key: Redis calls that 'del', not 'expired'.
    s.keyspace.notify.raise(NOTIFY_GENERIC, s.keyspace.expire(c.db, key, at) ? 'del' : 'expire', c.db, key);
    c.out.int(1);
  };
}

function ttlLike(ms: boolean, absolute: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const at = s.keyspace.expireOf(c.db, keyArg(argv[1]));
    if (at === undefined) c.out.int(-2);
    else if (at === null) c.out.int(-1);
    else {
      // Seconds rounded to the nearest, absolute ones too, as Redis's
      // ttlGenericCommand replies ((ttl + 500) / 1000).
      const v = absolute ? at : Math.max(0, at - s.keyspace.now());
      c.out.int(ms ? Math.floor(v) : Math.floor((v + 500) / 1000));
    }
  };
}

function persist(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const done = s.keyspace.persist(c.db, key);
  if (done) s.keyspace.notify.raise(NOTIFY_GENERIC, 'persist', c.db, key);
  c.out.int(done ? 1 : 0);
}

function touch(s: RespServer, c: Client, argv: Buffer[]): void {
  exists(s, c, argv);
}

/**
 * OBJECT ENCODING of the string `value` at `key`: the one a command pinned
 * (Dict.strEncodings), else what Redis's tryObjectEncoding makes of the
 * bytes: int for an integer it reads as a long, embstr up to 44 bytes, raw.
 */
function stringEncoding(s: RespServer, db: number, key: string, value: Buffer): string {
  return s.keyspace.dbs[db].strEncodings.get(key) ?? (toI64(value) !== null ? 'int' : value.length <= EMBSTR_MAX ? 'embstr' : 'raw');
}

/** The encoding Redis would report for the value `v` at `key`: OBJECT ENCODING's reply, and DEBUG OBJECT's encoding field. */
export function encodingOf(s: RespServer, db: number, key: string, v: { type: number; value: Buffer }): string {
  if (v.type === TYPE_STRING) return stringEncoding(s, db, key, v.value);
  const coll = s.keyspace.dbs[db].colls.get(key);
  return coll === undefined ? 'raw' : typeOf(coll.type).encoding(coll.data);
}

/**
 * The reference count Redis would report for a value of `encoding`
 * (OBJECT REFCOUNT, DEBUG OBJECT): Redis shares one object for each of the
 * integers 0 to 9999 that it encodes as int, and reports it with INT_MAX;
 * any other value, a short integer kept raw or embstr too, is the key's own.
 */
export function refcountOf(encoding: string, v: { type: number; value: Buffer }): number {
  if (encoding !== 'int') return 1;
  const n = toI64(v.value);
  return n !== null && n >= 0n && n < 10000n ? 2147483647 : 1;
}

const OBJECT_ARITY = new Map([['help', 2], ['encoding', 3], ['freq', 3], ['idletime', 3], ['refcount', 3]]);

/** OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT | HELP */
function object(s: RespServer, c: Client, argv: Buffer[]): void {
  const sub = nameWord(argv[1]);
  // Redis 7.0's subcommand table: an unknown name, then each one's arity.
  const arity = OBJECT_ARITY.get(sub);
  if (arity === undefined) throw new ReplyError(`ERR unknown subcommand '${cString(argv[1]).slice(0, 128)}'. Try OBJECT HELP.`);
  if (argv.length !== arity) throw new ReplyError(`ERR wrong number of arguments for 'object|${sub}' command`);
  if (sub === 'help') {
    c.out.bulks(['OBJECT <subcommand>', 'ENCODING <key>', 'FREQ <key>', 'IDLETIME <key>', 'REFCOUNT <key>']);
    return;
  }
  const v = s.keyspace.get(c.db, keyArg(argv[2]));
  if (v === undefined) {
    c.out.nil();
    return;
  }
  switch (sub) {
    case 'encoding':
      c.out.bulk(encodingOf(s, c.db, keyArg(argv[2]), v));
      return;
    case 'freq':
      throw new ReplyError('ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.');
    case 'idletime':
      c.out.int(0);
      return;
    case 'refcount':
      c.out.int(refcountOf(encodingOf(s, c.db, keyArg(argv[2]), v), v));
      return;
    default:
      throw new ReplyError(SYNTAX);
  }
}

export const KEY_COMMANDS: Record<string, Def> = {
  del: [-2, 'write', 1, -1, 1, del],
  unlink: [-2, 'write fast', 1, -1, 1, del],
  exists: [-2, 'readonly fast', 1, -1, 1, exists],
  type: [2, 'readonly fast', 1, 1, 1, type],
  keys: [2, 'readonly', 0, 0, 0, keys],
  scan: [-2, 'readonly', 0, 0, 0, scan],
  rename: [3, 'write', 1, 2, 1, renameLike(false)],
  renamenx: [3, 'write fast', 1, 2, 1, renameLike(true)],
  copy: [-3, 'write', 1, 2, 1, copy],
  move: [3, 'write fast', 1, 1, 1, move],
  randomkey: [1, 'readonly', 0, 0, 0, randomkey],
  expire: [-3, 'write fast', 1, 1, 1, expireLike(1000n, false, 'expire')],
  pexpire: [-3, 'write fast', 1, 1, 1, expireLike(1n, false, 'pexpire')],
  expireat: [-3, 'write fast', 1, 1, 1, expireLike(1000n, true, 'expireat')],
  pexpireat: [-3, 'write fast', 1, 1, 1, expireLike(1n, true, 'pexpireat')],
  ttl: [2, 'readonly fast', 1, 1, 1, ttlLike(false, false)],
  pttl: [2, 'readonly fast', 1, 1, 1, ttlLike(true, false)],
  expiretime: [2, 'readonly fast', 1, 1, 1, ttlLike(false, true)],
  pexpiretime: [2, 'readonly fast', 1, 1, 1, ttlLike(true, true)],
  persist: [2, 'write fast', 1, 1, 1, persist],
  touch: [-2, 'readonly fast', 1, -1, 1, touch],
  object: [-2, 'readonly', 2, 2, 1, object],
};
