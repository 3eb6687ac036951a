// The PMem tier: fixed-size slots on a Region, one entry per slot, each
// published by an 8-byte commit word after its record is durable; the index
// is a Map rebuilt by recover() on every open.
import { isUtf8 } from 'node:buffer';

import { binding } from '../core/binding';
import { PmemError, checkOpen } from '../core/errors';
import { type Region, sealRecord, store64 } from '../core/region';
import { TAG_ENCODING } from './encoding';
import { cacheHooks } from './hooks';
import type { Hotness } from './hotness';
import { HEADER_BYTES, S_COMMIT, S_CRC, S_EXPIRY, S_HOT, S_KEY, S_KEY_LEN, S_SEQ, S_TAG, S_VALUE_LEN } from './pmem-format';
import { openHeader, u64 } from './pmem-header';

/** What the last open's recovery found. */
export interface PmemTierRecovery {
  /** Published records indexed. */
  entries: number;
  /** Published records dropped: an older copy of a key (a crash mid-update), or expired. */
  dropped: number;
  ms: number;
}

/** Slots sampled to choose a victim. */
const SAMPLES = 8;

/**
 * Entries on a Region. Writing one (`put`) is: the record (header, key,
 * value, checksum) into a free slot, flushed; a fence; the commit word
 * (the record's sequence number) stored and flushed; a fence; then the
 * key's older slot, if any, retired with a zero commit word, flushed, and
 * reused only after a later fence. The entry is durable when `put`
 * returns, and a crash at any point leaves the old entry or the new one,
 * never neither and never a torn one.
 */
export class PmemTier {
  readonly region: Region;
  readonly slotBytes: number;
  readonly slotCount: number;
  readonly salt: number;
  readonly index = new Map<string, number>();
  /** Per slot: its key, or undefined when free. */
  readonly keys: (string | undefined)[];
  /** Per slot: the hotness score (see Hotness). */
  score: Float64Array;
  /** Per slot: expiry in ms since the epoch, 0 for none. */
  readonly expiry: Float64Array;
  /** Bytes of records held (header, key, value). */
  bytes = 0;
  recovery: PmemTierRecovery = { entries: 0, dropped: 0, ms: 0 };
  readonly #hot: Hotness;
  /** Used slots, densely, for sampling; #pos[slot] is a slot's place in it. */
  readonly #used: Int32Array;
  readonly #pos: Int32Array;
  #usedCount = 0;
  readonly #free: Int32Array;
  #freeCount = 0;
  /** Slots whose zero commit word is flushed but not yet fenced. */
  readonly #pending: number[] = [];
  #seq = 1;
  #rng = 0x9e3779b9;
  /**
   * Called with a key the tier evicts to make room, its value's bytes (a
   * view of the freed slot, valid only during the call) and their encoding tag.
   */
  onEvict: (key: string, value: Buffer, tag: number) => void = () => {};

  /**
   * Opens the tier on `region`: formats it when it holds nothing, else
   * checks its header (openHeader), then runs recover().
   * @throws PmemError ERR_PMEM_NOT_A_STORE (the region holds something else),
   *   ERR_PMEM_CORRUPT (a damaged header or record), ERR_PMEM_INVALID (another
   *   slot size or format version)
   */
  constructor(region: Region, slotBytes: number, hot: Hotness) {
    this.region = region;
    this.#hot = hot;
    const header = openHeader(region, slotBytes);
    this.slotBytes = header.slotBytes;
    this.salt = header.salt;
    this.slotCount = header.slotCount;
    this.keys = new Array<string | undefined>(this.slotCount).fill(undefined);
    this.score = new Float64Array(this.slotCount);
    hot.track(this.score);
    this.expiry = new Float64Array(this.slotCount);
    this.#used = new Int32Array(this.slotCount);
    this.#pos = new Int32Array(this.slotCount).fill(-1);
    this.#free = new Int32Array(this.slotCount);
    this.recover();
  }

  /** The bytes a record of this key and value needs in a slot. */
  fits(keyBytes: number, valueBytes: number): boolean {
    return S_KEY + keyBytes + valueBytes <= this.slotBytes;
  }

  get count(): number {
    return this.#usedCount;
  }

  /** The byte offset of slot `s`. */
  offset(s: number): number {
    return HEADER_BYTES + s * this.slotBytes;
  }

  /**
   * Rebuilds the index from the slots: a slot holds an entry when its
   * commit word is not zero; the record must then carry the same sequence
   * number and a checksum that holds, or the region is damaged
   * (ERR_PMEM_CORRUPT). Completes an update a crash interrupted (two
   * published copies of one key: the higher sequence number wins, and the
   * other is freed) and drops expired entries. Writes only commit words,
   * fenced once at the end.
   */
  recover(): void {
    const t0 = performance.now();
    const b = this.region.bytes;
    const now = Date.now();
    const rec: PmemTierRecovery = { entries: 0, dropped: 0, ms: 0 };
    const seqOf = new Float64Array(this.slotCount);
    // Copies to free, written only once every slot has passed its checks:
    // a damaged slot anywhere refuses the open, and a refused open leaves
    // the region as it found it (a zero stored before the refusal would
    // drop a copy that the damaged region may still need).
    const dropped: number[] = [];
    let maxSeq = 0;
    // The newest published copy of each key; older ones are dropped.
    const newest = new Map<string, number>();
    for (let s = 0; s < this.slotCount; s++) {
      const off = this.offset(s);
      const commit = u64(b, off + S_COMMIT);
      if (commit === 0) continue;
      const klen = b.readUInt32LE(off + S_KEY_LEN);
      const vlen = b.readUInt32LE(off + S_VALUE_LEN);
      if (commit > maxSeq) maxSeq = commit;
      if (!this.fits(klen, vlen) || u64(b, off + S_SEQ) !== commit || b.readUInt32LE(off + S_TAG) >= TAG_ENCODING.length ||
          binding.crc32c(b, off + S_KEY_LEN, S_KEY - S_KEY_LEN + klen + vlen, this.salt) !== b.readUInt32LE(off + S_CRC)) {
        // A record is durable before its commit word, and a slot is written
        // again only once its zero commit word is durable: a crash never
        // leaves a commit word over a record that does not match it.
        throw new PmemError('ERR_PMEM_CORRUPT', `cache slot ${s} is published but its record does not match (damaged media?)`);
      }
      const expiry = b.readDoubleLE(off + S_EXPIRY);
      if (!Number.isFinite(expiry)) {
        // A set writes 0 or a time (now plus a finite ttl): a NaN would
        // read as expired to has() and as live to get(), which would hand
        // the value out.
        throw new PmemError('ERR_PMEM_CORRUPT', `cache slot ${s} has an expiry no set writes (${expiry})`);
      }
      if (!isUtf8(b.subarray(off + S_KEY, off + S_KEY + klen))) {
        // A set writes a well-formed key's UTF-8: bytes that are not would
        // read as another key (U+FFFD in their place), two of them as one.
        throw new PmemError('ERR_PMEM_CORRUPT', `cache slot ${s} holds a key that is not UTF-8`);
      }
      seqOf[s] = commit;
      const key = b.toString('utf8', off + S_KEY, off + S_KEY + klen);
      const other = newest.get(key);
      if (other === undefined || seqOf[other] < commit) {
        newest.set(key, s);
        if (other !== undefined) dropped.push(other);
      } else {
        dropped.push(s);
      }
    }
    // Only then expiry: an expired newest copy is dropped, and no older
    // copy of its key is left to come back in its place.
    for (const [key, s] of newest) {
      const off = this.offset(s);
      const expiry = b.readDoubleLE(off + S_EXPIRY);
      if (expiry !== 0 && expiry <= now) {
        dropped.push(s);
        continue;
      }
      this.#take(s, key, S_KEY + b.readUInt32LE(off + S_KEY_LEN) + b.readUInt32LE(off + S_VALUE_LEN));
      this.expiry[s] = expiry;
      const hot = b.readDoubleLE(off + S_HOT);
      this.score[s] = Number.isFinite(hot) && hot > 0 ? this.#hot.scoreOf(hot) : 0;
    }
    for (const s of dropped) {
      // Frees a published copy that must not come back after the one that
      // replaces it is deleted; made durable by the fence below.
      store64(b, this.offset(s) + S_COMMIT, 0);
      this.region.flush(this.offset(s) + S_COMMIT, 8);
    }
    rec.dropped = dropped.length;
    // The dropped copies are free before anything reuses their slots.
    if (dropped.length > 0) this.region.drain();
    this.#freeCount = 0;
    for (let s = this.slotCount - 1; s >= 0; s--) if (this.keys[s] === undefined) this.#free[this.#freeCount++] = s;
    this.#seq = maxSeq + 1;
    rec.entries = this.#usedCount;
    rec.ms = performance.now() - t0;
    this.recovery = rec;
  }

  #take(s: number, key: string, bytes: number): void {
    this.keys[s] = key;
    this.index.set(key, s);
    this.#pos[s] = this.#usedCount;
    this.#used[this.#usedCount++] = s;
    this.bytes += bytes;
  }

  /** Forgets slot `s` in DRAM (its commit word is the caller's). */
  #release(s: number): void {
    const key = this.keys[s]!;
    const b = this.region.bytes;
    const off = this.offset(s);
    this.bytes -= S_KEY + b.readUInt32LE(off + S_KEY_LEN) + b.readUInt32LE(off + S_VALUE_LEN);
    this.index.delete(key);
    this.keys[s] = undefined;
    const p = this.#pos[s];
    const last = this.#used[--this.#usedCount];
    this.#used[p] = last;
    this.#pos[last] = p;
    this.#pos[s] = -1;
    this.expiry[s] = 0;
    this.score[s] = 0;
  }

  /** The value bytes of slot `s`: a view valid until the slot is written again. */
  value(s: number): Buffer {
    const b = this.region.bytes;
    const off = this.offset(s);
    const at = off + S_KEY + b.readUInt32LE(off + S_KEY_LEN);
    return b.subarray(at, at + b.readUInt32LE(off + S_VALUE_LEN));
  }

  /** The encoding tag of slot `s`. */
  tag(s: number): number {
    return this.region.bytes.readUInt32LE(this.offset(s) + S_TAG);
  }

  /**
   * Writes `key` → `value` durably, replacing the key's older entry (see the
   * class comment for the order). Evicts the coldest of a few sampled
   * entries when no slot is free. The caller checked `fits`.
   */
  put(key: string, keyBytes: Buffer, value: Uint8Array, tag: number, expiry: number, score: number): void {
    checkOpen(this.region, 'tiered cache');
    // The sequence number is published as a u64 from a number: past 2^53 - 1
    // it would stop counting, and two copies of a key would tie.
    if (this.#seq >= Number.MAX_SAFE_INTEGER) {
      throw new PmemError('ERR_PMEM_NO_SPACE', `the cache's PMem tier has used its last sequence number (2^53 - 2); format it again`);
    }
    const r = this.region;
    if (this.#freeCount === 0) {
      if (this.#pending.length === 0) this.evict();
      // The victim's zero commit word (or those of the retired copies) is
      // durable before its slot is written: a crash must never find an old
      // commit word over a half-written record (recover() refuses that as
      // damage).
      r.drain();
      this.#releasePending();
    }
    const b = r.bytes;
    const s = this.#free[--this.#freeCount];
    const off = this.offset(s);
    const seq = this.#seq++;
    const end = off + S_KEY + keyBytes.length + value.length;
    if (cacheHooks.publishBeforeValue) this.#publish(off, seq);
    b.writeDoubleLE(this.#hot.countOf(score), off + S_HOT);
    b.writeUInt32LE(keyBytes.length, off + S_KEY_LEN);
    b.writeUInt32LE(value.length, off + S_VALUE_LEN);
    b.writeUInt32LE(tag, off + S_TAG);
    b.writeUInt32LE(seq % 0x100000000, off + S_SEQ);
    b.writeUInt32LE(Math.floor(seq / 0x100000000), off + S_SEQ + 4);
    b.writeDoubleLE(expiry, off + S_EXPIRY);
    keyBytes.copy(b, off + S_KEY);
    // Copies the value, checksums the record and flushes it, with its first
    // line (the hotness hint, and the slot's commit word, durably zero).
    sealRecord(r, off + S_CRC, end, this.salt, false, value);
    r.flush(off, 8);
    // The record is durable before the commit word that publishes it: a
    // crash after the publish finds a whole record behind it. This fence
    // also makes durable the copies retired by earlier puts, whose slots
    // may be reused from here on.
    r.drain();
    this.#releasePending();
    if (!cacheHooks.publishBeforeValue) this.#publish(off, seq);
    // The commit word is durable: the entry survives a crash from here on,
    // and the caller may free its DRAM copy or acknowledge the write.
    r.drain();
    const old = this.index.get(key);
    if (old !== undefined) {
      // Retires the older copy, only now: a zero stored before the new
      // commit word was durable could persist first and leave neither.
      // Not fenced: a crash before it is durable leaves both copies
      // published, which recover() settles by sequence number; the slot
      // waits in #pending until the next fence before it is reused.
      store64(b, this.offset(old) + S_COMMIT, 0);
      r.flush(this.offset(old) + S_COMMIT, 8);
      this.#release(old);
      this.#pending.push(old);
    }
    this.#take(s, key, end - off);
    this.expiry[s] = expiry;
    this.score[s] = score;
  }

  /**
   * Fences the retirements of older copies that are still pending, before
   * a removal: were the newest copy's zero durable before an older copy's,
   * a crash would bring the older value back.
   */
  #settle(): void {
    if (this.#pending.length === 0) return;
    this.region.drain();
    this.#releasePending();
  }

  /** Slots retired before the last fence are free. */
  #releasePending(): void {
    for (const s of this.#pending) this.#free[this.#freeCount++] = s;
    this.#pending.length = 0;
  }

  #publish(off: number, seq: number): void {
    // The publishing store: one aligned 8-byte store of the sequence number.
    store64(this.region.bytes, off + S_COMMIT, seq);
    this.region.flush(off + S_COMMIT, 8);
  }

  /** Removes `key`'s entry, durably when it returns. Returns whether there was one. */
  remove(key: string): boolean {
    const s = this.index.get(key);
    if (s === undefined) return false;
    checkOpen(this.region, 'tiered cache');
    this.#settle();
    this.#free1(s);
    // The zero commit word is durable: the entry does not come back after a crash.
    this.region.drain();
    this.#releasePending();
    return true;
  }

  /** Frees slot `s` (flushed, not fenced) and forgets it. */
  #free1(s: number): void {
    const off = this.offset(s);
    store64(this.region.bytes, off + S_COMMIT, 0);
    this.region.flush(off + S_COMMIT, 8);
    this.#release(s);
    this.#free[this.#freeCount++] = s;
  }

  /**
   * Evicts one entry: an expired one among the sampled, else the coldest.
   * Its zero commit word is flushed, not fenced: put() fences it before it
   * writes the slot, and a crash before leaves the evicted entry whole,
   * which a cache may keep. (Its slot goes straight to the free list: only
   * put() evicts, and it fences first.)
   */
  evict(): void {
    const now = Date.now();
    let victim = -1;
    let min = Infinity;
    for (let i = 0; i < SAMPLES && i < this.#usedCount; i++) {
      this.#rng ^= this.#rng << 13;
      this.#rng ^= this.#rng >>> 17;
      this.#rng ^= this.#rng << 5;
      const s = this.#used[(this.#rng >>> 0) % this.#usedCount];
      const e = this.expiry[s];
      if (e !== 0 && e <= now) {
        victim = s;
        break;
      }
      if (this.score[s] < min) {
        min = this.score[s];
        victim = s;
      }
    }
    if (victim < 0) return;
    const key = this.keys[victim]!;
    if (cacheHooks.evicted !== undefined) cacheHooks.evicted(key);
    // The slot's bytes stay as they are until put() writes it after this.
    const value = this.value(victim);
    const tag = this.tag(victim);
    this.#free1(victim);
    this.onEvict(key, value, tag);
  }

  /** Frees every slot, durably when it returns. */
  clear(): void {
    checkOpen(this.region, 'tiered cache');
    this.#settle();
    while (this.#usedCount > 0) this.#free1(this.#used[this.#usedCount - 1]);
    // Every zero commit word is durable: no entry comes back.
    this.region.drain();
    this.#releasePending();
  }

  /**
   * Writes each entry's decayed count into its slot's hotness hint and
   * flushes the hints, for the preload of the next open. The hints are
   * outside the checksum and are read as hints: a crash that keeps some of
   * them only changes which entries are preloaded.
   */
  saveHotness(): void {
    checkOpen(this.region, 'tiered cache');
    const b = this.region.bytes;
    for (let i = 0; i < this.#usedCount; i++) {
      const s = this.#used[i];
      b.writeDoubleLE(this.#hot.countOf(this.score[s]), this.offset(s) + S_HOT);
      this.region.flush(this.offset(s) + S_HOT, 8);
    }
    // The hints are durable before the caller reports the close as done.
    this.region.drain();
  }

  /** Used slots, hottest first, at most `n`. */
  hottest(n: number): number[] {
    const slots = Array.from(this.#used.subarray(0, this.#usedCount));
    slots.sort((x, y) => this.score[y] - this.score[x]);
    return slots.slice(0, n);
  }

  /** Used slots, in slot order. */
  *slots(): IterableIterator<number> {
    for (let s = 0; s < this.slotCount; s++) if (this.keys[s] !== undefined) yield s;
  }
}
