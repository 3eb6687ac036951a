// The HyperLogLog group (Redis 7.0's): PFADD, PFCOUNT, PFMERGE, PFDEBUG
// and PFSELFTEST, over string values in Redis's own representation
// (../hyperloglog.ts). A command that changes a value writes the whole new
// value as one record in the turn's batch, as every string write does; one
// that changes nothing writes nothing. PFCOUNT of one key writes the value
// back when it has counted it, with the count cached (docs/server.md).
import { ReplyError, WRONGTYPE, type Client } from '../client';
import {
  bytesOf, cachedCard, count, countRaw, createHll, decodeSparse, DENSE, DENSE_SIZE, denseSet, getReg, HDR, hllAdd, hllOf,
  invalidateCache, merge, REGISTERS, selfTest, SPARSE, SPARSE_MAX_BYTES_DEFAULT, sparseSet, sparseToDense, type Hll,
} from '../hyperloglog';
import { NOTIFY_STRING } from '../notify';
import { TYPE_STRING } from '../records';
import type { RespServer } from '../server';
import { cString, keyArg, word } from './args';
import { getString } from './strings';
import type { Def } from './types';

const INVALID = 'INVALIDOBJ Corrupted HLL object detected';
const NOT_HLL = 'WRONGTYPE Key is not a valid HyperLogLog string value.';

/**
 * isHLLObjectOrReply: a string of at least 16 bytes, "HYLL", a known
 * encoding, and a dense one exactly 12304 bytes.
 * @throws ReplyError "WRONGTYPE Key is not a valid HyperLogLog string value."
 */
function checkHll(v: Buffer): void {
  if (v.length < HDR || v[0] !== 0x48 || v[1] !== 0x59 || v[2] !== 0x4c || v[3] !== 0x4c || v[4] > SPARSE || (v[4] === DENSE && v.length !== DENSE_SIZE)) {
    throw new ReplyError(NOT_HLL);
  }
}

/** The HLL value of a key looked up to write it (no hit or miss counted, as lookupKeyWrite), or undefined. */
function lookupWrite(s: RespServer, c: Client, key: string): Buffer | undefined {
  const v = s.keyspace.get(c.db, key);
  if (v === undefined) return undefined;
  if (v.type !== TYPE_STRING) throw new ReplyError(WRONGTYPE);
  checkHll(v.value);
  return v.value;
}

/**
 * The HLL value of a key looked up to read it (lookupKeyRead), or
 * undefined. `miss`: a write command's read, whose miss raises 'keymiss'
 * here (a read-only command's misses are raised by the dispatcher).
 */
function lookupRead(s: RespServer, c: Client, key: string, miss = false): Buffer | undefined {
  const v = getString(s, c, key, miss);
  if (v !== undefined) checkHll(v);
  return v;
}

/** hll-sparse-max-bytes (config.ts keeps it, in bytes). */
export function sparseMaxBytes(s: RespServer): number {
  const v = s.config.get('hll-sparse-max-bytes');
  return v === undefined ? SPARSE_MAX_BYTES_DEFAULT : Number(v);
}

/** Writes an HLL value (the key's TTL kept); Redis changes it in place, so it is raw. */
function write(s: RespServer, c: Client, key: string, h: Hll): void {
  s.keyspace.set(c.db, key, TYPE_STRING, bytesOf(h), 'keep');
  s.keyspace.pinEncoding(c.db, key, 'raw');
}

/** PFADD key [element ...] */
function pfadd(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const old = lookupWrite(s, c, key);
  const h = old === undefined ? createHll() : hllOf(old);
  let updated = old === undefined ? 1 : 0;
  const max = sparseMaxBytes(s);
  for (let j = 2; j < argv.length; j++) {
    const r = hllAdd(h, argv[j], max);
    if (r === -1) {
      // Redis changes the value in place, element by element: what the
      // elements before the corrupt part changed stays, unannounced.
      if (updated > 0) write(s, c, key, h);
      throw new ReplyError(INVALID);
    }
    updated += r;
  }
  if (updated > 0) {
    invalidateCache(h);
    write(s, c, key, h);
    s.keyspace.notify.raise(NOTIFY_STRING, 'pfadd', c.db, key);
  } else s.keyspace.pinEncoding(c.db, key, 'raw'); // unshared for the write, changed or not
  c.out.int(updated > 0 ? 1 : 0);
}

/**
 * PFCOUNT key [key ...]. One key: its cached cardinality, or the estimate,
 * which is then cached in the value: a durable write of the value, as
 * Redis propagates it (and a WATCH of the key fails, as Redis's
 * signalModifiedKey makes it). Several keys: the estimate of their union,
 * nothing written.
 */
function pfcount(s: RespServer, c: Client, argv: Buffer[]): void {
  if (argv.length > 2) {
    const max = new Uint8Array(REGISTERS);
    for (let j = 1; j < argv.length; j++) {
      const v = lookupRead(s, c, keyArg(argv[j]));
      if (v === undefined) continue; // an empty HLL
      if (!merge(max, v)) throw new ReplyError(INVALID);
    }
    c.out.int(countRaw(max));
    return;
  }
  const key = keyArg(argv[1]);
  const v = lookupRead(s, c, key);
  if (v === undefined) {
    c.out.int(0);
    return;
  }
  if ((v[15] & 0x80) === 0) {
    s.keyspace.pinEncoding(c.db, key, 'raw'); // unshared for the cache's write, as in Redis
    c.out.int(cachedCard(v));
    return;
  }
  const h = hllOf(v);
  const card = count(h);
  if (card === null) throw new ReplyError(INVALID);
  h.b.writeBigUInt64LE(BigInt(card), 8);
  write(s, c, key, h);
  c.out.int(card);
}

/**
 * PFMERGE destkey [sourcekey ...]: the union of the sources and of the
 * destination itself, written to the destination (made when missing;
 * dense when any input is dense).
 */
function pfmerge(s: RespServer, c: Client, argv: Buffer[]): void {
  const max = new Uint8Array(REGISTERS);
  let dense = false;
  for (let j = 1; j < argv.length; j++) {
    const v = lookupRead(s, c, keyArg(argv[j]), true);
    if (v === undefined) continue;
    if (v[4] === DENSE) dense = true;
    if (!merge(max, v)) throw new ReplyError(INVALID);
  }
  const key = keyArg(argv[1]);
  const old = s.keyspace.get(c.db, key)?.value; // checked above, as a source
  const h = old === undefined ? createHll() : hllOf(old);
  if (dense && !sparseToDense(h)) throw new ReplyError(INVALID);
  const maxBytes = sparseMaxBytes(s);
  for (let i = 0; i < REGISTERS; i++) {
    if (max[i] === 0) continue;
    if (h.b[4] === DENSE) denseSet(h.b, i, max[i]);
    else sparseSet(h, i, max[i], maxBytes);
  }
  invalidateCache(h);
  write(s, c, key, h);
  // Redis raises 'pfadd' for a merge too: in effect, elements added.
  s.keyspace.notify.raise(NOTIFY_STRING, 'pfadd', c.db, key);
  c.out.ok();
}

/**
 * PFDEBUG GETREG|DECODE|ENCODING|TODENSE key. GETREG and TODENSE make a
 * sparse value dense, a write of the value, as in Redis.
 */
function pfdebug(s: RespServer, c: Client, argv: Buffer[]): void {
  const sub = cString(argv[1]); // compared and named as a C string, as Redis's strcasecmp and %s see it
  const key = keyArg(argv[2]);
  const old = lookupWrite(s, c, key);
  if (old === undefined) throw new ReplyError('ERR The specified key does not exist');
  s.keyspace.pinEncoding(c.db, key, 'raw');
  const h = hllOf(old);
  switch (word(argv[1])) {
    case 'getreg': {
      if (h.b[4] === SPARSE) {
        if (!sparseToDense(h)) throw new ReplyError(INVALID);
        write(s, c, key, h);
      }
      c.out.array(REGISTERS);
      for (let i = 0; i < REGISTERS; i++) c.out.int(getReg(h.b, HDR, i));
      return;
    }
    case 'decode': {
      if (h.b[4] !== SPARSE) throw new ReplyError('ERR HLL encoding is not sparse');
      c.out.bulk(decodeSparse(h));
      return;
    }
    case 'encoding':
      c.out.status(h.b[4] === DENSE ? 'dense' : 'sparse');
      return;
    case 'todense': {
      const conv = h.b[4] === SPARSE;
      if (conv) {
        if (!sparseToDense(h)) throw new ReplyError(INVALID);
        write(s, c, key, h);
      }
      c.out.int(conv ? 1 : 0);
      return;
    }
    default:
      throw new ReplyError(`ERR Unknown PFDEBUG subcommand '${sub}'`);
  }
}

/** PFSELFTEST: Redis's self test (hyperloglog.ts), which holds the server for seconds, as it holds Redis. */
function pfselftest(s: RespServer, c: Client): void {
  const failed = selfTest(sparseMaxBytes(s));
  if (failed !== null) throw new ReplyError(failed);
  c.out.ok();
}

export const HLL_COMMANDS: Record<string, Def> = {
  pfadd: [-2, 'write fast', 1, 1, 1, pfadd],
  pfcount: [-2, 'readonly', 1, -1, 1, pfcount],
  pfmerge: [-2, 'write', 1, -1, 1, pfmerge],
  pfdebug: [3, 'write admin', 2, 2, 1, pfdebug],
  pfselftest: [1, 'admin', 0, 0, 0, (s, c) => pfselftest(s, c)],
};
