// A replicated journal's file: the replication control block (state.ts) at
// offset 0 and a Wal after it, opened together over one Region (so the
// crash simulator sees both) or from a path, locked and identified the
// way every Wal file is (log/wal-open.ts, core/identify.ts).
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';

import type { NativeLock } from '../core/binding';
import { identifyPath } from '../core/identify';
import { isPmemError, PmemError } from '../core/errors';
import type { Mapping } from '../core/mapping';
import type { Region } from '../core/region';
import { Wal } from '../log/wal';
import { openWalFile } from '../log/wal-open';
import { ReplState, type Role, STATE_BYTES } from './state';

export interface Journal {
  wal: Wal;
  state: ReplState;
}

/** A new journal id or epoch tag: random, never 0 (0 marks a backup that has not met its primary). */
export function newJournalId(): number {
  return randomInt(1, 2 ** 47);
}

/**
 * Formats an empty journal over `region`, with a random tag for epoch 1
 * (a backup's is replaced by its primary's at the first handshake, and
 * stays its own if it is promoted first). Durable when it returns.
 */
export function formatJournal(region: Region, role: Role, journalId = role === 'primary' ? newJournalId() : 0): Journal {
  const state = ReplState.format(region, 0, journalId, role, newJournalId());
  const wal = Wal.format(region, { offset: STATE_BYTES });
  return { wal, state };
}

/**
 * Opens the journal over `region`: reads the control block, runs `accept`
 * on it (which may refuse the journal by throwing, before anything is
 * written), and recovers the Wal.
 */
export function openJournal(region: Region, accept?: (state: ReplState) => void): Journal {
  const state = ReplState.open(region, 0);
  accept?.(state);
  // Recovered without a write (a writable recovery raises the log's epoch
  // durably at once; this one before the first append): a journal refused
  // below is left as it was found.
  const wal = Wal.openDeferred(region, { offset: STATE_BYTES });
  const last = wal.nextLsn - 1;
  // The commit point is persisted only after the records it covers are
  // durable in this log (primary-log.ts: intend, then commit), freeing
  // keeps the next LSN, and a backup's is the one it had as a primary,
  // below any tail it cuts (a committed record is on every replica, so no
  // newer epoch begins before it). One past the last record is damage:
  // trusted, it would let the primary's next append free records that no
  // replica holds yet.
  if (state.committedLsn > last) {
    throw new PmemError('ERR_PMEM_CORRUPT', `the replicated journal's commit point ${state.committedLsn} is past its last record ${last}`);
  }
  return { wal, state };
}

export interface JournalFile extends Journal {
  /** The caller's path (a created file's mapping names the temporary file it was formatted under). */
  path: string;
  mapping: Mapping;
  /**
   * Throws unless the file under the mapping is still whole and still the
   * one at its path: run before each write, so that a file cut short under
   * the mapping is an error instead of a SIGBUS at the next store, and a
   * file replaced under its name stops the journal instead of taking
   * records that no later open would find.
   * @throws PmemError ERR_PMEM_IO (cut short), ERR_PMEM_INVALID (replaced or removed)
   */
  check(): void;
  close(): void;
  /**
   * Closes the file, and undoes this open's create: a file it made at a
   * missing path is removed, one it formatted over an empty file is
   * emptied again, as long as the path still names it. For a caller that
   * fails before anything is written to the journal (a replica that cannot
   * listen), so that it leaves the path as it found it.
   */
  abandon(): void;
}

/**
 * Locks, maps and opens the journal file at `path`; `create` makes a
 * missing (or empty) one of `size` bytes, formatted for `role`. `accept`
 * may refuse the file from its control block, before anything is written
 * to it (openJournal).
 * @throws PmemError ERR_PMEM_LOCKED, ERR_PMEM_NOT_FOUND, ERR_PMEM_NOT_A_STORE
 *   (what openStoreFile throws), ERR_PMEM_CORRUPT
 */
export function openJournalFile(path: string, o: { create: boolean; size?: number; role: Role; accept?: (state: ReplState) => void }): JournalFile {
  const flags = { create: o.create, readOnly: false, truncateOnCorruption: false };
  // What a create found at the path: a file it formats was missing or empty.
  const missing = o.create && !fs.existsSync(path);
  let created = false;
  let opened: { lock: NativeLock; mapping: Mapping };
  try {
    opened = openWalFile(path, { create: o.create, size: o.size, offset: STATE_BYTES }, flags, (m) => {
      formatJournal(m, o.role);
      created = true;
    }) as { lock: NativeLock; mapping: Mapping };
  } catch (e) {
    throw notAJournal(e, path);
  }
  const { lock, mapping } = opened;
  try {
    const j = openJournal(mapping, o.accept);
    const regular = isRegularFile(lock.fd);
    let closed = false;
    const close = (undo: boolean): void => {
      if (closed) return;
      closed = true;
      j.wal.close();
      mapping.close();
      // Under the lock, after the unmap (no store can touch a cut file),
      // and only while the path still names this file. Done as well as it
      // can be: the caller's own error is the one to report.
      try {
        if (undo && created && regular && sameFile(path, lock.fd)) {
          if (missing) fs.unlinkSync(fs.realpathSync(path));
          else fs.ftruncateSync(lock.fd, 0);
        }
      } catch {
        // left as it is
      }
      lock.release();
    };
    return {
      ...j,
      path,
      mapping,
      check() {
        if (regular) checkSameFile(path, lock.fd, mapping.length);
      },
      close() {
        close(false);
      },
      abandon() {
        close(true);
      },
    };
  } catch (e) {
    mapping.close();
    lock.release();
    if (e instanceof PmemError && e.path === undefined) e.path = path;
    throw e;
  }
}

/** Whether `path` names the file open at `fd`. */
function sameFile(path: string, fd: number): boolean {
  try {
    const a = fs.statSync(path);
    const b = fs.fstatSync(fd);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/**
 * A journal is identified by the Wal after its control block, so a file of
 * another kind is first refused as "not a write-ahead log" with what that
 * offset holds. The error says what the file is instead, from its start.
 */
function notAJournal(e: unknown, path: string): unknown {
  if (!isPmemError(e, 'ERR_PMEM_NOT_A_STORE')) return e;
  const id = identifyPath(path);
  if (id === undefined || id.kind === 'journal') return e;
  const message = `'${path}' is not a replicated journal: it holds ${id.description}; nothing was written to it`;
  if (e.stack !== undefined) e.stack = e.stack.replace(e.message, message);
  e.message = message;
  return e;
}

/** Whether the descriptor is a regular file's (a devdax device cannot be cut or renamed over). */
function isRegularFile(fd: number): boolean {
  return fs.fstatSync(fd).isFile();
}

/**
 * One fstat (about a microsecond): the size against the mapping, and the
 * link count, which falls to 0 when the name is removed or another file
 * is renamed over it. Only then is the path looked at, to say which.
 */
function checkSameFile(path: string, fd: number, length: number): void {
  const st = fs.fstatSync(fd);
  if (st.size < length) {
    throw new PmemError('ERR_PMEM_IO', `'${path}' was cut to ${st.size} bytes while open (it was ${length}): the journal stopped before writing past its end`, { path });
  }
  if (st.nlink > 0) return;
  const now = fs.statSync(path, { throwIfNoEntry: false });
  const how = now === undefined ? 'removed' : 'replaced';
  throw new PmemError('ERR_PMEM_INVALID', `'${path}' is no longer this journal's file (it was ${how} while open): the journal stopped`, { path });
}

export interface JournalContents {
  role: Role;
  epoch: number;
  journalId: number;
  /** The durable commit point (a primary's; a backup's stays where it was when it was last a primary). */
  committedLsn: number;
  headLsn: number;
  nextLsn: number;
  records: Array<{ lsn: number; data: Buffer }>;
}

/**
 * The records and control words of a closed journal file (a primary's or
 * a backup's), from `fromLsn` on. Takes the file's lock while it reads.
 * @throws PmemError ERR_PMEM_LOCKED (a replica or primary has it open), and what opening a journal file throws
 */
export function readJournal(path: string, fromLsn?: number): JournalContents {
  const j = openJournalFile(path, { create: false, role: 'backup' });
  try {
    const { state, wal } = j;
    return {
      role: state.role, epoch: state.epoch, journalId: state.journalId, committedLsn: state.committedLsn,
      headLsn: wal.headLsn, nextLsn: wal.nextLsn, records: [...wal.read(fromLsn)],
    };
  } finally {
    j.close();
  }
}
