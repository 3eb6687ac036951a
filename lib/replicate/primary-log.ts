// The primary's two ordering points on its journal, without the network:
// the durable intent (its records in its own log, fenced before any is
// sent) and the durable commit point (persisted before any caller it
// covers is answered). primary.ts runs them around each round trip; the
// crash tests drive them directly over a simulated Region.
import { isPmemError } from '../core/errors';
import type { Journal } from './journal';

/**
 * Writes `records` to the journal's log as one batch: durable when it
 * returns (one fence), before any of them is sent. When the log holds more
 * than `keepBytes`, or is full, the records up to the commit point are
 * freed first: they are persisted on every replica, so no catch-up needs
 * them; records past it are kept for resending.
 * @returns their LSNs
 * @throws PmemError ERR_PMEM_NO_SPACE when they do not fit even then (nothing is written)
 */
export function intend(j: Journal, records: Uint8Array[], keepBytes: number): number[] {
  const { wal, state } = j;
  const free = (): void => {
    const upto = state.committedLsn;
    // Durable through the Wal's superblock: after a crash the head is the
    // old one or this, never past the commit point.
    if (upto >= wal.headLsn) wal.truncate(upto);
  };
  if (wal.stats.used > keepBytes) free();
  try {
    return wal.appendBatch(records);
  } catch (e) {
    if (!isPmemError(e, 'ERR_PMEM_NO_SPACE')) throw e;
    free();
    return wal.appendBatch(records);
  }
}

/**
 * Moves the durable commit point to `lsn` (never back): an aligned 8-byte
 * store, persisted when it returns (state.ts). Called once every replica
 * has acknowledged 'persisted' up to `lsn`, and before any append up to it
 * is acknowledged to its caller.
 */
export function commit(j: Journal, lsn: number): void {
  j.state.setCommitted(lsn);
}
