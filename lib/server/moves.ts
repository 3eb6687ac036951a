// Keys that change name or database: RENAME, MOVE, COPY, SWAPDB, for every
// type. A collection that moves keeps its generation, so only its META is
// written under the new name (O(1)); a copy is a new generation with every
// element written again (O(n)). Every write is in the current batch.
import { type Collection, typeOf } from './collections';
import type { StringEncoding } from './dict';
import type { Keyspace } from './keyspace';

/**
 * Moves a live key (with its expiry) to `to` in `toDb`, replacing what was
 * there: its value or META written under the new name and the old deleted,
 * in the same batch, so after a crash exactly one name holds it.
 * @returns false when `from` is absent
 */
export function renameKey(ks: Keyspace, db: number, from: string, toDb: number, to: string): boolean {
  const v = ks.get(db, from);
  if (v === undefined) return false;
  if (db === toDb && from === to) return true;
  const at = ks.expireOf(db, from) ?? null;
  const payload = Buffer.from(v.value);
  const enc = ks.dbs[db].strEncodings.get(from);
  const c = detach(ks, db, from);
  ks.delete(db, from);
  ks.replacing(toDb, to, () => {
    ks.delete(toDb, to);
    ks.set(toDb, to, v.type, payload, at);
  });
  if (enc !== undefined) ks.pinEncoding(toDb, to, enc);
  if (c !== undefined) attach(ks, c, toDb, to);
  return true;
}

/**
 * Copies a live key (with its expiry) to `to` in `toDb`, replacing what was
 * there.
 * @returns false when `from` is absent
 */
export function copyKey(ks: Keyspace, db: number, from: string, toDb: number, to: string): boolean {
  const v = ks.get(db, from);
  if (v === undefined) return false;
  const at = ks.expireOf(db, from) ?? null;
  const src = ks.dbs[db].colls.get(from);
  const payload = Buffer.from(v.value);
  const enc = ks.dbs[db].strEncodings.get(from);
  if (src === undefined) {
    ks.replacing(toDb, to, () => {
      ks.delete(toDb, to);
      // A string's copy keeps its encoding, as Redis's dupStringObject does.
      ks.set(toDb, to, v.type, payload, at);
    });
    if (enc !== undefined) ks.pinEncoding(toDb, to, enc);
    return true;
  }
  const t = typeOf(v.type);
  const c = ks.replacing(toDb, to, () => {
    ks.delete(toDb, to);
    return ks.createCollection(toDb, to, v.type);
  });
  // Payload Buffers are never changed in place, so the copy may share them.
  for (const [id, p] of t.elements(src.data)) {
    t.load(c.data, id, p);
    ks.putElement(c, id, p);
  }
  if (at !== null) ks.expire(toDb, to, at);
  return true;
}

/** SWAPDB: every live key of `x` moves to `y` and back, with its expiry. */
export function swapDbs(ks: Keyspace, x: number, y: number): void {
  // Redis's SWAPDB raises no keyspace event: the keys written again here are not 'new'.
  ks.notify.muted(() => swapKeys(ks, x, y));
}

function swapKeys(ks: Keyspace, x: number, y: number): void {
  type Entry = [string, number, Buffer, number | null, Collection | undefined, StringEncoding | undefined];
  const take = (db: number): Entry[] =>
    ks.liveKeys(db).map((k) => {
      const v = ks.get(db, k) as { type: number; value: Buffer };
      return [k, v.type, Buffer.from(v.value), ks.expireOf(db, k) ?? null, detach(ks, db, k), ks.dbs[db].strEncodings.get(k)];
    });
  const ax = take(x);
  const by = take(y);
  // INFO's avg_ttl goes with the keys, as Redis swaps it with the databases.
  const [ttlX, ttlY] = [ks.dbs[x].avgTtl, ks.dbs[y].avgTtl];
  ks.flush(x);
  ks.flush(y);
  ks.dbs[x].avgTtl = ttlY;
  ks.dbs[y].avgTtl = ttlX;
  const put = (db: number, entries: Entry[]): void => {
    for (const [k, t, v, at, c, enc] of entries) {
      ks.set(db, k, t, v, at);
      if (enc !== undefined) ks.pinEncoding(db, k, enc);
      if (c !== undefined) attach(ks, c, db, k);
    }
  };
  put(y, ax);
  put(x, by);
}

/** Takes a collection out of its database's map: moved, not dead, so deleting its key does not free its elements. */
function detach(ks: Keyspace, db: number, key: string): Collection | undefined {
  const d = ks.dbs[db];
  const c = d.colls.get(key);
  d.colls.delete(key);
  return c;
}

function attach(ks: Keyspace, c: Collection, db: number, key: string): void {
  c.db = db;
  c.key = key;
  ks.dbs[db].colls.set(key, c);
  ks.written(db, key);
}
