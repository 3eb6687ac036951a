#!/usr/bin/env node
// Sends the same commands to redis-server (Debian's 7.0.15, which
// scripts/redis-suite.sh installs) and to `pmem serve`, and fails on any
// reply that differs. The commands put arguments at the edges of what each
// command reads (64-bit integers and past them, floats in strtod's forms,
// blanks, empty strings, signs), each after the same fresh setup on both;
// then 250 random sequences of 40 commands from a fixed seed (sequences()),
// where each command reads the state the ones before it left.
// Commands whose replies are random (HRANDFIELD, SRANDMEMBER, SPOP of more
// than a set holds), and the differences docs/server.md lists, are not sent; of SCAN, and SSCAN of a hashtable, whose cursors
// and order are each server's own, only whether an argument is taken or refused is compared.
//
// Usage: node scripts/redis-diff.js   (needs dist/: npx tsc -p tsconfig.build.json)
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { createServer } = require('../dist');
const { fuzz, hostile } = require('./redis-diff-hostile');
const { geo } = require('./redis-diff-geo');

function frame(args) {
  return Buffer.from(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join(''), 'latin1');
}

/** A connection that sends one command at a time and returns its reply as text, in a form that two servers' replies can be compared in. */
function connect(port) {
  const socket = net.connect(port, '127.0.0.1');
  let buf = '';
  const waiting = [];
  const parse = (i) => {
    const e = buf.indexOf('\r\n', i);
    if (e < 0) return null;
    const t = buf[i];
    const line = buf.slice(i + 1, e);
    if (t === '$') {
      const n = Number(line);
      if (n < 0) return ['(nil)', e + 2];
      if (buf.length < e + 4 + n) return null;
      return [JSON.stringify(buf.slice(e + 2, e + 2 + n)), e + 4 + n];
    }
    // RESP3's aggregates as arrays, marked with their type: a map's n pairs are 2n items.
    if (t === '*' || t === '%' || t === '~' || t === '>') {
      const n = Number(line) * (t === '%' ? 2 : 1);
      if (n < 0) return ['(nil array)', e + 2];
      const items = [];
      let j = e + 2;
      for (let k = 0; k < n; k++) {
        const r = parse(j);
        if (r === null) return null;
        items.push(r[0]);
        j = r[1];
      }
      return [`${t === '*' ? '' : t}[${items.join(',')}]`, j];
    }
    return [t + line, e + 2];
  };
  socket.on('data', (d) => {
    buf += d.toString('latin1');
    while (waiting.length > 0) {
      const r = parse(0);
      if (r === null) break;
      buf = buf.slice(r[1]);
      waiting.shift()(r[0]);
    }
  });
  return {
    ready: new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    call: (args) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(args)} from port ${port} in 10 s`)), 10_000);
      waiting.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
      socket.write(frame(args));
    }),
    close: () => socket.destroy(),
  };
}

/** A port nothing listens on now. */
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Random sequences of commands over four keys, each sequence after FLUSHALL,
 * from a fixed seed (the same commands every run): the state one command
 * leaves is what the next reads, across types (WRONGTYPE), transactions
 * (MULTI, EXEC, WATCH) and numbers at their edges. Only commands whose reply
 * has one order are drawn: a set's or a hash's contents are asked member by
 * member (SMISMEMBER, HMGET), and TTLs only as whether one is set (PERSIST).
 */
function sequences(count, length, seed) {
  let x = seed;
  const rnd = () => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x / 0x80000000;
  };
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const maybe = (p, a) => (rnd() < p ? a : []);
  const K = ['a', 'b', 'c', 'd'];
  const V = ['1', '2', '-3', '10', 'x', '', '1.5', 'abc', '9223372036854775807', '-9223372036854775808', '0', '0.1', '-0', '5e-324', ' 1', '1 ', '0x10', '00', '3.0', '.5', 'inf'];
  const F = ['1.5', '-0.5', '3', '0.1', '5e-324', 'inf', '1e-10', '-2', '1e17', '1000.1'];
  const M = ['m1', 'm2', 'm3', 'm4', 'm5'];
  const S = ['0', '1', '2.5', '-1', 'inf', '-inf', '3', '1e308', '-0', '+inf', 'nan', '0.1', '1e-320', '(1', '2e0'];
  const I = ['0', '1', '-1', '2', '-2', '5', '-5', '100'];
  const side = () => pick(['LEFT', 'RIGHT']);
  const gens = [
    () => ['SET', pick(K), pick(V), ...maybe(0.3, [pick(['NX', 'XX', 'GET', 'KEEPTTL'])])], () => ['GET', pick(K)], () => ['APPEND', pick(K), pick(V)],
    () => ['INCR', pick(K)], () => ['INCRBY', pick(K), pick(I)], () => ['DECRBY', pick(K), pick(['9223372036854775807', '-9223372036854775808', '1'])],
    () => ['INCRBYFLOAT', pick(K), pick(F)], () => ['GETRANGE', pick(K), pick(I), pick(I)], () => ['SETRANGE', pick(K), pick(['0', '1', '3', '-1']), pick(V)],
    () => ['STRLEN', pick(K)], () => ['GETDEL', pick(K)], () => ['GETSET', pick(K), pick(V)], () => ['MSETNX', pick(K), pick(V), pick(K), pick(V)],
    () => ['SETNX', pick(K), pick(V)], () => ['SETEX', pick(K), pick(['10', '0', '-1']), pick(V)], () => ['GETEX', pick(K), ...maybe(0.5, ['PERSIST'])],
    () => ['LCS', pick(K), pick(K)], () => ['DEL', pick(K), pick(K)], () => ['EXISTS', pick(K), pick(K)], () => ['TYPE', pick(K)],
    () => ['RENAME', pick(K), pick(K)], () => ['RENAMENX', pick(K), pick(K)], () => ['COPY', pick(K), pick(K), ...maybe(0.5, ['REPLACE'])],
    () => ['LPUSH', pick(K), pick(M), pick(M)], () => ['RPUSH', pick(K), pick(M)], () => ['LPOP', pick(K), ...maybe(0.5, [pick(['0', '1', '2', '5'])])],
    () => ['RPOP', pick(K)], () => ['LRANGE', pick(K), pick(I), pick(I)], () => ['LINSERT', pick(K), pick(['BEFORE', 'AFTER']), pick(M), pick(M)],
    () => ['LREM', pick(K), pick(I), pick(M)], () => ['LSET', pick(K), pick(I), pick(M)], () => ['LTRIM', pick(K), pick(I), pick(I)], () => ['LINDEX', pick(K), pick(I)],
    () => ['LPOS', pick(K), pick(M), ...maybe(0.5, ['RANK', pick(['1', '-1', '2', '-2'])]), ...maybe(0.5, ['COUNT', pick(['0', '1', '2'])])],
    () => ['LMOVE', pick(K), pick(K), side(), side()], () => ['LLEN', pick(K)], () => ['LMPOP', '2', pick(K), pick(K), side(), ...maybe(0.5, ['COUNT', pick(['1', '3'])])],
    () => ['HSET', pick(K), pick(M), pick(V), ...maybe(0.5, [pick(M), pick(V)])], () => ['HGET', pick(K), pick(M)], () => ['HDEL', pick(K), pick(M), pick(M)],
    () => ['HINCRBY', pick(K), pick(M), pick(I)], () => ['HINCRBYFLOAT', pick(K), pick(M), pick(F)], () => ['HSETNX', pick(K), pick(M), pick(V)],
    () => ['HLEN', pick(K)], () => ['HSTRLEN', pick(K), pick(M)], () => ['HMGET', pick(K), ...M], () => ['HEXISTS', pick(K), pick(M)],
    () => ['SADD', pick(K), pick(M), pick(M)], () => ['SREM', pick(K), pick(M)], () => ['SISMEMBER', pick(K), pick(M)], () => ['SMISMEMBER', pick(K), ...M],
    () => ['SCARD', pick(K)], () => ['SINTERSTORE', pick(K), pick(K), pick(K)], () => ['SUNIONSTORE', pick(K), pick(K), pick(K)], () => ['SDIFFSTORE', pick(K), pick(K), pick(K)],
    () => ['SMOVE', pick(K), pick(K), pick(M)], () => ['SINTERCARD', '2', pick(K), pick(K), ...maybe(0.5, ['LIMIT', pick(['0', '1'])])],
    () => ['ZADD', pick(K), ...maybe(0.3, [pick(['NX', 'XX', 'GT', 'LT', 'CH', 'INCR'])]), pick(S), pick(M)], () => ['ZINCRBY', pick(K), pick(S), pick(M)],
    () => ['ZREM', pick(K), pick(M)], () => ['ZSCORE', pick(K), pick(M)], () => ['ZRANGE', pick(K), pick(I), pick(I), ...maybe(0.5, ['WITHSCORES'])],
    () => ['ZRANGE', pick(K), pick(['-inf', '(1', '0', '2']), pick(['+inf', '(2', '3']), 'BYSCORE', ...maybe(0.5, ['REV']), ...maybe(0.5, ['LIMIT', pick(['0', '1']), pick(['1', '-1', '2'])])],
    () => ['ZRANGE', pick(K), pick(['-', '[m1', '(m2']), pick(['+', '[m3', '(m4']), 'BYLEX'], () => ['ZRANK', pick(K), pick(M)], () => ['ZREVRANK', pick(K), pick(M)],
    () => ['ZCARD', pick(K)], () => ['ZCOUNT', pick(K), pick(S), pick(S)], () => ['ZPOPMIN', pick(K), ...maybe(0.5, [pick(['1', '2', '0'])])], () => ['ZPOPMAX', pick(K)],
    () => ['ZUNIONSTORE', pick(K), '2', pick(K), pick(K), ...maybe(0.5, ['AGGREGATE', pick(['SUM', 'MIN', 'MAX'])])],
    () => ['ZINTERSTORE', pick(K), '2', pick(K), pick(K), ...maybe(0.5, ['WEIGHTS', pick(['1', '2', '-1']), pick(['0', '1', 'inf'])])],
    () => ['ZDIFF', '2', pick(K), pick(K), ...maybe(0.5, ['WITHSCORES'])], () => ['ZRANGESTORE', pick(K), pick(K), pick(I), pick(I)],
    () => ['ZREMRANGEBYSCORE', pick(K), pick(S), pick(S)], () => ['ZREMRANGEBYRANK', pick(K), pick(I), pick(I)], () => ['ZREMRANGEBYLEX', pick(K), pick(['-', '[m2']), pick(['+', '(m4'])],
    () => ['ZMSCORE', pick(K), pick(M), pick(M)], () => ['ZLEXCOUNT', pick(K), '-', '+'], () => ['ZMPOP', '2', pick(K), pick(K), pick(['MIN', 'MAX'])],
    () => ['EXPIRE', pick(K), pick(['100', '0', '-1', '200']), ...maybe(0.4, [pick(['NX', 'XX', 'GT', 'LT'])])], () => ['PERSIST', pick(K)],
    () => ['DBSIZE'], () => ['MULTI'], () => ['EXEC'], () => ['DISCARD'], () => ['WATCH', pick(K)], () => ['UNWATCH'],
  ];
  const out = [];
  for (let i = 0; i < count; i++) out.push(Array.from({ length }, () => pick(gens)()));
  return out;
}

const SETUP = [
  ['FLUSHALL'], ['RPUSH', 'l', 'a', 'b', 'c', 'a'], ['HSET', 'h', 'f1', 'v1', 'f2', '10'], ['SADD', 's', 'm1'],
  ['ZADD', 'z', '0', 'c', '0', 'd', '1', 'a', '2', 'b'], ['SET', 'str', 'hello'], ['SET', 'cnt', '10'], ['SET', 'f', '1.5'],
];

const INTS = ['9223372036854775807', '-9223372036854775808', '9223372036854775808', '-9223372036854775809', '18446744073709551616',
  '-1', '0', '1', '2', '15', '16', '2147483647', '2147483648', '-2147483649', '4294967296', '9007199254740993',
  '1e3', ' 1', '1 ', '+1', '-0', '01', '0x10', '', 'abc', '1.5', 'inf', 'nan'];
const FLOATS = ['1', '-1', '0', '-0', '1.5', '.5', '5.', '+inf', '-inf', 'inf', 'Infinity', 'infinit', 'nan', 'nan(1)', '1e308', '1e309', '-1e309',
  '1e-320', '1e-400', '0e-400', '0x10', '0x1.8p1', '0x', '0x1p99999', ' 1', '1 ', '', 'abc', '(1', '(', '((1', '[a', '+', '-', '9007199254740993'];

function commands() {
  const out = [];
  for (const n of INTS) {
    out.push(['LRANGE', 'l', n, '-1'], ['LRANGE', 'l', '0', n], ['LINDEX', 'l', n], ['LSET', 'l', n, 'x'], ['LTRIM', 'l', n, '-1']);
    out.push(['LPOP', 'l', n], ['RPOP', 'l', n], ['LPOS', 'l', 'a', 'COUNT', n], ['LPOS', 'l', 'a', 'MAXLEN', n], ['LMPOP', n, 'l', 'LEFT'], ['LMPOP', '1', 'l', 'RIGHT', 'COUNT', n]);
    out.push(['ZRANGE', 'z', n, '-1'], ['ZRANGE', 'z', '0', n], ['ZRANGEBYSCORE', 'z', '-inf', '+inf', 'LIMIT', n, n], ['ZPOPMIN', 'z', n], ['ZPOPMAX', 'z', n]);
    out.push(['GETRANGE', 'str', n, '-1'], ['GETRANGE', 'str', '0', n], ['INCRBY', 'cnt', n], ['DECRBY', 'cnt', n], ['HINCRBY', 'h', 'f2', n]);
    out.push(['EXPIRE', 'str', n], ['PEXPIRE', 'str', n], ['EXPIREAT', 'str', n], ['PEXPIREAT', 'str', n], ['SET', 'k', 'v', 'EX', n], ['SET', 'k', 'v', 'PX', n], ['SETEX', 'k', n, 'v']);
    out.push(['SELECT', n], ['MOVE', 'str', n], ['COPY', 'str', 'dst', 'DB', n], ['SWAPDB', n, '0'], ['SWAPDB', '0', n]);
    out.push(['SPOP', 'nos', n], ['SPOP', 's', n], ['HSCAN', 'h', n], ['SSCAN', 's', n], ['ZSCAN', 'z', n]);
    // Not an id of a client here (this script's own connections have small ones).
    if (!/^\d{1,6}$/.test(n)) out.push(['CLIENT', 'KILL', 'ID', n]);
    out.push(['SCAN', n, 'MATCH', 'nothing*'], ['SCAN', '0', 'COUNT', n, 'MATCH', 'nothing*']);
  }
  for (const f of FLOATS) {
    out.push(['ZADD', 'z', f, 'm'], ['ZADD', 'z', 'INCR', f, 'a'], ['ZINCRBY', 'z', f, 'b'], ['ZADD', 'z', 'GT', f, 'a'], ['ZADD', 'z', 'LT', 'CH', f, 'a']);
    out.push(['ZRANGEBYSCORE', 'z', f, '+inf'], ['ZRANGEBYSCORE', 'z', '-inf', f], ['ZREVRANGEBYSCORE', 'z', f, '-inf', 'WITHSCORES'], ['ZCOUNT', 'z', f, f]);
    out.push(['ZRANGE', 'z', f, f, 'BYSCORE'], ['ZREMRANGEBYSCORE', 'z', f, f], ['ZRANGEBYLEX', 'z', f, '+'], ['ZLEXCOUNT', 'z', '-', f]);
    out.push(['ZUNIONSTORE', 'd', '1', 'z', 'WEIGHTS', f], ['ZUNION', '2', 'z', 'z', 'WEIGHTS', '1', f, 'WITHSCORES'], ['ZINTER', '1', 'z', 'AGGREGATE', f]);
    out.push(['SET', 'n', f], ['INCR', 'n']);
    // A timeout of 2^63 ms or more is refused here as out of range; Redis
    // 7.0.15 overflows converting it and calls it negative (docs/server.md).
    if (!(Math.abs(Number(f)) >= 2 ** 63 / 1000 || /inf|p99999/i.test(f))) out.push(['BLPOP', 'l', f]);
  }
  // Timeouts past 2^53 ms that a long long of ms holds: taken by both.
  for (const t of ['1e15', '9007199254740.993', '9.2e15', '0x1p52']) out.push(['BLPOP', 'l', t], ['BZPOPMIN', 'z', t]);
  // -0 scores: a listpack stores 0; a sum's order is the inputs' by size; a NaN weight product after the first input goes to the aggregate.
  out.push([['ZADD', 'zn', '-0', 'm'], ['ZSCORE', 'zn', 'm'], ['ZINCRBY', 'zn', '-0', 'n'], ['ZINCRBY', 'zn', '-0', 'n'], ['ZADD', 'zn', 'INCR', '-0', 'q'],
    ['ZRANGE', 'zn', '0', '-1', 'WITHSCORES'], ['ZPOPMIN', 'zn'], ['ZUNIONSTORE', 'zd', '1', 'z', 'WEIGHTS', '-0'], ['ZRANGE', 'zd', '0', '-1', 'WITHSCORES'],
    ['ZUNION', '1', 'z', 'WEIGHTS', '-0', 'WITHSCORES']]);
  for (const agg of ['SUM', 'MIN', 'MAX']) {
    out.push([['ZADD', 'zf', 'inf', 'c', '-inf', 'd'], ['ZINTER', '2', 'zf', 'zf', 'WEIGHTS', '1', '0', 'AGGREGATE', agg, 'WITHSCORES'],
      ['ZINTER', '2', 'zf', 'zf', 'WEIGHTS', '0', '1', 'AGGREGATE', agg, 'WITHSCORES'], ['ZINTERSTORE', 'zd', '2', 'zf', 'zf', 'WEIGHTS', '1', '0', 'AGGREGATE', agg],
      ['ZRANGE', 'zd', '0', '-1', 'WITHSCORES'], ['ZADD', 'zg', '0.1', 'a', '0.7', 'b'], ['ZADD', 'zh', '0.2', 'a'],
      ['ZUNION', '3', 'z', 'zg', 'zh', 'WEIGHTS', '0.3', '0.1', '0.7', 'AGGREGATE', agg, 'WITHSCORES'],
      ['ZINTER', '3', 'z', 'zg', 'zh', 'WEIGHTS', '0.3', '0.1', '0.7', 'AGGREGATE', agg, 'WITHSCORES'], ['ZADD', 'zg', '-0', 'c'],
      ['ZUNION', '2', 'z', 'zg', 'WEIGHTS', '-1', '1', 'AGGREGATE', agg, 'WITHSCORES']]);
  }
  // LIMIT by rank: taken when its count is -1 (the offset unused), refused otherwise.
  out.push(['ZRANGE', 'z', '0', '-1', 'LIMIT', '1', '-1'], ['ZRANGE', 'z', '0', '-1', 'LIMIT', '0', '-2'], ['ZRANGESTORE', 'zd', 'z', '0', '-1', 'LIMIT', '5', '-1']);
  // INCRBYFLOAT and HINCRBYFLOAT add in long double and print "%.17Lf": the
  // binary rounding shows (1000.1 + 0 is 1000.09999999999999998), past 2^63
  // fractions round away.
  const LD = ['0', '1000.1', '123456.789', '99999999999.123', '1e20', '1.5e19', '12345678901234567.5', '0.1', '-0.1', '3.3e25', '1e-20',
    '1e308', '-1e308', '-9223372036854775808', '9223372036854775807', '-0.5', '0x1.8p3', '1.1', '5e-324', '2.5e-17', '0.000000000000000015', '7e-18'];
  for (const a of LD) {
    const pairs = [];
    for (const b of LD) {
      pairs.push(['SET', 'fa', a], ['INCRBYFLOAT', 'fa', b], ['HSET', 'ha', 'f', a], ['HINCRBYFLOAT', 'ha', 'f', b]);
    }
    out.push(pairs);
  }
  // Past a double's range and inside long double's: numbers, printed whole (thousands of digits); a sum past long double's is refused.
  const LDX = ['1e309', '-1e309', '0x1p2000', '1e4932', '-1.1e4932', '1.18e4932', '1e4931', '1e-400', '1'];
  for (const a of LDX) {
    const pairs = [];
    for (const b of LDX) pairs.push(['SET', 'fa', a], ['INCRBYFLOAT', 'fa', b], ['HSET', 'ha', 'f', a], ['HINCRBYFLOAT', 'ha', 'f', b]);
    out.push(pairs);
  }
  // Long double's edges: the largest number and one past it, the smallest subnormal and one that rounds to zero.
  for (const v of ['1.2e4932', '1.19e4932', '1.189731495357231765e4932', '1.189731495357231766e4932', '0x1.fffffffffffffffep16383',
    '0x1.ffffffffffffffffp16383', '-1.189731495357231766e4932', '1e-4951', '1.8e-4951', '1.9e-4951', '3.7e-4951', '-2e-4951', '0x1p-16445', '0x1p-16446', '0x1.8p-16446']) {
    out.push([['INCRBYFLOAT', 'fb', v], ['HINCRBYFLOAT', 'hb', 'f', v], ['SET', 'fc', v], ['INCRBYFLOAT', 'fc', '0'], ['HSET', 'hc', 'f', v], ['HINCRBYFLOAT', 'hc', 'f', '0']]);
  }
  // INCRBYFLOAT checks the key's type, its value, then the increment; an infinite value is a float whose sum is infinite.
  out.push([['SET', 'fv', 'abc'], ['INCRBYFLOAT', 'fv', 'inf'], ['INCRBYFLOAT', 'fv', 'x'], ['SET', 'fi', 'inf'], ['INCRBYFLOAT', 'fi', '1'], ['INCRBYFLOAT', 'fi', 'x'],
    ['SET', 'fn', '-inf'], ['INCRBYFLOAT', 'fn', 'inf'], ['INCRBYFLOAT', 'l', 'x'], ['INCRBYFLOAT', 'l', 'inf'], ['SET', 'fnan', 'nan'], ['INCRBYFLOAT', 'fnan', '1'],
    ['HSET', 'hf', 'i', 'inf', 'n', 'nan', 'x', 'abc'], ['HINCRBYFLOAT', 'hf', 'i', '1'], ['HINCRBYFLOAT', 'hf', 'n', '1'], ['HINCRBYFLOAT', 'hf', 'x', 'inf'],
    ['HINCRBYFLOAT', 'hf', 'x', '1'], ['HINCRBYFLOAT', 'l', 'f', 'x'], ['HINCRBYFLOAT', 'l', 'f', '1']]);
  // The key before the arguments after it: LINDEX, GETEX; a ZUNION's inputs before its options.
  out.push(['LINDEX', 'nokey', 'x'], ['LINDEX', 'str', 'x'], ['GETEX', 'nokey', 'EX', 'x'], ['GETEX', 'nokey', 'EX', '0'], ['GETEX', 'l', 'EX', 'x'], ['GETEX', 'str', 'EX', 'x']);
  for (const cmd of ['ZUNION', 'ZINTER', 'ZDIFF']) out.push([cmd, '1', 'str', 'x'], [cmd, '1', 'str', 'WEIGHTS', 'x'], [cmd, '2', 'z', 'str', 'AGGREGATE', 'x'], [cmd, '1', 'nokey', 'x']);
  for (const cmd of ['ZUNIONSTORE', 'ZINTERSTORE', 'ZDIFFSTORE']) out.push([cmd, 'd', '1', 'str', 'x'], [cmd, 'd', '1', 'str', 'WEIGHTS', 'x']);
  out.push(['ZINTERCARD', '1', 'str', 'LIMIT', '-1'], ['ZINTERCARD', '1', 'str', 'x'], ['ZINTERCARD', '1', 'z', 'x']);
  out.push(['LCS', 'l', 'l', 'MINMATCHLEN', 'x'], ['LCS', 'l', 'str', 'foo'], ['LCS', 'str', 'nokey', 'foo'], ['LCS', 'str', 'str', 'LEN', 'IDX']);
  // EXPIRE's options are read before its time.
  for (const cmd of ['EXPIRE', 'PEXPIRE', 'EXPIREAT', 'PEXPIREAT']) for (const o of [['NX', 'XX'], ['GT', 'LT'], ['foo'], ['NX']]) out.push([cmd, 'str', 'x', ...o]);
  // Unknown commands: Redis's text, its blanks and its cuts at 128 chars.
  out.push(['NOSUCHCMD'], ['NOSUCHCMD', 'x'], ['NOSUCHCMD', 'a', '', 'b'], ['N'.repeat(200), 'y'.repeat(100), 'z'.repeat(100), 'w']);
  // Small collections come whole from the SCAN family, and an intset's members in ascending order from SMEMBERS too.
  out.push(['HSCAN', 'h', '0', 'MATCH', 'f*'], ['ZSCAN', 'z', '0', 'MATCH', '[a-c]'], ['ZSCAN', 'z', '0', 'COUNT', '1']);
  for (const m of [['3', '-1', '20', '2'], ['9223372036854775807', '-9223372036854775808', '0']]) {
    out.push([['SADD', 'si', ...m], ['SSCAN', 'si', '0'], ['SSCAN', 'si', '0', 'MATCH', '*2*'], ['SMEMBERS', 'si']]);
  }
  // SORT and SORT_RO: numbers in strtod's forms and values that are not
  // numbers, bytes (ALPHA), BY and GET through strings and hash fields,
  // BY without '*' (each type's own order), LIMIT at its edges, STORE over
  // each type and over a key with a TTL, the options' errors before the
  // key's type. A set is sorted only where its order cannot show.
  const SORT_SETUP = [['RPUSH', 'sn', '3', '1', '2', '10', '-1', '1.5', ' 7', '0x10', 'inf', '-inf', '1e308', '', '1\u00002', '-0', '0'],
    ['MSET', 'w_a', '3', 'w_b', '1', 'w_c', 'x', 'g_a', 'ga', 'g_b', 'gb'], ['HSET', 'o_a', 'f', '9', 'g', 'oa'], ['HSET', 'o_b', 'f', '8'], ['SET', 'o_c', 'str'],
    ['SADD', 'sw', '3', '1', '20', '-5'], ['HSET', 'wh_3', 'f', 'b'], ['HSET', 'wh_1', 'f', 'a'], ['HSET', 'wh_20', 'f', 'c']];
  const SORTS = [['SORT', 'sn'], ['SORT', 'sn', 'DESC'], ['SORT', 'sn', 'ALPHA'], ['SORT', 'sn', 'ALPHA', 'DESC'], ['SORT', 'sn', 'LIMIT', '2', '3'],
    ['SORT', 'sn', 'DESC', 'LIMIT', '0', '1'], ['SORT', 'l'], ['SORT', 'l', 'ALPHA'], ['SORT', 'l', 'ALPHA', 'DESC', 'LIMIT', '1', '2'],
    ['SORT', 'l', 'BY', 'nosort'], ['SORT', 'l', 'BY', 'nosort', 'DESC'], ['SORT', 'l', 'BY', 'nosort', 'LIMIT', '1', '2'], ['SORT', 'l', 'BY', 'nosort', 'DESC', 'LIMIT', '1', '10'],
    ['SORT', 'l', 'BY', 'nosort', 'BY', 'w_*'], ['SORT', 'z', 'BY', 'nosort'], ['SORT', 'z', 'BY', 'nosort', 'DESC', 'LIMIT', '1', '2'], ['SORT', 'z', 'ALPHA'], ['SORT', 'z'],
    ['SORT', 's'], ['SORT', 's', 'ALPHA'], ['SORT', 'sw'], ['SORT', 'sw', 'DESC', 'LIMIT', '1', '2'], ['SORT', 'sw', 'BY', 'wh_*->f', 'ALPHA'],
    ['SORT', 'sw', 'BY', 'wh_*->f'], ['SORT', 'l', 'BY', 'w_*'], ['SORT', 'l', 'BY', 'w_*', 'ALPHA'], ['SORT', 'l', 'BY', 'o_*->f'], ['SORT', 'l', 'BY', 'o_*->f', 'ALPHA', 'DESC'],
    ['SORT', 'l', 'BY', 'o_*->g', 'ALPHA'], ['SORT', 'l', 'BY', 'nokey_*'], ['SORT', 'l', 'BY', 'w_*', 'GET', '#', 'GET', 'w_*', 'GET', 'o_*->f', 'GET', 'nostar', 'GET', 'o_*->', 'GET', 'g_*'],
    ['SORT', 'l', 'ALPHA', 'GET', 'o_*->g', 'GET', 'o_*', 'GET', 'l'], ['SORT_RO', 'l', 'ALPHA', 'GET', '#'], ['SORT_RO', 'l', 'BY', 'w_*', 'LIMIT', '1', '1', 'GET', 'g_*'],
    ['SORT', 'str'], ['SORT', 'h'], ['SORT', 'str', 'LIMIT', 'x', '1'], ['SORT', 'str', 'foo'], ['SORT', 'nokey'], ['SORT', 'nokey', 'BY', 'nosort'], ['SORT', 'l', 'LIMIT', '1'],
    ['SORT', 'l', 'STORE'], ['SORT', 'l', 'BY'], ['SORT', 'l', 'GET'], ['SORT', 'l', 'ALPHA', 'x'], ['SORT_RO', 'l', 'ALPHA', 'STORE', 'd'], ['SORT_RO', 'str', 'STORE', 'd'],
    ['SORT', 'l', 'ALPHA', 'asc', 'Desc', 'aLpHa'], ['COMMAND', 'GETKEYS', 'SORT', 'abc', 'STORE', 'def'], ['COMMAND', 'GETKEYS', 'SORT', 'abc', 'STORE', 'x', 'STORE', 'y', 'STORE', 'd'],
    ['COMMAND', 'GETKEYS', 'SORT', 'abc', 'LIMIT', 'STORE', 'x', 'y', 'STORE', 'd'], ['COMMAND', 'GETKEYS', 'SORT', 'abc', 'GET', 'STORE', 'x'], ['COMMAND', 'GETKEYS', 'SORT_RO', 'abc'],
    ['COMMAND', 'GETKEYS', 'SORT', 'abc', 'STORE']];
  for (const n of INTS) SORTS.push(['SORT', 'l', 'ALPHA', 'LIMIT', n, '2'], ['SORT', 'l', 'ALPHA', 'LIMIT', '1', n], ['SORT', 'l', 'BY', 'nosort', 'DESC', 'LIMIT', n, n], ['SORT', 'z', 'BY', 'nosort', 'LIMIT', '1', n]);
  for (const f of [...FLOATS, '0x1p-1074', '0x1p-1022', '0x1p-1023', '-0x0.0000000000001p-1022', '0x3p-1074', '0x1.8p-1074', '0x10p-1078', '0x0.8p-1073', '2.2250738585072014e-308', '-5e-324', '4.9406564584124654e-324', '1e-310', '  0x1p-1050', '0.000e-400']) out.push([['RPUSH', 'sf', f, '2'], ['SORT', 'sf'], ['SET', 'w_a', f], ['SORT', 'l', 'BY', 'w_*', 'LIMIT', '0', '2']]);
  out.push([...SORT_SETUP, ...SORTS]);
  out.push([...SORT_SETUP, ['SORT', 'l', 'BY', 'w_*', 'STORE', 'dst'], ['LRANGE', 'dst', '0', '-1'], ['SORT', 'l', 'BY', 'w_*', 'GET', 'nokey_*', 'GET', '#', 'STORE', 'dst'],
    ['LRANGE', 'dst', '0', '-1'], ['EXPIRE', 'dst', '100'], ['SORT', 'l', 'ALPHA', 'STORE', 'dst'], ['TTL', 'dst'], ['SORT', 'l', 'ALPHA', 'STORE', 'h'], ['TYPE', 'h'],
    ['LRANGE', 'h', '0', '-1'], ['SORT', 'sw', 'BY', 'nosort', 'STORE', 'd3'], ['LRANGE', 'd3', '0', '-1'], ['SORT', 's', 'BY', 'nosort', 'ALPHA', 'DESC', 'STORE', 'd4'], ['LRANGE', 'd4', '0', '-1'],
    ['SORT', 'nokey', 'STORE', 'str'], ['EXISTS', 'str'], ['SORT', 'l', 'LIMIT', '0', '0', 'STORE', 'dst'], ['EXISTS', 'dst'], ['SORT', 'l', 'STORE', 'z'], ['TYPE', 'z'],
    ['SORT', 'l', 'ALPHA', 'STORE', 'l'], ['LRANGE', 'l', '0', '-1'], ['SORT', 'sn', 'STORE', 'l'], ['LRANGE', 'sn', '0', '-1']]);

  // The bitmap commands: BITCOUNT and BITPOS over ranges at their edges in
  // bytes and bits, BITOP of unequal lengths and missing keys, BITFIELD's
  // types, offsets ("#n"), SET and INCRBY under each overflow rule, and
  // each command's errors in Redis's order.
  const BIT_SETUP = [['SET', 'b1', '\u00ff\u00f0\u0000\u0001\u0080'], ['SET', 'b2', '\u000f\u00ff'], ['SET', 'b0', '\u0000\u0000\u0000'], ['SET', 'bf', '\u00ff\u00ff'], ['SET', 'e', '']];
  const BITS = [['BITCOUNT', 'b1'], ['BITCOUNT', 'nokey'], ['BITCOUNT', 'nokey', 'x'], ['BITCOUNT', 'b1', '1'], ['BITCOUNT', 'b1', '0', '-1', 'BIT'], ['BITCOUNT', 'b1', '0', '-1', 'x'],
    ['BITCOUNT', 'b1', '-1', '-2', 'x'], ['BITCOUNT', 'b1', 'x', '1'], ['BITCOUNT', 'l'], ['BITCOUNT', 'l', 'x', 'y'], ['BITCOUNT', 'e'], ['BITCOUNT', 'e', '0', '0'],
    ['BITPOS', 'b1', '1'], ['BITPOS', 'b1', '0'], ['BITPOS', 'bf', '0'], ['BITPOS', 'bf', '0', '0', '-1'], ['BITPOS', 'bf', '0', '1'], ['BITPOS', 'b0', '1'], ['BITPOS', 'b0', '0'],
    ['BITPOS', 'nokey', '0'], ['BITPOS', 'nokey', '1'], ['BITPOS', 'nokey', '2'], ['BITPOS', 'b1', '2'], ['BITPOS', 'b1', 'x'], ['BITPOS', 'l', '1'], ['BITPOS', 'e', '0'], ['BITPOS', 'e', '1'],
    ['BITPOS', 'b1', '1', '0', '-1', 'BIT', 'x'], ['BITPOS', 'bf', '0', '0', '-1', 'BIT'], ['BITPOS', 'bf', '0', '3', '5', 'BIT'], ['BITPOS', 'bf', '1', '3', '5', 'BIT'], ['BITPOS', 'b1', '0', '8', '15', 'BIT'],
    ['BITPOS', 'b1', '1', '13', '30', 'BIT'], ['BITPOS', 'b1', '1', '-7', '-1', 'BIT'], ['BITPOS', 'b1', '1', '0', '-1', 'x'], ['BITPOS', 'b1', '0', 'x'],
    ['BITOP', 'AND', 'd', 'b1', 'b2'], ['GET', 'd'], ['BITOP', 'OR', 'd', 'b1', 'b2', 'nokey'], ['GET', 'd'], ['BITOP', 'XOR', 'd', 'b1', 'b2', 'b0'], ['GET', 'd'],
    ['BITOP', 'NOT', 'd', 'b2'], ['GET', 'd'], ['BITOP', 'NOT', 'd', 'b1', 'b2'], ['BITOP', 'nand', 'd', 'b1'], ['BITOP', 'AND', 'd', 'b1', 'l'], ['BITOP', 'AND', 'l', 'b1'], ['TYPE', 'l'],
    ['BITOP', 'OR', 'd', 'nokey', 'e'], ['EXISTS', 'd'], ['BITOP', 'AND', 'd', 'b1', 'e'], ['GET', 'd'],
    ['BITFIELD', 'b1', 'GET', 'u8', '0', 'GET', 'i8', '0', 'GET', 'u4', '#3', 'GET', 'i64', '0', 'GET', 'u63', '1', 'GET', 'i1', '39', 'GET', 'u8', '100'],
    ['BITFIELD', 'b1', 'GET', 'u64', '0'], ['BITFIELD', 'b1', 'GET', 'i65', '0'], ['BITFIELD', 'b1', 'GET', 'x8', '0'], ['BITFIELD', 'b1', 'GET', 'i0', '0'], ['BITFIELD', 'b1', 'GET', 'u8', '-1'],
    ['BITFIELD', 'b1', 'GET', 'u8'], ['BITFIELD', 'b1', 'FOO'], ['BITFIELD', 'b1', 'OVERFLOW', 'x', 'GET', 'u8', '0'], ['BITFIELD', 'l', 'GET', 'u8', '0'], ['BITFIELD', 'nokey', 'GET', 'u8', '0'],
    ['BITFIELD', 'n1', 'SET', 'u8', '0', '255', 'SET', 'u8', '0', '256', 'SET', 'u8', '0', '-1', 'GET', 'u8', '0'], ['GET', 'n1'],
    ['BITFIELD', 'n2', 'OVERFLOW', 'SAT', 'SET', 'u8', '0', '300', 'SET', 'u8', '0', '-1', 'SET', 'i8', '8', '-200', 'SET', 'i8', '8', '200', 'INCRBY', 'u8', '0', '10', 'INCRBY', 'i8', '8', '-10'], ['GET', 'n2'],
    ['BITFIELD', 'n3', 'OVERFLOW', 'FAIL', 'SET', 'u8', '0', '300', 'INCRBY', 'u8', '0', '100', 'INCRBY', 'u8', '0', '200', 'INCRBY', 'i8', '8', '-129', 'OVERFLOW', 'WRAP', 'INCRBY', 'i8', '8', '-129'], ['GET', 'n3'],
    ['BITFIELD', 'n4', 'INCRBY', 'i64', '0', '9223372036854775807', 'INCRBY', 'i64', '0', '1', 'OVERFLOW', 'SAT', 'INCRBY', 'i64', '0', '-9223372036854775808', 'INCRBY', 'i64', '0', '-9223372036854775808'],
    ['BITFIELD', 'n5', 'INCRBY', 'u63', '0', '9223372036854775807', 'INCRBY', 'u63', '0', '1', 'OVERFLOW', 'SAT', 'INCRBY', 'u63', '0', '-1', 'INCRBY', 'u63', '0', '9223372036854775807'],
    ['BITFIELD', 'n6', 'SET', 'u1', '#7', '1', 'SET', 'i3', '#2', '-4', 'GET', 'u16', '0'], ['GET', 'n6'], ['BITFIELD', 'n7', 'OVERFLOW', 'FAIL', 'SET', 'u2', '100', '9'], ['EXISTS', 'n7'], ['STRLEN', 'n7'],
    ['BITFIELD', 'b1', 'SET', 'u8', '0', 'x'], ['BITFIELD', 'b1', 'INCRBY', 'u8', '0', '9223372036854775808'], ['BITFIELD_RO', 'b1', 'GET', 'u8', '0', 'GET', 'i16', '4'], ['BITFIELD_RO', 'b1', 'SET', 'u8', '0', '1'],
    ['BITFIELD_RO', 'b1', 'GET', 'u99', '0', 'SET', 'u8', '0', '1'], ['BITFIELD_RO', 'l', 'GET', 'u8', '0'], ['BITFIELD', 'b1'], ['BITFIELD', 'b1', 'SET', 'u8', '#-1', '1'],
    ['SETBIT', 'sb', '7', '1'], ['SETBIT', 'sb', '7', '1'], ['GET', 'sb'], ['GETBIT', 'sb', '7'], ['GETBIT', 'sb', '8'], ['GETBIT', 'l', '0'], ['SETBIT', 'sb', '1', '2'], ['SETBIT', 'sb', '-1', '1']];
  for (const n of INTS) {
    BITS.push(['BITCOUNT', 'b1', n, '-1'], ['BITCOUNT', 'b1', '0', n], ['BITCOUNT', 'b1', n, n, 'BIT'], ['BITPOS', 'b1', '1', n], ['BITPOS', 'b1', '0', '1', n], ['BITPOS', 'bf', '0', n, '-1', 'BIT']);
    BITS.push(['BITFIELD', 'b1', 'GET', 'u8', n], ['BITFIELD', 'b1', 'GET', 'u8', `#${n}`], ['BITFIELD', 'bx', 'INCRBY', 'i16', '0', n, 'GET', 'i16', '0'], ['BITFIELD', 'bx', 'OVERFLOW', 'SAT', 'INCRBY', 'u7', '0', n]);
    BITS.push(['GETBIT', 'b1', n], ['BITFIELD_RO', 'b1', 'GET', `i${n}`, '0']);
  }
  out.push([...BIT_SETUP, ...BITS]);
  for (let a = 0; a < 42; a += 3) for (let b = a; b < 42; b += 5) out.push([...BIT_SETUP, ['BITCOUNT', 'b1', String(a), String(b), 'BIT'], ['BITPOS', 'b1', '1', String(a), String(b), 'BIT'], ['BITPOS', 'b1', '0', String(a), String(b), 'BIT'], ['BITPOS', 'b1', '0', String(a >> 3)], ['BITPOS', 'b2', '0', String(a >> 3), String(b >> 3)]]);

  // SLOWLOG's and ROLE's replies that do not depend on time: the errors,
  // HELP, the thresholds' ranges, and an empty log's length and entries.
  out.push(['SLOWLOG'], ['SLOWLOG', 'foo'], ['SLOWLOG', 'LEN', 'x'], ['SLOWLOG', 'GET', '1', '2'], ['SLOWLOG', 'GET', '-2'], ['SLOWLOG', 'GET', 'x'],
    ['SLOWLOG', 'GET', '9223372036854775808'], ['SLOWLOG', 'HELP'], ['SLOWLOG', 'RESET', 'x'], ['SLOWLOG', 'HELP', 'x'], ['ROLE'], ['ROLE', 'x'],
    ['CONFIG', 'SET', 'slowlog-log-slower-than', '-2'], ['CONFIG', 'SET', 'slowlog-max-len', '-1'], ['CONFIG', 'SET', 'slowlog-log-slower-than', 'x'],
    ['CONFIG', 'GET', 'slowlog-max-len'], ['CONFIG', 'GET', 'slowlog-log-slower-than']);
  out.push([['CONFIG', 'SET', 'slowlog-log-slower-than', '-1', 'slowlog-max-len', '5'], ['SLOWLOG', 'RESET'], ['SET', 'a', 'b'], ['SLOWLOG', 'LEN'],
    ['SLOWLOG', 'GET'], ['SLOWLOG', 'GET', '-1'], ['CONFIG', 'GET', 'slowlog-max-len'], ['CONFIG', 'GET', 'slowlog-log-slower-than'], ['CONFIG', 'SET', 'slowlog-log-slower-than', '10000', 'slowlog-max-len', '128'],
    ['SLOWLOG', 'RESET']]);
  // HyperLogLog: values of several sizes (sparse, the promotion to dense at
  // hll-sparse-max-bytes, dense) compared byte for byte, the cached
  // cardinality before and after PFCOUNT, PFMERGE of sparse and dense into
  // a missing and an existing destination, values corrupted by SETRANGE
  // and APPEND, type and arity errors in Redis's order.
  const pfEls = (from, n) => Array.from({ length: n }, (_, i) => `e${from + i}:${'x'.repeat((from + i) % 17)}`);
  const whole = (k) => [['STRLEN', k], ['GETRANGE', k, '0', '-1'], ['PFDEBUG', 'ENCODING', k]];
  const PF = [['PFADD', 'p0'], ...whole('p0'), ['PFCOUNT', 'p0'], ['PFADD', 'p0', ''], ['PFADD', 'p0', ''], ['GETRANGE', 'p0', '15', '15'], ['PFCOUNT', 'p0'], ['GETRANGE', 'p0', '15', '15'],
    ['PFADD', 'p3', 'a', 'b', 'c'], ['PFADD', 'p3', 'a', 'b', 'c'], ['PFADD', 'p3', 'c', 'd'], ['PFCOUNT', 'p3'], ['PFCOUNT', 'p3'], ...whole('p3'), ['OBJECT', 'ENCODING', 'p3']];
  for (const [k, n] of [['p100', 100], ['p1k', 1000], ['p2k', 2000], ['p10k', 10000]]) {
    for (let i = 0; i < n; i += 250) PF.push(['PFADD', k, ...pfEls(i, Math.min(250, n - i))], ['PFCOUNT', k], ['STRLEN', k], ['PFDEBUG', 'ENCODING', k]);
    PF.push(...whole(k), ['PFADD', k, ...pfEls(0, 50)]);
  }
  PF.push(['PFCOUNT', 'p3', 'p100'], ['PFCOUNT', 'p100', 'p10k', 'nokey'], ['PFCOUNT', 'nokey', 'nokey2'], ['PFCOUNT', 'nokey'],
    ['PFMERGE', 'm1', 'p3', 'p100'], ...whole('m1'), ['PFCOUNT', 'm1'], ['PFMERGE', 'm1', 'p1k'], ...whole('m1'), ['PFMERGE', 'm2', 'p100', 'p10k'], ...whole('m2'), ['PFCOUNT', 'm2'],
    ['PFMERGE', 'p3', 'p100', 'nokey'], ...whole('p3'), ['PFMERGE', 'p3'], ...whole('p3'), ['PFMERGE', 'm3'], ...whole('m3'), ['PFMERGE', 'm4', 'nokey'], ['PFCOUNT', 'm4'],
    ['PFMERGE', 'p10k', 'p100'], ...whole('p10k'), ['PFCOUNT', 'p10k', 'p10k'],
    ['PFDEBUG', 'DECODE', 'p100'], ['PFDEBUG', 'DECODE', 'p10k'], ['PFDEBUG', 'getreg', 'p3'], ...whole('p3'), ['PFDEBUG', 'TODENSE', 'p100'], ['PFDEBUG', 'TODENSE', 'p100'], ...whole('p100'),
    ['PFDEBUG', 'FOO', 'p100'], ['PFDEBUG', 'FOO', 'nokey'], ['PFDEBUG', 'ENCODING', 'str'], ['PFDEBUG', 'ENCODING', 'l'], ['PFDEBUG', 'ENCODING'],
    // A TTL is kept; a value changed in place is raw.
    ['EXPIRE', 'p1k', '100'], ['PFADD', 'p1k', 'new'], ['TTL', 'p1k'], ['OBJECT', 'ENCODING', 'p1k'], ['PFMERGE', 'p1k', 'p2k'], ['TTL', 'p1k'],
    // Types and arities.
    ['PFADD', 'l', 'x'], ['PFADD', 'str', 'x'], ['PFCOUNT', 'l'], ['PFCOUNT', 'str'], ['PFCOUNT', 'p3', 'str'], ['PFCOUNT', 'str', 'l'], ['PFCOUNT', 'p3', 'l'],
    ['PFMERGE', 'l', 'p3'], ['PFMERGE', 'p3', 'l'], ['PFMERGE', 'nokey', 'str'], ['EXISTS', 'nokey'], ['PFMERGE', 'str'], ['PFADD'], ['PFCOUNT'], ['PFMERGE'], ['PFSELFTEST', 'x'],
    ['SET', 'short', 'HYLL'], ['PFCOUNT', 'short'], ['SET', 'int', '1234567890123456789'], ['PFADD', 'int', 'a'],
    // Corrupted values.
    ['PFADD', 'c1', 'a', 'b', 'c'], ['APPEND', 'c1', 'hello'], ['PFCOUNT', 'c1'], ['PFCOUNT', 'c1', 'p3'], ['PFADD', 'c1', 'z'], ['PFMERGE', 'p3', 'c1'], ...whole('c1'),
    ['PFADD', 'c2', 'a'], ['SETRANGE', 'c2', '0', '0123'], ['PFCOUNT', 'c2'], ['PFADD', 'c2', 'b'], ['SETRANGE', 'c2', '0', 'HYLL'], ['SETRANGE', 'c2', '4', 'x'], ['PFCOUNT', 'c2'],
    ['SETRANGE', 'c2', '4', '\u0000'], ['PFCOUNT', 'c2'], ['SETRANGE', 'c2', '4', '\u0001'], ['PFCOUNT', 'c2'],
    ['APPEND', 'p10k', 'x'], ['PFCOUNT', 'p10k'], ['PFADD', 'p10k', 'y'], ['SETRANGE', 'p2k', '4', '\u0001'], ['PFCOUNT', 'p2k'], ['PFADD', 'p2k', 'q'],
    // A sparse value that covers fewer than 16384 registers: the elements before the one past its end change it, as in Redis.
    ['SET', 'c3', 'HYLL\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0080\u0060\u00ff'], ['PFCOUNT', 'c3'], ['PFADD', 'c3', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'],
    ...whole('c3'), ['PFADD', 'c3'], ['PFDEBUG', 'DECODE', 'c3'], ['PFDEBUG', 'TODENSE', 'c3'], ['PFDEBUG', 'GETREG', 'c3'],
    // A cut XZERO at the end, and a run past the registers.
    ['SET', 'c4', 'HYLL\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u007f'], ['PFCOUNT', 'c4'], ['PFADD', 'c4', 'a', 'b'], ...whole('c4'),
    ['SET', 'c5', 'HYLL\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u007f\u00ff\u0080'], ['PFCOUNT', 'c5'], ['PFADD', 'c5', 'a'], ['PFMERGE', 'c5'],
    // A valid cache is believed: its bytes are the answer.
    ['PFCOUNT', 'p100'], ['SETRANGE', 'p100', '8', '\u0007\u0001\u0000\u0000\u0000\u0000\u0000\u007f'], ['PFCOUNT', 'p100'], ['SETRANGE', 'p100', '15', '\u0080'], ['PFCOUNT', 'p100'],
    // hll-sparse-max-bytes: a smaller one promotes sooner; Redis's range and errors.
    ['CONFIG', 'SET', 'hll-sparse-max-bytes', '100'], ['CONFIG', 'GET', 'hll-sparse-max-bytes'], ['PFADD', 's1', ...pfEls(0, 20)], ...whole('s1'),
    ['PFADD', 's1', ...pfEls(20, 40)], ...whole('s1'), ['PFMERGE', 's2', 'p2k'], ...whole('s2'), ['CONFIG', 'SET', 'hll-sparse-max-bytes', '0'], ['PFADD', 's3', 'a', 'b'], ...whole('s3'),
    ['CONFIG', 'SET', 'hll-sparse-max-bytes', '-1'], ['CONFIG', 'SET', 'hll-sparse-max-bytes', 'abc'], ['CONFIG', 'SET', 'hll-sparse-max-bytes', '9223372036854775808'],
    ['CONFIG', 'SET', 'hll-sparse-max-bytes', '1kb'], ['CONFIG', 'GET', 'hll-sparse-max-bytes'], ['CONFIG', 'SET', 'hll-sparse-max-bytes', '3000'], ['CONFIG', 'GET', 'hll-*']);
  out.push(PF);

  // Options of each command, alone, in pairs and out of place: the order
  // in which syntax and values are checked decides which error is replied.
  const OPTIONS = ['NX', 'XX', 'GT', 'LT', 'CH', 'INCR', 'GET', 'KEEPTTL', 'EX', 'PX', 'EXAT', 'PXAT', 'PERSIST', 'LIMIT', 'REV', 'BYSCORE', 'BYLEX',
    'WITHSCORES', 'COUNT', 'RANK', 'MAXLEN', 'BEFORE', 'AFTER', 'LEFT', 'RIGHT', 'MATCH', 'TYPE', 'REPLACE', 'DB', 'x'];
  for (const o of OPTIONS) {
    for (const p of ['', ...OPTIONS.slice(0, 13)]) {
      const opts = [o, p].filter(Boolean);
      out.push(['SET', 'str', 'v', ...opts, '10'], ['SET', 'str', 'v', ...opts], ['GETEX', 'str', ...opts, '10'], ['ZADD', 'z', ...opts, '1', 'a']);
      out.push(['ZRANGE', 'z', '0', '-1', ...opts], ['ZRANGE', 'z', '(1', '2', ...opts, '0', '1'], ['ZRANGESTORE', 'd', 'z', '0', '-1', ...opts]);
      out.push(['LPOS', 'l', 'a', ...opts, '1'], ['COPY', 'str', 'd2', ...opts], ['SINTERCARD', '1', 's', ...opts, '1'], ['ZINTERCARD', '1', 'z', ...opts, '1']);
      out.push(['EXPIRE', 'str', '100', ...opts]);
    }
    out.push(['LINSERT', 'l', o, 'a', 'x'], ['LMOVE', 'l', 'l2', o, 'LEFT'], ['OBJECT', o, 'str'], ['OBJECT', o, 'nokey'], ['OBJECT', o]);
  }
  out.push(['OBJECT', 'ENCODING'], ['OBJECT', 'ENCODING', 'a', 'b'], ['OBJECT', 'HELP', 'x'], ['WAIT', 'x', '0'], ['WAIT', '0', 'x'], ['WAIT', '0', '-1'],
    ['WAIT', '-1', '0'], ['WAIT', '0', '1.5'], ['RENAME', 'str', 'str'], ['RENAMENX', 'str', 'str'], ['RENAME', 'nokey', 'x'], ['LSET', 'nokey', '0', 'x'],
    ['LINDEX', 'str', '0'], ['APPEND', 'l', 'x'], ['SMOVE', 's', 'l', 'm1'], ['ZUNION', '0', 'z'], ['ZUNION', '-1', 'z'], ['ZUNION', '3', 'z'],
    ['SINTERCARD', '0', 's'], ['MSET', 'a'], ['MSETNX', 'a', '1', 'b'], ['HSET', 'h', 'f'], ['SETRANGE', 'str', '-1', 'x'], ['SETRANGE', 'str', '536870912', 'x'],
    ['INCRBY', 'cnt', '9223372036854775807'], ['DECRBY', 'cnt', '-9223372036854775808'], ['HINCRBYFLOAT', 'h', 'f1', '1'], ['BLMOVE', 'l', 'l', 'LEFT', 'RIGHT', '-1'],
    ['ZRANGEBYLEX', 'z', 'a', 'b'], ['ZREVRANGEBYLEX', 'z', '+', '-', 'LIMIT', '1', '-1'], ['KEYS', '[a-'], ['EXISTS', 'str', 'str'], ['UNLINK', 'l', 'l']);
  // CONFIG SET looks at the names first, in the command's order: immutable, protected, repeated. Nothing here changes a value from its default.
  for (const pairs of [['daemonize', 'yes'], ['Databases', '3'], ['replicaof', 'no one'], ['slaveof', 'no one'], ['enable-debug-command', 'yes'], ['logfile', ''],
    ['dir', '/tmp'], ['DBfilename', 'x.rdb'], ['maxmemory', '1', 'daemonize', 'yes', 'maxmemory', '2'], ['maxmemory', '1', 'maxmemory', '2', 'daemonize', 'yes'],
    ['maxmemory', 'abc', 'dir', '/tmp'], ['maxmemory', '1', 'maxclients', '2', 'MAXclients', '3', 'maxmemory', '4'], ['maxclients', 'abc', 'MaxClients', '5'],
    ['slaveof', 'no one', 'replicaof', 'no one'], ['slave-priority', '1', 'SLAVE-PRIORITY', '2']]) out.push(['CONFIG', 'SET', ...pairs]);
  // CONFIG GET of the parameters pmem serve has no setting for, where its value is redis-server's here (started without
  // daemonize, logfile, unixsocket, ...; dir is the directory of both servers' files); a name is replied as spelt, a pattern
  // lists no hidden parameter. (dbfilename, set-proc-title, disable-thp, cluster-config-file, syslog-ident, syslog-facility,
  // appendfilename and appenddirname differ: test/96.serve-config.test.ts.)
  for (const k of ['daemonize', 'supervised', 'pidfile', 'logfile', 'syslog-enabled', 'always-show-logo', 'io-threads', 'io-threads-do-reads',
    'cluster-enabled', 'cluster-port', 'aclfile', 'unixsocket', 'unixsocketperm', 'server_cpulist', 'bio_cpulist', 'aof_rewrite_cpulist', 'bgsave_cpulist',
    'enable-protected-configs', 'enable-debug-command', 'enable-module-command', 'lua-enable-deprecated-api', 'tcp-backlog', 'socket-mark-id',
    'rdbchecksum', 'replicaof', 'slaveof', 'databases', 'dir', 'DIR', 'DaemonIZE', 'lua-enable*', 'daemoniz?', 'tcp-back*']) out.push(['CONFIG', 'GET', k]);
  out.push(['CONFIG', 'GET', 'IO-Threads', 'io-threads'], ['CONFIG', 'GET', 'daemonize', 'daemoniz*']);
  // A renamed parameter's old name and new one are one value, and not a repeat in one CONFIG SET.
  out.push([['CONFIG', 'SET', 'slave-read-only', 'no', 'replica-read-only', 'yes'], ['CONFIG', 'GET', 'slave-read-only'], ['CONFIG', 'GET', 'replica-read-only'],
    ['CONFIG', 'SET', 'lua-time-limit', '6000'], ['CONFIG', 'GET', 'busy-reply-threshold'], ['CONFIG', 'SET', 'busy-reply-threshold', '5000'], ['CONFIG', 'GET', 'lua-time-limit']]);
  // A string changed in place (APPEND, SETRANGE, SETBIT) is raw however short; INCRBYFLOAT's result is never int; moves keep the encoding.
  const enc = (k) => ['OBJECT', 'ENCODING', k];
  out.push([['SET', 'e1', '123'], ['APPEND', 'e1', '4'], enc('e1'), ['INCR', 'e1'], enc('e1'), ['SETRANGE', 'e1', '0', '9'], enc('e1'), ['GETSET', 'e1', '5'], enc('e1'),
    ['SETRANGE', 'str', '0', ''], enc('str'), ['APPEND', 'str', ''], enc('str'), ['SETRANGE', 'e2', '2', 'x'], enc('e2'), ['APPEND', 'e3', '12'], enc('e3'),
    ['APPEND', 'e5', 'xy'], enc('e5'), ['SETBIT', 'e4', '1', '1'], enc('e4'), ['SETBIT', 'cnt', '1', '1'], enc('cnt'), ['INCRBYFLOAT', 'f', '0.5'], enc('f'),
    ['SET', 'g', '1e300'], ['INCRBYFLOAT', 'g', '1'], enc('g'), ['RENAME', 'str', 's2'], enc('s2'), ['COPY', 's2', 's3'], enc('s3'), ['MOVE', 's3', '1'],
    ['SWAPDB', '0', '1'], enc('s3'), ['SWAPDB', '0', '1'], ['SET', 's2', 'hello'], enc('s2')]);
  // Only an int from 0 to 9999 is Redis's shared object: a short integer kept raw or embstr is the key's own.
  const ref = (k) => ['OBJECT', 'REFCOUNT', k];
  out.push([['SET', 'r1', '42'], ref('r1'), ['APPEND', 'r1', '1'], ref('r1'), ['SETRANGE', 'r2', '0', '7'], ref('r2'), ['INCRBYFLOAT', 'r3', '2'], ref('r3'),
    ['INCR', 'r3'], ref('r3'), ['SET', 'r4', '10000'], ref('r4'), ref('cnt'), ref('str'), ref('l')]);
  return out;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'pmem-redis-diff-'));
  const port = await freePort();
  // redis-server with pmem serve's proto-max-bulk-len (64 MiB): lengths and
  // bit offsets past it are then refused by both (docs/server.md, "Sizes").
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--proto-max-bulk-len', '64mb'], { stdio: 'ignore' });
  const failed = new Promise((_, reject) => redis.once('error', reject));
  let server;
  const conns = [];
  try {
    let a;
    for (let tries = 0; ; tries++) {
      a = connect(port);
      try {
        await Promise.race([a.ready, failed]);
        break;
      } catch (e) {
        a.close();
        if (tries > 100) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    server = createServer({ file: path.join(dir, 'store.kv') });
    const b = connect(await server.listen(0));
    await b.ready;
    conns.push(a, b);
    // The sequences run after the setup like any other entry: each starts with FLUSHALL.
    // A DISCARD ends each: a MULTI it left open would queue the next setup.
    const list = [...commands(), ...geo(), ...hostile(), ...fuzz(200, 25, 7), ...sequences(250, 40, 1).map((seq) => [['FLUSHALL'], ...seq, ['DISCARD']])];
    let differ = 0;
    let sent = 0;
    for (const entry of list) {
      for (const s of SETUP) {
        const [x, y] = [await a.call(s), await b.call(s)];
        if (x !== y) throw new Error(`the setup ${JSON.stringify(s)} differs: ${x} ${y}`);
      }
      // An entry is one command, or a sequence of them (an array of commands) run after one setup.
      for (const cmd of Array.isArray(entry[0]) ? entry : [entry]) {
        sent++;
        let [x, y] = [await a.call(cmd), await b.call(cmd)];
        // HSCAN and ZSCAN of the setup's small collections (listpacks), and
        // SSCAN of an intset, are compared whole: Redis returns them in one
        // call, in the encoding's order, and so does pmem serve. The setup's
        // set 's' is a hashtable in Redis, walked by its own cursor.
        // HELLO names each server's own id for the connection.
        if (/^hello$/i.test(cmd[0])) [x, y] = [x, y].map((r) => r.replace(/"id",:\d+/, '"id",:N'));
        if (/^scan$/i.test(cmd[0]) || (/^sscan$/i.test(cmd[0]) && cmd[1] === 's')) [x, y] = [x, y].map((r) => (r.startsWith('-') ? r : '(a scan reply)'));
        if (x !== y) {
          differ++;
          console.log(`${JSON.stringify(cmd)}\n    redis-server: ${x.slice(0, 200)}\n    pmem serve:   ${y.slice(0, 200)}`);
        }
      }
    }
    console.log(`redis-diff: ${sent} commands, ${differ} replies differ`);
    return differ === 0 ? 0 : 1;
  } finally {
    for (const c of conns) c.close();
    if (server !== undefined) await server.close();
    redis.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(`redis-diff: ${e.stack ?? e}`);
  process.exit(1);
});
