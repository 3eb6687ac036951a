import { dirname as pathDirname, join as pathJoin } from 'node:path';

import { checkBoolean, checkBytes, checkIndex, checkOptions, checkPath, checkRange } from '../core/args';
import { binding, NativeObjPool } from '../core/binding';
import { DirEntries, namingFile, pathTooLong, refusedIn, refuseDirectoryName, refuseTooLong, removeLeftovers, syncDir, tmpName } from '../core/create-file';
import { closedError, isPmemError, PmemError } from '../core/errors';
import { identifyPath, lockFile } from '../core/identify';
import { poolDamage, refuseBadDescriptor, refuseDamagedPool } from './media';
import { inTransaction, notInObject, notObjectStart, ObjTx, Ptr, runTransaction } from './tx';
import { Windows } from '../core/windows';

export type { Ptr } from './tx';

export interface ObjPoolCreateOptions {
  /** The layout name stored in the pool; open checks it. Default ''. At most 1023 bytes. */
  layout?: string;
  /** Pool size in bytes, at least 8 MiB (PMEMOBJ_MIN_POOL). Default 8 MiB. */
  size?: number;
  /**
   * Permission bits of the new file, 0..0o777 (no setuid, setgid or sticky
   * bit). Default 0o666. As for any file created with open(2), the umask (or
   * the directory's default ACL) is applied: the file gets `mode & ~umask`.
   */
  mode?: number;
  /**
   * Record and check the unsafe-shutdown state (libpmemobj's ctl
   * `sds.at_create`). Default true. Emulated persistent memory may not
   * report an unsafe-shutdown count, and create/open then fail with
   * ERR_PMEM_SDS; `sds: false` creates a pool that never reads it.
   */
  sds?: boolean;
  /** Enable libpmemobj's statistics (ctl `stats.enabled`), read by `stats()`. Default true. */
  stats?: boolean;
}

export interface ObjPoolOpenOptions {
  /** The expected layout name; omitted: any layout is accepted. */
  layout?: string;
  /** Enable libpmemobj's statistics, read by `stats()`. Default true. */
  stats?: boolean;
}

export interface AllocOptions {
  /** Zero the object (pmemobj_zalloc). Default false. */
  zero?: boolean;
}

export interface ObjPoolStats {
  /** Bytes currently allocated, headers included (stats.heap.curr_allocated). */
  currAllocated: number;
  /** Bytes allocated in runs, for small objects (stats.heap.run_allocated). */
  runAllocated: number;
  /** Bytes in active runs (stats.heap.run_active). */
  runActive: number;
}

/** libpmemobj's limits. */
export const OBJ_MIN_POOL: number = binding.objConstants.minPool;
export const OBJ_MAX_ALLOC: number = binding.objConstants.maxAlloc;

/** Largest ArrayBuffer Node 20 can hold; windows as in lib/core/mapping.ts. */

// String.prototype.isWellFormed (Node 20's V8; ES2024, past the lib this package compiles against).
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

function checkLayout(layout: unknown): string {
  if (typeof layout !== 'string') throw new TypeError('layout must be a string');
  // libpmemobj takes the name as a C string: it would store, and compare,
  // only the part before a NUL, so 'a\0b' would be taken for 'a'.
  if (layout.includes('\0')) throw new TypeError('layout must not contain a NUL byte');
  // A lone surrogate has no UTF-8 form: it would be stored, and compared, as
  // U+FFFD, so two different layouts would be taken for the same one.
  if (!isWellFormed.call(layout)) {
    throw new TypeError('layout must be a well-formed string: a lone surrogate has no UTF-8 form');
  }
  if (Buffer.byteLength(layout) >= binding.objConstants.maxLayout) {
    throw new RangeError(`layout must be shorter than ${binding.objConstants.maxLayout} bytes`);
  }
  return layout;
}

/**
 * Refuses a file without the pool signature before libpmemobj maps it:
 * ERR_PMEM_NOT_POOL, saying what the file holds. Returns whether the file
 * has the signature, for the checks of lib/obj/media.ts. A missing or
 * unreadable file, and a pool set file, are left to libpmemobj, which
 * reports why.
 */
function notAPool(path: string): boolean {
  const id = identifyPath(path);
  if (id !== undefined && id.kind !== 'objpool' && id.kind !== 'poolset') {
    throw new PmemError('ERR_PMEM_NOT_POOL', `'${path}' is not a libpmemobj pool: it holds ${id.description}`, { path });
  }
  return id?.kind === 'objpool';
}

/**
 * Runs `read`, which reads the pool file at `path` itself (lib/obj/media.ts),
 * under a shared flock of the file. libpmemobj holds an exclusive one while
 * the pool is open, in this process or another: such a pool is
 * ERR_PMEM_LOCKED here, as pmemobj_open would find it, rather than read
 * while its owner changes it and judged damaged. Released before
 * libpmemobj opens the file, whose own lock would conflict with it.
 */
function whileNotOpen<T>(path: string, read: () => T): T {
  const lock = lockFile(path, false);
  try {
    return read();
  } finally {
    lock.release();
  }
}

/**
 * A libpmemobj pool. Pointers are `Ptr` numbers: offsets from the start of
 * the pool, never addresses; 0 is null. Every pointer is checked on use:
 * it must lie inside the pool and, for views, writes and frees, inside a
 * live object (a table of live objects is built at open and kept in step
 * with every allocation and free). A bad one is a RangeError.
 *
 * A pool belongs to the thread that opened it; libpmemobj allows one open
 * per pool file per process (a second gives ERR_PMEM_LOCKED).
 */
export class ObjPool {
  readonly path: string;
  /** The pool's length in bytes; every Ptr is below it. */
  readonly size: number;
  #native: NativeObjPool | null;
  readonly #views: Windows;

  private constructor(path: string, native: NativeObjPool) {
    this.path = path;
    this.#native = native;
    this.size = native.size;
    this.#views = new Windows(this.size, 'pool', (start, span) => this.#live().view(start, span));
  }

  /**
   * Creates a pool file (pmemobj_create). The file must not exist. It is
   * created with `mode & ~umask` and never has wider permissions; on failure
   * it is removed again.
   * @throws PmemError ERR_PMEM_EXISTS, ERR_PMEM_NOT_FOUND (no such directory),
   *   ERR_PMEM_ACCESS, ERR_PMEM_NO_SPACE, ERR_PMEM_SDS, ERR_PMEM_INVALID
   */
  static create(path: string, options: ObjPoolCreateOptions = {}): ObjPool {
    checkPath(path);
    checkOptions(options, ['layout', 'size', 'mode', 'sds', 'stats']);
    const layout = checkLayout(options.layout === undefined ? '' : options.layout);
    const size = checkIndex(options.size === undefined ? OBJ_MIN_POOL : options.size, 'size');
    if (size < OBJ_MIN_POOL) throw new RangeError(`size must be at least ${OBJ_MIN_POOL} (8 MiB), got ${size}`);
    const mode = checkIndex(options.mode === undefined ? 0o666 : options.mode, 'mode');
    // Permission bits only (see ObjPoolCreateOptions.mode); refused before
    // anything is created.
    if (mode > 0o777) throw new RangeError(`mode must be 0..0o777, got 0o${mode.toString(8)}`);
    const sds = checkBoolean(options.sds === undefined ? true : options.sds, 'sds');
    const stats = checkBoolean(options.stats === undefined ? true : options.stats, 'stats');
    // Not a pool of `size` bytes built for a name the link then refuses.
    refuseTooLong(path);
    refuseDirectoryName(path);
    // Made whole under a new name beside `path`, made durable, then linked
    // to `path` (never replacing a file there): a kill leaves `path`
    // missing or a whole pool (native/obj/pool.cc, Create).
    const dir = new DirEntries(pathDirname(path));
    const name = tmpName(path);
    let tmp = pathJoin(dir.dir, name); // named in messages when it cannot be reached
    let native: NativeObjPool;
    try {
      tmp = dir.path(name);
      removeLeftovers(path);
      native = binding.objCreate(path, tmp, layout, size, mode, sds, stats);
    } catch (e) {
      throw pathTooLong(path, e) ?? (isPmemError(e) && e.path === tmp && e.syscall === 'open' ? refusedIn(path, dir.dir, e) : namingFile(e, tmp, path));
    } finally {
      dir.close();
    }
    try {
      syncDir(path); // the new name durable before the pool is handed out
    } catch (e) {
      native.close();
      throw namingFile(e, tmp, path);
    }
    return new ObjPool(path, native);
  }

  /**
   * Opens a pool (pmemobj_open). libpmemobj recovers an interrupted
   * transaction here: its undo log is applied, so the pool is as it was
   * before that transaction began. A damaged pool (lib/obj/media.ts), a
   * root that is not an allocated object of the root's size among them, is
   * refused before libpmemobj maps it, or, when a log is to be recovered,
   * right after recovery.
   * @throws PmemError ERR_PMEM_NOT_FOUND, ERR_PMEM_NOT_POOL, ERR_PMEM_LAYOUT,
   *   ERR_PMEM_CORRUPT, ERR_PMEM_LOCKED, ERR_PMEM_ACCESS, ERR_PMEM_SDS
   */
  static open(path: string, options: ObjPoolOpenOptions = {}): ObjPool {
    checkPath(path);
    checkOptions(options, ['layout', 'stats']);
    const layout = options.layout === undefined ? null : checkLayout(options.layout);
    const stats = checkBoolean(options.stats === undefined ? true : options.stats, 'stats');
    let rootAfterRecovery = false;
    if (notAPool(path)) {
      rootAfterRecovery = whileNotOpen(path, () => {
        refuseBadDescriptor(path, layout);
        return refuseDamagedPool(path);
      });
    }
    const native = binding.objOpen(path, layout, stats);
    if (rootAfterRecovery) {
      // Only after a crash: pmemobj_open has applied a log, which may have
      // set the root, and the root is checked in the recovered file. A
      // refusal here leaves the recovery, and the open's run id, written.
      try {
        refuseDamagedPool(path, true);
      } catch (e) {
        native.close();
        throw e;
      }
    }
    return new ObjPool(path, native);
  }

  /**
   * Checks a closed pool's consistency (pmemobj_check): true if consistent,
   * false if not (also for a pool libpmemobj would loop on, which
   * pmemobj_check is never given). A pool that cannot be checked at all throws.
   * Writes nothing. A pool this process may read but not write (a read-only
   * filesystem, a file mode 0444 to a user other than root), which
   * pmemobj_check cannot open, is checked through a private copy in memory
   * (native/obj/check.cc).
   * @throws PmemError ERR_PMEM_NOT_FOUND, ERR_PMEM_NOT_POOL, ERR_PMEM_LAYOUT,
   *   ERR_PMEM_CORRUPT, ERR_PMEM_LOCKED (the pool is open), ERR_PMEM_ACCESS
   *   (not readable), ERR_PMEM_NO_MEMORY (no memory for the private copy;
   *   another failure to make it by its errno)
   */
  static check(path: string, layout?: string | null): boolean {
    checkPath(path);
    // A pool libpmemobj would loop on is not consistent.
    if (notAPool(path) && whileNotOpen(path, () => poolDamage(path)) !== undefined) return false;
    return binding.objCheck(path, layout == null ? null : checkLayout(layout));
  }

  get closed(): boolean {
    return this.#native === null;
  }

  /**
   * The root object, grown to at least `size` bytes (pmemobj_root; atomic,
   * new bytes zeroed). Growing may move it: use the returned Ptr. With no
   * size (or 0), the current root, or 0 if there is none.
   * @throws PmemError ERR_PMEM_NO_SPACE, ERR_PMEM_CLOSED, ERR_PMEM_INVALID (inside a transaction)
   */
  root(size = 0): Ptr {
    checkIndex(size, 'size');
    const native = this.#live();
    if (size > native.rootSize()) this.#refuseInTransaction('growing the root');
    return native.root(size);
  }

  /** The root's size in bytes (0 if there is none). */
  get rootSize(): number {
    return this.#live().rootSize();
  }

  /**
   * A Buffer over `[ptr, ptr + length)`, sliced from one buffer over the
   * pool that is created once. The range must lie inside one live object.
   * Stores through it are not durable until `persist()`, or until the
   * transaction that added the range commits. Detached on close. On pools
   * over 4 GiB a view may be at most 1 GiB long.
   * @throws RangeError, PmemError ERR_PMEM_CLOSED
   */
  view(ptr: Ptr, length: number): Buffer {
    const native = this.#live();
    checkRange(ptr, length, this.size);
    if (!native.check(ptr, length)) throw notInObject(ptr, length);
    return this.#views.view(ptr, length);
  }

  /**
   * The usable size of the live object that starts at `ptr`
   * (pmemobj_alloc_usable_size, at least the size asked for), or 0 when no
   * live object starts there.
   */
  usableSize(ptr: Ptr): number {
    checkIndex(ptr, 'ptr');
    return this.#live().usableSize(ptr);
  }

  /**
   * Allocates an object atomically (pmemobj_alloc, or pmemobj_zalloc with
   * `zero`): after a crash it is either allocated or not. Outside a
   * transaction only; inside one use `tx.alloc`. Nothing points to it yet:
   * keep its Ptr somewhere durable, or use a transaction.
   * @throws RangeError for size 0 or above OBJ_MAX_ALLOC; TypeError for an
   *   unknown option; PmemError
   *   ERR_PMEM_NO_SPACE, ERR_PMEM_CLOSED, ERR_PMEM_INVALID (inside a transaction)
   */
  alloc(size: number, options: AllocOptions = {}): Ptr {
    checkIndex(size, 'size');
    if (size === 0 || size > OBJ_MAX_ALLOC) throw new RangeError(`size must be 1..${OBJ_MAX_ALLOC}, got ${size}`);
    checkOptions(options, ['zero']);
    const zero = checkBoolean(options.zero === undefined ? false : options.zero, 'zero');
    const native = this.#live();
    this.#refuseInTransaction('pool.alloc');
    return native.alloc(size, zero);
  }

  /**
   * Frees an object atomically (pmemobj_free). `ptr` must be the start of a
   * live object other than the root.
   * @throws RangeError otherwise; PmemError ERR_PMEM_CLOSED, ERR_PMEM_INVALID (inside a transaction)
   */
  free(ptr: Ptr): void {
    checkIndex(ptr, 'ptr');
    const native = this.#live();
    this.#refuseInTransaction('pool.free');
    if (!native.free(ptr)) throw notObjectStart(ptr);
  }

  /**
   * Copies `data` to `ptr` and persists it (pmemobj_memcpy_persist): durable
   * when it returns, but atomic only for an aligned 8-byte store. Use a
   * transaction for anything larger.
   */
  write(ptr: Ptr, data: Uint8Array): void {
    checkIndex(ptr, 'ptr');
    checkBytes(data, 'data');
    if (!this.#live().write(ptr, data)) throw notInObject(ptr, data.length);
  }

  /** Makes `[ptr, ptr + length)` durable (pmemobj_persist) after stores through a view. */
  persist(ptr: Ptr, length: number): void {
    checkRange(ptr, length, this.size);
    if (!this.#live().persist(ptr, length)) throw notInObject(ptr, length);
  }

  /** libpmemobj's heap statistics (pmemobj_ctl_get `stats.heap.*`); zeros unless stats are on. */
  stats(): ObjPoolStats {
    return this.#live().stats();
  }

  /**
   * Runs `fn` in a libpmemobj transaction on the calling thread and returns
   * its result. Returning normally commits: when `transaction` returns, all
   * of it is durable. Throwing aborts: every added range and every
   * allocation is rolled back, then the error is rethrown. A function that
   * returns a promise is refused with a TypeError, its work rolled back.
   * Nested calls flatten into the outer transaction; an error leaving a
   * nested function aborts the outer one too. `tx` is unusable once the
   * transaction ends (PmemError ERR_PMEM_TX_ENDED).
   *
   * Isolation: none beyond libpmemobj's, which has none between threads. A
   * pool is only reachable from the thread that opened it, so in practice
   * no other code runs during a transaction; another process must not map
   * the pool (libpmemobj's flock prevents a second open).
   * @throws whatever `fn` throws; TypeError; PmemError ERR_PMEM_TX_ENDED,
   *   ERR_PMEM_INVALID (a transaction on another pool is open), ERR_PMEM_CLOSED
   */
  transaction<T>(fn: (tx: ObjTx) => T): T {
    const native = this.#live();
    return runTransaction(this, native, this.size, this.path, fn);
  }

  /**
   * Closes the pool and detaches every view. Refused inside this pool's
   * transaction. Closing twice does nothing.
   * @throws PmemError ERR_PMEM_INVALID (inside a transaction)
   */
  close(): void {
    if (this.#native === null) return;
    if (inTransaction(this)) {
      throw new PmemError('ERR_PMEM_INVALID', 'cannot close a pool inside its own transaction', { path: this.path });
    }
    this.#native.close();
    this.#native = null;
    this.#views.clear();
  }

  /**
   * Calls `close()`, so that `using pool = ObjPool.open(...)` closes the pool
   * at the end of the block.
   * @throws PmemError ERR_PMEM_INVALID (inside this pool's transaction)
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Refuses an atomic allocator call while this pool's transaction function
   * runs, from its first line: the native side refuses it only once the
   * transaction's first operation has begun the libpmemobj transaction, and
   * before that it would escape the rollback (an allocation leaked, a free
   * kept, by a function that then throws).
   */
  #refuseInTransaction(what: string): void {
    if (inTransaction(this)) {
      throw new PmemError(
        'ERR_PMEM_INVALID',
        `${what} is not allowed inside a transaction (use the transaction's own methods)`,
        { path: this.path },
      );
    }
  }

  #live(): NativeObjPool {
    if (this.#native === null) {
      throw closedError(`pool '${this.path}'`, this.path);
    }
    return this.#native;
  }
}

