// Run formation: a chunk of input read into DRAM within the memory budget,
// sorted there, and written to a run file on PMem through a Region, durable
// before the checkpoint names it.
import * as fs from 'node:fs';

import { PmemError } from '../core/errors';
import { openMapping } from '../core/mapping';
import type { Region } from '../core/region';
import type { RecordOrder } from './records';

/** Records per run at most: a record's input index takes 21 bits beside its 32-bit prefix in a double. */
export const MAX_RUN_RECORDS = 2 ** 21;
/** DRAM per record for the run's tables (start, end, sort word). */
const PER_RECORD = 16;
const NL = 10;

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

/** The DRAM a run formation holds: the input chunk and its record tables. */
export class RunBuffers {
  readonly input: Buffer;
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
  readonly words: Float64Array;
  readonly maxRecords: number;

  /** Takes its share of `memory` (see runInputBytes). */
  constructor(memory: number) {
    this.maxRecords = maxRunRecords(memory);
    this.input = Buffer.allocUnsafe(runInputBytes(memory));
    this.starts = new Uint32Array(this.maxRecords);
    this.ends = new Uint32Array(this.maxRecords);
    this.words = new Float64Array(this.maxRecords);
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

/**
 * Reads the input from `offset` (of `inputSize` bytes) into `bufs`, sorts
 * it, and writes it to a new file `runPath` through a mapping: durable when
 * it returns. Returns null at the end of the input.
 * @throws PmemError ERR_PMEM_NO_MEMORY for a text line longer than the input
 *   input chunk (40% of the budget); ERR_PMEM_NO_SPACE when the run file cannot be had
 */
export function formRun(fd: number, inputSize: number, offset: number, bufs: RunBuffers, order: RecordOrder, runPath: string): FormedRun | null {
  if (offset >= inputSize) return null;
  const f = order.format;
  const want = Math.min(bufs.input.length, inputSize - offset);
  const n = readFull(fd, bufs.input, want, offset);
  if (n < want) throw new PmemError('ERR_PMEM_INVALID', `the input shrank while it was sorted (${offset + n} of ${inputSize} bytes)`);
  const atEnd = offset + n === inputSize;
  const { input, starts, ends } = bufs;
  let count = 0;
  let consumed = 0;
  if (f.recordSize > 0) {
    count = Math.min(bufs.maxRecords, Math.floor(n / f.recordSize));
    for (let i = 0; i < count; i++) {
      starts[i] = i * f.recordSize;
      ends[i] = starts[i] + f.recordSize;
    }
    consumed = count * f.recordSize;
  } else {
    let p = 0;
    while (p < n && count < bufs.maxRecords) {
      const nl = input.indexOf(NL, p);
      if (nl < 0 || nl >= n) {
        // No newline after p: the input's last line, or a line that does
        // not fit the buffer (when nothing came before it).
        if (atEnd) {
          starts[count] = p;
          ends[count++] = n;
          p = n;
        }
        break;
      }
      starts[count] = p;
      ends[count++] = nl;
      p = nl + 1;
    }
    consumed = p;
    if (count === 0) {
      throw new PmemError('ERR_PMEM_NO_MEMORY', `a line at input byte ${offset} is longer than ${bufs.input.length} bytes, the input share (40%) of the memory budget`);
    }
  }
  const sorted = sortRecords(bufs, count, order);
  const kept = f.unique ? dropDuplicates(bufs, sorted, count, order) : count;
  let length = 0;
  for (let i = 0; i < kept; i++) length += ends[sorted[i]] - starts[sorted[i]] + (f.recordSize > 0 ? 0 : 1);
  writeRun(runPath, length, (region) => {
    const out = region.bytes;
    let at = 0;
    for (let i = 0; i < kept; i++) {
      const r = sorted[i];
      at += input.copy(out, at, starts[r], ends[r]);
      if (f.recordSize === 0) out[at++] = NL;
    }
  });
  return { consumed, records: count, length };
}

/**
 * Creates the run file at `path` (`length` bytes, reserved before it is
 * mapped), lets `fill` write it and persists it: durable when it returns.
 * A file left at `path` by an interrupted run is replaced.
 */
export function writeRun(path: string, length: number, fill: (region: Region) => void): void {
  fs.rmSync(path, { force: true });
  if (length === 0) {
    fs.closeSync(fs.openSync(path, 'w'));
    return;
  }
  const m = openMapping(path, { size: length, create: true, exclusive: true });
  try {
    fill(m);
    // Every byte of the run durable before the checkpoint that names it is
    // published; a crash before then leaves a file no checkpoint names,
    // which resume replaces.
    m.persist(0, length);
  } finally {
    m.close();
  }
}

/** Prefix depths (4 key bytes each) sorted without a comparison callback before records are compared in full. */
const DEPTHS = 4;

/**
 * The record indexes in order. Each record's 32-bit key prefix and its
 * index go into one double, and a typed-array sort (no callback) orders
 * them; a run of equal prefixes is given the next 4 key bytes in place and
 * sorted again, down to DEPTHS levels, and only then are records compared
 * in full, with ties in input order. Nothing is allocated but the last
 * level's groups.
 */
function sortRecords(bufs: RunBuffers, count: number, order: RecordOrder): Uint32Array {
  const { input, starts, ends } = bufs;
  const words = bufs.words.subarray(0, count);
  for (let i = 0; i < count; i++) words[i] = order.prefix(input, starts[i], ends[i]) * MAX_RUN_RECORDS + i;
  words.sort();
  // The sorted indexes overwrite the words' own memory, as u32s. Groups are
  // placed in order, so when a word at position i is read, at most i
  // indexes were written, and u32 k lies inside double floor(k / 2) <= k:
  // no word is overwritten before it is read.
  const out = new Uint32Array(bufs.words.buffer, bufs.words.byteOffset, count);
  const byRecord = (a: number, b: number): number => order.compare(input, starts[a], ends[a], input, starts[b], ends[b]) || a - b;
  let o = 0;
  /** Places words[a, b), sorted by their prefixes at depth - 1. */
  const place = (a: number, b: number, depth: number): void => {
    let i = a;
    while (i < b) {
      const p = Math.floor(words[i] / MAX_RUN_RECORDS);
      let j = i + 1;
      while (j < b && Math.floor(words[j] / MAX_RUN_RECORDS) === p) j++;
      if (j - i === 1) {
        out[o++] = words[i] - p * MAX_RUN_RECORDS;
      } else if (depth >= DEPTHS) {
        const group: number[] = [];
        for (let k = i; k < j; k++) group.push(words[k] - p * MAX_RUN_RECORDS);
        group.sort(byRecord);
        for (const r of group) out[o++] = r;
      } else {
        for (let k = i; k < j; k++) {
          const r = words[k] - p * MAX_RUN_RECORDS;
          words[k] = order.prefix(input, starts[r], ends[r], depth) * MAX_RUN_RECORDS + r;
        }
        words.subarray(i, j).sort();
        place(i, j, depth + 1);
      }
      i = j;
    }
  };
  place(0, count, 1);
  return out;
}

/** Keeps the first record of each run of equal keys; returns how many are kept. */
function dropDuplicates(bufs: RunBuffers, sorted: Uint32Array, count: number, order: RecordOrder): number {
  const { input, starts, ends } = bufs;
  let kept = 0;
  for (let i = 0; i < count; i++) {
    const r = sorted[i];
    if (kept > 0) {
      const p = sorted[kept - 1];
      if (order.compare(input, starts[p], ends[p], input, starts[r], ends[r]) === 0) continue;
    }
    sorted[kept++] = r;
  }
  return kept;
}
