// externalSort: runs formed in DRAM within the budget and written to PMem,
// then one merge of every run, read in place from PMem (or with pread
// where the runs' directory is not PMem: sources.ts); the progress is
// kept in a checkpoint on a Region, so a killed sort resumes. See
// docs/api.md ("externalSort") and docs/durability.md ("External sort").
// This file is the entry and the sort's steps in order: the job prepared
// (job.ts), the locks taken (lock.ts), the checkpoint found and matched
// for a resume, or made (work.ts), the phases run (phases.ts), and the
// output published, or the work left for the resume (finish.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { checkPath } from '../core/args';
import { fromSystemError, PmemError } from '../core/errors';
import { openMapping, type Mapping } from '../core/mapping';
import { Checkpoint, checkpointSize, type SortState } from './checkpoint';
import { abandonWork, leaveNothingEmpty, publishSorted, type Held } from './finish';
import { maxRunsFor, threadsFor } from './formation';
import { checkUnchanged, prepare, type Job } from './job';
import { lockOutput, lockSortFile, type SortLock } from './lock';
import { MergedSpace } from './merged-space';
import { checkSortOptions, type SortOptions, type SortResult } from './options';
import { runPhases, type PhasesRun } from './phases';
import { inputChanged } from './runs';
import { readsInPlace } from './sources';
import { checkRunFiles, CHECKPOINT_FILE, openCheckpoint, refuseForeignRuns, removeStrayRuns, takeWorkDir } from './work';

/**
 * Sorts the file `input` into the file `output` (replaced when complete,
 * never partly written). Synchronous: it blocks the calling thread.
 *
 * Durable when it returns: the output's bytes (fdatasync) and its name.
 * While it runs, a checkpoint in the `pmem` directory is durable after
 * every run and every `checkpointBytes` of merge output; `resume: true`
 * continues from the last one, and produces the same output.
 * The input is only read, through one descriptor held from the start to
 * the end; an input that changed meanwhile (its size, modification time,
 * device and inode, or change time) is refused before the output is
 * published, and so is a resume of an input that changed since its
 * checkpoint, or of a checkpoint of an earlier version, which did not
 * record the device, inode and change time. One sort at a time uses a
 * pmem directory, and one writes an output: both are locked from the start
 * to the end.
 * @throws TypeError, RangeError for bad arguments
 * @throws PmemError ERR_PMEM_NOT_FOUND (no input, no directory for the
 *   output, no parent for the pmem directory), ERR_PMEM_ACCESS (a path that
 *   cannot be read or made), ERR_PMEM_INVALID (the
 *   output is the input, the pmem directory is the input, the output or
 *   its partial output, or holds one of them named as the sort's own files
 *   (checkpoint, made-by-sort, run-N), a binary input not a whole number of records,
 *   a checkpoint of another sort, a partial output or a checkpoint that is
 *   not a regular file; an input that grew, shrank or was rewritten while
 *   it was sorted, or since the checkpoint a resume found, or a checkpoint
 *   of an earlier version: the sort's work is removed, as below),
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
  // A system call would take the path up to its NUL: another file.
  checkPath(input, 'input');
  checkPath(output, 'output');
  const o = checkSortOptions(options);
  const job = prepare(input, output, o);
  try {
    return sortPrepared(job);
  } finally {
    fs.closeSync(job.inputFd);
  }
}

/**
 * The sort of a prepared job, under its locks: the partial output's, the
 * output's and the checkpoint's, each taken before anything is made and
 * held until the sort ends. On a failure, what is left is what finish.ts
 * says.
 */
function sortPrepared(job: Job): SortResult {
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
    takeWorkDir(job);
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

/** The sort, with both locks held. */
function sortLocked(job: Job, held: Held): SortResult {
  const o = job.o;
  const cpLock = held.checkpoint as SortLock;
  const cpPath = cpLock.path;
  const description = describe(job);
  let region: Mapping | null = null;
  let state: SortState;
  let cp: Checkpoint;
  let resumed = false;
  /** Whether the checkpoint said 'done' when this call found it. */
  let doneBefore = false;
  let phases: PhasesRun;
  try {
    // Empty: made by the lock just now, or by a sort killed before it sized
    // the file. It named nothing: the sort starts afresh over it.
    const found = fs.fstatSync(cpLock.fd).size > 0 ? openCheckpoint(cpPath, cpLock.fd) : null;
    if (found !== null) {
      region = found.region;
      if (!o.resume) throw new PmemError('ERR_PMEM_EXISTS', `${job.dir} holds an unfinished sort: resume it, or remove the directory`, { path: job.dir });
      if (found.checkpoint.job !== description) throw notResumable(job, cpPath, found.checkpoint.job, description);
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
      // checkpoint's mapping tells (phases.ts, threadsOf).
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
    phases = runPhases(job, state, cp.maxRuns, publish);
  } finally {
    region?.close();
  }
  // The output holds the input as the sort read it: published only if that
  // is the input still. Checked after the last read of the input (run
  // formation's) and before the rename, so that no change while the sort
  // ran (a writer still appending, say) goes unseen into a published output.
  checkUnchanged(job);
  // Done and durable: the output takes its name, and the work goes.
  publishSorted(job, held, doneBefore, state.outputBytes);
  return {
    records: state.records,
    inputBytes: job.inputSize,
    outputBytes: state.outputBytes,
    runs: state.formedRuns,
    mergePasses: state.passes,
    tempBytesWritten: state.tempBytes,
    peakRss: peakRss(),
    resumed,
    threads: phases.threads,
    mergeRanges: phases.mergeRanges,
    mergeReads: job.inPlace && o.mergeBuffers === 'pmem' ? 'in place' : 'pread',
  };
}

/**
 * The process's peak resident set, in bytes: the kernel's high-water mark
 * of its memory (VmHWM, every thread counted). Not getrusage's maxRSS,
 * which a process started by fork and exec inherits from its parent: a
 * sort spawned by a 400 MiB process reported 400 MiB.
 */
function peakRss(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
    if (hwm !== null) return Number(hwm[1]) * 1024;
  } catch {
    // No /proc: getrusage's, below.
  }
  return process.resourceUsage().maxRSS * 1024;
}

/**
 * What a checkpoint must match to be resumed: the input as it was (its path
 * and InputId: size, modification time, device, inode, change time), the
 * output, and every option that shapes the runs.
 */
function describe(job: Job): string {
  const id = job.inputId;
  return JSON.stringify({
    input: job.input, size: id.size, mtimeNs: id.mtimeNs, dev: id.dev, ino: id.ino, ctimeNs: id.ctimeNs, output: job.output,
    format: job.o.format, memory: job.o.memory, mergeBuffers: job.o.mergeBuffers,
  });
}

/** The description's fields that identify the input's file and contents (InputId): the rest name the sort. */
const INPUT_ID = ['size', 'mtimeNs', 'dev', 'ino', 'ctimeNs'];

/**
 * Why a checkpoint whose description `was` is not this sort's (`now`) is
 * not resumed. Of another sort (another input path, output or option): the
 * checkpoint stays, for the resume of that sort. Of this sort, but its
 * input changed since (its InputId differs): a dead end, as an input that
 * changes while it is sorted (inputChanged), since no resume could get
 * past it: the change time of a file cannot be set back. The sort removes
 * its work, and the next sort without `resume` starts afresh. A checkpoint
 * written before the description held the device, inode and change time
 * (its times were `mtimeMs`) is a dead end too: it cannot tell an input
 * rewritten with its modification time set back, which resumed into an
 * output of neither the old nor the new input; so it is refused, not
 * resumed on its size and modification time alone.
 */
function notResumable(job: Job, cpPath: string, was: string, now: string): PmemError {
  const another = (why: string): PmemError => new PmemError('ERR_PMEM_INVALID', `the checkpoint in ${job.dir} is of another sort: ${why}`, { path: cpPath });
  const a = parseDescription(was);
  if (a === null) return another('its description cannot be read');
  const b = JSON.parse(now) as Record<string, unknown>;
  const sortKeys = Object.keys(b).filter((k) => !INPUT_ID.includes(k));
  if (sortKeys.some((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))) return another(differences(was, now));
  const again = 'start the sort again without resume';
  if (!('ctimeNs' in a)) {
    return inputChanged(`the checkpoint in ${job.dir} was written by an earlier version, which identified the input by its size and modification `
      + 'time only: whether the input changed since (rewritten with its modification time set back) cannot be told', job.input, again);
  }
  const changed = INPUT_ID.filter((k) => a[k] !== b[k]).map((k) => `its ${WORDS[k]} was ${String(a[k])}, now ${String(b[k])}`);
  return inputChanged(`the input changed since the checkpoint in ${job.dir} was written: ${changed.join('; ')}`, job.input, again);
}

/** A description parsed, or null when it is not a JSON object. */
function parseDescription(d: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(d);
    return typeof parsed === 'object' && parsed !== null ? parsed as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

/** The words for a description's fields. */
const WORDS: Record<string, string> = {
  input: 'input', size: 'input size', mtimeNs: 'input modification time (ns)', dev: 'input device', ino: 'input inode',
  ctimeNs: 'input change time (ns)', output: 'output', format: 'format options', memory: 'memory', mergeBuffers: 'merge buffers',
};

/** What differs between two descriptions, named: "its memory was 1048576, now 2097152". */
export function differences(was: string, now: string): string {
  const a = parseDescription(was);
  if (a === null) return 'its description cannot be read';
  const b = JSON.parse(now) as Record<string, unknown>;
  // A field one of them lacks is one of another version's description (an
  // earlier one's mtimeMs), not a difference of the sort.
  const said = Object.keys({ ...a, ...b })
    .filter((k) => k in a && k in b && JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => k === 'format' ? `its ${WORDS[k]} differ (${formatDifferences(a[k], b[k])})` : `its ${WORDS[k] ?? k} was ${JSON.stringify(a[k])}, now ${JSON.stringify(b[k])}`);
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
