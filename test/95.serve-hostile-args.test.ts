// pmem serve's replies to hostile arguments where Redis 7.0.15 has one
// reply that is easy to get wrong: an option given twice, a rank at a long
// long's edge, and which error comes first when both the key's type and an
// argument are wrong. scripts/redis-diff.js compares many more against
// redis-server itself.
import * as fs from 'node:fs';

import { createServer, type RespServer } from '../lib';
import { RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

let file: string;
let server: RespServer;
let c: RawClient;

const call = async (...args: string[]): Promise<unknown> => text(await c.call(...args.map((a) => Buffer.from(a, 'latin1'))));
const SYNTAX = '-ERR syntax error';
const WRONGTYPE = '-WRONGTYPE Operation against a key holding the wrong kind of value';

beforeAll(async () => {
  file = tmpFile('hostile.kv');
  server = createServer({ file });
  c = new RawClient(await server.listen(0));
  await c.ready;
});

afterAll(async () => {
  c.close();
  await server.close();
  fs.rmSync(file, { force: true });
});

beforeEach(async () => {
  await call('FLUSHALL');
});

describe('SET and GETEX with an option again', () => {
  test('the same unit twice is taken and its last time is used; two units are a syntax error', async () => {
    expect(await call('SET', 'k', 'v', 'EX', '10', 'EX', '100')).toBe('OK');
    expect(await call('TTL', 'k')).toBe(100);
    expect(await call('SET', 'k', 'v', 'px', '5000', 'PX', '20000')).toBe('OK');
    expect(await call('PTTL', 'k')).toBeGreaterThan(10000);
    // Only the last time is read: a bad one before it is never parsed.
    expect(await call('SET', 'k', 'v', 'EX', 'x', 'EX', '50')).toBe('OK');
    expect(await call('TTL', 'k')).toBe(50);
    expect(await call('SET', 'k', 'v', 'EX', '10', 'EX', '-1')).toBe("-ERR invalid expire time in 'set' command");
    const at = String(Math.floor(Date.now() / 1000) + 1000);
    expect(await call('SET', 'k', 'v', 'EXAT', at, 'exat', at)).toBe('OK');
    expect(await call('SET', 'k', 'v', 'PXAT', `${at}000`, 'PXAT', `${at}000`)).toBe('OK');
    for (const [a, b] of [['EX', 'PX'], ['PX', 'EX'], ['EX', 'EXAT'], ['PXAT', 'EXAT']]) {
      expect(await call('SET', 'k', 'v', a, '10', b, '10')).toBe(SYNTAX);
    }
    expect(await call('SET', 'k', 'v', 'EX', '10', 'KEEPTTL')).toBe(SYNTAX);
    expect(await call('SET', 'k', 'v', 'KEEPTTL', 'EX', '10')).toBe(SYNTAX);
    expect(await call('SET', 'k', 'v', 'KEEPTTL', 'keepttl', 'NX', 'nx', 'GET', 'get')).toBe('v');
    expect(await call('SET', 'k', 'v', 'EX', '10', 'EX')).toBe(SYNTAX);
  });

  test('GETEX takes a unit or PERSIST again, never both', async () => {
    await call('SET', 'k', 'v');
    expect(await call('GETEX', 'k', 'EX', '10', 'EX', '100')).toBe('v');
    expect(await call('TTL', 'k')).toBe(100);
    expect(await call('GETEX', 'k', 'PERSIST', 'persist')).toBe('v');
    expect(await call('TTL', 'k')).toBe(-1);
    expect(await call('GETEX', 'k', 'EX', '10', 'PERSIST')).toBe(SYNTAX);
    expect(await call('GETEX', 'k', 'PERSIST', 'EX', '10')).toBe(SYNTAX);
    expect(await call('GETEX', 'k', 'EX', '10', 'PX', '10')).toBe(SYNTAX);
    // The options' syntax before the key's type; the time after it.
    await call('RPUSH', 'l', 'a');
    expect(await call('GETEX', 'l', 'EX', '10', 'EX', '10')).toBe(WRONGTYPE);
    expect(await call('GETEX', 'l', 'EX', '10', 'PX', '10')).toBe(SYNTAX);
    expect(await call('GETEX', 'nokey', 'PX', '1', 'PX', 'x')).toBeNull();
  });
});

describe('HSCAN, SSCAN and ZSCAN read the cursor, then the key, then the options', () => {
  test('a bad cursor is refused before the key is looked at', async () => {
    await call('SET', 'str', 'v');
    await call('RPUSH', 'l', 'a');
    for (const cmd of ['HSCAN', 'SSCAN', 'ZSCAN']) {
      for (const key of ['str', 'l', 'nokey']) {
        for (const cur of ['x', 'nan', '1.5', ' 1', '18446744073709551616']) expect(await call(cmd, key, cur)).toBe('-ERR invalid cursor');
      }
      expect(await call(cmd, 'str', '0')).toBe(WRONGTYPE);
      expect(await call(cmd, 'str', '0', 'COUNT', '0')).toBe(WRONGTYPE);
    }
  });

  test('a missing key is an empty scan whatever its options; a collection reads them', async () => {
    for (const cmd of ['HSCAN', 'SSCAN', 'ZSCAN']) {
      for (const opts of [['COUNT', '0'], ['COUNT', 'x'], ['foo'], ['MATCH'], ['COUNT', '1', 'bar', 'baz']]) {
        expect(await call(cmd, 'nokey', '0', ...opts)).toEqual(['0', []]);
      }
    }
    await call('HSET', 'h', 'f', 'v');
    await call('SADD', 's', 'm');
    await call('ZADD', 'z', '1', 'm');
    for (const [cmd, key] of [['HSCAN', 'h'], ['SSCAN', 's'], ['ZSCAN', 'z']]) {
      expect(await call(cmd, key, '0', 'COUNT', '0')).toBe(SYNTAX);
      expect(await call(cmd, key, '0', 'COUNT', 'x')).toBe('-ERR value is not an integer or out of range');
      expect(await call(cmd, key, '0', 'foo')).toBe(SYNTAX);
    }
  });
});

describe('a string grown past its largest size', () => {
  const MAX = 64 * 1024 * 1024 - 1; // a string value: a KV store value less its type byte
  const TOO_BIG = '-ERR string exceeds maximum allowed size (proto-max-bulk-len)';

  test('SETRANGE and SETBIT refuse it before a buffer of its size is made', async () => {
    await call('SET', 'str', 'hello');
    // Spies call through: each size asked for is seen.
    const alloc = jest.spyOn(Buffer, 'alloc');
    try {
      for (const key of ['str', 'nokey']) {
        // The last byte of the largest string is at MAX - 1; one past it is refused.
        expect(await call('SETRANGE', key, String(MAX), 'x')).toBe(TOO_BIG);
        expect(await call('SETRANGE', key, String(MAX - 1), 'xy')).toBe(TOO_BIG);
        expect(await call('SETRANGE', key, String(64 * 1024 * 1024), 'x')).toBe(TOO_BIG);
        expect(await call('SETBIT', key, String(MAX * 8), '1')).toBe(TOO_BIG);
        expect(await call('SETBIT', key, String(MAX * 8 + 7), '1')).toBe(TOO_BIG);
        // Nothing to write: the length, whatever the offset.
        expect(await call('SETRANGE', key, String(MAX), '')).toBe(key === 'str' ? 5 : 0);
      }
      expect(alloc.mock.calls.map(([n]) => n).filter((n) => n >= MAX)).toEqual([]);
      // The spy sees the server's allocations: a SETRANGE that is taken makes its buffer.
      expect(await call('SETRANGE', 'grown', '3', 'x')).toBe(4);
      expect(alloc.mock.calls.map(([n]) => n)).toContain(4);
    } finally {
      alloc.mockRestore();
    }
    expect(await call('GET', 'str')).toBe('hello');
    expect(await call('EXISTS', 'nokey')).toBe(0);
  });
});

describe('a NUL inside an argument that Redis reads as a C string', () => {
  test('score bounds and SCAN cursors are read up to the NUL; integers and scores are not', async () => {
    await call('ZADD', 'z', '0', 'c', '1', 'a', '2', 'b');
    await call('HSET', 'h', 'f', 'v');
    expect(await call('ZRANGEBYSCORE', 'z', '1\x00x', '+inf')).toEqual(['a', 'b']);
    expect(await call('ZRANGEBYSCORE', 'z', '(1\x00', '+inf')).toEqual(['b']);
    // Nothing before the NUL: the empty bound, 0.
    expect(await call('ZCOUNT', 'z', '\x001', '\x00')).toBe(1);
    expect(await call('ZRANGE', 'z', '-inf\x00x', '1', 'BYSCORE')).toEqual(['c', 'a']);
    expect(await call('ZREMRANGEBYSCORE', 'z', '2\x00', '2\x009')).toBe(1);
    expect(await call('HSCAN', 'h', '0\x00junk')).toEqual(['0', ['f', 'v']]);
    expect(await call('HSCAN', 'h', '\x00')).toEqual(['0', ['f', 'v']]);
    expect(((await call('SCAN', '0\x001')) as unknown[])[0]).toBe('0');
    expect(await call('SSCAN', 'nos', 'x\x000')).toBe('-ERR invalid cursor');
    // string2ll and getDoubleFromObject read the whole argument.
    expect(await call('ZADD', 'z', '1\x00', 'a')).toBe('-ERR value is not a valid float');
    expect(await call('LRANGE', 'l', '0\x00', '-1')).toBe('-ERR value is not an integer or out of range');
  });

  test('an option is its bytes up to the NUL, in any case', async () => {
    await call('SET', 'str', 'hello');
    await call('ZADD', 'z', '0', 'c', '1', 'a');
    await call('RPUSH', 'l', 'a', 'b', 'a');
    expect(await call('SET', 'str', 'v', 'get\x00x', 'EX\x00', '10')).toBe('hello');
    expect(await call('TTL', 'str')).toBe(10);
    expect(await call('ZADD', 'z', 'NX\x00', 'incr\x00y', '5', 'q')).toBe('5');
    expect(await call('ZRANGE', 'z', '0', '0', 'WITHSCORES\x00')).toEqual(['c', '0']);
    expect(await call('LPOS', 'l', 'a', 'RANK\x00', '2')).toBe(2);
    expect(await call('LINSERT', 'l', 'before\x00', 'b', 'x')).toBe(4);
    expect(await call('EXPIRE', 'str', '10', 'XX\x00')).toBe(1);
    expect(await call('SCAN', '0', 'TYPE', 'zset\x00x')).toEqual(['0', ['z']]);
    // A NUL first: the empty word, an option of no command.
    expect(await call('ZRANGE', 'z', '0', '-1', '\x00WITHSCORES')).toBe(SYNTAX);
  });

  test('an argument quoted in an error is printed up to its NUL', async () => {
    expect(await call('EXPIRE', 'str', '10', 'FOO\x00bar')).toBe('-ERR Unsupported option FOO');
    expect(await call('NOSUCH\x00x', 'a\x00b', 'c')).toBe("-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'c' ");
    expect(await call('OBJECT', 'FOO\x00x', 'k')).toBe("-ERR unknown subcommand 'FOO'. Try OBJECT HELP.");
    expect(await call('CONFIG', 'FOO\x00x')).toBe("-ERR unknown subcommand 'FOO'. Try CONFIG HELP.");
    // A subcommand is looked up by all its bytes.
    expect(await call('OBJECT', 'ENCODING\x00', 'k')).toBe("-ERR unknown subcommand 'ENCODING'. Try OBJECT HELP.");
  });
});

describe('CR and LF in an error', () => {
  test('are trimmed at its ends and each one inside is a blank, as addReplyErrorFormat does', async () => {
    expect(await call('NOSUCH\r\n', 'a\r\nb', '\n')).toBe("-ERR unknown command 'NOSUCH  ', with args beginning with: 'a  b' ' ' ");
    expect(await call('EXPIRE', 'str', '10', 'FOO\r\n\n')).toBe('-ERR Unsupported option FOO');
    expect(await call('EXPIRE', 'str', '10', '\r\nFOO\r')).toBe('-ERR Unsupported option   FOO');
    expect(await call('OBJECT', 'x\r\n\r\ny', 'k')).toBe("-ERR unknown subcommand 'x    y'. Try OBJECT HELP.");
    // Each reply is one line: the connection reads on.
    expect(await call('PING')).toBe('PONG');
  });
});

describe('ZINCRBY reads ZADD options', () => {
  test('an option word where the increment stands is a syntax error, before the key type or the numbers', async () => {
    await call('ZADD', 'z', '1', 'a');
    await call('SET', 'str', 'v');
    for (const key of ['z', 'str', 'nokey']) {
      for (const [o, m] of [['NX', '1'], ['xx', 'LT'], ['Incr', '1e3'], ['ch', 'a'], ['GT', 'x'], ['lt', 'nx']]) expect(await call('ZINCRBY', key, o, m)).toBe(SYNTAX);
    }
    expect(await call('ZINCRBY', 'z', '1', 'nx')).toBe('1');
    expect(await call('ZINCRBY', 'z', 'nan', 'a')).toBe('-ERR value is not a valid float');
    expect(await call('ZINCRBY', 'str', '1', 'a')).toBe(WRONGTYPE);
    expect(await call('ZSCORE', 'z', 'a')).toBe('1');
  });
});

describe('HRANDFIELD WITHVALUES and ZRANDMEMBER WITHSCORES', () => {
  test('refuse a count past LONG_MAX / 2 exactly, before the key is looked at', async () => {
    await call('SET', 'str', 'v');
    for (const [cmd, opt] of [['HRANDFIELD', 'WITHVALUES'], ['ZRANDMEMBER', 'WITHSCORES']]) {
      for (const key of ['nokey', 'str']) {
        // 2^62 and one past it are one double: the bound is compared as an integer.
        for (const n of ['-4611686018427387904', '-4611686018427387905', '4611686018427387904', '-9223372036854775807']) {
          expect(await call(cmd, key, n, opt)).toBe('-ERR value is out of range');
        }
        expect(await call(cmd, key, '-9223372036854775808', opt)).toBe(
          '-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807');
      }
      expect(await call(cmd, 'nokey', '-4611686018427387903', opt)).toEqual([]);
      expect(await call(cmd, 'nokey', '4611686018427387903', opt)).toEqual([]);
      expect(await call(cmd, 'str', '4611686018427387903', opt)).toBe(WRONGTYPE);
      expect(await call(cmd, 'nokey', '-4611686018427387904')).toEqual([]);
    }
  });
});

describe('GETRANGE with two negative indexes one apart past 2^53', () => {
  test('is empty when the start is after the end, as Redis compares them as integers', async () => {
    await call('SET', 'str', 'hello');
    for (const cmd of ['GETRANGE', 'SUBSTR']) {
      expect(await call(cmd, 'str', '-4611686018427387904', '-4611686018427387905')).toBe('');
      expect(await call(cmd, 'str', '-9223372036854775807', '-9223372036854775808')).toBe('');
      expect(await call(cmd, 'str', '-9007199254740993', '-9007199254740994')).toBe('');
      // The other way round: both clamp to the first byte.
      expect(await call(cmd, 'str', '-4611686018427387905', '-4611686018427387904')).toBe('h');
      expect(await call(cmd, 'str', '-6', '-7')).toBe('');
    }
  });
});
