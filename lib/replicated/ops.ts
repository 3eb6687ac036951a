// The journal record of a replicated store's write: the batch of puts and
// deletes it applies, checked and copied once when it is made.
//   u8 version (1) | u32 count | count × (u8 type (1 put, 2 del) | u32 key length | key | [u32 value length | value])
// The journal's own record checksum covers it; decodeOps still checks
// every length, so that a record of another format is refused, not misread.
import { PmemError } from '../core/errors';
import { keyOf, valueArg } from '../kv/args';
import type { KVBatchOp } from '../kv/types';

const VERSION = 1;
const PUT = 1;
const DEL = 2;

/** A write's ops, checked and copied: keys as Buffers of their bytes, values as Buffers. */
export type CopiedOps = Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }>;

/**
 * Checks `ops` as KVStore.batch does (each op and field read once) and
 * copies them: the caller may reuse its buffers once the call returns.
 * @throws TypeError, RangeError for a bad op
 */
export function copyOps(ops: unknown, reserved: (key: string) => boolean): CopiedOps {
  if (!Array.isArray(ops)) throw new TypeError('ops must be an array');
  const n = ops.length;
  const out: CopiedOps = [];
  for (let i = 0; i < n; i++) {
    const op = ops[i] as unknown;
    if (op === null || typeof op !== 'object') throw new TypeError(`ops[${i}] must be an object`);
    const { type } = op as { type: unknown };
    const k = keyOf((op as { key: unknown }).key, `ops[${i}].key`);
    if (reserved(k)) throw new RangeError(`ops[${i}].key is reserved for the store's applied LSN`);
    const key = Buffer.from(k, 'latin1');
    if (type === 'put') {
      const { v } = valueArg((op as { value: unknown }).value, `ops[${i}].value`);
      out.push({ type: 'put', key, value: typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v) });
    } else if (type === 'del') {
      out.push({ type: 'del', key });
    } else {
      throw new TypeError(`ops[${i}].type must be 'put' or 'del'`);
    }
  }
  return out;
}

/** The bytes of a record's header, before its ops. */
export const OPS_HEADER = 5;

/** The bytes of one op in a record: a put's with its value's length, a delete's with null. */
export function opBytes(keyLength: number, valueLength: number | null): number {
  return 5 + keyLength + (valueLength === null ? 0 : 4 + valueLength);
}

/** The record of `ops` (copied by copyOps). */
export function encodeOps(ops: CopiedOps): Buffer {
  let size = OPS_HEADER;
  for (const op of ops) size += opBytes(op.key.length, op.type === 'put' ? op.value.length : null);
  const b = Buffer.allocUnsafe(size);
  b[0] = VERSION;
  b.writeUInt32LE(ops.length, 1);
  let at = 5;
  for (const op of ops) {
    b[at] = op.type === 'put' ? PUT : DEL;
    b.writeUInt32LE(op.key.length, at + 1);
    at += 5 + op.key.copy(b, at + 5);
    if (op.type === 'put') {
      b.writeUInt32LE(op.value.length, at);
      at += 4 + op.value.copy(b, at + 4);
    }
  }
  return b;
}

/**
 * The ops of a record made by encodeOps.
 * @throws PmemError ERR_PMEM_CORRUPT when it is not one
 */
export function decodeOps(b: Buffer, lsn: number): KVBatchOp[] {
  const bad = (why: string): PmemError => new PmemError('ERR_PMEM_CORRUPT', `journal record at LSN ${lsn} is not a replicated store's write: ${why}`);
  if (b.length < 5 || b[0] !== VERSION) throw bad(`version ${b.length > 0 ? b[0] : 'missing'}`);
  const n = b.readUInt32LE(1);
  const ops: KVBatchOp[] = [];
  let at = 5;
  const take = (len: number): Buffer => {
    if (at + len > b.length) throw bad('a length past its end');
    const s = b.subarray(at, at + len);
    at += len;
    return s;
  };
  const u32 = (): number => take(4).readUInt32LE(0);
  for (let i = 0; i < n; i++) {
    const type = take(1)[0];
    const key = take(u32());
    if (type === PUT) ops.push({ type: 'put', key, value: take(u32()) });
    else if (type === DEL) ops.push({ type: 'del', key });
    else throw bad(`op type ${type}`);
  }
  if (at !== b.length) throw bad(`${b.length - at} bytes after its last op`);
  return ops;
}
