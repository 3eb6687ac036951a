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
  readonly #f32 = new Float32Array(1);
  readonly #u32 = new Uint32Array(this.#f32.buffer);

  constructor(format: RecordFormat) {
    this.format = format;
    this.#lastResort = !format.stable && !format.unique;
  }

  /**
   * The key's prefix: its bytes [4·depth, 4·depth + 4) big-endian (zeros
   * past its end), or for `numeric` its value as an ordered float32 (and 0
   * at any depth past 0). Records whose prefixes at depths 0..d-1 are equal
   * are ordered by their prefixes at depth d, when those differ.
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
      if (f.numeric) p = depth === 0 ? this.#numberPrefix(parseNumber(buf, s, e)) : 0;
      else p = bytesPrefix(buf, s + 4 * depth, e);
    }
    return f.reverse ? PREFIX_RANGE - 1 - p : p;
  }

  /**
   * How many bytes of the first key its prefixes tell apart: records whose
   * prefixes are equal to this length are told apart only by `compare`.
   */
  prefixLength(buf: Uint8Array, start: number, end: number): number {
    const f = this.format;
    if (f.recordSize > 0) return f.keyLength;
    // A number's prefix is its float32, at depth 0 only.
    if (f.numeric) return 4;
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
      return f.numeric ? numberOrder(parseNumber(a, as, ae), parseNumber(b, bs, be)) : compareBytes(a, as, ae, b, bs, be);
    }
    for (const key of f.keys) {
      this.#key(a, as, ae, key);
      const aks = this.#ks;
      const ake = this.#ke;
      this.#key(b, bs, be, key);
      const d = f.numeric ? numberOrder(parseNumber(a, aks, ake), parseNumber(b, this.#ks, this.#ke))
        : compareBytes(a, aks, ake, b, this.#ks, this.#ke);
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

  /** A number's place in the order of float32s, as an unsigned 32-bit value. */
  #numberPrefix(v: number): number {
    // Rounding to float32 keeps the order (never reverses it); equal
    // float32s are told apart by `compare`.
    this.#f32[0] = v;
    const bits = this.#u32[0];
    return bits >= 0x80000000 ? 0xffffffff - bits : bits + 0x80000000;
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

function numberOrder(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The number at the start of [s, e) as `sort -n` reads it in the C locale:
 * leading blanks, an optional '-', digits, an optional '.' and digits; no
 * number is 0. Compared as a double: beyond 15 significant digits numbers
 * that differ may compare equal (and then fall to the last resort).
 */
export function parseNumber(buf: Uint8Array, s: number, e: number): number {
  let p = s;
  while (p < e && isBlank(buf[p])) p++;
  let neg = false;
  if (p < e && buf[p] === 45) {
    neg = true;
    p++;
  }
  let v = 0;
  while (p < e && buf[p] >= 48 && buf[p] <= 57) v = v * 10 + (buf[p++] - 48);
  if (p < e && buf[p] === 46) {
    p++;
    let scale = 0.1;
    let frac = 0;
    let digits = 0;
    while (p < e && buf[p] >= 48 && buf[p] <= 57) {
      if (digits++ < 17) {
        frac += (buf[p] - 48) * scale;
        scale /= 10;
      }
      p++;
    }
    v += frac;
  }
  // -0 is 0: the two must tie.
  return neg && v !== 0 ? -v : v;
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
