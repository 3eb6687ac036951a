// The locks that keep a sort's files to one sort at a time: the checkpoint
// in its pmem directory, and its partial output (sort.ts says what each
// protects). flock(2), exclusive, taken without waiting; dropped by
// release(), and by the kernel when the process dies, so a killed sort
// leaves no stale lock (native/core/filelock.cc).
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { NativeLock } from '../core/binding';
import { giveOwnerAndMode, refusedIn } from '../core/create-file';
import { fromSystemError, isPmemError, PmemError } from '../core/errors';
import { lockFile } from '../core/identify';
import { writerHolds } from '../core/held-lock';

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
  // A read-only filesystem is no permission, as the store creates say it.
  const access = errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS';
  return refusedIn(file, path.dirname(file), err, access ? 'ERR_PMEM_ACCESS' : err.code);
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

/**
 * Locks the file at the output's path, when there is one, so that the sort
 * never renames over a file that another open holds: a KVStore, Wal,
 * TieredCache or libpmemobj pool with a writer (each holds an flock on its
 * file, which this exclusive one conflicts with), or another sort's
 * checkpoint or partial output. Renamed over, that writer would go on
 * writing a file no name reaches any more, and every write it made and
 * acknowledged would be gone from the path. Once the sort holds the lock
 * such opens fail with ERR_PMEM_LOCKED until the rename is done, and after
 * it they find the path names another file, and take that (formats.md,
 * "Identifying and creating a file"). A KVStore reader holds no lock and
 * is not seen: it reads the file it opened until it closes it.
 *
 * `held` is the output's lock taken before (at the start of the sort), or
 * null: it is kept while the path still names its file, and let go when the
 * path was replaced or removed since. Returns the lock, or null when the
 * path names nothing, or the sort's own partial output (a crash between
 * the link and the unlink of publishOutput), or a file this process cannot
 * open to read (no writer of pmem opens one it cannot read).
 * @throws PmemError ERR_PMEM_LOCKED (another open holds the file),
 *   ERR_PMEM_INVALID (the path names no regular file any more)
 */
export function lockOutput(output: string, held: NativeLock | null, partial: SortLock): NativeLock | null {
  const ours = fs.fstatSync(partial.fd);
  for (let round = 0; round < ROUNDS; round++) {
    const now = lstatOf(output);
    if (held !== null) {
      const h = fs.fstatSync(held.fd);
      if (now !== null && now.ino === h.ino && now.dev === h.dev) return held;
      held.release();
      held = null;
    }
    if (now === null || (now.ino === ours.ino && now.dev === ours.dev)) return null;
    if (!now.isFile()) {
      throw notRegular(output, now, { use: 'the sort writes a regular file and renames it into place', busy: '' });
    }
    try {
      held = lockFile(output, true, false);
    } catch (e) {
      if (isPmemError(e, 'ERR_PMEM_NOT_FOUND')) continue; // removed in between: the path is taken again
      if (isPmemError(e, 'ERR_PMEM_ACCESS')) return null;
      if (isPmemError(e, 'ERR_PMEM_LOCKED')) throw outputBusy(output);
      throw e;
    }
    // The next round checks that the path still names the file locked.
  }
  held?.release();
  throw new PmemError('ERR_PMEM_LOCKED', `the output ${output} was replaced ${ROUNDS} times while this sort took its lock`, { path: output });
}

/**
 * Gives the whole partial output the output's name, under the output's
 * lock (lockOutput): a file there is replaced with rename(2) while the sort
 * holds its lock, so that no writer has it open, by one given its owner,
 * group and permission bits first (a private file stays private); a missing name is taken
 * with link(2), which fails when a file appeared there meanwhile (a store
 * another process created, say), and the partial's name is then removed. A
 * crash between the two leaves both names on the whole output, and the
 * resume (whose checkpoint says 'done') removes the partial's name. On a
 * filesystem without hard links (link(2) fails with EPERM, ENOTSUP,
 * EOPNOTSUPP or EMLINK: vfat, exFAT) the partial output is renamed instead,
 * and a file that appears at the output's path between the look and the
 * rename is replaced. Returns the output's lock, for the caller to release
 * once the sort's work is gone.
 * @throws PmemError ERR_PMEM_LOCKED, ERR_PMEM_INVALID (lockOutput);
 *   ERR_PMEM_ACCESS (the output became another user's since the sort
 *   started); any other failure of link(2) or rename(2) as node:fs throws it
 */
export function publishOutput(partial: SortLock, output: string, held: NativeLock | null): NativeLock | null {
  for (let round = 0; round < ROUNDS; round++) {
    held = lockOutput(output, held, partial);
    if (held !== null) {
      giveOwnerAndMode(partial.fd, fs.fstatSync(held.fd), `cannot replace the output ${output}`, output);
      fs.renameSync(partial.path, output);
      return held;
    }
    const now = lstatOf(output);
    const ours = fs.fstatSync(partial.fd);
    if (now === null) {
      try {
        fs.linkSync(partial.path, output);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') continue; // a file appeared there: lock it, or refuse
        // A filesystem without hard links (vfat, exFAT): renamed, as it was
        // before the output was locked, with the moment between the look
        // and the rename open.
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK') {
          fs.renameSync(partial.path, output);
          return null;
        }
        throw e;
      }
    } else if (now.ino !== ours.ino || now.dev !== ours.dev) {
      // One this process cannot read, so no writer of pmem holds: replaced, as before the output was locked.
      if (now.isFile()) giveOwnerAndMode(partial.fd, now, `cannot replace the output ${output}`, output);
      fs.renameSync(partial.path, output);
      return null;
    }
    fs.rmSync(partial.path);
    return null;
  }
  throw new PmemError('ERR_PMEM_LOCKED', `the output ${output} was replaced ${ROUNDS} times while this sort published it`, { path: output });
}

function outputBusy(output: string): PmemError {
  return new PmemError('ERR_PMEM_LOCKED',
    `the output ${output} is open in another process or handle (a store, a log, a cache or a pool with a writer, or another sort's file): the sort would replace it under its writer; choose another output, or close it first`,
    { path: output });
}

/**
 * Whether a sort works in `dir`: 'running' when another sort holds the lock
 * of its checkpoint there, 'stopped' when the checkpoint is a sort's (its
 * first bytes the checkpoint's `magic`) but nobody holds it (an interrupted
 * sort, for `resume`), null otherwise (no checkpoint, an empty one, or a
 * file of that name that is not a sort's). The lock is looked up in the
 * kernel's list (writerHolds), not tried: a try would make a sort that
 * takes it at that moment fail. Reads, and never changes, the file.
 */
export function sortWorkIn(dir: string, checkpointName: string, magic: string): 'running' | 'stopped' | null {
  const file = path.join(dir, checkpointName);
  const st = lstatOf(file);
  if (st === null || !st.isFile()) return null;
  if (writerHolds(file)) return 'running';
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null; // unreadable: no work this sort could reach either
  }
  try {
    const head = Buffer.alloc(magic.length);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return n === head.length && head.toString('latin1') === magic ? 'stopped' : null;
  } finally {
    fs.closeSync(fd);
  }
}
