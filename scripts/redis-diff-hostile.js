// Cases for scripts/redis-diff.js: hostile arguments to the data-type
// commands. Integers at and past a long long's edges and in the forms
// strtoll and string2ll disagree on; floats in strtod's forms; keywords in
// odd case, repeated, in every order, without their values; too many
// arguments; a key of the wrong type with bad arguments (which error comes
// first); empty keys and values and bytes 0x00, 0xff and CR LF.
// Commands whose replies are random are sent on collections of one member,
// where the reply has one form.
'use strict';

const INTS = ['9223372036854775807', '-9223372036854775808', '9223372036854775808', '-9223372036854775809', '', ' 1', '1 ', '+1', '01',
  '0x10', '1e3', '-0', '0', '1', '-1', '2', '-2', 'x', '-9223372036854775807', '9007199254740993', '4611686018427387904', '-4611686018427387904', '\t1', '1\t',
  '0b1', '1_0', '+0', '-', '--1', '00', '0000000000000000000001', '100000000000000000000', '\xd9\xa1', '1.0'];
const FLOATS = ['inf', '-inf', '+inf', 'nan', '1e309', '-1e309', '0x1p3', ' 1', '1 ', '1.', '.5', '5e', '1e', '-', '+', '', '1e308', '-0', '2'];

function permutations(a) {
  if (a.length <= 1) return [a];
  return a.flatMap((x, i) => permutations([...a.slice(0, i), ...a.slice(i + 1)]).map((p) => [x, ...p]));
}

/** A timeout Redis 7.0.15 overflows on (2^63 ms or more): "timeout is negative" there, "out of range" here (docs/server.md). */
const overflows = (t) => Number(t) * 1000 >= 2 ** 63;

function hostile() {
  const out = [];
  for (const n of INTS) {
    const huge = Number(n) < -100000;
    // RANK -2^63: Redis negates it with a signed overflow (undefined in C) and finds a match; here none (docs/server.md).
    const rank = n === '-9223372036854775808' ? [] : [['LPOS', 'l', 'a', 'RANK', n], ['LPOS', 'l', 'a', 'RANK', n, 'COUNT', '0']];
    out.push(...rank, ['LPOS', 'l', 'a', 'COUNT', n, 'RANK', '-1'], ['LPOS', 'l', 'a', 'MAXLEN', n, 'COUNT', '0']);
    out.push(['LREM', 'l', n, 'a'], ['LREM', 'nokey', n, 'a'], ['LSET', 'l', n, 'x'], ['LTRIM', 'l', '0', n], ['LINDEX', 'nokey', n], ['LRANGE', 'nokey', n, n]);
    out.push(['SRANDMEMBER', 'nos', n], ['HRANDFIELD', 'noh', n], ['HRANDFIELD', 'noh', n, 'WITHVALUES'], ['ZRANDMEMBER', 'noz', n], ['ZRANDMEMBER', 'noz', n, 'WITHSCORES']);
    if (!huge) {
      out.push([['SADD', 's1', 'only'], ['SRANDMEMBER', 's1', n], ['HSET', 'h1', 'f', 'v'], ['HRANDFIELD', 'h1', n], ['HRANDFIELD', 'h1', n, 'WITHVALUES'],
        ['ZADD', 'z1', '5', 'only'], ['ZRANDMEMBER', 'z1', n], ['ZRANDMEMBER', 'z1', n, 'WITHSCORES'], ['SPOP', 's1', n]]);
    }
    out.push(['ZRANGE', 'z', '-inf', '+inf', 'BYSCORE', 'LIMIT', n, '2'], ['ZRANGE', 'z', '-inf', '+inf', 'BYSCORE', 'LIMIT', '1', n]);
    out.push(['ZRANGE', 'z', '-', '+', 'BYLEX', 'LIMIT', n, '2'], ['ZRANGE', 'z', '+', '-', 'BYLEX', 'REV', 'LIMIT', '0', n]);
    out.push(['ZRANGEBYSCORE', 'z', '-inf', '+inf', 'LIMIT', n, '2'], ['ZREVRANGEBYSCORE', 'z', '+inf', '-inf', 'LIMIT', '0', n], ['ZRANGEBYLEX', 'z', '-', '+', 'LIMIT', n, '1']);
    out.push(['ZREVRANGEBYLEX', 'z', '+', '-', 'LIMIT', '1', n], ['ZRANGESTORE', 'd', 'z', '-inf', '+inf', 'BYSCORE', 'LIMIT', n, '1'], ['ZREVRANGE', 'z', n, '-1'], ['ZREMRANGEBYRANK', 'z', n, '-1']);
    out.push(['SETRANGE', 'str', n, 'x'], ['SETRANGE', 'nokey', n, ''], ['SETRANGE', 'str', n, ''], ['GETRANGE', 'nokey', n, n]);
    out.push(['INCRBY', 'nokey', n], ['DECRBY', 'nokey', n], ['HINCRBY', 'h', 'new', n], ['ZINCRBY', 'z', n, 'a'], ['INCRBYFLOAT', 'cnt', n], ['HINCRBYFLOAT', 'h', 'f2', n]);
    out.push(['EXPIRE', 'nokey', n], ['PEXPIRE', 'str', n, 'GT'], ['EXPIREAT', 'str', n, 'LT'], ['PEXPIREAT', 'nokey', n], ['GETEX', 'str', 'EX', n], ['GETEX', 'str', 'PXAT', n]);
    out.push(['SET', 'k', 'v', 'EXAT', n], ['SET', 'k', 'v', 'PXAT', n], ['PSETEX', 'k', n, 'v']);
    out.push(['HSCAN', 'h', '0', 'COUNT', n], ['SSCAN', 's', '0', 'COUNT', n], ['ZSCAN', 'z', '0', 'COUNT', n], ['ZSCAN', 'noz', n], ['HSCAN', 'h', n, 'COUNT', '0']);
    if (!overflows(n)) out.push(['BZPOPMIN', 'z', n], ['BLMPOP', n, '1', 'l', 'LEFT'], ['BLMOVE', 'l', 'l2', 'LEFT', 'RIGHT', n], ['BRPOPLPUSH', 'l', 'l2', n]);
    out.push(['ZMPOP', n, 'z', 'MIN']);
    out.push(['ZMPOP', '1', 'z', 'MAX', 'COUNT', n], ['SINTERCARD', n, 's'], ['SINTERCARD', '1', 's', 'LIMIT', n], ['ZINTERCARD', '1', 'z', 'LIMIT', n], ['LPOP', 'nokey', n]);
    out.push(['OBJECT', 'FREQ', n], ['SETBIT', 'bits', n, '1'], ['GETBIT', 'str', n]);
    // numkeys: refused, or past the arguments, before any key is read.
    out.push(['ZUNION', n, 'z'], ['ZUNIONSTORE', 'd', n, 'z'], ['ZINTER', n, 'z', 'z'], ['ZDIFFSTORE', 'd', n, 'z'], ['ZINTERCARD', n, 'z'], ['LMPOP', n, 'l', 'l', 'LEFT']);
    // Blocking on a missing key for 10 ms: COUNT is checked first, then a nil after the wait.
    out.push(['BLMPOP', '0.01', '1', 'nokey', 'LEFT', 'COUNT', n], ['BZMPOP', '0.01', '2', 'nokey', 'str', 'MAX', 'COUNT', n], ['BLMPOP', '0.01', '1', 'l', 'LEFT', 'COUNT', n]);
    out.push(['BZMPOP', '0.01', n, 'z', 'MIN'], ['BLMPOP', '0.01', n, 'l', 'RIGHT'], ['ZMPOP', n, 'z', 'str', 'MAX'], ['SINTERCARD', n, 's', 'str']);
  }
  out.push(['OBJECT', 'FREQ', 'str'], ['OBJECT', 'FREQ', 'nokey'], ['OBJECT', 'FREQ'], ['OBJECT', 'FREQ', 'str', 'x'], ['OBJECT', 'IDLETIME', 'str', 'x']);
  // SETRANGE's bound is proto-max-bulk-len: past Redis's 512 MB both refuse; with nothing to write, any offset is taken without
  // growing the string. Under 512 MB and past 64 MB (this server's proto-max-bulk-len, docs/server.md) Redis writes and this
  // server refuses: test/95.serve-hostile-args.test.ts.
  for (const off of ['536870911', '536870912', '536870913', '1073741824', '4294967295', '4294967296']) {
    if (off !== '536870911') out.push(['SETRANGE', 'str', off, 'x'], ['SETRANGE', 'nokey', off, 'xy']);
    out.push(['SETRANGE', 'str', off, ''], ['SETRANGE', 'nokey', off, ''], ['SETRANGE', 'l', off, 'x']);
  }
  out.push([['SETRANGE', 'str', '536870912', ''], ['STRLEN', 'str'], ['EXISTS', 'nokey'], ['SETRANGE', 'nokey', '536870911', ''], ['EXISTS', 'nokey']]);

  for (const f of FLOATS) {
    out.push(['ZADD', 'z', f, 'm'], ['ZADD', 'z', 'XX', 'INCR', f, 'a'], ['ZINCRBY', 'z', f, 'a'], ['ZINCRBY', 'noz', f, 'a']);
    for (const g of ['(' + f, '[' + f, f]) {
      out.push(['ZRANGEBYSCORE', 'z', g, '+inf'], ['ZREVRANGEBYSCORE', 'z', g, '-inf'], ['ZCOUNT', 'z', '-inf', g], ['ZRANGE', 'z', g, '(3', 'BYSCORE'], ['ZREMRANGEBYSCORE', 'z', g, '(' + g]);
    }
    out.push(['INCRBYFLOAT', 'f', f], ['INCRBYFLOAT', 'nokey', f], ['HINCRBYFLOAT', 'h', 'f2', f], ['HINCRBYFLOAT', 'h', 'new', f], ['SET', 'k', f], ['ZADD', 'z', 'INCR', f, 'nomember']);
  }
  // Results past a double (ZADD INCR, ZINCRBY) or NaN: refused, the member as it was.
  out.push([['ZADD', 'zo', '1e308', 'a', 'inf', 'b', '-inf', 'c'], ['ZINCRBY', 'zo', '1e308', 'a'], ['ZADD', 'zo', 'INCR', '1.7e308', 'a'], ['ZINCRBY', 'zo', '-inf', 'b'],
    ['ZADD', 'zo', 'INCR', 'inf', 'c'], ['ZINCRBY', 'zo', 'inf', 'b'], ['ZRANGE', 'zo', '0', '-1', 'WITHSCORES'], ['ZADD', 'zo', 'GT', 'INCR', '-inf', 'b'], ['ZSCORE', 'zo', 'b']]);
  out.push([['SET', 'fo', '1e4932'], ['INCRBYFLOAT', 'fo', '1e4932'], ['GET', 'fo'], ['HSET', 'ho', 'f', '-1e4932'], ['HINCRBYFLOAT', 'ho', 'f', '-1e4932'], ['HGET', 'ho', 'f'],
    ['INCRBYFLOAT', 'fo', '-inf'], ['SET', 'fo', 'inf'], ['INCRBYFLOAT', 'fo', '-inf'], ['HINCRBYFLOAT', 'ho', 'f', 'nan']]);
  out.push([['SET', 'io', '9223372036854775807'], ['INCR', 'io'], ['INCRBY', 'io', '0'], ['DECRBY', 'io', '-1'], ['SET', 'io', '-9223372036854775808'], ['DECR', 'io'], ['DECRBY', 'io', '1'],
    ['INCRBY', 'io', '-1'], ['HSET', 'hi', 'f', '9223372036854775807'], ['HINCRBY', 'hi', 'f', '1'], ['HINCRBY', 'hi', 'f', '-9223372036854775808'], ['HGET', 'hi', 'f'],
    ['SET', 'io', ' 1'], ['INCR', 'io'], ['SET', 'io', '01'], ['INCR', 'io'], ['SET', 'io', '-0'], ['INCR', 'io'], ['SET', 'io', '+1'], ['DECR', 'io'], ['SET', 'io', ''], ['INCR', 'io']]);

  // Expiry times whose milliseconds, or whose sum with now, leave a long long.
  for (const t of ['9223372036854775', '9223372036854776', '-9223372036854775', '-9223372036854776', '9223370000000000000', '9223372036854775807', '-9223372036854775808',
    '9223372036854', '-9223372036855']) {
    for (const cmd of ['EXPIRE', 'PEXPIRE', 'EXPIREAT', 'PEXPIREAT']) out.push([cmd, 'str', t], [cmd, 'nokey', t], [cmd, 'str', t, 'GT']);
    out.push(['SET', 'k', 'v', 'EX', t], ['SET', 'k', 'v', 'PX', t], ['SET', 'k', 'v', 'EXAT', t], ['SET', 'k', 'v', 'PXAT', t], ['GETEX', 'str', 'EX', t], ['GETEX', 'str', 'PX', t]);
    out.push(['GETEX', 'str', 'EXAT', t], ['SETEX', 'k', t, 'v'], ['PSETEX', 'k', t, 'v'], ['GETEX', 'nokey', 'PXAT', t]);
  }
  // Indexes one before the first element and at the last, on each list command.
  for (const i of ['-5', '-4', '3', '4', '-9223372036854775807']) {
    out.push(['LSET', 'l', i, 'x'], ['LINDEX', 'l', i], ['LRANGE', 'l', i, i], ['LTRIM', 'l', i, i], ['ZRANGE', 'z', i, i], ['ZREMRANGEBYRANK', 'z', i, i], ['GETRANGE', 'str', i, i]);
    out.push(['ZRANGESTORE', 'd', 'z', i, '-1'], ['ZREVRANGE', 'z', '0', i], ['LRANGE', 'l', i, '-9223372036854775808'], ['GETRANGE', 'str', '-9223372036854775808', i]);
  }
  // RESP3: scores as doubles (inf, -inf, -0), pairs as arrays of two, maps; then back to RESP2 for the next setup.
  out.push([['HELLO', '3'], ['ZADD', 'z3', 'inf', 'a', '-inf', 'b', '-0', 'c', '1e-320', 'd', '0.1', 'e'], ['ZSCORE', 'z3', 'a'], ['ZSCORE', 'z3', 'b'], ['ZSCORE', 'z3', 'c'],
    ['ZSCORE', 'z3', 'd'], ['ZMSCORE', 'z3', 'a', 'nosuch', 'e'], ['ZINCRBY', 'z3', '-inf', 'a'], ['ZINCRBY', 'z3', 'inf', 'b'], ['ZADD', 'z3', 'INCR', '1e308', 'e'], ['ZRANGE', 'z3', '0', '-1', 'WITHSCORES'],
    ['ZRANGEBYSCORE', 'z3', '(-inf', '+inf', 'WITHSCORES', 'LIMIT', '1', '2'], ['ZPOPMIN', 'z3'], ['ZPOPMAX', 'z3', '2'], ['ZRANDMEMBER', 'z3', '0', 'WITHSCORES'],
    ['ZADD', 'z4', '5', 'only'], ['ZRANDMEMBER', 'z4', '-2', 'WITHSCORES'], ['ZRANDMEMBER', 'z4', '1', 'WITHSCORES'], ['ZMPOP', '1', 'z4', 'MIN', 'COUNT', '5'], ['ZSCAN', 'z', '0'],
    ['HSET', 'h4', 'f', 'v'], ['HRANDFIELD', 'h4', '-2', 'WITHVALUES'], ['HRANDFIELD', 'h4', '1', 'WITHVALUES'], ['HGETALL', 'h4'], ['HRANDFIELD', 'noh', '-1', 'WITHVALUES'], ['LPOS', 'nol', 'a'],
    ['ZSCORE', 'z', 'nosuch'], ['ZINCRBY', 'z', '0.1', 'a'], ['ZADD', 'z', 'NX', 'INCR', '1', 'a'], ['ZINTER', '1', 'z', 'WITHSCORES'], ['ZUNION', '2', 'z', 'z', 'WEIGHTS', 'inf', '1', 'WITHSCORES'],
    ['INCRBYFLOAT', 'f', '1e308'], ['HINCRBYFLOAT', 'h', 'f2', '0.1'], ['ZRANGESTORE', 'd', 'z', '0', '-1'], ['SMISMEMBER', 's', 'm1', 'x'], ['SRANDMEMBER', 's', '-2'], ['LMPOP', '1', 'l', 'LEFT'],
    ['BZPOPMIN', 'z', '0'], ['BLMPOP', '0', '1', 'l', 'RIGHT', 'COUNT', '9'], ['ZRANK', 'z', 'b'], ['OBJECT', 'FREQ', 'str'], ['HELLO', '2']]);
  // Inside MULTI: argument errors at EXEC, arity and unknown commands when queued.
  out.push([['MULTI'], ['ZADD', 'z', 'NX', 'XX', '1', 'a'], ['SET', 'k', 'v', 'EX', '10', 'EX', '20'], ['LPOS', 'l', 'a', 'RANK', '0'], ['ZRANGEBYSCORE', 'z', '(1\x00', '+inf'],
    ['HSCAN', 'str', 'x'], ['SETRANGE', 'str', '536870912', 'x'], ['INCRBY', 'cnt', '9223372036854775807'], ['TTL', 'k'], ['EXEC']]);
  out.push([['MULTI'], ['ZADD', 'z'], ['SET', 'k', 'v'], ['EXEC'], ['GET', 'k'], ['MULTI'], ['NOSUCH\x00'], ['EXEC']]);
  // Keywords in odd case, repeated, combined.
  const zaddOpts = [['nx'], ['Xx'], ['gT'], ['lt'], ['ch'], ['incr'], ['NX', 'NX'], ['XX', 'XX', 'CH', 'CH'], ['NX', 'XX'], ['NX', 'GT'], ['NX', 'LT'], ['GT', 'LT'],
    ['XX', 'GT', 'CH'], ['XX', 'LT', 'INCR'], ['NX', 'INCR'], ['GT', 'INCR'], ['INCR', 'INCR'], ['CH', 'INCR'], ['NX', 'XX', 'GT', 'LT', 'CH', 'INCR'], ['GT', 'gt', 'ch']];
  for (const o of zaddOpts) {
    out.push(['ZADD', 'z', ...o, '5', 'a'], ['ZADD', 'z', ...o, '-5', 'a'], ['ZADD', 'z', ...o, '5', 'new'], ['ZADD', 'z', ...o, '5', 'a', '6', 'b'], ['ZADD', 'z', ...o]);
    out.push(['ZADD', 'z', ...o, '5'], ['ZADD', 'z', ...o, 'x', 'a'], ['ZADD', 'noz', ...o, '1', 'a'], ['ZADD', 'str', ...o, '1', 'a'], ['ZADD', 'str', ...o, 'x', 'a']);
  }
  const setOpts = [['nx'], ['Xx'], ['get'], ['keepttl'], ['NX', 'XX'], ['NX', 'GET'], ['XX', 'GET'], ['GET', 'GET'], ['NX', 'NX'], ['EX', '10', 'KEEPTTL'], ['KEEPTTL', 'EX', '10'],
    ['ex', '10', 'px', '10'], ['EX', '10', 'EX', '10'], ['EX'], ['PX'], ['EXAT'], ['EX', '10', 'GET', 'XX'], ['KEEPTTL', 'KEEPTTL'], ['PERSIST'], ['EX', '0'], ['EX', '-1'],
    ['PX', '9223372036854775807'], ['EX', '9223372036854775807'], ['EX', '922337203685477580'], ['EXAT', '9223372036854775807'], ['PXAT', '0'], ['EX', 'x', 'NX', 'XX']];
  for (const o of setOpts) out.push(['SET', 'str', 'v', ...o], ['SET', 'l', 'v', ...o], ['SET', 'nokey', 'v', ...o], ['GETEX', 'str', ...o], ['GETEX', 'l', ...o]);
  for (const p of permutations([['REV'], ['BYSCORE'], ['LIMIT', '0', '2'], ['WITHSCORES']])) {
    const opts = p.flat();
    out.push(['ZRANGE', 'z', '+inf', '-inf', ...opts], ['ZRANGE', 'z', '-inf', '+inf', ...opts], ['ZRANGE', 'z', '0', '-1', ...opts.map((o) => o.toLowerCase())]);
    out.push(['ZRANGESTORE', 'd', 'z', '+inf', '-inf', ...opts]);
  }
  for (const p of permutations([['REV'], ['BYLEX'], ['LIMIT', '1', '5'], ['WITHSCORES']])) out.push(['ZRANGE', 'z', '+', '-', ...p.flat()]);
  out.push(['ZRANGE', 'z', '0', '-1', 'BYSCORE', 'BYLEX'], ['ZRANGE', 'z', '0', '-1', 'REV', 'REV'], ['ZRANGE', 'z', '0', '-1', 'LIMIT', '0', '1', 'LIMIT', '0', '2', 'BYSCORE'],
    ['ZRANGE', 'z', '0', '-1', 'WITHSCORES', 'WITHSCORES'], ['ZRANGE', 'z', '-', '+', 'BYLEX', 'WITHSCORES'], ['ZRANGE', 'z', '-', '+', 'BYSCORE'], ['ZRANGE', 'z', '0', '1', 'BYLEX']);
  // LPOS: RANK 0, repeated options, lower case, each option without its value.
  out.push(['LPOS', 'l', 'a', 'RANK', '0'], ['LPOS', 'l', 'a', 'rank', '-1', 'RANK', '2'], ['LPOS', 'l', 'a', 'COUNT', '0', 'count', '1'], ['LPOS', 'l', 'a', 'maxlen', '1', 'MAXLEN', '0'],
    ['LPOS', 'nokey', 'a', 'RANK', '0'], ['LPOS', 'str', 'a', 'RANK', '0'], ['LPOS', 'str', 'a', 'RANK', 'x'], ['LPOS', 'l', 'a', 'RANK'], ['LPOS', 'l', 'a', 'COUNT'],
    ['LPOS', 'l', 'a', 'MAXLEN'], ['LPOS', 'l', 'a', 'RANK', '1', 'COUNT'], ['LPOS', 'l', 'a', 'RANK', '-9223372036854775807'], ['LPOS', 'l', 'a', 'RANK', '9223372036854775807']);
  // Missing values after keywords, and too many arguments.
  out.push(['ZRANGE', 'z', '0', '-1', 'LIMIT'], ['ZRANGE', 'z', '0', '-1', 'LIMIT', '0'], ['ZRANGEBYSCORE', 'z', '0', '1', 'LIMIT', '0'], ['ZRANGEBYLEX', 'z', '-', '+', 'LIMIT'],
    ['ZRANGEBYSCORE', 'z', '0', '1', 'WITHSCORES', 'x'], ['ZREVRANGEBYLEX', 'z', '+', '-', 'LIMIT', '0', '1', 'x'], ['SCAN', '0', 'COUNT'], ['SCAN', '0', 'MATCH'], ['SCAN', '0', 'TYPE'],
    ['HSCAN', 'h', '0', 'COUNT'], ['SSCAN', 's', '0', 'MATCH'], ['ZSCAN', 'z', '0', 'COUNT', '1', 'MATCH'], ['ZSCAN', 'z', '0', 'x'], ['HSCAN', 'h', '0', 'TYPE', 'hash'],
    ['HSCAN', 'noh', '0', 'COUNT', '0'], ['SSCAN', 'nos', '0', 'foo'], ['ZSCAN', 'noz', '0', 'MATCH'], ['HSCAN', 'h', '0', 'COUNT', '0'], ['ZSCAN', 'z', '0', 'COUNT', '1', 'x', 'y'],
    ['GETEX', 'str', 'EX'], ['GETEX', 'str', 'PERSIST', 'EX', '1'], ['ZADD', 'z'], ['ZADD', 'z', 'NX'], ['ZADD', 'z', '1'], ['ZUNIONSTORE', 'd', '1', 'z', 'WEIGHTS'],
    ['ZINTER', '1', 'z', 'AGGREGATE'], ['LMPOP', '1', 'l', 'LEFT', 'COUNT'], ['LMPOP', '1', 'l', 'LEFT', 'COUNT', '1', 'COUNT', '2'], ['ZMPOP', '1', 'z', 'MIN', 'COUNT'],
    ['SRANDMEMBER', 's', '1', '2'], ['HRANDFIELD', 'h', '1', 'WITHVALUES', 'x'], ['HRANDFIELD', 'h', '1', 'x'], ['ZRANDMEMBER', 'z', '1', 'WITHSCORES', 'x'], ['ZRANDMEMBER', 'z', '1', 'x'],
    ['SRANDMEMBER', 'nos', 'x'], ['HRANDFIELD', 'noh', '1', 'x'], ['ZRANDMEMBER', 'noz', '1', 'WITHSCORE'],
    ['GET', 'a', 'b'], ['LINDEX', 'l', '0', '1'], ['LSET', 'l', '0', 'x', 'y'], ['LTRIM', 'l', '0', '1', '2'], ['LREM', 'l', '1', 'a', 'b'], ['LINSERT', 'l', 'BEFORE', 'a', 'x', 'y'],
    ['LINSERT', 'l', 'before', 'a', 'x'], ['LINSERT', 'l', 'After', 'nosuch', 'x'], ['LINSERT', 'nokey', 'BEFORE', 'a', 'x'], ['LINSERT', 'nokey', 'FOO', 'a', 'x'], ['LINSERT', 'str', 'FOO', 'a', 'x'],
    ['SETRANGE', 'str', '0', 'x', 'y'], ['GETRANGE', 'str', '0', '1', '2'], ['INCRBY', 'cnt', '1', '2'], ['HINCRBY', 'h', 'f', '1', '2'], ['ZINCRBY', 'z', '1', 'a', 'b'],
    ['INCRBYFLOAT', 'f', '1', '2'], ['HINCRBYFLOAT', 'h', 'f', '1', '2'], ['SPOP', 's', '1', '2'], ['TTL', 'a', 'b'], ['PERSIST', 'a', 'b'], ['EXPIRE', 'str', '10', 'NX', 'XX', 'GT'],
    ['EXPIRE', 'str', '10', 'nx', 'nx'], ['EXPIRE', 'str', '10', 'gt', 'lt'], ['ZSCORE', 'z', 'a', 'b'], ['STRLEN', 'a', 'b'], ['LLEN', 'a', 'b'], ['SCARD', 'a', 'b'], ['ZCARD', 'a', 'b'],
    ['LPOP', 'l', '1', '2'], ['ZPOPMIN', 'z', '1', '2'], ['INCR', 'a', 'b'], ['SETNX', 'a'], ['SETEX', 'a', '10'], ['OBJECT', 'ENCODING', 'str', 'x']);
  // WRONGTYPE or the argument's error first.
  const bad = ['x', '-1', '0', '9223372036854775808', 'nan', '536870912'];
  // Bit offsets past 2^29 are refused here, under Redis's 2^32 (docs/server.md); a timeout of 2^63 ms or more overflows in Redis.
  const redisOnly = (cmd, x) => (/^(GETBIT|SETBIT)$/.test(cmd[0]) && x === '536870912') || (/^B/.test(cmd[0]) && overflows(x));
  for (const [k, v] of [['str', 'l'], ['l', 'str']]) {
    for (const x of bad) {
      const w = [];
      w.push(['LRANGE', k, x, '1'], ['LINDEX', k, x], ['LSET', k, x, 'v'], ['LTRIM', k, x, '1'], ['LPOS', k, 'a', 'RANK', x], ['LPOS', k, 'a', 'COUNT', x], ['LREM', k, x, 'a']);
      w.push(['LPOP', k, x], ['RPOP', k, x], ['LMPOP', '1', k, 'LEFT', 'COUNT', x], ['BLPOP', k, x], ['BLMPOP', x, '1', k, 'LEFT'], ['BLMOVE', k, v, 'LEFT', 'LEFT', x]);
      w.push(['SRANDMEMBER', k, x], ['SPOP', k, x], ['HRANDFIELD', k, x], ['HRANDFIELD', k, x, 'WITHVALUES'], ['ZRANDMEMBER', k, x], ['ZRANDMEMBER', k, '1', x]);
      w.push(['ZRANGE', k, x, '1'], ['ZRANGE', k, x, '1', 'BYSCORE'], ['ZRANGE', k, x, '1', 'BYLEX'], ['ZRANGE', k, '0', '1', 'LIMIT', x, '1'], ['ZRANGE', k, '0', '1', 'BYSCORE', 'LIMIT', x, '1']);
      w.push(['ZRANGEBYSCORE', k, x, '1'], ['ZRANGEBYSCORE', k, '0', '1', 'LIMIT', x, '1'], ['ZRANGEBYLEX', k, x, '+'], ['ZREVRANGEBYLEX', k, '+', '-', 'LIMIT', '0', x], ['ZCOUNT', k, x, '1']);
      w.push(['ZLEXCOUNT', k, x, '+'], ['ZREMRANGEBYRANK', k, x, '1'], ['ZREMRANGEBYSCORE', k, x, '1'], ['ZREMRANGEBYLEX', k, x, '+'], ['ZRANGESTORE', 'd', k, x, '1'], ['ZPOPMIN', k, x]);
      w.push(['ZADD', k, x, 'a'], ['ZADD', k, 'NX', 'XX', x, 'a'], ['ZADD', k, 'GT', 'NX', x, 'a'], ['ZADD', k, '1', 'a', x], ['ZINCRBY', k, x, 'a'], ['ZMPOP', '1', k, 'MIN', 'COUNT', x]);
      w.push(['GETRANGE', k, x, '1'], ['SETRANGE', k, x, 'v'], ['SETRANGE', k, x, ''], ['INCRBY', k, x], ['DECRBY', k, x], ['INCRBYFLOAT', k, x], ['GETBIT', k, x]);
      w.push(['SETBIT', k, x, '1']);
      w.push(['HINCRBY', k, 'f', x], ['HINCRBYFLOAT', k, 'f', x], ['EXPIRE', k, x], ['PEXPIRE', k, x, 'NX', 'XX'], ['GETEX', k, 'EX', x], ['SET', k, 'v', 'GET', 'EX', x]);
      w.push(['SSCAN', k, x], ['HSCAN', k, x], ['ZSCAN', k, x], ['SSCAN', k, '0', 'COUNT', x], ['HSCAN', k, '0', 'COUNT', x], ['ZSCAN', k, '0', 'COUNT', x]);
      w.push(['SINTERCARD', '1', k, 'LIMIT', x], ['ZINTERCARD', '1', k, 'LIMIT', x], ['LINSERT', k, x, 'a', 'b'], ['OBJECT', 'FREQ', k]);
      out.push(...w.filter((cmd) => !redisOnly(cmd, x)));
    }
  }
  // Empty keys and values, NUL, 0xff and CR LF in keys, members and fields.
  const B = ['', '\x00', 'a\x00b', '\xff', '\xff\xfe', '\r\n', 'x\r\ny', '\r', '\n'];
  for (const b of B) {
    out.push([['SET', b, b], ['GET', b], ['STRLEN', b], ['APPEND', b, b], ['GET', b], ['EXISTS', b, b], ['TYPE', b], ['OBJECT', 'ENCODING', b], ['SETRANGE', b, '1', b], ['GETRANGE', b, '0', '-1'],
      ['RENAME', b, b + 'r'], ['GET', b + 'r'], ['COPY', b + 'r', b], ['LCS', b, b + 'r'], ['DEL', b, b + 'r'],
      ['RPUSH', b, b, 'x', b], ['LPOS', b, b, 'COUNT', '0'], ['LINSERT', b, 'AFTER', b, 'y'], ['LREM', b, '1', b], ['LRANGE', b, '0', '-1'], ['LSET', b, '0', b], ['LINDEX', b, '0'], ['DEL', b],
      ['HSET', b, b, b, 'f', b], ['HGET', b, b], ['HSTRLEN', b, b], ['HEXISTS', b, b], ['HINCRBY', b, b, '1'], ['HINCRBYFLOAT', b, 'n', '1.5'], ['HMGET', b, b, 'f', 'n'], ['HSCAN', b, '0'], ['DEL', b],
      ['SADD', b, b], ['SISMEMBER', b, b], ['SMISMEMBER', b, b, ''], ['SRANDMEMBER', b], ['SRANDMEMBER', b, '-2'], ['SMOVE', b, 'sd', b], ['SMEMBERS', 'sd'], ['DEL', 'sd'],
      ['ZADD', b, '1', b, '2', 'z'], ['ZSCORE', b, b], ['ZINCRBY', b, '1', b], ['ZRANGE', b, '0', '-1', 'WITHSCORES'], ['ZRANGEBYLEX', b, '[' + b, '+'], ['ZRANGEBYLEX', b, '(' + b, '+'],
      ['ZRANGEBYLEX', b, '-', '[' + b], ['ZLEXCOUNT', b, '(' + b, '+'], ['ZRANK', b, b], ['ZMSCORE', b, b, 'z'], ['ZREM', b, b], ['ZRANDMEMBER', b, '-2', 'WITHSCORES'], ['ZSCAN', b, '0'],
      ['ZRANGEBYLEX', b, b, '+'], ['SETEX', b, '100', b], ['PERSIST', b], ['GETDEL', b]]);
  }
  // A NUL inside a number: Redis's parsers that stop at it (strtod, strtoul, strtold) against those that read the whole length.
  for (const n of ['1\x00', '\x001', '1\x002', '0\x00', '1.5\x00x', '(1\x00', 'inf\x00', '-inf\x00x', '1e3\x00', '\x00']) {
    out.push(['LRANGE', 'l', n, '-1'], ['LINDEX', 'l', n], ['INCRBY', 'cnt', n], ['EXPIRE', 'str', n], ['SETRANGE', 'str', n, 'x'], ['SET', 'k', 'v', 'EX', n], ['SELECT', n]);
    out.push(['ZADD', 'z', n, 'a'], ['ZINCRBY', 'z', n, 'a'], ['ZRANGEBYSCORE', 'z', n, '+inf'], ['ZCOUNT', 'z', '-inf', n], ['ZRANGE', 'z', n, '5', 'BYSCORE'], ['ZREMRANGEBYSCORE', 'z', n, n]);
    out.push(['INCRBYFLOAT', 'f', n], ['HINCRBYFLOAT', 'h', 'f2', n], ['SET', 'nf', n], ['INCRBYFLOAT', 'nf', '1'], ['ZUNIONSTORE', 'd', '1', 'z', 'WEIGHTS', n], ['BLPOP', 'l', n]);
    out.push(['SCAN', n, 'MATCH', 'nothing*'], ['HSCAN', 'h', n], ['ZSCAN', 'z', n], ['SRANDMEMBER', 's', n], ['LPOS', 'l', 'a', 'RANK', n], ['ZRANGE', 'z', '0', '-1', 'BYSCORE', 'LIMIT', n, '1']);
    out.push([['SET', 'nv', n], ['INCR', 'nv'], ['HSET', 'nh', 'f', n], ['HINCRBY', 'nh', 'f', '1'], ['HINCRBYFLOAT', 'nh', 'f', '1'], ['ZADD', 'nz', '1', n], ['ZSCORE', 'nz', n]]);
  }
  // A NUL inside a keyword: Redis compares keywords with strcasecmp or byte by byte up to a NUL.
  for (const t of ['\x00', '\x00x', 'x']) {
    const k = (w) => w + t;
    out.push(['ZADD', 'z', k('NX'), '1', 'q'], ['ZADD', 'z', k('INCR'), '1', 'a'], ['SET', 'k', 'v', k('NX')], ['SET', 'k', 'v', k('EX'), '10'], ['SET', 'str', 'v', k('GET')]);
    out.push(['ZRANGE', 'z', '0', '-1', k('WITHSCORES')], ['ZRANGE', 'z', '0', '-1', k('REV')], ['ZRANGEBYSCORE', 'z', '-inf', '+inf', k('LIMIT'), '0', '1'], ['LPOS', 'l', 'a', k('RANK'), '2']);
    out.push(['LINSERT', 'l', k('BEFORE'), 'a', 'x'], ['EXPIRE', 'str', '10', k('NX')], ['ZUNIONSTORE', 'd', '1', 'z', k('WEIGHTS'), '2'], ['ZUNION', '1', 'z', 'AGGREGATE', k('MAX')]);
    out.push(['SCAN', '0', k('COUNT'), '5', 'MATCH', 'nothing*'], ['SCAN', '0', 'TYPE', k('list')], ['HSCAN', 'h', '0', k('MATCH'), 'f*'], ['LMOVE', 'l', 'l2', k('LEFT'), 'RIGHT']);
    // (Not OBJECT ENCODING with a NUL: Redis finds a subcommand in a table hashed over all its bytes and compared up to a NUL,
    // so whether 'ENCODING\0' is found depends on its hash seed; here it is an unknown subcommand.)
    out.push(['GETEX', 'str', k('PERSIST')], ['LMPOP', '1', 'l', k('LEFT')], ['ZMPOP', '1', 'z', k('MIN')]);
    out.push(['COPY', 'str', 'c2', k('REPLACE')], ['ZINTERCARD', '1', 'z', k('LIMIT'), '1'], ['LCS', 'str', 'str', k('LEN')], ['SINTERCARD', '1', 's', k('LIMIT'), '0'], ['ZADD', 'z', k('GT'), k('CH'), '5', 'a']);
    out.push(['EXPIRE', 'str', '10', k('FOO')], ['LINSERT', 'l', k('FOO'), 'a', 'x'], ['ZADD', 'z', k('FOO'), '1', 'a'], ['SCAN', '0', 'TYPE', k('nosuchtype')], ['DEBUG', k('FOO')]);
    out.push([k('NOSUCH'), k('a'), 'b'], ['CONFIG', k('FOO')], ['CLIENT', k('FOO')], ['PUBSUB', k('FOO')], ['COMMAND', k('FOO')], ['OBJECT', k('FOO'), 'str']);
    out.push([['HSET', 'h1', 'f', 'v'], ['HRANDFIELD', 'h1', '-1', k('WITHVALUES')], ['ZADD', 'z1', '1', 'm'], ['ZRANDMEMBER', 'z1', '-1', k('WITHSCORES')]]);
  }
  // COMMAND GETKEYS in Redis 7.0's order of checks, and the commands whose keys an argument counts (movablekeys).
  for (const args of [['PING'], ['GET'], ['GET', 'a', 'b'], ['NOSUCH', 'a'], ['ZUNIONSTORE', 'd', '2', 'a', 'b'], ['ZUNIONSTORE', 'd', '99', 'a'],
    ['ZUNIONSTORE', 'd', '0', 'a'], ['ZUNIONSTORE', 'd', 'x', 'a'], ['ZINTERSTORE', 'd', '1', 'a', 'WEIGHTS', '2'], ['ZDIFFSTORE', 'd', '-1', 'a'],
    ['SINTERCARD', '2', 'a', 'b', 'LIMIT', '1'], ['LMPOP', '2', 'a', 'b', 'LEFT'], ['LMPOP', '0', 'LEFT'], ['LMPOP', '-1', 'a', 'LEFT'],
    ['BLMPOP', '0', '2', 'a', 'b', 'LEFT'], ['BLMPOP', '0', '3', 'a', 'b'], ['ZMPOP', '1', 'a', 'MIN'], ['BZMPOP', '0', '1', 'a', 'MIN'],
    ['ZINTER', '2', 'a', 'b'], ['ZINTERCARD', '2', 'a', 'b'], ['ZDIFF', '1', 'a'], ['ZUNION', '1', 'a', 'WITHSCORES'], ['MSET', 'a', '1', 'b', '2'],
    ['MSETNX', 'a', '1', 'b'], ['MEMORY', 'USAGE', 'k'], ['OBJECT', 'ENCODING', 'k'], ['ZRANGESTORE', 'd', 's', '0', '1'], ['BLPOP', 'a', 'b', '0']]) {
    out.push(['COMMAND', 'GETKEYS', ...args]);
  }
  out.push(['COMMAND', 'COUNT', 'x'], ['COMMAND', 'LIST', 'x', 'y'], ['COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'zunionstor?'], ['COMMAND', 'LIST', 'FILTERBY', 'NOSUCH', 'x']);
  out.push(['COMMAND', 'INFO', 'nosuch'], ['COMMAND', 'INFO', 'nosuch', 'nosuch2']);
  out.push(['FUNCTION', 'FLUSH', 'x'], ['FUNCTION', 'FLUSH', 'ASYNC', 'SYNC'], ['FUNCTION', 'FLUSH', 'ASYNC'], ['CONFIG', 'RESETSTAT', 'x'], ['CLIENT', 'LIST', 'TYPE', 'normal', 'x'],
    ['CLIENT', 'LIST', 'ID', 'abc'], ['CLIENT', 'LIST', 'ID', '0'], ['FLUSHALL', 'ASYNC', 'SYNC'], ['FLUSHALL', 'x'], ['FLUSHDB', 'SYNC', 'ASYNC'], ['FLUSHDB', 'x'],
    ['SHUTDOWN', 'NOSAVE', 'SAVE'], ['SHUTDOWN', 'ABORT', 'NOW'], ['SHUTDOWN', 'ABORT'], ['SHUTDOWN', 'BOGUS'],
    ['CLIENT', 'KILL', 'SKIPME', 'maybe'], ['CLIENT', 'KILL', 'TYPE', 'foo'], ['CLIENT', 'KILL', 'USER', 'nosuch'], ['CLIENT', 'KILL', 'ID', 'x'], ['CLIENT', 'KILL', 'ID', '1', 'ADDR'],
    ['CLIENT', 'KILL', 'TYPE', 'master'], ['CLIENT', 'KILL', 'LADDR', '192.0.2.1:1'], ['CLIENT', 'KILL', '192.0.2.1:1']);
  out.push(['MEMORY', 'USAGE', 'str', 'SAMPLES', '-1'], ['MEMORY', 'USAGE', 'str', 'SAMPLES', 'x'], ['MEMORY', 'USAGE', 'str', 'FOO'], ['MEMORY', 'USAGE', 'str', 'SAMPLES']);
  // CR and LF in an error's text: trimmed at its ends, each a blank inside.
  out.push(['NOSUCH\r\n', 'a\r\nb', '\n'], ['\r\nNOSUCH'], ['EXPIRE', 'str', '10', '\r\nFOO\r\n'], ['EXPIRE', 'str', '10', 'FOO\r\n\n'], ['OBJECT', 'x\r\n\r\ny', 'k'], ['EXPIRE', 'str', '10', '\n']);
  out.push(['BLPOP', 'nokey', 'str', '0.01'], ['BLPOP', 'nokey', '0.01'], ['BZPOPMIN', 'nokey', 'l', '0.01'], ['BLMOVE', 'nokey', 'str', 'LEFT', 'LEFT', '0.01'], ['BLMOVE', 'l', 'str', 'LEFT', 'LEFT', '0.01'],
    ['BRPOPLPUSH', 'l', 'h', '0.01'], ['BLMPOP', '0.01', '1', 'nokey', 'UP'], ['BZMPOP', '0.01', '1', 'z', 'MIN', 'COUNT'], ['BLPOP', 'l', '0.01', 'x'], ['BZPOPMAX', 'z', 'nan']);
  // Random counts past -LONG_MAX / 2 with pairs (refused), and their order against the key's type, on keys that give no reply of that size.
  for (const v of ['-4611686018427387903', '-4611686018427387904', '-4611686018427387905', '-9223372036854775807', '4611686018427387904']) {
    for (const k of ['nokey', 'str']) out.push(['HRANDFIELD', k, v, 'WITHVALUES'], ['ZRANDMEMBER', k, v, 'WITHSCORES'], ['HRANDFIELD', k, v], ['ZRANDMEMBER', k, v], ['SRANDMEMBER', k, v], ['SPOP', k, v]);
  }
  // Two indexes one apart past 2^53, where they are one double.
  for (const [a, b] of [['-4611686018427387904', '-4611686018427387905'], ['-9007199254740993', '-9007199254740994'], ['9007199254740993', '9007199254740992'],
    ['-9223372036854775807', '-9223372036854775808']]) {
    for (const [x, y] of [[a, b], [b, a]]) {
      out.push(['GETRANGE', 'str', x, y], ['LRANGE', 'l', x, y], ['ZRANGE', 'z', x, y], ['LTRIM', 'l', x, y], ['ZREMRANGEBYRANK', 'z', x, y], ['ZRANGESTORE', 'd', 'z', x, y]);
      out.push(['ZRANGE', 'z', '-inf', '+inf', 'BYSCORE', 'LIMIT', x, y], ['LPOS', 'l', 'a', 'RANK', x, 'MAXLEN', y], ['SUBSTR', 'str', x, y]);
    }
  }
  // The same member, field or key twice in one command; a key as its own source and destination.
  out.push([['SADD', 's', 'a', 'a', 'b'], ['SREM', 's', 'a', 'a'], ['SMISMEMBER', 's', 'b', 'b', 'a'], ['HSET', 'h', 'f', '1', 'f', '2'], ['HGET', 'h', 'f'], ['HDEL', 'h', 'f', 'f'],
    ['HMGET', 'h', 'f1', 'f1'], ['HSETNX', 'h', 'f1', 'x'], ['ZADD', 'z', 'CH', '1', 'q', '2', 'q'], ['ZSCORE', 'z', 'q'], ['ZADD', 'z', 'NX', '5', 'r', '6', 'r'], ['ZSCORE', 'z', 'r'],
    ['ZADD', 'z', 'XX', 'CH', '7', 'q', '7', 'q'], ['ZREM', 'z', 'q', 'q', 'r'], ['ZMSCORE', 'z', 'a', 'a'], ['MSET', 'k', '1', 'k', '2'], ['GET', 'k'], ['MSETNX', 'k2', '1', 'k2', '2'],
    ['GET', 'k2'], ['DEL', 'k', 'k'], ['EXISTS', 'l', 'l', 'nokey'], ['SINTERCARD', '2', 's', 's'], ['SINTERSTORE', 's', 's', 's'], ['SMISMEMBER', 's', 'm1', 'b', 'a'], ['ZUNIONSTORE', 'z', '2', 'z', 'z'],
    ['ZRANGE', 'z', '0', '-1', 'WITHSCORES'], ['ZINTERSTORE', 'z', '1', 'z', 'WEIGHTS', '-1'], ['ZRANGE', 'z', '0', '-1', 'WITHSCORES'], ['ZRANGESTORE', 'z', 'z', '0', '0'],
    ['ZRANGE', 'z', '0', '-1'], ['ZDIFFSTORE', 'z', '2', 'z', 'z'], ['EXISTS', 'z'], ['SMOVE', 's', 's', 'b'], ['SMOVE', 's', 's', 'nosuch'], ['LMOVE', 'l', 'l', 'LEFT', 'RIGHT'],
    ['LRANGE', 'l', '0', '-1'], ['RPOPLPUSH', 'l', 'l'], ['RENAME', 'str', 'str'], ['RENAMENX', 'str', 'str'], ['COPY', 'str', 'str'], ['COPY', 'str', 'str', 'REPLACE'],
    ['LINSERT', 'l', 'BEFORE', 'a', 'a'], ['LREM', 'l', '-1', 'a'], ['LRANGE', 'l', '0', '-1'], ['SDIFFSTORE', 's', 's'], ['EXISTS', 's'], ['ZADD', 'z', 'INCR', '1', 'a', '1', 'a'],
    ['HINCRBY', 'h', 'f2', '1'], ['HINCRBYFLOAT', 'h', 'f2', '0.5'], ['HINCRBY', 'h', 'f2', '1'], ['LPOS', 'l', 'a', 'COUNT', '0', 'MAXLEN', '0', 'RANK', '-1']]);
  out.push(['ZRANGEBYLEX', 'z', '(', '+'], ['ZRANGEBYLEX', 'z', '[', '+'], ['ZRANGEBYLEX', 'z', '', '+'], ['ZRANGEBYLEX', 'z', '-', '('], ['ZRANGEBYLEX', 'z', '+a', '-'], ['ZRANGEBYLEX', 'z', '-a', '+']);
  return out;
}

/**
 * Random commands of the data-type groups with arguments drawn from the
 * hostile values above, keywords and members, over keys of every type, from
 * a fixed seed: `count` sequences of `length` commands, each after the
 * setup. No command whose reply is random or that blocks is drawn, nor one
 * that reads a hashtable set whole (its order is Redis's own), nor TTL.
 */
function fuzz(count, length, seed) {
  let x = seed;
  const rnd = () => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x / 0x80000000;
  };
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const KEYS = ['str', 'l', 'h', 's', 'z', 'nokey', 'cnt', 'f', 'd'];
  const WORDS = ['NX', 'XX', 'GT', 'LT', 'CH', 'INCR', 'GET', 'KEEPTTL', 'EX', 'PX', 'EXAT', 'PXAT', 'PERSIST', 'LIMIT', 'REV', 'BYSCORE', 'BYLEX', 'WITHSCORES',
    'COUNT', 'RANK', 'MAXLEN', 'BEFORE', 'AFTER', 'LEFT', 'RIGHT', 'MATCH', 'MIN', 'MAX', 'nx', 'Rev', 'limit'];
  const MEMBERS = ['a', 'b', 'c', 'd', 'm1', 'f1', 'f2', 'x', '', '\x00', '\xff', '\r\n', '[a', '(b', '-', '+', '*', 'f*'];
  const VALUES = [...INTS, ...FLOATS, ...WORDS, ...MEMBERS];
  const CMDS = ['LRANGE', 'LINDEX', 'LSET', 'LTRIM', 'LPOS', 'LINSERT', 'LREM', 'LPUSH', 'RPUSH', 'LPUSHX', 'LPOP', 'RPOP', 'LMPOP', 'LMOVE', 'LLEN',
    'SADD', 'SREM', 'SISMEMBER', 'SMISMEMBER', 'SCARD', 'SMOVE', 'SINTERCARD', 'SINTERSTORE', 'HSET', 'HGET', 'HDEL', 'HINCRBY', 'HINCRBYFLOAT', 'HSETNX', 'HSTRLEN',
    'HMGET', 'HEXISTS', 'HLEN', 'ZADD', 'ZINCRBY', 'ZRANGE', 'ZRANGEBYSCORE', 'ZREVRANGEBYSCORE', 'ZRANGEBYLEX', 'ZREVRANGEBYLEX', 'ZCOUNT', 'ZLEXCOUNT', 'ZSCORE',
    'ZMSCORE', 'ZRANK', 'ZREVRANK', 'ZREM', 'ZREMRANGEBYRANK', 'ZREMRANGEBYSCORE', 'ZREMRANGEBYLEX', 'ZPOPMIN', 'ZPOPMAX', 'ZMPOP', 'ZRANGESTORE', 'ZCARD',
    'ZUNIONSTORE', 'ZINTER', 'ZDIFF', 'SET', 'GET', 'GETEX', 'GETRANGE', 'SETRANGE', 'INCRBY', 'DECRBY', 'INCRBYFLOAT', 'APPEND', 'STRLEN', 'GETDEL', 'SETEX',
    'PSETEX', 'EXPIRE', 'PEXPIRE', 'EXPIREAT', 'PEXPIREAT', 'PERSIST', 'OBJECT', 'HSCAN', 'ZSCAN', 'GETBIT', 'SETBIT', 'TYPE', 'EXISTS',
    'MSET', 'MGET', 'MSETNX', 'GETSET', 'SETNX', 'LCS', 'COPY', 'RENAME', 'RENAMENX', 'RPOPLPUSH', 'ZUNION', 'ZINTERSTORE', 'ZDIFFSTORE', 'ZINTERCARD', 'RPUSHX',
    'HMSET', 'DEL', 'SUBSTR', 'INCR', 'DECR', 'ZREVRANGE', 'ZREVRANGEBYLEX', 'SETEX'];
  const out = [];
  for (let i = 0; i < count; i++) {
    const seq = [];
    for (let j = 0; j < length; j++) {
      const cmd = pick(CMDS);
      const args = [cmd];
      // Most commands' key first; numkeys commands and OBJECT a value first.
      if (/^(LMPOP|ZMPOP|SINTERCARD|ZINTER|ZDIFF|ZUNION|ZINTERCARD|OBJECT)$/.test(cmd)) args.push(cmd === 'OBJECT' ? pick(['ENCODING', 'FREQ', 'REFCOUNT', 'x']) : pick(['1', '2', ...INTS.slice(0, 6)]));
      args.push(pick(KEYS));
      const n = Math.floor(rnd() * 8);
      for (let k = 0; k < n; k++) args.push(rnd() < 0.15 ? pick(KEYS) : pick(VALUES));
      // SETBIT past 2^29 and SETRANGE past 64 MB and under 512 MB differ by design (docs/server.md); these values stay under both.
      // A time of 1 or 2 s or ms could pass between the two servers' replies: expiry commands get 100000 instead.
      seq.push(/^(EXPIRE|PEXPIRE|SETEX|PSETEX|SET|GETEX)$/.test(cmd) ? args.map((a, i) => (i > 1 && (a === '1' || a === '2') ? '100000' : a)) : args);
    }
    out.push(seq);
  }
  return out;
}

module.exports = { hostile, fuzz };
