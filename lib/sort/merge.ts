// The k-way merge: a loser tree over the runs' current records, and the
// sink the merged records go to. One pass merges every run it is given.
import * as fs from 'node:fs';

import { PmemError } from '../core/errors';
import { copyBytes, viewOf, type RecordOrder } from './records';
import type { RunSource } from './sources';

/**
 * A tournament tree of losers: node n holds the loser of the match below
 * it, node 0 the overall winner. Replacing the winner's record replays one
 * path of log2(k) matches. `less` must be a strict total order (the merge
 * breaks ties by source index).
 */
export class LoserTree {
  readonly #tree: Int32Array;
  readonly #k: number;
  readonly #less: (a: number, b: number) => boolean;

  constructor(k: number, less: (a: number, b: number) => boolean) {
    this.#k = k;
    this.#less = less;
    this.#tree = new Int32Array(Math.max(1, k));
    const win = new Int32Array(2 * k);
    for (let i = 0; i < k; i++) win[k + i] = i;
    for (let n = k - 1; n >= 1; n--) {
      const a = win[2 * n];
      const b = win[2 * n + 1];
      const aWins = less(a, b);
      win[n] = aWins ? a : b;
      this.#tree[n] = aWins ? b : a;
    }
    this.#tree[0] = k === 1 ? 0 : win[1];
  }

  /** The source whose record comes next. */
  get winner(): number {
    return this.#tree[0];
  }

  /** Replays the winner's path after its source moved to its next record. */
  replay(): void {
    const t = this.#tree;
    let w = t[0];
    for (let n = Math.floor((w + this.#k) / 2); n >= 1; n = Math.floor(n / 2)) {
      const o = t[n];
      if (this.#less(o, w)) {
        t[n] = w;
        w = o;
      }
    }
    t[0] = w;
  }
}

/** Where merged records go: a file, written through a DRAM buffer. */
export class FileSink {
  readonly path: string;
  readonly #fd: number;
  readonly #buf: Buffer;
  readonly #view: DataView;
  #used = 0;
  /** Bytes written to the file (not counting the buffer). */
  #written: number;

  /**
   * Opens `path` (creating it) and cuts it to `from` bytes, which it keeps;
   * or, when not `cut`, only writes from `from` on (one range of a merge
   * that several threads write, each its own range). Writes through a
   * buffer of `buffer` bytes, or through `buffer` itself (one a thread
   * reuses for each of its ranges).
   */
  constructor(path: string, from: number, buffer: number | Buffer, cut = true) {
    this.path = path;
    this.#fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      const size = fs.fstatSync(this.#fd).size;
      if (cut && size < from) throw new PmemError('ERR_PMEM_CORRUPT', `${path} holds ${size} bytes, the checkpoint says ${from} were written`, { path });
      if (cut) fs.ftruncateSync(this.#fd, from);
    } catch (e) {
      fs.closeSync(this.#fd);
      throw e;
    }
    this.#written = from;
    this.#buf = typeof buffer === 'number' ? Buffer.allocUnsafe(buffer) : buffer;
    this.#view = viewOf(this.#buf);
  }

  /** Bytes accepted so far (written or buffered). */
  get length(): number {
    return this.#written + this.#used;
  }

  /** The record buf[start, end) plus `newline` (0 or 1 '\n'); `view` is a view of `buf` (viewOf). */
  put(buf: Uint8Array, view: DataView, start: number, end: number, newline: boolean): void {
    const n = end - start + (newline ? 1 : 0);
    if (this.#used + n > this.#buf.length) {
      this.#drainBuffer();
      if (n > this.#buf.length) {
        this.#write(buf.subarray(start, end));
        if (newline) this.#write(Buffer.from('\n'));
        return;
      }
    }
    this.#used += copyBytes(buf, view, start, end, this.#buf, this.#view, this.#used);
    if (newline) this.#buf[this.#used++] = 10;
  }

  /** Writes the buffer to the file (not durable yet: see sync). */
  flush(): void {
    this.#drainBuffer();
  }

  /** Writes the buffer and makes the file's bytes durable (fdatasync). */
  sync(): void {
    this.#drainBuffer();
    // The output's bytes durable before a checkpoint counts them: resume
    // cuts the file to the checkpoint's length and goes on from there.
    fs.fdatasyncSync(this.#fd);
  }

  close(): void {
    fs.closeSync(this.#fd);
  }

  #drainBuffer(): void {
    if (this.#used === 0) return;
    this.#write(this.#buf.subarray(0, this.#used));
    this.#used = 0;
  }

  #write(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) {
      try {
        off += fs.writeSync(this.#fd, b, off, b.length - off, this.#written + off);
      } catch (e) {
        throw noSpace(e, this.path);
      }
    }
    this.#written += b.length;
  }
}

/** ENOSPC and EDQUOT as ERR_PMEM_NO_SPACE; anything else as it is. */
export function noSpace(e: unknown, path: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new PmemError('ERR_PMEM_NO_SPACE', `no space left to write ${path}`, { path, syscall: 'write' });
  }
  return e;
}

export interface MergeHooks {
  /** The last record already in the sink (after a resume), for `unique`. */
  last?: Buffer;
  /** Called after every `every` bytes of output, and not at the end. */
  every: number;
  checkpoint(lastLength: number): void;
  /** Called with the bytes output so far, now and then. */
  progress?(bytes: number): void;
}

/**
 * Merges `sources` into `sink` in order; with `unique`, a record whose key
 * equals the previous output record's is dropped. Returns the length of the
 * last record output (0 if none).
 */
export function merge(sources: RunSource[], sink: FileSink, order: RecordOrder, hooks: MergeHooks): number {
  const f = order.format;
  const text = f.recordSize === 0;
  const less = (a: number, b: number): boolean => {
    const x = sources[a];
    const y = sources[b];
    if (x.done) return false;
    if (y.done) return true;
    if (x.prefix !== y.prefix) return x.prefix < y.prefix;
    if (x.prefix2 !== y.prefix2) return x.prefix2 < y.prefix2;
    if (x.prefix3 !== y.prefix3) return x.prefix3 < y.prefix3;
    if (x.prefix4 !== y.prefix4) return x.prefix4 < y.prefix4;
    const d = order.compare(x.buf, x.start, x.end, y.buf, y.start, y.end);
    // Ties go to the lower index, the earlier run in input order: the merge is stable.
    return d < 0 || (d === 0 && a < b);
  };
  if (sources.length === 0) return 0;
  const tree = new LoserTree(sources.length, less);
  // For unique: the last record output, copied (its source may move on and unmap it).
  let last: Buffer | null = hooks.last ?? null;
  let lastLength = last === null ? 0 : last.length + (text ? 1 : 0);
  let lastBuf = Buffer.allocUnsafe(256);
  let nextCheckpoint = sink.length + hooks.every;
  let nextProgress = sink.length + 1024 * 1024;
  for (;;) {
    const s = sources[tree.winner];
    if (s.done) break;
    const n = s.end - s.start;
    if (!(f.unique && last !== null && order.compare(last, 0, last.length, s.buf, s.start, s.end) === 0)) {
      sink.put(s.buf, s.view, s.start, s.end, text);
      lastLength = n + (text ? 1 : 0);
      if (f.unique) {
        if (lastBuf.length < n) lastBuf = Buffer.allocUnsafe(n * 2);
        s.buf.copy(lastBuf, 0, s.start, s.end);
        last = lastBuf.subarray(0, n);
      }
    }
    s.next();
    tree.replay();
    if (sink.length >= nextCheckpoint) {
      hooks.checkpoint(lastLength);
      nextCheckpoint = sink.length + hooks.every;
    }
    if (hooks.progress !== undefined && sink.length >= nextProgress) {
      hooks.progress(sink.length);
      nextProgress = sink.length + 1024 * 1024;
    }
  }
  return lastLength;
}
