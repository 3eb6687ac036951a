// The final merge cut into key ranges for several threads: splitter
// records sampled from the runs, each splitter's place in every run found
// by binary search, and so each range's part of every run and its byte
// offset in the output. Records the merge's order calls equal fall in one
// range, so the ranges' merges laid end to end are the one merge's output.
import { PmemError } from '../core/errors';
import { openRun } from './sources';
import { indexOfByte, lastIndexOfByte, type RecordOrder } from './records';

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
  // Searched back no further than lo.
  return lo + lastIndexOfByte((buf as Buffer).subarray(lo, pos), NL, pos - lo - 1) + 1;
}

function recordEnd(buf: Uint8Array, start: number, recordSize: number): number {
  if (recordSize > 0) return start + recordSize;
  const e = indexOfByte(buf, NL, start);
  // Every line of a run ends with a newline; without one the search below
  // could not move forward.
  if (e < start) throw new PmemError('ERR_PMEM_CORRUPT', `a run has no newline after its byte ${start}`);
  return e;
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

/** Calls `use` with run i's bytes, mapped for the call only. */
function withRun<T>(run: RunSpan, use: (buf: Buffer) => T): T {
  const m = openRun(run.path);
  try {
    return use(m.bytes as Buffer);
  } finally {
    m.close();
  }
}

/**
 * Cuts what is left of `runs` (each from its cursor) into at most `count`
 * key ranges, the first at output offset `outputOffset`. Ranges may be
 * empty; every record is in exactly one. Each run is mapped in turn (a
 * read fault maps the pages around it too: all runs mapped at once would
 * hold them all in the process's RSS).
 */
export function partitionRuns(runs: RunSpan[], order: RecordOrder, count: number, outputOffset: number): Partition[] {
  const rs = order.format.recordSize;
  const samples: Buffer[] = [];
  for (const r of runs) {
    if (r.end <= r.start) continue;
    withRun(r, (buf) => {
      const n = count * OVERSAMPLE;
      for (let k = 1; k <= n; k++) {
        const start = recordAt(buf, r.start, r.start + Math.floor(((r.end - r.start) * k) / (n + 1)), rs);
        samples.push(Buffer.from(buf.subarray(start, recordEnd(buf, start, rs))));
      }
    });
  }
  samples.sort((a, b) => order.compare(a, 0, a.length, b, 0, b.length));
  const splitters: Buffer[] = [];
  for (let k = 1; k < count && samples.length > 0; k++) splitters.push(samples[Math.floor((k * samples.length) / count)]);
  /** cuts[i][j]: where range j starts in run i, and cuts[i][count] its end (starts only move forward). */
  const cuts = runs.map((r) => {
    if (r.end <= r.start) return [r.start, ...splitters.map(() => r.end), r.end];
    return withRun(r, (buf) => {
      const at = [r.start];
      for (const key of splitters) at.push(lowerBound(buf, at[at.length - 1], r.end, key, order));
      at.push(r.end);
      return at;
    });
  });
  const out: Partition[] = [];
  let at = outputOffset;
  for (let j = 0; j <= splitters.length; j++) {
    const spans = runs.map((r, i) => ({ path: r.path, start: cuts[i][j], end: cuts[i][j + 1] }));
    const bytes = spans.reduce((n, x) => n + x.end - x.start, 0);
    out.push({ spans, outputOffset: at, bytes });
    at += bytes;
  }
  return out;
}
