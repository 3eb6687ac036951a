// The hash group: HSET, HSETNX, HMSET, HGET, HMGET, HGETALL, HKEYS, HVALS,
// HLEN, HEXISTS, HSTRLEN, HDEL, HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN.
// A hash is a Members of field → value in DRAM, and one element record per
// field in the store (docs/formats.md, "Collections").
import { ReplyError, type Client } from '../client';
import { type Collection, registerType, TYPE_HASH } from '../collections';
import { Members } from '../members';
import { NOTIFY_GENERIC, NOTIFY_HASH } from '../notify';
import type { RespServer } from '../server';
import { cursorArg, i64Arg, I64_MAX, I64_MIN, keyArg, nameWord, toI64, word } from './args';
import { addAsLongDouble, readLongDouble, ZERO } from './long-double';
import { checkPairCount, randomCount, replyRandom, scanMembers, slotOrder } from './elements';
import type { Def } from './types';

/** Field → value, both one-byte strings of their bytes (lighter than a Buffer per value). */
type Hash = Members<string>;

/** Redis's hash-max-listpack-entries and hash-max-listpack-value defaults: the small encoding's limits. */
const SMALL_ENTRIES = 512;
const SMALL_VALUE = 64;
/** The longest field: the store's key limit less the element prefix. */
const MAX_FIELD = 4096 - 9;

function put(h: Hash, field: string, value: string): boolean {
  if (field.length > SMALL_VALUE || value.length > SMALL_VALUE || h.size >= SMALL_ENTRIES) h.big = true;
  return h.set(field, value);
}

/** A field read at open (each is read once). */
function loadField(h: Hash, field: string, value: string): void {
  if (field.length > SMALL_VALUE || value.length > SMALL_VALUE || h.size >= SMALL_ENTRIES) h.big = true;
  h.append(field, value);
}

registerType<Hash>({
  type: TYPE_HASH,
  ordered: false,
  name: 'hash',
  create: () => new Members<string>(),
  load: (h, id, payload) => {
    loadField(h, id, payload.toString('latin1'));
  },
  loadLatin1: loadField,
  size: (h) => h.size,
  encoding: (h) => (h.big ? 'hashtable' : 'listpack'),
  elements: function* elements(h) {
    for (let i = 0; i < h.size; i++) yield [h.ids[i], Buffer.from(h.vals[i], 'latin1')];
  },
  ids: (h) => h.ids.values(),
  members: (h) => h,
});

function fieldArg(b: Buffer): string {
  if (b.length > MAX_FIELD) throw new ReplyError(`ERR field is ${b.length} bytes; the limit is ${MAX_FIELD}`);
  return b.toString('latin1');
}

function read(s: RespServer, c: Client, key: Buffer): Collection<Hash> | undefined {
  return s.keyspace.collection<Hash>(c.db, keyArg(key), TYPE_HASH);
}

/** Sets a field, in DRAM and in the batch. @returns whether it is new */
function setField(s: RespServer, h: Collection<Hash>, field: string, value: Buffer): boolean {
  const isNew = put(h.data, field, value.toString('latin1'));
  s.keyspace.putElement(h, field, value);
  return isNew;
}

function hset(s: RespServer, c: Client, argv: Buffer[]): void {
  if (argv.length % 2 === 1) throw new ReplyError(`ERR wrong number of arguments for '${nameWord(argv[0])}' command`);
  const fields: string[] = [];
  for (let i = 2; i < argv.length; i += 2) fields.push(fieldArg(argv[i]));
  // Every field and value of the command goes into the one batch: after a crash all are there or none.
  const h = s.keyspace.createCollection<Hash>(c.db, keyArg(argv[1]), TYPE_HASH);
  let created = 0;
  for (let i = 0; i < fields.length; i++) if (setField(s, h, fields[i], argv[3 + 2 * i])) created++;
  s.keyspace.notify.raise(NOTIFY_HASH, 'hset', c.db, h.key);
  if (nameWord(argv[0]) === 'hmset') c.out.ok();
  else c.out.int(created);
}

function hsetnx(s: RespServer, c: Client, argv: Buffer[]): void {
  const field = fieldArg(argv[2]);
  const h = s.keyspace.createCollection<Hash>(c.db, keyArg(argv[1]), TYPE_HASH);
  if (h.data.has(field)) {
    c.out.int(0);
    return;
  }
  setField(s, h, field, argv[3]);
  s.keyspace.notify.raise(NOTIFY_HASH, 'hset', c.db, h.key);
  c.out.int(1);
}

function hget(s: RespServer, c: Client, argv: Buffer[]): void {
  const v = read(s, c, argv[1])?.data.get(argv[2].toString('latin1'));
  if (v === undefined) c.out.nil();
  else c.out.bulkLatin1(v);
}

function hmget(s: RespServer, c: Client, argv: Buffer[]): void {
  const h = read(s, c, argv[1]);
  c.out.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) {
    const v = h?.data.get(argv[i].toString('latin1'));
    if (v === undefined) c.out.nil();
    else c.out.bulkLatin1(v);
  }
}

function hgetall(s: RespServer, c: Client, argv: Buffer[]): void {
  const h = read(s, c, argv[1])?.data;
  const n = h?.size ?? 0;
  c.out.map(n);
  for (let i = 0; i < n; i++) {
    c.out.bulkLatin1((h as Hash).ids[i]);
    c.out.bulkLatin1((h as Hash).vals[i]);
  }
}

function hkeys(s: RespServer, c: Client, argv: Buffer[]): void {
  const h = read(s, c, argv[1])?.data;
  c.out.array(h?.size ?? 0);
  if (h !== undefined) for (const id of h.ids) c.out.bulkLatin1(id);
}

function hvals(s: RespServer, c: Client, argv: Buffer[]): void {
  const h = read(s, c, argv[1])?.data;
  c.out.array(h?.size ?? 0);
  if (h !== undefined) for (const v of h.vals) c.out.bulkLatin1(v);
}

function hlen(s: RespServer, c: Client, argv: Buffer[]): void {
  c.out.int(read(s, c, argv[1])?.data.size ?? 0);
}

function hexists(s: RespServer, c: Client, argv: Buffer[]): void {
  c.out.int(read(s, c, argv[1])?.data.has(argv[2].toString('latin1')) === true ? 1 : 0);
}

function hstrlen(s: RespServer, c: Client, argv: Buffer[]): void {
  c.out.int(read(s, c, argv[1])?.data.get(argv[2].toString('latin1'))?.length ?? 0);
}

function hdel(s: RespServer, c: Client, argv: Buffer[]): void {
  const h = read(s, c, argv[1]);
  let n = 0;
  if (h !== undefined) {
    for (let i = 2; i < argv.length; i++) {
      const f = argv[i].toString('latin1');
      if (!h.data.delete(f)) continue;
      s.keyspace.deleteElement(h, f);
      n++;
    }
    // The last field's delete and the key's delete are in the same batch.
    const deleted = s.keyspace.deleteIfEmpty(h);
    if (n > 0) {
      s.keyspace.notify.raise(NOTIFY_HASH, 'hdel', c.db, h.key);
      if (deleted) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', c.db, h.key);
    }
  }
  c.out.int(n);
}

function hincrby(s: RespServer, c: Client, argv: Buffer[]): void {
  const by = i64Arg(argv[3]);
  const field = fieldArg(argv[2]);
  const key = keyArg(argv[1]);
  const old = s.keyspace.collection<Hash>(c.db, key, TYPE_HASH)?.data.get(field);
  let n = 0n;
  if (old !== undefined) {
    const v = toI64(old);
    if (v === null) throw new ReplyError('ERR hash value is not an integer');
    n = v;
  }
  const r = n + by;
  if (r > I64_MAX || r < I64_MIN) throw new ReplyError('ERR increment or decrement would overflow');
  setField(s, s.keyspace.createCollection<Hash>(c.db, key, TYPE_HASH), field, Buffer.from(r.toString(), 'latin1'));
  s.keyspace.notify.raise(NOTIFY_HASH, 'hincrby', c.db, key);
  c.out.int(r);
}

function hincrbyfloat(s: RespServer, c: Client, argv: Buffer[]): void {
  const by = readLongDouble(argv[3]);
  if (by === null) throw new ReplyError('ERR value is not a valid float');
  if (by === 'inf') throw new ReplyError('ERR value is NaN or Infinity');
  const field = fieldArg(argv[2]);
  const key = keyArg(argv[1]);
  const old = s.keyspace.collection<Hash>(c.db, key, TYPE_HASH)?.data.get(field);
  const n = old === undefined ? ZERO : readLongDouble(old);
  if (n === null) throw new ReplyError('ERR hash value is not a float');
  // An infinity is a float to Redis (string2ld), and so is its sum.
  const text = n === 'inf' ? null : addAsLongDouble(n, by);
  if (text === null) throw new ReplyError('ERR increment would produce NaN or Infinity');
  const h = s.keyspace.createCollection<Hash>(c.db, key, TYPE_HASH);
  setField(s, h, field, Buffer.from(text, 'latin1'));
  s.keyspace.notify.raise(NOTIFY_HASH, 'hincrbyfloat', c.db, key);
  c.out.bulk(text);
}

/** HRANDFIELD key [count [WITHVALUES]] */
function hrandfield(s: RespServer, c: Client, argv: Buffer[]): void {
  if (argv.length === 2) {
    const h = read(s, c, argv[1])?.data;
    if (h === undefined) c.out.nil();
    else c.out.bulkLatin1(h.ids[h.randomSlot()]);
    return;
  }
  const count = randomCount(argv[2]);
  if (argv.length > 4 || (argv.length === 4 && word(argv[3]) !== 'withvalues')) throw new ReplyError('ERR syntax error');
  const withValues = argv.length === 4;
  if (withValues) checkPairCount(argv[2]);
  const h = read(s, c, argv[1])?.data;
  if (h === undefined || count === 0) {
    c.out.array(0);
    return;
  }
  const nested = withValues && c.out.proto === 3;
  replyRandom(s, c, h.size, count, withValues && !nested ? 2 : 1, (i) => {
    if (nested) c.out.array(2);
    c.out.bulkLatin1(h.ids[i]);
    if (withValues) c.out.bulkLatin1(h.vals[i]);
  });
}

function hscan(s: RespServer, c: Client, argv: Buffer[]): void {
  const cur = cursorArg(argv[2]);
  const h = read(s, c, argv[1])?.data;
  // A listpack's order, which HGETALL's is too.
  const small = h !== undefined && !h.big ? () => slotOrder(h.size) : null;
  scanMembers(c, argv, cur, h, small, 2, (i) => {
    c.out.bulkLatin1((h as Hash).ids[i]);
    c.out.bulkLatin1((h as Hash).vals[i]);
  });
}

export const HASH_COMMANDS: Record<string, Def> = {
  hset: [-4, 'write fast', 1, 1, 1, hset],
  hmset: [-4, 'write fast', 1, 1, 1, hset],
  hsetnx: [4, 'write fast', 1, 1, 1, hsetnx],
  hget: [3, 'readonly fast', 1, 1, 1, hget],
  hmget: [-3, 'readonly fast', 1, 1, 1, hmget],
  hgetall: [2, 'readonly', 1, 1, 1, hgetall],
  hkeys: [2, 'readonly', 1, 1, 1, hkeys],
  hvals: [2, 'readonly', 1, 1, 1, hvals],
  hlen: [2, 'readonly fast', 1, 1, 1, hlen],
  hexists: [3, 'readonly fast', 1, 1, 1, hexists],
  hstrlen: [3, 'readonly fast', 1, 1, 1, hstrlen],
  hdel: [-3, 'write fast', 1, 1, 1, hdel],
  hincrby: [4, 'write fast', 1, 1, 1, hincrby],
  hincrbyfloat: [4, 'write fast', 1, 1, 1, hincrbyfloat],
  hrandfield: [-2, 'readonly', 1, 1, 1, hrandfield],
  hscan: [-3, 'readonly', 1, 1, 1, hscan],
};
