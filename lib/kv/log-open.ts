// Where KVStore's log begins: a new store's superblock, a writer's resume
// after recovery, and the header of each segment it opens. log.ts calls
// these; the protocol is in docs/durability.md ("KVStore").
import { randomInt } from 'node:crypto';

import {
  KV_FORMAT_VERSION, KV_MAGIC, SEGMENT_HEADER_BYTES, SEQ_FLOOR_AT, SUPERBLOCK_PAYLOAD_BYTES, writeSegmentHeader,
} from './format';
import { publishTail, readWord } from './published';
import { PmemError } from '../core/errors';
import { type Region, store64 } from '../core/region';
import type { SegmentTable } from './segments';
import type { Superblock } from '../log/superblock';

/** Writes a new store's superblock, with `segmentSize` and a new salt. Durable when it returns. */
export function formatLog(sb: Superblock, segmentSize: number): void {
  const p = Buffer.alloc(SUPERBLOCK_PAYLOAD_BYTES);
  p.writeUInt32LE(KV_MAGIC, 0);
  p.writeUInt32LE(KV_FORMAT_VERSION, 4);
  // A new salt: every segment header an earlier store left in these bytes
  // fails its checksum now, so nothing needs zeroing.
  p.writeUInt32LE(randomInt(1, 0xffffffff), 8);
  p.writeUInt32LE(segmentSize, 12);
  sb.write(p); // durable when it returns: the store exists from here on
}

/** The highest segment sequence number a store hands out: 2^32 short of where a double stops counting by one. */
const MAX_SEQ = Number.MAX_SAFE_INTEGER - 2 ** 32;

/**
 * Prepares a recovered log for a writer: where appends go next, the
 * sequence floor, and the tail published for readers.
 * @returns the segment to fault in before the first put (the active one,
 *   from `t.tail`, or the free one the first put will open), or -1
 */
export function resumeWriter(b: Buffer, t: SegmentTable): number {
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
