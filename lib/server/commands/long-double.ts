// INCRBYFLOAT's arithmetic as Redis 7.0 does it on x86-64: both numbers read
// as long doubles (strtold: the x87 80-bit format, a 64-bit significand),
// added in long double, and the sum printed with "%.17Lf", its trailing
// zeros (and a bare ".") removed, "-0" written "0" (ld2string, LD_STR_HUMAN).
// Each step rounds to nearest, ties to even, as the FPU and glibc do, so the
// text is Redis's own, binary rounding included: 1000.1 is
// "1000.09999999999999998", and past 2^63 a fraction is rounded away.
// Exact integers (BigInt) stand in for the FPU.
import { type Decimal, toDecimal, toFloat } from './args';

/** A long double as (-1)^neg · q · 2^e, with q < 2^64; zero is q = 0. */
interface LongDouble {
  neg: boolean;
  q: bigint;
  e: number;
}

const SIGNIFICAND_BITS = 64;
/** No finite long double reaches 2^16384: a sum that does is an infinity. */
const MAX_TOP_BIT = 16384;
/** The exponent of a long double's smallest subnormal step, 2^-16445: no sum rounds finer. */
const MIN_E = -16445;
const TEN_17 = 10n ** 17n;

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** n · 2^-shift rounded to an integer, ties to even (shift > 0). */
function shiftRound(n: bigint, shift: number): bigint {
  const s = BigInt(shift);
  const q = n >> s;
  const rem = n - (q << s);
  const half = 1n << (s - 1n);
  return rem > half || (rem === half && (q & 1n) === 1n) ? q + 1n : q;
}

/** The long double nearest to ±n · 2^e (n ≥ 0 exact), ties to even. */
function round(neg: boolean, n: bigint, e: number): LongDouble {
  if (n === 0n) return { neg, q: 0n, e: 0 };
  // Bits to drop: to fit 64, and no finer than the smallest subnormal step.
  const drop = Math.max(bitLength(n) - SIGNIFICAND_BITS, MIN_E - e);
  if (drop <= 0) return { neg, q: n, e };
  let q = shiftRound(n, drop);
  let qe = e + drop;
  // Rounding up may carry into a 65th bit: 2^64 is 2^63 · 2 exactly.
  if (bitLength(q) > SIGNIFICAND_BITS) {
    q >>= 1n;
    qe += 1;
  }
  return { neg, q, e: qe };
}

/** strtold of the number `d` is: the long double nearest to mant / 10^scale. */
function fromDecimal(d: Decimal): LongDouble {
  const neg = d.mant < 0n;
  const m = neg ? -d.mant : d.mant;
  if (m === 0n) return { neg, q: 0n, e: 0 };
  if (d.scale <= 0) return round(neg, m * 10n ** BigInt(-d.scale), 0);
  // m / 10^scale = (m · 2^k / 10^scale) · 2^-k, with k large enough that the
  // quotient has 66 bits or more: the bits past 64, and whether any of the
  // remainder is left, decide the rounding as the exact value would.
  const den = 10n ** BigInt(d.scale);
  const k = Math.max(0, SIGNIFICAND_BITS + 2 - (bitLength(m) - bitLength(den)));
  const num = m << BigInt(k);
  let q = num / den;
  // A remainder other than zero lies strictly between q and q + 1: one
  // sticky bit below the quotient's keeps a tie from looking exact.
  q = (q << 1n) | (num % den === 0n ? 0n : 1n);
  return round(neg, q, -k - 1);
}

/** a + b in long double, rounded once. */
function add(a: LongDouble, b: LongDouble): LongDouble {
  const e = Math.min(a.e, b.e);
  const x = (a.neg ? -a.q : a.q) << BigInt(a.e - e);
  const y = (b.neg ? -b.q : b.q) << BigInt(b.e - e);
  const sum = x + y;
  // An exact zero sum is +0 when rounding to nearest, -0 only from -0 + -0.
  if (sum === 0n) return { neg: a.neg && b.neg, q: 0n, e: 0 };
  return round(sum < 0n, sum < 0n ? -sum : sum, e);
}

/** "%.17Lf" of `v`, its trailing zeros and a bare "." removed, and "-0" as "0". */
function print(v: LongDouble): string {
  // The value in units of 10^-17, rounded to nearest, ties to even.
  let units: bigint;
  if (v.e >= 0) units = (v.q << BigInt(v.e)) * TEN_17;
  else units = shiftRound(v.q * TEN_17, -v.e);
  const whole = units / TEN_17;
  const frac = (units % TEN_17).toString().padStart(17, '0').replace(/0+$/, '');
  const text = frac === '' ? whole.toString() : `${whole}.${frac}`;
  return v.neg && units !== 0n ? `-${text}` : text;
}

/**
 * The text INCRBYFLOAT and HINCRBYFLOAT store for a + b, both exact decimals
 * of what the arguments say (readLongDouble), as Redis 7.0 computes it on
 * x86-64; null when the sum is past long double's range (an infinity to
 * Redis, which refuses it). Between a double's range and long double's the
 * sum is a number: "%.17Lf" prints all of its digits, thousands of them.
 */
export function addAsLongDouble(a: Decimal, b: Decimal): string | null {
  const sum = add(fromDecimal(a), fromDecimal(b));
  if (sum.q !== 0n && bitLength(sum.q) + sum.e > MAX_TOP_BIT) return null;
  return print(sum);
}

/** The value INCRBYFLOAT and HINCRBYFLOAT add to when there is none. */
export const ZERO: Decimal = { mant: 0n, scale: 0 };

/**
 * A number as strtold reads it for INCRBYFLOAT and HINCRBYFLOAT (Redis's
 * string2ld): its exact decimal, 'inf' for an infinity (a float to Redis,
 * whose sums are infinite), or null for none (not a float, NaN, or past long
 * double's range).
 */
export function readLongDouble(b: Buffer | string): Decimal | 'inf' | null {
  const d = toDecimal(b);
  if (d === null) return toFloat(b) !== null ? 'inf' : null;
  // strtold's ERANGE, which string2ld refuses: a number that rounds past
  // the largest long double (1.189731495357231765e4932), or to zero (below
  // half the smallest subnormal). toDecimal's bounds, by exponent alone,
  // let the numbers at either edge through.
  const v = fromDecimal(d);
  if (v.q === 0n ? d.mant !== 0n : bitLength(v.q) + v.e > MAX_TOP_BIT) return null;
  return d;
}
