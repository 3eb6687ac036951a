// externalSort: runs formed in DRAM within the budget and written to PMem,
// then one merge of every run, read in place from PMem (or with pread
// where the runs' directory is not PMem: sources.ts); the progress is
// kept in a checkpoint on a Region, so a killed sort resumes. See
// docs/api.md ("externalSort") and docs/durability.md ("External sort").
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { NativeLock } from '../core/binding';
import { fromSystemError, PmemError } from '../core/errors';
import { openMapping, type Mapping } from '../core/mapping';
import { punchHole } from '../core/space';
import { Checkpoint, CHECKPOINT_MAGIC, checkpointSize, type SortState } from './checkpoint';
import { lockOutput, lockSortFile, publishOutput, removeHeld, removeIfEmpty, sortWorkIn, type SortLock } from './lock';
import { checkSortOptions, type Checked, type SortOptions, type SortResult } from './options';
import { RecordOrder } from './records';
import { bufferMemory, formingThreadsFor, formRuns, maxRunsFor, mergeThreadsFor, threadsFor } from './formation';
import { mergeRuns, runPath, runsOpenAtOnce } from './merge-phase';
import { SortThreads } from './run-thread';
import { afterDeadEnd, inputChanged, RunBuffers } from './runs';
import { endedShort, missingRun, readsInPlace } from './sources';

const CHECKPOINT_FILE = 'checkpoint';
const RUN_NAME = /^run-(\d+)$/;
/**
 * An empty file in a `pmem` directory that a sort made: the sort that
 * finishes the work, a resume too, removes the directory as it would the
 * default one.
 */
const MADE_FILE = 'made-by-sort';

export interface Job {
  o: Checked;
  input: string;
  output: string;
  /** The temporary output, renamed to `output` when complete. */
  partial: string;
  dir: string;
  /** Whether `dir` is removed at the end (when empty): the default one, or one this call made. */
  ownDir: boolean;
  /**
   * The input, open for reading from the start of the sort to its end: the
   * file the sort reads is the one it checks (checkUnchanged), whatever
   * the path names meanwhile.
   */
  inputFd: number;
  /** The input's size and modification time when the sort started (one fstat), as the checkpoint describes it. */
  inputSize: number;
  inputMtimeMs: number;
  order: RecordOrder;
  /**
   * Whether the merge reads the runs in place (readsInPlace of the
   * checkpoint's mapping, which is in the same directory); false until the
   * checkpoint is open.
   */
  inPlace: boolean;
}

/**
 * Sorts the file `input` into the file `output` (replaced when complete,
 * never partly written). Synchronous: it blocks the calling thread.
 *
 * Durable when it returns: the output's bytes (fdatasync) and its name.
 * While it runs, a checkpoint in the `pmem` directory is durable after
 * every run and every `checkpointBytes` of merge output; `resume: true`
 * continues from the last one, and produces the same output.
 * The input is only read, through one descriptor held from the start to
 * the end; an input that changed meanwhile (its size or modification time)
 * is refused before the output is published. One sort at a time uses a
 * pmem directory, and one writes an output: both are locked from the start
 * to the end.
 * @throws TypeError, RangeError for bad arguments
 * @throws PmemError ERR_PMEM_NOT_FOUND (no input, no directory for the
 *   output, no parent for the pmem directory), ERR_PMEM_ACCESS (a path that
 *   cannot be read or made), ERR_PMEM_INVALID (the
 *   output is the input, the pmem directory is the input, the output or
 *   its partial output, or holds one of them named as the sort's own files
 *   (checkpoint, made-by-sort, run-N), a binary input not a whole number of records, an
 *   input changed under a resume, a checkpoint of another sort, a partial
 *   output or a checkpoint that is not a regular file; an input that grew,
 *   shrank or was rewritten while it was sorted: the sort's work is
 *   removed, as below),
 *   ERR_PMEM_LOCKED (another sort, in this process or another, uses the
 *   pmem directory or writes the output: nothing of the other's is changed),
 *   ERR_PMEM_EXISTS (an unfinished sort's checkpoint, without `resume`),
 *   ERR_PMEM_NO_MEMORY (a line longer than 40% of the budget, which no
 *   resume gets past: the sort removes its runs, its checkpoint, its partial
 *   output and a directory it made, so that the same sort with a larger
 *   budget starts afresh; or a worker thread that stopped without
 *   answering: the checkpoint is resumable),
 *   ERR_PMEM_NO_SPACE (the input is untouched and the checkpoint resumable),
 *   ERR_PMEM_CORRUPT (a damaged checkpoint, or a run file it names missing,
 *   not a regular file or shorter than it says: checked before a resume writes anything),
 *   ERR_PMEM_IO (any other failed system call, with its errno and syscall:
 *   EMFILE, say; the checkpoint is resumable)
 */
export function externalSort(input: string, output: string, options: SortOptions = {}): SortResult {
  try {
    return sortFile(input, output, options);
  } catch (e) {
    // A system call's own error (EMFILE, when the application opened files
    // while the sort ran; EIO) as this package's: the checkpoint stays.
    throw fromSystemError(e);
  }
}

function sortFile(input: string, output: string, options: SortOptions): SortResult {
  if (typeof input !== 'string' || input.length === 0) throw new TypeError('input must be a non-empty path');
  if (typeof output !== 'string' || output.length === 0) throw new TypeError('output must be a non-empty path');
  const o = checkSortOptions(options);
  const job = prepare(input, output, o);
  try {
    return sortPrepared(job);
  } finally {
    fs.closeSync(job.inputFd);
  }
}

function sortPrepared(job: Job): SortResult {
  const o = job.o;
  // The partial output's lock, held until the sort ends (its rename over
  // `output` included): one sort at a time writes and renames
  // `<output>.pmem-sort-partial`, whatever its pmem directory. Taken before
  // anything is made, so that a second sort into the same output fails at
  // once and touches nothing of the first's.
  const partial = lockSortFile(job.partial, {
    use: 'the sort writes its output there and renames it into place',
    busy: `another sort is writing ${job.output} (it holds ${job.partial})`,
  });
  const held: Held = { partial, checkpoint: null, partialOurs: partial.made, output: null };
  let finished = false;
  try {
    // The output's lock, when a file is there: one that another open holds
    // (a store's writer, another sort's checkpoint) is refused now, before
    // anything is made, rather than renamed over at the end (lockOutput).
    held.output = lockOutput(job.output, null, partial);
    // A pmem directory the sort makes is its own, removed at the end like the
    // default one; so is one an interrupted sort made, for the resume.
    const made = path.join(job.dir, MADE_FILE);
    if (makeWorkDir(job.dir)) {
      job.ownDir = true;
      if (o.pmem !== undefined) fs.closeSync(fs.openSync(made, 'w'));
    } else if (o.pmem !== undefined && fs.existsSync(made)) {
      job.ownDir = true;
    }
    // The checkpoint's lock, held until the sort ends (the checkpoint's
    // removal included): one sort at a time in a pmem directory reads and
    // publishes the checkpoint and makes, merges and removes the run files it
    // names. A second sort there (a second resume of the same sort, say)
    // fails at once, before it reads the checkpoint or removes a run.
    held.checkpoint = lockSortFile(path.join(job.dir, CHECKPOINT_FILE), {
      use: 'the sort keeps its checkpoint there',
      busy: `another sort is using the pmem directory ${job.dir} (it holds ${path.join(job.dir, CHECKPOINT_FILE)})`,
    });
    const result = sortLocked(job, held);
    finished = true;
    return result;
  } catch (e) {
    throw held.checkpoint === null ? e : abandonWork(job, held, e);
  } finally {
    if (!finished) leaveNothingEmpty(held);
    held.checkpoint?.release();
    held.partial.release();
    held.output?.release();
  }
}

/** The locks a sort holds (see sortFile), and what it may remove on a failure. */
interface Held {
  partial: SortLock;
  /** Null until the pmem directory is there. */
  checkpoint: SortLock | null;
  /** Whether this call made or emptied the partial output. */
  partialOurs: boolean;
  /** The lock of the file at the output's path, when one is there (lockOutput). */
  output: NativeLock | null;
}

/**
 * On a failure that no resume with the same options gets past (afterDeadEnd:
 * a line too long for the budget, an input changed while it was sorted),
 * the sort's work goes, as when it finishes (removeWork: the runs, the
 * checkpoint, a directory it made), and so does its partial output, which
 * no checkpoint counts then: the next sort, with a larger budget or of the
 * input once it is written, starts afresh instead of meeting a checkpoint
 * it can neither resume nor start over (ERR_PMEM_EXISTS without `resume`,
 * ERR_PMEM_INVALID or the same error with it). Both locks are still held,
 * so no other sort uses the files meanwhile. Returns the error to throw: the
 * same code, its message saying what was removed; `e` itself when the
 * removal failed part way (the rest is left as it is, and the sort's own
 * error is what the caller sees).
 */
function abandonWork(job: Job, held: Held, e: unknown): unknown {
  const next = afterDeadEnd(e);
  if (next === undefined) return e;
  try {
    // The runs before the checkpoint, as removeWork orders them: a crash
    // between leaves a checkpoint that names runs gone, never runs that no
    // checkpoint names (which a new sort would refuse).
    removeWork(job);
    removeHeld(held.partial);
  } catch {
    return e;
  }
  const err = e as PmemError;
  return new PmemError(err.code, `${err.message}: the sort removed its runs and checkpoint; ${next}`, {
    ...(err.errno === undefined ? {} : { errno: err.errno }),
    ...(err.syscall === undefined ? {} : { syscall: err.syscall }),
    ...(err.path === undefined ? {} : { path: err.path }),
  });
}

/**
 * Refuses to publish an output of an input that changed after the sort
 * started: its size or its modification time is not what the one fstat of
 * prepare() found (and, on a resume, what the checkpoint describes, which
 * the resume matched: the two checks agree). The size catches an input that
 * grew, whose new bytes the output would lack (the sort reads the size it
 * started with), or shrank after its last read; the modification time, one
 * rewritten in place. Not the change time: it moves with the file's mode,
 * owner and links too (a rename, a hard link made), which change none of
 * the bytes sorted. A rewrite of the same size within the filesystem's
 * timestamp granularity (a clock tick) of the start is not seen.
 * @throws PmemError ERR_PMEM_INVALID (a dead end: abandonWork)
 */
function checkUnchanged(job: Job): void {
  const st = fs.fstatSync(job.inputFd);
  if (st.size > job.inputSize) {
    throw inputChanged(`the input grew while it was sorted (${st.size} bytes, of which the sort read ${job.inputSize})`, job.input);
  }
  if (st.size < job.inputSize) throw inputChanged(`the input shrank while it was sorted (${st.size} of ${job.inputSize} bytes)`, job.input);
  if (st.mtimeMs !== job.inputMtimeMs) {
    throw inputChanged(`the input changed while it was sorted (its modification time moved, its size of ${st.size} bytes did not)`, job.input);
  }
}

/**
 * On a failure: a checkpoint left empty (never formatted) and a partial
 * output this call made or emptied and did not write name nothing, and
 * go. Everything else stays for the resume. The sort's own error is what
 * the caller sees, whatever this meets.
 */
function leaveNothingEmpty(held: Held): void {
  try {
    if (held.checkpoint !== null) removeIfEmpty(held.checkpoint);
    if (held.partialOurs) removeIfEmpty(held.partial);
  } catch {
    // Left as it is: a later sort starts afresh over an empty checkpoint, and empties the partial output.
  }
}

/** The sort, with both locks held. */
function sortLocked(job: Job, held: Held): SortResult {
  const o = job.o;
  const cpLock = held.checkpoint as SortLock;
  const cpPath = cpLock.path;
  const description = describe(job);
  let region: Mapping | null = null;
  let pool: SortThreads | null = null;
  let state: SortState;
  let cp: Checkpoint;
  let resumed = false;
  /** Whether the checkpoint said 'done' when this call found it. */
  let doneBefore = false;
  let mergeRanges = 0;
  /** Threads the sort ran on. */
  let ran = 1;
  try {
    // Empty: made by the lock just now, or by a sort killed before it sized
    // the file. It named nothing: the sort starts afresh over it.
    const found = fs.fstatSync(cpLock.fd).size > 0 ? openCheckpoint(cpPath, cpLock.fd) : null;
    if (found !== null) {
      region = found.region;
      if (!o.resume) throw new PmemError('ERR_PMEM_EXISTS', `${job.dir} holds an unfinished sort: resume it, or remove the directory`, { path: job.dir });
      if (found.checkpoint.job !== description) {
        throw new PmemError('ERR_PMEM_INVALID', `the checkpoint in ${job.dir} is of another sort: ${differences(found.checkpoint.job, description)}`, { path: cpPath });
      }
      cp = found.checkpoint;
      state = found.state;
      checkRunFiles(job, state);
      resumed = true;
      doneBefore = state.phase === 'done';
      job.inPlace = readsInPlace(region);
    } else {
      refuseForeignRuns(job);
      // Whatever an earlier sort left in the partial output goes: emptied
      // through the lock, not removed, so that the lock stays on the file
      // the path names.
      fs.ftruncateSync(held.partial.fd, 0);
      held.partialOurs = true;
      state = {
        phase: 'runs', inputOffset: 0, records: 0, nextRunId: 0, runs: [], passes: 0, passDone: 0,
        outputBytes: 0, lastLength: 0, tempBytes: 0, formedRuns: 0,
      };
      const f = o.format;
      // Room for the runs of the most threads the sort may form them on:
      // how many it takes depends on how the merge reads them, which the
      // checkpoint's mapping tells (threadsOf).
      const maxRuns = maxRunsFor(job.inputSize, o.memory, f.recordSize, threadsFor(o.memory, o.parallel, f.recordSize));
      // The locked file, empty, sized: a crash before the first publish
      // leaves it empty or unpublished, and the next sort starts afresh.
      region = openMapping(cpPath, { size: checkpointSize(maxRuns), create: true });
      job.inPlace = readsInPlace(region);
      cp = Checkpoint.create(region, description, maxRuns, state);
    }
    removeStrayRuns(job, state);
    const merged = new MergedSpace(job);
    const publish = (): void => {
      cp.publish(state);
      // The checkpoint is durable: a resume starts every run at its cursor
      // or later, so the bytes before the cursors are never read again.
      if (state.phase === 'merge') merged.giveBack(state.runs);
      o.onCheckpoint?.({ phase: state.phase, generation: cp.generation, runs: state.runs.length, inputOffset: state.inputOffset, outputBytes: state.outputBytes });
    };
    const forming = state.phase === 'runs';
    const threads = forming ? threadsOf(job, state, cp.maxRuns) : threadsFor(o.memory, o.parallel, o.format.recordSize);
    // The run buffers, for run formation and then as the merge's arena:
    // DRAM merge buffers' (merge-phase.ts, dramFanIn), or the windows of
    // runs read with pread (readWindows). Allocated once.
    const arena = o.mergeBuffers === 'dram' || !job.inPlace;
    let buffers = forming || (arena && state.phase === 'merge')
      ? RunBuffers.of(bufferMemory(o.memory, threads), threads > 1) : null;
    // A sort resumed in its merge with PMem merge buffers starts the merge's threads only.
    const starting = !forming && o.mergeBuffers === 'pmem' ? mergeThreads(job, state, threads) : threads;
    if (starting > 1 && state.phase !== 'done') pool = new SortThreads(buffers, starting, o.format);
    ran = pool?.threads ?? 1;
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
  } finally {
    // Every worker stopped, on an error too (it already waited for their jobs).
    pool?.close();
    region?.close();
  }
  // The output holds the input as the sort read it: published only if that
  // is the input still. Checked after the last read of the input (run
  // formation's) and before the rename, so that no change while the sort
  // ran (a writer still appending, say) goes unseen into a published output.
  checkUnchanged(job);
  // Done and durable: the output takes its name, then the work goes, both
  // under the locks, the output's own included (publishOutput: never over a
  // file another open holds). A sort that was done before this call (a
  // crash after its 'done' checkpoint) may have renamed its partial output
  // already: then the lock made the one here, empty, while the checkpoint
  // counts output bytes, and it goes instead.
  if (doneBefore && held.partial.made && state.outputBytes > 0) fs.rmSync(job.partial);
  else held.output = publishOutput(held.partial, job.output, held.output);
  syncDir(path.dirname(job.output));
  removeWork(job);
  return {
    records: state.records,
    inputBytes: job.inputSize,
    outputBytes: state.outputBytes,
    runs: state.formedRuns,
    mergePasses: state.passes,
    tempBytesWritten: state.tempBytes,
    peakRss: process.resourceUsage().maxRSS * 1024,
    resumed,
    threads: ran,
    mergeRanges,
    mergeReads: job.inPlace && o.mergeBuffers === 'pmem' ? 'in place' : 'pread',
  };
}

function prepare(input: string, output: string, o: Checked): Job {
  let st: fs.Stats;
  try {
    st = fs.statSync(input);
  } catch (e) {
    throw cannotRead(input, e);
  }
  if (!st.isFile()) throw new PmemError('ERR_PMEM_INVALID', `${input} is not a regular file`, { path: input });
  // Opened once the path's stat says a regular file: the open of a FIFO would wait for a writer.
  let fd: number;
  try {
    fd = fs.openSync(input, 'r');
  } catch (e) {
    throw cannotRead(input, e);
  }
  try {
    return prepareOpen(input, output, o, fd);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** prepare(), with the input open as `fd` (a regular file when the path was stat'ed). */
function prepareOpen(input: string, output: string, o: Checked, fd: number): Job {
  // The size and times of the file open, which may not be the one stat'ed
  // (the path replaced between): from here on, the sort's one view of it.
  const st = fs.fstatSync(fd);
  if (!st.isFile()) throw new PmemError('ERR_PMEM_INVALID', `${input} is not a regular file`, { path: input });
  // The sort reads the size the input has now. A file that holds more than
  // its size says (one of /proc, whose size is 0, or one still being written)
  // would be sorted in part, and the output would say nothing of the rest.
  // (One that grows after this is refused before its output is published: checkUnchanged.)
  if (readsPast(fd, st.size)) {
    throw new PmemError('ERR_PMEM_INVALID', `${input} holds more than its size (${st.size} bytes) says: a file of /proc, or one still being written`, { path: input });
  }
  const absIn = fs.realpathSync(input);
  const absOut = outputPath(output);
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
  const partial = `${absOut}.pmem-sort-partial`;
  const dir = path.resolve(o.pmem ?? `${absOut}.pmem-sort`);
  checkApart(dir, [['output', absOut], ['partial output', partial], ['input', absIn]]);
  checkOthersWork([['output', absOut], ['partial output', partial]]);
  return {
    o, input: absIn, output: absOut, partial, dir, ownDir: o.pmem === undefined, inPlace: false,
    inputFd: fd, inputSize: st.size, inputMtimeMs: st.mtimeMs, order: new RecordOrder(o.format),
  };
}

/** A path with its directory's symbolic links resolved (the path itself need not exist). */
function canonical(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(p)), path.basename(p));
    } catch {
      return p;
    }
  }
}

/**
 * Refuses a pmem directory that is one of the sort's files, or holds one of
 * them under a name of its own: the sort would replace or remove it. The
 * output named `checkpoint` there, say, was renamed into place and then
 * removed with the checkpoint, and the sort reported success; an output on
 * the directory's own path was refused only by the last rename, after the
 * whole sort.
 * @throws PmemError ERR_PMEM_INVALID
 */
function checkApart(dir: string, files: ReadonlyArray<readonly [string, string]>): void {
  const d = canonical(dir);
  for (const [what, file] of files) {
    const f = canonical(file);
    if (f === d) throw new PmemError('ERR_PMEM_INVALID', `the pmem directory ${dir} is the ${what}: give the sort a directory of its own`, { path: dir });
    const name = path.basename(f);
    if (path.dirname(f) === d && (name === CHECKPOINT_FILE || name === MADE_FILE || RUN_NAME.test(name))) {
      throw new PmemError('ERR_PMEM_INVALID',
        `the ${what} ${file} has the name of one of the sort's own files in its pmem directory ${dir} (checkpoint, made-by-sort, run-N), which the sort replaces and removes: give it another name or the sort another directory`,
        { path: file });
    }
  }
}

/**
 * Refuses an output (or partial output) named as one of another sort's
 * files (checkpoint, made-by-sort, run-N) in that sort's pmem directory:
 * renamed over a run, it was read by the other sort as the run, which it
 * then found short (ERR_PMEM_CORRUPT) or merged into its own output, and
 * removed with its work, while this sort reported success. The directory
 * is another sort's when its checkpoint is one (sortWorkIn): locked by a
 * sort that runs (ERR_PMEM_LOCKED), or left by one that was interrupted
 * and is resumed from it (ERR_PMEM_INVALID: its resume needs these files).
 * @throws PmemError ERR_PMEM_LOCKED, ERR_PMEM_INVALID
 */
function checkOthersWork(files: ReadonlyArray<readonly [string, string]>): void {
  for (const [what, file] of files) {
    const f = canonical(file);
    const name = path.basename(f);
    if (name !== CHECKPOINT_FILE && name !== MADE_FILE && !RUN_NAME.test(name)) continue;
    const dir = path.dirname(f);
    const work = sortWorkIn(dir, CHECKPOINT_FILE, CHECKPOINT_MAGIC);
    if (work === 'running') {
      throw new PmemError('ERR_PMEM_LOCKED', `the ${what} ${file} is one of the files of another sort, which is using the pmem directory ${dir}: give it another name`, { path: file });
    }
    if (work === 'stopped') {
      throw new PmemError('ERR_PMEM_INVALID',
        `the ${what} ${file} is one of the files of an unfinished sort in the pmem directory ${dir}, which its resume needs: give it another name, or resume or remove that sort`,
        { path: file });
    }
  }
}

/**
 * The path the sorted output is renamed to, absolute. The output is a
 * regular file: one that exists is replaced whole when the sort is done. A
 * symbolic link is followed, so that the file it names is replaced and the
 * link stays; a device, FIFO, socket or directory is refused (renaming over
 * one would replace it, /dev/null for every program). A new output's
 * directory must exist.
 * @throws PmemError ERR_PMEM_INVALID, ERR_PMEM_NOT_FOUND, ERR_PMEM_ACCESS
 */
function outputPath(output: string): string {
  let at = path.resolve(output);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(at);
  } catch (e) {
    // A new file, in a directory that must be there: a misspelt directory
    // is refused, not made (the default pmem directory beside the output
    // would make it, and its parents, and leave them).
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotReach(output, e);
    const dir = path.dirname(at);
    let parent: fs.Stats;
    try {
      parent = fs.statSync(dir);
    } catch (e2) {
      throw cannotReach(output, e2);
    }
    if (!parent.isDirectory()) throw new PmemError('ERR_PMEM_INVALID', `the output ${output}: ${dir} is not a directory`, { path: output });
    return at;
  }
  if (st.isSymbolicLink()) {
    try {
      at = fs.realpathSync(at);
      st = fs.statSync(at);
    } catch {
      throw new PmemError('ERR_PMEM_INVALID', `the output ${output} is a symbolic link to nothing: give the file it should name`, { path: output });
    }
  }
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
    throw new PmemError('ERR_PMEM_INVALID', `the output ${output} is ${kind}: the sort writes a regular file and renames it into place`, { path: output });
  }
  return at;
}

/** Why a path's directory cannot be reached: it is missing, not a directory, or not searchable. */
function cannotReach(file: string, e: unknown): PmemError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new PmemError('ERR_PMEM_NOT_FOUND', `the directory of ${file} does not exist`, { path: file });
  if (code === 'EACCES' || code === 'EPERM') return new PmemError('ERR_PMEM_ACCESS', `cannot reach ${file}: ${code}`, { path: file });
  return new PmemError('ERR_PMEM_INVALID', `cannot reach ${file}: ${code ?? String(e)}`, { path: file });
}

/**
 * Makes the directory for runs and the checkpoint, or finds it; whether it
 * made it. Its parent must be there: a misspelt path is refused, not made
 * with its parents.
 */
function makeWorkDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PmemError('ERR_PMEM_NOT_FOUND', `the pmem directory ${dir}: its parent ${path.dirname(dir)} does not exist`, { path: dir });
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new PmemError('ERR_PMEM_ACCESS', `cannot make ${dir}: ${code}`, { path: dir });
    if (code === 'ENOSPC') throw new PmemError('ERR_PMEM_NO_SPACE', `cannot make ${dir}: no space`, { path: dir });
    if (code !== 'EEXIST' && code !== 'ENOTDIR') throw e;
  }
  let directory = false;
  try {
    directory = fs.statSync(dir).isDirectory();
  } catch {
    directory = false;
  }
  if (!directory) throw new PmemError('ERR_PMEM_INVALID', `the pmem directory ${dir} is not a directory`, { path: dir });
  return false;
}

/** The input's stat or open failed: no permission, no such file, or another failure (EMFILE, ELOOP, ...: ERR_PMEM_IO). */
function cannotRead(file: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return new PmemError('ERR_PMEM_ACCESS', `cannot read ${file}: ${code}`, { path: file });
  if (code === 'ENOENT' || code === 'ENOTDIR') return new PmemError('ERR_PMEM_NOT_FOUND', `cannot read ${file}: ${code}`, { path: file });
  return fromSystemError(e);
}

/** Whether a read of the file open as `fd` at `size` returns data. */
function readsPast(fd: number, size: number): boolean {
  return fs.readSync(fd, Buffer.alloc(1), 0, 1, size) > 0;
}

/** What a checkpoint must match to be resumed: the input as it was, the output, and every option that shapes the runs. */
function describe(job: Job): string {
  return JSON.stringify({
    input: job.input, size: job.inputSize, mtimeMs: job.inputMtimeMs, output: job.output,
    format: job.o.format, memory: job.o.memory, mergeBuffers: job.o.mergeBuffers,
  });
}

/** What differs between two descriptions, named: "its memory was 1048576, now 2097152". */
export function differences(was: string, now: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(was);
  } catch {
    return 'its description cannot be read';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'its description cannot be read';
  const a = parsed as Record<string, unknown>;
  const b = JSON.parse(now) as Record<string, unknown>;
  const words: Record<string, string> = {
    input: 'input', size: 'input size', mtimeMs: 'input modification time', output: 'output',
    format: 'format options', memory: 'memory', mergeBuffers: 'merge buffers',
  };
  const said = Object.keys({ ...a, ...b })
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => k === 'format' ? `its ${words[k]} differ (${formatDifferences(a[k], b[k])})` : `its ${words[k] ?? k} was ${JSON.stringify(a[k])}, now ${JSON.stringify(b[k])}`);
  return said.length > 0 ? said.join('; ') : 'its description differs';
}

/** The fields of two format descriptions that differ, as "name: was → now". */
function formatDifferences(was: unknown, now: unknown): string {
  const a = (was ?? {}) as Record<string, unknown>;
  const b = (now ?? {}) as Record<string, unknown>;
  return Object.keys({ ...a, ...b })
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${JSON.stringify(a[k])} → ${JSON.stringify(b[k])}`)
    .join(', ');
}

/**
 * The threads that form the rest of the runs: as many as asked for whose
 * runs the checkpoint has room for (it was sized for the threads of the
 * sort's start, which may have been fewer: its runs are larger).
 */
function threadsOf(job: Job, state: SortState, maxRuns: number): number {
  const f = job.o.format;
  for (let t = formingThreads(job, state.runs.length, job.inputSize - state.inputOffset); t > 1; t--) {
    if (state.runs.length + maxRunsFor(job.inputSize - state.inputOffset, job.o.memory, f.recordSize, t) <= maxRuns) return t;
  }
  return 1;
}

/** The granule of the run space given back: whole pages on any page size up to 64 KiB. */
const GIVE_BACK = 64 * 1024;

/**
 * The space of the runs' merged bytes, given back as the merge goes: after
 * each durable checkpoint, each run's bytes before its cursor are punched
 * out of its file (whole granules only), so that a sort needs temporary
 * space for what is left to merge and not for every run until the end,
 * and the output's new pages can be the ones just freed.
 */
class MergedSpace {
  readonly #job: Job;
  /** Per run id, the bytes given back from its start. */
  readonly #done = new Map<number, number>();
  /** False once the filesystem said it cannot punch holes. */
  #can = true;

  constructor(job: Job) {
    this.#job = job;
  }

  giveBack(runs: SortState['runs']): void {
    for (const r of runs) {
      if (!this.#can) return;
      const from = this.#done.get(r.id) ?? 0;
      const to = r.cursor - (r.cursor % GIVE_BACK);
      if (to <= from) continue;
      this.#can = punchHole(runPath(this.#job, r.id), from, to - from);
      this.#done.set(r.id, to);
    }
  }
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

/**
 * Opens the checkpoint at `cpPath`, which the lock `fd` holds; null when
 * it names nothing (emptied, then, for a fresh start over it).
 */
function openCheckpoint(cpPath: string, fd: number): { region: Mapping; checkpoint: Checkpoint; state: SortState } | null {
  const region = openMapping(cpPath);
  try {
    const r = Checkpoint.recover(region);
    if (r !== null) return { region, ...r };
  } catch (e) {
    region.close();
    throw e;
  }
  // Never published: a crash while the sort started. Nothing was
  // acknowledged, and the file is the sort's own: it is emptied (not
  // removed: the lock stays on it). Any other file of that name (damaged,
  // truncated, or not a checkpoint) stays as it is.
  const unpublished = Checkpoint.unpublished(region);
  region.close();
  if (!unpublished) {
    throw new PmemError('ERR_PMEM_CORRUPT', `${cpPath} is not a sort checkpoint, or is damaged: it is left as it is; remove it, or choose another pmem directory`, { path: cpPath });
  }
  fs.ftruncateSync(fd, 0);
  return null;
}

/**
 * A sort that starts afresh finds no run files in its directory: with no
 * checkpoint to name them, they are not its own (it writes runs only once
 * its checkpoint exists), and it removes nothing it did not make.
 */
function refuseForeignRuns(job: Job): void {
  const found = fs.readdirSync(job.dir).filter((name) => RUN_NAME.test(name));
  if (found.length > 0) {
    throw new PmemError('ERR_PMEM_EXISTS', `${job.dir} holds files named as the sort's run files (${found.slice(0, 3).join(', ')}) and no checkpoint: remove them, or choose another pmem directory`, { path: job.dir });
  }
}

/**
 * Refuses a resume whose run files are not what the checkpoint names:
 * one missing, not a regular file, or shorter than its length. Checked
 * before anything is written or published, so that a refused resume leaves
 * the checkpoint and the partial output as they were, where the merge
 * would only find the damage when it reached that run, after checkpoints
 * of its own. Bytes before a run's cursor may be punched out (holes keep
 * the file's size). Once 'done', the runs may be removed already
 * (removeWork removes them before the checkpoint).
 * @throws PmemError ERR_PMEM_CORRUPT
 */
function checkRunFiles(job: Job, state: SortState): void {
  if (state.phase === 'done') return;
  for (const r of state.runs) {
    const file = runPath(job, r.id);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missingRun(file);
      throw fromSystemError(e);
    }
    if (!st.isFile()) throw new PmemError('ERR_PMEM_CORRUPT', `run '${file}', which the checkpoint names, is not a regular file`, { path: file });
    if (st.size < r.length) throw endedShort(file, st.size, r.length);
  }
}

/** Removes run files no checkpoint names (left by a run or merge that was cut short). */
function removeStrayRuns(job: Job, state: SortState): void {
  const named = new Set(state.runs.map((r) => r.id));
  for (const name of fs.readdirSync(job.dir)) {
    const m = RUN_NAME.exec(name);
    if (m !== null && !named.has(Number(m[1]))) fs.rmSync(path.join(job.dir, name), { force: true });
  }
}

/**
 * Removes the sort's own files once it is done: its runs, then its
 * checkpoint (a crash between leaves the checkpoint, which names the runs
 * still there; never runs without it, which a new sort would refuse), and
 * a directory it made (the default one, or one this call made), if empty.
 */
function removeWork(job: Job): void {
  for (const name of fs.readdirSync(job.dir)) {
    if (RUN_NAME.test(name)) fs.rmSync(path.join(job.dir, name), { force: true });
  }
  fs.rmSync(path.join(job.dir, CHECKPOINT_FILE), { force: true });
  if (!job.ownDir) return;
  fs.rmSync(path.join(job.dir, MADE_FILE), { force: true });
  try {
    fs.rmdirSync(job.dir);
  } catch (e) {
    // Files of someone else's in it: they stay, and so does the directory.
    if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw e;
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
