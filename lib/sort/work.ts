// A sort's work in its pmem directory: the checkpoint, the run files
// (run-N) and, in a directory the sort made, the made-by-sort mark. The
// directory made or found; a checkpoint found there opened for a resume,
// and the run files checked against it, or refused without one; the runs
// it does not name removed; and all of it removed once the sort is done.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { fromSystemError, PmemError } from '../core/errors';
import { openMapping, type Mapping } from '../core/mapping';
import { Checkpoint, type SortState } from './checkpoint';
import type { Job } from './job';
import { runPath } from './merge-phase';
import { endedShort, missingRun } from './sources';

/** The checkpoint's name in the pmem directory. */
export const CHECKPOINT_FILE = 'checkpoint';
/** A run file's name: its id. */
export const RUN_NAME = /^run-(\d+)$/;
/**
 * An empty file in a `pmem` directory that a sort made: the sort that
 * finishes the work, a resume too, removes the directory as it would the
 * default one.
 */
export const MADE_FILE = 'made-by-sort';

/**
 * Makes the pmem directory, or finds it. A directory the sort makes is its
 * own, removed at the end like the default one (`ownDir`); so is one an
 * interrupted sort made (it holds the made-by-sort mark), for the resume.
 * @throws PmemError ERR_PMEM_NOT_FOUND, ERR_PMEM_ACCESS, ERR_PMEM_NO_SPACE,
 *   ERR_PMEM_INVALID (makeWorkDir)
 */
export function takeWorkDir(job: Job): void {
  const made = path.join(job.dir, MADE_FILE);
  if (makeWorkDir(job.dir)) {
    job.ownDir = true;
    if (job.o.pmem !== undefined) fs.closeSync(fs.openSync(made, 'w'));
  } else if (job.o.pmem !== undefined && fs.existsSync(made)) {
    job.ownDir = true;
  }
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
    // mkdir(2) says ENOTDIR only of the path before the last name.
    if (code === 'ENOTDIR') throw new PmemError('ERR_PMEM_INVALID', `the pmem directory ${dir}: its parent ${path.dirname(dir)} is not a directory`, { path: dir });
    if (code === 'ENOENT') {
      if (!isDirectory(path.dirname(dir))) throw new PmemError('ERR_PMEM_NOT_FOUND', `the pmem directory ${dir}: its parent ${path.dirname(dir)} does not exist`, { path: dir });
      // The parent is there and takes no new directory (one of /proc).
      const err = fromSystemError(e) as PmemError;
      throw new PmemError(err.code, `cannot make ${dir}: no new directory can be made in ${path.dirname(dir)}: no such file or directory (ENOENT)`, {
        path: dir, ...(err.errno === undefined ? {} : { errno: err.errno }), syscall: 'mkdir',
      });
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new PmemError('ERR_PMEM_ACCESS', `cannot make ${dir}: ${code}`, { path: dir });
    if (code === 'ENOSPC') throw new PmemError('ERR_PMEM_NO_SPACE', `cannot make ${dir}: no space`, { path: dir });
    if (code !== 'EEXIST') throw e;
  }
  if (!isDirectory(dir)) throw new PmemError('ERR_PMEM_INVALID', `the pmem directory ${dir} is not a directory`, { path: dir });
  return false;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Opens the checkpoint at `cpPath`, which the lock `fd` holds; null when
 * it names nothing (emptied, then, for a fresh start over it).
 */
export function openCheckpoint(cpPath: string, fd: number): { region: Mapping; checkpoint: Checkpoint; state: SortState } | null {
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
export function refuseForeignRuns(job: Job): void {
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
export function checkRunFiles(job: Job, state: SortState): void {
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
export function removeStrayRuns(job: Job, state: SortState): void {
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
 * a directory it made (the default one, or one this call made), if empty
 * (a symbolic link at the default one's name is left, and what it names).
 */
export function removeWork(job: Job): void {
  for (const name of fs.readdirSync(job.dir)) {
    if (RUN_NAME.test(name)) fs.rmSync(path.join(job.dir, name), { force: true });
  }
  fs.rmSync(path.join(job.dir, CHECKPOINT_FILE), { force: true });
  if (!job.ownDir) return;
  fs.rmSync(path.join(job.dir, MADE_FILE), { force: true });
  // A symbolic link at the default directory's name is the user's: it
  // stays, and so does the directory it names.
  if (fs.lstatSync(job.dir).isSymbolicLink()) return;
  try {
    fs.rmdirSync(job.dir);
  } catch (e) {
    // Files of someone else's in it: they stay, and so does the directory.
    if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw e;
  }
}
