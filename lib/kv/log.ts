// The log of KVStore: records appended to segments on the region with one
// fence each, the turnover to a new segment, and the pacing of compaction.
// lib/kv/store.ts is the API over it; segments.ts keeps the segment table,
// recover.ts rebuilds it and the DRAM index on open, compact.ts reclaims
// dead space, growth.ts grows the file, end-mark.ts marks where a segment's
// writes stopped. The design is in docs/ARCHITECTURE.md ("KVStore").
import { align8, apartFrom } from '../core/args';
import { isPmemError, PmemError } from '../core/errors';
import {
  DATA_START, ENTRY_HEADER_BYTES, MAX_KEY, MIN_SEGMENT, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES,
  type Entry, writeEntries, writePutRecord, writeRecordHeader, zeroPadding,
} from './format';
import { Cleaner, compact, RESERVE_PUT } from './compact';
import { KvIndex } from './hash-index';
import { type LogRecovery, recover, type RecoverStop } from './recover';
import { formatLog, noStore, openSegment, openSuperblock, readHeader, refuseShort, refuseTooSmall, resumeWriter } from './log-open';
import { writeEndMark } from './end-mark';
import { grownRegion, recordLengthSynced, type Remap, segmentsIn } from './growth';
import { publishTailIn } from './published';
import { type Region, sealRecord, type Words, wordsOf } from '../core/region';
import { type LogStats, SegmentTable } from './segments';
import { WarmSegments } from './prefault';
import { Superblock } from '../log/superblock';
import { Mapping, prefetchAtSeal } from '../core/mapping';

export type { LogRecovery } from './recover';
export type { Entry } from './format';
export type { LogStats } from './segments';

/** How a log is opened (KvLog's constructor). */
export interface LogOptions {
  create: boolean;
  readOnly: boolean;
  segmentSize: number;
  /** Names the file in errors. */
  path?: string;
  /** Bounds the recovery at a writer's published tail (a reader beside a live writer, lib/kv/follow.ts). */
  stop?: RecoverStop;
  /**
   * Makes the file's size durable (fdatasync), before the store records a
   * length up to it. Absent for a Region that is not a file the store grows.
   */
  syncLength?: () => void;
  /**
   * The file's size now, for a reader that mapped it beside a live writer:
   * the writer may have grown it, and recorded the new length, since.
   */
  fileLength?: () => number;
  /**
   * Whether a reader beside this writer holds its pin (pin.ts), asked
   * before each free of paced cleaning. Absent for a Region no reader can
   * follow (no file of its own): never pinned.
   */
  readersPinned?: () => boolean;
}

/** The least size of watchFrees's set that it sweeps. */
const WATCHERS_SWEPT_FROM = 64;

/** A record of this many entries or more starts loading their index slots and entries before it is sealed (append). */
const PREFETCH_FROM = 8;

/** What watchFrees tells of a segment about to be freed: its bytes, and its range in them. */
export interface FreeWatcher {
  beforeFree(b: Buffer, start: number, end: number): void;
}

export class KvLog {
  #region: Region;
  #b: Buffer;
  #view: Uint8Array; // a plain Uint8Array over #b: its subarray() skips Buffer's constructor
  #words: Words; // wordsOf(#b), for the tail word every record publishes
  #prefetch: Mapping | null; // #region when it takes prefetch hints (prefetchAtSeal)
  #readOnly: boolean;
  #maxSize: number;
  #remap: Remap | null;
  #syncLength: (() => void) | undefined;
  #path: string | undefined;
  #compacting = false;
  readonly #t = new SegmentTable();
  readonly #cleaner = new Cleaner();
  readonly #warm = new WarmSegments();
  readonly #stepper = (budget: number): boolean => this.#step(budget, true);
  readonly #readersPinned: (() => boolean) | undefined;
  readonly #watchers = new Set<WeakRef<FreeWatcher>>();
  /** The size of #watchers at which watchFrees next sweeps it. */
  #sweepAt = WATCHERS_SWEPT_FROM;
  /** appendPut's copy of a key given as bytes, as its record holds them. */
  readonly #key = Buffer.alloc(MAX_KEY);
  /** append()'s key hashes (#hashes). */
  #scratch = new Int32Array(64);
  #recovery: LogRecovery;
  readonly index: KvIndex;

  /**
   * Opens the log on `region` (formatting it first with `create` when it
   * holds no store) and runs `recover()`. `maxSize` and `remap` let it grow;
   * `path` names the file in errors. `stop` bounds the recovery at a
   * writer's published tail (a reader beside a live writer, lib/kv/follow.ts).
   * A writable log publishes its tail for readers once it has recovered,
   * and records the region's length when its superblock records less.
   * @throws PmemError ERR_PMEM_CORRUPT (among others: the region is shorter
   *   than the length the store records)
   */
  constructor(region: Region, o: LogOptions, maxSize: number, remap: Remap | null) {
    this.#path = o.path;
    this.#region = region;
    this.#prefetch = region instanceof Mapping ? region : null;
    this.#b = region.bytes;
    this.#view = new Uint8Array(this.#b.buffer, this.#b.byteOffset, this.#b.length);
    this.#words = wordsOf(this.#b);
    this.index = new KvIndex(this.#b);
    this.#readOnly = o.readOnly;
    this.#maxSize = maxSize;
    this.#remap = remap;
    this.#syncLength = o.syncLength;
    this.#readersPinned = o.readersPinned;
    if (region.length < DATA_START + MIN_SEGMENT) {
      if (o.create) throw new RangeError(`a ${region.length}-byte region is too small for a store`);
      refuseTooSmall(region, o.path);
    }
    const sb = openSuperblock(region);
    if (sb.read() === undefined && o.create) this.#format(sb, o.segmentSize);
    const h = readHeader(sb);
    // Before the scan: a file cut short holds a valid prefix of the log,
    // which would recover without a word while the rest is lost.
    if (h.length > region.length) refuseShort(h, o.fileLength?.() ?? region.length, o.path);
    this.#recovery = recover(h, this.#region, this.#t, this.index, o.stop);
    if (!o.readOnly) {
      const s = resumeWriter(this.#region, this.#t);
      // Every segment the table holds may take a record from the first put
      // on: the superblock must record a length that covers them all. It
      // records less for a store written before lengths were recorded (0),
      // and after a crash between a growth and its record. Written last,
      // once recovery has accepted the store: an open refused as damaged
      // writes no superblock.
      if (h.length < region.length) this.#recordLength();
      // The rest of the active segment (or, with none, the segment the first
      // put will open) is faulted in now, before the first put reaches it;
      // later segments are faulted in ahead of the tail (#place).
      if (s >= 0) this.#fault(s, s === this.#t.active ? this.#t.tail - this.#t.start(s) : 0, false);
    }
  }

  /** The segment table (read by a reader following the log, lib/kv/follow.ts). */
  get table(): SegmentTable {
    return this.#t;
  }

  /** Whether the region under the log was closed (a Mapping unmapped by its owner). */
  get regionClosed(): boolean {
    return this.#region.closed === true;
  }

  /** The region's bytes (replaced when the file grows: read it per call). */
  get bytes(): Buffer {
    return this.#b;
  }

  /** The same bytes as a plain Uint8Array, to slice values out of (replaced with them). */
  get view(): Uint8Array {
    return this.#view;
  }

  /** The region under the log (replaced when the file grows: read it per call). */
  get region(): Region {
    return this.#region;
  }

  get recovery(): LogRecovery {
    return { ...this.#recovery };
  }

  stats(): LogStats {
    return this.#t.stats(this.#region.length);
  }

  /** Cleans every segment with dead entries (compact.ts). @returns segments freed */
  compact(): number {
    return this.#compact();
  }

  /**
   * Tells `w` of every segment freed from now on, before it is freed
   * (unordered.ts's walks), until unwatchFrees. Held weakly: a walk whose
   * iterator was dropped unfinished goes with it.
   */
  watchFrees(w: FreeWatcher): WeakRef<FreeWatcher> {
    // Refs whose walk was dropped unfinished and collected go here too, not
    // only at a free: a store that frees nothing for a long time (not yet
    // full, read mostly) would otherwise keep one per dropped walk. Swept
    // when the set has doubled since the last sweep: amortized, each add
    // costs O(1).
    if (this.#watchers.size >= this.#sweepAt) {
      for (const ref of this.#watchers) if (ref.deref() === undefined) this.#watchers.delete(ref);
      this.#sweepAt = Math.max(WATCHERS_SWEPT_FROM, 2 * this.#watchers.size);
    }
    const ref = new WeakRef(w);
    this.#watchers.add(ref);
    return ref;
  }

  /** Refs watchFrees holds, the dropped walks' not yet swept among them. */
  get watching(): number {
    return this.#watchers.size;
  }

  unwatchFrees(ref: WeakRef<FreeWatcher>): void {
    this.#watchers.delete(ref);
  }

  /**
   * Compaction's question before it copies the live entries of a victim:
   * whether the segments its copies take have room now, runs of
   * `needs[0]`, `needs[1]`, ... free segments (1: a single one) taken in
   * turn as #place takes them (the victim's segments are free only once
   * all are copied); or the file may grow to make it.
   */
  roomForCopies(needs: number[]): boolean {
    return this.#t.fitsRuns(needs, 0) || this.#growable();
  }

  /**
   * Compaction's step before it cleans the active segment (compact.ts):
   * appends move to a new segment, and the active one ends here. Its end
   * mark is flushed, not fenced: it serves only recovery's report
   * (end-mark.ts; lost in a crash, the log still ends at the same record),
   * and the next fence, a copy's or the free's, makes it durable.
   */
  leaveActive(): void {
    this.#markEnd(false);
    this.#t.active = -1;
  }

  /** Compaction's notice (compact.ts): the segment at [start, end) is about to be freed; its bytes still hold its entries. */
  beforeFree(start: number, end: number): void {
    if (this.#watchers.size === 0) return;
    for (const ref of this.#watchers) {
      const w = ref.deref();
      if (w === undefined) this.#watchers.delete(ref);
      else w.beforeFree(this.#b, start, end);
    }
  }

  #format(sb: Superblock, segmentSize: number): void {
    if (this.#readOnly) throw noStore('its store header is all zero bytes, and a read-only open formats nothing');
    if (this.#region.length < DATA_START + 2 * segmentSize) {
      throw new RangeError(`a store of ${segmentSize}-byte segments needs at least ${DATA_START + 2 * segmentSize} bytes, got ${this.#region.length}`);
    }
    formatLog(sb, segmentSize, this.#region.length);
  }

  /**
   * Writes `entries` as one record at the log's end, points the index at
   * it while its lines are written back, and makes it durable with one
   * fence (see #seal and #commit). `reserve` free segments are kept back:
   * see RESERVE_PUT.
   */
  append(entries: Entry[], reserve: number): void {
    let len = 0;
    for (const e of entries) {
      len += ENTRY_HEADER_BYTES + e.key.length + e.vlen;
      // A value inside the store's own region (a caller's Mapping under
      // openRegion) is copied first: compaction or this record may write
      // over it before it is copied.
      if (e.value !== null && typeof e.value !== 'string') e.value = apartFrom(e.value, this.#b);
    }
    const size = align8(RECORD_HEADER_BYTES + len);
    this.#fits(size);
    // A write (not compaction's own appends) pays its share of cleaning
    // first, so that #place finds a free segment when it needs one.
    if (reserve > 0 && !this.#compacting) this.#pace(size);
    const at = this.#place(size, reserve, entries.length);
    const b = this.#b;
    zeroPadding(b, at, len);
    writeRecordHeader(b, at, len, entries.length);
    // The last entry's value, when it is a Buffer, is left for sealRecord
    // to copy as it checksums it: it ends the record.
    const tail = writeEntries(b, at + RECORD_HEADER_BYTES, entries);
    // A record of many entries looks up as many keys at random, each a
    // cache miss on its slot and one on the entry the slot points at: their
    // loads are started now, to overlap each other and the seal's flushes.
    const n = entries.length;
    const hashes = n >= PREFETCH_FROM ? this.#hashes(entries) : null;
    if (hashes !== null) this.index.prefetchSlots(hashes, n, true);
    const s = this.#seal(at, len, tail, entries[n - 1].vlen);
    try {
      let p = at + RECORD_HEADER_BYTES;
      const t = this.#t;
      for (let i = 0; i < n; i++) {
        const e = entries[i];
        const esize = ENTRY_HEADER_BYTES + e.key.length + e.vlen;
        t.applyEntry(this.index, b, s, p, e.key, e.type, esize, hashes === null ? undefined : hashes[i]);
        p += esize;
      }
    } finally {
      this.#commit(s);
    }
  }

  /** The index hashes of `entries`' keys, in a scratch array valid until the next call. */
  #hashes(entries: Entry[]): Int32Array {
    if (this.#scratch.length < entries.length) this.#scratch = new Int32Array(Math.max(entries.length, 2 * this.#scratch.length));
    const h = this.#scratch;
    for (let i = 0; i < entries.length; i++) h[i] = KvIndex.hash(entries[i].key);
    return h;
  }

  /**
   * append() of one put of `key` (a one-byte string, or `klen` bytes) and
   * `value` (`vlen` bytes): the same record, its headers written as words.
   * A key given as bytes is copied into the record, and hashed and
   * compared as the record holds it: no key string is made. The put's path.
   *
   * The key's index slot is looked up after the record is sealed, while
   * its lines are written back (see #commit), and what the lookup needs of
   * the new record is read before: on some CPUs (the Zen 4 EPYC in
   * docs/bench.md) CLWB does not leave the flushed lines in the cache, and
   * a read of them after the seal waits for memory. On a Mapping, the seal
   * first starts loading the slot's cache line (prefetchAtSeal), so that
   * the lookup does not wait for all of that load after the seal: a put of
   * a key at random otherwise waits for it in full (docs/bench.md).
   */
  appendPut(key: string | Uint8Array, klen: number, value: Uint8Array | string, vlen: number): void {
    // As in append(): a key or value inside the store's own region is copied first.
    if (typeof value !== 'string') value = apartFrom(value, this.#b);
    if (typeof key !== 'string') key = apartFrom(key, this.#b);
    const len = ENTRY_HEADER_BYTES + klen + vlen;
    const size = align8(RECORD_HEADER_BYTES + len);
    this.#fits(size);
    if (!this.#compacting) this.#pace(size);
    const at = this.#place(size, RESERVE_PUT);
    const b = this.#b;
    const tail = writePutRecord(b, this.#words, at, key, klen, value, vlen);
    const p = at + RECORD_HEADER_BYTES;
    // The key's hash and, for a key given as bytes, a copy of them, from
    // the record before it is flushed: the bytes indexed are the bytes
    // stored, whatever a caller's view holds by then.
    const h = this.index.keyHashAt(p);
    if (typeof key !== 'string') copyKey(b, p + ENTRY_HEADER_BYTES, klen, this.#key);
    if (this.#prefetch !== null) prefetchAtSeal(this.#prefetch, this.index.slotAddress(h));
    const s = this.#seal(at, len, tail, vlen);
    try {
      const prev = typeof key === 'string' ? this.index.set(key, p, h) : this.index.putEntry(p, h, klen, this.#key, 0);
      this.#t.putApplied(b, s, len, prev);
    } finally {
      this.#commit(s);
    }
  }

  /**
   * Compaction's append: copies of the whole entries at region offsets
   * `src[i..j)` (`sizes` bytes each) as one record at the log's end, made
   * durable with one fence as append() does; points index slot
   * `slots[k]` (KvIndex.liveSlot of the entry at `src[k]`) at its copy
   * before that fence, as append() does. A slot of -1 is a tombstone's
   * copy (compact.ts, moveLive's `carry`): counted as one, no slot moved.
   * No key is hashed or looked up again. Takes from the last free segments.
   */
  appendCopies(src: number[], sizes: number[], slots: number[], i: number, j: number): void {
    let len = 0;
    for (let k = i; k < j; k++) len += sizes[k];
    const size = align8(RECORD_HEADER_BYTES + len);
    this.#fits(size);
    const at = this.#place(size, 0);
    const b = this.#b; // after #place, which may have grown the file
    zeroPadding(b, at, len);
    writeRecordHeader(b, at, len, j - i);
    let p = at + RECORD_HEADER_BYTES;
    for (let k = i; k < j; k++) {
      b.copyWithin(p, src[k], src[k] + sizes[k]); // entry header, key and value, as they were (copyWithin: no view made)
      p += sizes[k];
    }
    const s = this.#seal(at, len, undefined, 0);
    try {
      // The index points at the copies, and the entries they copy count as
      // dead, before the fence: the copies are durable when this returns,
      // before compaction frees a segment for their sources being dead.
      p = at + RECORD_HEADER_BYTES;
      for (let k = i; k < j; k++) {
        if (slots[k] < 0) {
          this.#t.tombstoneCopied(s);
        } else {
          this.index.moveSlot(slots[k], p);
          this.#t.moveEntry(s, src[k], sizes[k]);
        }
        p += sizes[k];
      }
    } finally {
      this.#commit(s);
    }
  }

  /**
   * Refuses a record larger than the store can ever hold (its run of
   * segments inside maxSize), before anything is written or compacted.
   */
  #fits(size: number): void {
    if (size + SEGMENT_HEADER_BYTES > this.#maxSize - DATA_START) {
      throw new PmemError('ERR_PMEM_NO_SPACE',
        `a ${size}-byte record does not fit a store of at most ${this.#maxSize} bytes`, this.#path === undefined ? {} : { path: this.#path });
    }
  }

  /**
   * Seals the record of `len` entry bytes written at `at` by #place's
   * caller (its padding zeroed: see zeroPadding), with `tail` copied as its
   * last bytes, and flushes it, without the fence. `tail` must still be the
   * `tailLength` bytes the record was planned for, else nothing is sealed
   * (RangeError). The caller points the index at it, then calls #commit,
   * also when that throws.
   * @returns its head segment
   */
  #seal(at: number, len: number, tail: Uint8Array | undefined, tailLength: number): number {
    const t = this.#t;
    const s = t.head[t.segOf(at)];
    // Checksum and flush (CLWB, or streaming stores; msync when not pmem)
    // in one step. Nothing is ordered yet: a crash before #commit's fence
    // leaves a record whose checksum fails or holds, the write either
    // absent or whole, never torn.
    sealRecord(this.#region, at, at + RECORD_HEADER_BYTES + len, t.seed[s], false, tail, tailLength);
    const size = align8(RECORD_HEADER_BYTES + len);
    t.used[s] = at + size - t.start(s);
    if (s === t.active) t.tail = at + size;
    return s;
  }

  /**
   * The fence of the record #seal flushed in head segment s: the one
   * ordering point of the call. The caller updated the index (this
   * thread's DRAM) meanwhile, while the record's lines were written back;
   * nothing reads it before the call returns, after this fence. Then the
   * tail is published to live readers: they replay only records a crash
   * can no longer take away. One aligned 8-byte store, not flushed: only
   * live readers read it, and recovery finds the log's end from the
   * records themselves.
   */
  #commit(s: number): void {
    // The record (and the header of a segment #place just opened, flushed
    // there) is durable after it, so the call may return.
    this.#region.drain();
    const t = this.#t;
    publishTailIn(this.#words, t.seq[s], t.used[s]);
  }

  /**
   * Region offset where a record of `size` bytes goes: the active segment's
   * tail, or a newly opened segment (or run of segments, for a record larger
   * than one). Grows the file, or compacts, when no segment is free.
   */
  #place(size: number, reserve: number, entries = 1): number {
    const t = this.#t;
    if (this.#inActive(size, reserve)) return t.tail;
    const need = size <= t.size - SEGMENT_HEADER_BYTES ? 1 : Math.ceil((size + SEGMENT_HEADER_BYTES) / t.size);
    let s = t.findFree(need, reserve);
    // A store whose dead bytes are at least its live ones (and a segment)
    // reclaims them before the file grows: a store that overwrote or
    // deleted most of what it wrote would otherwise grow to maxSize (1 GiB
    // for one 15 MB value written and deleted again and again) before it
    // cleaned anything. Not while a reader holds its pin: a free would send
    // it round again (compact.ts, step), so the file grows instead.
    if (s < 0 && !this.#compacting && this.#growable() && this.#mostlyDead() && !this.readersPinned()) {
      while (s < 0 && this.#mostlyDead() && this.#step(Infinity)) {
        if (this.#inActive(size, reserve)) return t.tail;
        s = t.findFree(need, reserve);
      }
    }
    // Grown by what is missing, not by need + reserve over the free
    // segments there are: near maxSize that would ask for more than the file
    // may hold, and the store would refuse puts with room left to grow. The
    // new segments are one run at the end: `need` of them hold the record.
    // A filesystem without room for the growth (ERR_PMEM_NO_SPACE) leaves
    // the store as it is at maxSize: its dead space is reclaimed below, and
    // only when that frees nothing does the put fail, with the growth's error.
    let noRoom: PmemError | undefined;
    if (s < 0) {
      try {
        if (this.#grow(Math.max(need, need + reserve - t.free))) s = t.findFree(need, reserve);
      } catch (e) {
        if (!isPmemError(e, 'ERR_PMEM_NO_SPACE')) throw e;
        noRoom = e;
      }
    }
    if (s < 0 && !this.#compacting) {
      // The pacing fell behind (the store is nearly full of live entries,
      // or the writes outran it): clean whole victims until a run of
      // segments is free, then, when that is not enough, everything,
      // active segment included when it has dead entries.
      while (s < 0 && this.#step(Infinity)) {
        if (this.#inActive(size, reserve)) return t.tail;
        s = t.findFree(need, reserve);
      }
      if (s < 0 && t.hasDead()) {
        this.#compact();
        if (this.#inActive(size, reserve)) return t.tail;
        s = t.findFree(need, reserve);
      }
    }
    if (s < 0) {
      if (noRoom !== undefined) throw noRoom;
      throw new PmemError('ERR_PMEM_NO_SPACE',
        `the store is full: no room for ${entries > 1 ? `a batch of ${entries} entries (one ${size}-byte record)` : `a ${size}-byte record`} in ${this.#region.length} bytes ` +
        `(maxSize ${this.#maxSize}); delete keys or compact()`, this.#path === undefined ? {} : { path: this.#path });
    }
    // The segment left behind ends cleanly: an end mark at its tail, flushed
    // here and made durable by the fence of the new segment's first record.
    this.#markEnd(false);
    // Its pages in (at once, unless the prefault of an earlier #place
    // already queued them), so that the puts filling it take no page fault.
    this.#fault(s, 0, false, need);
    const at = openSegment(this.#region, t, s, need);
    // The segment the next #place takes (the first free one, as findFree
    // picks it), faulted in on the region's own thread while this one fills.
    const next = t.findFree(1, 0);
    if (next >= 0) this.#fault(next, 0, true);
    return at;
  }

  /**
   * Whether a record of `size` bytes fits the active segment's room for a
   * write that keeps `reserve` segments free. With fewer free than that,
   * the active segment is one a write of a lower reserve took from them
   * (the segment opened last is the active one, and only openings lower
   * the count): its room is theirs too. A put that filled a segment a
   * delete had opened would leave deletes one segment short, and a store
   * full of live entries could then take no delete at all.
   */
  #inActive(size: number, reserve: number): boolean {
    const t = this.#t;
    return t.active >= 0 && t.tail + size <= t.start(t.active) + t.size && t.free >= reserve;
  }

  /** Faults segments [s, s + count) in from `from` bytes into s, unless they are warm (prefault.ts). */
  #fault(s: number, from: number, background: boolean, count = 1): void {
    if (!this.#readOnly) this.#warm.fault(this.#region, this.#t, s, from, background, count);
  }

  /** A writer's end mark at the active segment's tail (writeEndMark, end-mark.ts); `persist`: durable when this returns. */
  #markEnd(persist: boolean): void {
    if (!this.#readOnly) writeEndMark(this.#region, this.#t, persist);
  }

  /** At a writer's clean close: the active segment's end mark, durable. */
  markEndAtClose(): void {
    this.#markEnd(true);
  }

  #compact(): number {
    this.#compacting = true;
    try {
      return compact(this.#t, this);
    } finally {
      this.#compacting = false;
      this.#cleaner.reset(); // its victim is cleaned and freed, or left with nothing dead
    }
  }

  /** Adds a write of `size` bytes to the cleaning owed, and runs a step when one is due (Cleaner.pace). */
  #pace(size: number): void {
    // A store that may still grow grows when it runs out (#place), as
    // before: cleaning starts once it is at its largest.
    this.#cleaner.pace(this.#t, size, this.#growable(), this.#stepper);
  }

  /** Compaction's question (compact.ts): whether a reader holds its pin. */
  readersPinned(): boolean {
    return this.#readersPinned !== undefined && this.#readersPinned();
  }

  /** One step of the Cleaner (compact.ts) with `budget` bytes, `paced` or for a write with no segment free. @returns whether it did anything */
  #step(budget: number, paced = false): boolean {
    this.#compacting = true;
    try {
      return this.#cleaner.step(this.#t, this, budget, paced);
    } finally {
      this.#compacting = false;
    }
  }

  /** Whether the dead bytes are at least the live ones, and a segment's worth. */
  #mostlyDead(): boolean {
    const st = this.#t.stats(0);
    return st.deadBytes >= Math.max(st.liveBytes, this.#t.size);
  }

  /** Whether #grow could add a segment. */
  #growable(): boolean {
    return this.#remap !== null && this.#region.length + this.#t.size <= this.#maxSize;
  }

  /**
   * Grows the file so that at least `segments` more segments exist, up to
   * maxSize, and records its new length. The index keeps offsets, not
   * views, so it survives the remap.
   */
  #grow(segments: number): boolean {
    const t = this.#t;
    if (this.#remap === null) return false;
    // A region that already holds more segments than the table: the record
    // of its length failed at the last growth (below). Record it now.
    if (segmentsIn(this.#region.length, t.size) <= t.count) {
      const region = grownRegion(this.#region, t, this.#maxSize, this.#remap, segments);
      if (region === null) return false;
      this.#use(region);
    }
    // The new length is durable before the table holds the new segments:
    // none of them takes a record (#place, after this) until a truncation
    // to the recorded length would be refused rather than lose it.
    this.#recordLength();
    t.resize(segmentsIn(this.#region.length, t.size));
    return true;
  }

  /** Records the region's length, the file's size made durable first (recordLengthSynced, growth.ts). */
  #recordLength(): void {
    recordLengthSynced(this.#region, this.#syncLength);
  }

  /**
   * Goes on over `region`, the same file mapped again (larger): the index
   * holds offsets, not views, so it stays valid. A reader following a
   * writer calls it when the writer has grown the file.
   */
  adopt(region: Region): void {
    this.#use(region);
    this.#t.resize(segmentsIn(region.length, this.#t.size));
  }

  /** adopt() but the segment table: it keeps the segments it has. */
  #use(region: Region): void {
    this.#region = region;
    this.#prefetch = region instanceof Mapping ? region : null;
    this.#b = region.bytes;
    this.#view = new Uint8Array(this.#b.buffer, this.#b.byteOffset, this.#b.length);
    this.#words = wordsOf(this.#b);
    this.index.bytes = this.#b;
    this.#warm.reset(); // a new mapping: no page of it is faulted in yet
  }
}

/** Copies the `n` key bytes at `at` of `b` to the start of `to`: short keys byte by byte, which costs less than a call. */
function copyKey(b: Buffer, at: number, n: number, to: Buffer): void {
  if (n > 32) b.copy(to, 0, at, at + n);
  else for (let j = 0; j < n; j++) to[j] = b[at + j];
}
