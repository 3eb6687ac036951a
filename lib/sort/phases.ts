// The run phase and the merge phase of a sort, on their threads: how many
// threads form the runs and how many merge them (formation.ts says how
// many of each suit the budget and the runs), the run buffers, and the
// workers handed from the one phase to the other.
import type { SortState } from './checkpoint';
import { bufferMemory, formingThreadsFor, formRuns, maxRunsFor, mergeThreadsFor, oneRun, threadsFor } from './formation';
import type { Job } from './job';
import { mergeRuns, runPath, runsOpenAtOnce } from './merge-phase';
import { SortThreads } from './run-thread';
import { RunBuffers } from './runs';

/** What the phases ran on. */
export interface PhasesRun {
  /** Threads the sort ran on, the calling one included. */
  threads: number;
  /** Key ranges this call's final merge was cut into (mergeRuns; 0: no final merge in this call). */
  mergeRanges: number;
}

/**
 * Runs what is left of the sort's phases from `state` (run formation, from
 * its checkpoint's offset; the merge, from its cursors; nothing once
 * 'done'), calling `publish` to make the checkpoint of `state` durable
 * after each run and every `checkpointBytes` of merge output. `maxRuns` is
 * the checkpoint's room for runs. Every worker is stopped when it returns,
 * on an error too.
 */
export function runPhases(job: Job, state: SortState, maxRuns: number, publish: () => void): PhasesRun {
  const o = job.o;
  let pool: SortThreads | null = null;
  let mergeRanges = 0;
  try {
    const forming = state.phase === 'runs';
    const threads = forming ? threadsOf(job, state, maxRuns) : threadsFor(o.memory, o.parallel, o.format.recordSize);
    // The run buffers, for run formation and then as the merge's arena:
    // DRAM merge buffers' (merge-phase.ts, dramFanIn), or the windows of
    // runs read with pread (readWindows). Allocated once.
    const arena = o.mergeBuffers === 'dram' || !job.inPlace;
    // A sort that forms its first run from the start needs no part larger
    // than the whole input: it forms that one run, and the merge reads it
    // alone. (One resumed, or in its merge, may have runs of a larger
    // budget's before it: its buffers are the budget's.)
    const fresh = forming && state.runs.length === 0 && state.inputOffset === 0;
    let buffers = forming || (arena && state.phase === 'merge')
      ? RunBuffers.of(bufferMemory(o.memory, threads), threads > 1, threads, fresh ? job.inputSize : Infinity, shareOf(threads)) : null;
    // A sort resumed in its merge with PMem merge buffers starts the merge's threads only.
    const starting = !forming && o.mergeBuffers === 'pmem' ? mergeThreads(job, state, threads) : threads;
    if (starting > 1 && state.phase !== 'done') pool = new SortThreads(buffers, starting, o.format);
    const ran = pool?.threads ?? 1;
    if (forming) {
      formRuns({
        inputFd: job.inputFd, inputSize: job.inputSize, order: job.order,
        runPath: (id) => runPath(job, id), onProgress: o.onProgress,
      }, state, publish, pool, buffers as RunBuffers);
      if (o.mergeBuffers === 'pmem') {
        const merging = mergeThreads(job, state, threads);
        if (!arena) {
          // The merge reads the runs in place and needs no run buffers: they
          // are let go, with the workers that shared them (fresh ones merge
          // key ranges, when the merge is cut into them), so that the merge's
          // windows take their place in the budget.
          buffers = null;
          pool?.close();
          pool = null;
          if (merging > 1) pool = new SortThreads(null, merging, o.format);
        } else if (merging !== (pool?.threads ?? 1)) {
          // Fewer threads merge than formed: the buffers stay, in fewer parts.
          pool?.close();
          pool = null;
          if (merging > 1) pool = new SortThreads(buffers, merging, o.format);
        }
      }
    }
    if (state.phase === 'merge') mergeRanges = mergeRuns(job, state, publish, pool, buffers);
    return { threads: ran, mergeRanges };
  } finally {
    // Every worker stopped, on an error too (it already waited for their jobs).
    pool?.close();
  }
}

/**
 * The threads that form the rest of the runs: one when the rest is one
 * run's (oneRun), else as many as asked for whose runs the checkpoint has
 * room for (it was sized for the threads of the sort's start, which may
 * have been fewer: its runs are larger).
 */
function threadsOf(job: Job, state: SortState, maxRuns: number): number {
  const f = job.o.format;
  // An input one thread forms in one run starts no worker (each costs its
  // start and its charge, for no part of the input to form).
  if (oneRun(job.inputSize - state.inputOffset, job.o.memory, f.recordSize)) return 1;
  for (let t = formingThreads(job, state.runs.length, job.inputSize - state.inputOffset); t > 1; t--) {
    if (state.runs.length + maxRunsFor(job.inputSize - state.inputOffset, job.o.memory, f.recordSize, t) <= maxRuns) return t;
  }
  return 1;
}

/**
 * The threads asked for (threadsFor); with PMem merge buffers and no
 * `parallel` given, fewer when more would form more runs, with `runs`
 * formed and `bytes` of input left, than one thread merges well
 * (formingThreadsFor).
 */
function formingThreads(job: Job, runs: number, bytes: number): number {
  const o = job.o;
  const t = threadsFor(o.memory, o.parallel, o.format.recordSize);
  return o.autoParallel && o.mergeBuffers === 'pmem' ? formingThreadsFor(o.memory, t, o.format.recordSize, runs, bytes, job.inPlace) : t;
}

/**
 * The threads of a final merge with PMem merge buffers: one for `unique`
 * (its ranges' lengths are not known before they are merged) or a single
 * run, else as many of `threads` as give every run its least window in
 * each (mergeThreadsFor): with many runs, every thread more reads each of
 * them through a window of its own.
 */
function mergeThreads(job: Job, state: SortState, threads: number): number {
  if (job.o.format.unique || state.runs.length <= 1) return 1;
  let t = mergeThreadsFor(job.o.memory, state.runs.length, threads, job.inPlace);
  // Each thread holds every run open: no more than the limit on open files lets.
  while (t > 1 && state.runs.length > runsOpenAtOnce(t)) t--;
  return t;
}

/** What the run buffers' input chunk is of the memory budget with `threads` threads, for the error of a line too long for it. */
function shareOf(threads: number): string | undefined {
  if (threads === 1) return undefined; // RunBuffers' own: the input share (40%) of the memory budget
  return `the input share (40%) of what the memory budget leaves after the cost of ${threads - 1} worker thread${threads > 2 ? 's' : ''}`;
}
