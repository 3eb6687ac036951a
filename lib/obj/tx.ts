// The transaction handle of an ObjPool, and the JavaScript half of
// pool.transaction(): synchronous, flattened when nested, always ended
// (committed or aborted, then pmemobj_tx_end) before it returns or throws.
import { checkBoolean, checkBytes, checkIndex, checkOptions, checkRange, isThenable } from '../core/args';
import { binding, NativeObjPool } from '../core/binding';
import { PmemError } from '../core/errors';

const MAX_ALLOC = binding.objConstants.maxAlloc;

/** A pool offset: what libpmemobj calls PMEMoid.off. 0 is the null pointer. */
export type Ptr = number;

export interface TxAllocOptions {
  /** Zero the new object (pmemobj_tx_zalloc). Default false. */
  zero?: boolean;
}

/** @internal The RangeError for a Ptr range outside every live object. */
export function notInObject(ptr: number, length: number): RangeError {
  return new RangeError(`range [${ptr}, +${length}) is not inside an allocated object`);
}

/** @internal The RangeError for a Ptr that is not a live object's start. */
export function notObjectStart(ptr: number): RangeError {
  return new RangeError(`${ptr} is not the start of an allocated object (other than the root)`);
}

type TxState = 'open' | 'committed' | 'aborted' | 'failed';

/**
 * The handle passed to a `pool.transaction()` function. Valid only while
 * that function runs; afterwards every method throws PmemError
 * `ERR_PMEM_TX_ENDED`. Nothing it does is durable until the outermost
 * transaction function returns and the commit completes.
 */
export class ObjTx {
  #native: NativeObjPool;
  #size: number;
  #path: string;
  #state: TxState = 'open';
  /** @internal */ cause: unknown = undefined;

  /** Created by pool.transaction(): the constructor takes the native handle. */
  constructor(native: NativeObjPool, size: number, path: string) {
    this.#native = native;
    this.#size = size;
    this.#path = path;
  }

  /** Whether the transaction is still open. */
  get active(): boolean {
    return this.#state === 'open';
  }

  /**
   * Snapshots `[ptr, ptr + length)` (pmemobj_tx_add_range) so that stores to
   * it through `pool.view()` are rolled back by an abort or a crash, and
   * flushed by the commit. The range must lie inside one allocated object.
   * @throws RangeError outside an object; PmemError ERR_PMEM_TX_ENDED,
   *   ERR_PMEM_NO_MEMORY
   */
  add(ptr: Ptr, length: number): void {
    this.#live();
    checkRange(ptr, length, this.#size);
    if (!this.#native.txAdd(ptr, length)) throw notInObject(ptr, length);
  }

  /** Snapshots `[ptr, ptr + data.length)` and copies `data` there (add + write). */
  write(ptr: Ptr, data: Uint8Array): void {
    checkIndex(ptr, 'ptr');
    checkBytes(data, 'data');
    this.#live(); // after the checks, which may run a Proxy's trap
    if (!this.#native.txWrite(ptr, data)) throw notInObject(ptr, data.length);
  }

  /**
   * Allocates an object (pmemobj_tx_alloc) that exists only if the
   * transaction commits.
   * @throws RangeError for size 0 or above PMEMOBJ_MAX_ALLOC_SIZE; TypeError
   *   for an unknown option; PmemError ERR_PMEM_NO_SPACE, ERR_PMEM_TX_ENDED
   */
  alloc(size: number, options: TxAllocOptions = {}): Ptr {
    checkIndex(size, 'size');
    if (size === 0 || size > MAX_ALLOC) throw new RangeError(`size must be 1..${MAX_ALLOC}, got ${size}`);
    checkOptions(options, ['zero']);
    const zero = checkBoolean(options.zero === undefined ? false : options.zero, 'zero');
    // Checked after the options are read: a getter on them may have ended
    // the transaction, and the native call would then begin a new one that
    // nothing ever ends.
    this.#live();
    return this.#native.txAlloc(size, zero);
  }

  /** Frees an object when the transaction commits (pmemobj_tx_free); at once unusable here. */
  free(ptr: Ptr): void {
    this.#live();
    checkIndex(ptr, 'ptr');
    if (!this.#native.txFree(ptr)) throw notObjectStart(ptr);
  }

  /**
   * Rolls the whole transaction back now (the outer one too, when nested)
   * and ends it. The transaction function may go on running, but `tx` is
   * unusable, and nothing it did is committed. Aborting twice does nothing.
   */
  abort(): void {
    if (this.#state !== 'open') return;
    this.#end('aborted');
  }

  /** @internal */
  get state(): TxState {
    return this.#state;
  }

  /** @internal Commits (when open) or confirms an earlier abort. */
  commit(): void {
    if (this.#state !== 'open') return;
    try {
      this.#native.txCommit();
      this.#state = 'committed';
    } catch (e) {
      // The native side has already ended (and rolled back) the transaction.
      this.#state = 'failed';
      throw e;
    }
  }

  /** @internal Aborts because the function threw (or returned a promise). */
  fail(cause: unknown): void {
    if (this.#state !== 'open') return;
    this.cause = cause;
    this.#end('failed');
  }

  #end(state: TxState): void {
    this.#state = state;
    this.#native.txAbort();
  }

  #live(): void {
    if (this.#state !== 'open') {
      throw new PmemError('ERR_PMEM_TX_ENDED', `the transaction on '${this.#path}' has ended (${this.#state})`, {
        path: this.#path,
      });
    }
  }
}

// The transaction open on this thread. A module instance is per thread
// (workers load their own), as libpmemobj's transactions are.
// Two variables rather than one object: no allocation per transaction.
let currentOwner: object | null = null;
let currentTx: ObjTx | null = null;

// Whether the process is exiting. process.exit() inside a transaction's
// function runs the 'exit' listeners with the transaction still open, and
// it is rolled back when the pool closes at exit: a transaction a listener
// begins then would join it, return, and be lost with it. Prepended, so
// that it is set before any listener of the application runs.
let exiting = false;
process.prependListener('exit', () => {
  exiting = true;
});

function refusePromise(tx: ObjTx, result: PromiseLike<unknown>): never {
  const err = new TypeError('a transaction function must not return a promise: transactions are synchronous');
  tx.fail(err);
  // The async function may still reject later (using tx after the end, say);
  // that outcome is already reported here.
  Promise.resolve(result).then(undefined, () => undefined);
  throw err;
}

/** @internal The body of ObjPool.transaction. */
export function runTransaction<T>(
  owner: object,
  native: NativeObjPool,
  size: number,
  path: string,
  fn: (tx: ObjTx) => T,
): T {
  if (typeof fn !== 'function') throw new TypeError('transaction expects a function');
  if (currentTx !== null) {
    if (currentOwner !== owner) {
      throw new PmemError(
        'ERR_PMEM_INVALID',
        'a transaction on another pool is open on this thread; libpmemobj transactions cannot span pools',
        { path },
      );
    }
    // Nested: flatten into the outer transaction. An error leaving the inner
    // function aborts the whole transaction, as in libpmemobj.
    const tx = currentTx;
    if (!tx.active) {
      throw new PmemError('ERR_PMEM_TX_ENDED', `the transaction on '${path}' has ended (${tx.state})`, { path });
    }
    if (exiting) {
      throw new PmemError('ERR_PMEM_TX_ENDED', `the process is exiting inside the transaction on '${path}', which is rolled back: `
        + 'a transaction begun now would join it and be lost with it', { path });
    }
    let result: T;
    try {
      result = fn(tx);
      // Inside the try: a `then` getter on the result may throw, and that
      // error leaves the nested call as much as one from `fn` does.
      if (isThenable(result)) refusePromise(tx, result);
    } catch (e) {
      tx.fail(e);
      throw e;
    }
    return result;
  }

  const tx = new ObjTx(native, size, path);
  currentOwner = owner;
  currentTx = tx;
  let result: T;
  try {
    result = fn(tx);
    if (isThenable(result)) refusePromise(tx, result);
  } catch (e) {
    currentOwner = currentTx = null;
    tx.fail(e);
    throw e;
  }
  currentOwner = currentTx = null;
  if (tx.state === 'failed') {
    // A nested function threw, the outer one caught it and returned: the
    // work is already rolled back, so returning normally would lie.
    const err = new PmemError(
      'ERR_PMEM_TX_ENDED',
      `the transaction on '${path}' was aborted by an error in a nested transaction`,
      { path },
    );
    (err as { cause?: unknown }).cause = tx.cause;
    throw err;
  }
  // Returning normally commits. If the commit itself fails, libpmemobj has
  // rolled the transaction back and the error is thrown.
  tx.commit();
  return result;
}

/** @internal Whether `owner` has a transaction open on this thread. */
export function inTransaction(owner: object): boolean {
  return currentTx !== null && currentOwner === owner;
}
