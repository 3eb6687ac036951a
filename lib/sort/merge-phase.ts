// The merge phase of externalSort: intermediate passes (DRAM merge
// buffers only), then the final merge of every run into the partial
// output, on one thread or in key ranges on several.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { descriptorsLeft, openFilesLimit } from '../core/descriptors';
import { PmemError } from '../core/errors';
import type { SortState } from './checkpoint';
import { FileSink, merge, noSpace } from './merge';
import { mergeInRanges } from './parallel-merge';
import type { SortThreads } from './run-thread';
import type { RunBuffers } from './runs';
import type { Job } from './job';
import { DramSource, PmemSource, pmemWindow, readWindow, readWindows, type RunSource } from './sources';

/** The output buffer of every merge: 1 MiB, or a sixteenth of the budget when that is less (4 KiB at least). */
const SINK_BUFFER = 1024 * 1024;

function sinkBytes(memory: number): number {
  return Math.max(4096, Math.min(SINK_BUFFER, Math.floor(memory / 16)));
}

/** A DRAM merge source's window, at most and at least (see dramFanIn). */
const DRAM_WINDOW = 1024 * 1024;
const MIN_DRAM_WINDOW = 4096;

/**
 * DRAM merge buffers: every source's window is a slice of one arena, the
 * input chunk of the run buffers (RunBuffers.input: 40% of the budget left
 * after the workers' charges), which run formation used and the sort holds
 * to its end. No source allocates a buffer, so the merge's DRAM is the
 * arena whatever the number of runs or threads: an intermediate pass's
 * group shares the whole arena on the main thread; the final merge's
 * threads each share their part of it (RunBuffers.part) between the runs.
 * The runs one merge reads at once: as many windows of up to 1 MiB (a
 * sixteenth of the arena, when smaller) as the arena holds.
 */
export function dramFanIn(arena: number): number {
  const window = Math.max(MIN_DRAM_WINDOW, Math.min(DRAM_WINDOW, Math.floor(arena / 16)));
  return Math.max(2, Math.floor(arena / window));
}

export const runPath = (job: Job, id: number): string => path.join(job.dir, `run-${id}`);

/**
 * Descriptors a merge leaves to the rest of the process and to the sort's
 * other files (its checkpoint, output and directory, a sink and a reader per
 * thread, a worker's event loop).
 */
const DESCRIPTORS_KEPT = 32;
const EMFILE = 24;
/** Bytes a line has on average from which the final merge is not cut into key ranges. */
const LONG_LINE = 64 * 1024;

/**
 * The runs that each of `threads` merging threads may hold open at once
 * under the process's limit on open files: every source holds its run's
 * file (a mapping of it, or a descriptor for pread), and each thread opens
 * every run. Infinity where the limit is not known.
 */
export function runsOpenAtOnce(threads: number): number {
  const left = descriptorsLeft() - DESCRIPTORS_KEPT - 2 * threads;
  return Math.max(0, Math.floor(left / threads));
}

/** A merge of `runs` runs that cannot hold even two of them open. */
function tooFewDescriptors(runs: number): PmemError {
  return new PmemError('ERR_PMEM_IO', `the merge of ${runs} runs cannot hold two of them open: this process may open ${descriptorsLeft()} `
    + `more files under its limit of ${openFilesLimit()} (ulimit -n), and the sort leaves ${DESCRIPTORS_KEPT + 2} of them to other files; `
    + 'raise the limit and resume the sort', { errno: EMFILE, syscall: 'open' });
}

/**
 * Merges the runs into the partial output and publishes the 'done'
 * checkpoint. Returns the key ranges the final merge was cut into (1 on
 * one thread).
 */
export function mergeRuns(job: Job, state: SortState, publish: () => void, pool: SortThreads | null, buffers: RunBuffers | null): number {
  const dram = job.o.mergeBuffers === 'dram';
  if ((dram || !job.inPlace) && buffers === null) throw new Error('a merge through DRAM windows without run buffers to cut them from');
  const arena = buffers === null ? null : buffers.input;
  const fanIn = dram ? dramFanIn((arena as Buffer).length) : Infinity;
  while (state.runs.length > fanIn) mergeGroup(job, state, fanIn, arena as Buffer, publish);
  // More runs than the process may open files at once (its limit on open
  // files, with every run open in the merge): as many of them are first
  // merged into one as leave that many, on this thread, whatever the merge
  // buffers. GNU sort merges in part for the same reason.
  let open = runsOpenAtOnce(1);
  if (state.runs.length > open && open < 2) throw tooFewDescriptors(state.runs.length);
  while (state.runs.length > open) {
    mergeGroup(job, state, Math.min(open, state.runs.length - open + 1), arena as Buffer, publish);
    open = runsOpenAtOnce(1);
    if (state.runs.length > open && open < 2) throw tooFewDescriptors(state.runs.length);
  }
  // A pass cut short (the runs it left fit one merge) still wrote its groups: it counts.
  if (state.passDone > 0) {
    state.passes++;
    state.passDone = 0;
  }
  // The final merge's threads each open every run: as many of the pool's as the limit lets.
  let threads = pool?.threads ?? 1;
  while (threads > 1 && state.runs.length > runsOpenAtOnce(threads)) threads--;
  return finalMerge(job, state, arena, publish, threads > 1 ? pool : null, buffers, threads);
}

/**
 * Opens the runs as merge sources at their cursors. DRAM merge buffers'
 * sources share `arena` (see dramFanIn). With PMem merge buffers, the
 * sources read the runs in place, or, where the runs are not on persistent
 * memory (readsInPlace), through windows cut from `arena` (readWindows).
 */
function openSources(job: Job, runs: SortState['runs'], arena: Buffer | null): RunSource[] {
  const sources: RunSource[] = [];
  try {
    const dram = job.o.mergeBuffers === 'dram';
    const share = dram ? Math.floor((arena as Buffer).length / Math.max(1, runs.length))
      : job.inPlace ? 0 : readWindow((arena as Buffer).length, runs.length);
    const windows = job.inPlace && !dram ? null : readWindows(arena as Buffer, share * runs.length);
    // PMem sources read in place together keep about three quarters of
    // the budget mapped (pmemWindow): the merge holds no run buffers then.
    const window = pmemWindow(job.o.memory, runs.length);
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i];
      sources.push(windows === null
        ? new PmemSource(runPath(job, r.id), r.length, r.cursor, job.order, window)
        : new DramSource(runPath(job, r.id), r.length, r.cursor, job.order, windows.subarray(i * share, (i + 1) * share)));
    }
  } catch (e) {
    for (const s of sources) s.close();
    throw e;
  }
  return sources;
}

/**
 * One step of an intermediate pass (DRAM merge buffers only): merges the
 * next `fanIn` runs of the pass into a new run, and publishes the run list
 * with the new run in their place. A crash redoes the step.
 */
function mergeGroup(job: Job, state: SortState, fanIn: number, arena: Buffer, publish: () => void): void {
  const group = state.runs.slice(state.passDone, state.passDone + fanIn);
  if (group.length <= 1) {
    // The pass ends: a lone run left over goes on to the next pass as it is.
    state.passes++;
    state.passDone = 0;
    publish();
    return;
  }
  const id = state.nextRunId;
  const target = runPath(job, id);
  fs.rmSync(target, { force: true });
  const sink = new FileSink(target, 0, sinkBytes(job.o.memory));
  const sources = openSources(job, group.map((r) => ({ ...r, cursor: 0 })), arena);
  try {
    merge(sources, sink, job.order, { every: Infinity, checkpoint: () => {} });
    // The new run durable before the checkpoint names it in place of its inputs.
    sink.sync();
  } finally {
    for (const s of sources) s.close();
    sink.close();
  }
  state.runs.splice(state.passDone, group.length, { id, length: sink.length, cursor: 0 });
  state.nextRunId = id + 1;
  state.passDone++;
  state.tempBytes += sink.length;
  if (state.passDone >= state.runs.length) {
    state.passes++;
    state.passDone = 0;
  }
  publish();
  // The merged runs are no longer named by the durable checkpoint: they may go.
  for (const r of group) fs.rmSync(runPath(job, r.id), { force: true });
  job.o.onProgress?.({ phase: 'pass', done: state.passDone, total: state.runs.length });
}

/** The last pass: every run into the partial output, with the cursors checkpointed; then the 'done' checkpoint. */
function finalMerge(job: Job, state: SortState, arena: Buffer | null, publish: () => void, pool: SortThreads | null, buffers: RunBuffers | null, threads: number): number {
  const o = job.o;
  // Lines that are long on average (a few of megabytes, say) merge on one
  // thread: cutting their runs into key ranges probes whole lines, which
  // costs more than the merge, and the merge of few long lines is a copy.
  const longLines = o.format.recordSize === 0 && job.inputSize > state.records * LONG_LINE;
  if (pool !== null && !o.format.unique && state.runs.length > 1 && !longLines) {
    let ranges: number;
    try {
      ranges = mergeInRanges({
        partial: job.partial, order: job.order, memory: o.memory, mergeBuffers: o.mergeBuffers, inPlace: job.inPlace, buffers,
        checkpointBytes: o.checkpointBytes, runPath: (id) => runPath(job, id), onProgress: o.onProgress,
      }, state, publish, pool, threads);
      const sink = new FileSink(job.partial, state.outputBytes, 4096);
      try {
        // The whole output durable before the checkpoint says so.
        sink.sync();
      } finally {
        sink.close();
      }
    } catch (e) {
      throw noSpace(e, job.partial);
    }
    finishMerge(state, publish);
    return ranges;
  }
  const total = state.runs.reduce((n, r) => n + r.length, 0);
  // A buffer of at most a quarter of a checkpoint's bytes: between two
  // checkpoints the file grows past the last one, which resume cuts back.
  const sink = new FileSink(job.partial, state.outputBytes, Math.max(4096, Math.min(sinkBytes(job.o.memory), Math.floor(job.o.checkpointBytes / 4))));
  let sources: RunSource[] = [];
  try {
    let last: Buffer | undefined;
    if (job.o.format.unique && state.lastLength > 0) {
      const text = job.o.format.recordSize === 0;
      last = Buffer.alloc(state.lastLength - (text ? 1 : 0));
      const fd = fs.openSync(job.partial, 'r');
      try {
        fs.readSync(fd, last, 0, last.length, state.outputBytes - state.lastLength);
      } finally {
        fs.closeSync(fd);
      }
    }
    sources = openSources(job, state.runs, arena);
    const lastLength = merge(sources, sink, job.order, {
      last,
      every: job.o.checkpointBytes,
      checkpoint: (lastLength) => {
        sink.sync();
        for (let i = 0; i < sources.length; i++) state.runs[i].cursor = sources[i].cursor();
        state.outputBytes = sink.length;
        state.lastLength = lastLength;
        // The output's bytes are durable (sink.sync) before the checkpoint counts them.
        publish();
      },
      progress: (bytes) => job.o.onProgress?.({ phase: 'merge', done: bytes, total }),
    });
    sink.sync();
    state.outputBytes = sink.length;
    state.lastLength = lastLength;
  } catch (e) {
    throw noSpace(e, job.partial);
  } finally {
    for (const s of sources) s.close();
    sink.close();
  }
  finishMerge(state, publish);
  return 1;
}

/** The 'done' checkpoint, once the whole output is durable. */
function finishMerge(state: SortState, publish: () => void): void {
  for (const r of state.runs) r.cursor = r.length;
  if (state.runs.length > 0) state.passes++;
  state.phase = 'done';
  // The whole output durable (the caller synced it) before the checkpoint says so.
  publish();
}
