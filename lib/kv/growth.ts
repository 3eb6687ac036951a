// The growth of a KvLog's file (#grow in lib/kv/log.ts): the region mapped
// again larger, up to maxSize, and its new length recorded in the
// superblock before any segment past the old length takes a record. A
// reader following a writer goes on over the grown region (KvLog.adopt).
import { DATA_START } from './format';
import { isPmemError } from '../core/errors';
import { recordLength } from './log-open';
import type { Region } from '../core/region';
import type { SegmentTable } from './segments';

/**
 * Called when no segment is free: returns the region remapped to at least
 * `bytes` (and at most the caller's limit), or null when it cannot grow.
 */
export type Remap = (bytes: number) => Region | null;

/** The whole segments of `size` bytes a region of `length` bytes holds. */
export function segmentsIn(length: number, size: number): number {
  return Math.floor((length - DATA_START) / size);
}

/**
 * The file under `region` mapped again (`remap`) to hold at least
 * `segments` more segments than the table `t`, up to `maxSize`: twice as
 * many segments where that fits, else, on a filesystem without room for
 * that many, only the `segments` asked for. The old mapping is gone then:
 * the caller goes on over the new one, the table still at the old
 * segments, which are all the length recorded covers.
 * @returns null when the file cannot grow (at maxSize)
 * @throws PmemError ERR_PMEM_NO_SPACE when the filesystem has no room for
 *   even the segments asked for (the file and the old mapping are left as
 *   they were: openMapping reserves blocks before it sets the size)
 */
export function grownRegion(region: Region, t: SegmentTable, maxSize: number, remap: Remap, segments: number): Region | null {
  const want = t.growTarget(region.length, maxSize, segments);
  if (want === 0) return null;
  // The new bytes are zero: free segments. A crash after the file grew and
  // before anything was written there loses nothing. Offsets, not views,
  // live in the index, so it survives the remap.
  try {
    return remap(want);
  } catch (e) {
    // Doubling is a guess at what is coming, not a need: a filesystem with
    // room for the segments asked for, and not for the doubling, gets those.
    const least = DATA_START + (t.count + segments) * t.size;
    if (!isPmemError(e, 'ERR_PMEM_NO_SPACE') || least >= want || least <= region.length) throw e;
    return remap(least);
  }
}

/**
 * Records the region's length in the superblock, after making the file's
 * size durable (`syncLength`): the record must never claim more than a
 * crash leaves of the file. Both orderings matter. The size first: a
 * crash between the two leaves a file longer than recorded, which opens.
 * The record before any segment past the old length takes a record
 * (durable when recordLengthSynced returns): else a file cut to the
 * recorded length would lose acknowledged writes and open without a word.
 */
export function recordLengthSynced(region: Region, syncLength: (() => void) | undefined): void {
  syncLength?.();
  recordLength(region, region.length);
}
