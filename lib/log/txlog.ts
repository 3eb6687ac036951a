// The transaction log's protocol: one-fence redo transactions, undo
// updates, and the retire that lets the bytes they wrote be written
// directly. The layout and the reading and writing of records are in
// txlog-format.ts, the recovery in txlog-recover.ts; the protocol's
// argument is in docs/durability.md.
import { align8, apartFrom, checkIndex, checkOptions, checkRange, isThenable, snapshotBytes } from '../core/args';
import { checkOpen, closedError, PmemError } from '../core/errors';
import { sealAndApply } from '../core/records';
import { checkRegion, populate, type Region, sealRecord, store64 } from '../core/region';
import {
  flushTargets, HeaderWriter, MIN_SLOT, MODE_REDO, MODE_UNDO, RETIRE_LINE, slotBytes, slotOf, TX_ENTRY_HEADER, TX_LOG_HEADER, TXLOG_SIZE_AT,
  TXLOG_MAGIC, TXLOG_VERSION, txLogChecksum,
} from './txlog-format';
import { recoverTxLog, type TxRecovery } from './txlog-recover';

export type { TxRecovery } from './txlog-recover';

/** Stages writes inside `TxLog.run`. */
export interface TxWriter {
  /** Stages `data` for `offset`; applied at commit. Reads in the function see the old bytes. */
  write(offset: number, data: Uint8Array): void;
}

/** `TxLog`'s staging of one write, for `RunWriter` (set in TxLog's static block). */
let stageWrite: (log: TxLog, token: number, offset: number, data: Uint8Array) => void;

/**
 * The `tx` of one run: the log and the run's token, one small object per
 * run (no closure), whose writes the log refuses once the run has ended.
 */
class RunWriter implements TxWriter {
  constructor(readonly log: TxLog, readonly token: number) {}

  write(offset: number, data: Uint8Array): void {
    stageWrite(this.log, this.token, offset, data);
  }
}

/**
 * Atomic multi-line updates on a Region, through a small log area of two
 * slots (docs/formats.md):
 *
 * - `run(fn)`: a redo transaction with one fence. The staged writes (new
 *   bytes) are logged in slot `seq % 2` under a checksum that covers the
 *   sequence number, and the record is flushed and fenced: that fence is the
 *   commit. The writes are then applied in place and flushed, not fenced:
 *   the next fence makes them durable, and until then the log can redo them.
 * - `undoUpdate(offset, bytes)`: an in-place update with an undo log: the
 *   old bytes are logged and made durable, the update is made in place and
 *   persisted, then the retire word is persisted.
 * - `checkpoint()`: the retire. Makes the in-place writes durable and
 *   stores the last sequence number in the retire word, so that recovery
 *   redoes nothing from the log: needed before bytes a transaction wrote are
 *   written directly, not through the log.
 *
 * - `close()`: the retire, made durable; the log then refuses every call.
 *
 * Transaction `seq` overwrites the record of `seq - 2`, whose in-place writes
 * were made durable by the fence of `seq - 1`. So the log never loses a
 * record whose writes may not be durable, and needs no fence of its own to
 * be reused.
 */
export class TxLog {
  readonly region: Region;
  readonly offset: number;
  readonly size: number;
  /** Bytes in each slot. */
  readonly #slot: number;
  #seq = 0; // last sequence number used
  #retired = 0; // last sequence number the retire word holds (or will, at the next fence)
  /** Set when the retire word was stored and flushed but no fence has followed (checkpoint). */
  #retireUnfenced = false;
  #closed = false;
  #runs = 0; // run() calls so far: each writer's token
  #staging = 0; // token of the run staging writes, or 0
  #count = 0; // entries staged
  #end = 0; // region offset where the next staged entry goes
  #limit = 0; // region offset where the slot being staged ends
  /** The region's bytes, read once per run for its staged writes. */
  #bytes: Buffer | undefined;
  /** Set when a subclass computes the checksum itself: records are then sealed in JS. */
  readonly #ownChecksum: boolean;
  // The staged entries (target, length, where the new bytes are in the
  // record), kept beside the record so that applying and flushing them do
  // not read it back; and line ranges for flushTargets. Reused run to run.
  readonly #targets: number[] = [];
  readonly #lens: number[] = [];
  readonly #srcs: number[] = [];
  readonly #lo: number[] = [];
  readonly #hi: number[] = [];
  readonly #headers = new HeaderWriter();

  static {
    stageWrite = (log, token, offset, data) => log.#stage(token, offset, data);
  }

  /** Writes an empty log and persists it. */
  static format(region: Region, options: { offset: number; size: number }): TxLog {
    const log = new this(region, options);
    const b = region.bytes;
    b.fill(0, log.offset, log.offset + RETIRE_LINE);
    b.writeUInt32LE(TXLOG_MAGIC, log.offset + 8);
    b.writeUInt32LE(TXLOG_VERSION, log.offset + 12);
    b.writeBigUInt64LE(BigInt(log.size), log.offset + TXLOG_SIZE_AT); // open checks the size it is given against it
    b.fill(0, log.offset + RETIRE_LINE, log.offset + RETIRE_LINE + TX_LOG_HEADER);
    b.fill(0, log.offset + RETIRE_LINE + log.#slot, log.offset + RETIRE_LINE + log.#slot + TX_LOG_HEADER);
    // The retire word 0, the magic and size, and both slots' headers zeroed, durable:
    // recovery finds no record, whatever these bytes held before (a record
    // is read only at a slot's start, and a zero header is none).
    region.persist(log.offset, RETIRE_LINE + TX_LOG_HEADER);
    region.persist(log.offset + RETIRE_LINE + log.#slot, TX_LOG_HEADER);
    return log;
  }

  /**
   * Opens a log and runs `recover()`.
   * @throws PmemError ERR_PMEM_CORRUPT when the region holds no log of this
   *   layout and size at `offset`, or its retire word is past any sequence
   *   number (2^53 - 1 or more: damage)
   */
  static open(region: Region, options: { offset: number; size: number }): TxLog {
    const log = new this(region, options);
    log.recover();
    populate(region, log.offset, log.size); // the log faulted in once: no transaction faults on a fresh page
    return log;
  }

  protected constructor(region: Region, options: { offset: number; size: number }) {
    checkRegion(region);
    // An unknown name (a `readOnly`, a misspelt `sise`) would be dropped unseen.
    const { offset, size } = checkOptions(options, ['offset', 'size']) as typeof options; // read once: the values checked are the values used
    checkIndex(size, 'size'); // named as the option is: checkRange would call it the length
    checkRange(offset, size, region.length);
    if (offset % RETIRE_LINE !== 0) throw new RangeError(`offset must be a multiple of ${RETIRE_LINE}`);
    if (slotBytes(size) < MIN_SLOT) throw new RangeError(`a log needs at least ${RETIRE_LINE + 2 * MIN_SLOT} bytes`);
    this.region = region;
    this.offset = offset;
    this.size = size;
    this.#slot = slotBytes(size);
    this.#ownChecksum = this.logChecksum !== TxLog.prototype.logChecksum;
  }

  /**
   * Runs `fn` to stage writes, then commits them atomically with one fence.
   * Durable when it returns; after a crash, recovery finds either none of the
   * writes or all of them. If `fn` throws, nothing is written and the error
   * is rethrown. Bytes written here may be written directly (not through
   * this log) only after `checkpoint()` or `close()`: until then recovery
   * may redo them.
   * @returns what `fn` returns (after the commit: the writes are durable
   *   when it is seen)
   * @throws TypeError if `fn` returns a promise (nothing is written)
   * @throws PmemError ERR_PMEM_CLOSED when the log or its region is closed
   * @throws RangeError if a write falls outside the region or on the log,
   *   or the writes do not fit one transaction (`capacity`)
   */
  run<T>(fn: (tx: TxWriter) => T): T {
    this.#live();
    if (typeof fn !== 'function') throw new TypeError('fn must be a function');
    if (this.#staging !== 0) throw new TypeError('a transaction is already running on this log; they do not nest');
    // Writes are staged straight into slot seq % 2. It holds the record of
    // seq - 2, whose in-place writes the fence of seq - 1 made durable (or
    // recovery did, or an undo update's fences): it is free to overwrite.
    // Until the new record is sealed its checksum fails, and recovery
    // ignores the slot.
    const seq = this.#nextSeq();
    const start = slotOf(this.offset, this.size, seq);
    const b = this.region.bytes;
    this.#bytes = b;
    const token = ++this.#runs;
    this.#staging = token;
    this.#count = 0;
    this.#end = start + TX_LOG_HEADER;
    this.#limit = start + this.#slot;
    const writer: TxWriter = new RunWriter(this, token);
    let result: T;
    try {
      result = fn(writer);
      if (isThenable(result)) {
        throw new TypeError('transaction functions must be synchronous; a promise was returned and nothing was written');
      }
    } finally {
      this.#staging = 0;
    }
    if (this.#count === 0) return result;
    this.#live(); // fn may have closed the region (closing the log inside fn is refused)
    const end = this.#end;
    this.#headers.record(b, start, seq, MODE_REDO, this.#count, end - start - TX_LOG_HEADER);
    // The commit: the record, checksummed over its sequence number and
    // entries, flushed and fenced. This is the transaction's one fence.
    // Before it completes, no in-place write has been made (a crash finds
    // the old bytes, and a record that fails its checksum or is whole:
    // either is right). The fence also makes durable the in-place writes of
    // the run before, which were flushed when it returned.
    const count = this.#count;
    if (count === 1 && !this.#ownChecksum) {
      // One write: the steps below in one call (sealAndApply, records.ts).
      sealAndApply(this.region, start, end, 0, this.#targets[0], this.#srcs[0], this.#lens[0]);
      this.#seq = seq;
      return result;
    }
    this.#seal(start, end);

    // Apply in place, after the fence: a crash from here on may persist any
    // subset of these lines, and recovery redoes them all from the record.
    const targets = this.#targets;
    const lens = this.#lens;
    const srcs = this.#srcs;
    for (let i = 0; i < count; i++) b.copyWithin(targets[i], srcs[i], srcs[i] + lens[i]);
    // Flushed, not fenced: the next fence on this region (the next run's
    // commit, a checkpoint, an undo update, any persist) makes them
    // durable. Until then the record redoes them. Each line once.
    flushTargets(this.region, targets, lens, count, this.#lo, this.#hi);
    this.#seq = seq;
    return result;
  }

  /** One staged write: its entry and new bytes, at the record's end. */
  #stage(token: number, offset: number, data: Uint8Array): void {
    if (token !== this.#staging) throw new TypeError('this transaction has ended');
    this.#live();
    data = snapshotBytes(data, 'data'); // read once: the length checked is the length copied
    this.#checkTarget(offset, data.length);
    data = apartFrom(data, this.region.bytes); // bytes inside the region may be in the slot written below
    const len = data.length;
    const at = this.#end;
    const next = at + TX_ENTRY_HEADER + align8(len);
    if (next > this.#limit) {
      // Counted as `capacity` counts: the payloads padded to 8, plus an entry
      // header for each write after the first. One write fits exactly when
      // its length is at most `capacity`.
      const need = next - this.#limit + this.#capacity();
      throw new RangeError(
        `the writes need ${need} bytes of log (payloads padded to 8, and 16 per write after the first); ` +
          `a transaction holds at most ${this.#capacity()} (txlog.capacity)`,
      );
    }
    const b = this.#bytes!;
    this.#headers.entry(b, at, offset, len);
    b.set(data, at + TX_ENTRY_HEADER);
    const i = this.#count;
    this.#targets[i] = offset;
    this.#lens[i] = len;
    this.#srcs[i] = at + TX_ENTRY_HEADER;
    this.#end = next;
    this.#count = i + 1;
  }

  /**
   * Writes `data` at `offset` in place, atomically across a crash, with an
   * undo log. Durable when it returns, and retired: the bytes may be
   * written directly afterwards.
   * @throws RangeError if the range falls outside the region, on the log, or
   *   does not fit a slot; PmemError ERR_PMEM_CLOSED when the log or its region is closed
   */
  undoUpdate(offset: number, data: Uint8Array): void {
    this.#live();
    data = snapshotBytes(data, 'data'); // read once: the length checked is the length copied
    this.#checkTarget(offset, data.length);
    data = apartFrom(data, this.region.bytes); // bytes inside the region may be in the slot written below
    if (this.#staging !== 0) throw new TypeError('a transaction is running on this log');
    const len = data.length;
    const seq = this.#nextSeq();
    const start = slotOf(this.offset, this.size, seq);
    const at = start + TX_LOG_HEADER;
    const end = at + TX_ENTRY_HEADER + align8(len);
    if (end > start + this.#slot) {
      throw new RangeError(`the update needs ${align8(len)} bytes of log; an update holds at most ${this.#capacity()} (txlog.capacity)`);
    }
    const b = this.region.bytes;
    this.#headers.entry(b, at, offset, len);
    b.copyWithin(at + TX_ENTRY_HEADER, offset, offset + len); // the old bytes
    this.#headers.record(b, start, seq, MODE_UNDO, 1, end - at);
    // 1. The old bytes are durable before the first in-place store can be
    //    (and so are the last run's in-place writes).
    this.#seal(start, end);
    // 2. Update in place and persist: the new bytes are durable before the
    //    retire word says so.
    b.set(data, offset);
    this.region.persist(offset, len);
    // 3. Retire (aligned 8-byte store): from here on recovery leaves this
    //    update and every transaction before it alone. Persisted: the call
    //    returns with nothing left for recovery to do.
    store64(b, this.offset, seq);
    this.region.persist(this.offset, 8);
    this.#seq = seq;
    this.#retired = seq;
    this.#retireUnfenced = false; // that persist fenced any retire a checkpoint left flushed
  }

  /**
   * Retires the log: makes every transaction's in-place writes durable and
   * stores the last sequence number in the retire word, so that recovery
   * redoes nothing. Call it before writing directly (not through this log)
   * to bytes a `run` wrote. Costs one fence, and nothing when no run came
   * since the last retire.
   * @throws TypeError inside a transaction's function; PmemError
   *   ERR_PMEM_CLOSED when the log or its region is closed
   */
  checkpoint(): void {
    this.#live();
    if (this.#staging !== 0) throw new TypeError('a transaction is running on this log');
    this.#retire();
  }

  /**
   * Closes the log. First it retires the log durably: `checkpoint()`, then
   * a fence, so that the next open finds nothing to redo (and a read-only
   * open of the region nothing to write). Costs two fences when a run came
   * since the last retire, one when only a `checkpoint()` did (its retire
   * is flushed, not fenced), nothing otherwise. Closing twice does nothing;
   * every other method then throws ERR_PMEM_CLOSED.
   *
   * The region is the caller's and stays open: a TxLog holds no file, lock
   * or descriptor of its own, only its place in the region. A region closed
   * first leaves nothing to write, and a failure to write the retire (a
   * failed msync) is not thrown: the log is closed all the same, every run
   * it committed is durable through its record, and the next open redoes
   * what the retire would have covered.
   * @throws TypeError inside a transaction's function (the log stays open)
   */
  close(): void {
    if (this.#closed) return;
    if (this.#staging !== 0) throw new TypeError('a transaction is running on this log');
    this.#closed = true;
    this.#bytes = undefined;
    if (this.region.closed === true) return;
    try {
      this.#retire();
      if (this.#retireUnfenced) {
        // The retire word is flushed, not fenced (by #retire just above, or
        // by a checkpoint with no fence since): this fence makes it durable.
        // Not needed for correctness: as after checkpoint(), a direct write
        // the caller makes after close() is durable only through a later
        // fence, which makes the retire durable first, and until then a
        // crash redoes the last runs over bytes that already hold what they
        // wrote. What it gives: a crash after close() finds the retire on
        // the media, so the next open redoes nothing, and a read-only open
        // of the region has nothing to write.
        this.region.drain();
        this.#retireUnfenced = false;
      }
    } catch (e) {
      if (!(e instanceof PmemError)) throw e;
    }
  }

  /** Whether `close()` was called. (A region closed under the log shows in `region.closed`.) */
  get closed(): boolean {
    return this.#closed;
  }

  /** Calls `close()`, so that `using log = TxLog.open(...)` closes the log at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * The retire of `checkpoint()` and `close()`: the in-place writes of every
   * run since the last retire made durable, then the last sequence number
   * stored in the retire word and flushed. Nothing when no run came since.
   */
  #retire(): void {
    if (this.#retired === this.#seq) return;
    // The in-place writes of the runs since the last retire were flushed
    // when each returned: this fence makes them durable before the retire
    // word can be. A retire that reached the media first would leave a
    // committed transaction neither applied nor redone.
    this.region.drain();
    const seq = this.#seq;
    store64(this.region.bytes, this.offset, seq);
    // Flushed, not fenced: a direct write is durable only through a later
    // fence, which makes this durable first; so no recovery redoes a run
    // over a direct write that was made durable. Before that fence a crash
    // may redo the last run, which rewrites the bytes they already hold.
    this.region.flush(this.offset, 8);
    this.#retired = seq;
    this.#retireUnfenced = true;
  }

  /**
   * The sequence number of the next run or undo update. At most 2^53 - 2,
   * the highest retire word an open accepts (txlog-recover.ts): one past
   * would number the next run as the one before it, in the same slot. A
   * million runs a second reach it in 285 years; a retire word edited near
   * it reaches it sooner.
   * @throws PmemError ERR_PMEM_NO_SPACE when none is left (nothing is written)
   */
  #nextSeq(): number {
    const seq = this.#seq + 1;
    if (seq >= Number.MAX_SAFE_INTEGER) {
      throw new PmemError('ERR_PMEM_NO_SPACE', `the transaction log has used its last sequence number (${this.#seq}, 2^53 - 2 at most); format a new one`);
    }
    return seq;
  }

  /**
   * Completes what a crash interrupted (txlog-recover.ts): redoes the
   * committed transactions whose in-place writes may not be durable, rolls
   * back an undo update that was not retired, and retires the log. Runs on
   * open. Idempotent: a crash during it leaves the log as it was.
   * @throws PmemError ERR_PMEM_CORRUPT when the region holds no log of this
   *   layout, its retire word is past any sequence number, or an undo update
   *   that was never retired precedes a later record; ERR_PMEM_CLOSED when
   *   the log or its region is closed
   */
  recover(): TxRecovery {
    this.#live();
    const r = recoverTxLog(this.region, this.offset, this.size, (b, start, n) => this.logChecksum(b, start, n));
    this.#seq = r.seq;
    this.#retired = r.seq;
    return r;
  }

  /** Payload bytes one transaction's writes may total (less 16 per write after the first). */
  get capacity(): number {
    this.#live();
    return this.#capacity();
  }

  /** A slot less its record header and one entry header: `capacity`, and the figure its errors give. */
  #capacity(): number {
    return this.#slot - TX_LOG_HEADER - TX_ENTRY_HEADER;
  }

  /**
   * The record checksum: crc32c of header bytes 4..31 (sequence number
   * included) and the entries. A subclass may compute its own; its records
   * are then sealed in JS.
   */
  protected logChecksum(b: Buffer, start: number, bytes: number): number {
    return txLogChecksum(b, start, bytes);
  }

  /** Checksums the record in [start, end), stores the checksum, flushes the record and fences. */
  #seal(start: number, end: number): void {
    if (!this.#ownChecksum) {
      sealRecord(this.region, start, end, 0, true);
      return;
    }
    const b = this.region.bytes;
    b.writeUInt32LE(this.logChecksum(b, start, end - start - TX_LOG_HEADER), start);
    this.region.persist(start, end - start);
  }

  /** ERR_PMEM_CLOSED once `close()` was called, or once the region under the log is closed. */
  #live(): void {
    if (this.#closed) throw closedError('transaction log');
    checkOpen(this.region, 'transaction log');
  }

  #checkTarget(offset: number, length: number): void {
    checkRange(offset, length, this.region.length);
    if (offset < this.offset + this.size && offset + length > this.offset) {
      throw new RangeError(`range [${offset}, +${length}) overlaps the transaction log`);
    }
  }
}
