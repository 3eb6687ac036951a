// Where KVStore's log begins: a new store's superblock, a writer's resume
// after recovery, and the header of each segment it opens. log.ts calls
// these; the protocol is in docs/durability.md ("KVStore").
import { randomInt } from 'node:crypto';

import {
  DATA_START, KV_FORMAT_VERSION, KV_MAGIC, LENGTH_AT, MAX_FILE, MIN_SEGMENT, SEGMENT_HEADER_BYTES, SEQ_FLOOR_AT,
  SUPERBLOCK_PAYLOAD_BYTES, writeSegmentHeader,
} from './format';
import { publishTail, readWord } from './published';
import { PmemError } from '../core/errors';
import { type Region, store64 } from '../core/region';
import { isSegmentSize, type SegmentTable } from './segments';
import { Superblock } from '../log/superblock';

/** The store's superblock: at offset 0, its payload capacity the payload's size. */
export const KV_SUPERBLOCK = { offset: 0, capacity: SUPERBLOCK_PAYLOAD_BYTES };

/** The store header: the bytes of the superblock, which `create` formats only when they are all zero. */
const STORE_HEADER_BYTES = Superblock.size(SUPERBLOCK_PAYLOAD_BYTES);

/**
 * The error for bytes that hold no store: what they are (`what`), and what
 * `create` would do with them. One wording for every way of finding it out.
 */
export function noStore(what: string): PmemError {
  return new PmemError(
    'ERR_PMEM_CORRUPT',
    `the region holds no pmem KV store at offset ${KV_SUPERBLOCK.offset}: ${what}. ` +
      `create formats only a zeroed region (its first ${STORE_HEADER_BYTES} bytes, the store header, all zero), and writes nothing to any other`,
  );
}

/**
 * Opens the store's superblock and runs its recovery. Bytes that were never
 * a store's superblock (another structure, random bytes) are refused as
 * holding no store; a store's superblock that is damaged keeps the
 * superblock's own account of the damage.
 * @throws PmemError ERR_PMEM_CORRUPT
 */
export function openSuperblock(region: Region): Superblock {
  try {
    return Superblock.open(region, KV_SUPERBLOCK);
  } catch (e) {
    if (!(e instanceof PmemError) || e.code !== 'ERR_PMEM_CORRUPT') throw e;
    // A replica that still begins with the superblock's magic and the
    // store's (the signature a file is known as a store by: core/identify.ts)
    // is a store's superblock, damaged. Other bytes hold no store.
    const b = region.bytes;
    const replica = STORE_HEADER_BYTES / 2;
    const signed = [0, replica].some((r) => b.readUInt32LE(r) === Superblock.MAGIC && b.readUInt32LE(r + Superblock.HEADER) === KV_MAGIC);
    if (signed) throw new PmemError('ERR_PMEM_CORRUPT', `the KV store's superblock is damaged: ${e.message}`);
    throw noStore('its first bytes are not a store header, and not all zero (other data, or another structure)');
  }
}

/** What a store's superblock payload says (docs/formats.md, "KVStore"). */
export interface StoreHeader {
  salt: number;
  segmentSize: number;
  /** The length the store has reached, in bytes; 0 when it was not recorded. */
  length: number;
}

/**
 * Writes a new store's superblock, with `segmentSize`, a new salt and the
 * store's length (the region's: `length`). Durable when it returns.
 */
export function formatLog(sb: Superblock, segmentSize: number, length: number): void {
  const p = Buffer.alloc(SUPERBLOCK_PAYLOAD_BYTES);
  p.writeUInt32LE(KV_MAGIC, 0);
  p.writeUInt32LE(KV_FORMAT_VERSION, 4);
  // A new salt: every segment header an earlier store left in these bytes
  // fails its checksum now, so nothing needs zeroing.
  p.writeUInt32LE(randomInt(1, 0xffffffff), 8);
  p.writeUInt32LE(segmentSize, 12);
  p.writeBigUInt64LE(BigInt(length), LENGTH_AT);
  sb.write(p); // durable when it returns: the store exists from here on
}

/**
 * Reads and checks the store's superblock payload.
 * @throws PmemError ERR_PMEM_CORRUPT when the superblock holds no KV store
 *   (missing or damaged), or a segment size or length no store has;
 *   ERR_PMEM_INVALID for a store of another format version
 */
export function readHeader(sb: Superblock): StoreHeader {
  const p = sb.read();
  if (p === undefined) throw noStore('its store header is all zero bytes (open it with create to format it)');
  if (p.length !== SUPERBLOCK_PAYLOAD_BYTES || p.readUInt32LE(0) !== KV_MAGIC) {
    throw noStore('its first bytes are a superblock of another structure');
  }
  if (p.readUInt32LE(4) !== KV_FORMAT_VERSION) {
    // The payload's checksum held: a store of another format, not damage.
    throw new PmemError('ERR_PMEM_INVALID', `a KV store of format version ${p.readUInt32LE(4)}; this package reads version ${KV_FORMAT_VERSION}`);
  }
  const segmentSize = p.readUInt32LE(12);
  if (!isSegmentSize(segmentSize)) throw new PmemError('ERR_PMEM_CORRUPT', `bad segment size ${segmentSize}`);
  const length = recordedLength(p);
  // The payload's checksum held: a length no store reaches was written so
  // by something else than a store (another version, or a bug).
  if (length !== 0 && (length < DATA_START + MIN_SEGMENT || length > MAX_FILE)) {
    throw new PmemError('ERR_PMEM_CORRUPT', `the superblock records a length of ${length} bytes, which no store has`);
  }
  return { salt: p.readUInt32LE(8), segmentSize, length };
}

/**
 * The store header in `head`, a copy of a store's first bytes (at least its
 * superblock's), read without a mapping and without writing: for `pmem
 * info`. The superblock's recovery only reads, so a Region whose
 * durability calls refuse is enough.
 * @throws PmemError ERR_PMEM_CORRUPT as readHeader, or when `head` is too
 *   short to hold the superblock
 */
export function readHeaderBytes(head: Buffer): StoreHeader {
  if (head.length < STORE_HEADER_BYTES) {
    throw new PmemError('ERR_PMEM_CORRUPT', `the file is ${head.length} bytes, too short for a store's superblock`);
  }
  const refuse = (): never => {
    throw new Error('a store header read from a copy is never written');
  };
  const region: Region = { bytes: head, length: head.length, granularity: 'byte', flush: refuse, drain: refuse, persist: refuse };
  return readHeader(Superblock.open(region, KV_SUPERBLOCK));
}

/** The length a superblock payload records (0: none), as a number: at most 2^53 is read exactly, and more is refused anyway. */
function recordedLength(p: Buffer): number {
  return p.readUInt32LE(LENGTH_AT) + p.readUInt32LE(LENGTH_AT + 4) * 2 ** 32;
}

/**
 * Refuses a store whose file (or region) of `actual` bytes is shorter than
 * the length its superblock records: the segments past the cut are gone,
 * and with them every record they held. A writer records a length only
 * once the file is that long and that size is durable (KvLog.#recordLength),
 * so no crash leaves a file shorter than its record: something cut it (a
 * truncate, a copy that stopped short). A longer file is fine: a crash
 * between growing the file and recording the length leaves one.
 * @throws PmemError ERR_PMEM_CORRUPT
 */
export function refuseShort(h: StoreHeader, actual: number, path: string | undefined): void {
  if (h.length === 0 || actual >= h.length) return;
  const what = path === undefined ? 'the region' : `'${path}'`;
  throw new PmemError('ERR_PMEM_CORRUPT',
    `${what} is ${actual} bytes, shorter than the ${h.length}-byte store it holds: it was cut short ` +
    `(truncated, or copied in part), and the segments past byte ${actual} are missing`, path === undefined ? {} : { path });
}

/**
 * Refuses a region too small to hold any store (less than DATA_START and one
 * segment): as a store cut short when its header, if it can be read, records
 * a longer one (refuseShort), else as too small, naming `path`.
 * @throws PmemError ERR_PMEM_CORRUPT, always
 */
export function refuseTooSmall(region: Region, path: string | undefined): never {
  let h: StoreHeader | undefined;
  if (region.length >= STORE_HEADER_BYTES) {
    try {
      h = readHeaderBytes(region.bytes.subarray(0, STORE_HEADER_BYTES));
    } catch {
      h = undefined; // no readable header: the region is only too small
    }
  }
  if (h !== undefined) refuseShort(h, region.length, path);
  const what = path === undefined ? 'the region' : `'${path}'`;
  throw new PmemError('ERR_PMEM_CORRUPT', `${what} is ${region.length} bytes, too small to hold a store`, path === undefined ? {} : { path });
}

/**
 * Records `length` as the store's length in its superblock on `region`,
 * unless it records that much or more already: the recorded length never
 * shrinks. Durable when it returns (Superblock.write), so the caller may
 * then hand out the segments below `length`. The caller has made the file's
 * own size durable first.
 */
export function recordLength(region: Region, length: number): void {
  const sb = Superblock.open(region, KV_SUPERBLOCK);
  const p = sb.read() as Buffer; // checked by readHeader at open; only the writer writes it
  if (recordedLength(p) >= length) return;
  p.writeBigUInt64LE(BigInt(length), LENGTH_AT);
  // Durable when it returns: a crash before leaves the old length (the file
  // is longer than recorded, which opens), a crash after the new one.
  sb.write(p);
}

/** The highest segment sequence number a store hands out: 2^32 short of where a double stops counting by one. */
const MAX_SEQ = Number.MAX_SAFE_INTEGER - 2 ** 32;

/**
 * Prepares a recovered log for a writer: where appends go next, the
 * sequence floor, and the tail published for readers.
 * @returns the segment to fault in before the first put (the active one,
 *   from `t.tail`, or the free one the first put will open), or -1
 */
export function resumeWriter(region: Region, t: SegmentTable): number {
  const b = region.bytes;
  // Sequence numbers of segments freed at the top of the log (and of a
  // segment opened just before a crash) are not handed out again: a
  // reader that knew such a segment, or a stale record left in it, must
  // never match a new one (docs/durability.md, "Readers beside the writer").
  const floor = readWord(b, SEQ_FLOOR_AT);
  let newest = -1;
  for (let i = 0; i < t.count; i++) if (t.seq[i] !== 0 && (newest < 0 || t.seq[i] > t.seq[newest])) newest = i;
  // A store opens a segment at most a few thousand times a second: one whose
  // numbers come within 2^32 of 2^53, where a double stops counting by
  // one, was damaged (the floor word has no checksum), not worn out.
  if (floor > MAX_SEQ || (newest >= 0 && t.seq[newest] > MAX_SEQ)) {
    throw new PmemError('ERR_PMEM_CORRUPT', `segment sequence number ${Math.max(floor, newest >= 0 ? t.seq[newest] : 0)} is past any a store reaches (${MAX_SEQ}): the sequence floor or a segment header is damaged`);
  }
  if (newest >= 0 && t.seq[newest] < floor) {
    // The newest segment ever opened is gone (compaction freed it, or a
    // crash came before its first record). Appends go to a new one, so
    // that the log only grows in the order readers have followed, and
    // the tail they saw stays published until then.
    t.active = -1;
  } else if (newest >= 0) {
    // A writer killed inside openSegment, after the new header and before
    // the floor, left the newest number above the floor. The floor is
    // raised to it before the tail names it: a reader takes the full number
    // of a tail from the floor it loads after it (follow.ts, #stopAt), and
    // with the floor one below it took this tail for one 2^32 - 1 segments
    // behind its own, followed none of the puts made here, and an open
    // beside this writer built an empty index. Durable too, as
    // openSegment's is once that segment's first record is.
    if (t.seq[newest] > floor) {
      store64(b, SEQ_FLOOR_AT, t.seq[newest]);
      region.persist(SEQ_FLOOR_AT, 8);
    }
    // Readers opened before this writer follow from here on.
    publishTail(b, t.seq[newest], t.used[newest]);
  }
  t.maxSeq = Math.max(t.maxSeq, floor);
  return t.active >= 0 ? t.active : t.findFree(1, 0);
}

/**
 * Opens free segment `s` (a run of `need`) for appends: writes its header
 * with the next sequence number and raises the sequence floor, both flushed
 * and neither fenced. @returns the region offset of its first record
 */
export function openSegment(region: Region, t: SegmentTable, s: number, need: number): number {
  const b = region.bytes;
  if (t.maxSeq >= MAX_SEQ) throw new PmemError('ERR_PMEM_CORRUPT', `segment sequence numbers are exhausted at ${t.maxSeq}`);
  const seq = ++t.maxSeq;
  const start = t.start(s);
  writeSegmentHeader(b, start, seq, need, t.salt);
  // Flush without a fence: the fence that makes the segment's first record
  // durable (append) makes this header durable too. Until then a crash
  // leaves the segment free (old header, zeroed when it was freed) or empty.
  region.flush(start, SEGMENT_HEADER_BYTES);
  // The floor of sequence numbers, flushed likewise: once the segment's
  // first record is durable, so is the floor, and no later writer gives
  // `seq` to another segment. A crash before that fence loses a segment
  // that held nothing acknowledged, so reusing its number then is safe.
  store64(b, SEQ_FLOOR_AT, seq);
  region.flush(SEQ_FLOOR_AT, 8);
  t.open(s, seq, need);
  return start + SEGMENT_HEADER_BYTES;
}
