// Loads the addon once: build/Release when it exists, else a prebuild from
// prebuilds/ that matches. Only lib/ modules import this; the native surface
// is not API.
import * as path from 'node:path';

/** Handle returned by the native mapOpen; see native/mapping.cc. */
export interface NativeMapping {
  readonly length: number;
  readonly isPmem: boolean;
  readonly dax: boolean;
  readonly granularity: 'byte' | 'cache-line' | 'page';
  /**
   * The call block (8 doubles): flush and persist read [offset, length]
   * from it, sealRecord [crcAt, end, seed, persist (0 or 1), srcLength (-1: any)] and leaves the
   * checksum in its first element, sealRecords [count, seed, persist], sealAndApply [crcAt, end, seed,
   * target, from, length]. Written just before each call; see
   * native/mapping/hotpath.cc. Its last element is sealRecord's prefetch
   * hint (an address; 0: none), which sealRecord clears.
   */
  readonly call: ArrayBuffer;
  flush(): void;
  /** SFENCE (pmem_drain); nothing when the mapping is not pmem. */
  drain(): void;
  persist(): void;
  /** Leaves the checksum in the call block's first element. */
  sealRecord(src?: Uint8Array): void;
  /** `table` holds [crcAt, end, srcIndex] per record; see native/mapping/hotpath.cc. */
  sealRecords(table: Float64Array, srcs: ReadonlyArray<unknown>): void;
  /** Reads [crcAt, end, seed, target, from, length] from the call block. */
  sealAndApply(): void;
  /** Copies [offset, length] of the call block to the start of target. */
  readInto(target: Uint8Array): void;
  deepFlush(offset: number, length: number): void;
  copy(offset: number, src: Uint8Array): void;
  fill(offset: number, byte: number, length: number): void;
  /** Ranges of src in table order, streamed to offset and made durable; see native/mapping/gather.cc. */
  copyRanges(offset: number, src: Uint8Array, table: Uint32Array, count: number, stride: number, terminator: number): number;
  view(offset: number, length: number): ArrayBuffer;
  /** fstat of the file's descriptor: its size now. */
  fileSize(): number;
  /** The path that errors name from now on. */
  rename(path: string): void;
  /** Faults the range in (MADV_POPULATE_WRITE); see native/mapping/populate.cc. */
  populate(offset: number, length: number): void;
  /** Drops the whole pages of the range from the page tables (MADV_DONTNEED); see native/mapping/populate.cc. */
  release(offset: number, length: number): void;
  /** Queues the range for the mapping's prefault thread and returns. */
  prefault(offset: number, length: number): void;
  /** Waits until the prefault thread is idle. */
  prefaultWait(): { done: number; failed: number; lastError: number };
  close(): void;
}

/**
 * Handle returned by the native objCreate/objOpen; see native/obj/pool.cc and
 * objtx.cc. Methods returning boolean return false when a pointer is not
 * inside (or, for free, not the start of) a live object.
 */
export interface NativeObjPool {
  readonly size: number;
  view(offset: number, length: number): ArrayBuffer;
  check(offset: number, length: number): boolean;
  usableSize(offset: number): number;
  root(size: number): number;
  rootSize(): number;
  alloc(size: number, zero: boolean): number;
  free(offset: number): boolean;
  write(offset: number, data: Uint8Array): boolean;
  persist(offset: number, length: number): boolean;
  stats(): { currAllocated: number; runAllocated: number; runActive: number };
  close(): void;
  txAdd(offset: number, length: number): boolean;
  txWrite(offset: number, data: Uint8Array): boolean;
  txAlloc(size: number, zero: boolean): number;
  txFree(offset: number): boolean;
  txCommit(): void;
  txAbort(): void;
}

/**
 * A held flock(2) lock; see native/filelock.cc. Released by release(), by
 * the handle's finalizer, and when the worker that took it exits.
 */
export interface NativeLock {
  /** The locked descriptor, for reading the file through the lock; closed by release(). */
  readonly fd: number;
  /** Drops the lock. Releasing twice does nothing. */
  release(): void;
}

/** The crash simulator's native state (native/sim/); lib/testing/sim.ts wraps it. */
export interface NativeSim {
  readonly buffer: ArrayBuffer;
  flush(offset: number, length: number): void;
  drain(): void;
  dirty(): number;
  persisted(): Buffer;
  startRecording(): void;
  stopRecording(): void;
  point(): number;
  pointCount(): number;
  schedule(seed: number, randomImages: number, torn: boolean, exhaustiveLimit: number, pairLimit: number): void;
  imageCount(point: number): number;
  loadImage(point: number, index: number, target: ArrayBuffer): number;
  /** Detaches the buffer JavaScript sees; the model keeps the memory. */
  detach(): void;
  /** Frees the model, its images and (after detach) the bytes. */
  release(): void;
}

export interface Binding {
  setErrorClass(cls: Function): void;
  mapOpen(path: string, size: number, flags: number): NativeMapping;
  drain(): void;
  /** FALLOC_FL_PUNCH_HOLE over the range, the size kept; false where the filesystem cannot (native/mapping/space.cc). */
  punchHole(path: string, offset: number, length: number): boolean;
  crc32c(data: Uint8Array, offset: number, length: number, seed: number): number;
  /** Bytes of mapped memory that live views of mappings and pools cover, in this process (native/core/views.cc). */
  mappedViewBytes(): number;
  /** crc32c's 32 bits as an int32 (no heap number): see native/core/crc32c.cc. */
  crc32cInt32(data: Uint8Array, offset: number, length: number, seed: number): number;
  /** The table form, for tests of the fast forms. */
  crc32cSoft(data: Uint8Array, offset: number, length: number, seed: number): number;
  /** Whether long checksums fold with VPCLMULQDQ on this CPU. */
  crc32cFolds: boolean;
  /** The folding form long checksums take here: see native/core/crc32c.cc. */
  crc32cFold: '512' | '128' | 'none';
  /** The C library's sin, cos and asin (Redis's, for pmem serve's geo distances): native/core/libm.cc. */
  libmSin(x: number): number;
  libmCos(x: number): number;
  libmAsin(x: number): number;
  objCreate(path: string, tmp: string, layout: string, size: number, mode: number, sds: boolean, stats: boolean): NativeObjPool;
  objOpen(path: string, layout: string | null, stats: boolean): NativeObjPool;
  objCheck(path: string, layout: string | null): boolean;
  objConstants: { minPool: number; maxAlloc: number; maxLayout: number };
  /** LOCK_EX (exclusive) or LOCK_SH, without waiting: ERR_PMEM_LOCKED when held elsewhere. */
  lockFile(path: string, exclusive: boolean, create: boolean): NativeLock;
  /** A read-only descriptor without a lock, in a lock's handle and released as one is (native/core/filelock.cc). */
  openFile(path: string): NativeLock;
  /** Takes (hold) or drops a KVStore reader's pin on `fd`: true when it is held after the call (native/core/filelock.cc). */
  holdPin(fd: number, hold: boolean): boolean;
  /** Whether another open of the file holds a reader's pin. */
  pinHeld(fd: number): boolean;
  /** Whether another open of the file holds the mark an exclusive lockFile takes; true where that cannot be asked. */
  writerMarked(fd: number): boolean;
  kvScan(bytes: Uint8Array, start: number, end: number, seed: number, out: Uint32Array): number;
  kvEntries(
    bytes: Uint8Array, records: Uint32Array, n: number,
    off: Uint32Array, hash: Uint32Array, meta: Uint32Array, klen: Uint16Array, seed: number,
  ): number;
  /** madvise(MADV_HUGEPAGE) over the whole 2 MiB pages of a table's memory (native/kv/table.cc); false when none. */
  kvTableHuge(table: ArrayBufferView): boolean;
  /** The address of a table's first byte, for prefetch hints (native/kv/table.cc). */
  kvTableAddress(table: ArrayBufferView): number;
  /** Starts loading the home slot of each of the first `count` hashes (native/kv/table.cc): a hint. */
  kvPrefetchSlots(table: Uint32Array, hashes: Int32Array, count: number, entries?: Uint8Array): void;
  /** The record format constants native/kv/scan.cc uses, under lib/kv/format.ts's names. */
  kvConstants: Record<string, number>;
  mapFlags: { create: number; exclusive: number; sparse: number; readOnly: number; shared: number };
  Sim: new (size: number, mode: number, tracked: boolean) => NativeSim;
}

/** Debian's packages of the shared libraries the addon loads at run time. */
export const RUNTIME_PACKAGES = ['libndctl6', 'libdaxctl1'] as const;

/** The code of every error loadBinding throws: the addon did not load, so nothing of the library works. */
export const ADDON_ERROR = 'ERR_PMEM_ADDON';

/**
 * What to throw when loading the addon failed with `e`: an Error of code
 * ADDON_ERROR whose message names what to install (a missing library, a
 * missing build), else says the addon did not load; the loader's own
 * message follows, and `e` is its cause.
 */
export function loadError(e: unknown): Error {
  const message = e instanceof Error ? e.message : String(e);
  let text: string;
  if (/\blib(ndctl|daxctl)\.so/.test(message)) {
    text = 'pmem: the native addon needs the shared libraries libndctl and libdaxctl, which are not installed or do not load. ' +
      `On Debian or Ubuntu: apt-get install ${RUNTIME_PACKAGES.join(' ')}. (${message})`;
  } else if (message.startsWith('No native build was found')) {
    text = 'pmem: no prebuilt addon matches this platform (prebuilds are for Linux x64 with glibc) and none was compiled. ' +
      'Reinstall to compile it from source; see "Install" in the README for what that needs. ' +
      `(${message.trim()})`;
  } else {
    text = `pmem: the native addon did not load: ${message.trim()}`;
  }
  return Object.assign(new Error(text, { cause: e }), { code: ADDON_ERROR });
}

/** Loads the addon from the package at `dir` with node-gyp-build. */
export function loadBinding(dir: string, load: (dir: string) => unknown = require('node-gyp-build')): Binding {
  try {
    return load(dir) as Binding;
  } catch (e) {
    throw loadError(e);
  }
}

// Node 20 defines Symbol.dispose, as Symbol.for('nodejs.dispose'), in its
// main context only; a vm context (jest's test environment) lacks it, and
// the `[Symbol.dispose]()` methods of Mapping, KVStore, Wal and ObjPool
// would be named 'undefined' there. Every module with such a class imports
// this one first. Where the engine has Symbol.dispose this does nothing.
(Symbol as { dispose?: symbol }).dispose ??= Symbol.for('nodejs.dispose');

export const binding = loadBinding(path.join(__dirname, '..', '..'));
