// The end mark (format.ts, isEndMark) a writer leaves at the active
// segment's tail where it stops writing it: before it moves on to another
// segment (#place and #compact in lib/kv/log.ts), or at a clean close.
import { RECORD_HEADER_BYTES } from './format';
import { type Region, sealRecord } from '../core/region';
import type { SegmentTable } from './segments';

/**
 * Writes the end mark at the tail of the active segment of `t` on `region`,
 * checksummed and flushed; with `persist`, fenced too (durable when this
 * returns). Only for recovery's report: the log ends at the last valid
 * record with it or without it, and the next append in the segment, if
 * any, overwrites it. A gap too small for it takes no record either, and
 * none is written; nor is one with no active segment.
 */
export function writeEndMark(region: Region, t: SegmentTable, persist: boolean): void {
  if (t.active < 0 || t.start(t.active) + t.size - t.tail < RECORD_HEADER_BYTES) return;
  const at = t.tail;
  const b = region.bytes;
  b.fill(0, at + 4, at + RECORD_HEADER_BYTES);
  sealRecord(region, at, at + RECORD_HEADER_BYTES, t.seed[t.head[t.segOf(at)]], persist);
}
