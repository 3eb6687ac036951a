// Run formation's loop: the input, from the checkpoint's offset, into runs
// published in input order. With more than one thread, the budget's run
// buffers are split into one part per thread: the main thread reads and
// splits each run into a part, hands it to that part's worker (or sorts
// its own part itself), and goes on to the next while the others sort and
// write theirs.
import type { SortState } from './checkpoint';
import type { RecordOrder } from './records';
import { formRun, maxRunRecords, RunBuffers, runInputBytes, sortRun, splitRun, type FormedRun, type SplitRun } from './runs';
import type { SortThreads } from './run-thread';
import { MAX_THREADS, type SortProgress } from './options';
import { pmemWindowsFit, readWindowsFit } from './sources';

/** The least budget per thread: below it, fewer threads. */
export const MIN_THREAD_MEMORY = 16 * 1024;

export interface Formation {
  /** The input, open for reading (the sort's one descriptor of it: see Job.inputFd). */
  inputFd: number;
  inputSize: number;
  order: RecordOrder;
  runPath(id: number): string;
  onProgress?(progress: SortProgress): void;
}

/**
 * What a worker thread costs the process besides the buffers it is given
 * (its heap and its copy of the modules: about 15 MiB measured), charged
 * to the budget; at most a quarter of it.
 */
const WORKER_BYTES = 16 * 1024 * 1024;

function workerCharge(memory: number): number {
  return Math.min(WORKER_BYTES, Math.floor(memory / 4));
}

/** The budget left for run buffers (and merge sources) with `threads` threads: each worker's cost taken out. */
export function bufferMemory(memory: number, threads: number): number {
  return memory - (threads - 1) * workerCharge(memory);
}

/**
 * Threads a sort of `memory` uses when `asked` for: their charges take at
 * most half the budget, and each gets at least MIN_THREAD_MEMORY and one
 * binary record's input.
 */
export function threadsFor(memory: number, asked: number, recordSize: number): number {
  let t = Math.max(1, Math.min(asked, MAX_THREADS));
  while (t > 1 && (
    (t - 1) * workerCharge(memory) > memory / 2 ||
    bufferMemory(memory, t) / t < MIN_THREAD_MEMORY ||
    runInputBytes(bufferMemory(memory, t)) / t < recordSize
  )) t--;
  return t;
}

/**
 * The input a run holds with `threads` threads, when it is not cut short:
 * a part's input chunk, or its records, of `recordSize` bytes each (text
 * lines of at least one byte, for a bound; of `line`, for an estimate).
 */
function runBytes(budget: number, recordSize: number, threads: number, line = 1): number {
  const memory = bufferMemory(budget, threads);
  const chunk = Math.floor(runInputBytes(memory) / threads);
  const records = Math.max(1, Math.floor(maxRunRecords(memory) / threads));
  return Math.max(1, Math.min(chunk, records * (recordSize > 0 ? recordSize : line)));
}

/**
 * Whether `bytes` of input form one run on one thread under `budget`
 * whatever its records (text lines of one byte each, at worst): no worker
 * would get a part of it to form.
 */
export function oneRun(bytes: number, budget: number, recordSize: number): boolean {
  return bytes <= runBytes(budget, recordSize, 1);
}

/** Text lines as long as this fill a run's input chunk before its record table (see runs.ts). */
const CHUNK_LINE = 48;

/**
 * The most runs that `bytes` of input can make with `threads` threads: a
 * pair of consecutive runs holds at least runBytes (a run cut short before
 * a line too long for it is followed by one that holds the line).
 */
export function maxRunsFor(bytes: number, budget: number, recordSize: number, threads: number): number {
  return 2 * Math.ceil(bytes / runBytes(budget, recordSize, threads)) + 2;
}

/**
 * The window a merge source that reads its run in place reads through at
 * least, where the budget allows, for its releases and populates to cost
 * little per byte: a release of fewer than 34 pages flushes the TLB one
 * page at a time (Linux's tlb_single_page_flush_ceiling on x86), and under
 * a hypervisor a release of 64 KiB cost 3× one of 256 KiB (docs/bench.md).
 */
export const MERGE_WINDOW = 256 * 1024;

/**
 * The window a merge source that reads its run with pread(2) reads
 * through at least, where the budget allows: a read of 16 KiB from the
 * page cache cost 3.4 µs, 0.2 ns a byte (4 KiB: 0.6 ns a byte; docs/bench.md).
 */
export const READ_WINDOW = 16 * 1024;

/**
 * Whether `merging` merge threads each read `runs` runs through their
 * least windows: MERGE_WINDOW in place, in the budget the threads leave
 * mapped (pmemWindowsFit); READ_WINDOW through pread, in the thread's part
 * of the input chunk of run buffers made for `threads` threads (see
 * readsInPlace, readWindows).
 */
function windowsFit(memory: number, threads: number, merging: number, runs: number, inPlace: boolean): boolean {
  if (inPlace) return pmemWindowsFit(bufferMemory(memory, merging), runs * merging, MERGE_WINDOW);
  return readWindowsFit(Math.floor(runInputBytes(bufferMemory(memory, threads)) / merging), runs, READ_WINDOW);
}

/**
 * The threads, of `threads` (those the run buffers were made for), of a
 * final merge of `runs` runs with PMem merge buffers: each thread reads
 * every run through a window of its own, so as many as give every window
 * its least (windowsFit). At least one.
 */
export function mergeThreadsFor(memory: number, runs: number, threads: number, inPlace: boolean): number {
  let t = Math.max(1, threads);
  while (t > 1 && !windowsFit(memory, threads, t, runs, inPlace)) t--;
  return t;
}

/**
 * The threads, of `threads`, that a sort not told how many (SortOptions.parallel)
 * forms the rest of its runs on, with PMem merge buffers: more threads form
 * smaller runs, and more of them (each has part of the budget), so as many
 * as leave `runs` runs formed and those of the `bytes` left few enough for
 * one thread to merge through its least windows (windowsFit). At least one.
 */
export function formingThreadsFor(memory: number, threads: number, recordSize: number, runs: number, bytes: number, inPlace: boolean): number {
  let t = Math.max(1, threads);
  // Text lines are taken to be as long as fill the chunk: shorter ones make
  // more runs than this counts, and the merge then takes fewer threads.
  while (t > 1 && !windowsFit(memory, t, 1, runs + Math.ceil(bytes / runBytes(memory, recordSize, t, CHUNK_LINE)), inPlace)) t--;
  return t;
}

interface Pending {
  id: number;
  offset: number;
  split: SplitRun;
  /** The run file's length once it is durable; -1 before. */
  length: number;
}

/**
 * Forms runs from the checkpoint's input offset to the end; publishes each,
 * then the merge phase. `whole` is the budget's run buffers (the pool's,
 * over shared memory, with more than one thread).
 */
export function formRuns(f: Formation, state: SortState, publish: () => void, pool: SortThreads | null, whole: RunBuffers): void {
  const threads = pool?.threads ?? 1;
  const parts = threads > 1 ? Array.from({ length: threads }, (_, i) => whole.part(i, threads)) : [whole];
  const workers = pool?.workers ?? [];
  const fd = f.inputFd;
  /** Runs split and not yet published, in input order. */
  const queue: Pending[] = [];
  const slots: (Pending | null)[] = new Array(threads).fill(null);
  /** Publishes the runs at the head of the queue whose files are durable: always in input order. */
  const publishReady = (): void => {
    while (queue.length > 0 && queue[0].length >= 0) {
      const run = queue.shift() as Pending;
      state.runs.push({ id: run.id, length: run.length, cursor: 0 });
      state.nextRunId = run.id + 1;
      state.inputOffset += run.split.consumed;
      state.records += run.split.records;
      state.tempBytes += run.length;
      state.formedRuns++;
      // The run file is durable (sortRun persisted it) and so is every run
      // before it in input order: naming it is safe. A run finished out of
      // order waits for the ones before it, and a crash meanwhile leaves it
      // a file no checkpoint names, which resume replaces.
      publish();
      f.onProgress?.({ phase: 'runs', done: state.inputOffset, total: f.inputSize });
    }
  };
  /** The run the main thread is at (splitting, sorting, or waiting for): the one an error is about. */
  let current = Infinity;
  const settle = (slot: number): void => {
    const run = slots[slot];
    if (run === null) return;
    slots[slot] = null;
    current = run.id;
    run.length = workers[slot].wait();
  };
  try {
    // Part threads - 1 is the main thread's; the others each have a worker.
    let offset = state.inputOffset;
    let id = state.nextRunId;
    for (let slot = 0; ; slot = (slot + 1) % threads) {
      const own = slot === threads - 1;
      if (!own) {
        settle(slot);
        publishReady();
      }
      current = id;
      const split = splitRun(fd, f.inputSize, offset, parts[slot], f.order);
      if (split === null) break;
      const run: Pending = { id: id++, offset, split, length: -1 };
      queue.push(run);
      offset += split.consumed;
      if (split.records === 0 && threads > 1) {
        // A line too long for a part: every thread stops, and the run is
        // formed in the whole budget's buffers, as one thread would form it
        // (and refused as one thread would refuse it).
        for (let s = 0; s < workers.length; s++) settle(s);
        // Not null: the run's offset is before the input's end.
        const formed = formRun(fd, f.inputSize, run.offset, whole, f.order, f.runPath(run.id)) as FormedRun;
        offset = run.offset + formed.consumed;
        run.split = { consumed: formed.consumed, records: formed.records };
        run.length = formed.length;
      } else if (own) {
        current = run.id;
        run.length = sortRun(split, run.offset, parts[slot], f.order, f.runPath(run.id));
      } else {
        slots[slot] = run;
        workers[slot].start({ kind: 'run', offset: run.offset, consumed: split.consumed, records: split.records, runPath: f.runPath(run.id) });
      }
      publishReady();
    }
    for (let s = 0; s < workers.length; s++) settle(s);
    publishReady();
  } catch (e) {
    // The workers finish (or fail) the run they hold before the error goes
    // on; of the errors, the one of the earliest run in input order, which
    // one thread forming the runs in order would have met first.
    let first = { id: current, error: e };
    for (let s = 0; s < workers.length; s++) {
      const run = slots[s];
      if (run === null) continue;
      slots[s] = null;
      try {
        workers[s].wait();
      } catch (w) {
        if (run.id < first.id) first = { id: run.id, error: w };
      }
    }
    throw first.error;
  }
  state.phase = 'merge';
  publish();
}
