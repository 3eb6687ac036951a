// How the write-ahead log's appends are placed and made durable: a single
// record with its own fence, and a batch planned whole (so one that does not
// fit writes nothing), written in flushed runs and ordered by one drain.
// This is the log's hot path and its ordering argument, kept apart from the
// API's checks (wal.ts); placement is the ring's (wal-ring.ts), the bytes
// the record format's (wal-record.ts).
import { PmemError } from '../core/errors';
import { flushRecords, sealRecords } from '../core/records';
import type { Region } from '../core/region';
import { RECORD_HEADER, type RecordSeal, SEAL_FLUSH, SEAL_PERSIST, type Seal, TYPE_DATA, TYPE_PAD, writeHeader, writeRecord } from './wal-record';
import { Ring } from './wal-ring';

/** The log's tail: where the next record goes, the ring bytes in use, the LSN the next append gets. */
export interface Tail {
  pos: number;
  used: number;
  nextLsn: number;
}

/**
 * Appends one record of `len` bytes (already checked against the largest
 * record): the same plan as a batch of one, with no arrays. Durable when it
 * returns; `tail` moves only then.
 * @throws PmemError ERR_PMEM_NO_SPACE (nothing is written)
 */
export function appendRecord(region: Region, ring: Ring, seal: RecordSeal, tail: Tail, record: Uint8Array | string, len: number): number {
  if (tail.nextLsn > LAST_LSN) throw noLsns(tail, 1);
  const span = Ring.span(len);
  const pad = ring.padBefore(tail.pos, span);
  if (tail.used + pad + span > ring.size) throw noSpace(tail, ring);
  const pos = ring.next(tail.pos, pad);
  const lsn = tail.nextLsn;
  // A pad record is flushed, not fenced: the record's persist below fences both.
  if (pad >= RECORD_HEADER) writePad(region, ring, seal, pad, lsn, 0, SEAL_FLUSH);
  // The one ordering point: sealing with persist fences the record, and
  // the pad record flushed before it, so the append is durable on return.
  writeRecord(region, ring.start + pos, seal, lsn, TYPE_DATA, 0, len, record, SEAL_PERSIST);
  tail.nextLsn = lsn + 1;
  tail.pos = ring.next(pos, span);
  tail.used += pad + span;
  skipGap(ring, tail);
  return lsn;
}

/**
 * A tail too close to the ring's end for a record header steps over the
 * gap to 0 at once, counting it as used, as recovery does: the next record
 * goes where it would have gone, and the writer and a reopen agree on the
 * tail and on `used`.
 */
function skipGap(ring: Ring, tail: Tail): void {
  const gap = ring.gap(tail.pos);
  if (gap === 0) return;
  tail.used += gap;
  tail.pos = ring.next(tail.pos, gap);
}

/**
 * Appends records (two or more, snapshotted, of the checked `lengths`) as
 * one group commit: one ordering point for the whole batch. Durable when it
 * returns; `tail` moves only then. After a crash during the call, recovery
 * finds a prefix of the batch (possibly empty).
 * @throws PmemError ERR_PMEM_NO_SPACE when the batch does not fit (nothing
 *   is written)
 */
export function appendRecords(
  region: Region, ring: Ring, seal: RecordSeal, tail: Tail, items: ReadonlyArray<Uint8Array | string>, lengths: readonly number[],
): number[] {
  const n = items.length;
  if (tail.nextLsn + n - 1 > LAST_LSN) throw noLsns(tail, n);
  // Plan positions first, so a batch that does not fit writes nothing.
  let pos = tail.pos;
  let used = tail.used;
  const at = new Array<number>(n);
  const pads = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const span = Ring.span(lengths[i]);
    const pad = ring.padBefore(pos, span);
    if (used + pad + span > ring.size) throw noSpace(tail, ring);
    pos = ring.next(pos, pad);
    at[i] = pos;
    pads[i] = pad;
    used += pad + span;
    pos = ring.next(pos, span);
  }

  // Each record's header is stored here, a string's payload too; then
  // one sealRecords call copies the other payloads, stores every checksum
  // and flushes every record, each line once after its last store (records
  // that follow each other share their lines' flushes; the run before a
  // wrap is flushed before the records at the ring's start), and fences
  // once. A crash before the fence leaves any subset of the batch's lines;
  // recovery keeps the valid prefix, and checksums reject torn records.
  const start = ring.start;
  const b = region.bytes;
  let table = seal.table;
  if (table.length < 3 * (n + 1)) table = seal.table = new Float64Array(3 * (n + 1) * 2); // at most one pad: the batch fits the ring
  const lsns = new Array<number>(n);
  let lsn = tail.nextLsn;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const pad = pads[i];
    if (pad >= RECORD_HEADER) {
      // The pad record: its checksum covers its header only, and its body
      // is not written, so only its header is flushed.
      const padAt = start + ring.size - pad;
      writeHeader(b, padAt, seal, lsn, TYPE_PAD, i, pad - RECORD_HEADER);
      table[3 * k] = padAt;
      table[3 * k + 1] = padAt + RECORD_HEADER;
      table[3 * k + 2] = -1;
      k++;
    }
    const rec = start + at[i];
    const len = lengths[i];
    const item = items[i];
    writeHeader(b, rec, seal, lsn, TYPE_DATA, i, len);
    if (typeof item === 'string') b.write(item, rec + RECORD_HEADER, len, 'utf8');
    table[3 * k] = rec;
    table[3 * k + 1] = rec + RECORD_HEADER + len;
    table[3 * k + 2] = typeof item === 'string' ? -1 : i;
    k++;
    lsns[i] = lsn++;
  }
  if (seal.ownChecksum === undefined) {
    // The one ordering point: every record of the batch is durable after it.
    sealRecords(region, table, k, seal.salt, true, items);
  } else {
    // A subclass's checksum, computed here: the same stores, flushes and fence.
    const own = seal.ownChecksum;
    for (let j = 0; j < k; j++) {
      const rec = table[3 * j];
      const i = table[3 * j + 2];
      if (i !== -1) b.set(items[i] as Uint8Array, rec + RECORD_HEADER);
      b.writeUInt32LE(own(b, rec, table[3 * j + 1] - rec - RECORD_HEADER, seal.salt), rec);
    }
    flushRecords(region, table, k);
    region.drain();
  }

  tail.nextLsn = lsn;
  tail.pos = pos;
  tail.used = used;
  skipGap(ring, tail);
  return lsns;
}

/**
 * The last LSN a record may take: the one after it, which the tail then
 * holds, is still a safe integer. Past it `lsn + 1` would stop counting,
 * and records would share LSNs that recovery cannot tell apart. At a
 * million appends a second it is reached in 285 years; a header edited
 * near it reaches it sooner.
 */
const LAST_LSN = Number.MAX_SAFE_INTEGER - 1;

function noLsns(tail: Tail, n: number): PmemError {
  return new PmemError('ERR_PMEM_NO_SPACE', `the log has no LSNs left for ${n} more record${n === 1 ? '' : 's'}: ` +
    `the next would be ${tail.nextLsn}, and the last it may give is 2^53 - 2; copy its records to a new log`);
}

function noSpace(tail: Tail, ring: Ring): PmemError {
  return new PmemError('ERR_PMEM_NO_SPACE', `log is full: ${tail.used} of ${ring.size} bytes used; truncate it`);
}

/**
 * A pad record fills the `pad` bytes at the end of the ring and tells
 * recovery to continue at its start. Never fenced here: the fence of the
 * append that wraps orders it.
 */
function writePad(region: Region, ring: Ring, seal: RecordSeal, pad: number, lsn: number, batchIndex: number, s: Seal): void {
  writeRecord(region, ring.start + ring.size - pad, seal, lsn, TYPE_PAD, batchIndex, pad - RECORD_HEADER, undefined, s);
}
