import * as fs from 'node:fs';
import { types } from 'node:util';

import { checkBoolean, checkBytes, checkIndex, checkOptions, checkPath, checkRange, viewLength } from './args';
import { binding, NativeMapping } from './binding';
import { closedError, PmemError } from './errors';
import { checkU64, type Granularity, type Region } from './region';
import { MAX_VIEW, WINDOW_STRIDE, Windows } from './windows';

// Read once: the module object is in dictionary mode (docs/bench.md).
const { isFloat64Array } = types;

/** How stores to a mapping become durable. */
export type DurabilityMode =
  /** A DAX file: CLWB/SFENCE (or nothing, on eADR) reach persistent media. */
  | 'dax'
  /** PMEM_IS_PMEM_FORCE=1 on a non-DAX file: CLWB/SFENCE on DRAM; not power-fail safe. */
  | 'forced'
  /** A non-DAX file: msync to the page cache's backing store. */
  | 'msync';

export interface MapOptions {
  /** With `create`: size in bytes of a file to create, or to grow a smaller existing file to. */
  size?: number;
  /** Create the file if missing (needs `size`). An existing file is never truncated. */
  create?: boolean;
  /** With `create`: fail with ERR_PMEM_EXISTS if the file exists. */
  exclusive?: boolean;
  /**
   * Do not reserve blocks: with `create` the new range stays a hole (a
   * sparse file); on any writable open, existing holes are left as they are.
   * Without it every hole is reserved before the file is mapped. A store
   * into a hole on a full filesystem is a SIGBUS: use it only where the
   * filesystem cannot fill up.
   */
  sparse?: boolean;
  /** Map privately: stores stay in this process and nothing can be persisted. */
  readOnly?: boolean;
  /**
   * With `readOnly`: map the file shared and PROT_READ, holes included, so
   * that the mapping sees every later store of a writer in another process
   * (also into a former hole) and is not charged to commit. A store into
   * one of its views kills the process (SIGSEGV), and on tmpfs a read of a
   * hole allocates a page (SIGBUS when the filesystem is full): only for
   * code that never writes its views, on a file without holes, as a
   * KVStore reader (lib/kv/follow.ts).
   * @internal
   */
  shared?: boolean;
}

/** What `Mapping.prefaultWait` returns. */
export interface PrefaultStats {
  /** Ranges the prefault thread finished (a replaced range is not counted). */
  done: number;
  /** Of those, the ones that ended with an error. */
  failed: number;
  /** errno of the last failure, 0 when none. */
  lastError: number;
}

/**
 * Asks the mapping's next sealRecord to start loading the cache line at
 * `address` into the cache before it copies: a KVStore put's index slot
 * (lib/kv/log.ts), which then loads while the record is written. A hint:
 * nothing is dereferenced, so a stale or wrong address costs only a wasted
 * load; sealRecord clears it (native/mapping/hotpath.cc).
 */
export let prefetchAtSeal: (m: Mapping, address: number) => void;
/** The call block's element for the hint (kPrefetchHint in native/mapping/state.h). */
const PREFETCH_HINT = 7;

const OPTION_KEYS = new Set(['size', 'create', 'exclusive', 'sparse', 'readOnly', 'shared']);

/**
 * A file mapped into memory with libpmem. Implements `Region`.
 *
 * Every offset and length is checked here and again in native code; a bad one
 * is a RangeError. After `close()` every view is detached and every method
 * throws `PmemError` `ERR_PMEM_CLOSED`.
 */
export class Mapping implements Region {
  readonly path: string;
  readonly length: number;
  /** libpmem's is_pmem: flushes are CLWB/SFENCE rather than msync. */
  readonly isPmem: boolean;
  readonly granularity: Granularity;
  readonly mode: DurabilityMode;
  readonly readOnly: boolean;
  /**
   * Mapped shared and PROT_READ (`MapOptions.shared`): it sees every store
   * made to the file, also into a range that was a hole when it was mapped.
   * @internal
   */
  readonly shared: boolean;

  #native: NativeMapping | null;
  /** The native call block: the numeric arguments of flush, persist and sealRecord. */
  readonly #call: Float64Array;
  /**
   * The hot-path functions of the native handle, read once: the handle is
   * in dictionary mode (its methods are set one by one in native code), so
   * each `native.sealRecord` would be a dictionary lookup per call. They
   * ignore their receiver; `#live()` still decides whether they may run.
   */
  readonly #hot: Pick<NativeMapping, 'flush' | 'drain' | 'persist' | 'sealRecord' | 'sealRecords' | 'sealAndApply' | 'readInto'>;
  readonly #views: Windows;
  /** u64 views for the atomics: one per window, made on first use. */
  #words: BigUint64Array[] = [];
  /** The view `#word` found, read right after it by the caller. */
  #current: BigUint64Array = new BigUint64Array(0);

  static {
    prefetchAtSeal = (m, address) => {
      // The call block outlives close() (native/mapping/hotpath.cc), and a
      // hint is never dereferenced: no check is needed.
      m.#call[PREFETCH_HINT] = address;
    };
  }

  /** Use `openMapping`: the constructor takes the native handle. */
  constructor(path: string, native: NativeMapping, readOnly: boolean, shared = false) {
    this.path = path;
    this.#native = native;
    this.#call = new Float64Array(native.call);
    const { flush, drain, persist, sealRecord, sealRecords, sealAndApply, readInto } = native;
    this.#hot = { flush, drain, persist, sealRecord, sealRecords, sealAndApply, readInto };
    this.length = native.length;
    this.isPmem = native.isPmem;
    this.granularity = native.granularity;
    this.mode = native.isPmem ? (native.dax ? 'dax' : 'forced') : 'msync';
    this.readOnly = readOnly;
    this.shared = shared;
    this.#views = new Windows(this.length, 'mapping', (start, span) => this.#live().view(start, span));
  }

  get closed(): boolean {
    return this.#native === null;
  }

  /**
   * The whole mapping as one Buffer, created once. Mappings over 4 GiB have
   * no single buffer: use `view()`.
   */
  get buffer(): Buffer {
    this.#live();
    return this.#views.whole();
  }

  /**
   * Region's name for `buffer`: what every structure on a Region writes
   * through, so a mapping over 4 GiB holds none (docs/api.md).
   */
  get bytes(): Buffer {
    if (this.length > MAX_VIEW && this.#native !== null) {
      throw new RangeError(`a ${this.length}-byte mapping is larger than a structure's Region can be (4 GiB, one Buffer): `
        + 'give each structure a file of its own, or a mapping of at most 4 GiB');
    }
    return this.buffer;
  }

  /**
   * A Buffer over [offset, offset + length), sliced from a cached window.
   * On mappings over 4 GiB a view may be at most 1 GiB long.
   */
  view(offset: number, length: number): Buffer {
    this.#live();
    checkRange(offset, length, this.length);
    return this.#views.view(offset, length);
  }

  /**
   * Copies [offset, offset + length) to the start of `target`, making no
   * JavaScript object (a copy through `view` makes the view). A read-only
   * mapping can be read this way too. `target` is checked in native code.
   * @throws RangeError (the range, or a target shorter than it), TypeError, PmemError ERR_PMEM_CLOSED
   */
  readInto(offset: number, length: number, target: Uint8Array): void {
    checkRange(offset, length, this.length);
    this.#live();
    this.#call[0] = offset;
    this.#call[1] = length;
    this.#hot.readInto(target);
  }

  /** Starts write-back of a range (msync on non-pmem, which is already durable). */
  flush(offset: number, length: number): void {
    checkRange(offset, length, this.length);
    this.#live();
    this.#call[0] = offset;
    this.#call[1] = length;
    this.#hot.flush();
  }

  /** Waits for earlier flushes (SFENCE). A no-op when the mapping is not pmem. */
  drain(): void {
    this.#live();
    this.#hot.drain();
  }

  /** Makes a range durable before returning: `pmem_persist` or `pmem_msync`. */
  persist(offset: number, length: number): void {
    checkRange(offset, length, this.length);
    this.#live();
    this.#call[0] = offset;
    this.#call[1] = length;
    this.#hot.persist();
  }

  /**
   * Finishes a checksummed record; see `sealRecord` in region.ts. Copies
   * `src` and computes the checksum in one pass, writing whole lines with
   * streaming stores (on pmem always; before an msync from 4 KiB). The
   * values are checked in native code, `src` against `srcLength` too.
   */
  sealRecord(crcAt: number, end: number, seed: number, persist: boolean, src?: Uint8Array, srcLength?: number): number {
    this.#live();
    if (typeof crcAt !== 'number') throw new TypeError('crcAt must be a number');
    if (typeof end !== 'number') throw new TypeError('end must be a number');
    if (typeof seed !== 'number') throw new TypeError('seed must be a number');
    if (typeof persist !== 'boolean') throw new TypeError('persist must be a boolean');
    if (srcLength !== undefined && typeof srcLength !== 'number') throw new TypeError('srcLength must be a number');
    const call = this.#call;
    call[0] = crcAt;
    call[1] = end;
    call[2] = seed;
    call[3] = persist ? 1 : 0;
    // -1: any length. A negative one goes as NaN, which native code refuses
    // as it refuses a fraction (RangeError), so that -1 too is checked.
    call[4] = srcLength === undefined ? -1 : srcLength >= 0 ? srcLength : NaN;
    this.#hot.sealRecord(src);
    return call[0]; // the checksum: see native/mapping/hotpath.cc
  }

  /** `sealAndApply` (records.ts) in one native call, which checks the values. */
  sealAndApply(crcAt: number, end: number, seed: number, target: number, from: number, length: number): void {
    this.#live();
    const call = this.#call;
    call[0] = num(crcAt, 'crcAt');
    call[1] = num(end, 'end');
    call[2] = num(seed, 'seed');
    call[3] = num(target, 'target');
    call[4] = num(from, 'from');
    call[5] = num(length, 'length');
    this.#hot.sealAndApply();
  }

  /** `sealRecords` (records.ts) in one native call, which checks the table and the sources. */
  sealRecords(table: Float64Array, count: number, seed: number, persist: boolean, srcs: ReadonlyArray<unknown>): void {
    // The sources the table names are read here, into an array of this
    // call's own, before the mapping is checked: a getter or a Proxy trap on
    // `srcs` may close the mapping, free a source's memory or seal again,
    // and the native call then runs no JavaScript.
    const own = ownSources(table, count, srcs);
    this.#live();
    const call = this.#call;
    call[0] = num(count, 'count');
    call[1] = num(seed, 'seed');
    call[2] = checkBoolean(persist, 'persist') ? 1 : 0;
    this.#hot.sealRecords(table, own);
  }

  /**
   * Atomically loads the aligned 8 bytes at `offset` (u64, little-endian).
   * Sees the latest store of any thread or process that maps the file.
   * @throws TypeError, RangeError (unaligned or out of range); PmemError ERR_PMEM_CLOSED
   */
  load64(offset: number): bigint {
    const i = this.#word(offset);
    return Atomics.load(this.#current, i);
  }

  /**
   * Atomically stores `value` (a bigint in [0, 2^64), or a non-negative safe
   * integer) at the aligned `offset`, as a release store: every earlier store
   * of this thread is visible to whoever loads this one. Not durable: persist
   * it (and whatever it publishes, first) as the structure's protocol says.
   * @throws TypeError, RangeError; PmemError ERR_PMEM_CLOSED, ERR_PMEM_READONLY
   */
  store64(offset: number, value: number | bigint): void {
    const i = this.#word(offset, true);
    Atomics.store(this.#current, i, checkU64(value, 'value'));
  }

  /**
   * Compare-and-swap: stores `replacement` at the aligned `offset` if the 8
   * bytes there hold `expected`, atomically against every thread and process
   * that maps the file. Returns the value they held: equal to `expected`
   * exactly when the swap happened. Not durable.
   * @throws TypeError, RangeError; PmemError ERR_PMEM_CLOSED, ERR_PMEM_READONLY
   */
  compareExchange64(offset: number, expected: number | bigint, replacement: number | bigint): bigint {
    const i = this.#word(offset, true);
    return Atomics.compareExchange(this.#current, i, checkU64(expected, 'expected'), checkU64(replacement, 'replacement'));
  }

  /**
   * Atomically adds `delta` (a bigint or safe integer, negative allowed; the
   * sum wraps modulo 2^64) to the u64 at the aligned `offset` and returns the
   * value it held before. Not durable.
   * @throws TypeError, RangeError; PmemError ERR_PMEM_CLOSED, ERR_PMEM_READONLY
   */
  fetchAdd64(offset: number, delta: number | bigint): bigint {
    const i = this.#word(offset, true);
    return Atomics.add(this.#current, i, checkU64(delta, 'delta', true));
  }

  /** Like `persist`, and also flushes the memory controller's queues (`pmem_deep_persist`). */
  deepFlush(offset: number, length: number): void {
    checkRange(offset, length, this.length);
    this.#live().deepFlush(offset, length);
  }

  /** Copies `src` to `offset`; durable when it returns (`pmem_memmove_persist`). */
  copy(offset: number, src: Uint8Array): void {
    checkIndex(offset, 'offset');
    checkBytes(src, 'src');
    // Its own length, as native code copies it: not a `length` property.
    checkRange(offset, viewLength(src, 'src'), this.length);
    this.#live().copy(offset, src);
  }

  /**
   * Writes ranges of `src` one after another from `offset`, in table
   * order, each followed by the byte `terminator` unless it is -1; durable
   * when it returns. Entry i is `src[table[stride·i], table[stride·i + 1])`.
   * The mapping's lines are written with streaming stores, so they are
   * not read into the cache first (native/mapping/gather.cc). Every entry
   * is checked, and the whole must fit the mapping, before anything is
   * written. Returns the bytes written.
   * @throws RangeError for an entry outside `src`, a table shorter than
   *   `count` entries, a stride below 2, a terminator that is not a byte or
   *   -1, a result past the mapping's end, or a `src` that overlaps the
   *   range written; TypeError for a `src` or `table` of the wrong type;
   *   PmemError ERR_PMEM_CLOSED, ERR_PMEM_READONLY
   */
  copyRanges(offset: number, src: Uint8Array, table: Uint32Array, count: number, stride: number, terminator: number): number {
    checkIndex(offset, 'offset');
    checkBytes(src, 'src');
    if (!(table instanceof Uint32Array)) throw new TypeError('table must be a Uint32Array');
    checkIndex(count, 'count');
    checkIndex(stride, 'stride');
    if (stride < 2) throw new RangeError(`stride must be at least 2, got ${stride}`);
    if (terminator !== -1) {
      checkIndex(terminator, 'terminator');
      if (terminator > 255) throw new RangeError(`terminator must be a byte (0..255), or -1 for none, got ${terminator}`);
    }
    return this.#live().copyRanges(offset, src, table, count, stride, terminator);
  }

  /** Sets `length` bytes at `offset` to `byte`; durable when it returns. */
  fill(offset: number, byte: number, length: number): void {
    checkIndex(byte, 'byte');
    if (byte > 255) throw new RangeError(`byte must be 0..255, got ${byte}`);
    checkRange(offset, length, this.length);
    this.#live().fill(offset, byte, length);
  }

  /**
   * The file's size now (an fstat of the descriptor the mapping keeps). It
   * is smaller than `length` only when something outside this mapping
   * truncated the file; then any access past its end faults.
   * @throws PmemError ERR_PMEM_CLOSED, ERR_PMEM_IO
   */
  fileSize(): number {
    return this.#live().fileSize();
  }

  /**
   * Faults [offset, offset + length) into the page tables, writable
   * (`MADV_POPULATE_WRITE`; on kernels before 5.14 by reading a byte per
   * page), so that stores there take no page fault. Changes no byte; safe
   * while other code writes the range.
   * @throws PmemError ERR_PMEM_CLOSED, ERR_PMEM_IO (the range lies past the
   *   file's end, which something truncated), ERR_PMEM_NO_MEMORY; RangeError
   */
  populate(offset: number, length: number): void {
    checkRange(offset, length, this.length);
    this.#live().populate(offset, length);
  }

  /**
   * Drops the whole pages inside [offset, offset + length) from this
   * process's page tables (`MADV_DONTNEED`), so that they no longer count in
   * its RSS; a later access maps them in again from the file. Changes no
   * byte of the file: a writable mapping's stores are already in the file's
   * pages. On a read-only mapping, a store made through a view of those
   * pages (private, never the file's) is lost. Pages the range shares with
   * bytes outside it are kept.
   * @throws PmemError ERR_PMEM_CLOSED, ERR_PMEM_IO; RangeError
   */
  release(offset: number, length: number): void {
    checkRange(offset, length, this.length);
    this.#live().release(offset, length);
  }

  /**
   * `populate` on the mapping's own thread (started at the first call):
   * returns at once. A range replaces one queued before that has not
   * started. Failures are counted, not thrown (`prefaultWait`).
   * @throws PmemError ERR_PMEM_CLOSED; RangeError
   */
  prefault(offset: number, length: number): void {
    checkRange(offset, length, this.length);
    this.#live().prefault(offset, length);
  }

  /**
   * Waits until the prefault thread has nothing queued or running.
   * @returns the requests it finished, those that failed, and the errno of the last failure
   * @throws PmemError ERR_PMEM_CLOSED
   */
  prefaultWait(): PrefaultStats {
    return this.#live().prefaultWait();
  }

  /**
   * The path this mapping's errors name from now on: a new file is mapped
   * under a temporary name and published under its own (core/identify.ts).
   * @internal
   */
  renamed(path: string): void {
    this.#live().rename(path);
    (this as { path: string }).path = path;
  }

  /** Unmaps and detaches every view. Closing twice does nothing. */
  close(): void {
    if (this.#native === null) return;
    this.#native.close();
    this.#native = null;
    this.#views.clear();
    this.#words = [];
    this.#current = new BigUint64Array(0);
  }

  /** Calls `close()`, so that `using m = openMapping(...)` unmaps at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * The element index of the aligned word at `offset` in the u64 view it
   * leaves in `#current`, for the atomics (no pair to allocate per call);
   * `write` refuses a read-only mapping, whose stores would stay in
   * this process (it is mapped privately).
   */
  #word(offset: number, write = false): number {
    this.#live();
    // One comparison chain for the common case; the checks below say what is wrong.
    // The mapping starts on a page, so the offset's alignment is the address's.
    if (!(typeof offset === 'number' && offset >= 0 && offset <= this.length - 8 && offset % 8 === 0)) {
      checkRange(offset, 8, this.length);
      throw new RangeError(`an 8-byte atomic needs an 8-byte aligned offset, got ${offset}`);
    }
    if (write && this.readOnly) {
      throw new PmemError('ERR_PMEM_READONLY', `mapping of '${this.path}' is read-only`, { path: this.path });
    }
    const k = this.length <= MAX_VIEW ? 0 : Math.floor(offset / WINDOW_STRIDE);
    let u64 = this.#words[k];
    if (u64 === undefined) {
      const w = this.#views.view(k * WINDOW_STRIDE, 0);
      u64 = new BigUint64Array(w.buffer, 0, Math.floor(w.buffer.byteLength / 8));
      this.#words[k] = u64;
    }
    this.#current = u64;
    return (offset - k * WINDOW_STRIDE) / 8;
  }

  #live(): NativeMapping {
    if (this.#native === null) {
      throw closedError(`mapping of '${this.path}'`, this.path);
    }
    return this.#native;
  }
}

/**
 * The elements of `srcs` that the first `count` records of `table` name,
 * each read once, in a new array as long as `srcs`: reading them runs any
 * getter or Proxy trap now, not inside the native call, which reads only
 * the indices a record names. With arguments the native call refuses, an
 * empty array (it refuses them all the same).
 */
function ownSources(table: unknown, count: unknown, srcs: unknown): unknown[] {
  const own: unknown[] = [];
  if (!Array.isArray(srcs) || !isFloat64Array(table) || !Number.isSafeInteger(count) || (count as number) < 0) return own;
  const length: unknown = srcs.length; // a Proxy's may be anything
  const n = typeof length === 'number' && Number.isInteger(length) && length >= 0 && length <= 0xffffffff ? length : 0;
  const records = Math.min(count as number, Math.floor(table.length / 3));
  for (let i = 0; i < records; i++) {
    const k = table[3 * i + 2];
    if (Number.isInteger(k) && k >= 0 && k < n) own[k] = srcs[k];
  }
  own.length = n;
  // A getter above may have changed the table, which is the caller's: an
  // index it names now that was not read is a hole in `own`, and the native
  // call's read of it would go on to Array.prototype, whose getters run
  // JavaScript there after all. Refused before anything is checked or written.
  for (let i = 0; i < records; i++) {
    const k = table[3 * i + 2];
    if (Number.isInteger(k) && k >= 0 && k < n && !Object.hasOwn(own, k)) {
      throw new TypeError('the table changed while the sources were read (a getter on srcs wrote it)');
    }
  }
  return own;
}

/** `value` if it is a number (native code checks its range). @throws TypeError */
function num(value: unknown, name: string): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
  return value;
}

/**
 * openMapping of the file open as `fd` (a store's locked descriptor), named
 * `path` in errors: through /proc/self/fd, the name that opens the file
 * the descriptor is, whatever `path` names by now. A store renamed,
 * replaced or removed while it is open is grown or mapped again where its
 * writes went, never where another file now has its name. Without /proc,
 * `path`, once it is checked to name that file still.
 * @throws PmemError ERR_PMEM_INVALID when `path` no longer names it (no /proc)
 */
export function openMappingOf(fd: number, path: string, options: MapOptions = {}): Mapping {
  const self = `/proc/self/fd/${fd}`;
  let via = self;
  if (!fs.existsSync(self)) {
    const held = fs.fstatSync(fd);
    let now: fs.Stats | undefined;
    try {
      now = fs.statSync(path);
    } catch {
      now = undefined;
    }
    if (now === undefined || now.ino !== held.ino || now.dev !== held.dev) {
      throw new PmemError('ERR_PMEM_INVALID', `'${path}' no longer names the file open here (renamed, replaced or removed), and without /proc it cannot be mapped again`, { path });
    }
    via = path;
  }
  let m: Mapping;
  try {
    m = openMapping(via, options);
  } catch (e) {
    // Its errors name the caller's path, not the descriptor's.
    if (via !== path && e instanceof PmemError) {
      const message = e.message.split(via).join(path);
      if (e.stack !== undefined) e.stack = e.stack.split(e.message).join(message);
      e.message = message;
      if (e.path === via) e.path = path;
    }
    throw e;
  }
  if (via !== path) m.renamed(path);
  return m;
}

/**
 * Maps a file with `pmem_map_file`. A writable open reserves blocks for the
 * whole file first (reserve before extend: the new range of a created or
 * grown file, and every hole), unless `sparse`; when they cannot be had it
 * throws ERR_PMEM_NO_SPACE and the file keeps its size, bytes and times (a
 * file this call created is removed). A read-only open maps the pages of
 * holes as zeros from anonymous memory, so reading them never allocates
 * (but the mapping does not see what a writer later writes there).
 * @throws PmemError ERR_PMEM_NOT_FOUND, ERR_PMEM_EXISTS, ERR_PMEM_ACCESS,
 *   ERR_PMEM_NO_SPACE, ERR_PMEM_INVALID, ERR_PMEM_IO
 */
export function openMapping(path: string, options: MapOptions = {}): Mapping {
  checkPath(path);
  checkOptions(options, OPTION_KEYS);
  const { create = false, exclusive = false, sparse = false, readOnly = false, shared = false } = options;
  for (const [name, v] of [['create', create], ['exclusive', exclusive], ['sparse', sparse], ['readOnly', readOnly], ['shared', shared]] as const) {
    checkBoolean(v, name);
  }
  let size = 0;
  if (options.size !== undefined) size = checkIndex(options.size, 'size');
  if (create) {
    if (readOnly) throw new TypeError('create and readOnly cannot be combined');
    if (size === 0) throw new RangeError('create needs a size greater than 0');
  } else if (exclusive) {
    throw new TypeError('exclusive applies only with create');
  } else if (options.size !== undefined) {
    // Only a create sets the size of the file (and grows a smaller one);
    // without it a size would be ignored and the mapping would be shorter
    // than asked for, so it is refused (as pmem_map_file refuses a length
    // without PMEM_FILE_CREATE).
    throw new TypeError('size applies only with create');
  }
  if (sparse && readOnly) throw new TypeError('sparse and readOnly cannot be combined');
  if (shared && !readOnly) throw new TypeError('shared applies only with readOnly');
  const f = binding.mapFlags;
  const flags =
    (create ? f.create : 0) | (exclusive ? f.exclusive : 0) | (sparse ? f.sparse : 0) | (readOnly ? f.readOnly : 0) |
    (shared ? f.shared : 0);
  return new Mapping(path, binding.mapOpen(path, size, flags), readOnly, shared);
}
