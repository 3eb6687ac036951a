// Dropping the log's newest records (Wal.truncateTail): a replicated
// journal's backup drops the records an old primary wrote past the point
// where a new one took over. Kept apart from the API (wal.ts) as its own
// ordering argument.
import { type Region, store64 } from '../core/region';
import { RECORD_HEADER, recordLength, recordType, TYPE_PAD } from './wal-record';
import type { Ring } from './wal-ring';

/**
 * Makes the data records from `fromLsn` up to `nextLsn - 1` invalid: each
 * one's 32-byte header is zeroed (four aligned 8-byte stores) and
 * persisted, newest first. Recovery ends the log at the first record whose
 * LSN is not the next one, and a zeroed header is never taken for damage,
 * so a crash at any point leaves the log ending between `fromLsn - 1` and
 * its old tail. The whole header goes, not only the LSN: the next append
 * writes its own record over the first dropped one, and a crash that tears
 * it could persist just its LSN word, which would make an old record whose
 * other words were intact valid again. With the checksum word zeroed, a
 * torn new header validates only if every word of it is the new record's.
 */
export function dropTail(region: Region, ring: Ring, headPos: number, headLsn: number, nextLsn: number, fromLsn: number): void {
  const b = region.bytes;
  const at: number[] = [];
  let pos = headPos;
  for (let lsn = headLsn; lsn < nextLsn; ) {
    pos = ring.next(pos, ring.gap(pos));
    const type = recordType(b, ring.start + pos);
    if (type !== TYPE_PAD) {
      if (lsn >= fromLsn) at.push(ring.start + pos);
      lsn++;
    }
    pos = ring.next(pos, ring.extent(pos, type === TYPE_PAD, recordLength(b, ring.start + pos)));
  }
  for (let i = at.length - 1; i >= 0; i--) {
    for (let w = 0; w < RECORD_HEADER; w += 8) store64(b, at[i] + w, 0);
    // One record at a time, newest first, each durable before the next
    // older one is touched: the dropped records are always a suffix.
    region.persist(at[i], RECORD_HEADER);
  }
}
