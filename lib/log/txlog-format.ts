// The transaction log's layout: the writing of a record's header and
// entries, and the reading of a record from the media for recovery; what
// txlog.ts writes and txlog-recover.ts trusts, kept apart from the protocol
// that orders the writes.
//
// Layout at the log's offset: the first 64-byte line holds the retire word
// (u64: every transaction up to this sequence number is finished), the
// log's magic and layout version, and its size; then two slots of equal size, each a
// whole number of lines. Transaction `seq` is logged in slot `seq % 2`.
import { align8 } from '../core/args';
import { crc32c } from '../core/crc32c';
import { type Region, type Words, wordsOf } from '../core/region';

/** The line of the retire word, the magic and the version; the slots start after it. */
export const RETIRE_LINE = 64;
/** "PTXL" at byte 8 of the retire line. */
export const TXLOG_MAGIC = 0x4c585450;
/** At byte 12: the layout with two slots and new bytes only in a redo entry. */
export const TXLOG_VERSION = 2;
/**
 * At byte 16, a u64: the log's size, which places the second slot. Zero in
 * a log formatted before it was recorded, which opens with the size given.
 */
export const TXLOG_SIZE_AT = 16;
/** A record's header: crc32c, entry count, sequence number, entry bytes, mode. */
export const TX_LOG_HEADER = 32;
/** An entry's header: target offset, length, zero. */
export const TX_ENTRY_HEADER = 16;
/** Redo: each entry holds the new bytes. Undo: each entry holds the old bytes. */
export const MODE_REDO = 1;
export const MODE_UNDO = 2;
/** The smallest slot: a header, one entry header and 16 bytes. */
export const MIN_SLOT = 64;

/** Bytes in each of the two slots of a log of `size` bytes: a whole number of lines. */
export function slotBytes(size: number): number {
  return Math.floor((size - RETIRE_LINE) / 2 / RETIRE_LINE) * RETIRE_LINE;
}

/** Region offset of the slot that transaction `seq` is logged in. */
export function slotOf(logOffset: number, size: number, seq: number): number {
  return logOffset + RETIRE_LINE + (seq % 2) * slotBytes(size);
}

export interface TxLogEntry {
  /** Region offset of the target. */
  offset: number;
  /** The new bytes (redo) or the old bytes (undo). */
  bytes: Buffer;
}

export interface TxLogRecord {
  seq: number;
  mode: number;
  entries: TxLogEntry[];
}

/**
 * The record in the slot at region offset `start` (`slot` bytes) of the log
 * at `logOffset` (`logSize` bytes) as the media holds it, or undefined when
 * it is not a whole record of slot `index`: its checksum fails (it was never
 * made durable, or a later record was being written over it), its sequence
 * number belongs to the other slot, or its entries do not parse.
 */
export function readTxLog(
  region: Region, start: number, slot: number, index: number, logOffset: number, logSize: number,
  checksum: (b: Buffer, start: number, bytes: number) => number,
): TxLogRecord | undefined {
  const b = region.bytes;
  const count = b.readUInt32LE(start + 4);
  const seq = Number(b.readBigUInt64LE(start + 8));
  const bytes = Number(b.readBigUInt64LE(start + 16));
  const mode = b[start + 24];
  if (seq === 0 || !Number.isSafeInteger(seq) || seq % 2 !== index || (mode !== MODE_REDO && mode !== MODE_UNDO) ||
      bytes > slot - TX_LOG_HEADER) {
    return undefined;
  }
  if (b.readUInt32LE(start) !== checksum(b, start, bytes)) return undefined;
  const entries: TxLogEntry[] = [];
  let at = start + TX_LOG_HEADER;
  const end = at + bytes;
  for (let i = 0; i < count; i++) {
    if (at + TX_ENTRY_HEADER > end) return undefined;
    const offset = Number(b.readBigUInt64LE(at));
    const len = b.readUInt32LE(at + 8);
    at += TX_ENTRY_HEADER;
    if (align8(len) > end - at || offset + len > region.length ||
        (offset < logOffset + logSize && offset + len > logOffset)) return undefined;
    entries.push({ offset, bytes: Buffer.from(b.subarray(at, at + len)) });
    at += align8(len);
  }
  return at === end ? { seq, mode, entries } : undefined;
}

/**
 * crc32c of header bytes 4..31 and the entries of the record whose header is
 * at `start`. The header holds the sequence number, so the checksum carries
 * the record's generation: a record of transaction `seq - 2` left in the
 * slot never passes for transaction `seq`, whole or torn.
 */
export function txLogChecksum(b: Buffer, start: number, bytes: number): number {
  return crc32c(b, start + TX_LOG_HEADER, bytes, crc32c(b, start + 4, TX_LOG_HEADER - 4));
}

/**
 * Flushes `count` targets (region offsets and lengths), each unit of
 * write-back (a line, or a page where a flush is an msync) once: targets
 * that share or touch a unit are flushed as one range. `lo` and `hi` are
 * scratch arrays the caller keeps from call to call.
 */
export function flushTargets(
  region: Region, targets: readonly number[], lens: readonly number[], count: number, lo: number[], hi: number[],
): void {
  if (count === 1) {
    region.flush(targets[0], lens[0]);
    return;
  }
  const unit = region.granularity === 'page' ? 4096 : 64;
  lo.length = 0;
  hi.length = 0;
  for (let i = 0; i < count; i++) {
    if (lens[i] === 0) continue;
    lo.push(Math.floor(targets[i] / unit) * unit);
    hi.push(Math.min(Math.ceil((targets[i] + lens[i]) / unit) * unit, region.length));
  }
  const order = lo.map((_, i) => i).sort((x, y) => lo[x] - lo[y]);
  let from = -1;
  let to = -1;
  for (const i of order) {
    if (from >= 0 && lo[i] <= to) {
      to = Math.max(to, hi[i]);
      continue;
    }
    if (from >= 0) region.flush(from, to - from);
    from = lo[i];
    to = hi[i];
  }
  if (from >= 0) region.flush(from, to - from);
}

/**
 * The words of a region's bytes, looked up once per Buffer rather than per
 * header (`wordsOf` is a WeakMap lookup, several times the cost of a store).
 */
export class HeaderWriter {
  #bytes: Buffer | undefined;
  #words: Words | undefined;

  /** Entry header at `at`: target offset (u64), length (u32), zero (u32). */
  entry(bytes: Buffer, at: number, offset: number, len: number): void {
    this.#put32(bytes, at, offset, Math.floor(offset / 0x100000000), len, 0);
  }

  /** The record header at `start`, all but its checksum (sealing stores that). */
  record(bytes: Buffer, start: number, seq: number, mode: number, count: number, n: number): void {
    this.#put32(bytes, start, 0, count, seq, Math.floor(seq / 0x100000000)); // the checksum slot first
    this.#put32(bytes, start + 16, n, Math.floor(n / 0x100000000), mode, 0); // mode (u8) and zero
  }

  /**
   * Four u32 fields at `at` (8-byte aligned in the region), each the low 32
   * bits of its value (below 2^53). A Uint32Array store keeps just those
   * bits by itself (ToUint32), so the aligned path stores the values as
   * they are: a `% 0x100000000` on each would be a floating-point modulo,
   * a call out of the optimized code, three per transaction.
   */
  #put32(bytes: Buffer, at: number, a: number, b: number, c: number, d: number): void {
    if (bytes !== this.#bytes) {
      this.#bytes = bytes;
      this.#words = wordsOf(bytes);
    }
    const words = this.#words!;
    if ((words.base + at) % 4 === 0) {
      // One store per field where the region's bytes are aligned.
      const w = words.u32;
      const i = (words.base + at) / 4;
      w[i] = a;
      w[i + 1] = b;
      w[i + 2] = c;
      w[i + 3] = d;
    } else {
      bytes.writeUInt32LE(a % 0x100000000, at);
      bytes.writeUInt32LE(b % 0x100000000, at + 4);
      bytes.writeUInt32LE(c % 0x100000000, at + 8);
      bytes.writeUInt32LE(d % 0x100000000, at + 12);
    }
  }
}
