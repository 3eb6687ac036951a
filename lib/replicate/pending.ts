// The primary's appends waiting for their level: one object per append or
// appendBatch call (not per record), the copy of a caller's record, and
// answering the calls whose level was reached, in LSN order.
import { snapshotBytes, utf8 } from '../core/args';
import type { AckLevel } from './options';

/** An append or appendBatch waiting for its level. */
export interface Pending {
  /** An append's one record (appendBatch: null), until it is intended. */
  record: Buffer | null;
  /** An appendBatch's records (append: null), until they are intended. */
  records: Buffer[] | null;
  /** Whether the promise resolves to one LSN (append) or an array (appendBatch). */
  one: boolean;
  level: AckLevel;
  /** Its first and last LSN, once the intent is durable. */
  first: number;
  last: number;
  resolve(v: number | number[]): void;
  reject(e: unknown): void;
}

/** A caller's record, copied now: the caller may reuse its buffer once the call returns. */
export function copyRecord(r: Uint8Array | string, name: string, max: number): Buffer {
  const b = typeof r === 'string' ? utf8(r, name) : Buffer.from(snapshotBytes(r, name));
  if (b.length > max) throw new RangeError(`a ${b.length}-byte record exceeds the maximum of ${max}`);
  return b;
}

/** Answers an append or appendBatch whose level was reached. */
export function settle(p: Pending): void {
  if (p.one) p.resolve(p.first);
  else {
    const lsns = new Array<number>(p.last - p.first + 1);
    for (let i = 0; i < lsns.length; i++) lsns[i] = p.first + i;
    p.resolve(lsns);
  }
}

/**
 * Answers every call in `waiting` (in LSN order) whose level is reached:
 * 'persisted' ones up to `committed` (the durable commit point), 'received'
 * ones up to `received`. The rest stay in `waiting`, in the same order.
 */
export function settleReached(waiting: Pending[], committed: number, received: number): void {
  let kept = 0;
  for (let i = 0; i < waiting.length; i++) {
    const p = waiting[i];
    if ((p.level === 'persisted' && p.last <= committed) || (p.level === 'received' && p.last <= received)) settle(p);
    else waiting[kept++] = p;
  }
  waiting.length = kept;
}
