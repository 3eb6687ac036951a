// A HyperLogLog as Redis 7.0 keeps it (hyperloglog.c), in a string value,
// so that a value either server wrote reads the same on the other and
// counts the same:
//
//   "HYLL" | encoding (0 dense, 1 sparse) | 3 bytes unused | cardinality
//   (8 bytes little-endian; bit 63 set: not valid, count again) | registers
//
// 16384 registers of 6 bits, each the longest run of zeros (plus one) of
// the MurmurHash64A (Redis's seed) of the elements whose hash's low 14 bits
// name it. Dense: 12288 bytes, register i at bit 6i, least significant bit
// first. Sparse: run-length opcodes, ZERO 00xxxxxx (1..64 zeros), XZERO
// 01xxxxxx yyyyyyyy (1..16384 zeros), VAL 1vvvvvxx (1..4 registers of value
// 1..32); promoted to dense when a register needs more than 32 or the value
// would pass hll-sparse-max-bytes. A sparse value is changed as Redis
// changes it (the same opcodes split and merged), so the bytes are Redis's
// bytes, corrupt values' included. The commands are in commands/hll.ts.

export const HDR = 16;
export const REGISTERS = 16384;
const P = 14;
const Q = 64 - P;
export const DENSE_SIZE = HDR + (REGISTERS * 6) / 8;
export const DENSE = 0;
export const SPARSE = 1;
const VAL_MAX_VALUE = 32;
const VAL_MAX_LEN = 4;
const ZERO_MAX_LEN = 64;
/** 0.5 / ln(2) */
const ALPHA_INF = 0.72134752044448170368;
/** The seed Redis hashes elements with (hllPatLen). */
const SEED = 0xadc83b19;

/** Redis's hll-sparse-max-bytes when CONFIG SET has not changed it. */
export const SPARSE_MAX_BYTES_DEFAULT = 3000;

// ---- MurmurHash64A (Redis's endian-neutral version), in 32-bit halves ----

/** The last product's halves (mul64's result: no object per multiply). */
let rHi = 0;
let rLo = 0;

/** (hi:lo) * (mHi:mLo) mod 2^64, into rHi:rLo. */
function mul64(hi: number, lo: number, mHi: number, mLo: number): void {
  // lo * mLo exactly, from 16-bit limbs; the cross products only matter mod 2^32.
  const a0 = lo & 0xffff;
  const a1 = lo >>> 16;
  const b0 = mLo & 0xffff;
  const b1 = mLo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  rLo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const carry = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 65536);
  rHi = (carry + Math.imul(hi, mLo) + Math.imul(lo, mHi)) >>> 0;
}

const M_HI = 0xc6a4a793;
const M_LO = 0x5bd1e995;

/** The hash's halves of the last murmur64 call. */
let hHi = 0;
let hLo = 0;

/** MurmurHash64A of b[off, off + len) with Redis's seed, into hHi:hLo. */
function murmur64(b: Uint8Array, off: number, len: number): void {
  mul64(0, len, M_HI, M_LO); // len * m (len is below 2^32)
  let hi = rHi;
  let lo = (rLo ^ SEED) >>> 0;
  const whole = off + len - (len % 8);
  let i = off;
  for (; i < whole; i += 8) {
    let kLo = (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
    let kHi = (b[i + 4] | (b[i + 5] << 8) | (b[i + 6] << 16) | (b[i + 7] << 24)) >>> 0;
    mul64(kHi, kLo, M_HI, M_LO);
    kHi = rHi;
    kLo = (rLo ^ (kHi >>> 15)) >>> 0; // k ^= k >> 47
    mul64(kHi, kLo, M_HI, M_LO);
    hi = (hi ^ rHi) >>> 0;
    lo = (lo ^ rLo) >>> 0;
    mul64(hi, lo, M_HI, M_LO);
    hi = rHi;
    lo = rLo;
  }
  const tail = len % 8;
  if (tail > 0) {
    // The last bytes, little-endian, as the switch's fall-through adds them.
    for (let j = tail - 1; j >= 0; j--) {
      const v = b[i + j];
      if (j >= 4) hi = (hi ^ (v << (8 * (j - 4)))) >>> 0;
      else lo = (lo ^ (v << (8 * j))) >>> 0;
    }
    mul64(hi, lo, M_HI, M_LO);
    hi = rHi;
    lo = rLo;
  }
  lo = (lo ^ (hi >>> 15)) >>> 0;
  mul64(hi, lo, M_HI, M_LO);
  hi = rHi;
  lo = (rLo ^ (rHi >>> 15)) >>> 0;
  hHi = hi;
  hLo = lo;
}

/** The index of the lowest set bit of a non-zero 32-bit number. */
const ctz = (x: number): number => 31 - Math.clz32(x & -x);

/** hllPatLen: the element's register (in patIndex) and its run of zeros plus one (returned, 1..Q+1). */
let patIndex = 0;
function patLen(b: Uint8Array, off: number, len: number): number {
  murmur64(b, off, len);
  patIndex = hLo & (REGISTERS - 1);
  // The hash less its P index bits, with bit Q set so the run ends.
  const low = hLo >>> P; // 18 bits
  if (low !== 0) return 1 + ctz(low);
  if (hHi !== 0) return 1 + (32 - P) + ctz(hHi);
  return Q + 1;
}

// ---- A value being changed: bytes with room, as Redis's sds ----

/**
 * An HLL value being worked on: `b[0, len)` is the value; `b[len]` is 0
 * after every change of length (sds's terminator), which Redis's code reads
 * past the last opcode of a cut XZERO, and which the last dense register's
 * accessors touch.
 */
export interface Hll {
  b: Buffer;
  len: number;
}

/** A working copy of value `v`, with its terminator and room for a change. */
export function hllOf(v: Buffer): Hll {
  const b = Buffer.alloc(v.length + 4);
  v.copy(b);
  return { b, len: v.length };
}

/** sdsMakeRoomFor: at least `n` bytes past the terminator. */
function room(h: Hll, n: number): void {
  if (h.b.length >= h.len + 1 + n) return;
  const b = Buffer.alloc(2 * (h.len + 1 + n));
  h.b.copy(b, 0, 0, h.len + 1);
  h.b = b;
}

/** sdsIncrLen */
function incrLen(h: Hll, d: number): void {
  h.len += d;
  h.b[h.len] = 0;
}

export const bytesOf = (h: Hll): Buffer => h.b.subarray(0, h.len);
export const invalidateCache = (h: Hll): void => {
  h.b[15] |= 0x80;
};

/** createHLLObject: sparse, every register 0 (one XZERO of 16384), cardinality 0 and valid. */
export function createHll(): Hll {
  const h = hllOf(Buffer.from('HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff', 'latin1'));
  return h;
}

// ---- Dense registers ----

/** Register `i` of dense registers at `b[off]` (the byte after the last is read as the terminator). */
export function getReg(b: Uint8Array, off: number, i: number): number {
  const bit = i * 6;
  const byte = off + (bit >> 3);
  const fb = bit & 7;
  const b1 = byte + 1 < b.length ? b[byte + 1] : 0;
  return ((b[byte] >> fb) | (b1 << (8 - fb))) & 63;
}

function setReg(b: Uint8Array, off: number, i: number, v: number): void {
  const bit = i * 6;
  const byte = off + (bit >> 3);
  const fb = bit & 7;
  b[byte] = (b[byte] & ~(63 << fb)) | (v << fb);
  // The part in the next byte (none when the register fits in this one).
  if (fb > 2) b[byte + 1] = (b[byte + 1] & ~(63 >> (8 - fb))) | (v >> (8 - fb));
}

/** hllDenseSet: raises register `i` to `count`. @returns whether it changed */
export function denseSet(b: Uint8Array, i: number, count: number): boolean {
  if (count <= getReg(b, HDR, i)) return false;
  setReg(b, HDR, i, count);
  return true;
}

// ---- Sparse opcodes ----

const isZero = (op: number): boolean => (op & 0xc0) === 0;
const isXzero = (op: number): boolean => (op & 0xc0) === 0x40;
const zeroLen = (op: number): number => (op & 0x3f) + 1;
const xzeroLen = (op: number, next: number): number => (((op & 0x3f) << 8) | next) + 1;
const valValue = (op: number): number => ((op >> 2) & 0x1f) + 1;
const valLen = (op: number): number => (op & 3) + 1;
const valOp = (value: number, len: number): number => (((value - 1) << 2) | (len - 1) | 0x80) & 0xff;

/**
 * Walks the sparse opcodes of `b[HDR, len)`, calling `run(first, n,
 * value)` for each run of registers. @returns whether they cover exactly
 * the 16384 registers (none past them is visited)
 */
function walkSparse(b: Uint8Array, len: number, run: (first: number, n: number, value: number) => void): boolean {
  let idx = 0;
  let p = HDR;
  while (p < len) {
    const op = b[p];
    let n: number;
    let value = 0;
    if (isZero(op)) {
      n = zeroLen(op);
      p++;
    } else if (isXzero(op)) {
      n = xzeroLen(op, p + 1 < b.length ? b[p + 1] : 0);
      p += 2;
    } else {
      n = valLen(op);
      value = valValue(op);
      p++;
    }
    if (n + idx > REGISTERS) return false;
    run(idx, n, value);
    idx += n;
  }
  return idx === REGISTERS;
}

/** hllSparseToDense: a sparse value made dense (header kept). @returns false for a corrupt one, left as it was */
export function sparseToDense(h: Hll): boolean {
  if (h.b[4] === DENSE) return true;
  const d = Buffer.alloc(DENSE_SIZE + 1);
  h.b.copy(d, 0, 0, HDR);
  d[4] = DENSE;
  const ok = walkSparse(h.b, h.len, (first, n, value) => {
    if (value !== 0) for (let i = first; i < first + n; i++) setReg(d, HDR, i, value);
  });
  if (!ok) return false;
  h.b = d;
  h.len = DENSE_SIZE;
  return true;
}

/**
 * hllSparseSet: raises register `index` to `count` in a sparse value,
 * splitting the opcode that covers it and merging equal neighbours as
 * Redis does; promotes the value to dense when `count` is past 32 or the
 * value would grow past `maxBytes`.
 * @returns 1 changed, 0 unchanged, -1 corrupt
 */
export function sparseSet(h: Hll, index: number, count: number, maxBytes: number): number {
  const promote = (): number => {
    if (!sparseToDense(h)) return -1;
    denseSet(h.b, index, count); // a register the sparse form could not hold: it changes
    return 1;
  };
  if (count > VAL_MAX_VALUE) return promote();
  // Room for the worst split (XZERO into XZERO VAL XZERO: 3 bytes more).
  room(h, 3);
  let b = h.b;
  // Step 1: the opcode that covers `index`.
  let end = h.len;
  let p = HDR;
  let first = 0;
  let prev = -1;
  let span = 0;
  while (p < end) {
    let oplen = 1;
    const op = b[p];
    if (isZero(op)) span = zeroLen(op);
    else if (op & 0x80) span = valLen(op);
    else {
      span = xzeroLen(op, b[p + 1]);
      oplen = 2;
    }
    if (index <= first + span - 1) break;
    prev = p;
    p += oplen;
    first += span;
  }
  if (span === 0 || p >= end) return -1;
  const op = b[p];
  let next = isXzero(op) ? p + 2 : p + 1;
  if (next >= end) next = -1;
  const zero = isZero(op);
  const xzero = isXzero(op);
  const runlen = zero ? zeroLen(op) : xzero ? xzeroLen(op, b[p + 1]) : valLen(op);

  // Step 2: a VAL already as high changes nothing; a run of one is rewritten in place.
  let inPlace = false;
  if (!zero && !xzero) {
    if (valValue(op) >= count) return 0;
    if (runlen === 1) inPlace = true;
  }
  if (zero && runlen === 1) inPlace = true;
  if (inPlace) b[p] = valOp(count, 1);
  else {
    // The general case: the opcode split into up to three.
    const seq: number[] = [];
    const last = first + span - 1;
    const zeros = (n: number): void => {
      if (n > ZERO_MAX_LEN) seq.push(((n - 1) >> 8) | 0x40, (n - 1) & 0xff);
      else seq.push(n - 1);
    };
    if (zero || xzero) {
      if (index !== first) zeros(index - first);
      seq.push(valOp(count, 1));
      if (index !== last) zeros(last - index);
    } else {
      const cur = valValue(op);
      if (index !== first) seq.push(valOp(cur, index - first));
      seq.push(valOp(count, 1));
      if (index !== last) seq.push(valOp(cur, last - index));
    }
    // Step 3: the new opcodes in place of the old one, what follows moved.
    const delta = seq.length - (xzero ? 2 : 1);
    if (delta > 0 && h.len + delta > maxBytes) return promote();
    if (delta !== 0 && next >= 0) b.copyWithin(next + delta, next, end);
    incrLen(h, delta);
    for (let i = 0; i < seq.length; i++) b[p + i] = seq[i];
    end += delta;
  }
  // Step 4: adjacent VALs of one value merged, looking at up to 5 opcodes from the one before.
  b = h.b;
  p = prev >= 0 ? prev : HDR;
  let scan = 5;
  while (p < end && scan-- !== 0) {
    const o = b[p];
    if (isXzero(o)) {
      p += 2;
      continue;
    }
    if (isZero(o)) {
      p++;
      continue;
    }
    if (p + 1 < end && b[p + 1] & 0x80) {
      const v = valValue(o);
      const n = valLen(o) + valLen(b[p + 1]);
      if (v === valValue(b[p + 1]) && n <= VAL_MAX_LEN) {
        b[p + 1] = valOp(v, n);
        b.copyWithin(p, p + 1, end + 1);
        incrLen(h, -1);
        end--;
        continue; // and try the merged one with the next
      }
    }
    p++;
  }
  invalidateCache(h);
  return 1;
}

/** hllAdd: one element. @returns 1 changed, 0 unchanged, -1 corrupt */
export function hllAdd(h: Hll, e: Buffer, maxBytes: number): number {
  const count = patLen(e, 0, e.length);
  if (h.b[4] === DENSE) return denseSet(h.b, patIndex, count) ? 1 : 0;
  if (h.b[4] === SPARSE) return sparseSet(h, patIndex, count, maxBytes);
  return -1;
}

// ---- The estimate (Ertl, "New cardinality estimation algorithms for HyperLogLog sketches") ----

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let zp: number;
  do {
    x *= x;
    zp = z;
    z += x * y;
    y += y;
  } while (zp !== z);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let zp: number;
  do {
    x = Math.sqrt(x);
    zp = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (zp !== z);
  return z / 3;
}

/** hllCount's estimate from a histogram of register values (64 entries). */
export function estimate(histo: Int32Array): number {
  const m = REGISTERS;
  let z = m * tau((m - histo[Q + 1]) / m);
  for (let j = Q; j >= 1; j--) {
    z += histo[j];
    z *= 0.5;
  }
  z += m * sigma(histo[0] / m);
  return Math.round((ALPHA_INF * m * m) / z); // llroundl of a positive number
}

/** The estimate of an HLL value, or null when its sparse opcodes are corrupt. */
export function count(h: Hll): number | null {
  const histo = new Int32Array(64);
  if (h.b[4] === DENSE) {
    for (let i = 0; i < REGISTERS; i++) histo[getReg(h.b, HDR, i)]++;
  } else {
    const ok = walkSparse(h.b, h.len, (_first, n, value) => {
      histo[value] += n;
    });
    if (!ok) return null;
  }
  return estimate(histo);
}

/** hllMerge: raises each of `max`'s registers to the value's. @returns false for corrupt sparse opcodes */
export function merge(max: Uint8Array, v: Buffer): boolean {
  if (v[4] === DENSE) {
    for (let i = 0; i < REGISTERS; i++) {
      const r = getReg(v, HDR, i);
      if (r > max[i]) max[i] = r;
    }
    return true;
  }
  return walkSparse(v, v.length, (first, n, value) => {
    for (let i = first; i < first + n; i++) if (value > max[i]) max[i] = value;
  });
}


/** The cached cardinality (bytes 8 to 15, little-endian), as PFCOUNT answers it while bit 63 is clear. */
export function cachedCard(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = 15; i >= 8; i--) n = (n << 8n) | BigInt(b[i]);
  return n;
}

/** The estimate of the registers in `max` (one byte each: PFCOUNT's union of several keys). */
export function countRaw(max: Uint8Array): number {
  const histo = new Int32Array(64);
  for (let i = 0; i < REGISTERS; i++) histo[max[i]]++;
  return estimate(histo);
}

/** PFDEBUG DECODE's text of a sparse value: every opcode, past a corrupt end too, as Redis prints them. */
export function decodeSparse(h: Hll): string {
  const parts: string[] = [];
  for (let p = HDR; p < h.len;) {
    const op = h.b[p];
    if (isZero(op)) {
      parts.push(`z:${zeroLen(op)}`);
      p++;
    } else if (isXzero(op)) {
      parts.push(`Z:${xzeroLen(op, h.b[p + 1])}`);
      p += 2;
    } else {
      parts.push(`v:${valValue(op)},${valLen(op)}`);
      p++;
    }
  }
  return parts.join(' ');
}

/** A random 32-bit number. */
const rand32 = (): number => Math.floor(Math.random() * 2 ** 32);

/**
 * PFSELFTEST, as Redis's: the dense registers read back what was set (1000
 * rounds of random values), then 10 million elements added to a dense and a
 * sparse HLL at once, which must agree and stay within six standard errors
 * at each power of ten. @returns null, or what failed (Redis's TESTFAILED text)
 */
export function selfTest(maxBytes: number): string | null {
  const dense = Buffer.alloc(DENSE_SIZE + 1);
  const bytes = new Uint8Array(REGISTERS);
  for (let j = 0; j < 1000; j++) {
    for (let i = 0; i < REGISTERS; i++) {
      const r = rand32() & 63;
      bytes[i] = r;
      setReg(dense, HDR, i, r);
    }
    for (let i = 0; i < REGISTERS; i++) {
      const v = getReg(dense, HDR, i);
      if (v !== bytes[i]) return `TESTFAILED Register ${i} should be ${bytes[i]} but is ${v}`;
    }
  }
  dense.fill(0, HDR);
  dense[4] = DENSE;
  const denseHll: Hll = { b: dense, len: DENSE_SIZE };
  const sparse = createHll();
  const relerr = 1.04 / Math.sqrt(REGISTERS);
  const seedLo = rand32();
  const ele = Buffer.alloc(8);
  ele.writeUInt32LE(rand32(), 4);
  let checkpoint = 1;
  for (let j = 1; j <= 10_000_000; j++) {
    ele.writeUInt32LE((j ^ seedLo) >>> 0, 0);
    const n = patLen(ele, 0, 8); // sets patIndex
    denseSet(dense, patIndex, n);
    hllAdd(sparse, ele, maxBytes);
    if (j !== checkpoint) continue;
    if (j < maxBytes / 2 && sparse.b[4] !== SPARSE) return 'TESTFAILED sparse encoding not used';
    const card = count(denseHll) as number;
    if (card !== count(sparse)) return 'TESTFAILED dense/sparse disagree';
    const maxerr = j === 10 ? 1 : Math.ceil(relerr * 6 * checkpoint);
    const abserr = Math.abs(checkpoint - card);
    if (abserr > maxerr) return `TESTFAILED Too big error. card:${checkpoint} abserr:${abserr}`;
    checkpoint *= 10;
  }
  return null;
}
