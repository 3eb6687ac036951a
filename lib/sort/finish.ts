// How a sort ends, with its locks held (lock.ts). Done: the output takes
// its name (publishOutput), durably, and the sort's work goes. Failed: the
// work stays for the resume, but for a checkpoint or partial output that
// names nothing; or, on a failure no resume gets past, it goes too
// (abandonWork).
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { NativeLock } from '../core/binding';
import { PmemError } from '../core/errors';
import type { Job } from './job';
import { publishOutput, removeHeld, removeIfEmpty, type SortLock } from './lock';
import { afterDeadEnd } from './runs';
import { removeWork } from './work';

/** The locks a sort holds (see sortPrepared in sort.ts), and what it may remove on a failure. */
export interface Held {
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
export function abandonWork(job: Job, held: Held, e: unknown): unknown {
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
 * On a failure: a checkpoint left empty (never formatted) and a partial
 * output this call made or emptied and did not write name nothing, and
 * go. Everything else stays for the resume. The sort's own error is what
 * the caller sees, whatever this meets.
 */
export function leaveNothingEmpty(held: Held): void {
  try {
    if (held.checkpoint !== null) removeIfEmpty(held.checkpoint);
    if (held.partialOurs) removeIfEmpty(held.partial);
  } catch {
    // Left as it is: a later sort starts afresh over an empty checkpoint, and empties the partial output.
  }
}

/**
 * Publishes the sorted output of a sort done and durable: the output takes
 * its name, then the work goes, both under the locks, the output's own
 * included (publishOutput: never over a file another open holds). A sort
 * that was done before this call (`doneBefore`: a crash after its 'done'
 * checkpoint) may have renamed its partial output already: then the lock
 * made the one here, empty, while the checkpoint counts output bytes
 * (`outputBytes`), and it goes instead. Durable when it returns: the
 * output's name (its directory synced).
 * @throws PmemError ERR_PMEM_LOCKED, ERR_PMEM_INVALID (publishOutput)
 */
export function publishSorted(job: Job, held: Held, doneBefore: boolean, outputBytes: number): void {
  if (doneBefore && held.partial.made && outputBytes > 0) fs.rmSync(job.partial);
  else held.output = publishOutput(held.partial, job.output, held.output);
  syncDir(path.dirname(job.output));
  removeWork(job);
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
