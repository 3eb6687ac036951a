// The write-ahead log's on-media format: the log's metadata kept in its
// superblock, and the record (header fields, checksum, how a record is
// written and sealed). What is a byte layout lives here; where records go
// in the ring is wal-ring.ts, finding the tail after a crash is
// wal-recover.ts, the appends that order the writes wal-append.ts, and the
// API wal.ts.
//
// Each record has a 32-byte header: crc32c (u32), payload length (u32), LSN
// (u64), epoch (u64), type (u8), flags (u8), zero (u16), batch index (u32,
// the record's position inside its append batch). The checksum covers header
// bytes 4..31 and the payload, seeded with the log's salt, a random number
// drawn at format time; the LSN inside it is the record's generation. A
// stale record left in reused space therefore never validates: its LSN is
// not the one expected there, and a new record torn over it fails the
// checksum.
//
// The epoch closes the last gap: a record that recovery discarded (the
// valid end of a torn batch whose first record was lost) still carries the
// LSN that a later append reuses. Every recovery durably raises the epoch
// before the next append, and a record whose epoch is lower than its
// predecessor's does not belong to the log.
import { binding } from '../core/binding';
import { PmemError } from '../core/errors';
import { sealRecord, type Region, type Words, wordsOf } from '../core/region';

export const LOG_MAGIC = 0x4c415750; // "PWAL"
export const FORMAT_VERSION = 1;
/** Payload capacity of the superblock that holds the log's metadata. */
export const META_CAPACITY = 64;
/** The log's metadata (magic, version, salt, ring size, head, epoch), kept in the superblock. */
export const LOG_META_BYTES = 48;
/** A record's header: crc32c, length, LSN, epoch, type, flags, zero, batch index. */
export const RECORD_HEADER = 32;
export const TYPE_DATA = 1;
export const TYPE_PAD = 2;
/** Records carry a u32 length; a record also never exceeds half the ring. */
export const MAX_PAYLOAD = 0x7fffffff;

/** What writing a record does after its checksum: nothing (a batch flushes its runs), flush, or flush and fence. */
export const SEAL_NONE = 0;
export const SEAL_FLUSH = 1;
export const SEAL_PERSIST = 2;
export type Seal = typeof SEAL_NONE | typeof SEAL_FLUSH | typeof SEAL_PERSIST;

/** Checksum of a record at `at` with a `length`-byte payload, seeded with the log's salt. */
export type RecordChecksum = (b: Buffer, at: number, length: number, salt: number) => number;

/**
 * The record checksum: header bytes 4..31 (length, LSN, epoch, type, batch
 * index) and the payload, seeded with the salt. They are contiguous: one
 * pass. The offsets are the log's own, inside the region (native checks
 * again).
 */
export function recordChecksum(b: Buffer, at: number, length: number, salt: number): number {
  return binding.crc32c(b, at + 4, RECORD_HEADER - 4 + length, salt);
}

// Header fields of the record at region offset `at`.
export const storedChecksum = (b: Buffer, at: number): number => b.readUInt32LE(at);
export const recordLength = (b: Buffer, at: number): number => b.readUInt32LE(at + 4);
export const recordLsnIs = (b: Buffer, at: number, lsn: number): boolean => b.readBigUInt64LE(at + 8) === BigInt(lsn);
export const recordEpoch = (b: Buffer, at: number): number => Number(b.readBigUInt64LE(at + 16));
export const recordType = (b: Buffer, at: number): number => b[at + 24];
export const recordBatchIndex = (b: Buffer, at: number): number => b.readUInt32LE(at + 28);

/** How a record is written: the log's salt and epoch, and its own checksum when a subclass computes one in JS. */
export interface RecordSeal {
  salt: number;
  epoch: number;
  /** Set when the checksum is computed in JS (a subclass's), not by sealRecord. */
  ownChecksum: RecordChecksum | undefined;
  /**
   * The region's bytes the header stores last went to, and their word
   * views: looked up once, not per record (`wordsOf` is a WeakMap lookup,
   * several times the cost of a header store).
   */
  bytes: Buffer | undefined;
  words: Words | undefined;
  /** A batch's records for `sealRecords`, [at, end, item index or -1] each; grown, never shrunk. */
  table: Float64Array;
}

/**
 * Stores the header of one record at region offset `at`, all but its
 * checksum (sealing stores that, after the payload).
 */
export function writeHeader(b: Buffer, at: number, s: RecordSeal, lsn: number, type: number, batchIndex: number, len: number): void {
  // Records start 8-byte aligned in the region: with the region's bytes
  // aligned too, each field is one u32 store.
  if (b !== s.bytes) {
    s.bytes = b;
    s.words = wordsOf(b);
  }
  const words = s.words!;
  if ((words.base + at) % 4 === 0) {
    const w = words.u32;
    const i = (words.base + at) / 4;
    w[i + 1] = len;
    // u64 LSN and epoch as two u32 halves (both below 2^53).
    w[i + 2] = lsn >>> 0;
    w[i + 3] = Math.floor(lsn / 0x100000000);
    w[i + 4] = s.epoch >>> 0;
    w[i + 5] = Math.floor(s.epoch / 0x100000000);
    w[i + 6] = type; // type (u8), flags (u8) and zero (u16)
    w[i + 7] = batchIndex;
  } else {
    b.writeUInt32LE(len, at + 4);
    b.writeUInt32LE(lsn >>> 0, at + 8);
    b.writeUInt32LE(Math.floor(lsn / 0x100000000), at + 12);
    b.writeUInt32LE(s.epoch >>> 0, at + 16);
    b.writeUInt32LE(Math.floor(s.epoch / 0x100000000), at + 20);
    b.writeUInt32LE(type, at + 24);
    b.writeUInt32LE(batchIndex, at + 28);
  }
}

/**
 * Writes the header and payload of one record at region offset `at` and
 * its checksum; `seal` says whether it is also flushed, or flushed and
 * fenced. A pad record (no payload) has a checksum over its header only.
 */
export function writeRecord(
  region: Region, at: number, s: RecordSeal, lsn: number, type: number, batchIndex: number, len: number,
  payload: Uint8Array | string | undefined, seal: Seal,
): void {
  const b = region.bytes;
  writeHeader(b, at, s, lsn, type, batchIndex, len);
  const end = at + RECORD_HEADER + (payload === undefined ? 0 : len);
  const own = s.ownChecksum;
  if (own !== undefined || seal === SEAL_NONE) {
    if (typeof payload === 'string') b.write(payload, at + RECORD_HEADER, len, 'utf8');
    else if (payload !== undefined) b.set(payload, at + RECORD_HEADER);
    b.writeUInt32LE((own ?? recordChecksum)(b, at, payload === undefined ? 0 : len, s.salt), at);
    // Sealed: the checksum is stored after the bytes it covers; the caller
    // chose whether this record is durable here (persist), flushed for a
    // later fence (flush), or flushed as part of a run (none).
    if (seal === SEAL_PERSIST) region.persist(at, end - at);
    else if (seal === SEAL_FLUSH) region.flush(at, end - at);
  } else if (typeof payload === 'string') {
    b.write(payload, at + RECORD_HEADER, len, 'utf8');
    sealRecord(region, at, end, s.salt, seal === SEAL_PERSIST);
  } else {
    // Header bytes 4..31 and the payload are contiguous: the checksum
    // covers both, and the payload is copied as it is checksummed.
    sealRecord(region, at, end, s.salt, seal === SEAL_PERSIST, payload, len);
  }
}

/** The log's metadata, kept in its superblock: where the ring starts and what seeds its checksums. */
export interface LogMeta {
  salt: number;
  dataSize: number;
  headLsn: number;
  headPos: number;
  epoch: number;
}

export function encodeMeta(m: LogMeta): Buffer {
  const h = Buffer.alloc(LOG_META_BYTES);
  h.writeUInt32LE(LOG_MAGIC, 0);
  h.writeUInt32LE(FORMAT_VERSION, 4);
  h.writeUInt32LE(m.salt, 8);
  h.writeBigUInt64LE(BigInt(m.dataSize), 16);
  h.writeBigUInt64LE(BigInt(m.headLsn), 24);
  h.writeBigUInt64LE(BigInt(m.headPos), 32);
  h.writeBigUInt64LE(BigInt(m.epoch), 40);
  return h;
}

/**
 * The metadata read from the superblock, checked against the `room` bytes
 * the region has for the ring.
 * @throws PmemError ERR_PMEM_CORRUPT; ERR_PMEM_INVALID for a log of another
 *   format version
 */
export function decodeMeta(h: Buffer | undefined, room: number): LogMeta {
  if (h === undefined || h.length !== LOG_META_BYTES || h.readUInt32LE(0) !== LOG_MAGIC) {
    throw new PmemError('ERR_PMEM_CORRUPT', 'not a pmem log: no valid header');
  }
  if (h.readUInt32LE(4) !== FORMAT_VERSION) {
    // The superblock's checksum held: a log of another format, not damage.
    throw new PmemError('ERR_PMEM_INVALID', `a log of format version ${h.readUInt32LE(4)}; this package reads version ${FORMAT_VERSION}`);
  }
  const dataSize = Number(h.readBigUInt64LE(16));
  const headLsn = Number(h.readBigUInt64LE(24));
  const headPos = Number(h.readBigUInt64LE(32));
  const epoch = Number(h.readBigUInt64LE(40));
  if (dataSize < 4 * RECORD_HEADER || dataSize > room || dataSize % 8 !== 0 || headPos >= dataSize || headPos % 8 !== 0 ||
      headLsn < 1 || !Number.isSafeInteger(headLsn) || epoch < 1 || !(epoch < Number.MAX_SAFE_INTEGER)) {
    // The epoch rises by one at every open: one with no room left to rise is damage, refused before any append.
    throw new PmemError('ERR_PMEM_CORRUPT', 'log header is inconsistent with the region');
  }
  return { salt: h.readUInt32LE(8), dataSize, headLsn, headPos, epoch };
}
