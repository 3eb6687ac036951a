// The final merge cut into key ranges for several threads: splitter
// records sampled from the runs, each splitter's place in every run found
// by binary search, and so each range's part of every run and its byte
// offset in the output. Records the merge's order calls equal fall in one
// range, so the ranges' merges laid end to end are the one merge's output.
import { openMapping, type Mapping } from '../core/mapping';
import type { RecordOrder } from './records';

const NL = 10;
/** Samples per range per run. */
const OVERSAMPLE = 4;

/** A run as the merge reads it: from its cursor to its end. */
export interface RunSpan {
  path: string;
  start: number;
  end: number;
}

/** One key range: its part of every run, and where its records go in the output. */
export interface Partition {
  spans: RunSpan[];
  /** The output's byte offset of its first record. */
  outputOffset: number;
  /** The bytes of records it holds (its output, when no record is dropped). */
  bytes: number;
}

/** The record that holds byte `pos` of a run: its start, not before `lo`. */
function recordAt(buf: Uint8Array, lo: number, pos: number, recordSize: number): number {
  if (recordSize > 0) return lo + Math.floor((pos - lo) / recordSize) * recordSize;
  if (pos <= lo) return lo;
  return Math.max(lo, (buf as Buffer).lastIndexOf(NL, pos - 1) + 1);
}

function recordEnd(buf: Uint8Array, start: number, recordSize: number): number {
  return recordSize > 0 ? start + recordSize : (buf as Buffer).indexOf(NL, start);
}

/** The first record in [lo, hi) (record starts) not before `key` in the merge's order; hi when none. */
function lowerBound(buf: Uint8Array, lo: number, hi: number, key: Buffer, order: RecordOrder): number {
  const rs = order.format.recordSize;
  while (lo < hi) {
    // A record that starts in [lo, mid]: before hi, so each step shrinks the range.
    const s = recordAt(buf, lo, lo + Math.floor((hi - lo) / 2), rs);
    const e = recordEnd(buf, s, rs);
    if (order.compare(buf, s, e, key, 0, key.length) < 0) lo = e + (rs > 0 ? 0 : 1);
    else hi = s;
  }
  return lo;
}

/**
 * Cuts what is left of `runs` (each from its cursor) into at most `count`
 * key ranges, the first at output offset `outputOffset`. Ranges may be
 * empty; every record is in exactly one.
 */
export function partitionRuns(runs: RunSpan[], order: RecordOrder, count: number, outputOffset: number): Partition[] {
  const rs = order.format.recordSize;
  const maps: (Mapping | null)[] = [];
  try {
    for (const r of runs) maps.push(r.end > r.start ? openMapping(r.path, { readOnly: true }) : null);
    const samples: { run: number; start: number; end: number }[] = [];
    runs.forEach((r, i) => {
      const m = maps[i];
      if (m === null) return;
      const n = count * OVERSAMPLE;
      for (let k = 1; k <= n; k++) {
        const start = recordAt(m.bytes, r.start, r.start + Math.floor(((r.end - r.start) * k) / (n + 1)), rs);
        samples.push({ run: i, start, end: recordEnd(m.bytes, start, rs) });
      }
    });
    const bytesOf = (i: number): Buffer => (maps[i] as Mapping).bytes as Buffer;
    samples.sort((a, b) => order.compare(bytesOf(a.run), a.start, a.end, bytesOf(b.run), b.start, b.end));
    // Splitters copied out: the maps go before the merge.
    const splitters: Buffer[] = [];
    for (let k = 1; k < count && samples.length > 0; k++) {
      const s = samples[Math.floor((k * samples.length) / count)];
      splitters.push(Buffer.from(bytesOf(s.run).subarray(s.start, s.end)));
    }
    /** cuts[j][i]: where range j starts in run i (ranges' starts only move forward). */
    const cuts: number[][] = [runs.map((r) => r.start)];
    for (const key of splitters) {
      const before = cuts[cuts.length - 1];
      cuts.push(runs.map((r, i) => (maps[i] === null ? r.end : lowerBound(bytesOf(i), before[i], r.end, key, order))));
    }
    cuts.push(runs.map((r) => r.end));
    const out: Partition[] = [];
    let at = outputOffset;
    for (let j = 0; j + 1 < cuts.length; j++) {
      const spans = runs.map((r, i) => ({ path: r.path, start: cuts[j][i], end: cuts[j + 1][i] }));
      const bytes = spans.reduce((n, s) => n + s.end - s.start, 0);
      out.push({ spans, outputOffset: at, bytes });
      at += bytes;
    }
    return out;
  } finally {
    for (const m of maps) m?.close();
  }
}
