// Recovery of the write-ahead log: the scan from the head that finds the
// durable tail, and the test that tells a torn tail (discarded) from a
// damaged acknowledged record (ERR_PMEM_CORRUPT). It reads the ring and
// writes nothing; wal.ts applies what it finds and raises the epoch.
import { PmemError } from '../core/errors';
import {
  type RecordChecksum, recordBatchIndex, recordEpoch, recordLength, recordLsnIs, recordType, RECORD_HEADER,
  storedChecksum, TYPE_DATA, TYPE_PAD,
} from './wal-record';
import { Ring } from './wal-ring';

/** What the scan needs of the log: its bytes, ring, salt, current epoch and largest payload. */
export interface ScanContext {
  bytes: Buffer;
  ring: Ring;
  salt: number;
  epoch: number;
  maxRecordSize: number;
  checksum: RecordChecksum;
}

export interface ScanResult {
  nextLsn: number;
  tailPos: number;
  used: number;
  discardedTail: boolean;
  truncatedAt?: number;
}

/**
 * Walks from the head (`headPos`, `headLsn`): a record belongs to the log
 * if its checksum holds and it carries the next LSN. The first record that
 * fails ends the log, and is reported as a discarded tail, unless the
 * record after it is valid and belongs to a later append: then an
 * acknowledged record is damaged, and the scan throws ERR_PMEM_CORRUPT with
 * its LSN, or with `truncateOnCorruption` cuts the log there.
 */
export function scanLog(c: ScanContext, headPos: number, headLsn: number, truncateOnCorruption: boolean): ScanResult {
  const b = c.bytes;
  const ring = c.ring;
  let pos = headPos;
  let lsn = headLsn;
  let epoch = 0; // epoch of the last valid record
  let used = 0;
  let discardedTail = false;
  let truncatedAt: number | undefined;
  while (used < ring.size) {
    const gap = ring.gap(pos);
    if (gap > 0) {
      used += gap;
      pos = ring.next(pos, gap);
      continue;
    }
    const rec = validRecord(c, pos, lsn, ring.size - used, epoch);
    if (rec === 'invalid') {
      if (damagedBeforeLaterAppend(c, pos, lsn, epoch) || laterAppendAhead(c, pos, lsn, epoch, ring.size - used)) {
        if (!truncateOnCorruption) {
          throw new PmemError('ERR_PMEM_CORRUPT', `log record ${lsn} is corrupt and later records are intact`);
        }
        truncatedAt = lsn;
      }
      discardedTail = startedHere(c, pos, lsn);
      break;
    }
    const at = ring.start + pos;
    epoch = recordEpoch(b, at);
    const bytes = ring.extent(pos, rec === TYPE_PAD, recordLength(b, at));
    used += bytes;
    pos = ring.next(pos, bytes);
    if (rec === TYPE_DATA) lsn++;
  }
  return { nextLsn: lsn, tailPos: pos, used, discardedTail, ...(truncatedAt !== undefined ? { truncatedAt } : {}) };
}

/**
 * TYPE_DATA or TYPE_PAD for a valid record at pos carrying this LSN and an
 * epoch from minEpoch to the current one, else 'invalid'.
 */
function validRecord(c: ScanContext, pos: number, lsn: number, free: number, minEpoch: number): number | 'invalid' {
  const b = c.bytes;
  const at = c.ring.start + pos;
  const type = recordType(b, at);
  const len = recordLength(b, at);
  if (!recordLsnIs(b, at, lsn)) return 'invalid';
  const epoch = recordEpoch(b, at);
  if (epoch < minEpoch || epoch > c.epoch) return 'invalid';
  if (type === TYPE_PAD) {
    if (len !== c.ring.size - pos - RECORD_HEADER || len + RECORD_HEADER > free) return 'invalid';
    return storedChecksum(b, at) === c.checksum(b, at, 0, c.salt) ? TYPE_PAD : 'invalid';
  }
  if (type !== TYPE_DATA) return 'invalid';
  const span = Ring.span(len);
  if (len > c.maxRecordSize || c.ring.crosses(pos, span) || span > free) return 'invalid';
  return storedChecksum(b, at) === c.checksum(b, at, len, c.salt) ? TYPE_DATA : 'invalid';
}

/**
 * True when the invalid record at pos has an intact-looking header and the
 * record after it is valid, carries the next LSN, and started a later
 * append. Appends are sequential and each ends with a fence, so that
 * later record's append began after this one was durable.
 */
function damagedBeforeLaterAppend(c: ScanContext, pos: number, lsn: number, minEpoch: number): boolean {
  const b = c.bytes;
  const ring = c.ring;
  const at = ring.start + pos;
  if (!recordLsnIs(b, at, lsn) || recordType(b, at) !== TYPE_DATA) return false;
  const len = recordLength(b, at);
  if (len > c.maxRecordSize) return false;
  const span = Ring.span(len);
  if (ring.crosses(pos, span)) return false;
  let next = ring.next(pos, span);
  next = ring.next(next, ring.gap(next));
  if (validRecord(c, next, lsn + 1, ring.size, minEpoch) !== TYPE_DATA) return false;
  return recordBatchIndex(b, ring.start + next) === 0;
}

/**
 * Bytes the scan searches beyond an invalid record for a record of a later
 * append: damage that zeroed or garbled a run of records (a page, say)
 * shorter than this, less the record after it, is found. Bounded, so that
 * the recovery of a torn tail in a ring of gigabytes costs milliseconds.
 */
const DAMAGE_WINDOW = 2 << 20;
const ZERO_PAGE = Buffer.alloc(4096);

/**
 * True when a valid record that starts a later append (an LSN past `lsn`,
 * batch index 0, an epoch from `minEpoch` on) lies within the `free` bytes
 * of the ring from `pos` (those this lap of the scan has not walked), at
 * most DAMAGE_WINDOW of them. Such an append began after the
 * one holding record `lsn` was fenced: `lsn` was durable, and is damaged.
 * Records ahead of a torn tail are older (a previous lap, lower LSNs) or of
 * the torn batch itself (batch index past 0), or carry a lower epoch.
 */
function laterAppendAhead(c: ScanContext, pos: number, lsn: number, minEpoch: number, free: number): boolean {
  const b = c.bytes;
  const ring = c.ring;
  const limit = Math.min(free, DAMAGE_WINDOW);
  // No more records than headers fit in the ring lie between `lsn` and a later one.
  const lastLsn = lsn + Math.floor(ring.size / RECORD_HEADER);
  const firstLsn = Math.max(1, lsn - Math.floor(ring.size / RECORD_HEADER));
  for (let p = pos, walked = 0; walked + RECORD_HEADER <= limit;) {
    const gap = ring.gap(p);
    if (gap > 0) {
      walked += gap;
      p = 0;
      continue;
    }
    const at = ring.start + p;
    // A page of zeros (a log that never wrapped this far): no position
    // whose LSN field lies in it holds a header. Compared natively.
    if (at % ZERO_PAGE.length === 0 && p + ZERO_PAGE.length <= ring.size && walked + ZERO_PAGE.length <= limit &&
        b.compare(ZERO_PAGE, 0, ZERO_PAGE.length, at, at + ZERO_PAGE.length) === 0) {
      p += ZERO_PAGE.length - 8;
      walked += ZERO_PAGE.length - 8;
      continue;
    }
    // The LSN field (header bytes 8..15) first: most positions are not a header at all.
    const l = b.readUInt32LE(at + 8) + b.readUInt32LE(at + 12) * 0x100000000;
    if (l > lsn && l <= lastLsn && validRecord(c, p, l, ring.size, minEpoch) === TYPE_DATA && recordBatchIndex(b, at) === 0) return true;
    // A record of the previous lap: the records of this one, which come
    // before it in the ring, are all behind.
    if (l < lsn && l >= firstLsn && validRecord(c, p, l, ring.size, 0) !== 'invalid') return false;
    p = ring.next(p, 8);
    walked += 8;
  }
  return false;
}

/**
 * Whether the invalid record at pos is one an append began: its header
 * carries the LSN the log expected there (a torn write whose header line
 * reached the media, or damage to that record). Any other bytes there are
 * a clean end: zeros, or what an earlier lap of the ring left (a stale
 * record's header, or the middle of one), which said nothing of a write
 * and made every log that had wrapped look torn. A torn append whose
 * header line never reached the media is not seen either way; it was never
 * acknowledged, so nothing is lost with it.
 */
function startedHere(c: ScanContext, pos: number, lsn: number): boolean {
  return recordLsnIs(c.bytes, c.ring.start + pos, lsn);
}
