// The server's keyspace on a KVStore: which store key holds what (see
// docs/formats.md, "pmem serve keyspace"), the DRAM dictionaries of keys and
// expiry times, and the pending writes of the current batch.
//
// Commands read and write the keyspace at once; the store sees their writes
// only at `commit()`, as one KVStore batch: one record, one fence, all or
// nothing across a crash. The server sends no reply of a batch before
// `commit()` returned, so every acknowledged write is durable, and no
// client ever saw a value a crash could take away.
import type { KVStore } from '../kv/store';
import type { KVBatchOp } from '../kv/types';
import { checkType, COLLECTION_NAMES, COLLECTION_TYPES, type Collection, elementKey, Garbage, genOfChars, META_BYTES, metaPayload, scanElements, typeOf } from './collections';
import { Dict } from './dict';

/** The first byte of every store key: what kind of record it is. */
export const NS_KEY = 0x6b; // 'k': a key and its value: [type byte][payload]
export const NS_EXPIRE = 0x78; // 'x': a key's expiry time: 8 bytes, ms since the epoch (float64 LE)

/** A value's type byte; the values of TYPE. Other types add their byte and records here. */
export const TYPE_STRING = 0x73; // 's'
export const TYPE_NAMES: Record<number, string> = { [TYPE_STRING]: 'string', ...COLLECTION_NAMES };

/** Bytes of a store key before the user's key: namespace and database. */
export const KEY_PREFIX = 2;

/** Called with (db, key) whenever a key changes: WATCH's bookkeeping. */
export type TouchListener = (db: number, key: string) => void;

/** Elements deleted per lazy-free step. */
const FREE_STEP = 1000;

export class Keyspace {
  readonly dbs: Dict[] = [];
  /** Writes not yet in the store, by store key (latin1): the value, or null for a delete. */
  #pending = new Map<string, Buffer | null>();
  #pendingBytes = 0;
  /** Keys expired (lazily or actively) and deleted since start. */
  expiredKeys = 0;
  /** Batches committed and entries in them, since start. */
  commits = 0;
  committedEntries = 0;
  lastCommit = Date.now();
  onTouch: TouchListener = () => {};
  /** The clock expiry is measured against; a test may replace it. */
  now: () => number = Date.now;
  /** Element records of dead collections, waiting to be deleted. */
  readonly garbage = new Garbage();
  /** The next collection generation: one more than any in the store. */
  #nextGen = 1;
  #writeListeners: TouchListener[] = [];

  /**
   * Rounds sent to a replicated journal and not yet in the store (with
   * `replicated`), oldest first: reads look through them after the
   * pending writes, until the store has applied them.
   */
  #inflight: Array<{ id: number; writes: Map<string, Buffer | null> }> = [];
  #rounds = 0;

  /**
   * With `replicated`, every write, the expired keys deleted at load too,
   * goes through takePending() (to the journal first), never straight to
   * the store.
   */
  constructor(readonly store: KVStore, readonly databases: number, readonly replicated = false) {
    if (!Number.isInteger(databases) || databases < 1 || databases > 256) throw new RangeError(`databases must be 1 to 256, got ${databases}`);
    this.load();
  }

  /**
   * Rebuilds the DRAM dictionaries from the store, and deletes, durably,
   * every key whose time has passed (so an expired key never comes back
   * after a restart), and every expiry record whose key is gone.
   */
  load(): void {
    this.#pending.clear();
    this.#pendingBytes = 0;
    this.dbs.length = 0;
    this.garbage.clear();
    for (let i = 0; i < this.databases; i++) this.dbs.push(new Dict());
    const byGen = new Map<number, Collection>();
    let maxGen = 0;
    for (const [k, v] of this.store.unordered(Buffer.from([NS_KEY]), { encoding: 'latin1' })) {
      const db = k.charCodeAt(1);
      if (db >= this.databases || v.length < 1) continue;
      const key = k.slice(KEY_PREFIX);
      const type = v.charCodeAt(0);
      this.dbs[db].add(key, type);
      if (!COLLECTION_TYPES.has(type) || v.length !== META_BYTES) continue;
      const gen = genOfChars(v, 1);
      const c: Collection = { db, key, type, gen, data: typeOf(type).create() };
      this.dbs[db].colls.set(key, c);
      byGen.set(gen, c);
      if (gen > maxGen) maxGen = gen;
    }
    const stale: KVBatchOp[] = [];
    const now = this.now();
    for (const [k, v] of this.store.unordered(Buffer.from([NS_EXPIRE]))) {
      const db = k[1];
      const key = k.toString('latin1', KEY_PREFIX);
      const d = this.dbs[db];
      if (d === undefined || d.type(key) === undefined || v.length !== 8) {
        stale.push({ type: 'del', key: k });
        continue;
      }
      const at = v.readDoubleLE(0);
      if (at <= now) {
        stale.push({ type: 'del', key: k }, { type: 'del', key: storeKey(NS_KEY, db, key) });
        const c = d.colls.get(key);
        if (c !== undefined) byGen.delete(c.gen); // its elements are garbage now
        d.remove(key);
        this.expiredKeys++;
      } else d.expires.set(key, at);
    }
    const scan = scanElements(this.store, byGen);
    this.garbage.addKeys(scan.orphans);
    this.#nextGen = Math.max(maxGen, scan.maxGen) + 1;
    // A META without elements (none is ever committed so) would be an empty collection, which Redis never shows: it goes.
    for (const c of byGen.values()) {
      if (typeOf(c.type).size(c.data) > 0) continue;
      stale.push({ type: 'del', key: storeKey(NS_KEY, c.db, c.key) });
      if (this.dbs[c.db].expires.has(c.key)) stale.push({ type: 'del', key: storeKey(NS_EXPIRE, c.db, c.key) });
      this.dbs[c.db].remove(c.key);
    }
    if (this.replicated) {
      // Through the journal with the first round: the backups delete them too.
      for (const op of stale) this.#write((op.key as Buffer).toString('latin1'), null);
    } else if (stale.length > 0) {
      // One batch: the expired keys go together, durably, before any client connects.
      this.store.batch(stale);
    }
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  get hasPending(): boolean {
    return this.#pending.size > 0;
  }

  /**
   * Writes the pending changes as one KVStore batch: one record and one
   * fence, all or nothing across a crash. Durable when it returns; only
   * then may the replies that depend on it be sent.
   * @returns entries written
   * @throws what KVStore.batch throws (ERR_PMEM_NO_SPACE): nothing of the batch is written
   */
  commit(): number {
    if (this.#pending.size === 0) return 0;
    const ops: KVBatchOp[] = [];
    for (const [k, v] of this.#pending) {
      const key = storeArg(k);
      ops.push(v === null ? { type: 'del', key } : { type: 'put', key, value: v });
    }
    this.#pending.clear();
    this.#pendingBytes = 0;
    this.store.batch(ops); // the batch's one fence: after it every write of the batch is durable
    this.commits++;
    this.committedEntries += ops.length;
    this.lastCommit = Date.now();
    return ops.length;
  }

  /**
   * The pending changes as one round of a replicated store (`replicated`):
   * the ops to commit through the journal. They stay readable here until
   * appliedThrough(id) says the store holds them.
   */
  takePending(): { id: number; ops: Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }> } {
    const ops: Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }> = [];
    for (const [k, v] of this.#pending) {
      const key = Buffer.from(k, 'latin1');
      ops.push(v === null ? { type: 'del', key } : { type: 'put', key, value: v });
    }
    const id = ++this.#rounds;
    this.#inflight.push({ id, writes: this.#pending });
    this.#pending = new Map();
    this.#pendingBytes = 0;
    this.commits++;
    this.committedEntries += ops.length;
    this.lastCommit = Date.now();
    return { id, ops };
  }

  /** The store has applied every round up to `id`: reads of them go to the store again. */
  appliedThrough(id: number): void {
    while (this.#inflight.length > 0 && this.#inflight[0].id <= id) this.#inflight.shift();
  }

  /** Drops the pending changes and rebuilds DRAM from the store: the state of the last commit. */
  rollback(): void {
    this.load();
  }

  #write(sk: string, v: Buffer | null): void {
    this.#pending.set(sk, v);
    this.#pendingBytes += sk.length + (v === null ? 0 : v.length);
  }

  #read(sk: string): Buffer | undefined {
    const p = this.#pending.get(sk);
    if (p !== undefined) return p === null ? undefined : p;
    for (let i = this.#inflight.length - 1; i >= 0; i--) {
      const f = this.#inflight[i].writes.get(sk);
      if (f !== undefined) return f === null ? undefined : f;
    }
    return this.store.get(storeArg(sk));
  }

  /** Whether `key` has expired; if so it is deleted (in the pending batch). */
  #expireIfDue(db: number, key: string): boolean {
    const d = this.dbs[db];
    const at = d.expires.get(key);
    if (at === undefined || at > this.now()) return false;
    this.#delete(db, key);
    this.expiredKeys++;
    return true;
  }

  /** The type byte of a live key, or undefined. */
  type(db: number, key: string): number | undefined {
    const d = this.dbs[db];
    if (d.type(key) === undefined) return undefined;
    if (this.#expireIfDue(db, key)) return undefined;
    return d.type(key);
  }

  exists(db: number, key: string): boolean {
    return this.type(db, key) !== undefined;
  }

  /** The payload of a live key (after its type byte), with its type; undefined when absent. */
  get(db: number, key: string): { type: number; value: Buffer } | undefined {
    const type = this.type(db, key);
    if (type === undefined) return undefined;
    const v = this.#read(storeKey(NS_KEY, db, key));
    if (v === undefined) return undefined;
    return { type: v[0], value: v.subarray(1) };
  }

  /**
   * Sets `key` to a value of `type`. `expireAt`: 'keep' keeps the key's
   * expiry (KEEPTTL), null removes it, a number sets it.
   */
  set(db: number, key: string, type: number, payload: Buffer, expireAt: number | null | 'keep'): void {
    const d = this.dbs[db];
    const v = Buffer.allocUnsafe(payload.length + 1);
    v[0] = type;
    payload.copy(v, 1);
    this.#dropCollection(d, key); // the new value's META or string overwrites the old one's in the same batch
    d.add(key, type);
    this.#write(storeKey(NS_KEY, db, key), v);
    if (expireAt === null) {
      if (d.expires.delete(key)) this.#write(storeKey(NS_EXPIRE, db, key), null);
    } else if (expireAt !== 'keep') this.#setExpire(db, key, expireAt);
    this.onTouch(db, key);
  }

  #setExpire(db: number, key: string, at: number): void {
    this.dbs[db].expires.set(key, at);
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(at, 0);
    this.#write(storeKey(NS_EXPIRE, db, key), b);
  }

  /** A collection at `key` dies: its elements go to the lazy-free queue (only its META's delete or overwrite is in the batch). */
  #dropCollection(d: Dict, key: string): void {
    const c = d.colls.get(key);
    if (c === undefined) return;
    d.colls.delete(key);
    this.garbage.add(c);
  }

  #delete(db: number, key: string): boolean {
    const d = this.dbs[db];
    const hadExpire = d.expires.has(key);
    this.#dropCollection(d, key);
    if (!d.remove(key)) return false;
    this.#write(storeKey(NS_KEY, db, key), null);
    if (hadExpire) this.#write(storeKey(NS_EXPIRE, db, key), null);
    this.onTouch(db, key);
    return true;
  }

  /** Deletes a live key. @returns whether it was there */
  delete(db: number, key: string): boolean {
    if (this.type(db, key) === undefined) return false;
    return this.#delete(db, key);
  }

  /** The expiry time of a live key (ms), null for none, undefined when absent. */
  expireOf(db: number, key: string): number | null | undefined {
    if (this.type(db, key) === undefined) return undefined;
    return this.dbs[db].expires.get(key) ?? null;
  }

  /** Sets a live key's expiry; a time already past deletes the key. */
  expire(db: number, key: string, at: number): void {
    if (at <= this.now()) {
      this.#delete(db, key);
      this.expiredKeys++;
      return;
    }
    this.#setExpire(db, key, at);
    this.onTouch(db, key);
  }

  /** Removes a live key's expiry. @returns whether it had one */
  persist(db: number, key: string): boolean {
    if (this.type(db, key) === undefined) return false;
    if (!this.dbs[db].expires.delete(key)) return false;
    this.#write(storeKey(NS_EXPIRE, db, key), null);
    this.onTouch(db, key);
    return true;
  }

  /**
   * The live collection at `key`, or undefined when the key is absent.
   * @throws ReplyError WRONGTYPE when the key holds another type
   */
  collection<T>(db: number, key: string, type: number): Collection<T> | undefined {
    const t = this.type(db, key);
    checkType(t, type);
    return t === undefined ? undefined : (this.dbs[db].colls.get(key) as Collection<T>);
  }

  /**
   * The live collection at `key`, created empty (a new generation, its META
   * in the batch) when absent. A command that leaves it empty calls
   * `deleteIfEmpty`.
   * @throws ReplyError WRONGTYPE when the key holds another type
   */
  createCollection<T>(db: number, key: string, type: number): Collection<T> {
    const have = this.collection<T>(db, key, type);
    if (have !== undefined) return have;
    const gen = this.#nextGen++;
    this.set(db, key, type, metaPayload(gen), null);
    const c: Collection = { db, key, type, gen, data: typeOf(type).create() };
    this.dbs[db].colls.set(key, c);
    return c as Collection<T>;
  }

  /** Writes element `id` of `c` into the batch (the caller updates `c.data`); `payload` is held, unchanged, until the commit. */
  putElement(c: Collection, id: string, payload: Buffer): void {
    this.#write(elementKey(c.gen, id), payload);
    this.onTouch(c.db, c.key);
    this.#written(c.db, c.key);
  }

  /** Deletes element `id` of `c` in the batch (the caller updates `c.data`). */
  deleteElement(c: Collection, id: string): void {
    this.#write(elementKey(c.gen, id), null);
    this.onTouch(c.db, c.key);
  }

  /** Deletes `c`'s key when it has no elements left, as Redis does. @returns whether it did */
  deleteIfEmpty(c: Collection): boolean {
    if (typeOf(c.type).size(c.data) > 0 || this.dbs[c.db].colls.get(c.key) !== c) return false;
    return this.#delete(c.db, c.key);
  }

  /** Calls `fn(db, key)` whenever a key gets elements (an element written, or a collection renamed, moved or copied there). */
  addWriteListener(fn: TouchListener): void {
    this.#writeListeners.push(fn);
  }

  /** Tells the write listeners that `key` got elements (a collection moved or copied there). */
  written(db: number, key: string): void {
    this.#written(db, key);
  }

  #written(db: number, key: string): void {
    for (const fn of this.#writeListeners) fn(db, key);
  }

  /**
   * Deletes, in the batch, up to FREE_STEP element records of dead
   * collections. Garbage needs no particular batch: a crash before its
   * deletes leaves records that the next open finds orphaned again.
   * @returns records deleted
   */
  freeStep(): number {
    const keys = this.garbage.take(FREE_STEP);
    for (const k of keys) this.#write(k, null);
    return keys.length;
  }

  size(db: number): number {
    return this.dbs[db].size;
  }

  /** The keys of `db` that have not expired (a snapshot). */
  liveKeys(db: number): string[] {
    const d = this.dbs[db];
    const now = this.now();
    return d.keys.filter((k) => {
      const at = d.expires.get(k);
      return at === undefined || at > now;
    });
  }

  randomKey(db: number): string | undefined {
    const d = this.dbs[db];
    // Expired keys met on the way are deleted; a bounded number of tries, as Redis does.
    for (let tries = 0; tries < 100 && d.size > 0; tries++) {
      const k = d.keys[Math.floor(Math.random() * d.size)];
      if (!this.#expireIfDue(db, k)) return k;
    }
    return d.size > 0 ? d.keys[Math.floor(Math.random() * d.size)] : undefined;
  }

  /** Deletes every key of `db` (in the pending batch). */
  flush(db: number): void {
    const d = this.dbs[db];
    const keys = d.keys.slice();
    for (const c of d.colls.values()) this.garbage.add(c);
    for (const k of keys) this.#write(storeKey(NS_KEY, db, k), null);
    for (const k of d.expires.keys()) this.#write(storeKey(NS_EXPIRE, db, k), null);
    d.clear();
    // Touched once gone, so that a key that was already stale when watched counts as no change.
    for (const k of keys) this.onTouch(db, k);
  }

  /**
   * Deletes up to `limit` expired keys of `db`, scanning at most `budget`
   * expiry entries from where the last call stopped.
   * @returns keys deleted
   */
  expireCycle(db: number, budget: number, limit: number): number {
    const d = this.dbs[db];
    const now = this.now();
    let n = 0;
    let seen = 0;
    const due: string[] = [];
    const later: [string, number][] = [];
    for (const [k, at] of d.expires) {
      if (seen++ >= budget || due.length >= limit) break;
      if (at <= now) due.push(k);
      else later.push([k, at]);
    }
    // Keys not yet due go to the end of the map, so the next cycle starts where this one stopped.
    for (const [k, at] of later) {
      d.expires.delete(k);
      d.expires.set(k, at);
    }
    for (const k of due) {
      if (this.#delete(db, k)) {
        n++;
        this.expiredKeys++;
      }
    }
    return n;
  }

  /** Keys with an expiry, over every database. */
  get expiresCount(): number {
    let n = 0;
    for (const d of this.dbs) n += d.expires.size;
    return n;
  }
}

/**
 * A store key (latin1) as KVStore takes it: an ASCII string is its own
 * bytes and goes as it is; any other is passed as its bytes (KVStore
 * would read a string as UTF-8).
 */
function storeArg(sk: string): string | Buffer {
  return Buffer.byteLength(sk, 'utf8') === sk.length ? sk : Buffer.from(sk, 'latin1');
}

/** The store key of `key` in namespace `ns` of database `db`. */
export function storeKey(ns: number, db: number, key: string): string {
  return String.fromCharCode(ns, db) + key;
}
