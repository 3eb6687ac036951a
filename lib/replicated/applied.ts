// The applied LSN: the last journal record a replicated store holds, kept
// in the store itself under one reserved key and written in the same
// KVStore batch as the record's ops, so that the ops and the LSN that
// covers them are durable together (one record, one fence) or not at all.
import { PmemError } from '../core/errors';
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
 * covers them are durable together).
 */
export function applyRecords(store: KVStore, records: ReadonlyArray<{ lsn: number; ops: readonly KVBatchOp[] }>): void {
  let ops: KVBatchOp[] = [];
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    for (const op of r.ops) {
      ops.push(op);
      bytes += op.key.length + (op.type === 'put' ? op.value.length : 0) + 16;
    }
    if (bytes >= APPLY_BYTES || i === records.length - 1) {
      ops.push(appliedOp(r.lsn));
      store.batch(ops);
      ops = [];
      bytes = 0;
    }
  }
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
