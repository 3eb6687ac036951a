// The on-media format of KVStore: constants, segment headers and records.
// The layout is described in docs/formats.md (## KVStore); log.ts (append),
// compact.ts and recover.ts own the protocol (when each piece is written,
// flushed and fenced, and how it is read back).
import { align8, viewPlace } from '../core/args';
import { binding } from '../core/binding';
import { type Region, store64, type Words } from '../core/region';

// Every offset and length passed here is computed by this module and lies
// inside the buffer; the native function checks them again, so the hot
// paths skip lib/crc32c's argument checks.
const crc32c = binding.crc32c;

/** Superblock payload magic, "PKV1". */
export const KV_MAGIC = 0x31564b50;
export const KV_FORMAT_VERSION = 1;
/** Bytes of the superblock payload (and its capacity): magic, version, salt, segment size, the store's length. */
export const SUPERBLOCK_PAYLOAD_BYTES = 32;
/**
 * Where the superblock payload holds the store's length (u64): the bytes of
 * file (or region) the store has reached, which it never gives back. 0 in a
 * store written before the length was recorded: its length is unknown.
 */
export const LENGTH_AT = 16;
/** Segments start here; the dual-copy superblock sits below. */
export const DATA_START = 4096;

/**
 * Words in the superblock's block (below DATA_START, after both superblock
 * replicas) that a writer keeps for readers in other threads and processes
 * (docs/formats.md, "Readers beside the writer"). Each is one aligned
 * 8-byte word, written with one store.
 * - TAIL_AT: the published tail, (segment sequence number mod 2^32) * 2^32
 *   + the end of the last durable record, counted from its segment's start.
 *   Stored after that record's fence; never flushed (recovery does not read it).
 * - FREES_AT: how many segments compaction has freed. Incremented before
 *   each free; never flushed.
 * - SEQ_FLOOR_AT: the highest sequence number a segment was ever opened
 *   with. Flushed with that segment's header, so that a writer opening the
 *   store later never hands out a sequence number twice; raised at a
 *   writer's open to the newest header's number when a writer died between
 *   that header and the floor, before any tail names that segment (readers
 *   take a tail's full number from the floor).
 */
export const TAIL_AT = 2048;
export const FREES_AT = 2056;
export const SEQ_FLOOR_AT = 2064;

/** Segment header magic, "KVSG". */
export const SEGMENT_MAGIC = 0x4753564b;
/** A segment header fills one 64-byte line; records follow it. */
export const SEGMENT_HEADER_BYTES = 64;
/** A record's header: checksum, entry bytes, entry count, zero. */
export const RECORD_HEADER_BYTES = 16;
/** An entry's header: type, zero, key length, value length; the key follows. */
export const ENTRY_HEADER_BYTES = 8;
export const ENTRY_PUT = 1;
export const ENTRY_DEL = 2;

/** Longest key, in bytes. */
export const MAX_KEY = 4096;
/** Longest value, in bytes (64 MiB). */
export const MAX_VALUE = 64 * 1024 * 1024;
export const MIN_SEGMENT = 1024;
export const MAX_SEGMENT = 64 * 1024 * 1024;
export const DEFAULT_SEGMENT = 4 * 1024 * 1024;
/** Largest store: one Buffer must see the whole mapping. */
export const MAX_FILE = 2 ** 32;


// native/kv/scan.cc restates the record format for its hot loops and
// exports what it uses as kvConstants: a build in which one differs would
// read every store wrongly, so it is refused here, at load.
{
  const ours: Record<string, number> = { RECORD_HEADER_BYTES, ENTRY_HEADER_BYTES, MAX_KEY, MAX_VALUE, ENTRY_PUT, ENTRY_DEL };
  const native = binding.kvConstants as Record<string, number> | undefined;
  for (const name of Object.keys(ours)) {
    if (native?.[name] !== ours[name]) {
      throw new Error(`lib/kv/format.ts: ${name} is ${ours[name]}, but native/kv/scan.cc has ${native?.[name]}; rebuild the addon from the same source`);
    }
  }
}

const seqBytes = Buffer.alloc(8);

/**
 * Seed of the record checksums in a segment: the segment's sequence number
 * chained onto the store's salt. A record left over from an earlier use of
 * the same bytes (another sequence number) or from another store (another
 * salt) therefore never validates.
 */
export function segmentSeed(seq: number, salt: number): number {
  seqBytes.writeBigUInt64LE(BigInt(seq), 0);
  return crc32c(seqBytes, 0, 8, salt);
}

/**
 * Segment header (64 bytes, little-endian): magic u32, crc32c u32 of bytes
 * 8..31 seeded with the salt, sequence number u64 (> 0; zero marks the
 * segment free), span u32 (segments the header covers), zero u32, zero
 * u64 ×5.
 *
 * Writes only; it neither flushes nor fences (log.ts #place flushes, and
 * the fence of the segment's first record makes it durable). The invariant
 * that lets its stores land in any order: a header validates only when
 * its sequence number, span and checksum all reached the media. The
 * checksum, seeded with the store's salt, covers the first two, and what
 * the header overwrites fails on its own: a freed segment's header has
 * sequence number zero (compact.ts), new file space is zero, and an
 * earlier store's header has another salt. A torn header leaves the
 * segment free, never with a wrong span or sequence number.
 */
export function writeSegmentHeader(b: Buffer, at: number, seq: number, span: number, salt: number): void {
  b.fill(0, at, at + SEGMENT_HEADER_BYTES);
  b.writeUInt32LE(SEGMENT_MAGIC, at);
  // One 8-byte store: a reader comparing the sequence number with the one it
  // knew never sees a mix of the old and the new bytes.
  store64(b, at + 8, seq);
  b.writeUInt32LE(span, at + 16);
  b.writeUInt32LE(crc32c(b, at + 8, 24, salt), at + 4);
}

/** The sequence number and span of a valid header at `at`, or undefined. */
export function readSegmentHeader(b: Buffer, at: number, salt: number): { seq: number; span: number } | undefined {
  if (b.readUInt32LE(at) !== SEGMENT_MAGIC) return undefined;
  const seq = b.readBigUInt64LE(at + 8);
  if (seq === 0n || seq > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  if (b.readUInt32LE(at + 4) !== crc32c(b, at + 8, 24, salt)) return undefined;
  const span = b.readUInt32LE(at + 16);
  if (span === 0 || b.readUInt32LE(at + 20) !== 0) return undefined;
  return { seq: Number(seq), span };
}

/**
 * The end mark: a record header of no entries (length 0, count 0), its
 * checksum under the segment's seed, written where a writer stopped
 * writing a segment cleanly (it moved on to another, or closed the store).
 * No reader takes it for a record (a record has at least one entry): the
 * log ends there as before. It tells recovery that the bytes after it are
 * a reused segment's leftovers, not a write a crash interrupted.
 * @returns whether [at, at + 16) holds this segment's end mark
 */
export function isEndMark(b: Buffer, at: number, end: number, seed: number): boolean {
  if (end - at < RECORD_HEADER_BYTES) return false;
  if (b.readUInt32LE(at + 4) !== 0 || b.readUInt32LE(at + 8) !== 0 || b.readUInt32LE(at + 12) !== 0) return false;
  return b.readInt32LE(at) === binding.crc32cInt32(b, at + 4, RECORD_HEADER_BYTES - 4, seed);
}

/**
 * Record: crc32c u32 of bytes 4..(16 + length) seeded with the segment
 * seed, entry bytes u32, entry count u32, zero u32, then the entries, then
 * zero padding to 8 bytes. Entry: type u8 (1 put, 2 delete), zero u8, key
 * length u16, value length u32, key, value.
 *
 * Returns the record's size on media (header, entries, padding) when the
 * record at `at` is whole and well formed, else 0. Never reads outside
 * [at, end).
 */
export function validRecord(b: Buffer, at: number, end: number, seed: number): number {
  if (end - at < RECORD_HEADER_BYTES) return 0;
  const len = b.readUInt32LE(at + 4);
  const count = b.readUInt32LE(at + 8);
  if (count === 0 || len < count * ENTRY_HEADER_BYTES || len > end - at - RECORD_HEADER_BYTES) return 0;
  if (b.readUInt32LE(at + 12) !== 0) return 0;
  const size = align8(RECORD_HEADER_BYTES + len);
  if (size > end - at) return 0;
  // Compared as int32s: a uint32 checksum of 2^31 or more would be a heap number per record.
  if (b.readInt32LE(at) !== binding.crc32cInt32(b, at + 4, RECORD_HEADER_BYTES - 4 + len, seed)) return 0;
  // The checksum holds; check the entries' shape too, so that no damaged
  // record that happens to checksum can send a reader out of bounds.
  let p = at + RECORD_HEADER_BYTES;
  const stop = p + len;
  for (let i = 0; i < count; i++) {
    if (stop - p < ENTRY_HEADER_BYTES) return 0;
    const type = b[p];
    const klen = b.readUInt16LE(p + 2);
    const vlen = b.readUInt32LE(p + 4);
    if ((type !== ENTRY_PUT && type !== ENTRY_DEL) || b[p + 1] !== 0 || klen > MAX_KEY) return 0;
    if (vlen > MAX_VALUE || (type === ENTRY_DEL && vlen !== 0)) return 0;
    p += ENTRY_HEADER_BYTES + klen + vlen;
    if (p > stop) return 0;
  }
  return p === stop ? size : 0;
}

/** Bytes an entry occupies: header, key, value. */
export function entrySize(b: Uint8Array, at: number): number {
  return ENTRY_HEADER_BYTES + keyLength(b, at) + valueLength(b, at);
}

// The lengths in the header of the entry at `at`, read byte by byte: the
// hot paths' offsets come from the index or the log, and Buffer's
// readUInt*LE would check them again on every call.

export function keyLength(b: Uint8Array, at: number): number {
  return b[at + 2] | (b[at + 3] << 8);
}

export function valueLength(b: Uint8Array, at: number): number {
  return (b[at + 4] | (b[at + 5] << 8) | (b[at + 6] << 16)) + b[at + 7] * 0x1000000;
}

/** A copy of the value of the entry at `off`. */
export function valueCopy(b: Uint8Array, off: number): Buffer {
  const start = off + ENTRY_HEADER_BYTES + keyLength(b, off);
  const len = valueLength(b, off);
  const out = Buffer.allocUnsafe(len);
  out.set(b.subarray(start, start + len));
  return out;
}

/**
 * Copies the value of the entry at `off` (undefined: none) of `log` to the
 * start of `target`, of `room` bytes (its length read through its internal
 * slot: viewLength) (KVStore.getInto), through the Region's `readInto`
 * where it has one: no view is made, so nothing is allocated.
 * @returns its length, or -1 for none
 * @throws RangeError when `target` is shorter than the value; nothing is written
 */
export function valueInto(log: { readonly view: Uint8Array; readonly region: Region }, off: number | undefined, target: Uint8Array, room: number): number {
  if (off === undefined) return -1;
  const b = log.view;
  const len = valueLength(b, off);
  if (len > room) throw new RangeError(`target is ${room} bytes; the value is ${len}`);
  const start = off + ENTRY_HEADER_BYTES + keyLength(b, off);
  const { region } = log;
  if (region.readInto !== undefined) region.readInto(start, len, target);
  else target.set(b.subarray(start, start + len));
  return len;
}

/** One entry of a record to append. */
export interface Entry {
  type: number;
  /** The key as a one-byte string of its bytes. */
  key: string;
  value: Uint8Array | string | null;
  vlen: number;
}

/**
 * Entries are made by a class, never by object literals: the second run of
 * a literal whose properties hold objects (a value's bytes) widens their
 * types on its map, and V8 then throws away the put path it had optimized
 * for the store already open (docs/bench.md, "A fresh store's first puts").
 * One class also gives every entry, a put's or a batch's, the same map.
 */
class KvEntry implements Entry {
  type: number;
  key: string;
  value: Uint8Array | string | null;
  vlen: number;

  constructor(type: number, key: string, value: Uint8Array | string | null, vlen: number) {
    this.type = type;
    this.key = key;
    this.value = value;
    this.vlen = vlen;
  }
}

/** An entry of a record to append (see KvEntry). */
export function entry(type: number, key: string, value: Uint8Array | string | null, vlen: number): Entry {
  return new KvEntry(type, key, value, vlen);
}

/**
 * Writes `entries` from region offset `p` on: each entry's header, key and
 * value, but the last entry's value when it is bytes, which is returned
 * for sealRecord to copy as it checksums it (it ends the record).
 */
export function writeEntries(b: Buffer, p: number, entries: Entry[]): Uint8Array | undefined {
  let tail: Uint8Array | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const klen = e.key.length;
    b[p] = e.type;
    b[p + 1] = 0;
    b[p + 2] = klen % 256;
    b[p + 3] = Math.floor(klen / 256);
    u32(b, p + 4, e.vlen);
    p += ENTRY_HEADER_BYTES;
    writeKey(b, e.key, p);
    p += klen;
    if (typeof e.value === 'string') b.write(e.value, p, e.vlen, 'utf8');
    else if (e.value !== null) {
      if (i === entries.length - 1) tail = e.value;
      else b.set(e.value, p);
    }
    p += e.vlen;
  }
  return tail;
}

/**
 * Zeroes the padding of the record of `len` entry bytes at `at`: outside
 * the checksum (and so outside the seal's flush), and skipped by recovery,
 * so it need not be durable.
 */
export function zeroPadding(b: Buffer, at: number, len: number): void {
  for (let q = at + RECORD_HEADER_BYTES + len; q < at + align8(RECORD_HEADER_BYTES + len); q++) b[q] = 0;
}

/**
 * Writes the record of one put at `at` (as writeRecordHeader and
 * writeEntries do for one entry) but its checksum: headers, key, and a
 * value given as a string; a value given as bytes is returned for
 * sealRecord to copy as it checksums it. `w` is wordsOf(b).
 */
export function writePutRecord(
  b: Buffer, w: Words, at: number, key: string | Uint8Array, klen: number, value: Uint8Array | string, vlen: number,
): Uint8Array | undefined {
  const len = ENTRY_HEADER_BYTES + klen + vlen;
  const size = align8(RECORD_HEADER_BYTES + len);
  // Records start 8-byte aligned in memory: `at` is a multiple of 8 from
  // the region's start, and the region's bytes start 8-byte aligned (see
  // publishTailIn), so these indexes are whole.
  const u32 = w.u32;
  const i = (w.base + at) / 4;
  // The padding first (the record's last word): the header, key and
  // value written next replace whatever of it is not padding.
  u32[i + size / 4 - 2] = 0;
  u32[i + size / 4 - 1] = 0;
  // The record's header but its checksum: entry bytes, one entry, zero;
  // then the entry's: type, zero, key length, value length.
  u32[i + 1] = len;
  u32[i + 2] = 1;
  u32[i + 3] = 0;
  u32[i + 4] = ENTRY_PUT + klen * 65536;
  u32[i + 5] = vlen;
  const k = at + RECORD_HEADER_BYTES + ENTRY_HEADER_BYTES;
  if (typeof key === 'string') writeKey(b, key, k);
  else if (klen > 32) {
    // A view of exactly the planned bytes, made through internal slots: a
    // view that tracks a growable buffer's length may have grown since.
    const { buffer, byteOffset } = viewPlace(key);
    b.set(new Uint8Array(buffer, byteOffset, klen), k);
  } else for (let j = 0; j < klen; j++) b[k + j] = key[j];
  if (typeof value !== 'string') return value;
  b.write(value, k + klen, vlen, 'utf8');
  return undefined;
}

/** A record's header but its checksum (sealRecord stores that): entry bytes, entry count, zero. */
export function writeRecordHeader(b: Buffer, at: number, len: number, count: number): void {
  u32(b, at + 4, len);
  u32(b, at + 8, count);
  u32(b, at + 12, 0);
}

/** Little-endian u32 store, without Buffer's argument checks (the hot path's offsets are computed here). */
function u32(b: Buffer, at: number, v: number): void {
  b[at] = v % 256;
  b[at + 1] = Math.floor(v / 256) % 256;
  b[at + 2] = Math.floor(v / 65536) % 256;
  b[at + 3] = Math.floor(v / 16777216) % 256;
}

/** Writes a one-byte key string's bytes; short keys byte by byte, which beats Buffer.write's call overhead. */
function writeKey(b: Buffer, key: string, at: number): void {
  const n = key.length;
  if (n > 32) b.write(key, at, n, 'latin1');
  else for (let i = 0; i < n; i++) b[at + i] = key.charCodeAt(i);
}
