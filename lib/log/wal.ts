import { randomInt } from 'node:crypto';

import { align8, checkBoolean, checkIndex, checkOptions, checkPath, snapshotBytes, unchanged } from '../core/args';
import { binding, type NativeLock } from '../core/binding';
import { checkOpen, closedError, PmemError } from '../core/errors';
import { openStoreFile } from '../core/identify';
import type { Mapping } from '../core/mapping';
import { sealRecord, type Region, wordsOf } from '../core/region';
import { Superblock } from './superblock';

const MAGIC = 0x4c415750; // "PWAL"
const FORMAT_VERSION = 1;
const SB_CAPACITY = 64;
const HEADER_BYTES = 48; // the log header, kept in the superblock
const HEADER = 32;
const TYPE_DATA = 1;
const TYPE_PAD = 2;
/** Records carry a u32 length; a record also never exceeds half the ring. */
const MAX_PAYLOAD = 0x7fffffff;
/** Largest log file: one Buffer must see the whole mapping. */
const MAX_FILE = 2 ** 32;


/** What writing a record does after its checksum: nothing (a batch flushes its runs), flush, or flush and fence. */
const SEAL_NONE = 0;
const SEAL_FLUSH = 1;
const SEAL_PERSIST = 2;
type Seal = typeof SEAL_NONE | typeof SEAL_FLUSH | typeof SEAL_PERSIST;
// Records of a batch from this length on are sealed one by one (see
// appendBatch); shorter ones are written and flushed as one run. Measured
// per record, 16 and 256 per batch: where a flush is a cache-line
// write-back, 4 KiB 632/617 ns sealed one by one against 1008/988 ns in a
// run, 2 KiB 531/491 against 656/626, 1 KiB about even; where a flush is an
// msync (one per sealed record, one per run), 4 KiB 909/946 against
// 719/733, 8 KiB even, 16 KiB 2213/2282 against 3861/2805, 64 KiB 4181/6822
// against 8969/9458.
const SEAL_ALONE_MIN = 2048;
const SEAL_ALONE_MIN_MSYNC = 16384;

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

export interface WalOpenOptions {
  /** With a path: size of a file to create. */
  size?: number;
  /** With a path: create and format the file if missing. */
  create?: boolean;
  /** Offset of the log inside the region (a multiple of 64). */
  offset?: number;
  /** Cut the log at a corrupt record instead of failing (point-in-time recovery). */
  truncateOnCorruption?: boolean;
  /** Recover without writing (for inspection); the log must not be appended to. */
  readOnly?: boolean;
}

/**
 * A write-ahead log over a Region: durable appends with one ordering point
 * per append or per batch, a circular data area, checkpoints that free space
 * durably, and a recovery that finds the durable tail. The on-media format is
 * in docs/formats.md.
 *
 * Each record has a 32-byte header: crc32c (u32), payload length (u32), LSN
 * (u64), epoch (u64), type (u8), flags (u8), zero (u16), batch index (u32,
 * the record's position inside its append batch). The checksum covers header
 * bytes 4..31 and the payload, seeded with the log's salt, a random number
 * drawn at format time; the LSN inside it is the record's generation. A
 * stale record left in reused space therefore never validates: its LSN is
 * not the one expected there, and a new record torn over it fails the
 * checksum.
 *
 * The epoch closes the last gap: a record that recovery discarded (the
 * valid end of a torn batch whose first record was lost) still carries the
 * LSN that a later append reuses. Every recovery durably raises the epoch
 * before the next append, and a record whose epoch is lower than its
 * predecessor's does not belong to the log.
 */
export class Wal {
  readonly region: Region;
  readonly offset: number;
  readonly #sb: Superblock;
  #mapping: Mapping | null = null;
  #lock: NativeLock | null = null;
  #closed = false;
  #readOnly = false;

  #salt = 0;
  #epoch = 0;
  #dataStart = 0; // region offset of the ring
  #dataSize = 0;
  #headLsn = 1;
  #headPos = 0;
  #nextLsn = 1;
  #tailPos = 0;
  #used = 0;
  #lastRecovery: WalRecovery | undefined;
  /** A subclass computes the checksum itself: records are sealed in JS. */
  readonly #ownChecksum: boolean;

  /** Bytes of region a WAL needs for a ring of `dataSize` bytes. */
  static regionSize(dataSize: number): number {
    return Superblock.size(SB_CAPACITY) + dataSize;
  }

  /**
   * Formats a new, empty log over `[offset, region.length)`. Durable when it
   * returns.
   */
  static format(region: Region, options: { offset?: number } = {}): Wal {
    const offset = checkIndex(options.offset ?? 0, 'offset');
    const sb = Superblock.format(region, { offset, capacity: SB_CAPACITY });
    const dataSize = Math.floor((region.length - offset - Superblock.size(SB_CAPACITY)) / 8) * 8;
    if (dataSize < 4 * HEADER) throw new RangeError(`a ${region.length}-byte region is too small for a log`);
    const wal = new this(region, offset, sb);
    wal.#salt = randomInt(1, 0xffffffff);
    wal.#dataSize = dataSize;
    wal.#headLsn = 1;
    wal.#headPos = 0;
    wal.#epoch = 1;
    wal.#writeHeader();
    wal.#nextLsn = 1;
    wal.#tailPos = 0;
    wal.#used = 0;
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
      checkPath(target);
      if (o.create && o.readOnly) throw new TypeError('create and readOnly cannot be combined');
      const size = o.create && options.size !== undefined ? checkIndex(options.size, 'size') : 0;
      if (o.create && size === 0) throw new RangeError('create needs a size greater than 0');
      const offset = checkIndex(options.offset ?? 0, 'offset');
      // One writer at a time (ERR_PMEM_LOCKED), across processes and
      // threads; the signature is checked through the lock before anything
      // maps, grows or writes the file.
      const { lock, mapping } = openStoreFile(target, {
        kind: 'wal', name: 'a write-ahead log', create: o.create, readOnly: o.readOnly, size, offset, maxFile: MAX_FILE,
        format: (m) => { Wal.format(m, { offset }); },
      });
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
    const offset = checkIndex(options.offset ?? 0, 'offset');
    if (target.length < offset + Superblock.size(SB_CAPACITY) + 4 * HEADER) {
      throw new PmemError('ERR_PMEM_CORRUPT', `a ${target.length}-byte region is too small to hold a log`);
    }
    const sb = Superblock.open(target, { offset, capacity: SB_CAPACITY });
    const wal = new this(target, offset, sb);
    wal.#readOnly = o.readOnly;
    wal.recover({ truncateOnCorruption: o.truncateOnCorruption, readOnly: o.readOnly });
    return wal;
  }

  protected constructor(region: Region, offset: number, sb: Superblock) {
    this.region = region;
    this.offset = offset;
    this.#sb = sb;
    this.#dataStart = offset + Superblock.size(SB_CAPACITY);
    this.#ownChecksum = this.recordChecksum !== Wal.prototype.recordChecksum;
  }

  /** Largest payload one record may carry: half the ring, less a header. */
  get maxRecordSize(): number {
    this.#live();
    return Math.min(MAX_PAYLOAD, Math.floor(this.#dataSize / 2) - HEADER);
  }

  /** LSN of the oldest record still in the log (== nextLsn when empty). */
  get headLsn(): number {
    this.#live();
    return this.#headLsn;
  }

  /** LSN the next append gets. */
  get nextLsn(): number {
    this.#live();
    return this.#nextLsn;
  }

  get stats(): { dataSize: number; used: number; records: number; lastRecovery?: WalRecovery } {
    this.#live();
    return { dataSize: this.#dataSize, used: this.#used, records: this.#nextLsn - this.#headLsn, lastRecovery: this.#lastRecovery };
  }

  /**
   * Appends one record. Durable when it returns.
   * @returns its LSN
   * @throws PmemError ERR_PMEM_NO_SPACE when the log is full (nothing is
   *   written; truncate and retry); RangeError over `maxRecordSize`
   */
  append(record: Uint8Array | string): number {
    this.#writable();
    return this.#appendOne(typeof record === 'string' ? record : snapshotBytes(record, 'record'));
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
    // Each element is read once, and its bytes snapshotted (snapshotBytes):
    // the length planned is the length written.
    const n = records.length;
    if (n === 0) return [];
    const items = new Array<Uint8Array | string>(n);
    const lengths = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const r = records[i];
      items[i] = typeof r === 'string' ? r : snapshotBytes(r, `records[${i}]`);
      lengths[i] = this.#recordLength(items[i]);
    }
    // A later element's getter may have detached an earlier one's buffer.
    for (let i = 0; i < n; i++) {
      const r = items[i];
      if (typeof r !== 'string' && !unchanged(r, lengths[i])) throw new TypeError(`records[${i}] changed while the batch was read`);
    }
    if (n === 1) return [this.#appendOne(items[0])];
    // Plan positions first, so a batch that does not fit writes nothing.
    let pos = this.#tailPos;
    let used = this.#used;
    const at = new Array<number>(n);
    const pads = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const size = align8(HEADER + lengths[i]);
      let pad = 0;
      if (pos + size > this.#dataSize) {
        pad = this.#dataSize - pos;
        pos = 0;
      }
      if (used + pad + size > this.#dataSize) throw this.#noSpace();
      at[i] = pos;
      pads[i] = pad;
      used += pad + size;
      pos += size;
      if (pos === this.#dataSize) pos = 0;
    }

    const lsns = new Array<number>(n);
    let lsn = this.#nextLsn;
    // Short records are flushed as runs: the batch occupies one stretch of
    // the ring, or two when it wraps, and each is flushed once, not each
    // record (a store to a line whose flush is in flight waits for it, and
    // neighbours share lines). A long record ends a run and seals itself.
    // Flush only: the single drain below orders them all.
    let runStart = this.#tailPos;
    const sealAlone = this.region.granularity === 'page' ? SEAL_ALONE_MIN_MSYNC : SEAL_ALONE_MIN;
    for (let i = 0; i < n; i++) {
      const pad = pads[i];
      // The ring wraps before record i: after a pad, or with none when the
      // record before ended exactly at the ring's end.
      if (pad > 0 || (i > 0 && at[i] === 0)) {
        if (pad >= HEADER) this.#writePad(pad, lsn, i, SEAL_NONE);
        if (this.#dataSize > runStart) this.region.flush(this.#dataStart + runStart, this.#dataSize - runStart);
        runStart = 0;
      }
      if (lengths[i] >= sealAlone) {
        // A long record is sealed on its own, like a single append but
        // without the fence: its whole lines go out as streaming stores,
        // which need no flush, and its partial first and last lines are
        // flushed. The run before it is flushed first and starts again
        // after it; the drain below orders it with the rest.
        if (at[i] > runStart) this.region.flush(this.#dataStart + runStart, at[i] - runStart);
        this.#writeRecord(at[i], lsn, TYPE_DATA, i, lengths[i], items[i], SEAL_FLUSH);
        runStart = at[i] + HEADER + lengths[i];
      } else {
        this.#writeRecord(at[i], lsn, TYPE_DATA, i, lengths[i], items[i], SEAL_NONE);
      }
      lsns[i] = lsn++;
    }
    const runEnd = at[n - 1] + HEADER + lengths[n - 1];
    if (runEnd > runStart) this.region.flush(this.#dataStart + runStart, runEnd - runStart);
    // The one ordering point: every record of the batch is durable after it.
    // A crash before it leaves any subset of the batch's lines; recovery
    // keeps the valid prefix, and checksums reject torn records.
    this.region.drain();

    this.#nextLsn = lsn;
    this.#tailPos = pos;
    this.#used = used;
    return lsns;
  }

  /** One record: the same plan as a batch of one, with no arrays. */
  #appendOne(record: Uint8Array | string): number {
    const len = this.#recordLength(record);
    const size = align8(HEADER + len);
    let pos = this.#tailPos;
    let pad = 0;
    if (pos + size > this.#dataSize) {
      pad = this.#dataSize - pos;
      pos = 0;
    }
    if (this.#used + pad + size > this.#dataSize) throw this.#noSpace();
    const lsn = this.#nextLsn;
    if (pad >= HEADER) this.#writePad(pad, lsn, 0, SEAL_FLUSH);
    // The one ordering point: sealing with persist fences the record, and
    // the pad record flushed before it, so the append is durable on return.
    this.#writeRecord(pos, lsn, TYPE_DATA, 0, len, record, SEAL_PERSIST);
    this.#nextLsn = lsn + 1;
    this.#tailPos = pos + size === this.#dataSize ? 0 : pos + size;
    this.#used += pad + size;
    return lsn;
  }

  /** Bytes of a string, or of a snapshot (snapshotBytes), checked against maxRecordSize. */
  #recordLength(record: Uint8Array | string): number {
    const len = typeof record === 'string' ? Buffer.byteLength(record) : record.length;
    if (len > this.maxRecordSize) {
      throw new RangeError(`a ${len}-byte record exceeds the maximum of ${this.maxRecordSize}`);
    }
    return len;
  }

  #noSpace(): PmemError {
    return new PmemError('ERR_PMEM_NO_SPACE', `log is full: ${this.#used} of ${this.#dataSize} bytes used; truncate it`);
  }

  /**
   * A pad record fills the `pad` bytes at the end of the ring and tells
   * recovery to continue at its start. Never fenced here: the fence of the
   * append that wraps orders it.
   */
  #writePad(pad: number, lsn: number, batchIndex: number, seal: Seal): void {
    this.#writeRecord(this.#dataSize - pad, lsn, TYPE_PAD, batchIndex, pad - HEADER, undefined, seal);
  }

  /** Records from `fromLsn` (default: the head) to the tail, as copies. */
  *read(fromLsn = this.#headLsn): IterableIterator<WalRecord> {
    this.#live();
    checkIndex(fromLsn, 'fromLsn');
    const b = this.region.bytes;
    let pos = this.#headPos;
    for (let lsn = this.#headLsn; lsn < this.#nextLsn; ) {
      this.#live(); // closed between two records: ERR_PMEM_CLOSED, not a read of unmapped bytes
      if (this.#dataSize - pos < HEADER) pos = 0;
      const type = b[this.#dataStart + pos + 24];
      const len = b.readUInt32LE(this.#dataStart + pos + 4);
      if (type === TYPE_PAD) {
        pos = 0;
        continue;
      }
      if (lsn >= fromLsn) {
        const start = this.#dataStart + pos + HEADER;
        yield { lsn, data: Buffer.from(b.subarray(start, start + len)) };
      }
      pos += align8(HEADER + len);
      if (pos === this.#dataSize) pos = 0;
      lsn++;
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
    const upto = Math.min(uptoLsn, this.#nextLsn - 1);
    if (upto < this.#headLsn) return;
    const b = this.region.bytes;
    let pos = this.#headPos;
    let used = this.#used;
    for (let lsn = this.#headLsn; lsn <= upto; ) {
      if (this.#dataSize - pos < HEADER) {
        used -= this.#dataSize - pos;
        pos = 0;
      }
      const type = b[this.#dataStart + pos + 24];
      const size = align8(HEADER + b.readUInt32LE(this.#dataStart + pos + 4));
      used -= size;
      pos += size;
      if (pos === this.#dataSize) pos = 0;
      if (type === TYPE_DATA) lsn++;
    }
    // Skip a pad (or tail gap) that now leads the log.
    if (used > 0 && (this.#dataSize - pos < HEADER || b[this.#dataStart + pos + 24] === TYPE_PAD)) {
      used -= this.#dataSize - pos;
      pos = 0;
    }
    if (used === 0) {
      // Empty: start the ring over at the tail, which is where it is.
      pos = this.#tailPos;
    }
    this.#headLsn = upto + 1;
    this.#headPos = pos;
    this.#used = used;
    this.#writeHeader();
  }

  /** Frees every record appended so far (truncate to the last LSN). */
  checkpoint(): void {
    this.truncate(this.#nextLsn - 1);
  }

  /**
   * Finds the durable tail by walking from the head: a record belongs to the
   * log if its checksum holds and it carries the next LSN. Runs on open.
   *
   * The first record that fails ends the log, and is reported as a
   * discarded tail, unless the record after it is valid and belongs to a
   * later append (its batch started after the failed record): then an
   * acknowledged record is damaged, and recovery throws ERR_PMEM_CORRUPT
   * with its LSN, or with `truncateOnCorruption` cuts the log there.
   */
  recover(options: { truncateOnCorruption?: boolean; readOnly?: boolean } = {}): WalRecovery {
    this.#live();
    const t0 = performance.now();
    this.#readHeader();
    const b = this.region.bytes;
    let pos = this.#headPos;
    let lsn = this.#headLsn;
    let epoch = 0; // epoch of the last valid record
    let used = 0;
    let discardedTail = false;
    let truncatedAt: number | undefined;
    while (used < this.#dataSize) {
      const room = this.#dataSize - pos;
      if (room < HEADER) {
        used += room;
        pos = 0;
        continue;
      }
      const rec = this.#validRecord(pos, lsn, this.#dataSize - used, epoch);
      if (rec === 'invalid') {
        if (this.#damagedBeforeLaterAppend(pos, lsn, epoch)) {
          if (!options.truncateOnCorruption) {
            throw new PmemError('ERR_PMEM_CORRUPT', `log record ${lsn} is corrupt and later records are intact`);
          }
          truncatedAt = lsn;
        }
        discardedTail = this.#looksWritten(pos);
        break;
      }
      epoch = Number(b.readBigUInt64LE(this.#dataStart + pos + 16));
      if (rec === TYPE_PAD) {
        used += room;
        pos = 0;
        continue;
      }
      const size = align8(HEADER + b.readUInt32LE(this.#dataStart + pos + 4));
      used += size;
      pos += size;
      if (pos === this.#dataSize) pos = 0;
      lsn++;
    }
    this.#nextLsn = lsn;
    this.#tailPos = pos;
    this.#used = used;
    if (!options.readOnly && !this.#readOnly) {
      // Raise the epoch durably before any append: records past the tail
      // that this recovery did not take can never rejoin the log.
      this.#epoch++;
      this.#writeHeader();
    }
    this.#lastRecovery = {
      records: lsn - this.#headLsn,
      nextLsn: lsn,
      discardedTail,
      ...(truncatedAt !== undefined ? { truncatedAt } : {}),
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
    // Header bytes 4..31 and the payload are contiguous: one pass. The
    // offsets are this log's own, inside the region (native checks again).
    return binding.crc32c(b, at + 4, HEADER - 4 + length, salt);
  }

  /**
   * Writes the header and payload of one record and its checksum; `seal`
   * says whether it is also flushed, or flushed and fenced. A pad record's
   * checksum covers its header only.
   */
  #writeRecord(pos: number, lsn: number, type: number, batchIndex: number, len: number, payload: Uint8Array | string | undefined, seal: Seal): void {
    const b = this.region.bytes;
    const at = this.#dataStart + pos;
    // Records start 8-byte aligned in the region: with the region's bytes
    // aligned too, each field is one u32 store.
    const words = wordsOf(b);
    if ((words.base + at) % 4 === 0) {
      const w = words.u32;
      const i = (words.base + at) / 4;
      w[i + 1] = len;
      // u64 LSN and epoch as two u32 halves (both below 2^53).
      w[i + 2] = lsn >>> 0;
      w[i + 3] = Math.floor(lsn / 0x100000000);
      w[i + 4] = this.#epoch >>> 0;
      w[i + 5] = Math.floor(this.#epoch / 0x100000000);
      w[i + 6] = type; // type (u8), flags (u8) and zero (u16)
      w[i + 7] = batchIndex;
    } else {
      b.writeUInt32LE(len, at + 4);
      b.writeUInt32LE(lsn >>> 0, at + 8);
      b.writeUInt32LE(Math.floor(lsn / 0x100000000), at + 12);
      b.writeUInt32LE(this.#epoch >>> 0, at + 16);
      b.writeUInt32LE(Math.floor(this.#epoch / 0x100000000), at + 20);
      b.writeUInt32LE(type, at + 24);
      b.writeUInt32LE(batchIndex, at + 28);
    }
    const end = at + HEADER + (payload === undefined ? 0 : len);
    if (this.#ownChecksum || seal === SEAL_NONE) {
      if (typeof payload === 'string') b.write(payload, at + HEADER, len, 'utf8');
      else if (payload !== undefined) b.set(payload, at + HEADER);
      b.writeUInt32LE(this.recordChecksum(b, at, payload === undefined ? 0 : len, this.#salt), at);
      if (seal === SEAL_PERSIST) this.region.persist(at, end - at);
      else if (seal === SEAL_FLUSH) this.region.flush(at, end - at);
    } else if (typeof payload === 'string') {
      b.write(payload, at + HEADER, len, 'utf8');
      sealRecord(this.region, at, end, this.#salt, seal === SEAL_PERSIST);
    } else {
      // Header bytes 4..31 and the payload are contiguous: the checksum
      // covers both, and the payload is copied as it is checksummed.
      sealRecord(this.region, at, end, this.#salt, seal === SEAL_PERSIST, payload);
    }
  }

  /**
   * TYPE_DATA or TYPE_PAD for a valid record at pos carrying this LSN and an
   * epoch from minEpoch to the current one, else 'invalid'.
   */
  #validRecord(pos: number, lsn: number, free: number, minEpoch: number): number | 'invalid' {
    const b = this.region.bytes;
    const at = this.#dataStart + pos;
    const type = b[at + 24];
    const len = b.readUInt32LE(at + 4);
    if (b.readBigUInt64LE(at + 8) !== BigInt(lsn)) return 'invalid';
    const epoch = Number(b.readBigUInt64LE(at + 16));
    if (epoch < minEpoch || epoch > this.#epoch) return 'invalid';
    if (type === TYPE_PAD) {
      if (len !== this.#dataSize - pos - HEADER || len + HEADER > free) return 'invalid';
      return b.readUInt32LE(at) === this.recordChecksum(b, at, 0, this.#salt) ? TYPE_PAD : 'invalid';
    }
    if (type !== TYPE_DATA) return 'invalid';
    const size = align8(HEADER + len);
    if (len > this.maxRecordSize || pos + size > this.#dataSize || size > free) return 'invalid';
    return b.readUInt32LE(at) === this.recordChecksum(b, at, len, this.#salt) ? TYPE_DATA : 'invalid';
  }

  /**
   * True when the invalid record at pos has an intact-looking header and the
   * record after it is valid, carries the next LSN, and started a later
   * append. Appends are sequential and each ends with a fence, so that
   * later record's append began after this one was durable.
   */
  #damagedBeforeLaterAppend(pos: number, lsn: number, minEpoch: number): boolean {
    const b = this.region.bytes;
    const at = this.#dataStart + pos;
    if (b.readBigUInt64LE(at + 8) !== BigInt(lsn) || b[at + 24] !== TYPE_DATA) return false;
    const len = b.readUInt32LE(at + 4);
    if (len > this.maxRecordSize) return false;
    let next = pos + align8(HEADER + len);
    if (next > this.#dataSize) return false;
    if (next === this.#dataSize || this.#dataSize - next < HEADER) next = 0;
    if (this.#validRecord(next, lsn + 1, this.#dataSize, minEpoch) !== TYPE_DATA) return false;
    return b.readUInt32LE(this.#dataStart + next + 28) === 0;
  }

  #looksWritten(pos: number): boolean {
    const at = this.#dataStart + pos;
    return this.region.bytes.subarray(at, at + HEADER).some((x) => x !== 0);
  }

  #writeHeader(): void {
    const h = Buffer.alloc(HEADER_BYTES);
    h.writeUInt32LE(MAGIC, 0);
    h.writeUInt32LE(FORMAT_VERSION, 4);
    h.writeUInt32LE(this.#salt, 8);
    h.writeBigUInt64LE(BigInt(this.#dataSize), 16);
    h.writeBigUInt64LE(BigInt(this.#headLsn), 24);
    h.writeBigUInt64LE(BigInt(this.#headPos), 32);
    h.writeBigUInt64LE(BigInt(this.#epoch), 40);
    this.#sb.write(h); // durable when it returns
  }

  #readHeader(): void {
    const h = this.#sb.read();
    if (h === undefined || h.length !== HEADER_BYTES || h.readUInt32LE(0) !== MAGIC) {
      throw new PmemError('ERR_PMEM_CORRUPT', 'not a pmem log: no valid header');
    }
    if (h.readUInt32LE(4) !== FORMAT_VERSION) {
      throw new PmemError('ERR_PMEM_CORRUPT', `unsupported log format version ${h.readUInt32LE(4)}`);
    }
    const dataSize = Number(h.readBigUInt64LE(16));
    const headLsn = Number(h.readBigUInt64LE(24));
    const headPos = Number(h.readBigUInt64LE(32));
    const epoch = Number(h.readBigUInt64LE(40));
    const room = this.region.length - this.#dataStart;
    if (dataSize < 4 * HEADER || dataSize > room || dataSize % 8 !== 0 || headPos >= dataSize || headPos % 8 !== 0 ||
        headLsn < 1 || !Number.isSafeInteger(headLsn) || epoch < 1 || !Number.isSafeInteger(epoch)) {
      throw new PmemError('ERR_PMEM_CORRUPT', 'log header is inconsistent with the region');
    }
    this.#salt = h.readUInt32LE(8);
    this.#dataSize = dataSize;
    this.#headLsn = headLsn;
    this.#headPos = headPos;
    this.#epoch = epoch;
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

const OPEN_OPTIONS = new Set(['size', 'create', 'offset', 'truncateOnCorruption', 'readOnly']);

/** The boolean options of Wal.open, checked: unknown options and non-booleans are TypeErrors. */
function checkWalOptions(options: unknown): { create: boolean; readOnly: boolean; truncateOnCorruption: boolean } {
  checkOptions(options, OPEN_OPTIONS);
  const o = options as WalOpenOptions;
  const flag = (v: unknown, name: string): boolean => {
    if (v === undefined) return false;
    return checkBoolean(v, name);
  };
  return { create: flag(o.create, 'create'), readOnly: flag(o.readOnly, 'readOnly'), truncateOnCorruption: flag(o.truncateOnCorruption, 'truncateOnCorruption') };
}
