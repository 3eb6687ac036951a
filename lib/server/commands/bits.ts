// The bitmap group (Redis 7.0's): GETBIT, SETBIT, BITCOUNT, BITPOS, BITOP,
// BITFIELD and BITFIELD_RO, over string values. Bit 0 is the most
// significant bit of byte 0. A command that changes a value writes the
// whole new value as one record in the turn's batch, as every string write
// does; one that changes nothing writes nothing.
import { NOT_INTEGER, ReplyError, SYNTAX, WRONGTYPE, type Client } from '../client';
import { NOTIFY_GENERIC, NOTIFY_STRING } from '../notify';
import { TYPE_STRING } from '../records';
import type { RespServer } from '../server';
import { i64Arg, keyArg, toI64, word } from './args';
import { checkSize, getString } from './strings';
import type { Def } from './types';

const OFFSET_ERROR = 'ERR bit offset is not an integer or out of range';

/**
 * getBitOffsetFromArgument: a bit offset whose byte is below the largest
 * bulk. With `bits` (BITFIELD), "#n" is the n-th field of that width.
 */
function bitOffset(s: RespServer, b: Buffer, bits = 0): number {
  const hash = bits > 0 && b[0] === 0x23;
  let n = toI64(hash ? b.subarray(1) : b);
  if (n === null) throw new ReplyError(OFFSET_ERROR);
  if (hash) n = BigInt.asIntN(64, n * BigInt(bits)); // a long long product, wrapping as Redis's does
  if (n < 0n || n >> 3n >= BigInt(s.limits.maxBulk)) throw new ReplyError(OFFSET_ERROR);
  return Number(n);
}

/** The bit at `off` of `v` (0 past its end). */
const bitAt = (v: Buffer, off: number): number => {
  const byte = Math.floor(off / 8);
  return byte < v.length ? (v[byte] >> (7 - (off % 8))) & 1 : 0;
};

/** A copy of `old` (or zeros) at least `bytes` long, for a bit command's write. */
function grown(s: RespServer, old: Buffer | undefined, bytes: number): Buffer {
  if (old !== undefined && old.length >= bytes) return Buffer.from(old);
  checkSize(s, bytes);
  const v = Buffer.alloc(bytes);
  old?.copy(v);
  return v;
}

/** Writes the changed value of string `key` (its TTL kept) and raises 'setbit'. */
function writeBits(s: RespServer, c: Client, key: string, v: Buffer, changed: boolean): void {
  s.keyspace.set(c.db, key, TYPE_STRING, v, 'keep');
  s.keyspace.pinEncoding(c.db, key, 'raw'); // changed in place, as SETRANGE
  if (changed) s.keyspace.notify.raise(NOTIFY_STRING, 'setbit', c.db, key);
}

function getbit(s: RespServer, c: Client, argv: Buffer[]): void {
  const off = bitOffset(s, argv[2]);
  const v = getString(s, c, keyArg(argv[1]));
  c.out.int(v === undefined ? 0 : bitAt(v, off));
}

function setbit(s: RespServer, c: Client, argv: Buffer[]): void {
  const key = keyArg(argv[1]);
  const off = bitOffset(s, argv[2]);
  const bit = argv[3].toString('latin1');
  if (bit !== '0' && bit !== '1') throw new ReplyError('ERR bit is not an integer or out of range');
  const old = getString(s, c, key);
  const byte = Math.floor(off / 8);
  const was = old === undefined ? 0 : bitAt(old, off);
  // As Redis: a key made or lengthened is written; a bit set to what it was changes nothing.
  const longer = old === undefined || byte >= old.length;
  if (longer || was !== Number(bit)) {
    const v = grown(s, old, byte + 1);
    const mask = 1 << (7 - (off % 8));
    v[byte] = bit === '1' ? v[byte] | mask : v[byte] & ~mask;
    writeBits(s, c, key, v, true);
  } else s.keyspace.pinEncoding(c.db, key, 'raw');
  c.out.int(was);
}

/** Set bits in a 32-bit word. */
function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Set bits in bytes [from, to] of `v`. */
function popcount(v: Buffer, from: number, to: number): number {
  let n = 0;
  let i = from;
  // Whole aligned words in the middle, bytes at the edges.
  while (i <= to && (v.byteOffset + i) % 4 !== 0) n += popcount32(v[i++]);
  const words = Math.floor((to + 1 - i) / 4);
  if (words > 0) {
    const w = new Uint32Array(v.buffer, v.byteOffset + i, words);
    for (let k = 0; k < words; k++) n += popcount32(w[k]);
    i += 4 * words;
  }
  while (i <= to) n += popcount32(v[i++]);
  return n;
}

/** BIT or BYTE, the unit of a range. @returns whether BIT */
function unitArg(b: Buffer): boolean {
  const w = word(b);
  if (w === 'bit') return true;
  if (w === 'byte') return false;
  throw new ReplyError(SYNTAX);
}

/**
 * A range of `len` units with negative ends counted from the end, clamped
 * into it: [start, end], empty when start > end.
 */
function clampRange(start: bigint, end: bigint, len: number): [number, number] {
  const total = BigInt(len);
  if (start < 0n) start += total;
  if (end < 0n) end += total;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= total) end = total - 1n;
  return [Number(start), Number(end)];
}

/** BITCOUNT key [start end [BYTE|BIT]] */
function bitcount(s: RespServer, c: Client, argv: Buffer[]): void {
  // As Redis: a missing key is 0 and another type an error, before the range is read.
  const v = getString(s, c, keyArg(argv[1]));
  if (v === undefined) {
    c.out.int(0);
    return;
  }
  if (argv.length !== 2 && argv.length !== 4 && argv.length !== 5) throw new ReplyError(SYNTAX);
  if (argv.length === 2) {
    c.out.int(v.length === 0 ? 0 : popcount(v, 0, v.length - 1));
    return;
  }
  const start = i64Arg(argv[2]);
  const end = i64Arg(argv[3]);
  if (start < 0n && end < 0n && start > end) {
    c.out.int(0);
    return;
  }
  const isBit = argv.length === 5 && unitArg(argv[4]);
  const [a, b] = clampRange(start, end, isBit ? v.length * 8 : v.length);
  if (a > b) {
    c.out.int(0);
    return;
  }
  if (!isBit) {
    c.out.int(popcount(v, a, b));
    return;
  }
  // Whole bytes, less the bits of the first and last outside the range.
  const first = a >> 3;
  const last = b >> 3;
  let n = popcount(v, first, last);
  n -= popcount32(v[first] & ~(0xff >> (a & 7)) & 0xff);
  n -= popcount32(v[last] & ((1 << (7 - (b & 7))) - 1));
  c.out.int(n);
}

/**
 * The first bit equal to `bit` in bits [from, to] of `v`, or -1. Bytes that
 * hold only the other value are skipped whole, words of them when aligned.
 */
function firstBit(v: Buffer, bit: number, from: number, to: number): number {
  const skip = bit === 1 ? 0 : 0xff;
  const lastByte = to >> 3;
  let i = from >> 3;
  const look = (byte: number, at: number): number => {
    // The bits of this byte inside [from, to], as a mask.
    let mask = 0xff;
    if (at === from >> 3) mask &= 0xff >> (from & 7);
    if (at === lastByte) mask &= (0xff << (7 - (to & 7))) & 0xff;
    const hits = (bit === 1 ? byte : ~byte) & mask & 0xff;
    return hits === 0 ? -1 : at * 8 + Math.clz32(hits) - 24;
  };
  while (i <= lastByte) {
    if ((v.byteOffset + i) % 4 === 0 && lastByte - i >= 4) {
      const words = Math.floor((lastByte - i) / 4); // the last byte is looked at on its own
      const w = new Uint32Array(v.buffer, v.byteOffset + i, words);
      const full = bit === 1 ? 0 : 0xffffffff;
      let k = 0;
      while (k < words && w[k] === full && i + 4 * k !== from >> 3) k++;
      i += 4 * k;
      if (k === words) continue;
    }
    if (v[i] !== skip || i === from >> 3 || i === lastByte) {
      const p = look(v[i], i);
      if (p >= 0) return p;
    }
    i++;
  }
  return -1;
}

/** BITPOS key bit [start [end [BYTE|BIT]]] */
function bitpos(s: RespServer, c: Client, argv: Buffer[]): void {
  const bit = toI64(argv[2]);
  if (bit === null) throw new ReplyError(NOT_INTEGER);
  if (bit !== 0n && bit !== 1n) throw new ReplyError('ERR The bit argument must be 1 or 0.');
  // A missing key is an endless run of 0 bits.
  const v = getString(s, c, keyArg(argv[1]));
  if (v === undefined) {
    c.out.int(bit === 1n ? -1 : 0);
    return;
  }
  if (argv.length > 6) throw new ReplyError(SYNTAX);
  let from: number;
  let to: number;
  let isBit = false;
  const endGiven = argv.length >= 5;
  if (argv.length === 3) {
    from = 0;
    to = v.length * 8 - 1;
  } else {
    const start = i64Arg(argv[3]);
    if (argv.length === 6) isBit = unitArg(argv[5]);
    const end = endGiven ? i64Arg(argv[4]) : BigInt(v.length - 1);
    const [a, b] = clampRange(start, end, isBit ? v.length * 8 : v.length);
    if (a > b) {
      c.out.int(-1);
      return;
    }
    [from, to] = isBit ? [a, b] : [a * 8, b * 8 + 7];
  }
  if (from > to) {
    c.out.int(-1);
    return;
  }
  const p = firstBit(v, Number(bit), from, to);
  // Looking for a 0 with no end given, the bits past the string count as 0s.
  c.out.int(p >= 0 || bit === 1n || endGiven ? p : to + 1);
}

/** BITOP AND|OR|XOR|NOT destkey key [key ...] */
function bitop(s: RespServer, c: Client, argv: Buffer[]): void {
  const op = word(argv[1]);
  if (op !== 'and' && op !== 'or' && op !== 'xor' && op !== 'not') throw new ReplyError(SYNTAX);
  if (op === 'not' && argv.length !== 4) throw new ReplyError('ERR BITOP NOT must be called with a single source key.');
  const dst = keyArg(argv[2]);
  const srcs: Buffer[] = [];
  for (let j = 3; j < argv.length; j++) {
    const key = keyArg(argv[j]);
    const t = s.keyspace.type(c.db, key);
    if (t !== undefined && t !== TYPE_STRING) throw new ReplyError(WRONGTYPE);
    // A missing key is an empty string.
    srcs.push(t === undefined ? Buffer.alloc(0) : (s.keyspace.get(c.db, key)?.value ?? Buffer.alloc(0)));
  }
  let max = 0;
  for (const b of srcs) max = Math.max(max, b.length);
  if (max === 0) {
    if (s.keyspace.delete(c.db, dst)) s.keyspace.notify.raise(NOTIFY_GENERIC, 'del', c.db, dst);
    c.out.int(0);
    return;
  }
  // Each source padded with zeros to the longest.
  const out = Buffer.alloc(max);
  srcs[0].copy(out);
  if (op === 'not') for (let i = 0; i < max; i++) out[i] = ~out[i] & 0xff;
  for (let k = 1; k < srcs.length; k++) {
    const b = srcs[k];
    if (op === 'and') {
      for (let i = 0; i < max; i++) out[i] &= i < b.length ? b[i] : 0;
    } else if (op === 'or') {
      for (let i = 0; i < b.length; i++) out[i] |= b[i];
    } else {
      for (let i = 0; i < b.length; i++) out[i] ^= b[i];
    }
  }
  // The destination becomes this string, whatever it held; its TTL goes.
  s.keyspace.set(c.db, dst, TYPE_STRING, out, null);
  s.keyspace.notify.raise(NOTIFY_STRING, 'set', c.db, dst);
  c.out.int(max);
}

const FIELD_TYPE_ERROR = 'ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.';

interface FieldOp {
  op: 'get' | 'set' | 'incrby';
  signed: boolean;
  bits: number;
  offset: number;
  value: bigint;
  overflow: 'wrap' | 'sat' | 'fail';
}

/** i1 to i64, u1 to u63. */
function fieldType(b: Buffer): { signed: boolean; bits: number } {
  const t = b.toString('latin1');
  const signed = t[0] === 'i';
  if (!signed && t[0] !== 'u') throw new ReplyError(FIELD_TYPE_ERROR);
  const n = toI64(t.slice(1));
  if (n === null || n < 1n || n > (signed ? 64n : 63n)) throw new ReplyError(FIELD_TYPE_ERROR);
  return { signed, bits: Number(n) };
}

/** The field of `bits` at bit `off` of `v` (0s past its end), as an unsigned number. */
function readField(v: Buffer, off: number, bits: number): bigint {
  let x = 0n;
  for (let j = 0; j < bits; j++) x = (x << 1n) | BigInt(bitAt(v, off + j));
  return x;
}

/** Stores the low `bits` of `x` at bit `off` of `v` (long enough). */
function writeField(v: Buffer, off: number, bits: number, x: bigint): void {
  const u = BigInt.asUintN(bits, x);
  for (let j = 0; j < bits; j++) {
    const at = off + j;
    const mask = 1 << (7 - (at % 8));
    const byte = Math.floor(at / 8);
    if ((u >> BigInt(bits - 1 - j)) & 1n) v[byte] |= mask;
    else v[byte] &= ~mask;
  }
}

/**
 * The value `x` (exact) stored in a field: itself when it fits, else as
 * the overflow rule says (wrapped, saturated, or null for FAIL). A SET's
 * value is read as unsigned 64-bit for an unsigned field, as Redis does, so
 * a negative one is past the top.
 */
function fitField(x: bigint, f: FieldOp): bigint | null {
  const max = f.signed ? (1n << BigInt(f.bits - 1)) - 1n : (1n << BigInt(f.bits)) - 1n;
  const min = f.signed ? -max - 1n : 0n;
  if (x >= min && x <= max) return x;
  if (f.overflow === 'fail') return null;
  if (f.overflow === 'sat') return x > max ? max : min;
  return f.signed ? BigInt.asIntN(f.bits, x) : BigInt.asUintN(f.bits, x);
}

function bitfieldGeneric(readOnly: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const ops: FieldOp[] = [];
    let overflow: FieldOp['overflow'] = 'wrap';
    let writes = false;
    let highest = -1;
    for (let j = 2; j < argv.length; j++) {
      const left = argv.length - j - 1;
      const w = word(argv[j]);
      let op: FieldOp['op'];
      if (w === 'get' && left >= 2) op = 'get';
      else if (w === 'set' && left >= 3) op = 'set';
      else if (w === 'incrby' && left >= 3) op = 'incrby';
      else if (w === 'overflow' && left >= 1) {
        const o = word(argv[++j]);
        if (o !== 'wrap' && o !== 'sat' && o !== 'fail') throw new ReplyError('ERR Invalid OVERFLOW type specified');
        overflow = o;
        continue;
      } else throw new ReplyError(SYNTAX);
      const { signed, bits } = fieldType(argv[j + 1]);
      const offset = bitOffset(s, argv[j + 2], bits);
      let value = 0n;
      if (op !== 'get') {
        writes = true;
        highest = Math.max(highest, offset + bits - 1);
        value = i64Arg(argv[j + 3]);
      }
      ops.push({ op, signed, bits, offset, value, overflow });
      j += op === 'get' ? 2 : 3;
    }
    const key = keyArg(argv[1]);
    if (writes && readOnly) throw new ReplyError('ERR BITFIELD_RO only supports the GET subcommand');
    const old = getString(s, c, key);
    // The value the operations work on, in order: made or lengthened to the farthest bit written.
    const v = writes ? grown(s, old, (highest >> 3) + 1) : (old ?? Buffer.alloc(0));
    const made = writes && (old === undefined || v.length > old.length);
    let changes = 0;
    c.out.array(ops.length);
    for (const f of ops) {
      const was = f.signed ? BigInt.asIntN(f.bits, readField(v, f.offset, f.bits)) : readField(v, f.offset, f.bits);
      if (f.op === 'get') {
        c.out.int(was);
        continue;
      }
      const wanted = f.op === 'incrby' ? was + f.value : f.signed ? f.value : BigInt.asUintN(64, f.value);
      const next = fitField(wanted, f);
      if (next === null) {
        c.out.nil();
        continue;
      }
      c.out.int(f.op === 'incrby' ? next : was);
      writeField(v, f.offset, f.bits, next);
      if (made || next !== was) changes++;
    }
    // A key made or lengthened is written even when every operation failed, as Redis makes it.
    if (made || changes > 0) writeBits(s, c, key, v, changes > 0);
    else if (writes) s.keyspace.pinEncoding(c.db, key, 'raw'); // Redis unshares the value for a write, changed or not
  };
}

export const BIT_COMMANDS: Record<string, Def> = {
  getbit: [3, 'readonly fast', 1, 1, 1, getbit],
  setbit: [4, 'write', 1, 1, 1, setbit],
  bitcount: [-2, 'readonly', 1, 1, 1, bitcount],
  bitpos: [-3, 'readonly', 1, 1, 1, bitpos],
  bitop: [-4, 'write', 2, -1, 1, bitop],
  bitfield: [-2, 'write', 1, 1, 1, bitfieldGeneric(false)],
  bitfield_ro: [-2, 'readonly fast', 1, 1, 1, bitfieldGeneric(true)],
};
