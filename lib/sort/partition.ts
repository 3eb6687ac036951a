// The final merge cut into key ranges for several threads: splitter
// records sampled from the runs, each splitter's place in every run found
// by binary search, and so each range's part of every run and its byte
// offset in the output. Records the merge's order calls equal fall in one
// range, so the ranges' merges laid end to end are the one merge's output.
//
// The runs are read with pread(2), a block at a time, never mapped: a
// mapping made costs native memory and page-table work, and a read fault
// maps the pages around it too. What the partition holds is bounded
// whatever the records, by a sixteenth of the budget for the samples and
// as much for a read.
import * as fs from 'node:fs';

import { PmemError } from '../core/errors';
import { endedShort, openRunFile } from './sources';
import type { RecordOrder } from './records';

const NL = 10;
/** Samples per range, over all the runs: their quantiles are the splitters. */
const SAMPLES_PER_RANGE = 64;
/** Samples in all, at most. */
const MAX_SAMPLES = 16384;
/**
 * A sample's bytes at most, and at least where the budget is small (a
 * binary record's key at least): a longer text line is cut. Any bytes are
 * a line the merge's order places, so a cut sample is still a splitter
 * every run is cut at alike; only the ranges' sizes may differ more.
 */
const SAMPLE_BYTES = 1024;
const MIN_SAMPLE_BYTES = 64;
/** A read, at least. */
const BLOCK = 4096;
/**
 * Bytes between two record starts that a splitter's search reads at once,
 * instead of probing halves, at most (and a sixteenth of the budget at most).
 */
const CUT_WINDOW = 64 * 1024;

/** A run as the merge reads it: from its cursor to its end. */
export interface RunSpan {
  path: string;
  start: number;
  end: number;
}

/**
 * One key range: its part of every run, and where its records go in the
 * output. Its part of run i is [starts[i], ends[i]): two arrays, not an
 * object per run (a merge of 543 runs in 65 ranges would hold 35,295 of
 * them, and copy them to the thread of each range).
 */
export interface Partition {
  starts: Float64Array;
  ends: Float64Array;
  /** The output's byte offset of its first record. */
  outputOffset: number;
  /** The bytes of records it holds (its output, when no record is dropped). */
  bytes: number;
}

/**
 * The run files, one at a time, read with pread(2) into one reusable
 * buffer, which keeps the last bytes read for the reads that follow
 * within them. No view is made for a read: the partition's reads number in
 * the hundreds of thousands, and the garbage of as many views grows the
 * young generation, resident, to its most.
 */
class RunReader {
  buf = Buffer.allocUnsafe(BLOCK);
  #path = '';
  #fd = -1;
  /** The run's end: nothing past it is read. */
  #end = 0;
  /** buf[0, #filled) holds the run's bytes from #at. */
  #at = 0;
  #filled = 0;

  get path(): string {
    return this.#path;
  }

  /**
   * Calls `use` with the run file at `path` open; it must hold `end` bytes.
   * @throws PmemError ERR_PMEM_CORRUPT for a run file missing, or shorter than `end`
   */
  with<T>(path: string, end: number, use: () => T): T {
    this.#fd = openRunFile(path);
    this.#path = path;
    this.#end = end;
    this.#filled = 0;
    try {
      const size = fs.fstatSync(this.#fd).size;
      if (size < end) throw new PmemError('ERR_PMEM_CORRUPT', `run '${path}' holds ${size} bytes, the checkpoint says ${end}`, { path });
      return use();
    } finally {
      fs.closeSync(this.#fd);
      this.#fd = -1;
      this.#filled = 0;
    }
  }

  /**
   * Has the run's bytes [from, to) in `buf` (a block at least, where the
   * run has one), and returns where `from` is in it: valid until the next
   * call.
   */
  load(from: number, to: number): number {
    if (from >= this.#at && to <= this.#at + this.#filled) return from - this.#at;
    const len = Math.max(to, Math.min(this.#end, from + BLOCK)) - from;
    if (len > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(len, 2 * this.buf.length));
    this.#filled = 0;
    let n = 0;
    while (n < len) {
      const r = fs.readSync(this.#fd, this.buf, n, len - n, from + n);
      // The reads keep within the run's end, which `with` found in the file: it was cut since.
      if (r === 0) throw endedShort(this.#path, from + n, this.#end);
      n += r;
    }
    this.#at = from;
    this.#filled = len;
    return 0;
  }

  /** The first newline at or after `from` and before `end`, or -1. */
  newline(from: number, end: number): number {
    let at = from;
    while (at < end) {
      const o = this.load(at, at + 1);
      const stop = Math.min(this.#filled, end - this.#at);
      const i = this.buf.indexOf(NL, o);
      if (i >= 0 && i < stop) return this.#at + i;
      at = this.#at + stop;
    }
    return -1;
  }

  /** The last newline at or before `from` and at or after `floor`, or -1. */
  lastNewline(from: number, floor: number): number {
    let at = from;
    while (at >= floor) {
      const start = Math.max(floor, at + 1 - BLOCK);
      const o = this.load(start, at + 1);
      const i = this.buf.lastIndexOf(NL, o + at - start);
      if (i >= o) return start + i - o;
      at = start - 1;
    }
    return -1;
  }

  /**
   * The end of the record at `start`, before `limit` (a record's start, or
   * the run's end): a text line's newline.
   * @throws PmemError ERR_PMEM_CORRUPT for a line with no newline before `limit`
   */
  recordEnd(start: number, limit: number, recordSize: number): number {
    if (recordSize > 0) return start + recordSize;
    const e = this.newline(start, limit);
    // Every line of a run ends with a newline.
    if (e < 0) throw new PmemError('ERR_PMEM_CORRUPT', `run '${this.#path}' has no newline after its byte ${start}`, { path: this.#path });
    return e;
  }
}

/** Sampled records (or their first bytes), their bytes end to end in one buffer. */
class Samples {
  #bytes = Buffer.allocUnsafe(BLOCK);
  #used = 0;
  /** Sample i is #bytes[#ends[i], #ends[i + 1]). */
  readonly #ends: Uint32Array;
  length = 0;

  constructor(most: number) {
    this.#ends = new Uint32Array(most + 1);
  }

  /** Adds buf[start, end). */
  add(buf: Buffer, start: number, end: number): void {
    const len = end - start;
    if (this.#used + len > this.#bytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.#bytes.length, this.#used + len));
      this.#bytes.copy(bigger, 0, 0, this.#used);
      this.#bytes = bigger;
    }
    buf.copy(this.#bytes, this.#used, start, end);
    this.#used += len;
    this.#ends[++this.length] = this.#used;
  }

  /** The samples' indexes in the merge's order. */
  sorted(order: RecordOrder): Uint32Array {
    const b = this.#bytes;
    const at = this.#ends;
    const index = new Uint32Array(this.length);
    for (let i = 0; i < index.length; i++) index[i] = i;
    return index.sort((x, y) => order.compare(b, at[x], at[x + 1], b, at[y], at[y + 1]));
  }

  /** Sample i, as a buffer of its own. */
  get(i: number): Buffer {
    return Buffer.from(this.#bytes.subarray(this.#ends[i], this.#ends[i + 1]));
  }
}

/**
 * Adds `n` records of run `r` to `samples`, spread evenly over it, the
 * first `phase` (0 to 1) of a step in: for text, the line that starts at or
 * after each of n evenly spaced bytes, each cut to `cap` bytes; with fewer
 * lines than n, fewer samples. A run is read at most once through, however
 * long its lines.
 *
 * Runs formed from the same input hold much the same keys: samples at the
 * same places in every run would be the same few quantiles of it over and
 * over, and the splitters between them would cut empty ranges and a few
 * huge ones. Each run's phase differs, so that together they sample every
 * quantile.
 */
function sampleRun(r: RunSpan, reader: RunReader, n: number, phase: number, samples: Samples, order: RecordOrder, cap: number): void {
  const rs = order.format.recordSize;
  const len = r.end - r.start;
  /** Bytes before this hold no newline not already passed: the next line's search starts here at the earliest. */
  let scanned = r.start;
  let last = -1;
  for (let k = 0; k < n; k++) {
    const pos = r.start + Math.floor((len / n) * (k + phase));
    let s: number;
    if (rs > 0) {
      s = r.start + Math.floor((pos - r.start) / rs) * rs;
      if (s <= last) continue;
    } else if (pos === r.start) {
      s = r.start;
    } else {
      // From the last sample's end at the earliest: each search ends at a
      // newline past it, so no byte of a long line is searched twice.
      const nl = reader.newline(Math.max(pos - 1, scanned), r.end);
      if (nl < 0 || nl + 1 >= r.end) break;
      s = nl + 1;
    }
    // The sample: the record's first `cap` bytes (a text line's, without its newline).
    let e: number;
    if (rs > 0) {
      e = s + Math.min(rs, cap);
    } else {
      const nl = reader.newline(s, Math.min(r.end, s + cap + 1));
      e = nl >= 0 ? nl : Math.min(r.end, s + cap);
      scanned = e;
    }
    const o = reader.load(s, e);
    samples.add(reader.buf, o, o + e - s);
    last = s;
  }
}

/**
 * Finds where a splitter cuts a run: the first record in [lo, hi) (lo and
 * hi record starts, or hi the run's end) not before the key in the merge's
 * order, or hi when none. Probes one record at a time, galloping from lo
 * (the splitters come in order, each about a range's share of the run past
 * the one before) and then halving, until `window` bytes are left; those
 * are read and searched in memory. One object for every search, with no
 * closure made per search: there are tens of thousands.
 */
class Cut {
  readonly #reader: RunReader;
  readonly #order: RecordOrder;
  readonly #rs: number;
  readonly #window: number;
  #key: Buffer = Buffer.alloc(0);
  #lo = 0;
  #hi = 0;

  constructor(reader: RunReader, order: RecordOrder, window: number) {
    this.#reader = reader;
    this.#order = order;
    this.#rs = order.format.recordSize;
    this.#window = window;
  }

  find(lo: number, hi: number, key: Buffer): number {
    this.#lo = lo;
    this.#hi = hi;
    this.#key = key;
    const window = this.#window;
    for (let step = window; this.#hi - this.#lo > window && this.#lo + step < this.#hi; step *= 2) {
      const was = this.#hi;
      this.#probe(this.#lo + step);
      if (this.#hi !== was) break;
    }
    while (this.#hi - this.#lo > window) this.#probe(this.#lo + Math.floor((this.#hi - this.#lo) / 2));
    return this.#inMemory();
  }

  /** Whether the record [s, e) comes before the key. */
  #before(s: number, e: number): boolean {
    const reader = this.#reader;
    const o = reader.load(s, e);
    return this.#order.compare(reader.buf, o, o + e - s, this.#key, 0, this.#key.length) < 0;
  }

  /**
   * Compares the record that starts at p or after (p in (lo, hi)); when
   * none does before hi, the one that holds p - 1, the last before hi.
   * Moves lo past it when it comes before the key, else hi to it.
   */
  #probe(p: number): void {
    const reader = this.#reader;
    const rs = this.#rs;
    const lo = this.#lo;
    const hi = this.#hi;
    if (rs > 0) {
      const s = lo + Math.floor((p - lo) / rs) * rs;
      if (this.#before(s, s + rs)) this.#lo = s + rs;
      else this.#hi = s;
      return;
    }
    const nl = reader.newline(p - 1, hi);
    // The line before hi ends at hi - 1.
    if (nl < 0) throw new PmemError('ERR_PMEM_CORRUPT', `run '${reader.path}' has no newline before its byte ${hi}`, { path: reader.path });
    const s = nl + 1;
    if (s < hi) {
      const e = reader.recordEnd(s, hi, rs);
      if (this.#before(s, e)) this.#lo = e + 1;
      else this.#hi = s;
      return;
    }
    const t = Math.max(lo, reader.lastNewline(p - 2, lo) + 1);
    if (this.#before(t, hi - 1)) this.#lo = hi;
    else this.#hi = t;
  }

  /** The search's end: [lo, hi) read, and searched in memory. */
  #inMemory(): number {
    const lo = this.#lo;
    const hi = this.#hi;
    if (lo >= hi) return hi;
    const reader = this.#reader;
    const rs = this.#rs;
    const key = this.#key;
    const base = reader.load(lo, hi);
    const buf = reader.buf;
    const limit = base + hi - lo;
    let a = base;
    let b = limit;
    while (a < b) {
      // A record that starts in [a, mid]: before b, so each step shrinks the range.
      const mid = a + Math.floor((b - a) / 2);
      const s = rs > 0 ? a + Math.floor((mid - a) / rs) * rs : mid <= a ? a : Math.max(a, buf.lastIndexOf(NL, mid - 1) + 1);
      let e = s + rs;
      if (rs === 0) {
        e = buf.indexOf(NL, s);
        // Every record before hi ends before it.
        if (e < 0 || e >= limit) {
          throw new PmemError('ERR_PMEM_CORRUPT', `run '${reader.path}' has no newline after its byte ${lo + s - base}`, { path: reader.path });
        }
      }
      if (this.#order.compare(buf, s, e, key, 0, key.length) < 0) a = e + (rs > 0 ? 0 : 1);
      else b = s;
    }
    return lo + a - base;
  }
}

/**
 * Cuts what is left of `runs` (each from its cursor) into at most `count`
 * key ranges, the first at output offset `outputOffset`, holding about an
 * eighth of `memory` (the budget) at most while it does: its samples a
 * sixteenth (and a sample more for each run), a read as much. Ranges may
 * be empty; every record is in exactly one.
 * @throws PmemError ERR_PMEM_CORRUPT for a run file missing, shorter than
 *   the checkpoint says, or a text run with a line not ended by a newline
 */
export function partitionRuns(runs: RunSpan[], order: RecordOrder, count: number, outputOffset: number, memory: number): Partition[] {
  const f = order.format;
  const total = runs.reduce((n, r) => n + Math.max(0, r.end - r.start), 0);
  const share = Math.max(BLOCK, Math.floor(memory / 16));
  // Samples of up to SAMPLE_BYTES within the share, cut shorter (to
  // MIN_SAMPLE_BYTES) before they are fewer; a binary record's sample
  // holds its key whole.
  let most = Math.min(MAX_SAMPLES, count * SAMPLES_PER_RANGE);
  const text = Math.max(MIN_SAMPLE_BYTES, Math.min(SAMPLE_BYTES, Math.floor(share / most)));
  const cap = f.recordSize > 0 ? Math.min(f.recordSize, Math.max(text, f.keyOffset + f.keyLength)) : text;
  most = Math.max(1, Math.min(most, Math.floor(share / cap)));
  const reader = new RunReader();
  // Each run's share of the samples, by its length (one at least); the sum may pass `most` by one a run.
  const shares = runs.map((r) => (r.end > r.start ? Math.max(1, Math.round((most * (r.end - r.start)) / total)) : 0));
  const samples = new Samples(shares.reduce((n, s) => n + s, 0));
  runs.forEach((r, i) => {
    // Phases spread by the golden ratio: any number of runs covers [0, 1) about evenly.
    const phase = ((i + 1) * 0.6180339887498949) % 1;
    if (shares[i] > 0) reader.with(r.path, r.end, () => sampleRun(r, reader, shares[i], phase, samples, order, cap));
  });
  const sorted = samples.sorted(order);
  const splitters: Buffer[] = [];
  for (let k = 1; k < count && sorted.length > 0; k++) splitters.push(samples.get(sorted[Math.floor((k * sorted.length) / count)]));
  /** cuts[i][j]: where range j starts in run i, and cuts[i][count] its end (starts only move forward). */
  const cut = new Cut(reader, order, Math.min(CUT_WINDOW, share));
  const cuts = runs.map((r) => {
    if (r.end <= r.start) return [r.start, ...splitters.map(() => r.end), r.end];
    return reader.with(r.path, r.end, () => {
      const at = [r.start];
      for (const key of splitters) at.push(cut.find(at[at.length - 1], r.end, key));
      at.push(r.end);
      return at;
    });
  });
  const out: Partition[] = [];
  let at = outputOffset;
  for (let j = 0; j <= splitters.length; j++) {
    const starts = new Float64Array(runs.length);
    const ends = new Float64Array(runs.length);
    let bytes = 0;
    for (let i = 0; i < runs.length; i++) {
      starts[i] = cuts[i][j];
      ends[i] = cuts[i][j + 1];
      bytes += ends[i] - starts[i];
    }
    out.push({ starts, ends, outputOffset: at, bytes });
    at += bytes;
  }
  return out;
}
