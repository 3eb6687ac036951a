// pmem serve's sorted sets: the skiplist against a sorted-array model
// (ranks, score and lex ranges, counts), the commands through a real
// client (ioredis) with Redis's score texts and error messages, WRONGTYPE,
// the blocking pops across connections (served in the order clients
// blocked, observed through the server's count of blocked clients), and a
// restart that recovers every member and score.
import * as fs from 'node:fs';

import Redis from 'ioredis';

import { createServer, type RespServer } from '../lib';
import { formatScore } from '../lib/server/commands/zset-store';
import { seededRandom } from '../lib/testing/random';
import { ZSetValue } from '../lib/server/zset';
import { listenOutsideEphemeral, relisten } from './fixtures/serve/relisten';
import { tmpFile } from './helpers';

let file: string;
let server: RespServer;
let port: number;
const conns: Redis[] = [];

function conn(): Redis {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 50, retryStrategy: () => 20 });
  conns.push(r);
  return r;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 2));
}

const blocked = (n: number): Promise<void> => until(() => server.blocking.blockedClients === n);

const err = (p: Promise<unknown>): Promise<string> => p.then(() => 'no error', (e: Error) => e.message);

beforeAll(async () => {
  file = tmpFile('zsets.kv');
  server = createServer({ file });
  port = await listenOutsideEphemeral(server);
});

afterAll(async () => {
  for (const r of conns) r.disconnect();
  await server.close();
  fs.rmSync(file, { force: true });
});

describe('the DRAM sorted set', () => {
  test('ranks, ranges and counts agree with a sorted array through random adds, moves and deletes', () => {
    const rnd = seededRandom(7);
    const z = new ZSetValue();
    const model = new Map<string, number>();
    const sorted = (): [string, number][] => [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (let step = 0; step < 3000; step++) {
      const m = `m${Math.floor(rnd() * 200)}`;
      const op = rnd();
      if (op < 0.6) {
        const sc = Math.floor(rnd() * 50) / 2;
        expect(z.set(m, sc)).toBe(!model.has(m));
        model.set(m, sc);
      } else expect(z.delete(m)).toBe(model.delete(m));
      if (step % 100 !== 0) continue;
      const want = sorted();
      expect(z.entries()).toEqual(want);
      want.forEach(([mm], i) => expect(z.rank(mm)).toBe(i));
      const lo = Math.floor(rnd() * 25);
      const hi = lo + Math.floor(rnd() * 10);
      const inRange = want.filter(([, sc]) => sc > lo && sc <= hi);
      const r = { min: lo, max: hi, minEx: true, maxEx: false };
      expect(z.rangeByScore(r, false)).toEqual(inRange);
      expect(z.rangeByScore(r, true)).toEqual([...inRange].reverse());
      expect(z.rangeByScore(r, false, 1, 2)).toEqual(inRange.slice(1, 3));
      expect(z.countByScore(r)).toBe(inRange.length);
      if (want.length > 3) expect(z.range(1, 3, true)).toEqual([...want].reverse().slice(1, 4));
    }
    // Lex ranges over equal scores.
    const lex = new ZSetValue();
    for (const m of ['a', 'b', 'c', 'd', 'e']) lex.set(m, 0);
    expect(lex.rangeByLex({ min: 'b', max: 'd', minEx: true, maxEx: false }, false).map(([m]) => m)).toEqual(['c', 'd']);
    expect(lex.rangeByLex({ min: null, max: 'c', minEx: false, maxEx: true }, true).map(([m]) => m)).toEqual(['b', 'a']);
    expect(lex.countByLex({ min: null, max: null, minEx: false, maxEx: false })).toBe(5);
  });

  test('a set grown large, re-scored and shrunk agrees with a sorted array, and its node pool shrinks with it', () => {
    const rnd = seededRandom(11);
    const z = new ZSetValue();
    const model = new Map<string, number>();
    const check = (): void => {
      const want = [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      expect(z.size).toBe(want.length);
      expect(z.entries()).toEqual(want);
      want.forEach(([m], i) => expect(z.rank(m)).toBe(i));
      const r = { min: 100, max: 300, minEx: false, maxEx: true };
      const inRange = want.filter(([, sc]) => sc >= 100 && sc < 300);
      expect(z.rangeByScore(r, true)).toEqual([...inRange].reverse());
      expect(z.countByScore(r)).toBe(inRange.length);
      expect(z.range(want.length - 5, want.length - 1, true)).toEqual(want.slice(0, 5).reverse());
    };
    const put = (m: string, sc: number): void => {
      expect(z.set(m, sc)).toBe(!model.has(m));
      model.set(m, sc);
    };
    for (let i = 0; i < 40000; i++) put(`m${i}`, Math.floor(rnd() * 1000));
    for (let i = 0; i < 20000; i++) put(`m${Math.floor(rnd() * 40000)}`, Math.floor(rnd() * 1000) + 0.5);
    check();
    const grown = z.poolWords;
    for (let i = 0; i < 39000; i++) {
      expect(z.delete(`m${i}`)).toBe(true);
      model.delete(`m${i}`);
    }
    check();
    // 1,000 nodes of about 3.3 words: the pool was rebuilt smaller.
    expect(z.poolWords).toBeLessThan(grown / 4);
    for (let i = 0; i < 5000; i++) put(`n${i}`, Math.floor(rnd() * 1000));
    check();
  });

  test('a pool that cannot grow: the set that needed it throws and changes nothing; a shrink that cannot be had keeps the larger pool', () => {
    const Real = globalThis.ArrayBuffer;
    const refuse = (): void => {
      globalThis.ArrayBuffer = function refused(): never {
        throw new RangeError('Array buffer allocation failed');
      } as unknown as ArrayBufferConstructor;
    };
    const z = new ZSetValue();
    for (let i = 0; i < 100; i++) z.set(`m${i}`, i);
    let added = '';
    let moved = '';
    let beforeAdd: [string, number][] = [];
    let beforeMove: [string, number][] = [];
    refuse();
    try {
      // New members until one finds the pool full ...
      for (let j = 0; j < 10000 && added === ''; j++) {
        beforeAdd = z.entries();
        try {
          z.set(`n${j}`, -j);
        } catch (e) {
          added = `n${j}`;
          expect(e).toEqual(new RangeError('Array buffer allocation failed'));
        }
      }
      // ... then members moved to new scores, each of which needs a node too.
      for (let j = 0; j < 10000 && moved === ''; j++) {
        beforeMove = z.entries();
        const m = beforeMove[j % beforeMove.length][0];
        try {
          z.set(m, 1e6 + j);
        } catch (e) {
          moved = m;
          expect(e).toBeInstanceOf(RangeError);
        }
      }
    } finally {
      globalThis.ArrayBuffer = Real;
    }
    expect(added).not.toBe('');
    expect(z.members.get(added)).toBeUndefined();
    expect(beforeAdd.some(([m]) => m === added)).toBe(false);
    expect(moved).not.toBe('');
    // The refused move left the member where it was, in the list and the map.
    expect(z.entries()).toEqual(beforeMove);
    expect(z.rank(moved)).toBe(beforeMove.findIndex(([m]) => m === moved));
    expect(z.set(added, 0.5)).toBe(true);
    expect(z.rank(added)).toBe(beforeMove.filter(([, sc]) => sc < 0.5).length);

    // 5,000 members, then deletes down to 500: no new pool while refused.
    const big = new ZSetValue();
    for (let i = 0; i < 5000; i++) big.set(`m${i}`, i);
    const grown = big.poolWords;
    refuse();
    try {
      for (let i = 0; i < 4500; i++) expect(big.delete(`m${i}`)).toBe(true);
    } finally {
      globalThis.ArrayBuffer = Real;
    }
    expect(big.poolWords).toBe(grown);
    expect(big.entries()).toEqual(Array.from({ length: 500 }, (_, i) => [`m${4500 + i}`, 4500 + i]));
    expect(big.delete('m4500')).toBe(true);
    expect(big.poolWords).toBeLessThan(grown / 4);
    expect(big.range(0, 1, false)).toEqual([['m4501', 4501], ['m4502', 4502]]);
  });

  test('scores print as C\'s "%.17g"', () => {
    expect([1, 1.5, 0.1, -2.5, 1e20, 1e-5, 123456789012345680000, Infinity, -Infinity, 0.0001].map(formatScore))
      .toEqual(['1', '1.5', '0.10000000000000001', '-2.5', '1e+20', '1.0000000000000001e-05', '1.2345678901234568e+20', 'inf', '-inf', '0.0001']);
  });

  test('a score with a short binary fraction (the fast path) prints as "%.17g", and so do decimal fractions next to it', () => {
    // In [1e-4, 1e17), "%.17g" is the 17 significant digits without trailing zeros: toPrecision(17), trimmed.
    const reference = (d: number): string => {
      const t = d.toPrecision(17);
      return t.includes('.') ? t.replace(/0+$/, '').replace(/\.$/, '') : t;
    };
    const rand = seededRandom(1024);
    let checked = 0;
    for (let i = 0; i < 20000; i++) {
      const whole = Math.floor(rand() * 2e5) - 1e5 + (i % 3 === 0 ? Math.floor(rand() * 1e12) : 0);
      const denominator = [2, 4, 1024, 10, 100, 3, 1000][i % 7];
      const d = (whole + Math.floor(rand() * denominator) / denominator) * (rand() < 0.5 ? 1 : 1 / 8);
      if (Number.isInteger(d) || Math.abs(d) < 1e-4) continue;
      expect(formatScore(d)).toBe(reference(d));
      checked++;
    }
    expect(checked).toBeGreaterThan(15000);
  });
});

describe('sorted-set commands', () => {
  test('ZADD with NX, XX, GT, LT, CH, INCR; ZINCRBY; scores, ranks, counts', async () => {
    const r = conn();
    expect(await r.zadd('z:a', 1, 'a', 2, 'b', 3, 'c')).toBe(3);
    expect(await r.zadd('z:a', 'NX', 5, 'a', 4, 'd')).toBe(1);
    expect(await r.zadd('z:a', 'XX', 'CH', 10, 'a', 9, 'x')).toBe(1);
    expect(await r.zadd('z:a', 'GT', 'CH', 5, 'a', 5, 'b')).toBe(1);
    expect(await r.zadd('z:a', 'LT', 'CH', 1, 'c')).toBe(1);
    expect(await r.zadd('z:a', 'INCR', 0.5, 'd')).toBe('4.5');
    expect(await r.zadd('z:a', 'XX', 'INCR', 1, 'nope')).toBeNull();
    expect(await r.zincrby('z:a', 0.1, 'c')).toBe('1.1000000000000001');
    expect(await r.zadd('z:none', 'XX', 1, 'a')).toBe(0);
    expect(await r.exists('z:none')).toBe(0);
    expect(await r.zrange('z:a', 0, -1, 'WITHSCORES')).toEqual(['c', '1.1000000000000001', 'd', '4.5', 'b', '5', 'a', '10']);
    expect(await r.zcard('z:a')).toBe(4);
    expect(await r.zscore('z:a', 'b')).toBe('5');
    expect(await r.zmscore('z:a', 'a', 'nope', 'd')).toEqual(['10', null, '4.5']);
    expect(await r.zrank('z:a', 'b')).toBe(2);
    expect(await r.zrevrank('z:a', 'b')).toBe(1);
    expect(await r.zrank('z:a', 'nope')).toBeNull();
    expect(await r.zcount('z:a', '(1.1', '5')).toBe(2);
    expect(await r.zcount('z:a', '-inf', '+inf')).toBe(4);
    await r.zadd('z:inf', 'inf', 'top', '-inf', 'bottom');
    expect(await r.zrange('z:inf', 0, -1, 'WITHSCORES')).toEqual(['bottom', '-inf', 'top', 'inf']);
    expect(await err(r.zadd('z:inf', 'INCR', '-inf', 'top'))).toBe('ERR resulting score is not a number (NaN)');
  });

  test('ZRANGE by rank, score and lex, REV, LIMIT; the legacy forms; ZRANGESTORE; ZREMRANGEBY*', async () => {
    const r = conn();
    await r.zadd('z:r', 1, 'a', 2, 'b', 3, 'c', 4, 'd', 5, 'e');
    expect(await r.zrange('z:r', '(1', '4', 'BYSCORE', 'LIMIT', 1, 2)).toEqual(['c', 'd']);
    expect(await r.zrange('z:r', '4', '(1', 'BYSCORE', 'REV')).toEqual(['d', 'c', 'b']);
    expect(await r.zrange('z:r', 1, 2, 'REV')).toEqual(['d', 'c']);
    expect(await r.zrevrange('z:r', 0, 0, 'WITHSCORES')).toEqual(['e', '5']);
    expect(await r.zrangebyscore('z:r', 2, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)).toEqual(['b', '2']);
    expect(await r.zrevrangebyscore('z:r', '+inf', '(4')).toEqual(['e']);
    await r.zadd('z:lex', 0, 'alpha', 0, 'beta', 0, 'gamma', 0, 'delta');
    expect(await r.zrangebylex('z:lex', '[b', '(g')).toEqual(['beta', 'delta']);
    expect(await r.zrevrangebylex('z:lex', '+', '(delta')).toEqual(['gamma']);
    expect(await r.zrange('z:lex', '-', '+', 'BYLEX', 'LIMIT', 1, 2)).toEqual(['beta', 'delta']);
    expect(await r.zlexcount('z:lex', '-', '[c')).toBe(2);
    expect(await r.zrangestore('z:dst', 'z:r', 2, 3, 'BYSCORE')).toBe(2);
    expect(await r.zrange('z:dst', 0, -1, 'WITHSCORES')).toEqual(['b', '2', 'c', '3']);
    expect(await r.zrangestore('z:dst', 'z:none', 0, -1)).toBe(0);
    expect(await r.exists('z:dst')).toBe(0);
    expect(await r.zremrangebyscore('z:r', '(4', '+inf')).toBe(1);
    expect(await r.zremrangebyrank('z:r', 0, 0)).toBe(1);
    expect(await r.zremrangebylex('z:lex', '[delta', '+')).toBe(2);
    expect(await r.zrange('z:r', 0, -1)).toEqual(['b', 'c', 'd']);
    expect(await r.zrem('z:r', 'b', 'c', 'd', 'nope')).toBe(3);
    expect(await r.exists('z:r')).toBe(0);
    expect(await err(r.call('ZRANGE', 'z:lex', '0', '1', 'LIMIT', '0', '1'))).toBe('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX');
    expect(await err(r.call('ZRANGE', 'z:lex', '-', '+', 'BYLEX', 'WITHSCORES'))).toBe('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
    expect(await err(r.call('ZRANGEBYSCORE', 'z:lex', 'x', '1'))).toBe('ERR min or max is not a float');
    expect(await err(r.call('ZRANGEBYLEX', 'z:lex', 'a', '+'))).toBe('ERR min or max not valid string range item');
  });

  test('ZUNION, ZINTER, ZDIFF with WEIGHTS and AGGREGATE, their STORE forms, ZINTERCARD', async () => {
    const r = conn();
    await r.zadd('z:u1', 1, 'a', 2, 'b', 3, 'c');
    await r.zadd('z:u2', 10, 'b', 20, 'c', 30, 'd');
    expect(await r.call('ZUNION', '2', 'z:u1', 'z:u2', 'WITHSCORES')).toEqual(['a', '1', 'b', '12', 'c', '23', 'd', '30']);
    expect(await r.call('ZINTER', '2', 'z:u1', 'z:u2', 'WEIGHTS', '2', '1', 'AGGREGATE', 'MAX', 'WITHSCORES')).toEqual(['b', '10', 'c', '20']);
    expect(await r.call('ZDIFF', '2', 'z:u1', 'z:u2')).toEqual(['a']);
    expect(await r.zunionstore('z:us', 2, 'z:u1', 'z:u2', 'AGGREGATE', 'MIN')).toBe(4);
    expect(await r.zrange('z:us', 0, -1, 'WITHSCORES')).toEqual(['a', '1', 'b', '2', 'c', '3', 'd', '30']);
    expect(await r.zinterstore('z:is', 2, 'z:u1', 'z:u2')).toBe(2);
    expect(await r.zdiffstore('z:ds', 2, 'z:u2', 'z:u1')).toBe(1);
    expect(await r.zrange('z:ds', 0, -1)).toEqual(['d']);
    await r.sadd('z:set', 'a', 'd', 'e');
    expect(await r.call('ZUNION', '2', 'z:u1', 'z:set', 'WEIGHTS', '1', '5', 'WITHSCORES')).toEqual(['b', '2', 'c', '3', 'd', '5', 'e', '5', 'a', '6']);
    expect(await r.call('ZINTER', '2', 'z:set', 'z:u2')).toEqual(['d']);
    expect(await r.call('ZINTERCARD', '2', 'z:u1', 'z:u2')).toBe(2);
    expect(await r.call('ZINTERCARD', '2', 'z:u1', 'z:u2', 'LIMIT', '1')).toBe(1);
    expect(await err(r.call('ZUNION', '0', 'z:u1'))).toBe("ERR at least 1 input key is needed for 'zunion' command");
    expect(await err(r.call('ZINTER', '3', 'z:u1'))).toBe('ERR syntax error');
    expect(await err(r.call('ZUNION', '1', 'z:u1', 'WEIGHTS', 'x'))).toBe('ERR weight value is not a float');
    expect(await err(r.call('ZINTERCARD', '1', 'z:u1', 'LIMIT', '-1'))).toBe("ERR LIMIT can't be negative");
  });

  test('the edges where Redis\'s own steps decide: -0 in a listpack, a NaN product after the first input, the inputs smallest first, LIMIT n -1 by rank', async () => {
    const r = conn();
    // A listpack stores -0 as the integer 0; a skiplist keeps the sign.
    await r.zadd('z:edge:n', '-0', 'm');
    expect(await r.zscore('z:edge:n', 'm')).toBe('0');
    expect(await r.zincrby('z:edge:n', '-0', 'n')).toBe('-0');
    expect(await r.call('ZRANGE', 'z:edge:n', '0', '-1', 'WITHSCORES')).toEqual(['m', '0', 'n', '0']);
    await r.zadd('z:edge:big', ...Array.from({ length: 130 }, (_, i) => [String(i + 1), `m${i}`]).flat());
    await r.zadd('z:edge:big', '-0', 'neg');
    expect(await r.zscore('z:edge:big', 'neg')).toBe('-0');
    // 0 × inf is NaN: 0 for the first input, left to the aggregate after it (SUM makes it 0, MIN and MAX keep the score so far).
    await r.zadd('z:edge:inf', 'inf', 'x');
    expect(await r.call('ZINTER', '2', 'z:edge:inf', 'z:edge:inf', 'WEIGHTS', '1', '0', 'WITHSCORES')).toEqual(['x', '0']);
    expect(await r.call('ZINTER', '2', 'z:edge:inf', 'z:edge:inf', 'WEIGHTS', '1', '0', 'AGGREGATE', 'MIN', 'WITHSCORES')).toEqual(['x', 'inf']);
    expect(await r.call('ZINTER', '2', 'z:edge:inf', 'z:edge:inf', 'WEIGHTS', '0', '1', 'AGGREGATE', 'MIN', 'WITHSCORES')).toEqual(['x', '0']);
    // Sums are added smallest input first: (0.1 + 0.07) + 0.3 differs from (0.3 + 0.07) + 0.1 in the last digit.
    await r.zadd('z:edge:s3', 1, 'x', 2, 'y', 3, 'z');
    await r.zadd('z:edge:s2', 0.7, 'x', 0.7, 'y');
    await r.zadd('z:edge:s1', 0.1, 'x');
    expect(await r.call('ZINTER', '3', 'z:edge:s3', 'z:edge:s2', 'z:edge:s1', 'WEIGHTS', '0.3', '0.1', '1', 'WITHSCORES')).toEqual(['x', '0.46999999999999997']);
    // By rank, LIMIT with a count of -1 is taken (its offset unused); any other count is refused.
    expect(await r.call('ZRANGE', 'z:edge:s3', '0', '-1', 'LIMIT', '1', '-1')).toEqual(['x', 'y', 'z']);
    await expect(r.call('ZRANGE', 'z:edge:s3', '0', '-1', 'LIMIT', '0', '-2')).rejects.toThrow(/LIMIT is only supported in combination with either BYSCORE or BYLEX/);
  });

  test('ZPOPMIN, ZPOPMAX, ZMPOP, ZRANDMEMBER, ZSCAN', async () => {
    const r = conn();
    await r.zadd('z:p', 1, 'a', 2, 'b', 3, 'c', 4, 'd');
    expect(await r.zpopmin('z:p')).toEqual(['a', '1']);
    expect(await r.zpopmax('z:p', 2)).toEqual(['d', '4', 'c', '3']);
    expect(await r.call('ZMPOP', '2', 'z:none', 'z:p', 'MIN', 'COUNT', '5')).toEqual(['z:p', [['b', '2']]]);
    expect(await r.exists('z:p')).toBe(0);
    expect(await r.call('ZMPOP', '1', 'z:p', 'MAX')).toBeNull();
    expect(await r.zpopmin('z:p')).toEqual([]);
    await r.zadd('z:rand', 1, 'a', 2, 'b', 3, 'c');
    expect(['a', 'b', 'c']).toContain(await r.zrandmember('z:rand'));
    expect(((await r.zrandmember('z:rand', 5)) as string[]).sort()).toEqual(['a', 'b', 'c']);
    expect((await r.zrandmember('z:rand', -7)) as string[]).toHaveLength(7);
    const ws = (await r.zrandmember('z:rand', 1, 'WITHSCORES')) as string[];
    expect(ws).toHaveLength(2);
    const [cur, flat] = await r.zscan('z:rand', 0);
    const pairs = (f: string[]): string[] => Array.from({ length: f.length / 2 }, (_, i) => `${f[2 * i]}=${f[2 * i + 1]}`).sort();
    expect([cur, pairs(flat)]).toEqual(['0', ['a=1', 'b=2', 'c=3']]);
    expect(await r.zscan('z:rand', 0, 'MATCH', 'b*')).toEqual(['0', ['b', '2']]);
    // A zset past the listpack size is scanned COUNT slots at a time; a member
    // deleted mid-scan moves the last slot into its hole, so every member
    // present throughout is returned.
    await r.zadd('z:scan', ...Array.from({ length: 300 }, (_, i) => [i, `s${i}`]).flat());
    const seen = new Set<string>();
    let c = '0';
    let calls = 0;
    do {
      const [next, got] = await r.zscan('z:scan', c, 'COUNT', 20);
      for (let i = 0; i < got.length; i += 2) seen.add(got[i]);
      if (calls++ === 3) await r.zrem('z:scan', 's0', 's1', 's2');
      c = next;
    } while (c !== '0');
    expect(calls).toBeGreaterThan(10);
    for (let i = 3; i < 300; i++) expect(seen.has(`s${i}`)).toBe(true);
    expect(await err(r.call('ZPOPMIN', 'z:rand', '-1'))).toBe('ERR value is out of range, must be positive');
    expect(await err(r.call('ZMPOP', '1', 'z:rand', 'MIDDLE'))).toBe('ERR syntax error');
    expect(await err(r.call('ZMPOP', '0', 'z:rand', 'MIN'))).toBe('ERR numkeys should be greater than 0');
    expect(await err(r.call('ZMPOP', '1', 'z:rand', 'MIN', 'COUNT', '0'))).toBe('ERR count should be greater than 0');
    expect(await err(r.call('ZRANDMEMBER', 'z:rand', String(2 ** 62 + 2 ** 20), 'WITHSCORES'))).toBe('ERR value is out of range');
    expect(await err(r.call('ZRANDMEMBER', 'z:rand', '1', 'WITHVALUES'))).toBe('ERR syntax error');
    expect(await err(r.call('ZSCAN', 'z:rand', 'x'))).toBe('ERR invalid cursor');
    expect(await err(r.call('BZPOPMIN', 'z:rand', '-1'))).toBe('ERR timeout is negative');
    expect(await err(r.call('ZUNIONSTORE', 'z:d', '1', 'z:rand', 'AGGREGATE', 'AVG'))).toBe('ERR syntax error');
    expect(await err(r.call('ZUNIONSTORE', 'z:d', '1', 'z:rand', 'WITHSCORES'))).toBe('ERR syntax error');
    expect(await r.exists('z:d')).toBe(0);
  });

  test('WRONGTYPE, and errors before any write', async () => {
    const r = conn();
    await r.set('z:str', 'v');
    await r.rpush('z:list', 'v');
    const wrong = 'WRONGTYPE Operation against a key holding the wrong kind of value';
    for (const cmd of [['ZADD', 'z:str', '1', 'a'], ['ZRANGE', 'z:list', '0', '1'], ['ZSCORE', 'z:str', 'a'], ['ZUNION', '1', 'z:list'], ['BZPOPMIN', 'z:str', '0'],
      ['ZPOPMIN', 'z:list'], ['ZCARD', 'z:str']]) {
      expect(await err(r.call(cmd[0], ...cmd.slice(1)))).toBe(wrong);
    }
    await r.zadd('z:w', 1, 'a');
    expect(await err(r.call('ZADD', 'z:w', '2', 'b', 'x', 'c'))).toBe('ERR value is not a valid float');
    expect(await r.zcard('z:w')).toBe(1); // the bad score came before any write
    // Out of a double's range, as strtod's ERANGE: refused, not taken as inf or 0.
    for (const score of ['1e309', '-1e309', '1e-400', '0.1e-330']) {
      expect(await err(r.call('ZADD', 'z:w', score, 'd'))).toBe('ERR value is not a valid float');
      expect(await err(r.call('ZINCRBY', 'z:w', score, 'a'))).toBe('ERR value is not a valid float');
    }
    expect(await r.call('ZADD', 'z:w', 'inf', 'i', '-inf', 'j', '0e5', 'k', '1e-310', 'l')).toBe(4);
    expect(await r.zscore('z:w', 'i')).toBe('inf');
    expect(await r.zcard('z:w')).toBe(5);
    await r.zrem('z:w', 'i', 'j', 'k', 'l');
    expect(await err(r.call('ZADD', 'z:w', 'NX', 'XX', '1', 'a'))).toBe('ERR XX and NX options at the same time are not compatible');
    expect(await err(r.call('ZADD', 'z:w', 'GT', 'LT', '1', 'a'))).toBe('ERR GT, LT, and/or NX options at the same time are not compatible');
    expect(await err(r.call('ZADD', 'z:w', 'INCR', '1', 'a', '2', 'b'))).toBe('ERR INCR option supports a single increment-element pair');
    expect(await err(r.call('ZADD', 'z:w', 'NX', '1'))).toBe('ERR syntax error');
    expect(await err(r.call('ZADD', 'z:w', '5', 'ok', '6', 'm'.repeat(4088)))).toBe('ERR member is 4088 bytes; the limit is 4087');
    expect(await r.zcard('z:w')).toBe(1); // the long member came before any write
    expect(await err(r.call('ZPOPMIN', 'z:w', 'x'))).toBe('ERR value is out of range, must be positive');
  });

  test('scores, weights and score ranges are read as Redis reads them (strtod): hexadecimal, blanks and the empty bound where Redis takes them', async () => {
    const r = conn();
    await r.zadd('z:s', 0, 'c', 1, 'a', 2, 'b');
    // getDoubleFromObject: the whole argument, no leading blank, hexadecimal
    // (with a binary exponent) and "infinity" taken; out of range refused.
    expect(await r.call('ZADD', 'z:s', '0x10', 'x', '0x1.8p1', 'y', '-Infinity', 'n')).toBe(3);
    expect(await r.zscore('z:s', 'x')).toBe('16');
    expect(await r.zscore('z:s', 'y')).toBe('3');
    expect(await r.call('ZINCRBY', 'z:s', '0x.8', 'x')).toBe('16.5');
    for (const score of [' 1', '1 ', '', '0x', '1e', 'nan', '0x1p99999', '0x1p-99999', 'infinit']) {
      expect(await err(r.call('ZADD', 'z:s', score, 'd'))).toBe('ERR value is not a valid float');
    }
    await r.zrem('z:s', 'x', 'y', 'n');
    // WEIGHTS: the same reading; past a double's range is "not a float", not inf.
    expect(await r.call('ZUNION', '1', 'z:s', 'WEIGHTS', '0x2', 'WITHSCORES')).toEqual(['c', '0', 'a', '2', 'b', '4']);
    for (const w of ['1e309', '-1e309', ' 1', 'nan']) {
      expect(await err(r.call('ZUNIONSTORE', 'z:d', '1', 'z:s', 'WEIGHTS', w))).toBe('ERR weight value is not a float');
    }
    // zslParseRange: strtod to the end, leading blanks skipped, the empty
    // string (and "(" alone) is 0, 1e309 is inf; NaN and trailing bytes refused.
    expect(await r.call('ZRANGEBYSCORE', 'z:s', ' 1', '+inf')).toEqual(['a', 'b']);
    expect(await r.call('ZRANGEBYSCORE', 'z:s', '', '')).toEqual(['c']);
    expect(await r.call('ZRANGEBYSCORE', 'z:s', '(', '1e309')).toEqual(['a', 'b']);
    expect(await r.call('ZCOUNT', 'z:s', '0x1', '0x2')).toBe(2);
    for (const bound of ['1 ', 'nan', '(nan', 'x', '((1']) {
      expect(await err(r.call('ZCOUNT', 'z:s', bound, '+inf'))).toBe('ERR min or max is not a float');
    }
  });

  test('BZPOPMIN and BZMPOP serve clients in the order they blocked; a restart recovers every member and score', async () => {
    const [a, b, p] = [conn(), conn(), conn()];
    const wa = a.bzpopmin('z:b', 0);
    await blocked(1);
    const wb = b.call('BZMPOP', '0', '1', 'z:b', 'MAX', 'COUNT', '2');
    await blocked(2);
    await p.zadd('z:b', 1, 'one');
    expect(await wa).toEqual(['z:b', 'one', '1']);
    expect(server.blocking.blockedClients).toBe(1);
    await p.zadd('z:b', 2, 'two', 3, 'three', 4, 'four');
    expect(await wb).toEqual(['z:b', [['four', '4'], ['three', '3']]]);
    expect(await p.multi().bzpopmax('z:empty', 0).exec()).toEqual([[null, null]]);
    const t = a.bzpopmax('z:empty', 0.05);
    await blocked(1);
    expect(await t).toBeNull();
    const members = Array.from({ length: 300 }, (_, i) => [String((i * 37) % 101 - 50.25), `m${i}`]).flat();
    await p.zadd('z:big', ...members);
    const before = await p.zrange('z:big', 0, -1, 'WITHSCORES');
    await server.close();
    server = createServer({ file });
    await relisten(server, port);
    const r2 = conn();
    expect(await r2.zrange('z:big', 0, -1, 'WITHSCORES')).toEqual(before);
    expect(await r2.zrange('z:b', 0, -1, 'WITHSCORES')).toEqual(['two', '2']);
    expect(await r2.type('z:big')).toBe('zset');
  });
});
