import { checkBoolean, checkOptions, checkPath, isUint8Array, viewLength } from '../core/args';
import type { NativeLock } from '../core/binding';
import { closedError, PmemError } from '../core/errors';
import {
  batchEntries, checkSegmentSize, keyOf, newPutKey, openArgs, type PutKey, rangeArgs, setPutKey, setValue, type KVData,
} from './args';
import {
  DEFAULT_SEGMENT, entry, ENTRY_DEL, ENTRY_HEADER_BYTES, ENTRY_PUT, keyLength, MAX_KEY, MAX_VALUE, valueCopy, valueInto, valueLength,
} from './format';
import { KvFollower } from './follow';
import { readCount, readerKey, readHas, readInto, readString, readValue } from './follow-reads';
import { RESERVE_DEL, RESERVE_PUT } from './compact';
import { KvLog, type Entry } from './log';
import { readersPinned } from './pin';
import { latin1If, unorderedArgs, unorderedEntries } from './unordered';
import { indexRange, keysOf } from './range';
import { type Created, openKvFile, remapFile, syncSize, undoCreate } from './store-file';
import type { KVBatchOp, KVOpenOptions, KVRangeOptions, KVRegionOptions, KVStats } from './types';
import type { Mapping } from '../core/mapping';
import { checkRegion, type Region } from '../core/region';
import type { IndexRange } from './hash-index';

const REGION_OPTIONS = ['create', 'readOnly', 'segmentSize'];

/**
 * A persistent key-value store: records in a log of segments on the region,
 * an index in DRAM. Every mutating call is durable when it returns, with one
 * ordering point (one fence) per call. See docs/api.md (KVStore) and the design in
 * docs/ARCHITECTURE.md ("KVStore").
 */
export class KVStore {
  #log: KvLog;
  #mapping: Mapping | null = null;
  #path: string | undefined;
  #lock: NativeLock | null = null;
  /** What this open made the file from (openStoreFile): set only when this very open created it. */
  #created: Created;
  #readOnly: boolean;
  /** A read-only store opened by path (follow.ts). */
  #follow: KvFollower | null;
  #closed = false;
  /** The value of the put in progress, read once (setValue): one object for every put. */
  readonly #put: Entry = entry(ENTRY_PUT, '', null, 0);
  /** The key of the put in progress, read once (setPutKey): one object for every put. */
  readonly #putKey: PutKey = newPutKey();
  /** delete()'s record of one tombstone, reused (its key is set for the call). */
  readonly #del: Entry[] = [entry(ENTRY_DEL, '', null, 0)];

  /**
   * Opens (and with `create`, creates) a store file, takes its lock and
   * runs `recover()`. With `readOnly`: no lock; it follows a writer's log
   * beside it (docs/api.md, "Readers beside the writer").
   * With `create`, only a missing or empty file is made (see
   * docs/formats.md, "Creating a file"); any other file must be a store.
   * A failed open leaves the file as it was: nothing is resized or written.
   * @throws PmemError ERR_PMEM_LOCKED (a writable open while another writer
   *   holds the store), ERR_PMEM_NOT_FOUND,
   *   ERR_PMEM_NOT_A_STORE (the file holds something else: the message
   *   says what), ERR_PMEM_CORRUPT (a store, damaged); TypeError, RangeError
   */
  static open(path: string, options: KVOpenOptions = {}): KVStore {
    checkPath(path);
    const args = openArgs(options);
    const { readOnly, segmentSize } = args;
    let maxSize = args.maxSize;
    // The lock, then the signature, then the mapping (store-file.ts).
    const { lock, mapping, created } = openKvFile(path, args, (m) => {
      new KVStore(m, { create: true, readOnly: false, segmentSize }, m.length);
    });
    try {
      if (readOnly) {
        // A reader holds no lock (openKvFile's handle for it is a plain
        // descriptor): writers come and go beside it. It keeps the
        // descriptor, to map the file again through it (KvFollower).
        const reader = new KVStore(mapping, { create: false, readOnly, segmentSize }, 0, path, new KvFollower(path, lock.fd, mapping));
        reader.#lock = lock;
        return reader;
      }
      if (maxSize === 0 || maxSize < mapping.length) maxSize = mapping.length;
      const syncLength = (): void => syncSize(lock.fd);
      const pinned = (): boolean => readersPinned(lock.fd);
      const store = new KVStore(mapping, { create: false, readOnly, segmentSize, syncLength, readersPinned: pinned }, maxSize, path);
      store.#mapping = mapping;
      store.#lock = lock;
      store.#created = created;
      return store;
    } catch (e) {
      mapping.close();
      lock.release();
      throw e;
    }
  }

  /**
   * Opens a store on a Region (a CrashSim, or a Mapping the caller owns)
   * and runs `recover()`. No lock is taken and the store cannot grow.
   * @throws PmemError ERR_PMEM_CORRUPT
   */
  static openRegion(region: Region, options: KVRegionOptions = {}): KVStore {
    checkRegion(region);
    const o = checkOptions(options, REGION_OPTIONS) as KVRegionOptions;
    const create = checkBoolean(o.create === undefined ? false : o.create, 'create');
    const readOnly = checkBoolean(o.readOnly === undefined ? false : o.readOnly, 'readOnly');
    const segmentSize = checkSegmentSize(o.segmentSize === undefined ? DEFAULT_SEGMENT : o.segmentSize);
    return new KVStore(region, { create, readOnly, segmentSize }, region.length);
  }

  private constructor(
    region: Region, o: { create: boolean; readOnly: boolean; segmentSize: number; syncLength?: () => void; readersPinned?: () => boolean },
    maxSize: number, path?: string, follow?: KvFollower,
  ) {
    this.#readOnly = o.readOnly;
    this.#path = path;
    this.#follow = follow ?? null;
    this.#log = follow?.log ?? new KvLog(region, { ...o, path }, maxSize, path === undefined ? null : (bytes) => this.#remap(bytes));
  }

  /** Keys in the store. */
  get count(): number {
    this.#assertOpen();
    if (this.#follow !== null) return this.#follow.read(readCount);
    return this.#log.index.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Stores `value` under `key`. Durable when it returns: after a crash the
   * key holds this value (or a later one).
   * @throws PmemError ERR_PMEM_NO_SPACE (full at maxSize: nothing is
   *   written), ERR_PMEM_READONLY, ERR_PMEM_CLOSED; TypeError; RangeError
   *   (key over 4096 bytes, value over 64 MiB)
   */
  put(key: KVData, value: KVData): void {
    this.#writable();
    const k = this.#putKey;
    setPutKey(k, key);
    const e = this.#put;
    try {
      setValue(e, value);
      this.#log.appendPut(k.key as string | Uint8Array, k.klen, e.value as Uint8Array | string, e.vlen);
    } finally {
      k.key = null; // holds no caller's buffer past the call
      e.value = null;
    }
  }

  /** The value of `key` (a copy), or undefined. */
  get(key: KVData): Buffer | undefined {
    this.#assertOpen();
    if (this.#follow !== null) return this.#follow.read(readValue, readerKey(key));
    const off = this.#lookup(key);
    if (off === undefined) return undefined;
    return valueCopy(this.#log.view, off);
  }

  /**
   * Copies the value of `key` to the start of `target`, allocating nothing.
   * @returns the value's length, or -1 when the key is absent
   * @throws RangeError when `target` is shorter than the value (nothing is
   *   written), or for a key over 4096 bytes; TypeError (also for a target
   *   over a detached ArrayBuffer); PmemError ERR_PMEM_CLOSED
   */
  getInto(key: KVData, target: Uint8Array): number {
    this.#assertOpen();
    // Its length through the view's internal slot: a `length` getter of the
    // caller's would run between the lookup and the copy, and could move
    // or overwrite the entry found. A detached target is a TypeError.
    const room = viewLength(target, 'target');
    if (this.#follow !== null) return this.#follow.read(readInto, readerKey(key), target);
    return valueInto(this.#log, this.#lookup(key), target, room);
  }

  /** The value of `key` decoded as UTF-8, or undefined. */
  getString(key: KVData): string | undefined {
    this.#assertOpen();
    if (this.#follow !== null) return this.#follow.read(readString, readerKey(key));
    const off = this.#lookup(key);
    if (off === undefined) return undefined;
    const b = this.#log.bytes;
    const start = off + ENTRY_HEADER_BYTES + keyLength(b, off);
    return b.toString('utf8', start, start + valueLength(b, off));
  }

  has(key: KVData): boolean {
    this.#assertOpen();
    if (this.#follow !== null) return this.#follow.read(readHas, readerKey(key));
    return this.#lookup(key) !== undefined;
  }

  /**
   * Removes `key`. Durable when it returns. Writes nothing when the key is
   * absent. A delete may take one of the two segments that puts leave free.
   * @returns whether the key was there
   * @throws PmemError ERR_PMEM_NO_SPACE, ERR_PMEM_READONLY, ERR_PMEM_CLOSED
   */
  delete(key: KVData): boolean {
    this.#writable();
    const k = keyOf(key);
    if (this.#log.index.get(k) === undefined) return false;
    const del = this.#del;
    del[0].key = k;
    try {
      this.#log.append(del, RESERVE_DEL);
    } finally {
      del[0].key = ''; // holds no key past the call
    }
    return true;
  }

  /**
   * Applies puts and deletes, in order, as one record: all or nothing, also
   * across a crash. Durable when it returns. Every op is checked before
   * anything is written.
   * @throws PmemError ERR_PMEM_NO_SPACE, ERR_PMEM_READONLY, ERR_PMEM_CLOSED;
   *   TypeError, RangeError for a bad op (nothing is written)
   */
  batch(ops: readonly KVBatchOp[]): void {
    this.#writable();
    const { entries, puts } = batchEntries(ops, (k) => this.#log.index.get(k) !== undefined);
    this.#writable(); // reading the ops ran their getters, which may have closed the store
    if (entries.length > 0) this.#log.append(entries, puts ? RESERVE_PUT : RESERVE_DEL);
  }

  /**
   * @internal batch() for writes already held as the index holds keys
   * (pmem serve's pending writes): `writes` maps distinct one-byte key
   * strings (each char one byte of the key) to a value, or to null for a
   * delete. One record, one fence, all or nothing, as batch(); but no op
   * object is read and no key or value converted, so the caller must not
   * change a value during the call. A delete of an absent key writes
   * nothing. @returns the entries written
   * @throws RangeError (a key or value too long; nothing is written),
   *   PmemError ERR_PMEM_NO_SPACE, ERR_PMEM_READONLY, ERR_PMEM_CLOSED
   */
  writeDistinct(writes: ReadonlyMap<string, Uint8Array | null>): number {
    this.#writable();
    const entries: Entry[] = [];
    let puts = false;
    for (const [key, value] of writes) {
      if (key.length > MAX_KEY) throw new RangeError(`a key of ${key.length} bytes; the limit is ${MAX_KEY}`);
      if (value === null) {
        if (this.#log.index.get(key) !== undefined) entries.push(entry(ENTRY_DEL, key, null, 0));
      } else {
        if (value.length > MAX_VALUE) throw new RangeError(`a value of ${value.length} bytes; the limit is ${MAX_VALUE}`);
        entries.push(entry(ENTRY_PUT, key, value, value.length));
        puts = true;
      }
    }
    if (entries.length > 0) this.#log.append(entries, puts ? RESERVE_PUT : RESERVE_DEL);
    return entries.length;
  }

  /**
   * Moves the value of `from` to `to` (replacing what `to` held) as one
   * record: after a crash exactly one of the two names holds the value.
   * Durable when it returns.
   * @returns false when `from` is absent (nothing is written)
   * @throws PmemError ERR_PMEM_NO_SPACE, ERR_PMEM_READONLY, ERR_PMEM_CLOSED
   */
  rename(from: KVData, to: KVData): boolean {
    this.#writable();
    const f = keyOf(from, 'from');
    const t = keyOf(to, 'to');
    const value = this.get(Buffer.from(f, 'latin1'));
    if (value === undefined) return false;
    if (f === t) return true;
    this.#log.append([
      entry(ENTRY_PUT, t, value, value.length),
      entry(ENTRY_DEL, f, null, 0),
    ], RESERVE_PUT);
    return true;
  }

  /**
   * Entries in key byte order, as [key, value] copies. The keys are those
   * present when iteration starts (a key deleted meanwhile is skipped); each
   * value is the one current when it is yielded. With `encoding: 'utf8'`
   * both are strings, else Buffers.
   */
  range(options?: KVRangeOptions & { encoding?: 'buffer' }): IterableIterator<[Buffer, Buffer]>;
  range(options: KVRangeOptions & { encoding: 'utf8' }): IterableIterator<[string, string]>;
  range(options?: KVRangeOptions): IterableIterator<[Buffer, Buffer] | [string, string]>;
  range(options: KVRangeOptions = {}): IterableIterator<[Buffer, Buffer] | [string, string]> {
    // Checked at the call, not at the first next(): a closed store or a bad
    // option throws where range() is called, and the options are read once,
    // before the caller can change them.
    this.#assertOpen();
    const { range, limit, encoding } = rangeArgs(options);
    return this.#range(range, limit, encoding);
  }

  /**
   * The entries of range(): a reader's through its follower, a writer's
   * from its index (range.ts). Both are generators: nothing runs before the
   * first next().
   */
  #range(range: IndexRange, limit: number, encoding: 'buffer' | 'utf8'): IterableIterator<[Buffer, Buffer] | [string, string]> {
    const assertOpen = (): void => this.#assertOpen();
    if (this.#follow !== null) return this.#follow.range(range, limit, encoding, assertOpen);
    return indexRange(this.#log, range, limit, encoding, assertOpen);
  }

  /**
   * Entries with keys starting with `prefix`, as copies (one-byte strings
   * with `encoding: 'latin1'`), in file order: no key order is built. Keys
   * present at the start; one rewritten meanwhile may be skipped.
   * @throws PmemError ERR_PMEM_CLOSED; TypeError, RangeError
   */
  unordered(prefix?: KVData, options?: { encoding?: 'buffer' }): IterableIterator<[Buffer, Buffer]>;
  unordered(prefix: KVData | undefined, options: { encoding: 'latin1' }): IterableIterator<[string, string]>;
  unordered(prefix?: KVData, options: { encoding?: 'buffer' | 'latin1' } = {}): IterableIterator<[Buffer, Buffer] | [string, string]> {
    // Checked at the call, as range() is; the prefix is copied now.
    this.#assertOpen();
    const a = unorderedArgs(prefix, options);
    // A reader follows the writer's log through range(): key order.
    if (this.#follow !== null) return latin1If(a.latin1, this.range(a.prefix === '' ? {} : { prefix: Buffer.from(a.prefix, 'latin1') }));
    return unorderedEntries(this.#log, a.prefix, a.latin1, () => this.#assertOpen());
  }

  /** Every key, in byte order: strings with `encoding: 'utf8'`, else Buffers. */
  keys(options?: KVRangeOptions & { encoding?: 'buffer' }): IterableIterator<Buffer>;
  keys(options: KVRangeOptions & { encoding: 'utf8' }): IterableIterator<string>;
  keys(options?: KVRangeOptions): IterableIterator<Buffer | string>;
  keys(options: KVRangeOptions = {}): IterableIterator<Buffer | string> {
    return keysOf<Buffer | string>(this.range(options));
  }

  /** Every [key, value], in key byte order: strings with `encoding: 'utf8'`, else Buffers. */
  entries(options?: KVRangeOptions & { encoding?: 'buffer' }): IterableIterator<[Buffer, Buffer]>;
  entries(options: KVRangeOptions & { encoding: 'utf8' }): IterableIterator<[string, string]>;
  entries(options?: KVRangeOptions): IterableIterator<[Buffer, Buffer] | [string, string]>;
  entries(options: KVRangeOptions = {}): IterableIterator<[Buffer, Buffer] | [string, string]> {
    return this.range(options);
  }

  stats(): KVStats {
    this.#assertOpen();
    if (this.#follow !== null) return this.#follow.storeStats();
    const index = this.#log.index;
    return { count: index.size, ...this.#log.stats(), indexBytes: index.memoryBytes, recovery: this.#log.recovery };
  }

  /**
   * Reclaims dead space online: cleans the used segments oldest first,
   * copying their live entries to the log's end and then freeing them.
   * Crash-safe at every step. Durable when it returns.
   * @returns segments freed
   * @throws PmemError ERR_PMEM_NO_SPACE when a live entry cannot be copied
   *   for lack of free space (what was cleaned so far stays cleaned)
   */
  compact(): number {
    this.#writable();
    return this.#log.compact();
  }

  /** Unmaps the file and releases the lock. Closing twice does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // A writer's clean stop: the active segment's end mark, so that the
    // next open does not take what lies after its tail for a torn write.
    // A failure to write it costs only that report: the store closes.
    if (!this.#readOnly && this.#follow === null) {
      try {
        this.#log.markEndAtClose();
      } catch (e) {
        // A region its owner closed first, or a failed msync: nothing to mark.
        if (!(e instanceof PmemError)) throw e;
      }
    }
    this.#follow?.close();
    this.#mapping?.close();
    this.#mapping = null;
    this.#lock?.release();
    this.#lock = null;
  }

  /**
   * Closes the store and undoes this open's create: a file it made at a
   * missing path is removed, one it formatted over an empty file is
   * emptied again, as long as the path still names it. A store this open
   * did not create (one it found, another process's however new) is only
   * closed. For a caller that failed before any write of its own was
   * acknowledged (the pmem command's put), so that it leaves the path as it
   * found it. @internal
   * @returns whether the file was removed or emptied
   */
  abandon(): boolean {
    if (this.#closed) return false;
    const lock = this.#lock;
    const created = this.#created;
    this.#lock = null; // held past the unmap: released below
    this.close();
    if (lock === null) return false;
    // Under the lock, after the unmap (undoCreate, store-file.ts).
    try {
      return undoCreate(this.#path as string, lock.fd, created);
    } finally {
      lock.release();
    }
  }

  /** Calls `close()`, so that `using db = KVStore.open(...)` closes the store at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * The file mapped again, grown to `bytes` (remapFile, store-file.ts), for
   * the log that ran out of segments; null for a store with no file of its own.
   * @throws PmemError ERR_PMEM_CORRUPT, ERR_PMEM_NO_SPACE
   */
  #remap(bytes: number): Region | null {
    if (this.#mapping === null || this.#path === undefined || this.#lock === null) return null;
    this.#mapping = remapFile(this.#mapping, this.#path, this.#lock.fd, bytes);
    return this.#mapping;
  }

  /**
   * The offset of the entry of `key`, or undefined; a key given as bytes is
   * looked up by them. A Uint8Array by its internal slots, as a put takes
   * one (setPutKey): a Proxy of one is not one (keyOf's TypeError).
   */
  #lookup(key: KVData): number | undefined {
    return isUint8Array(key) ? this.#log.index.getBytes(key) : this.#log.index.get(keyOf(key));
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw closedError('the KV store', this.#path);
    }
    // A store over a Region the caller owns: closing that region leaves
    // detached views, which would read as empty.
    if (this.#follow === null && this.#log.regionClosed) throw closedError('the region under the KV store');
  }

  #writable(): void {
    this.#assertOpen();
    if (this.#readOnly) throw new PmemError('ERR_PMEM_READONLY', 'the KV store was opened read-only');
  }
}
