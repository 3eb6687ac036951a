// What a record is and how two compare: newline-delimited text in byte
// order (LC_ALL=C), with `-k`-style key fields, a `-t` separator and `-n`
// numbers, as GNU sort reads them; or fixed-size binary records with a key
// range (gensort's: 100-byte records, 10-byte keys).

/** A key field, as `-k F1[.C1][,F2[.C2]]` gives it (fields and characters from 1). */
export interface SortKey {
  /** The field the key starts in, from 1. */
  field: number;
  /** The character of that field the key starts at, from 1. Default 1. */
  char?: number;
  /** The field the key ends in, from 1. Default: the key runs to the end of the line. */
  endField?: number;
  /** The last character of `endField` in the key, from 1; 0 (the default) for the whole field. */
  endChar?: number;
}

/** How records are read and ordered; made by `recordFormat` from checked options. */
export interface RecordFormat {
  /** 0 for text lines, else the size in bytes of each binary record. */
  readonly recordSize: number;
  readonly keyOffset: number;
  readonly keyLength: number;
  readonly keys: readonly Required<SortKey>[];
  /** The field separator's byte, or -1: fields start where blanks follow a non-blank. */
  readonly separator: number;
  readonly numeric: boolean;
  readonly reverse: boolean;
  /** Records with equal keys keep their input order (no whole-record comparison). */
  readonly stable: boolean;
  /** Of records with equal keys only the first (in input order) is output. */
  readonly unique: boolean;
}

const SPACE = 32;
const TAB = 9;
/** Prefixes are 32-bit: 2^32 values. */
export const PREFIX_RANGE = 2 ** 32;
/**
 * What `prefix` takes off a prefix's unsigned value, so that it returns an
 * int32 in the same order: a number past 2^31 - 1 is a heap number, one
 * allocated for every merge source's record whose key starts with a byte
 * of 0x80 or more (UTF-8), 45 MiB of garbage in a 1 GiB text merge.
 */
export const PREFIX_BIAS = 2 ** 31;

const isBlank = (c: number): boolean => c === SPACE || c === TAB;

/**
 * Compares records under one format. `prefix` is an order-preserving 32-bit
 * summary of a record's first key (reverse applied): when two prefixes
 * differ they decide, and only equal prefixes need `compare`.
 */
export class RecordOrder {
  readonly format: RecordFormat;
  /** Whether equal keys fall back to comparing whole records (GNU sort's last resort). */
  readonly #lastResort: boolean;
  #ks = 0;
  #ke = 0;

  constructor(format: RecordFormat) {
    this.format = format;
    this.#lastResort = !format.stable && !format.unique;
  }

  /**
   * The key's prefix: its bytes [4·depth, 4·depth + 4) big-endian (zeros
   * past its end), or for `numeric` a summary of its value (numberPrefix)
   * at depths 0 and 1, and 0 past them. Records whose prefixes at depths 0..d-1 are equal
   * are ordered by their prefixes at depth d, when those differ. Less
   * PREFIX_BIAS: an int32 (run formation's record table, a Uint32Array,
   * adds it back).
   */
  prefix(buf: Uint8Array, start: number, end: number, depth = 0): number {
    const f = this.format;
    let p: number;
    if (f.recordSize > 0) {
      const s = start + f.keyOffset + 4 * depth;
      p = bytesPrefix(buf, s, start + f.keyOffset + f.keyLength);
    } else {
      const k = f.keys.length > 0 ? this.#key(buf, start, end, f.keys[0]) : null;
      const s = k === null ? start : this.#ks;
      const e = k === null ? end : this.#ke;
      p = f.numeric ? numberPrefix(buf, s, e, depth) : bytesPrefix(buf, s + 4 * depth, e);
    }
    return (f.reverse ? PREFIX_RANGE - 1 - p : p) - PREFIX_BIAS;
  }

  /**
   * How many bytes of the first key its prefixes tell apart: records whose
   * prefixes are equal to this length are told apart only by `compare`.
   */
  prefixLength(buf: Uint8Array, start: number, end: number): number {
    const f = this.format;
    if (f.recordSize > 0) return f.keyLength;
    // A number's prefixes are its two words at depths 0 and 1.
    if (f.numeric) return 8;
    if (f.keys.length === 0) return end - start;
    this.#key(buf, start, end, f.keys[0]);
    return this.#ke - this.#ks;
  }

  /** Compares two records (reverse applied): keys, then, unless stable or unique, whole records. */
  compare(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
    const f = this.format;
    let d = this.#compareKeys(a, as, ae, b, bs, be);
    if (d === 0 && this.#lastResort) d = compareBytes(a, as, ae, b, bs, be);
    return f.reverse ? -d : d;
  }

  /** Compares keys only (reverse not applied). */
  #compareKeys(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
    const f = this.format;
    if (f.recordSize > 0) {
      return compareBytes(a, as + f.keyOffset, as + f.keyOffset + f.keyLength, b, bs + f.keyOffset, bs + f.keyOffset + f.keyLength);
    }
    if (f.keys.length === 0) {
      return f.numeric ? compareNumbers(a, as, ae, b, bs, be) : compareBytes(a, as, ae, b, bs, be);
    }
    for (const key of f.keys) {
      this.#key(a, as, ae, key);
      const aks = this.#ks;
      const ake = this.#ke;
      this.#key(b, bs, be, key);
      const d = f.numeric ? compareNumbers(a, aks, ake, b, this.#ks, this.#ke) : compareBytes(a, aks, ake, b, this.#ks, this.#ke);
      if (d !== 0) return d;
    }
    return 0;
  }

  /** Sets #ks, #ke to the key's range in the line [s, e), as GNU sort's begfield and limfield find it. */
  #key(buf: Uint8Array, s: number, e: number, key: Required<SortKey>): true {
    const sep = this.format.separator;
    let p = s;
    for (let n = key.field - 1; p < e && n > 0; n--) {
      if (sep >= 0) {
        while (p < e && buf[p] !== sep) p++;
        if (p < e) p++;
      } else {
        while (p < e && isBlank(buf[p])) p++;
        while (p < e && !isBlank(buf[p])) p++;
      }
    }
    const ks = Math.min(e, p + key.char - 1);
    let q = e;
    if (key.endField > 0) {
      q = s;
      let n = key.endChar === 0 ? key.endField : key.endField - 1;
      while (q < e && n-- > 0) {
        if (sep >= 0) {
          while (q < e && buf[q] !== sep) q++;
          if (q < e && (n > 0 || key.endChar !== 0)) q++;
        } else {
          while (q < e && isBlank(buf[q])) q++;
          while (q < e && !isBlank(buf[q])) q++;
        }
      }
      if (key.endChar !== 0) q = Math.min(e, q + key.endChar);
    }
    this.#ks = ks;
    this.#ke = Math.max(ks, q);
    return true;
  }
}

/** Byte order, then length: memcmp as LC_ALL=C sort uses it. */
export function compareBytes(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  const la = ae - as;
  const lb = be - bs;
  const n = Math.min(la, lb);
  // A native compare costs about as much as a JavaScript loop over 100
  // bytes (its arguments are checked in JavaScript first); keys differ
  // early, so only long ranges go to it.
  if (n > 128) {
    // Ranges of both, compared natively without a view of either.
    return bufferCompare.call(a, b, bs, be, as, ae);
  }
  for (let i = 0; i < n; i++) {
    const d = a[as + i] - b[bs + i];
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return la < lb ? -1 : la > lb ? 1 : 0;
}

const bufferCompare = Buffer.prototype.compare as (this: Uint8Array, target: Uint8Array, ts: number, te: number, ss: number, se: number) => number;

function bytesPrefix(buf: Uint8Array, s: number, e: number): number {
  const n = e - s;
  return (n > 0 ? buf[s] * 0x1000000 : 0) + (n > 1 ? buf[s + 1] * 0x10000 : 0) + (n > 2 ? buf[s + 2] * 0x100 : 0) + (n > 3 ? buf[s + 3] : 0);
}

const MINUS = 45;
const POINT = 46;
const ZERO = 48;
/**
 * The byte GNU sort 9.1 reads as a thousands separator in the C locale on
 * x86-64: the locale names none, and sort.c then takes CHAR_MAX + 1 (a
 * value it means to be no byte at all), which an unsigned byte of 0x80
 * equals where char is signed.
 */
const GROUP = 0x80;

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** The byte at `p`, or -1 at or past the range's end (where GNU sort's key ends in a NUL). */
const at = (buf: Uint8Array, p: number, e: number): number => (p < e ? buf[p] : -1);

/**
 * Compares the numbers at the start of [as, ae) and [bs, be) exactly as
 * `sort -n` does in the C locale (coreutils' numcompare and fraccompare,
 * digit by digit, with no limit on length): leading blanks, an optional
 * '-', digits (GROUP between them is skipped), an optional '.' and
 * digits. A key with no number is 0, and so is -0.
 */
export function compareNumbers(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  let i = as;
  let j = bs;
  while (i < ae && isBlank(a[i])) i++;
  while (j < be && isBlank(b[j])) j++;
  let x = at(a, i, ae);
  let y = at(b, j, be);
  if (x === MINUS) {
    do x = at(a, ++i, ae); while (x === ZERO || x === GROUP);
    if (y !== MINUS) {
      // A negative against a non-negative: less, unless both are 0.
      if (x === POINT) do x = at(a, ++i, ae); while (x === ZERO);
      if (isDigit(x)) return -1;
      while (y === ZERO || y === GROUP) y = at(b, ++j, be);
      if (y === POINT) do y = at(b, ++j, be); while (y === ZERO);
      return isDigit(y) ? -1 : 0;
    }
    do y = at(b, ++j, be); while (y === ZERO || y === GROUP);
    // Both negative: the larger magnitude is the smaller number.
    return -compareMagnitudes(a, i, ae, x, b, j, be, y);
  }
  if (y === MINUS) {
    do y = at(b, ++j, be); while (y === ZERO || y === GROUP);
    if (y === POINT) do y = at(b, ++j, be); while (y === ZERO);
    if (isDigit(y)) return 1;
    while (x === ZERO || x === GROUP) x = at(a, ++i, ae);
    if (x === POINT) do x = at(a, ++i, ae); while (x === ZERO);
    return isDigit(x) ? 1 : 0;
  }
  while (x === ZERO || x === GROUP) x = at(a, ++i, ae);
  while (y === ZERO || y === GROUP) y = at(b, ++j, be);
  return compareMagnitudes(a, i, ae, x, b, j, be, y);
}

/**
 * Compares two unsigned numbers whose leading zeros are skipped: `x` is
 * a[i] (or -1), `y` is b[j]. The longer integer part is the larger; of
 * two as long, the first digit that differs decides; then the fractions.
 */
function compareMagnitudes(a: Uint8Array, i: number, ae: number, x: number, b: Uint8Array, j: number, be: number, y: number): number {
  while (x === y && isDigit(x)) {
    do x = at(a, ++i, ae); while (x === GROUP);
    do y = at(b, ++j, be); while (y === GROUP);
  }
  if ((x === POINT && !isDigit(y)) || (y === POINT && !isDigit(x))) return compareFractions(a, i, ae, b, j, be);
  const first = x - y;
  let la = 0;
  while (isDigit(x)) {
    la++;
    do x = at(a, ++i, ae); while (x === GROUP);
  }
  let lb = 0;
  while (isDigit(y)) {
    lb++;
    do y = at(b, ++j, be); while (y === GROUP);
  }
  if (la !== lb) return la < lb ? -1 : 1;
  if (la === 0) return 0;
  return first < 0 ? -1 : 1;
}

/** Compares the fractions at a[i] and b[j] when the integer parts are equal and at least one has a '.'. */
function compareFractions(a: Uint8Array, i: number, ae: number, b: Uint8Array, j: number, be: number): number {
  let x = at(a, i, ae);
  let y = at(b, j, be);
  if (x === POINT && y === POINT) {
    for (;;) {
      x = at(a, ++i, ae);
      y = at(b, ++j, be);
      if (x !== y) break;
      if (!isDigit(x)) return 0;
    }
    if (isDigit(x) && isDigit(y)) return x < y ? -1 : 1;
    if (isDigit(x)) return nonZeroFrom(a, i, ae) ? 1 : 0;
    if (isDigit(y)) return nonZeroFrom(b, j, be) ? -1 : 0;
    return 0;
  }
  if (x === POINT) return nonZeroFrom(a, i + 1, ae) ? 1 : 0;
  if (y === POINT) return nonZeroFrom(b, j + 1, be) ? -1 : 0;
  return 0;
}

/** Whether the digits from `p` hold one that is not 0. */
function nonZeroFrom(buf: Uint8Array, p: number, e: number): boolean {
  while (p < e && buf[p] === ZERO) p++;
  return isDigit(at(buf, p, e));
}

/** A positive number's least and greatest decimal exponents in a prefix (biased by EXP_BIAS). */
const EXP_BIAS = 2 ** 15;
const EXP_MAX = 2 ** 16 - 1;
/** The prefix of every number equal to 0; negatives fall below it, positives above. */
const NUMBER_ZERO = 0x80000000;
const POSITIVE = 0xc0000000;
const NEGATIVE = 0x3fffffff;
/** Significant digits in a number's first prefix word, and in both words. */
const HIGH_DIGITS = 4;
const DIGITS = 13;

/**
 * A number's prefix words (depth 0 and 1; 0 past them), in the order
 * compareNumbers gives. A non-zero number is ±0.d1d2d3… × 10^exp with d1
 * not 0: its first word holds its sign, exp (14 bits up) and d1..d4, its
 * second d5..d13. Every step keeps the order or ties (digits past the
 * 13th are dropped; an exp beyond 16 bits is clamped with its digits at
 * their extreme): two numbers whose words differ compare the same way,
 * and equal words leave them to compareNumbers.
 */
function numberPrefix(buf: Uint8Array, s: number, e: number, depth: number): number {
  if (depth > 1) return 0;
  let p = s;
  while (p < e && isBlank(buf[p])) p++;
  const negative = p < e && buf[p] === MINUS;
  if (negative) p++;
  while (p < e && (buf[p] === ZERO || buf[p] === GROUP)) p++;
  let exp = 0;
  let digits = 0;
  let high = 0;
  let low = 0;
  while (p < e && isDigit(buf[p])) {
    if (digits < HIGH_DIGITS) high = high * 10 + buf[p] - ZERO;
    else if (digits < DIGITS) low = low * 10 + buf[p] - ZERO;
    digits++;
    exp++;
    p++;
    while (p < e && buf[p] === GROUP) p++;
  }
  if (p < e && buf[p] === POINT) {
    p++;
    if (digits === 0) {
      while (p < e && buf[p] === ZERO) {
        exp--;
        p++;
      }
    }
    for (; p < e && isDigit(buf[p]) && digits < DIGITS; p++, digits++) {
      if (digits < HIGH_DIGITS) high = high * 10 + buf[p] - ZERO;
      else low = low * 10 + buf[p] - ZERO;
    }
  }
  if (digits === 0) return depth === 0 ? NUMBER_ZERO : 0;
  for (; digits < DIGITS; digits++) {
    if (digits < HIGH_DIGITS) high *= 10;
    else low *= 10;
  }
  let biased = exp + EXP_BIAS;
  if (biased > EXP_MAX) {
    biased = EXP_MAX;
    high = 9999;
    low = 999999999;
  } else if (biased < 0) {
    biased = 0;
    high = 0;
    low = 0;
  }
  if (depth === 1) return negative ? 999999999 - low : low;
  const magnitude = biased * 0x4000 + high;
  return negative ? NEGATIVE - magnitude : POSITIVE + magnitude;
}

/** Bytes searched at a time in a buffer over 2 GiB (see indexOfByte). */
const SEARCH_SPAN = 2 ** 30;

/**
 * The first `byte` of `buf` at or after `from`, or -1. Buffer.indexOf
 * clamps its start to 2^31 - 1 and returns its result as an int32, so a
 * buffer over 2 GiB (a long run) is searched through views of at most 1
 * GiB from `from` on.
 */
export function indexOfByte(buf: Uint8Array, byte: number, from: number): number {
  if (buf.length <= 0x7fffffff) return (buf as Buffer).indexOf(byte, from);
  for (let lo = from; lo < buf.length; lo += SEARCH_SPAN) {
    const i = (buf as Buffer).subarray(lo, Math.min(buf.length, lo + SEARCH_SPAN)).indexOf(byte);
    if (i >= 0) return lo + i;
  }
  return -1;
}

/** The last `byte` of `buf` at or before `from`, or -1, in views as indexOfByte searches. */
export function lastIndexOfByte(buf: Uint8Array, byte: number, from: number): number {
  if (buf.length <= 0x7fffffff) return (buf as Buffer).lastIndexOf(byte, from);
  for (let hi = Math.min(from + 1, buf.length); hi > 0; hi -= SEARCH_SPAN) {
    const lo = Math.max(0, hi - SEARCH_SPAN);
    const i = (buf as Buffer).subarray(lo, hi).lastIndexOf(byte);
    if (i >= 0) return lo + i;
  }
  return -1;
}

/** A DataView over exactly the bytes of `b`. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Copies src[s, e) to dst[at, ...) and returns e - s. `sv` and `dv` are
 * views of `src` and `dst` (viewOf). Short ranges go 8 bytes at a time
 * through the views: a Buffer copy per record costs about 100 ns of
 * argument checks, several times the copy of a 40-byte line.
 */
export function copyBytes(src: Uint8Array, sv: DataView, s: number, e: number, dst: Uint8Array, dv: DataView, at: number): number {
  const n = e - s;
  if (n > 256) return bufferCopy.call(src, dst, at, s, e);
  let i = s;
  let o = at;
  // Little-endian on both sides: the bytes move as they are, unswapped.
  for (; i + 8 <= e; i += 8, o += 8) {
    dv.setUint32(o, sv.getUint32(i, true), true);
    dv.setUint32(o + 4, sv.getUint32(i + 4, true), true);
  }
  for (; i < e; i++) dst[o++] = src[i];
  return n;
}

const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, at: number, s: number, e: number) => number;
