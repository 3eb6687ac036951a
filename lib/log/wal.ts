// The write-ahead log's API: open and format, the checks on what callers
// pass, read, truncate, and the state that appends and recovery update.
// The log is split by concept, each file under 15 KB: the byte layout is
// wal-record.ts, the ring arithmetic every walk shares wal-ring.ts, the
// append path and its ordering points wal-append.ts, the recovery scan
// wal-recover.ts, the options and the opening of a file wal-open.ts.
import { randomInt } from 'node:crypto';

import { apartFrom, checkIndex, checkOptions, checkWellFormed, snapshotBytes, unchanged, viewLength } from '../core/args';
import type { NativeLock } from '../core/binding';
import { checkOpen, closedError, PmemError } from '../core/errors';
import type { Mapping } from '../core/mapping';
import { checkRegion, populate, type Region } from '../core/region';
import { Superblock } from './superblock';
import { appendRecord, appendRecords, type Tail } from './wal-append';
import { checkRecoverOptions, checkWalOptions, FORMAT_OPTIONS, openWalFile, walOffset, type WalOpenOptions } from './wal-open';
import {
  decodeMeta, encodeMeta, META_CAPACITY, RECORD_HEADER, recordChecksum, recordLength, type RecordSeal,
  recordLsnIs, recordType, TYPE_DATA, TYPE_PAD,
} from './wal-record';
import { scanLog } from './wal-recover';
import { dropTail } from './wal-tail';
import { Ring } from './wal-ring';

export type { WalOpenOptions } from './wal-open';

export interface WalRecord {
  lsn: number;
  data: Buffer;
}

export interface WalRecovery {
  /** Records between the head and the durable tail. */
  records: number;
  /** LSN the next append gets. */
  nextLsn: number;
  /** True when a torn or corrupt record after the tail was discarded. */
  discardedTail: boolean;
  /** Set when `truncateOnCorruption` cut the log at a corrupt record. */
  truncatedAt?: number;
  /** Milliseconds recovery took. */
  ms: number;
}

/**
 * A write-ahead log over a Region: durable appends with one ordering point
 * per append or per batch, a circular data area, checkpoints that free space
 * durably, and a recovery that finds the durable tail. The on-media format is
 * in docs/formats.md; records, their checksums (salted, with the LSN as
 * generation) and the epoch that keeps discarded records out are described
 * in wal-record.ts.
 */
export class Wal {
  readonly region: Region;
  readonly offset: number;
  readonly #sb: Superblock;
  #mapping: Mapping | null = null;
  #lock: NativeLock | null = null;
  #closed = false;
  #readOnly = false;
  /** Set by a read-only recovery of a writable log: the epoch is raised before the next append. */
  #epochPending = false;

  /** The ring, once its size is known (format, or the header read by recover). */
  #ring: Ring;
  /** The salt and epoch records are written with. */
  readonly #seal: RecordSeal;
  #headLsn = 1;
  #headPos = 0;
  /** Where the next append goes; appends move it (wal-append.ts). */
  readonly #tail: Tail = { pos: 0, used: 0, nextLsn: 1 };
  #lastRecovery: WalRecovery | undefined;
  /**
   * Times a recovery moved the tail (truncateTail recovers): a read under
   * way when this changes ends, since the records it read or needs may
   * have been dropped and their LSNs given to others (#records).
   */
  #cuts = 0;

  /** Bytes of region a WAL needs for a ring of `dataSize` bytes. */
  static regionSize(dataSize: number): number {
    return Superblock.size(META_CAPACITY) + dataSize;
  }

  /**
   * Formats a new, empty log over `[offset, region.length)`. Durable when it
   * returns.
   */
  static format(region: Region, options: { offset?: number } = {}): Wal {
    checkRegion(region);
    const offset = walOffset(checkOptions(options, FORMAT_OPTIONS).offset);
    // Checked before anything is written: a refused format leaves the region as it was.
    const dataSize = Math.floor((region.length - offset - Superblock.size(META_CAPACITY)) / 8) * 8;
    if (dataSize < 4 * RECORD_HEADER) {
      const least = offset + Superblock.size(META_CAPACITY) + 4 * RECORD_HEADER;
      throw new RangeError(`a ${region.length}-byte region is too small for a log${offset > 0 ? ` at offset ${offset}` : ''}: it needs at least ${least} bytes`);
    }
    const sb = Superblock.format(region, { offset, capacity: META_CAPACITY });
    const wal = new this(region, offset, sb);
    wal.#seal.salt = randomInt(1, 0xffffffff);
    wal.#ring = new Ring(wal.#ring.start, dataSize);
    wal.#headLsn = 1;
    wal.#headPos = 0;
    wal.#seal.epoch = 1;
    wal.#writeHeader();
    wal.#tail.nextLsn = 1;
    wal.#tail.pos = 0;
    wal.#tail.used = 0;
    return wal;
  }

  /**
   * Opens a log and runs `recover()`. Given a path, maps the file
   * (`create` makes and formats a missing one of `size` bytes) and closes
   * the mapping on `close()`.
   * @throws PmemError ERR_PMEM_CORRUPT (header damaged, or a corrupt record
   *   in the middle of the log, with its LSN, unless `truncateOnCorruption`)
   */
  static open(target: Region | string, options: WalOpenOptions = {}): Wal {
    const o = checkWalOptions(options);
    if (typeof target === 'string') {
      const { lock, mapping, offset } = openWalFile(target, options, o, (m, at) => { Wal.format(m, { offset: at }); });
      try {
        const wal = Wal.open(mapping, { offset, truncateOnCorruption: o.truncateOnCorruption, readOnly: o.readOnly });
        wal.#mapping = mapping;
        wal.#lock = lock;
        return wal;
      } catch (e) {
        mapping.close();
        lock.release();
        throw e;
      }
    }
    if (options.size !== undefined || o.create) throw new TypeError('size and create apply only to a path');
    checkRegion(target);
    // A writable open recovers by writing (the epoch it raises, a torn tail
    // it cuts): refused at once on a read-only mapping, with what to do.
    if (!o.readOnly && (target as { readonly readOnly?: unknown }).readOnly === true) {
      throw new PmemError('ERR_PMEM_READONLY', 'the mapping is read-only: open the log with { readOnly: true } to read it');
    }
    const offset = walOffset(options.offset);
    if (target.length < offset + Superblock.size(META_CAPACITY) + 4 * RECORD_HEADER) {
      throw new PmemError('ERR_PMEM_CORRUPT', `a ${target.length}-byte region is too small to hold a log`);
    }
    const sb = Superblock.open(target, { offset, capacity: META_CAPACITY });
    const wal = new this(target, offset, sb);
    wal.#readOnly = o.readOnly;
    wal.recover({ truncateOnCorruption: o.truncateOnCorruption, readOnly: o.readOnly });
    if (!o.readOnly) populate(target, offset, target.length - offset); // the ring faulted in once: no append faults on a fresh page
    return wal;
  }

  /**
   * Opens a writable log over a region whose recovery writes nothing: the
   * epoch is raised before the first append (or tail cut) instead, as
   * after a read-only `recover()` of a writable log. For a caller that may
   * still refuse the log from what its recovery found, and must then leave
   * the bytes as they were, without a second scan (the replicated
   * journal's open, journal.ts). @internal
   */
  static openDeferred(region: Region, options: { offset: number }): Wal {
    const wal = Wal.open(region, { offset: options.offset, readOnly: true });
    wal.#readOnly = false;
    // What recover() leaves on a writable log it recovered read-only: the
    // records it cut off can never rejoin the log once an append is made.
    wal.#epochPending = true;
    populate(region, wal.offset, region.length - wal.offset); // as Wal.open does for a writable log
    return wal;
  }

  protected constructor(region: Region, offset: number, sb: Superblock) {
    this.region = region;
    this.offset = offset;
    this.#sb = sb;
    this.#ring = new Ring(offset + Superblock.size(META_CAPACITY), 0);
    // A subclass that computes the checksum itself has its records sealed in JS.
    const own = this.recordChecksum !== Wal.prototype.recordChecksum;
    this.#seal = {
      salt: 0, epoch: 0, ownChecksum: own ? (b, at, len, salt) => this.recordChecksum(b, at, len, salt) : undefined,
      bytes: undefined, words: undefined, table: new Float64Array(3 * 17),
    };
  }

  /** Largest payload one record may carry: half the ring, less a header. */
  get maxRecordSize(): number {
    this.#live();
    return this.#ring.maxRecord;
  }

  /** LSN of the oldest record still in the log (== nextLsn when empty). */
  get headLsn(): number {
    this.#live();
    return this.#headLsn;
  }

  /** LSN the next append gets. */
  get nextLsn(): number {
    this.#live();
    return this.#tail.nextLsn;
  }

  get stats(): { dataSize: number; used: number; records: number; lastRecovery?: WalRecovery } {
    this.#live();
    return { dataSize: this.#ring.size, used: this.#tail.used, records: this.#tail.nextLsn - this.#headLsn, lastRecovery: this.#lastRecovery };
  }

  /**
   * Appends one record. Durable when it returns.
   * @returns its LSN
   * @throws PmemError ERR_PMEM_NO_SPACE when the log is full (nothing is
   *   written; truncate and retry); RangeError over `maxRecordSize`
   */
  append(record: Uint8Array | string): number {
    this.#writable();
    // The caller's bytes go to sealRecord as they are: it copies them once,
    // and refuses them, writing nothing, if their length is no longer the
    // one read here through the view's internal slot. A subclass's own
    // checksum copies them in JavaScript instead, from a snapshot.
    let r = typeof record === 'string' || this.#seal.ownChecksum === undefined ? record : snapshotBytes(record, 'record');
    const len = this.#recordLength(r, 'record');
    // A record inside the log's own region is copied first: its header, or
    // the pad before it, may be written over it (apartFrom).
    if (typeof r !== 'string') r = apartFrom(r, this.region.bytes);
    this.#raisePendingEpoch();
    return appendRecord(this.region, this.#ring, this.#seal, this.#tail, r, len);
  }

  /**
   * Appends records as one group commit: one ordering point for the whole
   * batch. Durable when it returns. After a crash during the call, recovery
   * finds a prefix of the batch (possibly empty).
   * @throws PmemError ERR_PMEM_NO_SPACE when the batch does not fit (nothing
   *   is written)
   */
  appendBatch(records: ReadonlyArray<Uint8Array | string>): number[] {
    this.#writable();
    if (!Array.isArray(records)) throw new TypeError('records must be an array');
    // Each element is read once (snapshotBytes copies only a view whose
    // buffer another thread can grow or write): the length planned is the
    // length written. A fixed buffer is not copied, so its bytes are those
    // it holds after the last element was read (docs/api.md).
    const n = records.length;
    if (n === 0) return [];
    const items = new Array<Uint8Array | string>(n);
    const lengths = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const r = records[i];
      items[i] = typeof r === 'string' ? r : apartFrom(snapshotBytes(r, `records[${i}]`), this.region.bytes); // as in append()
      lengths[i] = this.#recordLength(items[i], `records[${i}]`);
    }
    // A later element's getter may have detached an earlier one's buffer.
    for (let i = 0; i < n; i++) {
      const r = items[i];
      if (typeof r !== 'string' && !unchanged(r, lengths[i])) throw new TypeError(`records[${i}] changed while the batch was read`);
    }
    this.#writable(); // a getter may have closed the log, or its region
    this.#raisePendingEpoch(); // after the getters: one of them may have recovered the log
    if (n === 1) return [appendRecord(this.region, this.#ring, this.#seal, this.#tail, items[0], lengths[0])];
    return appendRecords(this.region, this.#ring, this.#seal, this.#tail, items, lengths);
  }

  /**
   * Bytes of a string, or of a Buffer or Uint8Array read through its
   * internal slot (no getter of it runs), checked against maxRecordSize.
   * @throws TypeError for anything else
   */
  #recordLength(record: Uint8Array | string, name: string): number {
    if (typeof record === 'string') checkWellFormed(record, name);
    const len = typeof record === 'string' ? Buffer.byteLength(record) : viewLength(record, name);
    const max = this.#ring.maxRecord;
    if (len > max) {
      throw new RangeError(`a ${len}-byte record exceeds the maximum of ${max}`);
    }
    return len;
  }

  /**
   * Records from `fromLsn` (default: the head) to the tail, as copies. The
   * iterator reads the log as it is at each `next()`: records appended
   * while it is paused are read too, until a `next()` finds no more.
   * Truncating up to the record just read is allowed between two steps.
   * @throws PmemError ERR_PMEM_INVALID from `next()` when the record it
   *   needs next was truncated since `read()` or its last step, or the
   *   log's tail was cut (truncateTail, or a recovery that moved the tail)
   *   meanwhile; ERR_PMEM_CORRUPT when the record it reaches does not
   *   carry the LSN it needs; ERR_PMEM_CLOSED
   */
  read(fromLsn = this.#headLsn): IterableIterator<WalRecord> {
    // Checked at the call, not at the first next(): a closed log or a bad
    // LSN throws where read() is called.
    this.#live();
    checkIndex(fromLsn, 'fromLsn');
    // The read needs the records from here on: ones truncated before its
    // first next() are missing to it as they are to a read under way.
    return this.#records(Math.max(fromLsn, this.#headLsn), this.#cuts);
  }

  /**
   * The walk behind read(). Its ring position is its own, and between two
   * steps the caller may truncate the log or cut its tail, after which
   * appends reuse the ring: the position is trusted again only as far as
   * each step proves it. Records at or after the head never move, and
   * neither do the pads between them, so after a truncate the position
   * still holds when the LSN needed is past the head, and is the head's
   * position when it is the head. A cut moves records (the tail goes back,
   * and records of other sizes take the same LSNs), so any cut since the
   * last step ends the read: the records it read may not be the log's any
   * more. Each record it yields is checked to carry the LSN it needs.
   */
  *#records(from: number, cuts: number): IterableIterator<WalRecord> {
    const b = this.region.bytes;
    const ring = this.#ring;
    let lsn = from; // the LSN needed next
    let pos = -1; // where it, or the gap or pad before it, is; unknown before the first step
    for (;;) {
      this.#live(); // closed between two records: ERR_PMEM_CLOSED, not a read of unmapped bytes
      if (this.#cuts !== cuts) throw changedUnderRead(lsn, 'the log\'s tail was cut meanwhile (truncateTail, or a recovery that dropped records)');
      if (lsn < this.#headLsn) throw changedUnderRead(lsn, `the log was truncated meanwhile (its head is now LSN ${this.#headLsn})`);
      if (lsn >= this.#tail.nextLsn) return;
      if (pos === -1 || lsn === this.#headLsn) {
        // From the head, over the records before the one needed.
        pos = this.#headPos;
        for (let at = this.#headLsn; ; ) {
          pos = ring.next(pos, ring.gap(pos));
          const type = recordType(b, ring.start + pos);
          if (type !== TYPE_PAD) {
            if (at === lsn) break;
            at++;
          }
          pos = ring.next(pos, ring.extent(pos, type === TYPE_PAD, recordLength(b, ring.start + pos)));
        }
      } else {
        // Past the record yielded last: over a gap or a pad to the ring's start.
        pos = ring.next(pos, ring.gap(pos));
        if (recordType(b, ring.start + pos) === TYPE_PAD) pos = ring.next(pos, ring.extent(pos, true, 0));
      }
      const at = ring.start + pos;
      if (recordType(b, at) !== TYPE_DATA || !recordLsnIs(b, at, lsn)) {
        throw new PmemError('ERR_PMEM_CORRUPT', `the log holds no record of LSN ${lsn} where that record belongs`);
      }
      const len = recordLength(b, at);
      yield { lsn, data: Buffer.from(b.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len)) };
      lsn++;
      pos = ring.next(pos, Ring.span(len));
    }
  }

  /**
   * Frees every record with an LSN ≤ `uptoLsn`, durably: the new head is
   * written through the superblock, so after a crash the log starts either
   * at the old head or at the new one.
   */
  truncate(uptoLsn: number): void {
    this.#writable();
    checkIndex(uptoLsn, 'uptoLsn');
    const upto = Math.min(uptoLsn, this.#tail.nextLsn - 1);
    if (upto < this.#headLsn) return;
    const b = this.region.bytes;
    const ring = this.#ring;
    let pos = this.#headPos;
    let used = this.#tail.used;
    for (let lsn = this.#headLsn; lsn <= upto; ) {
      const gap = ring.gap(pos);
      used -= gap;
      pos = ring.next(pos, gap);
      const type = recordType(b, ring.start + pos);
      const bytes = ring.extent(pos, type === TYPE_PAD, recordLength(b, ring.start + pos));
      used -= bytes;
      pos = ring.next(pos, bytes);
      if (type === TYPE_DATA) lsn++;
    }
    // Skip a pad (or tail gap) that now leads the log.
    if (used > 0 && (ring.gap(pos) > 0 || recordType(b, ring.start + pos) === TYPE_PAD)) {
      used -= ring.size - pos;
      pos = 0;
    }
    if (used === 0) {
      // Empty: start the ring over at the tail, which is where it is.
      pos = this.#tail.pos;
    }
    this.#headLsn = upto + 1;
    this.#headPos = pos;
    this.#tail.used = used;
    this.#writeHeader();
  }

  /**
   * Drops the records from `fromLsn` to the tail, durably: the next append
   * gets `fromLsn`. Each record's header is zeroed and persisted, newest
   * first (wal-tail.ts), so after a crash the log ends anywhere between
   * its old tail and `fromLsn - 1`; then the log is recovered again.
   * @throws RangeError when `fromLsn` is before the head
   */
  truncateTail(fromLsn: number): void {
    this.#writable();
    checkIndex(fromLsn, 'fromLsn');
    if (fromLsn >= this.#tail.nextLsn) return;
    if (fromLsn < this.#headLsn) throw new RangeError(`LSN ${fromLsn} is before the head (${this.#headLsn})`);
    dropTail(this.region, this.#ring, this.#headPos, this.#headLsn, this.#tail.nextLsn, fromLsn);
    this.recover();
  }

  /** Frees every record appended so far (truncate to the last LSN). */
  checkpoint(): void {
    this.truncate(this.#tail.nextLsn - 1);
  }

  /**
   * Finds the durable tail by walking from the head (wal-recover.ts): a
   * record belongs to the log if its checksum holds and it carries the next
   * LSN. Runs on open.
   *
   * The first record that fails ends the log, and is reported as a
   * discarded tail, unless the record after it is valid and belongs to a
   * later append (its batch started after the failed record): then an
   * acknowledged record is damaged, and recovery throws ERR_PMEM_CORRUPT
   * with its LSN, or with `truncateOnCorruption` cuts the log there.
   */
  recover(options: { truncateOnCorruption?: boolean; readOnly?: boolean } = {}): WalRecovery {
    this.#live();
    const o = checkRecoverOptions(options);
    const t0 = performance.now();
    this.#readHeader();
    const own = this.#seal.ownChecksum;
    const found = scanLog({
      bytes: this.region.bytes, ring: this.#ring, salt: this.#seal.salt, epoch: this.#seal.epoch,
      maxRecordSize: this.maxRecordSize, checksum: own ?? recordChecksum,
    }, this.#headPos, this.#headLsn, o.truncateOnCorruption);
    if (found.nextLsn !== this.#tail.nextLsn) this.#cuts++;
    this.#tail.nextLsn = found.nextLsn;
    this.#tail.pos = found.tailPos;
    this.#tail.used = found.used;
    // Raise the epoch durably before any append: records past the tail
    // that this recovery did not take can never rejoin the log. A
    // read-only recovery of a writable log leaves that to the next append
    // (a record written at the tail under the old epoch would be followed
    // by the ones this recovery cut off, and on the next open they would
    // validate again).
    this.#epochPending = !this.#readOnly;
    if (!o.readOnly) this.#raisePendingEpoch();
    this.#lastRecovery = {
      records: found.nextLsn - this.#headLsn,
      nextLsn: found.nextLsn,
      discardedTail: found.discardedTail,
      ...(found.truncatedAt !== undefined ? { truncatedAt: found.truncatedAt } : {}),
      ms: performance.now() - t0,
    };
    return this.#lastRecovery;
  }

  /** Closes the log, and its mapping when `open` mapped a path. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mapping?.close();
    this.#mapping = null;
    this.#lock?.release();
    this.#lock = null;
  }

  /** Calls `close()`, so that `using wal = Wal.open(...)` closes the log at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * The record checksum: header bytes 4..31 (length, LSN, epoch, type, batch
   * index) and the payload, seeded with the salt.
   */
  protected recordChecksum(b: Buffer, at: number, length: number, salt: number): number {
    return recordChecksum(b, at, length, salt);
  }

  #writeHeader(): void {
    const s = this.#seal;
    const meta = encodeMeta({ salt: s.salt, dataSize: this.#ring.size, headLsn: this.#headLsn, headPos: this.#headPos, epoch: s.epoch });
    this.#sb.write(meta); // durable when it returns
  }

  #raisePendingEpoch(): void {
    if (!this.#epochPending) return;
    this.#seal.epoch++;
    this.#writeHeader();
    this.#epochPending = false;
  }

  #readHeader(): void {
    const m = decodeMeta(this.#sb.read(), this.region.length - this.#ring.start);
    this.#seal.salt = m.salt;
    this.#ring = new Ring(this.#ring.start, m.dataSize);
    this.#headLsn = m.headLsn;
    this.#headPos = m.headPos;
    this.#seal.epoch = m.epoch;
  }

  #live(): void {
    if (this.#closed) throw closedError('log');
    checkOpen(this.region, 'log');
  }

  #writable(): void {
    this.#live();
    if (this.#readOnly) throw new PmemError('ERR_PMEM_READONLY', 'log was opened read-only');
  }
}

/** A read under way whose next record the log no longer holds as it was: `why` says what happened to it. */
function changedUnderRead(lsn: number, why: string): PmemError {
  return new PmemError('ERR_PMEM_INVALID', `a read of the log needed LSN ${lsn} next, but ${why}; start a new read`);
}
