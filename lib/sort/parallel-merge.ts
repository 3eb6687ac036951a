// The final merge on several threads: what is left of the runs cut into
// key ranges (partition.ts), each merged by one thread into its own bytes
// of the output (range-merge.ts). Still one pass: every record is read
// from its run once and written to the output once. The checkpoint is the
// one merge's: it counts the ranges done from the first on, with each
// run's cursor at the next range's start, so resume needs nothing new.
import * as fs from 'node:fs';

import type { SortState } from './checkpoint';
import { bufferMemory } from './formation';
import { FileSink } from './merge';
import { partitionRuns } from './partition';
import { mergeRange, type RangeJob } from './range-merge';
import type { RecordOrder } from './records';
import type { SortThreads } from './run-thread';
import type { RunBuffers } from './runs';
import { pmemWindow, readWindow, RunMaps } from './sources';
import type { SortProgress } from './options';

/** Ranges per thread at least (so that threads finish close together). */
const RANGES_PER_THREAD = 4;
const MAX_RANGES = 4096;
/** Ranges handed out past the first not done, per thread. */
const LOOKAHEAD = 3;
/** Ranges a worker holds at most: the one it merges, and the next. */
const QUEUED = 2;

export interface RangeMerge {
  partial: string;
  order: RecordOrder;
  memory: number;
  mergeBuffers: 'pmem' | 'dram';
  /** With PMem merge buffers: whether the runs are read in place (readsInPlace). */
  inPlace: boolean;
  /** With DRAM merge buffers: the run buffers, whose parts' input chunks are the threads' arenas (merge-phase.ts, dramFanIn). */
  buffers: RunBuffers | null;
  checkpointBytes: number;
  runPath(id: number): string;
  onProgress?(progress: SortProgress): void;
}

/**
 * Merges every run from its cursor into the partial output, from the
 * checkpoint's output length on; publishes a checkpoint for each range
 * once it and every range before it are done. When it returns, every
 * byte is written, not yet durable, and `state` counts them all (the
 * caller syncs and publishes 'done'). Returns the number of ranges. Not for `unique` (a range's output
 * length must be known before it is merged).
 */
export function mergeInRanges(m: RangeMerge, state: SortState, publish: () => void, pool: SortThreads, merging = pool.threads): number {
  // The run buffers stay cut into the pool's parts; `merging` of its
  // threads merge (fewer where the limit on open files says so, see
  // merge-phase.ts, runsOpenAtOnce), each in its own part.
  const threads = pool.threads;
  const workers = pool.workers.slice(0, merging - 1);
  const remaining = state.runs.reduce((n, r) => n + r.length - r.cursor, 0);
  const total = state.outputBytes + remaining;
  const count = Math.min(MAX_RANGES, Math.max(RANGES_PER_THREAD * merging, Math.ceil(remaining / m.checkpointBytes)));
  const paths = state.runs.map((r) => m.runPath(r.id));
  const ranges = partitionRuns(state.runs.map((r, i) => ({ path: paths[i], start: r.cursor, end: r.length })), m.order, count, state.outputBytes, m.memory);
  // The output cut back to the checkpoint's length: bytes past it are from a merge cut short.
  new FileSink(m.partial, state.outputBytes, 4096).close();
  // Through DRAM windows, each thread's sources share its part's input
  // chunk (the part it formed runs in), one window per run.
  const arena = m.buffers === null ? 0 : m.buffers.part(threads - 1, threads).input.length;
  const job = (j: number): RangeJob => ({
    ...ranges[j],
    paths,
    partial: m.partial,
    mergeBuffers: m.mergeBuffers,
    inPlace: m.inPlace,
    // Read in place, the threads' sources share three quarters of the
    // budget the threads leave mapped (the run buffers were let go before
    // the merge); through pread, each thread's part of the run buffers'
    // input chunk. The threads were chosen so that every window gets its
    // least: formation.ts, mergeThreadsFor.
    sourceBytes: m.mergeBuffers === 'dram' ? Math.floor(arena / Math.max(1, state.runs.length))
      : m.inPlace ? pmemWindow(bufferMemory(m.memory, threads), state.runs.length * threads)
        : readWindow(arena, state.runs.length),
    // Each thread's ranges write through one buffer of this size
    // (RunMaps.sinkBuffer): at most a sixty-fourth of the budget.
    sinkBytes: Math.max(4096, Math.min(256 * 1024, Math.floor(m.memory / 64), Math.floor(m.checkpointBytes / 4))),
  });
  /** Each range's last record's length once merged; -1 before. */
  const lastLengths = new Array<number>(ranges.length).fill(-1);
  let published = 0;
  /** The main thread's arena: the last part's input chunk. */
  const own = m.buffers === null ? null : m.buffers.part(threads - 1, threads).input;
  const fd = fs.openSync(m.partial, 'r+');
  /** The main thread's mappings of the runs, for all its ranges (each worker has its own). */
  const maps = new RunMaps();
  /** The ranges each worker holds, in the order it takes them. */
  const held: number[][] = workers.map(() => []);
  /**
   * Counts the ranges done from `published` on, one checkpoint each (so a
   * sort publishes as many checkpoints whichever thread finishes first),
   * except after the last: the caller publishes 'done'.
   */
  const advance = (): void => {
    let p = published;
    while (p < ranges.length && lastLengths[p] >= 0) p++;
    if (p === published) return;
    // The ranges' bytes, written by whichever thread, durable before a
    // checkpoint counts them (one fdatasync of the file covers every
    // thread's writes). Bytes of later ranges already written are past
    // the checkpoint's length, and resume cuts them off.
    if (p < ranges.length || p - published > 1) fs.fdatasyncSync(fd);
    while (published < p) {
      const j = published++;
      if (ranges[j].bytes > 0) state.lastLength = lastLengths[j];
      const at = published < ranges.length ? ranges[published] : null;
      state.runs.forEach((r, i) => { r.cursor = at === null ? r.length : at.starts[i]; });
      state.outputBytes = at === null ? total : at.outputOffset;
      if (at === null) return;
      publish();
      m.onProgress?.({ phase: 'merge', done: state.outputBytes, total });
    }
  };
  try {
    let next = 0;
    // Ranges are handed out at most LOOKAHEAD·threads past the first not
    // done: the output written past the last checkpoint stays bounded.
    const open = (): boolean => next < ranges.length && next < published + LOOKAHEAD * merging;
    while (published < ranges.length) {
      for (let w = 0; w < workers.length; w++) {
        while (held[w].length > 0) {
          const last = workers[w].poll();
          if (last === undefined) break;
          lastLengths[held[w].shift() as number] = last;
        }
      }
      advance();
      // Each worker holds QUEUED ranges where it can: one queued behind the
      // one it merges, so that it goes on while the main thread, which
      // looks at it only between its own ranges, merges one.
      for (let w = 0; w < workers.length; w++) {
        while (held[w].length < QUEUED && open()) {
          held[w].push(next);
          workers[w].start({ kind: 'range', ...job(next++) });
        }
      }
      if (open()) {
        const j = next++;
        lastLengths[j] = mergeRange(job(j), m.order, own, maps);
      } else {
        // Nothing to hand out: wait for the worker with the first range still open.
        let w = -1;
        for (let k = 0; k < workers.length; k++) if (held[k].length > 0 && (w < 0 || held[k][0] < held[w][0])) w = k;
        if (w >= 0) lastLengths[held[w].shift() as number] = workers[w].wait();
      }
      advance();
    }
  } catch (e) {
    // The workers finish (or fail) the ranges they hold before the error goes on.
    pool.settle();
    throw e;
  } finally {
    maps.close();
    fs.closeSync(fd);
  }
  return ranges.length;
}
