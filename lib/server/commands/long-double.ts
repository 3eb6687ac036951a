// INCRBYFLOAT's arithmetic as Redis 7.0 does it on x86-64: both numbers read
// as long doubles (strtold: the x87 80-bit format, a 64-bit significand),
// added in long double, and the sum printed with "%.17Lf", its trailing
// zeros (and a bare ".") removed, "-0" written "0" (ld2string, LD_STR_HUMAN).
// Each step rounds to nearest, ties to even, as the FPU and glibc do, so the
// text is Redis's own, binary rounding included: 1000.1 is
// "1000.09999999999999998", and past 2^63 a fraction is rounded away.
// Exact integers (BigInt) stand in for the FPU.
import type { Decimal } from './args';

/** A long double as (-1)^neg · q · 2^e, with q < 2^64; zero is q = 0. */
interface LongDouble {
  neg: boolean;
  q: bigint;
  e: number;
}

const SIGNIFICAND_BITS = 64;
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
 * of what the arguments say (toDecimal), as Redis 7.0 computes it on x86-64.
 */
export function addAsLongDouble(a: Decimal, b: Decimal): string {
  return print(add(fromDecimal(a), fromDecimal(b)));
}
