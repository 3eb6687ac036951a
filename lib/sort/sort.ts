// externalSort: runs formed in DRAM within the budget and written to PMem,
// then one merge of every run, read in place from PMem; the progress is
// kept in a checkpoint on a Region, so a killed sort resumes. See
// docs/api.md ("externalSort") and docs/durability.md ("External sort").
import * as fs from 'node:fs';
import * as path from 'node:path';

import { PmemError } from '../core/errors';
import { openMapping, type Mapping } from '../core/mapping';
import { Checkpoint, checkpointSize, type SortState } from './checkpoint';
import { FileSink, merge, noSpace } from './merge';
import { checkSortOptions, type Checked, type SortOptions, type SortResult } from './options';
import { RecordOrder } from './records';
import { bufferMemory, formRuns, maxRunsFor, threadsFor } from './formation';
import { mergeInRanges } from './parallel-merge';
import { SortThreads } from './run-thread';
import { RunBuffers } from './runs';
import { DramSource, PmemSource, type RunSource } from './sources';

const CHECKPOINT_FILE = 'checkpoint';
const RUN_NAME = /^run-(\d+)$/;
/** The output buffer of every merge. */
const SINK_BUFFER = 1024 * 1024;

interface Job {
  o: Checked;
  input: string;
  output: string;
  /** The temporary output, renamed to `output` when complete. */
  partial: string;
  dir: string;
  ownDir: boolean;
  inputSize: number;
  order: RecordOrder;
}

/**
 * Sorts the file `input` into the file `output` (replaced when complete,
 * never partly written). Synchronous: it blocks the calling thread.
 *
 * Durable when it returns: the output's bytes (fdatasync) and its name.
 * While it runs, a checkpoint in the `pmem` directory is durable after
 * every run and every `checkpointBytes` of merge output; `resume: true`
 * continues from the last one, and produces the same output.
 * The input is only read.
 * @throws TypeError, RangeError for bad arguments
 * @throws PmemError ERR_PMEM_NOT_FOUND (no input), ERR_PMEM_INVALID (the
 *   output is the input, a binary input not a whole number of records, an
 *   input changed under a resume, a checkpoint of another sort),
 *   ERR_PMEM_EXISTS (an unfinished sort's checkpoint, without `resume`),
 *   ERR_PMEM_NO_MEMORY (a line longer than 40% of the budget),
 *   ERR_PMEM_NO_SPACE (the input is untouched and the checkpoint resumable),
 *   ERR_PMEM_CORRUPT (a damaged checkpoint)
 */
export function externalSort(input: string, output: string, options: SortOptions = {}): SortResult {
  if (typeof input !== 'string' || input.length === 0) throw new TypeError('input must be a non-empty path');
  if (typeof output !== 'string' || output.length === 0) throw new TypeError('output must be a non-empty path');
  const o = checkSortOptions(options);
  const job = prepare(input, output, o);
  fs.mkdirSync(job.dir, { recursive: true });
  const cpPath = path.join(job.dir, CHECKPOINT_FILE);
  const description = describe(job);
  let region: Mapping | null = null;
  let pool: SortThreads | null = null;
  let state: SortState;
  let cp: Checkpoint;
  let resumed = false;
  try {
    const found = fs.existsSync(cpPath) ? openCheckpoint(cpPath) : null;
    if (found !== null) {
      region = found.region;
      if (!o.resume) throw new PmemError('ERR_PMEM_EXISTS', `${job.dir} holds an unfinished sort: resume it, or remove the directory`, { path: job.dir });
      if (found.checkpoint.job !== description) {
        throw new PmemError('ERR_PMEM_INVALID', `the checkpoint in ${job.dir} is of another sort, or the input changed since (${found.checkpoint.job})`, { path: cpPath });
      }
      cp = found.checkpoint;
      state = found.state;
      resumed = true;
    } else {
      removeWork(job, false);
      state = {
        phase: 'runs', inputOffset: 0, records: 0, nextRunId: 0, runs: [], passes: 0, passDone: 0,
        outputBytes: 0, lastLength: 0, tempBytes: 0, formedRuns: 0,
      };
      const f = o.format;
      const maxRuns = maxRunsFor(job.inputSize, o.memory, f.recordSize, threadsFor(o.memory, o.parallel, f.recordSize));
      region = openMapping(cpPath, { size: checkpointSize(maxRuns), create: true, exclusive: true });
      cp = Checkpoint.create(region, description, maxRuns, state);
    }
    removeStrayRuns(job, state);
    const publish = (): void => {
      cp.publish(state);
      o.onCheckpoint?.({ phase: state.phase, generation: cp.generation, runs: state.runs.length, inputOffset: state.inputOffset, outputBytes: state.outputBytes });
    };
    const forming = state.phase === 'runs';
    const threads = forming ? threadsOf(job, state, cp.maxRuns) : threadsFor(o.memory, o.parallel, o.format.recordSize);
    if (threads > 1 && state.phase !== 'done') pool = new SortThreads(forming ? RunBuffers.of(bufferMemory(o.memory, threads), true) : null, threads, o.format);
    if (forming) {
      formRuns({
        input: job.input, inputSize: job.inputSize, order: job.order, memory: o.memory,
        runPath: (id) => runPath(job, id), onProgress: o.onProgress,
      }, state, publish, pool);
    }
    if (state.phase === 'merge') mergeRuns(job, state, publish, pool);
  } finally {
    // Every worker stopped, on an error too (it already waited for their jobs).
    pool?.close();
    region?.close();
  }
  // Done and durable: the output takes its name, then the work goes.
  if (fs.existsSync(job.partial)) fs.renameSync(job.partial, job.output);
  syncDir(path.dirname(job.output));
  removeWork(job, true);
  return {
    records: state.records,
    inputBytes: job.inputSize,
    outputBytes: state.outputBytes,
    runs: state.formedRuns,
    mergePasses: state.passes,
    tempBytesWritten: state.tempBytes,
    peakRss: process.resourceUsage().maxRSS * 1024,
    resumed,
  };
}

function prepare(input: string, output: string, o: Checked): Job {
  let st: fs.Stats;
  try {
    st = fs.statSync(input);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PmemError(code === 'EACCES' ? 'ERR_PMEM_ACCESS' : 'ERR_PMEM_NOT_FOUND', `cannot read ${input}: ${code}`, { path: input });
  }
  if (!st.isFile()) throw new PmemError('ERR_PMEM_INVALID', `${input} is not a regular file`, { path: input });
  const absIn = fs.realpathSync(input);
  const absOut = path.resolve(output);
  let outSt: fs.Stats | undefined;
  try {
    outSt = fs.statSync(absOut);
  } catch {
    outSt = undefined;
  }
  if (absOut === absIn || (outSt !== undefined && outSt.dev === st.dev && outSt.ino === st.ino)) {
    throw new PmemError('ERR_PMEM_INVALID', `the output ${output} is the input: a resumable sort needs its input until it ends`, { path: output });
  }
  const rs = o.format.recordSize;
  if (rs > 0 && st.size % rs !== 0) {
    throw new PmemError('ERR_PMEM_INVALID', `${input} holds ${st.size} bytes, not a whole number of ${rs}-byte records`, { path: input });
  }
  const dir = path.resolve(o.pmem ?? `${absOut}.pmem-sort`);
  return {
    o, input: absIn, output: absOut, partial: `${absOut}.pmem-sort-partial`, dir, ownDir: o.pmem === undefined,
    inputSize: st.size, order: new RecordOrder(o.format),
  };
}

/** What a checkpoint must match to be resumed: the input as it was, the output, and every option that shapes the runs. */
function describe(job: Job): string {
  const st = fs.statSync(job.input);
  return JSON.stringify({
    input: job.input, size: job.inputSize, mtimeMs: st.mtimeMs, output: job.output,
    format: job.o.format, memory: job.o.memory, mergeBuffers: job.o.mergeBuffers,
  });
}

/**
 * The threads that form the rest of the runs: as many as asked for whose
 * runs the checkpoint has room for (it was sized for the threads of the
 * sort's start, which may have been fewer: its runs are larger).
 */
function threadsOf(job: Job, state: SortState, maxRuns: number): number {
  const f = job.o.format;
  for (let t = threadsFor(job.o.memory, job.o.parallel, f.recordSize); t > 1; t--) {
    if (state.runs.length + maxRunsFor(job.inputSize - state.inputOffset, job.o.memory, f.recordSize, t) <= maxRuns) return t;
  }
  return 1;
}

function openCheckpoint(cpPath: string): { region: Mapping; checkpoint: Checkpoint; state: SortState } | null {
  const region = openMapping(cpPath);
  try {
    const r = Checkpoint.recover(region);
    if (r !== null) return { region, ...r };
  } catch (e) {
    region.close();
    throw e;
  }
  // Never published: a crash while the sort started. Nothing was acknowledged.
  region.close();
  fs.rmSync(cpPath);
  return null;
}

const runPath = (job: Job, id: number): string => path.join(job.dir, `run-${id}`);

/** Removes run files no checkpoint names (left by a run or merge that was cut short). */
function removeStrayRuns(job: Job, state: SortState): void {
  const named = new Set(state.runs.map((r) => r.id));
  for (const name of fs.readdirSync(job.dir)) {
    const m = RUN_NAME.exec(name);
    if (m !== null && !named.has(Number(m[1]))) fs.rmSync(path.join(job.dir, name), { force: true });
  }
}

/** Removes the sort's own files: runs, the partial output, and (when `all`) the checkpoint and a directory it made. */
function removeWork(job: Job, all: boolean): void {
  for (const name of fs.readdirSync(job.dir)) {
    if (RUN_NAME.test(name) || (all && name === CHECKPOINT_FILE)) fs.rmSync(path.join(job.dir, name), { force: true });
  }
  if (!all) fs.rmSync(job.partial, { force: true });
  if (all && job.ownDir) fs.rmdirSync(job.dir);
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function mergeRuns(job: Job, state: SortState, publish: () => void, pool: SortThreads | null): void {
  const dramBuffer = Math.max(64 * 1024, Math.min(4 * 1024 * 1024, Math.floor(job.o.memory / 16)));
  const fanIn = job.o.mergeBuffers === 'dram' ? Math.max(2, Math.floor(job.o.memory / dramBuffer)) : Infinity;
  while (state.runs.length > fanIn) mergeGroup(job, state, fanIn, dramBuffer, publish);
  // A pass cut short (the runs it left fit one merge) still wrote its groups: it counts.
  if (state.passDone > 0) {
    state.passes++;
    state.passDone = 0;
  }
  finalMerge(job, state, dramBuffer, publish, pool);
}

/** Opens the runs as merge sources at their cursors. */
function openSources(job: Job, state: SortState, runs: SortState['runs'], dramBuffer: number): RunSource[] {
  const sources: RunSource[] = [];
  try {
    // PMem sources together keep about half the budget mapped (see PmemSource).
    const window = Math.max(256 * 1024, Math.floor(job.o.memory / 2 / Math.max(1, runs.length)));
    for (const r of runs) {
      sources.push(job.o.mergeBuffers === 'pmem'
        ? new PmemSource(runPath(job, r.id), r.length, r.cursor, job.order, window)
        : new DramSource(runPath(job, r.id), r.length, r.cursor, job.order, dramBuffer));
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
function mergeGroup(job: Job, state: SortState, fanIn: number, dramBuffer: number, publish: () => void): void {
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
  const sink = new FileSink(target, 0, SINK_BUFFER);
  const sources = openSources(job, state, group.map((r) => ({ ...r, cursor: 0 })), dramBuffer);
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
function finalMerge(job: Job, state: SortState, dramBuffer: number, publish: () => void, pool: SortThreads | null): void {
  const o = job.o;
  if (pool !== null && !o.format.unique && state.runs.length > 1) {
    try {
      mergeInRanges({
        partial: job.partial, order: job.order, memory: o.memory, mergeBuffers: o.mergeBuffers, dramBuffer,
        checkpointBytes: o.checkpointBytes, runPath: (id) => runPath(job, id), onProgress: o.onProgress,
      }, state, publish, pool);
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
    return;
  }
  const total = state.runs.reduce((n, r) => n + r.length, 0);
  // A buffer of at most a quarter of a checkpoint's bytes: between two
  // checkpoints the file grows past the last one, which resume cuts back.
  const sink = new FileSink(job.partial, state.outputBytes, Math.max(4096, Math.min(SINK_BUFFER, Math.floor(job.o.checkpointBytes / 4))));
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
    sources = openSources(job, state, state.runs, dramBuffer);
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
}

/** The 'done' checkpoint, once the whole output is durable. */
function finishMerge(state: SortState, publish: () => void): void {
  for (const r of state.runs) r.cursor = r.length;
  if (state.runs.length > 0) state.passes++;
  state.phase = 'done';
  // The whole output durable (the caller synced it) before the checkpoint says so.
  publish();
}
