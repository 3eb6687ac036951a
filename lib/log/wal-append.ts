// How the write-ahead log's appends are placed and made durable: a single
// record with its own fence, and a batch planned whole (so one that does not
// fit writes nothing), written in flushed runs and ordered by one drain.
// This is the log's hot path and its ordering argument, kept apart from the
// API's checks (wal.ts); placement is the ring's (wal-ring.ts), the bytes
// the record format's (wal-record.ts).
import { PmemError } from '../core/errors';
import type { Region } from '../core/region';
import { RECORD_HEADER, type RecordSeal, SEAL_FLUSH, SEAL_NONE, SEAL_PERSIST, type Seal, TYPE_DATA, TYPE_PAD, writeRecord } from './wal-record';
import { Ring } from './wal-ring';

// Records of a batch from this length on are sealed one by one (see
// appendRecords); shorter ones are written and flushed as one run. Where a
// flush is a cache-line write-back, sealing alone wins from 2 KiB (its
// whole lines go out as streaming stores, unflushed); where a flush is an
// msync, one msync per sealed record costs more than the run's one until
// 16 KiB. The measurements are in docs/bench.md, "Measurements behind
// design choices".
const SEAL_ALONE_MIN = 2048;
const SEAL_ALONE_MIN_MSYNC = 16384;

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
  return lsn;
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

  const lsns = new Array<number>(n);
  let lsn = tail.nextLsn;
  // Short records are flushed as runs: the batch occupies one stretch of
  // the ring, or two when it wraps, and each is flushed once, not each
  // record (a store to a line whose flush is in flight waits for it, and
  // neighbours share lines). A long record ends a run and seals itself.
  // Flush only: the single drain below orders them all.
  const start = ring.start;
  let runStart = tail.pos;
  const sealAlone = region.granularity === 'page' ? SEAL_ALONE_MIN_MSYNC : SEAL_ALONE_MIN;
  for (let i = 0; i < n; i++) {
    const pad = pads[i];
    // The ring wraps before record i: after a pad, or with none when the
    // record before ended exactly at the ring's end.
    if (pad > 0 || (i > 0 && at[i] === 0)) {
      // The run before the wrap is flushed here, before the run starts
      // again at 0: the drain below orders only what was flushed, so
      // without this flush the records of the batch before the wrap
      // (acknowledged when it returns) could be lost to a crash after it.
      // It ends at the pad record's header: the pad's body is not written
      // (its checksum covers the header only), so its lines are not flushed.
      let runEnd = ring.size - pad;
      if (pad >= RECORD_HEADER) {
        writePad(region, ring, seal, pad, lsn, i, SEAL_NONE);
        runEnd += RECORD_HEADER;
      }
      if (runEnd > runStart) region.flush(start + runStart, runEnd - runStart);
      runStart = 0;
    }
    if (lengths[i] >= sealAlone) {
      // A long record is sealed on its own, like a single append but
      // without the fence: its whole lines go out as streaming stores,
      // which need no flush, and its partial first and last lines are
      // flushed. The run before it is flushed first, but not the unit
      // (line, or page where a flush is an msync) that it shares with the
      // record's start: the seal flushes that one after the record's
      // header is stored in it, which covers the run's bytes there too.
      // The run starts again at the next record; the drain below orders
      // it with the rest.
      const runEnd = unitFloor(region, start + at[i]) - start;
      if (runEnd > runStart) region.flush(start + runStart, runEnd - runStart);
      writeRecord(region, start + at[i], seal, lsn, TYPE_DATA, i, lengths[i], items[i], SEAL_FLUSH);
      // The next record's start, not this one's end: the padding between
      // them is not written, and flushing it alone would flush the line
      // the seal just flushed. When the next record starts in that line,
      // the run's flush of it comes after its bytes are stored there, as
      // it must (a flush does not cover stores made after it).
      runStart = at[i] + Ring.span(lengths[i]);
    } else {
      writeRecord(region, start + at[i], seal, lsn, TYPE_DATA, i, lengths[i], items[i], SEAL_NONE);
    }
    lsns[i] = lsn++;
  }
  // The last run, up to the last record's end: flushed for the drain below.
  const runEnd = at[n - 1] + RECORD_HEADER + lengths[n - 1];
  if (runEnd > runStart) region.flush(start + runStart, runEnd - runStart);
  // The one ordering point: every record of the batch is durable after it.
  // A crash before it leaves any subset of the batch's lines; recovery
  // keeps the valid prefix, and checksums reject torn records.
  region.drain();

  tail.nextLsn = lsn;
  tail.pos = pos;
  tail.used = used;
  return lsns;
}

/** `offset` rounded down to the region's unit of write-back: a page where a flush is an msync, else a line. */
function unitFloor(region: Region, offset: number): number {
  const unit = region.granularity === 'page' ? 4096 : 64;
  return Math.floor(offset / unit) * unit;
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
