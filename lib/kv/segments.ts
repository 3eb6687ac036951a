// The segment table of KVStore's log: what the log keeps in DRAM per
// segment (its state, sequence number, span, fill, live and dead counts,
// checksum seed), the free count, and the segment appends go to. Nothing
// here is stored: recover.ts rebuilds it from the segment headers and
// records on every open. The protocol that writes the headers is in
// log.ts (#place) and compact.ts.
import { DATA_START, ENTRY_PUT, entrySize, MAX_SEGMENT, MIN_SEGMENT, SEGMENT_HEADER_BYTES, segmentSeed } from './format';
import type { KvIndex } from './hash-index';

export function isSegmentSize(n: number): boolean {
  return n >= MIN_SEGMENT && n <= MAX_SEGMENT && Number.isInteger(Math.log2(n));
}

export interface LogStats {
  liveBytes: number;
  deadBytes: number;
  fileBytes: number;
  segmentSize: number;
  segments: { total: number; used: number; free: number };
}

/**
 * The segments of one log. A segment is free (head -1), or part of a run
 * of `span` segments that starts at its head segment; the per-head arrays
 * hold meaningful values only at head segments in use (seq > 0).
 */
export class SegmentTable {
  /** The store's salt (from its superblock), chained into every seed. */
  salt = 0;
  /** Bytes per segment. */
  size = 0;
  /** Segments in the region. */
  count = 0;
  /** The highest sequence number in use: the next segment opened gets the one after. */
  maxSeq = 0;
  readonly seq: number[] = []; // per head segment: sequence number; 0 when not a head
  readonly head: number[] = []; // per segment: its head segment, -1 when free
  readonly span: number[] = []; // per head: segments of its run
  readonly used: number[] = []; // per head: bytes from its start to the end of its last record
  readonly liveBytes: number[] = []; // per head: bytes of live entries
  readonly deadEntries: number[] = []; // per head: dead entries (overwritten, deleted, tombstones)
  readonly tombstones: number[] = []; // per head: tombstones (counted in deadEntries too)
  readonly seed: number[] = []; // per head: the seed of its record checksums (segmentSeed)
  /** Segments with head -1. */
  free = 0;
  /** The head segment appends go to, -1 when none. */
  active = -1;
  /** Region offset of the next append in `active`. */
  tail = 0;

  /** Region offset of segment s. */
  start(s: number): number {
    return DATA_START + s * this.size;
  }

  /** The segment that holds region offset `offset`. */
  segOf(offset: number): number {
    return Math.floor((offset - DATA_START) / this.size);
  }

  /**
   * The size to grow a region of `length` bytes to, up to `maxSize`, so that
   * it holds at least `segments` more segments (twice as many as now, where
   * that fits), or 0 when it cannot.
   */
  growTarget(length: number, maxSize: number, segments: number): number {
    const cap = DATA_START + Math.floor((maxSize - DATA_START) / this.size) * this.size;
    const want = Math.min(cap, DATA_START + Math.max(this.count * 2, this.count + segments) * this.size);
    return want < DATA_START + (this.count + segments) * this.size || want <= length ? 0 : want;
  }

  /** Grows the per-segment arrays to `nseg` segments (the new ones free). */
  resize(nseg: number): void {
    for (let i = this.count; i < nseg; i++) {
      this.seq.push(0);
      this.head.push(-1);
      this.span.push(0);
      this.used.push(0);
      this.liveBytes.push(0);
      this.deadEntries.push(0);
      this.tombstones.push(0);
      this.seed.push(0);
    }
    this.free += Math.max(0, nseg - this.count);
    this.count = Math.max(nseg, this.count);
  }

  /** First run of `need` free segments that leaves `reserve` free, or -1. */
  findFree(need: number, reserve: number): number {
    if (this.free < need + reserve) return -1;
    let run = 0;
    for (let i = 0; i < this.count; i++) {
      run = this.head[i] === -1 ? run + 1 : 0;
      if (run === need) return i - need + 1;
    }
    return -1;
  }

  /**
   * Whether runs of `needs[0]`, `needs[1]`, ... free segments can be taken
   * in turn, each the first run findFree would find then, leaving `reserve`
   * segments free.
   */
  fitsRuns(needs: number[], reserve: number): boolean {
    if (needs.length === 0) return this.free >= reserve;
    if (needs.length === 1) return this.findFree(needs[0], reserve) >= 0;
    let total = 0;
    for (const need of needs) total += need;
    if (this.free < total + reserve) return false;
    const taken = new Uint8Array(this.count);
    for (const need of needs) {
      let run = 0;
      let at = -1;
      for (let i = 0; i < this.count && at < 0; i++) {
        run = this.head[i] === -1 && taken[i] === 0 ? run + 1 : 0;
        if (run === need) at = i - need + 1;
      }
      if (at < 0) return false;
      taken.fill(1, at, at + need);
    }
    return true;
  }

  hasDead(): boolean {
    for (let s = 0; s < this.count; s++) if (this.seq[s] !== 0 && this.deadEntries[s] > 0) return true;
    return false;
  }

  /**
   * Takes the run of `need` free segments at s as a new head with sequence
   * number `seq`, empty; it becomes the active segment when it is a single
   * segment. The caller has written its header.
   */
  open(s: number, seq: number, need: number): void {
    this.seq[s] = seq;
    this.span[s] = need;
    this.used[s] = SEGMENT_HEADER_BYTES;
    this.liveBytes[s] = 0;
    this.deadEntries[s] = 0;
    this.tombstones[s] = 0;
    this.seed[s] = segmentSeed(seq, this.salt);
    for (let j = s; j < s + need; j++) this.head[j] = s;
    this.free -= need;
    // A run holds one record and is never appended to again; appending to
    // the previous segment after it would put later writes before it in
    // sequence order.
    this.active = need === 1 ? s : -1;
    this.tail = this.start(s) + SEGMENT_HEADER_BYTES;
  }

  /** Live and dead bytes and segment counts, for a file of `fileBytes`. */
  stats(fileBytes: number): LogStats {
    let live = 0;
    let used = 0;
    let usedSegs = 0;
    for (let s = 0; s < this.count; s++) {
      if (this.seq[s] === 0) continue;
      live += this.liveBytes[s];
      used += this.used[s];
      usedSegs += this.span[s];
    }
    return {
      liveBytes: live,
      deadBytes: used - live,
      fileBytes,
      segmentSize: this.size,
      segments: { total: this.count, used: usedSegs, free: this.free },
    };
  }

  /** Marks the run headed by s free. The caller has published the free on media. @returns segments freed */
  release(s: number): number {
    for (let j = s; j < s + this.span[s]; j++) this.head[j] = -1;
    this.free += this.span[s];
    const freed = this.span[s];
    this.seq[s] = 0;
    this.liveBytes[s] = 0;
    this.deadEntries[s] = 0;
    this.tombstones[s] = 0;
    return freed;
  }

  /** Counts a copy of a tombstone in head segment s: dead from birth, as the tombstone it copies. */
  tombstoneCopied(s: number): void {
    this.deadEntries[s]++;
    this.tombstones[s]++;
  }

  /** Counts an entry of `size` bytes copied from region offset `from` into head segment s (compaction). */
  moveEntry(s: number, from: number, size: number): void {
    this.liveBytes[s] += size;
    const ps = this.head[this.segOf(from)];
    this.liveBytes[ps] -= size;
    this.deadEntries[ps]++;
  }

  /**
   * Points `index` at one entry (at `p`, in head segment `s`, of `b`) and
   * keeps the live and dead counts. `h`: the key's index hash, when the
   * caller has it (needed when `key` is null).
   */
  applyEntry(index: KvIndex, b: Buffer, s: number, p: number, key: string | null, type: number, size: number, h?: number, klen?: number): void {
    if (type === ENTRY_PUT) {
      this.putApplied(b, s, size, key === null ? index.setEntry(p, h, klen) : index.set(key, p, h));
      return;
    }
    const prev = key === null ? index.deleteEntry(p, h, klen) : index.delete(key, h);
    this.deadEntries[s]++; // a tombstone is dead from birth: it only hides older entries
    this.tombstones[s]++;
    if (prev !== undefined) this.#died(b, prev);
  }

  /** Counts a put's entry of `size` bytes in head segment s, and the entry at `prev` it replaced (undefined: none) as dead. */
  putApplied(b: Buffer, s: number, size: number, prev: number | undefined): void {
    this.liveBytes[s] += size;
    if (prev !== undefined) this.#died(b, prev);
  }

  #died(b: Buffer, at: number): void {
    const ps = this.head[this.segOf(at)];
    this.liveBytes[ps] -= entrySize(b, at);
    this.deadEntries[ps]++;
  }
}
