// Run formation: a chunk of input read into DRAM within the memory budget,
// sorted there, and written to a run file on PMem through a Region, durable
// before the checkpoint names it.
import * as fs from 'node:fs';

import { PmemError } from '../core/errors';
import { openMapping, type Mapping } from '../core/mapping';
import { PREFIX_BIAS, viewOf, type RecordOrder } from './records';

/** Records per run at most. */
export const MAX_RUN_RECORDS = 2 ** 21;
/** DRAM per record for the run's table: its prefix (two words), start and end. */
const PER_RECORD = 16;
/** Bytes (and records) a part of run buffers sized to a small input holds at least (RunBuffers.of). */
const MIN_PART = 64 * 1024;
/** Words per record in RunBuffers.records. */
const W = 4;
/** Buckets of a radix pass: one key byte. */
const BUCKETS = 256;
/** Key bytes in a prefix pair (two words): radix passes at most. */
const PREFIX_BYTES = 8;
const NL = 10;

/** What the sort that met an error no resume gets past tells the user to do next (see deadEnd). */
const deadEnds = new WeakMap<Error, string>();

/**
 * Marks `e` as an error that no resume with the same options gets past:
 * one about the input itself (a line too long for the budget, which a
 * resume meets again at the same byte; an input that changed while it was
 * sorted, which the checkpoint's description of it no longer matches). The
 * sort that meets one removes its work, so that it leaves no checkpoint to
 * refuse the next sort with (finish.ts, abandonWork); `next` says what to do
 * then ("give it a larger memory budget"). Returns `e`.
 */
export function deadEnd(e: PmemError, next: string): PmemError {
  deadEnds.set(e, next);
  return e;
}

/** What to do after `e`, when deadEnd marked it; else undefined. */
export function afterDeadEnd(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? deadEnds.get(e as Error) : undefined;
}

/**
 * How a run formation spends the budget: 40% on the input chunk, 15% on the
 * record tables, and the run file's mapping, as large as the chunk, while it
 * is written (its touched pages count in the process's RSS).
 */
export function runInputBytes(memory: number): number {
  return Math.floor(memory * 0.4);
}

/** Records per run under a `memory` budget. */
export function maxRunRecords(memory: number): number {
  return Math.max(1, Math.min(MAX_RUN_RECORDS, Math.floor((memory * 0.15) / PER_RECORD)));
}

/**
 * The DRAM a run formation holds: the input chunk and its record table.
 * Parallel run formation splits one budget's buffers into parts (see
 * `part`), one per thread, over shared memory: the threads together hold
 * what one would.
 */
export class RunBuffers {
  readonly input: Buffer;
  readonly inputView: DataView;
  /**
   * Record i is records[4i, 4i + 4): its key prefix at the depth being
   * sorted, 8 bytes as two words (see RecordOrder.prefix), then its start
   * and end in `input` (a text line's newline left out). Sorting moves the
   * four words together, so that every pass reads the table in order.
   */
  readonly records: Uint32Array;
  /**
   * The radix passes' buckets, one set per prefix byte (a pass's buckets
   * stay in use while the passes under it run): their starts (and the
   * end) at [(BUCKETS + 1)·byte, ...), and where each fills next at
   * [BUCKETS·byte, ...).
   */
  readonly heads = new Uint32Array((BUCKETS + 1) * PREFIX_BYTES);
  readonly next = new Uint32Array(BUCKETS * PREFIX_BYTES);
  readonly maxRecords: number;
  /** What `input` is of the memory budget, for the error of a line too long for it. */
  readonly share: string;

  constructor(input: Buffer, records: Uint32Array, share = 'the input share (40%) of the memory budget') {
    this.input = input;
    this.share = share;
    this.inputView = viewOf(input);
    this.records = records;
    this.maxRecords = Math.floor(records.length / W);
  }

  /**
   * The buffers of a `memory` budget (see runInputBytes); in memory threads
   * share when `shared`. When the input's `holds` bytes fit each of `parts`
   * parts, no more is allocated than makes each part hold them (and their
   * records, at most one a byte), at least MIN_PART: a small input under a
   * large budget forms the same single run, without buffers its budget's
   * size (1.1 GiB under 2 GiB, which an allocator that fills what it hands
   * out, glibc's under MALLOC_PERTURB_, touches in full). `share` says
   * what `memory` is of the budget (see `share`).
   */
  static of(memory: number, shared = false, parts = 1, holds = Infinity, share?: string): RunBuffers {
    const part = Math.max(MIN_PART, holds + 1);
    const inputBytes = Math.min(runInputBytes(memory), parts * part);
    const tableBytes = 4 * W * Math.min(maxRunRecords(memory), parts * part);
    if (!shared) return new RunBuffers(Buffer.allocUnsafe(inputBytes), new Uint32Array(tableBytes / 4), share);
    return new RunBuffers(Buffer.from(new SharedArrayBuffer(inputBytes)), new Uint32Array(new SharedArrayBuffer(tableBytes)), share);
  }

  /** Part `i` of `n` equal parts of these buffers, as buffers of their own (over the same memory). */
  part(i: number, n: number): RunBuffers {
    const bytes = Math.floor(this.input.length / n);
    const records = Math.floor(this.maxRecords / n);
    return new RunBuffers(
      this.input.subarray(i * bytes, (i + 1) * bytes), this.records.subarray(W * i * records, W * (i + 1) * records), `1/${n} of ${this.share}`,
    );
  }
}

export interface FormedRun {
  /** Input bytes the run holds. */
  consumed: number;
  /** Records read. */
  records: number;
  /** Bytes written to the run file (text lines each end with a newline; `unique` drops duplicates). */
  length: number;
}

/** Fills `buf` from `fd` at `position`; returns the bytes read (fewer only at the end of the input). */
function readFull(fd: number, buf: Buffer, length: number, position: number): number {
  let n = 0;
  while (n < length) {
    const r = fs.readSync(fd, buf, n, length - n, position + n);
    if (r === 0) break;
    n += r;
  }
  return n;
}

/** A chunk of input in a RunBuffers, split into records: what `sortRun` sorts and writes. */
export interface SplitRun {
  /** Input bytes the run holds. */
  consumed: number;
  /** Records in the table. */
  records: number;
}

/**
 * Reads the input from `offset` (of `inputSize` bytes) into `bufs` and
 * splits it into records (the table's starts and ends). Returns null at the
 * end of the input. A text line that does not fit `bufs` gives a run of no
 * records (`sortRun` refuses it; parallel formation retries it in the whole
 * budget's buffers first).
 */
export function splitRun(fd: number, inputSize: number, offset: number, bufs: RunBuffers, order: RecordOrder): SplitRun | null {
  if (offset >= inputSize) return null;
  const f = order.format;
  const want = Math.min(bufs.input.length, inputSize - offset);
  const n = readFull(fd, bufs.input, want, offset);
  if (n < want) throw inputChanged(`the input shrank while it was sorted (${offset + n} of ${inputSize} bytes)`);
  const atEnd = offset + n === inputSize;
  const { input, records: t } = bufs;
  let count = 0;
  let consumed = 0;
  if (f.recordSize > 0) {
    count = Math.min(bufs.maxRecords, Math.floor(n / f.recordSize));
    for (let i = 0; i < count; i++) {
      t[W * i + 2] = i * f.recordSize;
      t[W * i + 3] = (i + 1) * f.recordSize;
    }
    consumed = count * f.recordSize;
  } else {
    // Newlines are searched for in the bytes read only: past them the
    // buffer holds an earlier run's bytes, or pages never touched, and a
    // search through them (for a last line without a newline) would fault
    // in the whole input chunk, 40% of the budget, for a few bytes of input.
    const read = input.subarray(0, n);
    let p = 0;
    while (p < n && count < bufs.maxRecords) {
      const nl = read.indexOf(NL, p);
      if (nl < 0 || nl >= n) {
        // No newline after p: the input's last line, or a line that does
        // not fit the buffer (when nothing came before it).
        if (atEnd) {
          t[W * count + 2] = p;
          t[W * count++ + 3] = n;
          p = n;
        }
        break;
      }
      t[W * count + 2] = p;
      t[W * count++ + 3] = nl;
      p = nl + 1;
    }
    consumed = p;
  }
  return { consumed, records: count };
}

/**
 * The error of an input that changed while it was sorted, or since the
 * checkpoint a resume found: ERR_PMEM_INVALID, a dead end (its InputId is
 * in the checkpoint's description, which a resume must match). `next` says
 * what to do then.
 */
export function inputChanged(message: string, path?: string, next = 'sort it again once it is no longer written'): PmemError {
  return deadEnd(new PmemError('ERR_PMEM_INVALID', message, path === undefined ? {} : { path }), next);
}

/**
 * Sorts the `split` records in `bufs` and writes them to a new file
 * `runPath` through a mapping: durable when it returns. Returns the run
 * file's length. `offset` is the run's input offset (for the error).
 * @throws PmemError ERR_PMEM_NO_MEMORY for a run of no records (a text line
 *   longer than the buffer); ERR_PMEM_NO_SPACE when the run file cannot be had
 */
export function sortRun(split: SplitRun, offset: number, bufs: RunBuffers, order: RecordOrder, runPath: string): number {
  const count = split.records;
  if (count === 0) {
    // A resume with the same budget meets the same line, and one with
    // another budget is refused as another sort's: the error is a dead end.
    throw deadEnd(
      new PmemError('ERR_PMEM_NO_MEMORY', `a line at input byte ${offset} does not fit, with its newline, in ${bufs.input.length} bytes, ${bufs.share}`),
      'sort it again with a larger memory budget',
    );
  }
  const f = order.format;
  const { input, records: t } = bufs;
  sortRecords(bufs, count, order);
  const kept = f.unique ? dropDuplicates(bufs, count, order) : count;
  const newline = f.recordSize > 0 ? 0 : 1;
  let length = 0;
  for (let i = 0; i < kept; i++) length += t[W * i + 3] - t[W * i + 2] + newline;
  writeRun(runPath, length, (m) => {
    // The records in sorted order, each line with its newline, streamed to
    // the run file and durable when copyRanges returns.
    const written = m.copyRanges(0, input, t.subarray(2), kept, W, newline > 0 ? NL : -1);
    if (written !== length) throw new Error(`a run wrote ${written} bytes, not the ${length} it was sized for`);
  });
  return length;
}

/**
 * Reads the input from `offset` into `bufs`, sorts it, and writes it to
 * `runPath` (splitRun, then sortRun): durable when it returns. Returns
 * null at the end of the input.
 * @throws PmemError ERR_PMEM_NO_MEMORY for a text line longer than the input
 *   chunk (40% of the budget); ERR_PMEM_NO_SPACE when the run file cannot be had
 */
export function formRun(fd: number, inputSize: number, offset: number, bufs: RunBuffers, order: RecordOrder, runPath: string): FormedRun | null {
  const split = splitRun(fd, inputSize, offset, bufs, order);
  if (split === null) return null;
  const length = sortRun(split, offset, bufs, order, runPath);
  return { consumed: split.consumed, records: split.records, length };
}

/**
 * Creates the run file at `path` (`length` bytes, reserved before it is
 * mapped) and lets `fill` write it: `fill` makes its bytes durable
 * (Mapping.copyRanges does). A file left at `path` by an interrupted run is
 * replaced.
 */
export function writeRun(path: string, length: number, fill: (m: Mapping) => void): void {
  fs.rmSync(path, { force: true });
  if (length === 0) {
    fs.closeSync(fs.openSync(path, 'w'));
    return;
  }
  const m = openMapping(path, { size: length, create: true, exclusive: true });
  try {
    // Every page is written by `fill`: faulted in by one call up front
    // instead of one fault per page as the stores reach it (the faults
    // cost about 15% of a run's formation with 100-byte records;
    // docs/bench.md).
    m.populate(0, length);
    // Every byte of the run durable before the checkpoint that names it is
    // published (fill's copyRanges persists what it writes); a crash before
    // then leaves a file no checkpoint names, which resume replaces.
    fill(m);
  } finally {
    m.close();
  }
}

/** Prefix depths (8 key bytes each) sorted by number before records are compared in full. */
const DEPTHS = 8;
/** Ranges this short are sorted by insertion. */
const SHORT = 16;
/** Ranges this long are distributed by a key byte (see radixSort); shorter ones are compared. */
const RADIX = 64;

/**
 * Sorts the record table in place. Each record's first 8 key bytes are two
 * words that sort as the bytes do; the table is sorted by them with no
 * callback and no per-record object. A group of records with equal
 * prefixes is given the next 8 key bytes and sorted again, down to DEPTHS
 * levels or the end of the longest key in the group, and only then are
 * records compared in full (RecordOrder.compare), ties in input order (a
 * record's start is its input order).
 */
function sortRecords(bufs: RunBuffers, count: number, order: RecordOrder): void {
  const { input, records: t } = bufs;
  for (let i = 0; i < W * count; i += W) {
    t[i] = order.prefix(input, t[i + 2], t[i + 3], 0) + PREFIX_BIAS;
    t[i + 1] = order.prefix(input, t[i + 2], t[i + 3], 1) + PREFIX_BIAS;
  }
  const byRecord = (x: number, y: number): number =>
    order.compare(input, t[x + 2], t[x + 3], input, t[y + 2], t[y + 3]) || t[x + 2] - t[y + 2];
  sortDepth(bufs, order, byRecord, 0, count, 0);
}

/**
 * Sorts records [a, b) by their prefixes at `depth`, then each group of
 * equal prefixes deeper, or in full. A function of its own, not a closure
 * made per run: its compiled code then serves every run.
 */
function sortDepth(bufs: RunBuffers, order: RecordOrder, byRecord: (x: number, y: number) => number, a: number, b: number, depth: number): void {
  const { input, records: t } = bufs;
  radixSort(bufs, a, b, 0);
  const known = 8 * (depth + 1);
  let i = a;
  while (i < b) {
    const h = t[W * i];
    const l = t[W * i + 1];
    let j = i + 1;
    while (j < b && t[W * j] === h && t[W * j + 1] === l) j++;
    if (j - i > 1) {
      // The group's order so far is any (radixSort leaves equal prefixes
      // as they fall): both branches below sort it again, ties by start.
      let longer = false;
      for (let k = W * i; k < W * j && !longer && depth + 1 < DEPTHS; k += W) {
        longer = order.prefixLength(input, t[k + 2], t[k + 3]) > known;
      }
      if (longer) {
        for (let k = W * i; k < W * j; k += W) {
          t[k] = order.prefix(input, t[k + 2], t[k + 3], 2 * depth + 2) + PREFIX_BIAS;
          t[k + 1] = order.prefix(input, t[k + 2], t[k + 3], 2 * depth + 3) + PREFIX_BIAS;
        }
        sortDepth(bufs, order, byRecord, i, j, depth + 1);
      } else {
        sortByRecord(t, i, j, byRecord);
      }
    }
    i = j;
  }
}

/**
 * Sorts records [a, b), whose prefixes agree in their bytes before
 * `byte`, by their prefixes (two words, eight bytes, big-endian): a most
 * significant byte first radix sort in place. Each pass counts the
 * records' values of one byte, then moves each record into its bucket;
 * a byte all the records share costs the count only. A bucket shorter
 * than RADIX is sorted by comparison (sortByPrefix). Records with equal
 * prefixes end in any order (sortDepth sorts them again).
 */
function radixSort(bufs: RunBuffers, a: number, b: number, byte: number): void {
  const t = bufs.records;
  while (b - a >= RADIX && byte < PREFIX_BYTES) {
    const word = byte < 4 ? 0 : 1;
    const shift = 24 - 8 * (byte % 4);
    const h = (BUCKETS + 1) * byte;
    const n = BUCKETS * byte;
    const { heads, next } = bufs;
    heads.fill(0, h, h + BUCKETS + 1);
    for (let i = a; i < b; i++) heads[h + ((t[W * i + word] >>> shift) & 0xff) + 1]++;
    let shared = false;
    for (let d = 1; d <= BUCKETS && !shared; d++) shared = heads[h + d] === b - a;
    if (shared) {
      byte++;
      continue;
    }
    heads[h] = a;
    for (let d = 1; d <= BUCKETS; d++) heads[h + d] += heads[h + d - 1];
    next.set(heads.subarray(h, h + BUCKETS), n);
    for (let d = 0; d < BUCKETS; d++) {
      const end = heads[h + d + 1];
      while (next[n + d] < end) {
        const i = next[n + d];
        const home = (t[W * i + word] >>> shift) & 0xff;
        if (home === d) next[n + d]++;
        else swap(t, i, next[n + home]++);
      }
    }
    for (let d = 0; d < BUCKETS; d++) {
      if (heads[h + d + 1] - heads[h + d] > 1) radixSort(bufs, heads[h + d], heads[h + d + 1], byte + 1);
    }
    return;
  }
  if (byte < PREFIX_BYTES && b - a > 1) sortByPrefix(t, a, b);
}

/** Whether the record at word x comes before the one at word y by (prefix, start). */
function before(t: Uint32Array, x: number, y: number): boolean {
  if (t[x] !== t[y]) return t[x] < t[y];
  if (t[x + 1] !== t[y + 1]) return t[x + 1] < t[y + 1];
  return t[x + 2] < t[y + 2];
}

function swap(t: Uint32Array, i: number, j: number): void {
  const x = W * i;
  const y = W * j;
  for (let k = 0; k < W; k++) {
    const v = t[x + k];
    t[x + k] = t[y + k];
    t[y + k] = v;
  }
}

/** Sorts records [a, b) by (prefix, start): a quicksort, insertion below SHORT. */
function sortByPrefix(t: Uint32Array, a: number, b: number): void {
  while (b - a > SHORT) {
    // The median of three as the pivot, moved to a.
    const m = a + Math.floor((b - a) / 2);
    if (before(t, W * m, W * a)) swap(t, m, a);
    if (before(t, W * (b - 1), W * m)) {
      swap(t, b - 1, m);
      if (before(t, W * m, W * a)) swap(t, m, a);
    }
    swap(t, a, m);
    // Records are distinct by start: i stops at b - 1 at the latest, j at a.
    let i = a + 1;
    let j = b - 1;
    for (;;) {
      while (before(t, W * i, W * a)) i++;
      while (before(t, W * a, W * j)) j--;
      if (i >= j) break;
      swap(t, i++, j--);
    }
    swap(t, a, j);
    // The shorter side by recursion, the longer by the loop.
    if (j - a < b - j - 1) {
      sortByPrefix(t, a, j);
      a = j + 1;
    } else {
      sortByPrefix(t, j + 1, b);
      b = j;
    }
  }
  for (let i = a + 1; i < b; i++) {
    for (let k = i; k > a && before(t, W * k, W * (k - 1)); k--) swap(t, k, k - 1);
  }
}

/** Sorts records [a, b) by `cmp` on their word offsets (records whose prefixes say nothing more). */
function sortByRecord(t: Uint32Array, a: number, b: number, cmp: (x: number, y: number) => number): void {
  if (b - a <= SHORT) {
    for (let i = a + 1; i < b; i++) {
      for (let k = i; k > a && cmp(W * k, W * (k - 1)) < 0; k--) swap(t, k, k - 1);
    }
    return;
  }
  const at: number[] = [];
  for (let i = a; i < b; i++) at.push(W * i);
  at.sort(cmp);
  const copy = t.slice(W * a, W * b);
  for (let i = 0; i < at.length; i++) t.set(copy.subarray(at[i] - W * a, at[i] - W * a + W), W * (a + i));
}

/** Keeps the first record of each run of equal keys, moved to the front; returns how many are kept. */
function dropDuplicates(bufs: RunBuffers, count: number, order: RecordOrder): number {
  const { input, records: t } = bufs;
  let kept = 0;
  for (let i = 0; i < count; i++) {
    const x = W * i;
    if (kept > 0) {
      const p = W * (kept - 1);
      if (order.compare(input, t[p + 2], t[p + 3], input, t[x + 2], t[x + 3]) === 0) continue;
    }
    if (kept !== i) t.copyWithin(W * kept, x, x + W);
    kept++;
  }
  return kept;
}
