// Loads the addon once: a prebuild from prebuilds/ when one matches, else
// build/Release. Only lib/ modules import this; the native surface is not API.
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const load = require('node-gyp-build') as (dir: string) => unknown;

/** Handle returned by the native mapOpen; see native/mapping.cc. */
export interface NativeMapping {
  readonly length: number;
  readonly isPmem: boolean;
  readonly dax: boolean;
  readonly granularity: 'byte' | 'cache-line' | 'page';
  /**
   * The call block (4 doubles): flush and persist read [offset, length]
   * from it, sealRecord [crcAt, end, seed, persist (0 or 1)]. Written just
   * before each call; see native/hotpath.cc.
   */
  readonly call: ArrayBuffer;
  flush(): void;
  persist(): void;
  sealRecord(src?: Uint8Array): number;
  deepFlush(offset: number, length: number): void;
  copy(offset: number, src: Uint8Array): void;
  fill(offset: number, byte: number, length: number): void;
  view(offset: number, length: number): ArrayBuffer;
  /** fstat of the file's descriptor: its size now. */
  fileSize(): number;
  close(): void;
}

/**
 * Handle returned by the native objCreate/objOpen; see native/objpool.cc and
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
  /** Drops the lock. Releasing twice does nothing. */
  release(): void;
}

export interface Binding {
  setErrorClass(cls: Function): void;
  mapOpen(path: string, size: number, flags: number): NativeMapping;
  drain(): void;
  crc32c(data: Uint8Array, offset: number, length: number, seed: number): number;
  /** The table form, for tests of the fast forms. */
  crc32cSoft(data: Uint8Array, offset: number, length: number, seed: number): number;
  /** Whether long checksums fold with VPCLMULQDQ on this CPU. */
  crc32cFolds: boolean;
  objCreate(path: string, layout: string, size: number, mode: number, sds: boolean, stats: boolean): NativeObjPool;
  objOpen(path: string, layout: string | null, stats: boolean): NativeObjPool;
  objCheck(path: string, layout: string | null): boolean;
  objConstants: { minPool: number; maxAlloc: number; maxLayout: number };
  /** LOCK_EX (exclusive) or LOCK_SH, without waiting: ERR_PMEM_LOCKED when held elsewhere. */
  lockFile(path: string, exclusive: boolean, create: boolean): NativeLock;
  /** The bare descriptor form of lockFile: released only by kvUnlock or process exit. */
  kvLock(path: string, exclusive: boolean, create: boolean): number;
  kvUnlock(fd: number): void;
  kvScan(bytes: Uint8Array, start: number, end: number, seed: number, out: Uint32Array): number;
  kvEntries(
    bytes: Uint8Array, records: Uint32Array, n: number,
    off: Uint32Array, hash: Uint32Array, meta: Uint32Array, klen: Uint16Array,
  ): number;
  mapFlags: { create: number; exclusive: number; sparse: number; readOnly: number };
  Sim: new (size: number, mode: number, tracked: boolean) => import('./testing/sim').NativeSim;
}

export const binding = load(path.join(__dirname, '..')) as Binding;
