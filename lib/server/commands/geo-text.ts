// How Redis prints the geo commands' numbers: coordinates as
// addReplyHumanLongDouble ("%.17Lf" without trailing zeros), distances as
// fixedpoint_d2string (four decimals), hashes as a long long, and the
// "%f" of an error text; each exactly as glibc rounds (half to even) and
// as x86-64 converts what does not fit.

const TWO63 = 2 ** 63;
/** The bits of a double, read through one view. */
const F64 = new DataView(new ArrayBuffer(8));

/**
 * A double as C's "%.{digits}f" prints it: exactly, rounded half to even
 * (as glibc rounds), a negative zero with its sign; inf as "inf".
 */
export function fixed(x: number, digits: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  const neg = x < 0 || Object.is(x, -0);
  F64.setFloat64(0, Math.abs(x));
  const hi = F64.getUint32(0);
  const exp = hi >>> 20;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(F64.getUint32(4));
  let e = -1074;
  if (exp !== 0) {
    m |= 1n << 52n;
    e = exp - 1075;
  }
  // |x| = m * 2^e; q = |x| * 10^digits, rounded.
  const p10 = 10n ** BigInt(digits);
  let q: bigint;
  if (e >= 0) q = (m << BigInt(e)) * p10;
  else {
    const num = m * p10;
    const den = 1n << BigInt(-e);
    q = num / den;
    const twice = 2n * (num - q * den);
    if (twice > den || (twice === den && (q & 1n) === 1n)) q += 1n;
  }
  const t = q.toString().padStart(digits + 1, '0');
  return `${neg ? '-' : ''}${t.slice(0, t.length - digits)}.${t.slice(t.length - digits)}`;
}

/** addReplyHumanLongDouble's text of a coordinate: "%.17Lf" without trailing zeros; "-0" is "0". */
export function human(x: number): string {
  let t = fixed(x, 17);
  let end = t.length;
  while (t.charCodeAt(end - 1) === 0x30) end--;
  if (t.charCodeAt(end - 1) === 0x2e) end--;
  t = t.slice(0, end);
  return t === '-0' ? '0' : t;
}

/**
 * addReplyDoubleDistance (fixedpoint_d2string): four decimals of
 * llrint(d * 10000), rounded half to even; a NaN or a value past a long
 * long is llrint's LLONG_MIN on x86-64.
 */
export function distanceText(d: number): string {
  if (d === 0) return '0.0000';
  const p = d * 10000;
  let n: bigint;
  if (Number.isNaN(p) || p >= TWO63 || p < -TWO63) n = -(2n ** 63n);
  else {
    let r = Math.round(p);
    if (r - p === 0.5 && r % 2 !== 0) r -= 1;
    n = BigInt(r);
  }
  const neg = n < 0n;
  const t = (neg ? -n : n).toString().padStart(5, '0');
  return `${neg ? '-' : ''}${t.slice(0, t.length - 4)}.${t.slice(t.length - 4)}`;
}

/** C's conversion of a score to long long on x86-64 (WITHHASH): a truncation; out of range (or NaN) is LLONG_MIN. */
export function scoreInt(score: number): bigint {
  const t = Math.trunc(score);
  return t >= -TWO63 && t < TWO63 ? BigInt(t) : -(2n ** 63n);
}
