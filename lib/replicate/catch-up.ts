// Catching a backup up after its handshake: whether it can follow this
// primary at all (its epoch, its last durable LSN against what this log
// still holds), and the resending of the records it lacks from the log,
// which is the ring of recent records.
import type { PmemErrorCode } from '../core/errors';
import { RESEED } from './backup-log';
import { encodeData, MAX_DATA_RECORD } from './frames';
import type { Journal } from './journal';
import type { Peer } from './peer';

/** Largest catch-up frame: records are resent in frames of about this many bytes. */
const CATCH_UP_FRAME = 1024 * 1024;

/** Why a backup that says it has seen `epoch` and holds records up to `lastLsn` cannot follow this journal, if it cannot. */
export function cannotFollow(j: Journal, address: string, epoch: number, lastLsn: number): { code: PmemErrorCode; message: string } | undefined {
  const { wal, state } = j;
  if (epoch > state.epoch) {
    return { code: 'ERR_PMEM_REPLICA_FENCED', message: `replica ${address} has seen epoch ${epoch}; this primary's epoch ${state.epoch} is stale and cannot commit` };
  }
  if (lastLsn > wal.nextLsn - 1) {
    return { code: 'ERR_PMEM_REPLICA_DIVERGED', message: `replica ${address} holds records up to LSN ${lastLsn}, past this primary's last (${wal.nextLsn - 1}); ${reseed(j)}` };
  }
  if (lastLsn + 1 < wal.headLsn) {
    return { code: 'ERR_PMEM_REPLICA_BEHIND', message: `replica ${address} holds records up to LSN ${lastLsn}, but this primary keeps only LSN ${wal.headLsn} on; ${reseed(j)}` };
  }
  return undefined;
}

/**
 * What to do with a backup that cannot follow: reseed it, while this log
 * still holds its records from LSN 1 (a new backup copies them all); once
 * it freed them (every replica had them), no new backup can be made from
 * it, and saying to reseed would only send the operator round again.
 */
function reseed(j: Journal): string {
  if (j.wal.headLsn <= 1) return RESEED;
  return `a new backup cannot be made from this journal either: it no longer holds its records before LSN ${j.wal.headLsn} `
    + '(freed once every replica held them), and there is no snapshot transfer; take that replica out of the replicas';
}

/**
 * Sends `p` the log's records from `fromLsn` to its end, in frames of about
 * CATCH_UP_FRAME bytes, and moves its sentLsn to the end.
 * @returns how many records were sent
 */
export function resend(j: Journal, p: Peer, fromLsn: number): number {
  const { wal, state } = j;
  const end = wal.nextLsn - 1;
  let batch: Buffer[] = [];
  let first = fromLsn;
  let bytes = 0;
  let sent = 0;
  const flush = (): void => {
    if (batch.length === 0) return;
    p.send(encodeData(state.epoch, state.committedLsn, 0, first, batch));
    sent += batch.length;
    p.sentLsn = first + batch.length - 1;
    first += batch.length;
    batch = [];
    bytes = 0;
  };
  if (fromLsn <= end) {
    for (const r of wal.read(fromLsn)) {
      // A large record after small ones goes in a frame of its own: a frame is at most MAX_FRAME.
      if (bytes + r.data.length + 4 > MAX_DATA_RECORD + 4) flush();
      if (batch.length === 0) first = r.lsn;
      batch.push(r.data);
      bytes += r.data.length + 4;
      if (bytes >= CATCH_UP_FRAME) flush();
    }
  }
  flush();
  if (p.sentLsn < end) p.sentLsn = end;
  return sent;
}
