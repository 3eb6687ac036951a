// The merge's inputs: one run each, read a record at a time. A PMem source
// reads the run in place from its mapping (the run is its own merge
// buffer, so the number of runs merged at once costs no DRAM); a DRAM
// source reads it with pread(2) through a window of DRAM, as a sort
// without PMem must. With PMem merge buffers on a file that is not
// persistent memory (the page cache holds it: /dev/shm, a disk), the runs
// are read through DRAM windows instead of in place, cut from the run
// buffers (see readsInPlace): still every run at once.
import * as fs from 'node:fs';

import { PmemError } from '../core/errors';
import { openMapping, type Mapping } from '../core/mapping';
import { indexOfByte, viewOf, type RecordOrder } from './records';

const NL = 10;
/**
 * How far behind and ahead of the bytes a source read its releases reach:
 * a read fault maps the pages around it too (the kernel's fault_around_bytes,
 * 64 KiB), and a release drops only whole pages inside its range, so a
 * release of exactly the bytes read would leave those pages in the process.
 */
const AROUND = 64 * 1024;

/**
 * What one PMem source holds mapped, at most, besides its window: the
 * pages a read fault maps around the window's first and last bytes (and
 * around the bytes of a record that reaches past its end).
 */
const SOURCE_SLACK = 2 * AROUND;

/**
 * A PMem source's window at most: a larger one saves little (a release of
 * 1 MiB cost about twice one of 256 KiB, for four times the pages; see
 * Mapping.release in docs/api.md) and maps more of the budget.
 */
const MAX_WINDOW = 1024 * 1024;

/**
 * What PMem sources share of the budget the merge's threads leave (the run
 * buffers were let go, see phases.ts): three quarters. The rest is for the
 * merge's output buffers, the workers' heaps as they grow, and run buffers
 * not yet collected.
 */
const sourcesShare = (memory: number): number => Math.floor(memory * 0.75);

/**
 * The window of each of `sources` PMem sources under `memory` (see
 * sourcesShare), with what each maps around its window (SOURCE_SLACK)
 * taken out; AROUND at least, since each window costs a release and a
 * populate, and MAX_WINDOW at most.
 */
export function pmemWindow(memory: number, sources: number): number {
  return Math.min(MAX_WINDOW, Math.max(AROUND, Math.floor(sourcesShare(memory) / Math.max(1, sources)) - SOURCE_SLACK));
}

/**
 * Whether `sources` PMem sources, each with a window of `window` bytes and
 * what it maps around it, fit `memory` (see sourcesShare).
 */
export function pmemWindowsFit(memory: number, sources: number, window: number): boolean {
  return sources * (window + SOURCE_SLACK) <= sourcesShare(memory);
}

/**
 * Whether the merge reads runs in place through their mappings: when
 * `runs`, a mapping in the runs' directory, is persistent memory (DAX, or
 * PMEM_IS_PMEM_FORCE). Elsewhere the file lives in the page cache, which is
 * DRAM: a page of it mapped into the process costs the same DRAM as a copy
 * of it in a window, and costs page-table work a copy does not (mapped and
 * released again for every window: under a hypervisor with shadow page
 * tables, a quarter of a 4 GiB sort's time; docs/bench.md). There the
 * sources read the runs with pread(2) through windows cut from the run
 * buffers' input chunk, which run formation is done with (readWindow):
 * still every run merged in one pass.
 */
export function readsInPlace(runs: Mapping): boolean {
  return runs.isPmem;
}

/** A window at least, for a source that reads its run with pread(2): a record past it grows the source's buffer (DramSource). */
const MIN_READ_WINDOW = 4096;

/**
 * The window of each of `sources` sources that read their runs with
 * pread(2) from an arena of `arena` bytes (a thread's part of the run
 * buffers' input chunk): MIN_READ_WINDOW at least (readWindows then
 * allocates, for a merge of more runs than its arena holds at that), and
 * MAX_WINDOW at most.
 */
export function readWindow(arena: number, sources: number): number {
  return Math.min(MAX_WINDOW, Math.max(MIN_READ_WINDOW, Math.floor(arena / Math.max(1, sources))));
}

/** Whether `sources` sources reading with pread(2), with a window of `window` bytes each, fit an arena of `arena` bytes. */
export function readWindowsFit(arena: number, sources: number, window: number): boolean {
  return sources * window <= arena;
}

/**
 * `bytes` of windows for sources that read their runs with pread(2): the
 * start of `arena` (the thread's part of the run buffers' input chunk,
 * which the runs were formed in and the merge does not otherwise use), or
 * a buffer of their own when the arena is smaller (more runs than it
 * holds MIN_READ_WINDOW each of).
 */
export function readWindows(arena: Buffer, bytes: number): Buffer {
  return bytes <= arena.length ? arena.subarray(0, bytes) : Buffer.allocUnsafe(bytes);
}

/** A run being merged: its current record is buf[start, end) (without a text line's newline). */
export interface RunSource {
  buf: Buffer;
  /** A view of `buf` (for copyBytes). */
  view: DataView;
  start: number;
  end: number;
  /** The current record's prefixes at depths 0 to 3, its first 16 key bytes (see RecordOrder.prefix). */
  prefix: number;
  prefix2: number;
  prefix3: number;
  prefix4: number;
  /** True once the run has no record left. */
  done: boolean;
  /** Moves to the next record. */
  next(): void;
  /** The run's byte offset of the current record (its length when done): the checkpoint's cursor. */
  cursor(): number;
  close(): void;
}

/**
 * What one thread's merges keep from range to range: the run files they
 * read in place, each mapped once (read-only) for all the sources and key
 * ranges that read it, until `close` (a mapping made and closed costs
 * native memory that is only given back when the event loop turns, which
 * a sort, blocking its thread, never lets it do); and their output buffer.
 */
export class RunMaps {
  readonly #maps = new Map<string, Mapping>();
  #sink: Buffer | null = null;

  /**
   * The output buffer of the thread's ranges, `bytes` long: one, reused
   * by each range (with one allocated per range, the anonymous memory of a
   * 4 GiB sort grew 17 MiB in the merge, against 12 MiB; docs/bench.md).
   */
  sinkBuffer(bytes: number): Buffer {
    if (this.#sink === null || this.#sink.length !== bytes) this.#sink = Buffer.allocUnsafe(bytes);
    return this.#sink;
  }

  /**
   * The run file at `path`, mapped; it must hold `length` bytes.
   * @throws PmemError ERR_PMEM_CORRUPT for a run file cut short or missing
   */
  get(path: string, length: number): Mapping {
    let m = this.#maps.get(path);
    if (m === undefined) {
      m = openRun(path);
      this.#maps.set(path, m);
    }
    // A run file cut short (by something else: runs are durable at their
    // full length before a checkpoint names them) is refused before the
    // window past its end is populated or read.
    if (m.length < length) {
      throw new PmemError('ERR_PMEM_CORRUPT', `run '${path}' holds ${m.length} bytes, the checkpoint says ${length}`, { path });
    }
    return m;
  }

  close(): void {
    for (const m of this.#maps.values()) m.close();
    this.#maps.clear();
    this.#sink = null;
  }
}

/**
 * Reads a run file in place through a read-only mapping, one window of
 * `window` bytes at a time: each window is faulted in as the source reaches
 * it, and the pages of the windows already merged are released, so that
 * they leave the process (a mapping's touched pages count in its RSS) and
 * all the sources together hold about their share of the budget
 * (pmemWindow). The mapping is the source's own, or one of `maps`, shared
 * with the thread's other sources of the same run.
 */
export class PmemSource implements RunSource {
  buf: Buffer = Buffer.alloc(0);
  view = viewOf(this.buf);
  start = 0;
  end = 0;
  prefix = 0;
  prefix2 = 0;
  prefix3 = 0;
  prefix4 = 0;
  done = false;
  readonly #path: string;
  readonly #length: number;
  readonly #order: RecordOrder;
  readonly #window: number;
  readonly #maps: RunMaps | null;
  #map: Mapping | null = null;
  /** Where the window being read starts, and the next one. */
  #windowAt = 0;
  #remapAt = 0;
  #pos: number;

  constructor(path: string, length: number, cursor: number, order: RecordOrder, window: number, maps: RunMaps | null = null) {
    this.#path = path;
    this.#length = length;
    this.#order = order;
    this.#window = window;
    this.#maps = maps;
    this.#pos = cursor;
    this.#load();
  }

  next(): void {
    this.#pos = this.#order.format.recordSize > 0 ? this.end : this.end + 1;
    this.#load();
  }

  cursor(): number {
    return this.done ? this.#length : this.start;
  }

  close(): void {
    const m = this.#map;
    if (m === null) return;
    this.#map = null;
    if (this.#maps === null) {
      m.close();
    } else if (!m.closed) {
      // The run stays mapped for the thread's other sources: only this one's pages go.
      const from = Math.max(0, this.#windowAt - AROUND);
      m.release(from, Math.min(m.length, this.#remapAt + AROUND) - from);
    }
  }

  #load(): void {
    const pos = this.#pos;
    if (pos >= this.#length) {
      this.done = true;
      this.close();
      return;
    }
    if (this.#map === null) {
      const maps = this.#maps ?? new RunMaps();
      let m: Mapping;
      try {
        m = maps.get(this.#path, this.#length);
      } catch (e) {
        // A mapping of the source's own is closed with the error; a shared one with its RunMaps.
        if (this.#maps === null) maps.close();
        throw e;
      }
      this.#map = m;
      this.buf = m.bytes;
      this.view = viewOf(this.buf);
      this.#startWindow(pos);
    } else if (pos >= this.#remapAt) {
      // The windows before this record are merged: their pages leave the process.
      const from = Math.max(0, this.#windowAt - AROUND);
      this.#map.release(from, pos - from);
      this.#startWindow(pos);
    }
    const rs = this.#order.format.recordSize;
    this.start = pos;
    this.end = rs > 0 ? pos + rs : indexOfByte(this.buf, NL, pos);
    // Every line of a run ends with a newline; without one the next record would not start after this one.
    if (this.end < pos) throw new PmemError('ERR_PMEM_CORRUPT', `run '${this.#path}' has no newline after its byte ${pos}`, { path: this.#path });
    this.#prefixes();
  }

  /** Starts the window at `pos`: read through from its start, so faulted in by one call instead of one read fault per page. */
  #startWindow(pos: number): void {
    this.#windowAt = pos;
    this.#remapAt = pos + this.#window;
    (this.#map as Mapping).populate(pos, Math.min(this.#length, this.#remapAt) - pos);
  }

  #prefixes(): void {
    const o = this.#order;
    this.prefix = o.prefix(this.buf, this.start, this.end);
    this.prefix2 = o.prefix(this.buf, this.start, this.end, 1);
    this.prefix3 = o.prefix(this.buf, this.start, this.end, 2);
    this.prefix4 = o.prefix(this.buf, this.start, this.end, 3);
  }
}

/**
 * Reads a run file with pread(2) through a DRAM window: `window`, a slice
 * of the merge's arena (see merge-phase.ts, dramFanIn, and readWindows),
 * never a buffer of its own, so that every source of every thread
 * together holds the arena and no more.
 * A record longer than the window is read into a buffer of its own, as
 * large as the record needs.
 */
export class DramSource implements RunSource {
  buf: Buffer;
  view: DataView;
  start = 0;
  end = 0;
  prefix = 0;
  prefix2 = 0;
  prefix3 = 0;
  prefix4 = 0;
  done = false;
  #fd: number;
  readonly #path: string;
  readonly #length: number;
  readonly #order: RecordOrder;
  /** The run offset of buf[0], and how many bytes of buf hold the run. */
  #base: number;
  #filled = 0;
  #pos = 0;

  constructor(path: string, length: number, cursor: number, order: RecordOrder, window: Buffer) {
    this.#fd = openRunFile(path);
    this.#path = path;
    this.#length = length;
    this.#order = order;
    this.#base = cursor;
    this.buf = window;
    this.view = viewOf(this.buf);
    this.#load();
  }

  next(): void {
    this.#pos = this.#order.format.recordSize > 0 ? this.end : this.end + 1;
    this.#load();
  }

  cursor(): number {
    return this.done ? this.#length : this.#base + this.start;
  }

  close(): void {
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
  }

  #load(): void {
    if (this.#base + this.#pos >= this.#length) {
      this.done = true;
      return;
    }
    const rs = this.#order.format.recordSize;
    for (;;) {
      const end = rs > 0 ? (this.#pos + rs <= this.#filled ? this.#pos + rs : -1) : this.buf.indexOf(NL, this.#pos);
      if (end >= 0 && end < this.#filled + (rs > 0 ? 1 : 0)) {
        this.start = this.#pos;
        this.end = end;
        const o = this.#order;
        this.prefix = o.prefix(this.buf, this.start, this.end);
        this.prefix2 = o.prefix(this.buf, this.start, this.end, 1);
        this.prefix3 = o.prefix(this.buf, this.start, this.end, 2);
        this.prefix4 = o.prefix(this.buf, this.start, this.end, 3);
        return;
      }
      this.#refill();
    }
  }

  /** Moves the unread bytes to the buffer's start (growing it when they fill it) and reads more. */
  #refill(): void {
    const rest = this.#filled - this.#pos;
    if (rest === this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(4096, this.buf.length * 2));
      this.buf.copy(bigger, 0, this.#pos, this.#filled);
      this.buf = bigger;
      this.view = viewOf(bigger);
    } else {
      this.buf.copy(this.buf, 0, this.#pos, this.#filled);
    }
    this.#base += this.#pos;
    this.#pos = 0;
    this.#filled = rest;
    const want = Math.min(this.buf.length - rest, this.#length - this.#base - rest);
    if (want === 0) {
      // The buffer holds every byte up to the run's end, and no record ends
      // there: the last one is cut (a line without its newline).
      const rs = this.#order.format.recordSize;
      throw new PmemError('ERR_PMEM_CORRUPT', rs > 0
        ? `run '${this.#path}' ends inside the record at its byte ${this.#base}: ${rest} of its ${rs} bytes`
        : `run '${this.#path}' has no newline after its byte ${this.#base}`, { path: this.#path });
    }
    const n = fs.readSync(this.#fd, this.buf, rest, want, this.#base + rest);
    if (n <= 0) throw endedShort(this.#path, this.#base + rest, this.#length);
    this.#filled += n;
  }
}

/** A read of a run file that found its end at `at`, before the `length` bytes the checkpoint names: cut short while the sort read it. */
export function endedShort(path: string, at: number, length: number): PmemError {
  return new PmemError('ERR_PMEM_CORRUPT', `run '${path}' ended at its byte ${at}, short of the ${length} bytes the checkpoint says it holds`, { path });
}

/** The checkpoint names only runs durable in full: one gone is damage to the sort's files. */
export function missingRun(path: string): PmemError {
  return new PmemError('ERR_PMEM_CORRUPT', `run '${path}', which the checkpoint names, is missing`, { path });
}

/** A run file the checkpoint names, opened to be read with pread(2). @throws PmemError ERR_PMEM_CORRUPT when it is missing */
export function openRunFile(path: string): number {
  try {
    return fs.openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missingRun(path);
    throw e;
  }
}

/** A run file the checkpoint names, mapped read-only. @throws PmemError ERR_PMEM_CORRUPT when it is missing */
export function openRun(path: string): Mapping {
  try {
    return openMapping(path, { readOnly: true });
  } catch (e) {
    if (e instanceof PmemError && e.code === 'ERR_PMEM_NOT_FOUND') throw missingRun(path);
    throw e;
  }
}
