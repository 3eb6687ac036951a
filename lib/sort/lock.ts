// The locks that keep a sort's files to one sort at a time: the checkpoint
// in its pmem directory, and its partial output (sort.ts says what each
// protects). flock(2), exclusive, taken without waiting; dropped by
// release(), and by the kernel when the process dies, so a killed sort
// leaves no stale lock (native/core/filelock.cc).
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { NativeLock } from '../core/binding';
import { refusedIn } from '../core/create-file';
import { fromSystemError, isPmemError, PmemError } from '../core/errors';
import { lockFile } from '../core/identify';

/** One of a sort's files, locked. */
export interface SortLock {
  readonly path: string;
  /** The locked descriptor (read-write), valid until release(). */
  readonly fd: number;
  /** Whether this call made the file: it was missing, and is empty. */
  readonly made: boolean;
  release(): void;
}

/** Rounds of a path whose file keeps being replaced before the lock is refused. */
const ROUNDS = 8;

/** How messages speak of a sort's file. */
export interface SortFileRole {
  /** What the sort does with it, e.g. "the sort writes its output there and renames it into place". */
  use: string;
  /** The message when another sort holds it. */
  busy: string;
}

/**
 * Locks the regular file at `file`, made empty when missing. The lock is
 * on the file the path names when this returns: a file removed or
 * replaced between the open and the lock (the sort that held it ended and
 * removed it, or renamed it over its output) is let go, and the path taken
 * again. Anything else of that name (a directory, a symbolic link, a FIFO)
 * is not a sort's: it is refused, and left as it is.
 * @throws PmemError ERR_PMEM_LOCKED (another sort, in this process or
 *   another, holds it), ERR_PMEM_INVALID (not a regular file), and what
 *   open(2) throws (ERR_PMEM_ACCESS, ...)
 */
export function lockSortFile(file: string, role: SortFileRole): SortLock {
  const busy = role.busy;
  for (let round = 0; round < ROUNDS; round++) {
    const before = lstatOf(file);
    if (before !== null && !before.isFile()) throw notRegular(file, before, role);
    /** The file this call made, when it made one. */
    let made: fs.Stats | null = null;
    if (before === null) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'wx', 0o644);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue; // another sort made it just now
        throw cannotCreate(file, e);
      }
      try {
        made = fs.fstatSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    let lock: NativeLock;
    try {
      lock = lockFile(file, true, false);
    } catch (e) {
      if (isPmemError(e, 'ERR_PMEM_NOT_FOUND')) continue; // removed by the sort that held it
      if (isPmemError(e, 'ERR_PMEM_LOCKED')) throw new PmemError('ERR_PMEM_LOCKED', busy, { path: file });
      throw e;
    }
    let held: fs.Stats;
    let now: fs.Stats | null;
    try {
      held = fs.fstatSync(lock.fd);
      now = lstatOf(file);
    } catch (e) {
      lock.release();
      throw e;
    }
    if (now === null || now.ino !== held.ino || now.dev !== held.dev) {
      lock.release();
      continue;
    }
    const fd = lock.fd;
    return {
      path: file, fd, made: made !== null && made.ino === held.ino && made.dev === held.dev,
      release: () => lock.release(),
    };
  }
  throw new PmemError('ERR_PMEM_LOCKED', `${busy} (${file} was replaced ${ROUNDS} times while this sort took its lock)`, { path: file });
}

/**
 * Removes the locked file, when the path still names it and it is empty:
 * one that names nothing (a checkpoint never formatted, a partial output
 * never written) goes when the sort that made or emptied it fails.
 */
export function removeIfEmpty(lock: SortLock): void {
  if (fs.fstatSync(lock.fd).size === 0) removeHeld(lock);
}

/**
 * Removes the locked file, when the path still names it (a file another
 * sort put there once this one's was gone is not touched). The lock stays
 * on the removed file until release(): a sort that takes the path next
 * finds it gone and makes its own (lockSortFile).
 */
export function removeHeld(lock: SortLock): void {
  const held = fs.fstatSync(lock.fd);
  const now = lstatOf(lock.path);
  if (now !== null && now.ino === held.ino && now.dev === held.dev) fs.rmSync(lock.path);
}

/**
 * A failed create of `file`, said as the store creates say it: the
 * directory refused a new file (its existence was checked first, so ENOENT
 * there is one that takes none, like /proc), and why.
 */
function cannotCreate(file: string, e: unknown): unknown {
  const err = fromSystemError(e);
  if (!isPmemError(err)) return err;
  const errno = (e as NodeJS.ErrnoException).code;
  return refusedIn(file, path.dirname(file), err, errno === 'EACCES' || errno === 'EPERM' ? 'ERR_PMEM_ACCESS' : err.code);
}

function lstatOf(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function notRegular(file: string, st: fs.Stats, role: SortFileRole): PmemError {
  const kind = st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
  return new PmemError('ERR_PMEM_INVALID', `${file} is ${kind}: ${role.use}; remove it, or choose another path`, { path: file });
}
