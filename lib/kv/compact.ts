// The compaction of KVStore's log: live entries copied out of old segments
// to the log's end, then the old segments freed. `compact()` cleans every
// segment with dead entries at once; `Cleaner` cleans one segment a bounded
// step at a time, between writes (paced by log.ts).
import { align8 } from '../core/args';
import { isPmemError, PmemError } from '../core/errors';
import { ENTRY_DEL, ENTRY_HEADER_BYTES, ENTRY_PUT, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format';
import type { KvIndex } from './hash-index';
import { countFree } from './published';
import { type Region, store64 } from '../core/region';
import { type SegmentTable } from './segments';

/**
 * Free segments a write that adds data must leave. Deletes may take one of
 * them (so that a full store still takes deletes), and compaction the last:
 * cleaning a segment needs at most one segment to copy its live entries to,
 * so compaction can always make progress. Not a run (a record larger than a
 * segment): its copies are made only when the segments they take are free,
 * a run of them for each entry too large for one segment (moveLive,
 * roomForCopies); otherwise it is passed over.
 */
export const RESERVE_PUT = 2;
export const RESERVE_DEL = 1;

/**
 * Incremental compaction (Cleaner, paced by log.ts): while no more than
 * `lowWater` segments are free, writes pay for cleaning as they go. Each
 * written byte adds the bytes cleaning must copy to reclaim one (the
 * victim's live bytes per dead byte, times 1.25 to gain ground) to a debt,
 * and a write that brings the debt to a step's budget runs one step: at
 * most `stepBytes` of live entries copied, whole records at a time. So no
 * write pays for more than one bounded step, and a few writes in hundreds
 * pay for one at all.
 */
function lowWater(segments: number): number {
  return RESERVE_PUT + Math.max(2, Math.ceil(segments / 16));
}
function stepBytes(segmentSize: number): number {
  return Math.min(64 * 1024, segmentSize / 8);
}
const CLEAN_AHEAD = 1.25;

/** The log a compaction works on; `bytes` and `region` are read per use (an append may grow the file). */
export interface CompactTarget {
  readonly bytes: Buffer;
  readonly region: Region;
  readonly index: KvIndex;
  appendCopies(src: number[], sizes: number[], slots: number[], i: number, j: number): void;
  /**
   * Whether runs of `needs[0]`, `needs[1]`, ... free segments (1: a single
   * one) can be taken in turn, as appends take them (or the file may grow).
   */
  roomForCopies(needs: number[]): boolean;
  /** Told of the region bytes [start, end) of a segment about to be freed, while they still hold its entries. */
  beforeFree(start: number, end: number): void;
  /** Whether a reader beside the writer holds its pin (pin.ts): paced cleaning frees nothing then. */
  readersPinned(): boolean;
  /** Ends the active segment (its end mark at the tail) and sends appends to a new segment, so that compact() may clean it. */
  leaveActive(): void;
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
  // A segment whose copies find no room (a run: a record larger than a
  // segment, whose live entries need a run of free segments) is left
  // whole, and the pass goes on. From then on a segment with tombstones
  // keeps them: its tombstones of keys the index does not hold are copied
  // with its live entries (moveLive's `carry`), as one may hide a dead
  // entry of the segment left whole. When such a pass freed something, a
  // second pass tries the segments left whole again.
  const first = compactPass(t, log);
  if (first.left === 0 || first.freed === 0) return first.freed;
  return first.freed + compactPass(t, log).freed;
}

/** One pass of compact(): @returns segments freed, and segments left whole for want of room */
function compactPass(t: SegmentTable, log: CompactTarget): { freed: number; left: number } {
  let freed = 0;
  let left = 0;
  // The active segment is given up only to be cleaned: when it has
  // something to reclaim, appends from here go to a new segment and it is
  // cleaned too (last: it is the newest), freed, room and all. Otherwise
  // the copies go on filling its room. Given up with nothing to clean,
  // its room was lost until its next cleaning, and a store nearly full of
  // live entries took less after compact() than before: a put that fitted
  // that room was refused. Its copies find a free segment: it holds a dead
  // entry only by a write placed in it (a put keeps two segments free, a
  // delete one) or a tombstone a pass carried there (a pass frees each
  // victim whose copies opened a segment), only an opening lowers the
  // count, and an opening moves appends on; every victim cleaned before
  // it frees as many segments as its copies open.
  if (t.active >= 0 && worthCleaning(t, t.active)) log.leaveActive();
  const order: number[] = [];
  for (let s = 0; s < t.count; s++) if (t.seq[s] !== 0) order.push(s);
  order.sort((x, y) => t.seq[x] - t.seq[y]);
  for (const s of order) {
    // Never the segment the copies go to (as victim()): its tombstones the
    // copies carried may make it worth cleaning, and it would be freed
    // with copies in it.
    if (s === t.active || !worthCleaning(t, s)) continue;
    const carry = left > 0 && t.tombstones[s] !== 0;
    if ((t.liveBytes[s] > 0 || carry) && copiedOut(t, log, s, t.start(s) + SEGMENT_HEADER_BYTES, Infinity, carry) < 0) {
      left++;
      continue;
    }
    freed += free(t, log, s);
  }
  return { freed, left };
}

/**
 * moveLive(), or -1 when the log had no room for one of its copies
 * (ERR_PMEM_NO_SPACE). The copies made before that are durable and
 * indexed; the segment keeps the rest.
 */
function copiedOut(t: SegmentTable, log: CompactTarget, s: number, from: number, budget: number, carry = false): number {
  try {
    return moveLive(t, log, s, from, budget, carry);
  } catch (e) {
    if (!isPmemError(e, 'ERR_PMEM_NO_SPACE')) throw e;
    return -1;
  }
}

/**
 * One segment cleaned in bounded steps, with the log's writes in between.
 * The segment (the victim) is picked by `victim()`: of the segments that
 * may go, the one whose cleaning copies the fewest live bytes per byte it
 * frees, never the active segment. A victim with tombstones is the oldest
 * used segment with dead entries: every older segment holds only live
 * entries when it is picked, so no older entry of a key it deletes exists
 * and its tombstones may go when it is freed. Writes between the steps do
 * not change that: an older entry they kill is of a key they write, and
 * the victim's tombstones are older than that entry's death
 * (docs/durability.md, "KVStore: incremental compaction").
 * A step copies the live entries of the next records (up to a byte budget)
 * to the log's end, each record fenced by its append; the last step frees
 * the victim, as compact() does. Nothing of this is stored: a crash
 * between steps leaves the copies made so far and the victim whole, and
 * recovery takes the newer copy of each entry.
 */
export class Cleaner {
  /** The victim, -1 when none is picked. */
  #seg = -1;
  /** Its sequence number when picked: a compact() in between may free it and a new segment take its place. */
  #seq = 0;
  /** Region offset of the victim's next record to look at. */
  #at = 0;
  /** Bytes the log writes per byte it gains by cleaning the victim (live / dead), as last picked. */
  #cost = 2;
  /** Bytes of live entries the writes so far owe to cleaning (see lowWater). */
  #owed = 0;

  /**
   * Victims whose copies found no room (copiedOut), each with its sequence
   * number then: not picked again (while they keep that number) until more
   * segments are free than `#stuckFree`, the count when the last was added.
   */
  readonly #stuck = new Map<number, number>();
  #stuckFree = 0;
  readonly #isStuck = (s: number): boolean => this.#stuck.get(s) === this.#t?.seq[s];
  #t: SegmentTable | undefined;

  /** Forgets the victim and the debt (compact() cleaned everything). */
  reset(): void {
    this.#seg = -1;
    this.#owed = 0;
    this.#stuck.clear();
  }

  /**
   * Adds a write of `size` bytes to the debt, while few segments are free
   * and the store cannot grow (`growable`: it grows instead). @returns the
   * budget of the step the write must run now, or 0
   */
  owe(t: SegmentTable, size: number, growable: boolean): number {
    if (t.free > lowWater(t.count) || growable) {
      this.#owed = 0;
      return 0;
    }
    this.#owed += size * Math.max(1, CLEAN_AHEAD * this.#cost);
    const budget = stepBytes(t.size);
    if (this.#owed < budget) return 0;
    this.#owed = 0;
    return budget;
  }

  /**
   * owe() for a write of `size` bytes, then `step(budget)` when a step is
   * due. A step that finds no room even for its copies is not an error of
   * the write: what it copied is durable and indexed, the victim stays
   * whole, and the write's own placement decides (it cleans further, or
   * fails with the store full).
   */
  pace(t: SegmentTable, size: number, growable: boolean, step: (budget: number) => boolean): void {
    const budget = this.owe(t, size, growable);
    if (budget === 0) return;
    try {
      step(budget);
    } catch (e) {
      if (!(e instanceof PmemError) || e.code !== 'ERR_PMEM_NO_SPACE') throw e;
    }
  }

  /**
   * Copies live entries of the victim's next records to the log's end,
   * until `budget` bytes of them are copied (at least one record's worth),
   * and frees the victim when its end is reached. A `paced` step (one a
   * write pays for while free segments remain) leaves the free to a later
   * step while a reader holds its pin; a step for a write that found no
   * free segment frees at once.
   * @returns whether anything was done (false: no segment is worth cleaning)
   */
  step(t: SegmentTable, log: CompactTarget, budget: number, paced = false): boolean {
    if (this.#seg < 0 || t.seq[this.#seg] !== this.#seq) {
      if (this.#stuck.size > 0 && t.free > this.#stuckFree) this.#stuck.clear();
      this.#t = t;
      const s = cleaning.victim(t, this.#stuck.size > 0 ? this.#isStuck : undefined);
      if (s < 0) {
        this.#seg = -1;
        return false;
      }
      this.#seg = s;
      this.#seq = t.seq[s];
      this.#at = t.start(s) + SEGMENT_HEADER_BYTES;
      const dead = t.used[s] - SEGMENT_HEADER_BYTES - t.liveBytes[s];
      this.#cost = t.liveBytes[s] / Math.max(dead, 1);
    }
    const s = this.#seg;
    // With no live entry left in the victim there is nothing to copy, and
    // no record of it is read (each would cost an index lookup).
    if (t.liveBytes[s] === 0) {
      this.#at = t.start(s) + t.used[s];
    } else {
      const at = copiedOut(t, log, s, this.#at, budget);
      if (at < 0) {
        // No room for its copies (a run's live entries need a run of free
        // segments): another victim is picked, this one only once more
        // segments are free. The copies made are durable and indexed.
        this.#stuck.set(s, this.#seq);
        this.#stuckFree = t.free;
        this.#seg = -1;
        return true;
      }
      this.#at = at;
    }
    if (this.#at >= t.start(s) + t.used[s]) {
      // A reader that read again because frees moved under it, and then
      // again, holds the pin for its next attempt (follow.ts read()): a
      // free now would send it round once more, without end beside a
      // writer that frees faster than it reads. The victim stays whole
      // (its live entries are copied; it only waits to be reused) until a
      // step finds no pin. Asked once per free, not per write.
      if (paced && log.readersPinned()) return true;
      free(t, log, s);
      this.#seg = -1;
    }
    return true;
  }
}

/**
 * Whether segment s (a used head) has anything to reclaim: a dead entry, or
 * no live one. Not a run (a record larger than a segment: a rename or batch
 * with a large value) whose only dead entries are tombstones and whose live
 * entries do not fit one segment: its copies would need as many segments as
 * it frees, more than the one compaction is sure to find free (RESERVE_DEL),
 * so compact() and the steps would fail there with ERR_PMEM_NO_SPACE, and
 * the writes with them. Left alone, it keeps its tombstones; and it holds
 * no dead put, so a newer tombstone dropped uncovers nothing in it: the
 * rule for tombstones (victim) holds as for a segment of live entries.
 */
function worthCleaning(t: SegmentTable, s: number): boolean {
  if (t.liveBytes[s] === 0) return true;
  if (t.deadEntries[s] === 0) return false;
  return t.span[s] === 1 || t.deadEntries[s] > t.tombstones[s] ||
    t.liveBytes[s] + RECORD_HEADER_BYTES + SEGMENT_HEADER_BYTES <= t.size;
}

/**
 * The victim of the next cleaning steps, or -1: of the used heads worth
 * cleaning, other than the active segment, the one with the fewest live
 * bytes per byte it holds (the most space freed per byte copied), among
 * those that may go now.
 * - A head with tombstones may go only when it is the oldest head worth
 *   cleaning: every older segment then holds only live entries, so no
 *   older entry of a key it deletes is left for a dropped tombstone to
 *   uncover.
 * - A head without tombstones may go at any time. Each dead entry in it is
 *   hidden by a newer entry that stays: a live entry (or its copy, made
 *   before the free), a newer dead one hidden in turn, or a tombstone,
 *   which by the rule above outlives every older entry of its key.
 */
export function victim(t: SegmentTable, skip?: (s: number) => boolean): number {
  const oldest = oldestWorthCleaning(t);
  // When the active segment is the oldest worth cleaning, every other
  // segment in use holds only live entries: nothing to clean before it fills.
  // A head `skip` passes over (a victim whose copies found no room) still
  // counts as the oldest for the rule above: while it is, no head with
  // tombstones may go.
  let best = oldest === t.active || (oldest >= 0 && skip?.(oldest) === true) ? -1 : oldest;
  for (let s = 0; s < t.count; s++) {
    if (t.seq[s] === 0 || s === t.active || t.tombstones[s] !== 0 || !worthCleaning(t, s) || skip?.(s) === true) continue;
    // live(s) / used(s) < live(best) / used(best), without dividing.
    if (best < 0 || t.liveBytes[s] * t.used[best] < t.liveBytes[best] * t.used[s]) best = s;
  }
  return best;
}

/** The used head with the lowest sequence number among those worth cleaning, or -1. */
export function oldestWorthCleaning(t: SegmentTable): number {
  let oldest = -1;
  for (let s = 0; s < t.count; s++) {
    if (t.seq[s] !== 0 && worthCleaning(t, s) && (oldest < 0 || t.seq[s] < t.seq[oldest])) oldest = s;
  }
  return oldest;
}

/**
 * The rule Cleaner picks its victims by: `victim`. test/78 puts a rule
 * that ignores tombstones here, and shows that a deleted key comes back.
 * And whether the copies of a victim with an entry too large for one
 * segment have room: `roomForRun` (CompactTarget's roomForCopies); test/78
 * refuses every one, to leave a run whole.
 */
export const cleaning = {
  victim,
  roomForRun: (log: CompactTarget, needs: number[]): boolean => log.roomForCopies(needs),
};

/**
 * Frees head segment s, whose live entries are all copied out (each copy
 * fenced by its append). @returns segments freed
 */
function free(t: SegmentTable, log: CompactTarget, s: number): number {
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
  // unordered() walks take the keys they have not reached here while the
  // bytes still hold them: after the free, a reuse may overwrite them.
  log.beforeFree(t.start(s), t.start(s) + t.used[s]);
  countFree(log.bytes);
  store64(log.bytes, t.start(s) + 8, 0);
  log.region.persist(t.start(s) + 8, 8);
  return t.release(s);
}

/** moveLive's arrays, reused: moveLive runs to its end before it can run again. */
const moved = { src: [] as number[], sizes: [] as number[], slots: [] as number[], needs: [] as number[] };

/**
 * Entries whose index slots are asked for at once (KvIndex.prefetchSlots)
 * before any is looked up: an entry's slot is a cache miss at a random
 * place of a table of millions, and asked for one by one, each waits for
 * the one before.
 */
const LOOKAHEAD = 32;
/** The entries of the records looked at next: offset, size, key hash (0 for a tombstone), and where each record ends. */
const ahead = { at: [] as number[], size: [] as number[], hash: new Int32Array(64), next: [] as number[], last: [] as number[] };

/**
 * Copies the live entries of segment s's records from region offset `from`
 * to the log's end, packed into few records, until `budget` bytes of live
 * entries are copied (whole records at a time, at least one) or at most
 * four times that many bytes are read. With `carry`, the tombstones of
 * keys the index does not hold are copied as well. @returns the offset of
 * the first record not looked at
 */
function moveLive(t: SegmentTable, log: CompactTarget, s: number, from: number, budget: number, carry = false): number {
  const b = log.bytes;
  const index = log.index;
  const end = t.start(s) + t.used[s];
  // Per live entry: its offset, size and index slot (valid until the index
  // next inserts or deletes a key: appendCopies does neither). The arrays
  // are kept from step to step (a step runs inside a put, and new arrays
  // each time were garbage on the put path); only the first `live` count.
  const { src, sizes, slots } = moved;
  let live = 0;
  let bytes = 0;
  let at = from;
  while (at < end && bytes < budget && at - from < 4 * budget) {
    // The entries of the next whole records, up to LOOKAHEAD of them (or
    // one record's, however many), each with its key's hash; then their
    // slots are prefetched together, and looked up in order. Entries read
    // past the record where the budget runs out are only read.
    let n = 0;
    let records = 0;
    let r = at;
    while (r < end && r - from < 4 * budget && (n === 0 || n + b.readUInt32LE(r + 8) <= LOOKAHEAD)) {
      const count = b.readUInt32LE(r + 8);
      if (ahead.hash.length < n + count) {
        const grown = new Int32Array(Math.max(2 * ahead.hash.length, n + count));
        grown.set(ahead.hash.subarray(0, n));
        ahead.hash = grown;
      }
      let p = r + RECORD_HEADER_BYTES;
      for (let i = 0; i < count; i++) {
        const esize = ENTRY_HEADER_BYTES + b.readUInt16LE(p + 2) + b.readUInt32LE(p + 4);
        ahead.at[n] = p;
        ahead.size[n] = esize;
        ahead.hash[n] = b[p] === ENTRY_PUT ? index.keyHashAt(p) : 0;
        n++;
        p += esize;
      }
      r += align8(RECORD_HEADER_BYTES + b.readUInt32LE(r + 4));
      ahead.next[records] = r;
      ahead.last[records] = n;
      records++;
    }
    index.prefetchSlots(ahead.hash, n);
    let k = 0;
    for (let rec = 0; rec < records && bytes < budget; rec++) {
      for (; k < ahead.last[rec]; k++) {
        const p = ahead.at[k];
        const type = b[p];
        const slot = type === ENTRY_PUT ? index.liveSlot(p, ahead.hash[k]) : -1;
        // With `carry`, a tombstone of a key the index does not hold is
        // copied too (slot -1): an older segment left whole may hold a dead
        // put of its key. One of a key put again since is not: that put is
        // newer than every entry the tombstone hides.
        if (slot >= 0 || (carry && type === ENTRY_DEL && index.getEntry(p) === undefined)) {
          src[live] = p;
          sizes[live] = ahead.size[k];
          slots[live] = slot;
          live++;
          bytes += ahead.size[k];
        }
      }
      at = ahead.next[rec];
    }
  }
  // What the copies take, record by record as the loop below makes them:
  // the active segment's room, a free segment, or a run of free segments
  // for an entry too large for one (after which no segment is active). A
  // run's record (a batch) may hold several such entries, or more than a
  // segment of others: when the segments its copies take are not free, in
  // turn (nor may the file grow), nothing is copied: copies of some would
  // only take the room the rest of the log's cleaning needs, and the
  // segment would stay whole with them (copiedOut passes over it).
  const seg = t.size - SEGMENT_HEADER_BYTES;
  const needs = moved.needs;
  needs.length = 0;
  let run = false;
  let room = t.active >= 0 ? t.start(t.active) + t.size - t.tail : 0;
  for (let k = 0; k < live;) {
    const first = align8(RECORD_HEADER_BYTES + sizes[k]);
    const max = first <= room ? room : seg;
    let n = RECORD_HEADER_BYTES;
    const from = k;
    while (k < live && align8(n + sizes[k]) <= max) n += sizes[k++];
    if (k === from) k++;
    if (first > seg) {
      needs.push(Math.ceil((first + SEGMENT_HEADER_BYTES) / t.size));
      run = true;
      room = 0;
    } else if (first > room) {
      needs.push(1);
      room = seg - align8(n);
    } else {
      room -= align8(n);
    }
  }
  if (run ? !cleaning.roomForRun(log, needs) : needs.length > t.free && !log.roomForCopies(needs)) {
    throw new PmemError('ERR_PMEM_NO_SPACE', `no room for the copies of a segment's live entries (${needs.join(' + ')} free segments, in turn)`);
  }
  let i = 0;
  while (i < live) {
    // As many entries as fit the room left in the active segment (or a
    // fresh one); an entry too large for one segment goes alone.
    const room = t.active >= 0 ? t.start(t.active) + t.size - t.tail : 0;
    const max = align8(RECORD_HEADER_BYTES + sizes[i]) <= room ? room : t.size - SEGMENT_HEADER_BYTES;
    let n = RECORD_HEADER_BYTES;
    let j = i;
    while (j < live && align8(n + sizes[j]) <= max) n += sizes[j++];
    if (j === i) j = i + 1;
    log.appendCopies(src, sizes, slots, i, j);
    i = j;
  }
  return at;
}
