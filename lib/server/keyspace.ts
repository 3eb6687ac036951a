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
import { ReplyError } from './client';
import { checkType, type Collection, elementKey, Garbage, metaPayload, typeOf } from './collections';
import type { Dict, StringEncoding } from './dict';
import { loadKeyspace } from './keyspace-load';
import { MAP_MAX, type Members, roomForOne } from './members';
import { Notifier, NOTIFY_EXPIRED, NOTIFY_NEW } from './notify';
import { PendingWrites, storeArg } from './pending';
import { MARKER_KEY, MARKER_VALUE, MAX_STRING, NS_EXPIRE, NS_KEY, storeKey } from './records';

/** The slots a collection's *SCAN walks (Dict.followOrder), for a type that has them. */
const membersOf = (c: Collection): Members<unknown> | undefined => typeOf(c.type).members?.(c.data);

/** Called with (db, key) whenever a key changes: WATCH's bookkeeping. */
export type TouchListener = (db: number, key: string) => void;

/** Elements deleted per lazy-free step. */
const FREE_STEP = 1000;
/** The bytes of the deletes of expired keys' records in one batch at load, at most. */
const STALE_BYTES = 256 * 1024;

export class Keyspace {
  readonly dbs: Dict[] = [];
  /** The turn's writes, and the replicated rounds in flight: what reads see before the store's. */
  readonly #pending = new PendingWrites();
  /** Keys expired (lazily or actively) and deleted since start. */
  expiredKeys = 0;
  /** Batches committed and entries in them, since start. */
  commits = 0;
  committedEntries = 0;
  lastCommit = Date.now();
  onTouch: TouchListener = () => {};
  /** The clock expiry is measured against; a test may replace it. */
  now: () => number = Date.now;
  /** Whether a due key is kept for now (CLIENT PAUSE, pause.ts): it reads as absent, and no delete is written. */
  holdExpired: () => boolean = () => false;
  /** Element records of dead collections, waiting to be deleted. */
  readonly garbage = new Garbage();
  /** The next collection generation: one more than any in the store. */
  #nextGen = 1;
  #writeListeners: TouchListener[] = [];
  /** Keyspace notifications: raised by the keyspace (new, expired) and the commands, published after their batch's commit. */
  readonly notify = new Notifier();

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
   * Rebuilds the DRAM dictionaries from the store (keyspace-load.ts), and
   * deletes, durably, every key whose time has passed (so an expired key
   * never comes back after a restart), every expiry record whose key is
   * gone, and every collection META without elements.
   *
   * With `write` false (a rollback after a failed commit: the store may be
   * full) it writes nothing, and those deletes go to the lazy free's queue
   * instead, a bounded number per batch; DRAM holds none of those keys
   * either way.
   */
  load(write = true): void {
    this.#pending.clear();
    this.garbage.clear();
    // Through the rounds in flight: a replicated store applies them only once the backups have them.
    const loaded = loadKeyspace(this.#pending.over(this.store), this.databases, this.now());
    // A rebuild keeps the order of the keys and elements it had (SCAN's cursors).
    for (let i = 0; i < loaded.dbs.length && i < this.dbs.length; i++) loaded.dbs[i].followOrder(this.dbs[i], membersOf);
    this.dbs.length = 0;
    this.dbs.push(...loaded.dbs);
    this.garbage.addKeys(loaded.orphans);
    this.#nextGen = loaded.nextGen;
    this.expiredKeys += loaded.expired;
    // A key's record goes no later than its expiry record: deletes cut
    // short (a crash between batches, a failed one) never leave a key
    // whose expiry is gone, which would live for good. An expiry record,
    // or elements, left without their key are cleaned at the next load.
    const stale = [...loaded.stale.filter((op) => (op.key as Buffer)[0] !== NS_EXPIRE), ...loaded.stale.filter((op) => (op.key as Buffer)[0] === NS_EXPIRE)];
    if (this.replicated) {
      // Through the journal with the first round: the backups delete them too.
      for (const op of stale) this.#write((op.key as Buffer).toString('latin1'), null);
    } else if (!write) {
      this.garbage.addKeys(stale.map((op) => (op.key as Buffer).toString('latin1')));
    } else if (stale.length > 0 || loaded.unmarked) {
      // Batches of at most STALE_BYTES (and a quarter of a segment), before
      // any client connects, the first with the marker that makes the store
      // the keyspace's (keyspace-load.ts): each a record a store full of
      // expired keys has room for, since a delete may open a segment that
      // puts leave free, and the space it kills is cleaned as the next ones
      // go. A replicated server's store is not marked: its writes go
      // through the journal, and the checks run at each open.
      const marker: KVBatchOp[] = loaded.unmarked ? [{ type: 'put', key: MARKER_KEY, value: MARKER_VALUE }] : [];
      const most = Math.min(STALE_BYTES, this.store.stats().segmentSize / 4);
      let ops = marker;
      let bytes = 0;
      for (const op of stale) {
        const size = 16 + (op.key as Buffer).length; // its entry's header and key, with padding
        if (ops.length > 0 && bytes + size > most) {
          this.store.batch(ops);
          ops = [];
          bytes = 0;
        }
        ops.push(op);
        bytes += size;
      }
      if (ops.length > 0) this.store.batch(ops);
    }
  }

  /** The pending changes' bytes as one journal record of a replicated store. */
  get pendingRecordBytes(): number {
    return this.#pending.recordBytes;
  }

  get pendingBytes(): number {
    return this.#pending.bytes;
  }

  get hasPending(): boolean {
    return this.#pending.size > 0;
  }

  /** Writes made so far, ever: a command that changed it has written to the pending batch. */
  get writesMade(): number {
    return this.#pending.written;
  }

  /**
   * Writes the pending changes as one KVStore batch: one record and one
   * fence, all or nothing across a crash. Durable when it returns; only
   * then may the replies that depend on it be sent.
   * @returns entries written
   * @throws what KVStore.batch throws (ERR_PMEM_NO_SPACE): nothing of the batch is written
   */
  commit(): number {
    const n = this.#pending.size;
    if (n === 0) return 0;
    try {
      // One record of the batch's writes, straight from the pending map (its
      // keys are distinct store keys): the batch's one fence, after which
      // every write of the batch is durable.
      this.store.writeDistinct(this.#pending.writes);
    } finally {
      this.#pending.clear(); // written or refused whole: nothing of it stays pending
    }
    this.notify.committed();
    this.commits++;
    this.committedEntries += n;
    this.lastCommit = Date.now();
    return n;
  }

  /**
   * The pending changes as one round of a replicated store (`replicated`):
   * the ops to commit through the journal. They stay readable here until
   * appliedThrough(id) says the store holds them.
   */
  takePending(): ReturnType<PendingWrites['takeRound']> {
    const round = this.#pending.takeRound();
    // The round's events go out with its replies, which wait for the backups (ReplicatedCommit.deliver).
    this.notify.committed();
    this.commits++;
    this.committedEntries += round.ops.length;
    this.lastCommit = Date.now();
    return round;
  }

  /** The store has applied every round up to `id`: reads of them go to the store again. */
  appliedThrough(id: number): void {
    this.#pending.appliedThrough(id);
  }

  /**
   * Drops the pending changes and rebuilds DRAM from the store: the state
   * of the last commit. Writes nothing: the commit that failed may have
   * found the store full.
   */
  rollback(): void {
    this.notify.drop();
    this.load(false);
  }

  #write(sk: string, v: Buffer | null): void {
    this.#pending.write(sk, v);
  }

  #read(sk: string): Buffer | undefined {
    const p = this.#pending.read(sk);
    if (p !== undefined) return p === null ? undefined : p;
    return this.store.get(storeArg(sk));
  }

  /** Whether `key` has expired; if so it is deleted (in the pending batch). */
  #expireIfDue(db: number, key: string): boolean {
    const d = this.dbs[db];
    const at = d.expires.get(key);
    if (at === undefined || at > this.now()) return false;
    // Clients paused: the key reads as absent, and stays until the pause is over.
    if (this.holdExpired()) return true;
    this.#delete(db, key);
    this.expiredKeys++;
    this.notify.raise(NOTIFY_EXPIRED, 'expired', db, key);
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
    return this.type(db, key) === undefined ? undefined : this.peek(db, key);
  }

  /**
   * The payload of `key` with its type, expired or not: a key past its
   * time is still there until lazy or active expiry deletes it, and this
   * neither deletes it nor counts it expired (Redis's dictFind on the
   * keyspace, which DEBUG OBJECT uses); undefined when absent.
   */
  peek(db: number, key: string): { type: number; value: Buffer } | undefined {
    if (this.dbs[db].type(key) === undefined) return undefined;
    const v = this.#read(storeKey(NS_KEY, db, key));
    if (v === undefined) return undefined;
    return { type: v[0], value: v.subarray(1) };
  }

  /**
   * Sets `key` to a value of `type`. `expireAt`: 'keep' keeps the key's
   * expiry (KEEPTTL), null removes it, a number sets it.
   */
  set(db: number, key: string, type: number, payload: Buffer, expireAt: number | null | 'keep'): void {
    // The record holds the type byte and the payload: refused here, before
    // anything changes, and not at the commit, where the whole batch would go.
    if (payload.length > MAX_STRING) throw new ReplyError('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
    const d = this.dbs[db];
    if (typeof expireAt === 'number' && !d.expires.has(key)) roomForOne(d.expires, `database ${db}'s map of expiry times`);
    const v = Buffer.allocUnsafe(payload.length + 1);
    v[0] = type;
    v.set(payload, 1);
    this.#dropCollection(d, key); // the new value's META or string overwrites the old one's in the same batch
    // Redis's dbAdd: a key that was not there is 'new' (raised before the command's own event).
    if (this.notify.flags !== 0 && d.type(key) === undefined) this.notify.raise(NOTIFY_NEW, 'new', db, key);
    d.add(key, type);
    // A new value: its bytes decide its encoding, unless pinEncoding says
    // otherwise. (Each map is looked at only when it holds keys: a SET of a
    // key of no collection, expiry or pinned encoding hashes no JS string.)
    if (d.strEncodings.size !== 0) d.strEncodings.delete(key);
    this.#write(storeKey(NS_KEY, db, key), v);
    if (expireAt === null) {
      if (d.expires.size !== 0 && d.expires.delete(key)) this.#write(storeKey(NS_EXPIRE, db, key), null);
    } else if (expireAt !== 'keep') this.#setExpire(db, key, expireAt);
    this.onTouch(db, key);
  }

  /**
   * Gives string `key`, just written by `set`, an OBJECT ENCODING that its
   * bytes do not decide (Dict.strEncodings), until its next `set`.
   */
  pinEncoding(db: number, key: string, enc: StringEncoding): void {
    const m = this.dbs[db].strEncodings;
    // Only OBJECT ENCODING reads it: a full map leaves the key's bytes to decide.
    if (m.size < MAP_MAX || m.has(key)) m.set(key, enc);
  }

  #setExpire(db: number, key: string, at: number): void {
    const m = this.dbs[db].expires;
    if (!m.has(key)) roomForOne(m, `database ${db}'s map of expiry times`);
    m.set(key, at);
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(at, 0);
    this.#write(storeKey(NS_EXPIRE, db, key), b);
  }

  /** A collection at `key` dies: its elements go to the lazy-free queue (only its META's delete or overwrite is in the batch). */
  #dropCollection(d: Dict, key: string): void {
    if (d.colls.size === 0) return;
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

  /** Sets a live key's expiry; a time already past deletes the key. @returns whether it deleted the key */
  expire(db: number, key: string, at: number): boolean {
    if (at <= this.now()) {
      // A delete, not an expiry: Redis counts it in no expired_keys either.
      this.#delete(db, key);
      return true;
    }
    this.#setExpire(db, key, at);
    this.onTouch(db, key);
    return false;
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
    roomForOne(this.dbs[db].colls, `database ${db}'s map of collections`);
    const gen = this.#nextGen++;
    this.set(db, key, type, metaPayload(gen), null);
    const c: Collection = { db, key, type, gen, data: typeOf(type).create() };
    this.dbs[db].colls.set(key, c);
    return c as Collection<T>;
  }

  /**
   * A new empty collection at `key`, replacing whatever the key held (a
   * STORE command's destination). As Redis overwrites in place, the key is
   * 'new' only when it was absent.
   */
  replaceCollection<T>(db: number, key: string, type: number): Collection<T> {
    return this.replacing(db, key, () => {
      if (!this.delete(db, key) || this.notify.flags === 0) return this.createCollection<T>(db, key, type);
      return this.notify.muted(() => this.createCollection<T>(db, key, type));
    });
  }

  /**
   * Runs `replace`, which deletes `key` and writes it again, and keeps the
   * key's place in the key order (Dict.putBack) when it was there: a key
   * present for a whole SCAN is returned, also when it is overwritten.
   */
  replacing<T>(db: number, key: string, replace: () => T): T {
    const at = this.dbs[db].slots.get(key);
    const r = replace();
    if (at !== undefined) this.dbs[db].putBack(key, at);
    return r;
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
   * One round of active expiry in `db`: looks at up to `look` expiry
   * entries, continuing where the last round stopped, and deletes the keys
   * that are due (in the pending batch).
   * @returns the entries looked at, those due, and the keys deleted
   */
  expireRound(db: number, look: number): { seen: number; due: number; deleted: number } {
    const d = this.dbs[db];
    const now = this.now();
    let seen = 0;
    const due: string[] = [];
    const later: [string, number][] = [];
    for (const [k, at] of d.expires) {
      if (seen >= look) break;
      seen++;
      if (at <= now) due.push(k);
      else later.push([k, at]);
    }
    // Keys not yet due go to the end of the map, so the next round starts where this one stopped.
    let ttlSum = 0;
    for (const [k, at] of later) {
      d.expires.delete(k);
      d.expires.set(k, at);
      ttlSum += at - now;
    }
    d.sampleTtl(ttlSum, later.length);
    let deleted = 0;
    for (const k of due) {
      if (this.#delete(db, k)) {
        deleted++;
        this.expiredKeys++;
        this.notify.raise(NOTIFY_EXPIRED, 'expired', db, k);
      }
    }
    return { seen, due: due.length, deleted };
  }

  /** Keys with an expiry, over every database. */
  get expiresCount(): number {
    let n = 0;
    for (const d of this.dbs) n += d.expires.size;
    return n;
  }
}
