// Argument parsing shared by the command groups, with Redis's own error texts.
import { NOT_INTEGER, ReplyError, SYNTAX } from '../client';
import { KEY_PREFIX } from '../records';

/** The store's key limit (4096 bytes) less the keyspace's prefix. */
export const MAX_KEY = 4096 - KEY_PREFIX;
export const I64_MIN = -(2n ** 63n);
export const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;

/** The largest double below 2^63. */
const LAST_MS = 2 ** 63 - 1024;

/**
 * An expiry time (ms since the epoch, checked to fit 64 bits) as the
 * keyspace keeps it: a double. Past 2^53 ms (the year 287,396) it is
 * rounded, and it is at most LAST_MS, so that PEXPIRETIME's reply stays a
 * 64-bit integer (2^63 - 1 as a double rounds up to 2^63).
 */
export function timeMs(ms: bigint): number {
  const n = Number(ms);
  return n > LAST_MS ? LAST_MS : n;
}

const INT = /^-?(0|[1-9]\d*)$/;

/** A key argument as its latin1 string. @throws ReplyError for a key over the limit */
export function keyArg(b: Buffer): string {
  if (b.length > MAX_KEY) throw new ReplyError(`ERR key is ${b.length} bytes; the limit is ${MAX_KEY}`);
  return b.toString('latin1');
}

export const keyBuf = (k: string): Buffer => Buffer.from(k, 'latin1');

/** A signed 64-bit integer, as Redis's string2ll reads it, or null. */
export function toI64(b: Buffer | string): bigint | null {
  const s = typeof b === 'string' ? b : b.toString('latin1');
  if (s.length === 0 || s.length > 20 || !INT.test(s) || s === '-0') return null;
  const n = BigInt(s);
  return n < I64_MIN || n > I64_MAX ? null : n;
}

const MEMORY_UNITS = new Map([['', 1n], ['b', 1n], ['k', 1000n], ['kb', 1024n], ['m', 1000n ** 2n], ['mb', 1024n ** 2n], ['g', 1000n ** 3n], ['gb', 1024n ** 3n]]);

/**
 * A memory value as Redis's memtoull reads it (CONFIG SET's sizes), or
 * null: fewer than 128 digits, none at all being 0, then a unit of any
 * case (b, k, kb, m, mb, g, gb). As in C, a number past 2^64-1 is taken as
 * 2^64-1 and the product wraps at 2^64.
 */
export function memoryValue(s: string): bigint | null {
  const m = /^(\d{0,127})([a-z]*)$/i.exec(s);
  const mul = m === null ? undefined : MEMORY_UNITS.get(m[2].toLowerCase());
  if (m === null || mul === undefined) return null;
  const n = m[1] === '' ? 0n : BigInt(m[1]);
  return ((n > U64_MAX ? U64_MAX : n) * mul) % (U64_MAX + 1n);
}

/** A 64-bit integer argument. @throws ReplyError `msg` */
export function i64Arg(b: Buffer, msg = NOT_INTEGER): bigint {
  const n = toI64(b);
  if (n === null) throw new ReplyError(msg);
  return n;
}

/**
 * getIntFromObjectOrReply: a 32-bit integer. @throws ReplyError `msg`, or
 * Redis's own texts (not an integer; out of the 32-bit range) without one
 */
export function i32Arg(b: Buffer, msg?: string): number {
  const n = toI64(b);
  if (n === null) throw new ReplyError(msg ?? NOT_INTEGER);
  if (n < -2147483648n || n > 2147483647n) throw new ReplyError(msg ?? 'ERR value is out of range, value must between -2147483648 and 2147483647');
  return Number(n);
}

/**
 * A SCAN cursor as Redis reads it (strtoul: an unsigned 64-bit number; a
 * leading '+', or '-' which negates it modulo 2^64; the empty string is 0;
 * no leading blank, no trailing byte, nothing past 2^64 - 1), up to its
 * first NUL (cString). @throws ReplyError "invalid cursor"
 */
export function cursorArg(b: Buffer): bigint {
  const s = cString(b);
  const m = /^([+-]?)(\d*)$/.exec(s);
  // A sign with no digits leaves strtoul's end at the sign: refused.
  if (m === null || (m[1] !== '' && m[2] === '')) throw new ReplyError('ERR invalid cursor');
  // Leading zeros go before the digits are counted: a long string of them
  // is a small cursor, and a long number is refused without being parsed.
  const digits = m[2].replace(/^0+/, '');
  if (digits.length > 20) throw new ReplyError('ERR invalid cursor');
  const n = digits === '' ? 0n : BigInt(digits);
  if (n > 2n ** 64n - 1n) throw new ReplyError('ERR invalid cursor');
  return m[1] === '-' ? (2n ** 64n - n) % 2n ** 64n : n;
}

/** An integer argument as a number (exact below 2^53; callers check ranges). */
export function intArg(b: Buffer, msg = NOT_INTEGER): number {
  return Number(i64Arg(b, msg));
}

const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INF = /^[+-]?inf(inity)?$/i;
/**
 * Redis's string2ld refuses a number of this many bytes or more
 * (MAX_LONG_DOUBLE_CHARS): INCRBYFLOAT's and HINCRBYFLOAT's increment, and
 * the value they add to. It also bounds the exact decimal's work here: a
 * number of megabytes of digits would hold the server for seconds.
 */
const MAX_LONG_DOUBLE_CHARS = 5 * 1024;

/**
 * A float as Redis's strtold reads it (no spaces, no NaN, shorter than 5
 * KiB, decimal or hexadecimal), or null. A number past long double's range,
 * or one not zero that long double takes as zero, is null too (strtold's
 * ERANGE, which Redis refuses); one inside it but past a double's is
 * ±Infinity here, and below a double's 0.
 */
export function toFloat(b: Buffer | string): number | null {
  if (b.length >= MAX_LONG_DOUBLE_CHARS) return null;
  const s = typeof b === 'string' ? b : b.toString('latin1');
  if (INF.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  const hex = HEX_WHOLE.test(s);
  if (!hex && !FLOAT.test(s)) return null;
  if (toDecimal(s) === null) return null;
  return hex ? strtod(s).value : Number(s);
}

/** A whole hexadecimal float, as strtold reads one ("0x10", "0x1.8p3"). */
const HEX_WHOLE = /^[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?$/;
const HEX_PARTS = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?$/;
const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

// long double (x87, 64-bit mantissa): its largest finite value is below
// 2^16384 (about 1.19e4932), its smallest subnormal 2^-16445 (about
// 3.65e-4951). A number past the first is an overflow to strtold, one below
// half the second an underflow to zero. The bounds here are by exponent
// alone, and keep the numbers that round either way (a leading digit at
// 2^-16446 or 1e-4952 may round up to the smallest subnormal):
// readLongDouble (long-double.ts) decides those by rounding them.
const LD_MAX_EXP2 = 16384;
const LD_MIN_EXP2 = -16446;
const LD_MAX_EXP10 = 4932;
const LD_MIN_EXP10 = -4952;

/** An exponent's text as a number, or ±Infinity past any that matters (it may have thousands of digits). */
function exponentOf(t: string | undefined): number {
  if (t === undefined) return 0;
  const digits = t.replace(/^[+-]?0*/, '');
  const v = digits.length > 9 ? Infinity : Number(digits || '0');
  return t.startsWith('-') ? -v : v;
}

/** An exact decimal: mant / 10^scale. */
export interface Decimal {
  mant: bigint;
  scale: number;
}

/**
 * A finite number's exact value, decimal or hexadecimal, or null: not a
 * number, an infinity, 5 KiB or longer, or outside long double's range
 * (see toFloat).
 */
export function toDecimal(b: Buffer | string): Decimal | null {
  if (b.length >= MAX_LONG_DOUBLE_CHARS) return null;
  const s = typeof b === 'string' ? b : b.toString('latin1');
  let m = HEX_PARTS.exec(s);
  if (m !== null && HEX_WHOLE.test(s)) {
    // mant * 2^exp, exactly a decimal.
    const frac = m[3] ?? '';
    const digits = ((m[2] ?? '') + frac).replace(/^0+/, '');
    if (digits === '') return { mant: 0n, scale: 0 };
    const exp = exponentOf(m[4]) - 4 * frac.length;
    // The leading bit's power of two.
    const top = 4 * (digits.length - 1) + (32 - Math.clz32(parseInt(digits[0], 16))) - 1 + exp;
    if (top >= LD_MAX_EXP2 || top < LD_MIN_EXP2) return null;
    let mant = BigInt(`0x${digits}`);
    let scale = 0;
    if (exp >= 0) mant <<= BigInt(exp);
    else {
      mant *= 5n ** BigInt(-exp); // mant / 2^k = mant * 5^k / 10^k
      scale = -exp;
    }
    return { mant: m[1] === '-' ? -mant : mant, scale };
  }
  m = DECIMAL.exec(s);
  if (m === null || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const frac = m[3] ?? '';
  const all = (m[2] || '') + frac;
  const lead = all.search(/[1-9]/);
  if (lead < 0) return { mant: 0n, scale: 0 };
  const exp = exponentOf(m[4]);
  // The first significant digit's power of ten.
  const top = (m[2] || '').length - 1 - lead + exp;
  if (top > LD_MAX_EXP10 || top < LD_MIN_EXP10) return null;
  let mant = BigInt(all);
  let scale = frac.length - exp;
  if (scale < 0) {
    mant *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { mant: m[1] === '-' ? -mant : mant, scale };
}

/**
 * An option word, lower-cased, up to its first NUL (cString): Redis
 * compares options with strcasecmp, or byte by byte up to a NUL, so
 * `NX\0x` is NX there.
 */
export const word = (b: Buffer | undefined): string => (b === undefined ? '' : cString(b).toLowerCase());

/**
 * A command's, subcommand's or INFO section's name, lower-cased whole:
 * Redis looks these up in tables by all their bytes.
 */
export const nameWord = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('latin1').toLowerCase());

export function syntax(): never {
  throw new ReplyError(SYNTAX);
}

const SPACE = /^[ \t\n\v\f\r]*/;
const INF_TEXT = /^[+-]?(infinity|inf)/i;
const NAN_TEXT = /^[+-]?nan(\([0-9A-Za-z_]*\))?/i;
const HEX = /^([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?/;
const DEC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/;

/** What C's strtod reads from the start of `t`: its value, where it stopped (0: nothing read), and its range errors. */
export interface Strtod {
  value: number;
  end: number;
  /** The number's magnitude is past a double's: the value is ±inf (ERANGE). */
  overflow: boolean;
  /** A number not zero came out as zero (ERANGE with a zero result). */
  underflow: boolean;
}

/**
 * C's strtod in the C locale, as glibc reads a string: leading white
 * space, a sign, then a decimal number, a hexadecimal one ("0x1.8p3"),
 * "inf", "infinity" or "nan[(chars)]" in any case; the longest prefix that
 * is one of them.
 */
export function strtod(t: string): Strtod {
  const lead = SPACE.exec(t)?.[0].length ?? 0;
  const r = t.slice(lead);
  let m = INF_TEXT.exec(r);
  if (m !== null) return { value: r.startsWith('-') ? -Infinity : Infinity, end: lead + m[0].length, overflow: false, underflow: false };
  m = NAN_TEXT.exec(r);
  if (m !== null) return { value: NaN, end: lead + m[0].length, overflow: false, underflow: false };
  m = HEX.exec(r);
  if (m !== null) {
    const digits = (m[2] ?? '') + (m[3] ?? m[4] ?? '');
    const fraction = (m[3] ?? m[4] ?? '').length;
    const mant = BigInt(`0x${digits}`);
    const exp = Number(m[5] ?? '0') - 4 * fraction;
    // The mantissa rounds once (to 53 bits); scaling by powers of two is
    // exact until the value overflows or becomes subnormal.
    let value = Number(mant);
    for (let e = exp; e !== 0 && value !== 0 && Number.isFinite(value);) {
      const k = Math.max(-1000, Math.min(1000, e));
      value *= 2 ** k;
      e -= k;
    }
    if (m[1] === '-') value = -value;
    return { value, end: lead + m[0].length, overflow: mant !== 0n && !Number.isFinite(value), underflow: mant !== 0n && value === 0 };
  }
  m = DEC.exec(r);
  if (m !== null) {
    const value = Number(m[0]);
    const nonZero = /[1-9]/.test(m[0].replace(/[eE].*$/, ''));
    return { value, end: lead + m[0].length, overflow: !Number.isFinite(value), underflow: nonZero && value === 0 };
  }
  // A "0x" with no hexadecimal digit after it is the number 0, read up to its "0".
  return { value: 0, end: 0, overflow: false, underflow: false };
}

/**
 * getDoubleFromObject: the whole argument is one number, with no leading
 * space, not NaN, not out of a double's range. Hexadecimal and "inf" are
 * numbers. Null when it is not.
 */
export function strictDouble(t: string): number | null {
  if (t.length === 0 || /^[ \t\n\v\f\r]/.test(t)) return null;
  const d = strtod(t);
  if (d.end !== t.length || Number.isNaN(d.value) || d.overflow || d.underflow) return null;
  return d.value;
}

/**
 * An argument as a C string sees it (latin1): its bytes up to the first
 * NUL. Redis's parsers that read a NUL-terminated string (strtod in
 * zslParseRange, strtoul in parseScanCursorOrReply) stop there and check
 * only that they reached it, so `1\0x` reads as `1` and `\0` as the empty
 * string.
 */
export function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('latin1', 0, nul < 0 ? b.length : nul);
}

/**
 * zslParseRange's number: strtod, read to the end, not NaN. Leading space
 * is skipped, the empty string is 0, and a number past a double's range is
 * ±inf, as in Redis.
 */
export function rangeDouble(t: string): number | null {
  const d = strtod(t);
  if (d.end !== t.length || Number.isNaN(d.value)) return null;
  return d.value;
}
