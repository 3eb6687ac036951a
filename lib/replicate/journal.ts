// A replicated journal's file: the replication control block (state.ts) at
// offset 0 and a Wal after it, opened together over one Region (so the
// crash simulator sees both) or from a path, locked and identified the
// way every Wal file is (log/wal-open.ts, core/identify.ts).
import { randomInt } from 'node:crypto';

import type { NativeLock } from '../core/binding';
import { PmemError } from '../core/errors';
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

/** Formats an empty journal over `region`. Durable when it returns. */
export function formatJournal(region: Region, role: Role, journalId = role === 'primary' ? newJournalId() : 0): Journal {
  const state = ReplState.format(region, 0, journalId, role);
  const wal = Wal.format(region, { offset: STATE_BYTES });
  return { wal, state };
}

/** Opens the journal over `region`: reads the control block and recovers the Wal. */
export function openJournal(region: Region): Journal {
  const state = ReplState.open(region, 0);
  const wal = Wal.open(region, { offset: STATE_BYTES });
  return { wal, state };
}

export interface JournalFile extends Journal {
  mapping: Mapping;
  close(): void;
}

/**
 * Locks, maps and opens the journal file at `path`; `create` makes a
 * missing (or empty) one of `size` bytes, formatted for `role`.
 * @throws PmemError ERR_PMEM_LOCKED, ERR_PMEM_NOT_FOUND, ERR_PMEM_NOT_A_STORE
 *   (what openStoreFile throws), ERR_PMEM_CORRUPT
 */
export function openJournalFile(path: string, o: { create: boolean; size?: number; role: Role }): JournalFile {
  const flags = { create: o.create, readOnly: false, truncateOnCorruption: false };
  const { lock, mapping } = openWalFile(path, { create: o.create, size: o.size, offset: STATE_BYTES }, flags, (m) => {
    formatJournal(m, o.role);
  }) as { lock: NativeLock; mapping: Mapping };
  try {
    const j = openJournal(mapping);
    let closed = false;
    return {
      ...j,
      mapping,
      close() {
        if (closed) return;
        closed = true;
        j.wal.close();
        mapping.close();
        lock.release();
      },
    };
  } catch (e) {
    mapping.close();
    lock.release();
    if (e instanceof PmemError && e.path === undefined) e.path = path;
    throw e;
  }
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
