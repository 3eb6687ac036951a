// INCRBYFLOAT's sum as Redis 7.0.15 gives it on x86-64 (long double, then
// "%.17Lf"): each expected text below is redis-server 7.0.15's reply to
// SET x A, INCRBYFLOAT x B. scripts/redis-diff.js compares more against a
// live redis-server.
import { toDecimal } from '../lib/server/commands/args';
import { addAsLongDouble, readLongDouble } from '../lib/server/commands/long-double';

const sum = (a: string, b: string): string | null => addAsLongDouble(toDecimal(a)!, toDecimal(b)!);

test.each([
  // Long double's binary rounding shows in the 17 decimals printed.
  ['1000.1', '0', '1000.09999999999999998'],
  ['123456.789', '0', '123456.78900000000000148'],
  ['99999999999.123', '0', '99999999999.12300000339746475'],
  // Where it does not, the decimal the user wrote.
  ['1.1', '2.2', '3.3'],
  ['0.1', '0.2', '0.3'],
  ['12345678901234567.5', '0', '12345678901234567.5'],
  // A 64-bit significand: at 2^63 a half rounds away (to even), below it one stays.
  ['-9223372036854775808', '-0.5', '-9223372036854775808'],
  ['9223372036854775807', '0.5', '9223372036854775807.5'],
  // Whole digits past 2^64 are the long double's own.
  ['1e20', '0', '100000000000000000000'],
  ['1e308', '0', '99999999999999999996685879655845645660560099847415567207797047994921734868838061872100126921888539320446747225054013223152134749593960583597420814430196418767959100019603190778663109604507106667939153395788938914560543563061268364901618630217086589253444881623791300855757318142424510452728255046343928578048'],
  // The 17th decimal rounds to nearest; no "-0".
  ['0.000000000000000015', '0', '0.00000000000000002'],
  ['2.5e-17', '0', '0.00000000000000002'],
  ['1e-20', '0', '0'],
  ['-0.1', '0.1', '0'],
  ['-0', '-0', '0'],
  ['123456.789', '-123456.789', '0'],
  // Hexadecimal, as strtold reads it.
  ['0x1.8p3', '1e-17', '12.00000000000000001'],
])('%s + %s is %s', (a, b, text) => {
  expect(sum(a, b)).toBe(text);
});

// Past a double's range and inside long double's (below 2^16384, about
// 1.19e4932) a sum is a number, printed whole; past long double's it is an
// infinity (null: Redis refuses it). Lengths, heads and tails from
// redis-server 7.0.15's replies.
test.each([
  ['1e309', '0', 309, '999999999999999999986349424581256454766307763249906048699722', '46207643423114002432'],
  ['0x1p2000', '0', 603, '114813069527425452423283320117768198402231770208869520047764', '53762184851149029376'],
  ['1e4932', '0', 4933, '100000000000000000000601894938796389132383777425453311477378', '38418113791886622720'],
  ['1e309', '-1e309', 1, '0', '0'],
  ['1e309', '1e-400', 309, '999999999999999999986349424581256454766307763249906048699722', '46207643423114002432'],
])('%s + %s is %i digits, past a double\'s range', (a, b, length, head, tail) => {
  const text = sum(a, b)!;
  expect(text.length).toBe(length);
  expect(text.startsWith(head)).toBe(true);
  expect(text.endsWith(tail)).toBe(true);
});

test.each([
  ['1e4932', '1e4932'],
  ['-1.1e4932', '-1.1e4932'],
  ['1.18e4932', '1e4931'],
])('%s + %s is past long double\'s range: no number', (a, b) => {
  expect(sum(a, b)).toBeNull();
});

// strtold's range, to the last digit, as redis-server 7.0.15 reads it: a
// number that rounds past the largest long double, or to zero, is no float;
// one that rounds up to the smallest subnormal is.
test.each([
  ['1.189731495357231765e4932', true],
  ['1.189731495357231766e4932', false],
  ['-1.189731495357231766e4932', false],
  ['1.19e4932', false],
  ['0x1.fffffffffffffffep16383', true],
  ['0x1.ffffffffffffffffp16383', false],
  ['0x1p-16445', true],
  ['0x1.8p-16446', true],
  ['0x1p-16446', false],
  ['1.9e-4951', true],
  ['1.8e-4951', false],
  ['1e-4952', false],
  ['0e-99999', true],
  ['inf', true],
  ['nan', false],
])('%s is a long double: %s', (text, valid) => {
  expect(readLongDouble(text) !== null).toBe(valid);
});
