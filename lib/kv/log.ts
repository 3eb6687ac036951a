// The log of KVStore: segments on the region, records appended with one
// fence each, recovery, compaction, and the DRAM index they keep. lib/kv/store.ts
// is the API over it; the design is in docs/ARCHITECTURE.md ("KVStore").
import { randomInt } from 'node:crypto';

import { binding } from '../core/binding';
import { PmemError } from '../core/errors';
import {
  align8, DATA_START, ENTRY_DEL, ENTRY_HEADER, ENTRY_PUT, entrySize, KV_FORMAT_VERSION, KV_MAGIC, MAX_SEGMENT, MIN_SEGMENT,
  readSegmentHeader, REC_HEADER, SB_PAYLOAD, SEG_HEADER, segmentSeed, validRecord, writeSegmentHeader,
} from './format';
import { KvIndex } from './hash-index';
import { type Region, sealRecord, store64 } from '../core/region';
import { Superblock } from '../log/superblock';

/** One entry of a record to append. */
export interface Entry {
  type: number;
  /** The key as a one-byte string of its bytes. */
  key: string;
  value: Uint8Array | string | null;
  vlen: number;
  /** Region offset of a value to copy (compaction), else -1. */
  src: number;
}

export interface LogRecovery {
  ms: number;
  segments: number;
  records: number;
  discardedBytes: number;
}

export interface LogStats {
  liveBytes: number;
  deadBytes: number;
  fileBytes: number;
  segmentSize: number;
  segments: { total: number; used: number; free: number };
}

/**
 * Free segments a write that adds data must leave. Deletes may take one of
 * them (so that a full store still takes deletes), and compaction the last:
 * cleaning a segment needs at most one segment to copy its live entries to,
 * so compaction can always make progress.
 */
export const RESERVE_PUT = 2;
export const RESERVE_DEL = 1;
/** Record offsets one kvScan call returns at most. */
const scanOut = new Uint32Array(16384);

/**
 * Called when no segment is free: returns the region remapped to at least
 * `bytes` (and at most the caller's limit), or null when it cannot grow.
 */
export type Remap = (bytes: number) => Region | null;

export function isSegmentSize(n: number): boolean {
  return n >= MIN_SEGMENT && n <= MAX_SEGMENT && Number.isInteger(Math.log2(n));
}

export class KvLog {
  #region: Region;
  #b: Buffer;
  #view: Uint8Array; // a plain Uint8Array over #b: its subarray() skips Buffer's constructor
  #readOnly: boolean;
  #maxSize: number;
  #remap: Remap | null;
  #path: string | undefined;
  #compacting = false;

  #salt = 0;
  #segSize = 0;
  #nseg = 0;
  #maxSeq = 0;
  #seq: number[] = []; // per head segment: sequence number; 0 when not a head
  #head: number[] = []; // per segment: its head segment, -1 when free
  #span: number[] = [];
  #used: number[] = []; // per head: bytes from its start to the end of its last record
  #live: number[] = []; // per head: bytes of live entries
  #dead: number[] = []; // per head: dead entries (overwritten, deleted, tombstones)
  #seed: number[] = [];
  #free = 0;
  #active = -1; // the head segment appends go to, -1 when none
  #tail = 0; // region offset of the next append in #active
  #recovery: LogRecovery = { ms: 0, segments: 0, records: 0, discardedBytes: 0 };
  readonly index: KvIndex;

  /**
   * Opens the log on `region` (formatting it first with `create` when it
   * holds no store) and runs `recover()`. `maxSize` and `remap` let it grow;
   * `path` names the file in errors.
   */
  constructor(
    region: Region,
    o: { create: boolean; readOnly: boolean; segmentSize: number; path?: string },
    maxSize: number,
    remap: Remap | null,
  ) {
    this.#path = o.path;
    this.#region = region;
    this.#b = region.bytes;
    this.#view = new Uint8Array(this.#b.buffer, this.#b.byteOffset, this.#b.length);
    this.index = new KvIndex(this.#b);
    this.#readOnly = o.readOnly;
    this.#maxSize = maxSize;
    this.#remap = remap;
    if (region.length < DATA_START + MIN_SEGMENT) {
      if (o.create) throw new RangeError(`a ${region.length}-byte region is too small for a store`);
      throw new PmemError('ERR_PMEM_CORRUPT', `a ${region.length}-byte region cannot hold a store`);
    }
    const sb = Superblock.open(region, { offset: 0, capacity: SB_PAYLOAD });
    if (sb.read() === undefined && o.create) this.#format(sb, o.segmentSize);
    this.recover(sb);
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

  get recovery(): LogRecovery {
    return { ...this.#recovery };
  }

  stats(): LogStats {
    let live = 0;
    let used = 0;
    let usedSegs = 0;
    for (let s = 0; s < this.#nseg; s++) {
      if (this.#seq[s] === 0) continue;
      live += this.#live[s];
      used += this.#used[s];
      usedSegs += this.#span[s];
    }
    return {
      liveBytes: live,
      deadBytes: used - live,
      fileBytes: this.#region.length,
      segmentSize: this.#segSize,
      segments: { total: this.#nseg, used: usedSegs, free: this.#free },
    };
  }

  /** Cleans every segment with dead entries; see #compact. @returns segments freed */
  compact(): number {
    return this.#compact();
  }

  /**
   * Rebuilds the index from the log. Runs on open, and only reads: a store
   * opened read-only after a crash recovers the same way. It completes every
   * interrupted state by how it reads the log:
   * - a torn last record (its checksum fails) is not part of the log, and
   *   the next append overwrites it;
   * - a segment whose header reached the media before its first record is
   *   an empty segment;
   * - an interrupted compaction leaves a live entry in both the old segment
   *   and a newer one: segments are replayed in sequence order, the newer
   *   copy wins, and the old segment is cleaned again by the next compaction.
   * @throws PmemError ERR_PMEM_CORRUPT when the superblock is missing or
   *   damaged, segment headers overlap, or a record is damaged while a later
   *   record of its segment is intact.
   */
  recover(sb: Superblock): void {
    const t0 = performance.now();
    const payload = sb.read();
    if (payload === undefined || payload.length !== SB_PAYLOAD || payload.readUInt32LE(0) !== KV_MAGIC) {
      throw new PmemError('ERR_PMEM_CORRUPT', 'not a KV store: no valid superblock');
    }
    if (payload.readUInt32LE(4) !== KV_FORMAT_VERSION) {
      throw new PmemError('ERR_PMEM_CORRUPT', `unsupported KV store format ${payload.readUInt32LE(4)}`);
    }
    this.#salt = payload.readUInt32LE(8);
    this.#segSize = payload.readUInt32LE(12);
    if (!isSegmentSize(this.#segSize)) throw new PmemError('ERR_PMEM_CORRUPT', `bad segment size ${this.#segSize}`);
    this.#resize(Math.floor((this.#region.length - DATA_START) / this.#segSize));
    if (this.#nseg < 1) throw new PmemError('ERR_PMEM_CORRUPT', 'the region is too short for one segment');

    const b = this.#b;
    const heads: number[] = [];
    for (let i = 0; i < this.#nseg; i++) {
      const h = readSegmentHeader(b, this.#start(i), this.#salt);
      if (h === undefined || h.span > this.#nseg - i) continue;
      this.#seq[i] = h.seq;
      this.#span[i] = h.span;
      heads.push(i);
    }
    heads.sort((x, y) => this.#seq[x] - this.#seq[y]);
    let records = 0;
    let found = new Uint32Array(1024);
    let discarded = 0;
    for (let n = 0; n < heads.length; n++) {
      const s = heads[n];
      if (n > 0 && this.#seq[heads[n - 1]] === this.#seq[s]) throw new PmemError('ERR_PMEM_CORRUPT', `two segments carry sequence number ${this.#seq[s]}`);
      for (let j = s; j < s + this.#span[s]; j++) {
        if (this.#head[j] !== -1) throw new PmemError('ERR_PMEM_CORRUPT', `segments ${this.#head[j]} and ${s} overlap`);
        this.#head[j] = s;
      }
      this.#free -= this.#span[s];
      this.#seed[s] = segmentSeed(this.#seq[s], this.#salt);
      const start = this.#start(s);
      const end = start + this.#span[s] * this.#segSize;
      // The valid records, up to 16384 per native call (the same checks as
      // validRecord); the index comes after, once their number is known.
      let at = start + SEG_HEADER;
      for (;;) {
        const n = binding.kvScan(b, at, end, this.#seed[s], scanOut);
        if (records + n > found.length) {
          const bigger = new Uint32Array(Math.max(2 * found.length, records + n));
          bigger.set(found.subarray(0, records));
          found = bigger;
        }
        found.set(scanOut.subarray(0, n), records);
        records += n;
        if (n === 0) break;
        const last = scanOut[n - 1];
        at = last + align8(REC_HEADER + b.readUInt32LE(last + 4));
        if (n < scanOut.length) break;
      }
      if (at < end) {
        if (this.#damagedBeforeIntact(at, end, this.#seed[s])) {
          throw new PmemError('ERR_PMEM_CORRUPT', `segment ${s}: the record at ${at} is damaged and a later one is intact`);
        }
        discarded += nonZero(b, at, Math.min(end, at + 4096));
      }
      this.#used[s] = at - start;
      this.#maxSeq = this.#seq[s];
    }
    this.#replay(found, records);
    // Appends continue in the newest segment, never an older one: the log's
    // order is sequence order, then position.
    const newest = heads.length > 0 ? heads[heads.length - 1] : -1;
    this.#active = newest >= 0 && this.#span[newest] === 1 ? newest : -1;
    if (this.#active >= 0) this.#tail = this.#start(newest) + this.#used[newest];
    this.#recovery = { ms: performance.now() - t0, segments: heads.length, records, discardedBytes: discarded };
  }


  #format(sb: Superblock, segmentSize: number): void {
    if (this.#readOnly) throw new PmemError('ERR_PMEM_CORRUPT', 'not a KV store: no valid superblock');
    if (this.#region.length < DATA_START + 2 * segmentSize) {
      throw new RangeError(`a store of ${segmentSize}-byte segments needs at least ${DATA_START + 2 * segmentSize} bytes, got ${this.#region.length}`);
    }
    const p = Buffer.alloc(SB_PAYLOAD);
    p.writeUInt32LE(KV_MAGIC, 0);
    p.writeUInt32LE(KV_FORMAT_VERSION, 4);
    // A new salt: every segment header an earlier store left in these bytes
    // fails its checksum now, so nothing needs zeroing.
    p.writeUInt32LE(randomInt(1, 0xffffffff), 8);
    p.writeUInt32LE(segmentSize, 12);
    sb.write(p); // durable when it returns: the store exists from here on
  }

  /**
   * Writes `entries` as one record at the log's end and makes it durable
   * with one fence, then points the index at it. `reserve` free segments
   * are kept back: see RESERVE_PUT.
   */
  append(entries: Entry[], reserve: number): void {
    let len = 0;
    for (const e of entries) len += ENTRY_HEADER + e.key.length + e.vlen;
    const size = align8(REC_HEADER + len);
    // A record larger than the store can ever hold (its run of segments
    // inside maxSize) is refused before anything is written or compacted.
    if (size + SEG_HEADER > this.#maxSize - DATA_START) {
      throw new PmemError('ERR_PMEM_NO_SPACE',
        `a ${size}-byte record does not fit a store of at most ${this.#maxSize} bytes`, this.#path === undefined ? {} : { path: this.#path });
    }
    const at = this.#place(size, reserve);
    const s = this.#head[this.#segOf(at)];
    const b = this.#b;
    u32(b, at + 4, len);
    u32(b, at + 8, entries.length);
    u32(b, at + 12, 0);
    let p = at + REC_HEADER;
    // The last entry's value, when it is a Buffer, is copied by sealRecord
    // as it is checksummed: it ends the record.
    let tail: Uint8Array | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const klen = e.key.length;
      b[p] = e.type;
      b[p + 1] = 0;
      b[p + 2] = klen % 256;
      b[p + 3] = Math.floor(klen / 256);
      u32(b, p + 4, e.vlen);
      p += ENTRY_HEADER;
      writeKey(b, e.key, p);
      p += klen;
      if (e.src >= 0) b.copy(b, p, e.src, e.src + e.vlen);
      else if (typeof e.value === 'string') b.write(e.value, p, e.vlen, 'utf8');
      else if (e.value !== null) {
        if (i === entries.length - 1) tail = e.value;
        else b.set(e.value, p);
      }
      p += e.vlen;
    }
    // Padding: outside the checksum (and so outside the seal's flush), and
    // skipped by recovery: it need not be durable.
    for (let q = at + REC_HEADER + len; q < at + size; q++) b[q] = 0;
    // Checksum, flush and fence in one step: the one ordering point of the
    // call. After it the record (and the header of a segment #place just
    // opened, flushed there) is durable, so the call may return. A crash
    // before it leaves a record whose checksum fails or holds: the write is
    // then either absent or whole, never torn.
    sealRecord(this.#region, at, at + REC_HEADER + len, this.#seed[s], true, tail);
    // Publish to the index only now: a reader never sees a value that a
    // crash could still take away.
    this.#used[s] = at + size - this.#start(s);
    if (s === this.#active) this.#tail = at + size;
    p = at + REC_HEADER;
    for (const e of entries) {
      const esize = ENTRY_HEADER + e.key.length + e.vlen;
      this.#applyEntry(s, p, e.key, e.type, esize);
      p += esize;
    }
  }

  /**
   * Points the index at every entry of the valid records `found[0..records)`
   * (offsets, in log order), as if applying them in log order, but filling
   * the table window by window rather than at random: the entries are
   * ordered by a stable counting sort on the top bits of their home slot.
   * The entries of one key share a hash, so they keep their log order, and
   * different keys do not interact: the result is that of the log-order
   * replay, with far fewer cache and TLB misses on a large table, and the
   * second pass does not touch the log. Holds 28 bytes per entry while it
   * runs.
   */
  #replay(found: Uint32Array, records: number): void {
    const b = this.#b;
    let total = 0;
    for (let i = 0; i < records; i++) total += b.readUInt32LE(found[i] + 8);
    // A table sized once for the entries found (an upper bound on the keys),
    // up to 2^24 slots (128 MiB): past that a log of many overwrites would
    // size it far beyond its keys, and the table grows as needed instead.
    this.index.reserve(Math.min(total, 12_000_000));
    const off = new Uint32Array(total);
    const hash = new Uint32Array(total); // index.hashEntry() of each entry
    const meta = new Uint32Array(total); // entry size (< 2^27), and 2^31 for a delete
    const klen = new Uint16Array(total);
    // One native pass over the entries: hashing every key in JavaScript took
    // about half of a 10M-key reopen.
    binding.kvEntries(b, found, records, off, hash, meta, klen);
    const mask = this.index.slotMask;
    const bits = Math.log2(mask + 1);
    const shift = Math.max(0, bits - 12);
    const starts = new Uint32Array((1 << Math.min(bits, 12)) + 1);
    for (let i = 0; i < total; i++) starts[((hash[i] & mask) >>> shift) + 1]++;
    for (let i = 1; i < starts.length; i++) starts[i] += starts[i - 1];
    // Scatter the entries themselves (not an index into them), so that the
    // last pass reads every array in order.
    const sOff = new Uint32Array(total);
    const sHash = new Uint32Array(total);
    const sMeta = new Uint32Array(total);
    const sKlen = new Uint16Array(total);
    for (let i = 0; i < total; i++) {
      const d = starts[(hash[i] & mask) >>> shift]++;
      sOff[d] = off[i];
      sHash[d] = hash[i];
      sMeta[d] = meta[i];
      sKlen[d] = klen[i];
    }
    for (let i = 0; i < total; i++) {
      const p = sOff[i];
      const m = sMeta[i];
      this.#applyEntry(this.#head[this.#segOf(p)], p, null, m >= 0x80000000 ? ENTRY_DEL : ENTRY_PUT, m & 0x7fffffff, sHash[i], sKlen[i]);
    }
  }

  /** Points the index at one entry (at `p`, in head segment `s`) and keeps the live and dead counts. */
  #applyEntry(s: number, p: number, key: string | null, type: number, size: number, h?: number, klen?: number): void {
    let prev: number | undefined;
    if (type === ENTRY_PUT) {
      prev = key === null ? this.index.setEntry(p, h, klen) : this.index.set(key, p);
      this.#live[s] += size;
    } else {
      prev = key === null ? this.index.deleteEntry(p, h, klen) : this.index.delete(key);
      this.#dead[s]++; // a tombstone is dead from birth: it only hides older entries
    }
    if (prev !== undefined) {
      const ps = this.#head[this.#segOf(prev)];
      this.#live[ps] -= entrySize(this.#b, prev);
      this.#dead[ps]++;
    }
  }

  /**
   * Region offset where a record of `size` bytes goes: the active segment's
   * tail, or a newly opened segment (or run of segments, for a record larger
   * than one). Grows the file, or compacts, when no segment is free.
   */
  #place(size: number, reserve: number): number {
    if (this.#active >= 0 && this.#tail + size <= this.#start(this.#active) + this.#segSize) return this.#tail;
    const need = size <= this.#segSize - SEG_HEADER ? 1 : Math.ceil((size + SEG_HEADER) / this.#segSize);
    let s = this.#findFree(need, reserve);
    if (s < 0 && this.#grow(need + reserve)) s = this.#findFree(need, reserve);
    if (s < 0 && !this.#compacting && this.#hasDead()) {
      this.#compact();
      if (this.#active >= 0 && this.#tail + size <= this.#start(this.#active) + this.#segSize) return this.#tail;
      s = this.#findFree(need, reserve);
    }
    if (s < 0) {
      throw new PmemError('ERR_PMEM_NO_SPACE',
        `the store is full: no room for a ${size}-byte record in ${this.#region.length} bytes ` +
        `(maxSize ${this.#maxSize}); delete keys or compact()`, this.#path === undefined ? {} : { path: this.#path });
    }
    const seq = ++this.#maxSeq;
    const start = this.#start(s);
    writeSegmentHeader(this.#b, start, seq, need, this.#salt);
    // Flush without a fence: the fence that makes the segment's first record
    // durable (append) makes this header durable too. Until then a crash
    // leaves the segment free (old header, zeroed when it was freed) or empty.
    this.#region.flush(start, SEG_HEADER);
    this.#seq[s] = seq;
    this.#span[s] = need;
    this.#used[s] = SEG_HEADER;
    this.#live[s] = 0;
    this.#dead[s] = 0;
    this.#seed[s] = segmentSeed(seq, this.#salt);
    for (let j = s; j < s + need; j++) this.#head[j] = s;
    this.#free -= need;
    // A run holds one record and is never appended to again; appending to
    // the previous segment after it would put later writes before it in
    // sequence order.
    this.#active = need === 1 ? s : -1;
    this.#tail = start + SEG_HEADER;
    return start + SEG_HEADER;
  }

  /** First run of `need` free segments that leaves `reserve` free, or -1. */
  #findFree(need: number, reserve: number): number {
    if (this.#free < need + reserve) return -1;
    let run = 0;
    for (let i = 0; i < this.#nseg; i++) {
      run = this.#head[i] === -1 ? run + 1 : 0;
      if (run === need) return i - need + 1;
    }
    return -1;
  }

  #hasDead(): boolean {
    for (let s = 0; s < this.#nseg; s++) if (this.#seq[s] !== 0 && this.#dead[s] > 0) return true;
    return false;
  }

  /**
   * Grows the file so that at least `segments` more segments exist, up to
   * maxSize. The index keeps offsets, not views, so it survives the remap.
   */
  #grow(segments: number): boolean {
    if (this.#remap === null) return false;
    const len = this.#region.length;
    const cap = DATA_START + Math.floor((this.#maxSize - DATA_START) / this.#segSize) * this.#segSize;
    const want = Math.min(cap, DATA_START + (Math.max(this.#nseg * 2, this.#nseg + segments)) * this.#segSize);
    if (want < DATA_START + (this.#nseg + segments) * this.#segSize || want <= len) return false;
    // The new bytes are zero: free segments. A crash after the file grew and
    // before anything was written there loses nothing. Offsets, not views,
    // live in the index, so it survives the remap.
    const region = this.#remap(want);
    if (region === null) return false;
    this.#region = region;
    this.#b = region.bytes;
    this.#view = new Uint8Array(this.#b.buffer, this.#b.byteOffset, this.#b.length);
    this.index.bytes = this.#b;
    this.#resize(Math.floor((region.length - DATA_START) / this.#segSize));
    return true;
  }

  /** Grows the per-segment arrays to `nseg` segments (the new ones free). */
  #resize(nseg: number): void {
    for (let i = this.#nseg; i < nseg; i++) {
      this.#seq.push(0);
      this.#head.push(-1);
      this.#span.push(0);
      this.#used.push(0);
      this.#live.push(0);
      this.#dead.push(0);
      this.#seed.push(0);
    }
    this.#free += Math.max(0, nseg - this.#nseg);
    this.#nseg = Math.max(nseg, this.#nseg);
  }

  /**
   * Cleans every used segment, oldest first: copies its live entries to the
   * log's end and frees it. A segment with no dead entry is left alone.
   *
   * Oldest first is what lets tombstones go: when segment s is cleaned,
   * every older segment still in use holds only live entries, so no older
   * entry of a deleted key is left for a dropped tombstone to uncover.
   */
  #compact(): number {
    this.#compacting = true;
    let freed = 0;
    try {
      // Appends from here go to a new segment, so the active one is cleaned too.
      this.#active = -1;
      const order: number[] = [];
      for (let s = 0; s < this.#nseg; s++) if (this.#seq[s] !== 0) order.push(s);
      order.sort((x, y) => this.#seq[x] - this.#seq[y]);
      for (const s of order) {
        if (this.#dead[s] === 0 && this.#live[s] > 0) continue;
        this.#moveLive(s);
        const start = this.#start(s);
        // Free s only now: every live entry copied out of it is durable
        // (each append fenced). A crash before this store leaves both
        // copies, and recovery takes the newer. The aligned 8-byte store of
        // a zero sequence number publishes the free (the header checksum
        // fails from then on). It must be durable before any newer segment
        // is cleaned: were s to come back after a tombstone of a newer
        // segment is dropped, its dead entries would come back to life.
        store64(this.#b, start + 8, 0);
        this.#region.persist(start + 8, 8);
        for (let j = s; j < s + this.#span[s]; j++) this.#head[j] = -1;
        this.#free += this.#span[s];
        freed += this.#span[s];
        this.#seq[s] = 0;
        this.#live[s] = 0;
        this.#dead[s] = 0;
      }
    } finally {
      this.#compacting = false;
    }
    return freed;
  }

  /** Copies the live entries of segment s to the log's end, packed into few records. */
  #moveLive(s: number): void {
    const b = this.#b;
    const start = this.#start(s);
    const end = start + this.#used[s];
    const live: Entry[] = [];
    for (let at = start + SEG_HEADER; at < end; ) {
      const count = b.readUInt32LE(at + 8);
      let p = at + REC_HEADER;
      for (let i = 0; i < count; i++) {
        const klen = b.readUInt16LE(p + 2);
        const vlen = b.readUInt32LE(p + 4);
        if (b[p] === ENTRY_PUT && this.index.getEntry(p) === p) {
          const key = b.toString('latin1', p + ENTRY_HEADER, p + ENTRY_HEADER + klen);
          live.push({ type: ENTRY_PUT, key, value: null, vlen, src: p + ENTRY_HEADER + klen });
        }
        p += ENTRY_HEADER + klen + vlen;
      }
      at += align8(REC_HEADER + b.readUInt32LE(at + 4));
    }
    let i = 0;
    while (i < live.length) {
      // As many entries as fit the room left in the active segment (or a
      // fresh one); an entry too large for one segment goes alone.
      const room = this.#active >= 0 ? this.#start(this.#active) + this.#segSize - this.#tail : 0;
      const max = fits(live[i], room) ? room : this.#segSize - SEG_HEADER;
      let bytes = REC_HEADER;
      let j = i;
      while (j < live.length && align8(bytes + ENTRY_HEADER + live[j].key.length + live[j].vlen) <= max) {
        bytes += ENTRY_HEADER + live[j].key.length + live[j].vlen;
        j++;
      }
      if (j === i) j = i + 1;
      this.append(live.slice(i, j), 0); // compaction may use the last free segments
      i = j;
    }
  }

  #start(s: number): number {
    return DATA_START + s * this.#segSize;
  }

  #segOf(offset: number): number {
    return Math.floor((offset - DATA_START) / this.#segSize);
  }

  /**
   * True when the invalid record at `at` has a plausible length and the
   * position after it holds a valid record: appends are sequential and each
   * ends with a fence, so that later record was written after this one was
   * durable, and this one was damaged afterwards.
   */
  #damagedBeforeIntact(at: number, end: number, seed: number): boolean {
    if (end - at < REC_HEADER) return false;
    const len = this.#b.readUInt32LE(at + 4);
    if (len === 0 || len > end - at - REC_HEADER) return false;
    const next = at + align8(REC_HEADER + len);
    return validRecord(this.#b, next, end, seed) > 0;
  }
}

/** Little-endian u32 store, without Buffer's argument checks (the hot path's offsets are computed here). */
function u32(b: Buffer, at: number, v: number): void {
  b[at] = v % 256;
  b[at + 1] = Math.floor(v / 256) % 256;
  b[at + 2] = Math.floor(v / 65536) % 256;
  b[at + 3] = Math.floor(v / 16777216) % 256;
}

/** Writes a one-byte key string's bytes; short keys byte by byte, which beats Buffer.write's call overhead. */
function writeKey(b: Buffer, key: string, at: number): void {
  const n = key.length;
  if (n > 32) b.write(key, at, n, 'latin1');
  else for (let i = 0; i < n; i++) b[at + i] = key.charCodeAt(i);
}

function fits(e: Entry, room: number): boolean {
  return align8(REC_HEADER + ENTRY_HEADER + e.key.length + e.vlen) <= room;
}
function nonZero(b: Buffer, from: number, to: number): number {
  for (let i = to - 1; i >= from; i--) if (b[i] !== 0) return i + 1 - from;
  return 0;
}

