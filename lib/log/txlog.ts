// The transaction log's protocol: redo transactions and undo updates, and
// the recovery that completes or rolls back the one in flight. Its layout
// and the reading of a log from the media are in txlog-format.ts.
import { align8, checkIndex, checkRange, isThenable, snapshotBytes } from '../core/args';
import { checkOpen, PmemError } from '../core/errors';
import { populate, type Region, sealRecord, store64, wordsOf } from '../core/region';
import { COMMIT_LINE, MODE_REDO, MODE_UNDO, readTxLog, TX_ENTRY_HEADER, TX_LOG_HEADER } from './txlog-format';


/** Stages writes inside `TxLog.run`. */
export interface TxWriter {
  /** Stages `data` for `offset`; applied at commit. Reads in the function see the old bytes. */
  write(offset: number, data: Uint8Array): void;
}

export interface TxRecovery {
  /** What recovery did to the transaction it found in the log. */
  action: 'none' | 'redo' | 'undo';
  seq: number;
}

/**
 * Atomic multi-line updates on a Region, through a small log area:
 *
 * - `run(fn)`: a redo transaction, the pm_tx_commit protocol. The staged
 *   writes are logged and the log made durable with one fence; then the
 *   commit word is published with an aligned 8-byte store and the writes are
 *   applied in place; one more flush and fence make both durable.
 * - `undoUpdate(offset, bytes)`: an in-place update with an undo log: the
 *   old bytes are logged and made durable, the update is made in place and
 *   persisted, then a commit record is persisted.
 *
 * Layout at `offset` (size bytes): the commit word (u64) alone on the first
 * 64-byte line, then the log: a 32-byte header (crc32c u32 over the rest of
 * the header and the entries, entry count u32, sequence number u64, entry
 * bytes u64, mode u8, zero) and the entries (target offset u64, length u32,
 * zero u32, the old bytes, and in redo mode the new bytes, each padded to 8).
 *
 * The commit word holds 2·seq while transaction `seq` is committed but maybe
 * not applied, and 2·seq + 1 once it is resolved (applied, or rolled back).
 * Recovery, for a log whose checksum holds and whose seq is the newest:
 * committed → redo (write the new bytes again); not committed → undo (write
 * the old bytes back, since the in-place writes may have partly reached the
 * media); resolved → nothing. A log that fails its checksum was never made
 * durable, so no in-place write of its transaction had started.
 */
export class TxLog {
  readonly region: Region;
  readonly offset: number;
  readonly size: number;
  #seq = 0; // last sequence number used
  #runs = 0; // run() calls so far: each writer's token
  #staging = 0; // token of the run staging writes, or 0
  #count = 0; // entries staged
  #end = 0; // region offset where the next staged entry goes

  /** Writes an empty log and persists it. */
  static format(region: Region, options: { offset: number; size: number }): TxLog {
    const log = new TxLog(region, options);
    const b = region.bytes;
    b.fill(0, log.offset, log.offset + COMMIT_LINE + TX_LOG_HEADER);
    store64(b, log.offset, 1); // seq 0, resolved
    // Commit word 1 and a zeroed log header, durable: recovery finds no
    // transaction, whatever these bytes held before.
    region.persist(log.offset, COMMIT_LINE + TX_LOG_HEADER);
    log.#seq = 0;
    return log;
  }

  /** Opens a log and runs `recover()`. */
  static open(region: Region, options: { offset: number; size: number }): TxLog {
    const log = new TxLog(region, options);
    log.recover();
    populate(region, log.offset, log.size); // the log faulted in once: no transaction faults on a fresh page
    return log;
  }

  private constructor(region: Region, options: { offset: number; size: number }) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    checkRange(options.offset, options.size, region.length);
    if (options.offset % COMMIT_LINE !== 0) throw new RangeError(`offset must be a multiple of ${COMMIT_LINE}`);
    if (options.size < COMMIT_LINE + TX_LOG_HEADER + TX_ENTRY_HEADER + 16) throw new RangeError(`a log needs at least ${COMMIT_LINE + TX_LOG_HEADER + TX_ENTRY_HEADER + 16} bytes`);
    this.region = region;
    this.offset = options.offset;
    this.size = options.size;
  }

  /**
   * Runs `fn` to stage writes, then commits them atomically. Durable when it
   * returns; after a crash, recovery finds either none of the writes or all
   * of them. If `fn` throws, nothing is written and the error is rethrown.
   * @throws TypeError if `fn` returns a promise (nothing is written)
   * @throws RangeError if a write falls outside the region or on the log,
   *   or the writes do not fit the log
   */
  run(fn: (tx: TxWriter) => void): void {
    checkOpen(this.region, 'transaction log');
    if (typeof fn !== 'function') throw new TypeError('fn must be a function');
    if (this.#staging !== 0) throw new TypeError('a transaction is already running on this log; they do not nest');
    // Writes are staged straight into the log area: the log holds no
    // committed transaction whose data is not already durable (the previous
    // run's second fence), so it is free to overwrite. Until the log is
    // sealed its checksum fails, and recovery ignores it.
    const token = ++this.#runs;
    this.#staging = token;
    this.#count = 0;
    this.#end = this.offset + COMMIT_LINE + TX_LOG_HEADER;
    const writer: TxWriter = { write: (offset: number, data: Uint8Array) => this.#stage(token, offset, data) };
    try {
      const result: unknown = fn(writer);
      if (isThenable(result)) {
        throw new TypeError('transaction functions must be synchronous; a promise was returned and nothing was written');
      }
    } finally {
      this.#staging = 0;
    }
    if (this.#count === 0) return;
    checkOpen(this.region, 'transaction log'); // fn may have closed it
    const seq = this.#seq + 1;
    const b = this.region.bytes;
    const start = this.offset + COMMIT_LINE;
    const end = this.#end;
    this.#writeHeader(seq, MODE_REDO, this.#count, end - start - TX_LOG_HEADER);
    // The log (old and new bytes) must be durable before the commit word or
    // any in-place write can reach the media: recovery needs it to redo or
    // to undo them. Sealing checksums and flushes it, then the one fence.
    sealRecord(this.region, start, end, 0, true);

    // Publish the commit (aligned 8-byte store) and apply in place. A crash
    // from here on may persist any subset of these lines: with the commit
    // word recovery redoes from the log, without it recovery undoes.
    store64(b, this.offset, 2 * seq);
    // Flushed, not fenced: the second fence below makes the commit word
    // durable with the in-place writes. Before it, a crash may keep the word
    // or not, and recovery is right either way (redo with it, undo without).
    this.region.flush(this.offset, 8);
    let last = -1;
    let lastLen = 0;
    for (let at = start + TX_LOG_HEADER; at < end; ) {
      const target = b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x100000000;
      const len = b.readUInt32LE(at + 8);
      const newAt = at + TX_ENTRY_HEADER + align8(len);
      b.copyWithin(target, newAt, newAt + len);
      // The redo target before this one, flushed once it is written: the
      // second fence orders only flushed lines, so every target must be
      // flushed before it for the transaction to be durable on return (the
      // last target is flushed by that persist). Not fenced here: until the
      // fence, the commit word and the log let recovery redo them all.
      if (last >= 0) this.region.flush(last, lastLen);
      last = target;
      lastLen = len;
      at = newAt + align8(len);
    }
    // Second fence, with the last write's flush: the transaction is durable
    // when it returns.
    this.region.persist(last, lastLen);

    // Retire the log: resolved. Flushed but deliberately not fenced: until
    // a later fence makes it durable, recovery may redo this transaction,
    // which rewrites the bytes the data already holds. Any later write that
    // was made durable went through a fence, which also made this durable.
    store64(b, this.offset, 2 * seq + 1);
    this.region.flush(this.offset, 8);
    this.#seq = seq;
  }

  /** One staged write: its entry, old bytes and new bytes, at the log's end. */
  #stage(token: number, offset: number, data: Uint8Array): void {
    if (token !== this.#staging) throw new TypeError('this transaction has ended');
    checkOpen(this.region, 'transaction log');
    data = snapshotBytes(data, 'data'); // read once: the length checked is the length copied
    this.#checkTarget(offset, data.length);
    const len = data.length;
    const at = this.#end;
    const next = at + TX_ENTRY_HEADER + 2 * align8(len);
    if (next > this.offset + this.size) {
      throw new RangeError(`the writes need ${next - this.offset - COMMIT_LINE - TX_LOG_HEADER} bytes of log; it holds ${this.size - COMMIT_LINE - TX_LOG_HEADER}`);
    }
    const b = this.region.bytes;
    this.#writeEntryHeader(at, offset, len);
    b.copyWithin(at + TX_ENTRY_HEADER, offset, offset + len); // the old bytes
    b.set(data, at + TX_ENTRY_HEADER + align8(len));
    this.#end = next;
    this.#count++;
  }

  /**
   * Writes `data` at `offset` in place, atomically across a crash, with an
   * undo log. Durable when it returns.
   * @throws RangeError if the range falls outside the region, on the log, or
   *   does not fit the log; PmemError ERR_PMEM_CLOSED when the region is closed
   */
  undoUpdate(offset: number, data: Uint8Array): void {
    checkOpen(this.region, 'transaction log');
    data = snapshotBytes(data, 'data'); // read once: the length checked is the length copied
    this.#checkTarget(offset, data.length);
    if (this.#staging !== 0) throw new TypeError('a transaction is running on this log');
    const len = data.length;
    const start = this.offset + COMMIT_LINE;
    const at = start + TX_LOG_HEADER;
    const end = at + TX_ENTRY_HEADER + align8(len);
    if (end > this.offset + this.size) {
      throw new RangeError(`the update needs ${end - start - TX_LOG_HEADER} bytes of log; it holds ${this.size - COMMIT_LINE - TX_LOG_HEADER}`);
    }
    const seq = this.#seq + 1;
    const b = this.region.bytes;
    this.#writeEntryHeader(at, offset, len);
    b.copyWithin(at + TX_ENTRY_HEADER, offset, offset + len); // the old bytes
    this.#writeHeader(seq, MODE_UNDO, 1, end - at);
    // 1. The old bytes are durable before the first in-place store can be.
    sealRecord(this.region, start, end, 0, true);
    // 2. Update in place and persist: the new bytes are durable before the
    //    commit record says so.
    b.set(data, offset);
    this.region.persist(offset, len);
    // 3. The commit record (aligned 8-byte store): from here on recovery
    //    leaves the update alone.
    store64(b, this.offset, 2 * seq + 1);
    this.region.persist(this.offset, 8);
    this.#seq = seq;
  }

  /**
   * Completes or rolls back the transaction in the log, if one was in
   * flight. Runs on open.
   * @throws PmemError ERR_PMEM_CORRUPT if the commit word is ahead of the log
   */
  recover(): TxRecovery {
    checkOpen(this.region, 'transaction log');
    const b = this.region.bytes;
    const commit = Number(b.readBigUInt64LE(this.offset));
    const committedSeq = Math.floor(commit / 2);
    const resolved = commit % 2 === 1;
    const log = readTxLog(this.region, this.offset, this.size);
    this.#seq = Math.max(committedSeq, log?.seq ?? 0);
    if (log === undefined || log.seq < committedSeq || (log.seq === committedSeq && resolved)) {
      return { action: 'none', seq: this.#seq };
    }
    if (log.seq > committedSeq + 1) {
      // Each transaction's log is written after the previous commit word
      // was made durable: a log two steps ahead cannot come from this protocol.
      throw new PmemError('ERR_PMEM_CORRUPT', `transaction log ${log.seq} does not follow commit word ${commit}`);
    }
    // log.seq === committedSeq + 1 with the commit word still at 2·(seq-1):
    // the previous transaction's lazy retire did not reach the media before
    // this log did. That transaction was already durable (its second fence),
    // and this one never committed, so undoing it is right: its old bytes
    // are what the data holds.
    const redo = log.seq === committedSeq && !resolved;
    if (redo && log.mode !== MODE_REDO) {
      throw new PmemError('ERR_PMEM_CORRUPT', `undo log ${log.seq} is marked committed but not resolved`);
    }
    for (const e of log.entries) {
      b.set(redo ? e.newBytes! : e.oldBytes, e.offset);
      // Flushed for the one drain below; a crash before it leaves the log
      // as it was, and the next recovery does the same again.
      this.region.flush(e.offset, e.oldBytes.length);
    }
    // The data is durable before the log is marked resolved.
    this.region.drain();
    // Mark it resolved (aligned 8-byte store), durably: a second recovery
    // must not undo a redo it already completed.
    store64(b, this.offset, 2 * log.seq + 1);
    this.region.persist(this.offset, 8);
    return { action: redo ? 'redo' : 'undo', seq: log.seq };
  }

  /** Payload bytes one transaction's writes may total. */
  get capacity(): number {
    checkOpen(this.region, 'transaction log');
    return this.size - COMMIT_LINE - TX_LOG_HEADER - TX_ENTRY_HEADER;
  }

  #checkTarget(offset: number, length: number): void {
    checkRange(offset, length, this.region.length);
    if (offset < this.offset + this.size && offset + length > this.offset) {
      throw new RangeError(`range [${offset}, +${length}) overlaps the transaction log`);
    }
  }

  /** Entry header: target offset (u64), length (u32), zero (u32). */
  #writeEntryHeader(at: number, offset: number, len: number): void {
    this.#put32(at, offset % 0x100000000, Math.floor(offset / 0x100000000), len, 0);
  }

  /** The log header, all but its checksum (sealRecord stores that). */
  #writeHeader(seq: number, mode: number, count: number, bytes: number): void {
    const start = this.offset + COMMIT_LINE;
    this.#put32(start, 0, count, seq >>> 0, Math.floor(seq / 0x100000000)); // the checksum slot first
    this.#put32(start + 16, bytes % 0x100000000, Math.floor(bytes / 0x100000000), mode, 0); // mode (u8) and zero
  }

  /** Four u32 fields at `at` (8-byte aligned in the region). */
  #put32(at: number, a: number, b: number, c: number, d: number): void {
    const bytes = this.region.bytes;
    const words = wordsOf(bytes);
    if ((words.base + at) % 4 === 0) {
      // One store per field where the region's bytes are aligned.
      const w = words.u32;
      const i = (words.base + at) / 4;
      w[i] = a;
      w[i + 1] = b;
      w[i + 2] = c;
      w[i + 3] = d;
    } else {
      bytes.writeUInt32LE(a, at);
      bytes.writeUInt32LE(b, at + 4);
      bytes.writeUInt32LE(c, at + 8);
      bytes.writeUInt32LE(d, at + 12);
    }
  }
}
