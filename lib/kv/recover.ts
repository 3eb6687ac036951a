// The recovery of KVStore's log: on every open, the scan of the segments
// and the rebuild of the DRAM index and the segment table from the records.
import { binding } from '../core/binding';
import { align8 } from '../core/args';
import { PmemError } from '../core/errors';
import {
  DATA_START, ENTRY_DEL, ENTRY_HEADER_BYTES, ENTRY_PUT, isEndMark, readSegmentHeader, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES,
  segmentSeed, validRecord,
} from './format';
import { KEY_HASH_SEED, type KvIndex } from './hash-index';
import type { StoreHeader } from './log-open';
import type { Region } from '../core/region';
import type { SegmentTable } from './segments';

export interface LogRecovery {
  ms: number;
  segments: number;
  records: number;
  discardedBytes: number;
}

/**
 * Where a reader beside a live writer stops: the segment with sequence
 * number `seq` ends `used` bytes after its start, and newer segments are
 * left out (their records were not published when the reader looked).
 */
export interface RecoverStop {
  seq: number;
  used: number;
}

/** Record offsets one kvScan call returns at most. */
const scanOut = new Uint32Array(16384);

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
 * `h` is the store's superblock payload, read and checked by readHeader.
 * @throws PmemError ERR_PMEM_CORRUPT when segment headers overlap, or a
 *   record is damaged while a later record of its segment is intact.
 */
export function recover(h: StoreHeader, region: Region, t: SegmentTable, index: KvIndex, stop?: RecoverStop): LogRecovery {
  const t0 = performance.now();
  t.salt = h.salt;
  t.size = h.segmentSize;
  t.resize(Math.floor((region.length - DATA_START) / t.size));
  if (t.count < 1) throw new PmemError('ERR_PMEM_CORRUPT', 'the region is too short for one segment');

  const b = region.bytes;
  const heads: number[] = [];
  for (let i = 0; i < t.count; i++) {
    const h = readSegmentHeader(b, t.start(i), t.salt);
    if (h === undefined || h.span > t.count - i) continue;
    t.seq[i] = h.seq;
    t.span[i] = h.span;
    heads.push(i);
  }
  heads.sort((x, y) => t.seq[x] - t.seq[y]);
  if (stop !== undefined) {
    // Segments opened after the published tail hold nothing published yet.
    while (heads.length > 0 && t.seq[heads[heads.length - 1]] > stop.seq) {
      const s = heads.pop() as number;
      t.seq[s] = 0;
      t.span[s] = 0;
    }
  }
  let records = 0;
  let found = new Uint32Array(1024);
  let discarded = 0;
  for (let n = 0; n < heads.length; n++) {
    const s = heads[n];
    if (n > 0 && t.seq[heads[n - 1]] === t.seq[s]) throw new PmemError('ERR_PMEM_CORRUPT', `two segments carry sequence number ${t.seq[s]}`);
    for (let j = s; j < s + t.span[s]; j++) {
      if (t.head[j] !== -1) throw new PmemError('ERR_PMEM_CORRUPT', `segments ${t.head[j]} and ${s} overlap`);
      t.head[j] = s;
    }
    t.free -= t.span[s];
    t.seed[s] = segmentSeed(t.seq[s], t.salt);
    const start = t.start(s);
    const end = start + (stop !== undefined && t.seq[s] === stop.seq ? Math.min(stop.used, t.span[s] * t.size) : t.span[s] * t.size);
    // The valid records, up to 16384 per native call (the same checks as
    // validRecord); the index comes after, once their number is known.
    let at = start + SEGMENT_HEADER_BYTES;
    for (;;) {
      const n = binding.kvScan(b, at, end, t.seed[s], scanOut);
      if (records + n > found.length) {
        const bigger = new Uint32Array(Math.max(2 * found.length, records + n));
        bigger.set(found.subarray(0, records));
        found = bigger;
      }
      found.set(scanOut.subarray(0, n), records);
      records += n;
      if (n === 0) break;
      const last = scanOut[n - 1];
      at = last + align8(RECORD_HEADER_BYTES + b.readUInt32LE(last + 4));
      if (n < scanOut.length) break;
    }
    // Where the records end: nothing after them; or a gap no record fits
    // (a record takes at least 24 bytes); or the end mark a writer left when
    // it stopped writing here cleanly: the bytes after it are leftovers of
    // the segment's earlier use, not a discarded write.
    if (at + RECORD_HEADER_BYTES + ENTRY_HEADER_BYTES <= end && !isEndMark(b, at, end, t.seed[s])) {
      if (damagedBeforeIntact(b, at, end, t.seed[s])) {
        throw new PmemError('ERR_PMEM_CORRUPT', `segment ${s}: the record at ${at} is damaged and a later one is intact`);
      }
      discarded += nonZero(b, at, Math.min(end, at + 4096));
    }
    t.used[s] = at - start;
    t.maxSeq = t.seq[s];
  }
  // A writer's open (not a reader's, whose view may end at a segment being
  // opened) refuses a segment whose header is damaged under intact records:
  // recovery would drop them, and with them acknowledged writes.
  if (stop === undefined) for (let i = 0; i < t.count; i++) if (t.head[i] === -1) refuseDamagedHeader(b, t, i);
  replay(b, t, index, found, records);
  // Appends continue in the newest segment, never an older one: the log's
  // order is sequence order, then position.
  const newest = heads.length > 0 ? heads[heads.length - 1] : -1;
  t.active = newest >= 0 && t.span[newest] === 1 ? newest : -1;
  if (t.active >= 0) t.tail = t.start(newest) + t.used[newest];
  return { ms: performance.now() - t0, segments: heads.length, records, discardedBytes: discarded };
}

/**
 * Throws ERR_PMEM_CORRUPT when segment `i`, whose header does not validate
 * (and that no valid header's span covers), holds two valid records under
 * the sequence number its header still carries. Every append fences its
 * record, and the first fence in a segment makes its header durable too
 * (log.ts #place flushes it): a second record is only ever written after
 * the header was whole on the media. A crash cannot leave a torn header
 * before it; damage can. A freed segment's header carries sequence number
 * zero, and new space, or an earlier store's (another salt), validates no
 * record here.
 */
function refuseDamagedHeader(b: Buffer, t: SegmentTable, i: number): void {
  const start = t.start(i);
  const seq = b.readBigUInt64LE(start + 8);
  if (seq === 0n || seq > BigInt(Number.MAX_SAFE_INTEGER)) return;
  const seed = segmentSeed(Number(seq), t.salt);
  const end = Math.min(b.length, start + t.size);
  const first = validRecord(b, start + SEGMENT_HEADER_BYTES, end, seed);
  if (first === 0 || validRecord(b, start + SEGMENT_HEADER_BYTES + first, end, seed) === 0) return;
  throw new PmemError('ERR_PMEM_CORRUPT', `segment ${i}: its header is damaged, and records written after it was durable are intact`);
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
function replay(b: Buffer, t: SegmentTable, index: KvIndex, found: Uint32Array, records: number): void {
  let total = 0;
  for (let i = 0; i < records; i++) total += b.readUInt32LE(found[i] + 8);
  // A table sized once for the entries found (an upper bound on the keys),
  // up to 2^24 slots (128 MiB): past that a log of many overwrites would
  // size it far beyond its keys, and the table grows as needed instead.
  index.reserve(Math.min(total, 12_000_000));
  const off = new Uint32Array(total);
  const hash = new Uint32Array(total); // index.hashEntry() of each entry
  const meta = new Uint32Array(total); // entry size (< 2^27), and 2^31 for a delete
  const klen = new Uint16Array(total);
  // One native pass over the entries: hashing every key in JavaScript is a
  // large share of a reopen (docs/bench.md, "KVStore").
  binding.kvEntries(b, found, records, off, hash, meta, klen, KEY_HASH_SEED);
  const mask = index.slotMask;
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
    t.applyEntry(index, b, t.head[t.segOf(p)], p, null, m >= 0x80000000 ? ENTRY_DEL : ENTRY_PUT, m & 0x7fffffff, sHash[i], sKlen[i]);
  }
}

/**
 * True when the invalid record at `at` has a plausible length and the
 * position after it holds a valid record: appends are sequential and each
 * ends with a fence, so that later record was written after this one was
 * durable, and this one was damaged afterwards.
 */
function damagedBeforeIntact(b: Buffer, at: number, end: number, seed: number): boolean {
  if (end - at < RECORD_HEADER_BYTES) return false;
  const len = b.readUInt32LE(at + 4);
  if (len === 0 || len > end - at - RECORD_HEADER_BYTES) return false;
  const next = at + align8(RECORD_HEADER_BYTES + len);
  return validRecord(b, next, end, seed) > 0;
}

function nonZero(b: Buffer, from: number, to: number): number {
  for (let i = to - 1; i >= from; i--) if (b[i] !== 0) return i + 1 - from;
  return 0;
}
