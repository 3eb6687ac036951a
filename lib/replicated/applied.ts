// The applied LSN: the last journal record a replicated store holds, kept
// in the store itself under one reserved key and written in the same
// KVStore batch as the record's ops, so that the ops and the LSN that
// covers them are durable together (one record, one fence) or not at all.
import { isPmemError, PmemError } from '../core/errors';
import type { KVStore } from '../kv/store';
import type { KVBatchOp } from '../kv/types';
import { decodeOps } from './ops';

/** The reserved key (its one-byte string): a zero byte, then a name no user key of a replicated store may take. */
export const APPLIED_KEY = '\u0000pmem:applied-lsn';
const KEY = Buffer.from(APPLIED_KEY, 'latin1');

/** The store's applied LSN (0: none yet). @throws PmemError ERR_PMEM_CORRUPT */
export function readApplied(store: KVStore): number {
  const v = store.get(KEY);
  if (v === undefined) return 0;
  if (v.length !== 8) throw new PmemError('ERR_PMEM_CORRUPT', `the store's applied LSN is ${v.length} bytes, not 8`);
  return Number(v.readBigUInt64LE(0));
}

/** The op that records `lsn` as applied: the last op of the batch that applies it. */
export function appliedOp(lsn: number): KVBatchOp {
  const value = Buffer.allocUnsafe(8);
  value.writeBigUInt64LE(BigInt(lsn));
  return { type: 'put', key: KEY, value };
}

export function isAppliedKey(key: string): boolean {
  return key === APPLIED_KEY;
}

/** Bytes of ops one KVStore batch takes at most when records are applied (a record larger than this is a batch of its own). */
const APPLY_BYTES = 1024 * 1024;

/**
 * Applies journal records, in LSN order, to `store`: a few records per
 * KVStore batch, each batch ending with the op that records its last LSN
 * as applied (one record, one fence per batch: the ops and the LSN that
 * covers them are durable together). A batch of several records that finds
 * no room is applied again one record per batch. `onApplied` is called
 * with each batch's last LSN once it is durable, so a caller that catches
 * an error knows how far the store got.
 * @throws what KVStore.batch throws (ERR_PMEM_NO_SPACE when a single record
 *   finds no room): the records before it are applied, the rest not
 */
export function applyRecords(
  store: KVStore, records: ReadonlyArray<{ lsn: number; ops: readonly KVBatchOp[] }>, onApplied?: (lsn: number) => void,
): void {
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    for (const op of records[i].ops) bytes += op.key.length + (op.type === 'put' ? op.value.length : 0) + 16;
    if (bytes >= APPLY_BYTES || i === records.length - 1) {
      applyRun(store, records, from, i + 1, onApplied);
      from = i + 1;
      bytes = 0;
    }
  }
}

/** Records [from, to) as one KVStore batch with the LSN of the last; one batch each when they find no room together. */
function applyRun(
  store: KVStore, records: ReadonlyArray<{ lsn: number; ops: readonly KVBatchOp[] }>, from: number, to: number, onApplied?: (lsn: number) => void,
): void {
  const ops: KVBatchOp[] = [];
  for (let i = from; i < to; i++) for (const op of records[i].ops) ops.push(op);
  ops.push(appliedOp(records[to - 1].lsn));
  try {
    store.batch(ops);
  } catch (e) {
    // One KVStore record for the run needs room for all of it at once (a
    // run of free segments, when it is larger than one), and the dead
    // space its own deletes and overwrites leave is reclaimed only after
    // it is written. The primary's store took these records a round at a
    // time: one at a time, compaction runs between them, as it did there.
    // (A backup's store with the primary's maxSize stopped here, under a
    // steady set of live keys, while the primary's went on.)
    if (to - from === 1 || !isPmemError(e, 'ERR_PMEM_NO_SPACE')) throw e;
    for (let i = from; i < to; i++) applyRun(store, records, i, i + 1, onApplied);
    return;
  }
  onApplied?.(records[to - 1].lsn);
}

/**
 * The journal records after `applied` up to `last`, decoded, from `from`
 * (the journal's records from applied + 1 on).
 * @throws PmemError ERR_PMEM_CORRUPT when one is missing or is not a store's write
 */
export function readRecords(from: Iterable<{ lsn: number; data: Buffer }>, applied: number, last: number, path: string): Array<{ lsn: number; ops: KVBatchOp[] }> {
  const out: Array<{ lsn: number; ops: KVBatchOp[] }> = [];
  let expect = applied + 1;
  for (const r of from) {
    if (r.lsn > last) break;
    if (r.lsn !== expect) {
      throw new PmemError('ERR_PMEM_CORRUPT', `the store has applied journal records up to LSN ${expect - 1}, but the journal '${path}' holds LSN ${r.lsn} next: records were freed before the store took them`);
    }
    out.push({ lsn: r.lsn, ops: decodeOps(Buffer.from(r.data), r.lsn) });
    expect++;
  }
  if (expect <= last) throw new PmemError('ERR_PMEM_CORRUPT', `the journal '${path}' lacks LSN ${expect}..${last}`);
  return out;
}
