// The fused forms a log's hot path uses beside sealRecord (region.ts): a
// batch of records sealed in one step, and a redo record's commit with its
// one write. Each uses the Region's own method when it has one (a Mapping's
// single native call, native/mapping/records.cc), otherwise the generic form
// here, built from bytes, flush and drain, which the crash simulator sees
// one by one.
import { types } from 'node:util';

import { checkBoolean, checkIndex, checkRange, snapshotBytes } from './args';
import { binding } from './binding';
import { type Region, sealRecord } from './region';

// Read once: the module object is in dictionary mode (docs/bench.md).
const { isFloat64Array } = types;

/**
 * `sealRecord` for `count` records at once: `table` holds three numbers per
 * record, `[crcAt, end, srcIndex]`; `srcIndex` is -1 for a record whose bytes
 * are already in place, else the index in `srcs` of a Uint8Array to copy to
 * the record's tail. The records must not overlap. Each record gets its
 * checksum (seeded with `seed`) as `sealRecord` gives it; every byte of
 * every record is flushed, and with `persist` one drain follows. Every
 * record is checked before any is written.
 *
 * Uses the Region's own `sealRecords` when it has one (a `Mapping` does it in
 * one native call, each line flushed once after its last store), otherwise
 * `bytes`, `flush` and `drain`, which the crash simulator sees one by one:
 * every record is stored, then flushed (`flushRecords`), then drained.
 */
export function sealRecords(
  region: Region, table: Float64Array, count: number, seed: number, persist: boolean, srcs: ReadonlyArray<unknown>,
): void {
  if (region.sealRecords !== undefined) {
    region.sealRecords(table, count, seed, persist, srcs);
    return;
  }
  // The checks the native form makes, on values read once: the table is a
  // Float64Array (its elements are numbers and run no code), and each
  // source named is read once, its true length checked, and that same view
  // copied below.
  if (!isFloat64Array(table)) throw new TypeError('table must be a Float64Array');
  checkIndex(count, 'count');
  checkIndex(seed, 'seed');
  if (seed > 0xffffffff) throw new RangeError('seed must be a uint32');
  checkBoolean(persist, 'persist');
  if (count * 3 > table.length) throw new RangeError('the table holds fewer records than count');
  if (!Array.isArray(srcs) && count > 0) srcs = [];
  const length: unknown = srcs.length; // a Proxy's may be anything
  const sources = new Array<Uint8Array | null>(count);
  for (let i = 0; i < count; i++) {
    const crcAt = table[3 * i];
    const end = table[3 * i + 1];
    checkRange(crcAt, end - crcAt, region.length);
    if (end - crcAt < 4) throw new RangeError('a record needs 4 bytes for its checksum');
    const k = table[3 * i + 2];
    sources[i] = null;
    if (k === -1) continue;
    if (!Number.isInteger(k) || k < 0 || typeof length !== 'number' || !(k < length)) throw new RangeError("a record's source index is not an index of srcs");
    const src = snapshotBytes(srcs[k], 'srcs[]');
    if (src.length > end - crcAt - 4) throw new RangeError('a source does not fit its record');
    sources[i] = src;
  }
  const b = region.bytes;
  for (let i = 0; i < count; i++) {
    const crcAt = table[3 * i];
    const end = table[3 * i + 1];
    const src = sources[i];
    if (src !== null) b.set(src, end - src.length);
    b.writeUInt32LE(binding.crc32c(b, crcAt + 4, end - crcAt - 4, seed), crcAt);
  }
  // Every record's bytes, checksum included, are stored: flush them, so
  // that the drain below (or the caller's) makes each whole or leaves its
  // checksum failing.
  flushRecords(region, table, count);
  // The batch's one fence: every record durable before the caller acks.
  if (persist) region.drain();
}

/**
 * Flushes the records `[crcAt, end)` of a `sealRecords` table, once they are
 * all stored: records that follow each other (less than a line apart) as
 * one range, so that no line is flushed twice.
 */
export function flushRecords(region: Region, table: Float64Array, count: number): void {
  let from = -1;
  let to = -1;
  for (let i = 0; i < count; i++) {
    const crcAt = table[3 * i];
    if (from >= 0 && (crcAt < to || crcAt - to >= 64)) {
      // The run so far is complete (the next record is elsewhere): each of
      // its lines is flushed once, after its last store.
      region.flush(from, to - from);
      from = -1;
    }
    if (from < 0) from = crcAt;
    to = table[3 * i + 1];
  }
  // The last run, stored in full.
  if (from >= 0) region.flush(from, to - from);
}

/**
 * A redo record's commit and its one write: seals the record in
 * `[crcAt, end)` with `persist` (its checksum, flush and fence: the commit),
 * then copies the `length` bytes at `from` (inside the record) to `target`
 * and flushes them, without a fence: the next fence makes them durable, and
 * until then the record can redo them. Every range is checked first.
 *
 * Uses the Region's own `sealAndApply` when it has one (a `Mapping` does it
 * in one native call), otherwise `sealRecord`, `bytes` and `flush`, which
 * the crash simulator sees one by one.
 */
export function sealAndApply(region: Region, crcAt: number, end: number, seed: number, target: number, from: number, length: number): void {
  if (region.sealAndApply !== undefined) {
    region.sealAndApply(crcAt, end, seed, target, from, length);
    return;
  }
  checkRange(target, length, region.length);
  checkRange(from, length, region.length);
  // The commit: the record persisted (flushed and fenced) before any byte
  // of the target changes, so a crash finds the old bytes or a whole record.
  sealRecord(region, crcAt, end, seed, true);
  region.bytes.copyWithin(target, from, from + length);
  // Flushed, not fenced: the next fence makes the write durable, and until
  // then the record redoes it.
  region.flush(target, length);
}
