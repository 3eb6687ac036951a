// The compaction of KVStore's log: live entries copied out of old segments
// to the log's end, then the old segments freed.
import { align8, ENTRY_HEADER_BYTES, ENTRY_PUT, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format';
import type { KvIndex } from './hash-index';
import type { Entry } from './log';
import { countFree } from './published';
import { type Region, store64 } from '../core/region';
import type { SegmentTable } from './segments';

/** The log a compaction works on; `bytes` and `region` are read per use (an append may grow the file). */
export interface CompactTarget {
  readonly bytes: Buffer;
  readonly region: Region;
  readonly index: KvIndex;
  append(entries: Entry[], reserve: number): void;
}

/**
 * Cleans every used segment, oldest first: copies its live entries to the
 * log's end and frees it. A segment with no dead entry is left alone.
 *
 * Oldest first is what lets tombstones go: when segment s is cleaned,
 * every older segment still in use holds only live entries, so no older
 * entry of a deleted key is left for a dropped tombstone to uncover.
 * @returns segments freed
 */
export function compact(t: SegmentTable, log: CompactTarget): number {
  let freed = 0;
  // Appends from here go to a new segment, so the active one is cleaned too.
  t.active = -1;
  const order: number[] = [];
  for (let s = 0; s < t.count; s++) if (t.seq[s] !== 0) order.push(s);
  order.sort((x, y) => t.seq[x] - t.seq[y]);
  for (const s of order) {
    if (t.deadEntries[s] === 0 && t.liveBytes[s] > 0) continue;
    moveLive(t, log, s);
    const start = t.start(s);
    // Free s only now: every live entry copied out of it is durable
    // (each append fenced). A crash before this store leaves both
    // copies, and recovery takes the newer. The aligned 8-byte store of
    // a zero sequence number publishes the free (the header checksum
    // fails from then on). It must be durable before any newer segment
    // is cleaned: were s to come back after a tombstone of a newer
    // segment is dropped, its dead entries would come back to life.
    // Readers beside the writer (follow.ts) learn of the free from the
    // count first: one that reads this segment's bytes after they are
    // reused sees the count move, and reads again.
    countFree(log.bytes);
    store64(log.bytes, start + 8, 0);
    log.region.persist(start + 8, 8);
    freed += t.release(s);
  }
  return freed;
}

/** Copies the live entries of segment s to the log's end, packed into few records. */
function moveLive(t: SegmentTable, log: CompactTarget, s: number): void {
  const b = log.bytes;
  const start = t.start(s);
  const end = start + t.used[s];
  const live: Entry[] = [];
  for (let at = start + SEGMENT_HEADER_BYTES; at < end; ) {
    const count = b.readUInt32LE(at + 8);
    let p = at + RECORD_HEADER_BYTES;
    for (let i = 0; i < count; i++) {
      const klen = b.readUInt16LE(p + 2);
      const vlen = b.readUInt32LE(p + 4);
      if (b[p] === ENTRY_PUT && log.index.getEntry(p) === p) {
        const key = b.toString('latin1', p + ENTRY_HEADER_BYTES, p + ENTRY_HEADER_BYTES + klen);
        live.push({ type: ENTRY_PUT, key, value: null, vlen, src: p + ENTRY_HEADER_BYTES + klen });
      }
      p += ENTRY_HEADER_BYTES + klen + vlen;
    }
    at += align8(RECORD_HEADER_BYTES + b.readUInt32LE(at + 4));
  }
  let i = 0;
  while (i < live.length) {
    // As many entries as fit the room left in the active segment (or a
    // fresh one); an entry too large for one segment goes alone.
    const room = t.active >= 0 ? t.start(t.active) + t.size - t.tail : 0;
    const max = fits(live[i], room) ? room : t.size - SEGMENT_HEADER_BYTES;
    let bytes = RECORD_HEADER_BYTES;
    let j = i;
    while (j < live.length && align8(bytes + ENTRY_HEADER_BYTES + live[j].key.length + live[j].vlen) <= max) {
      bytes += ENTRY_HEADER_BYTES + live[j].key.length + live[j].vlen;
      j++;
    }
    if (j === i) j = i + 1;
    log.append(live.slice(i, j), 0); // compaction may use the last free segments
    i = j;
  }
}

function fits(e: Entry, room: number): boolean {
  return align8(RECORD_HEADER_BYTES + ENTRY_HEADER_BYTES + e.key.length + e.vlen) <= room;
}
