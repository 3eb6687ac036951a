// pmem serve's hashes and sets through a real client (ioredis): the
// commands and their errors, WRONGTYPE both ways, the generic key commands
// on collections, a restart that recovers every collection, and a DEL of a
// 100k-element hash whose elements are freed in bounded steps while other
// clients are served.
import * as fs from 'node:fs';

import Redis from 'ioredis';

import { createServer, type RespServer } from '../lib';
import { NS_ELEMENT } from '../lib/server/collections';
import { listenOutsideEphemeral, relisten } from './fixtures/serve/relisten';
import { tmpFile } from './helpers';

let file: string;
let server: RespServer;
let port: number;
let r: Redis;

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** The lazy free is done: no garbage left, and its last deletes committed (a timer may run between a step and its commit). */
const freed = (): boolean => server.keyspace.garbage.pending === 0 && !server.keyspace.hasPending;

async function restart(): Promise<void> {
  await server.close();
  server = createServer({ file });
  await relisten(server, port);
}

/** Element records in the store. */
function elementRecords(): number {
  let n = 0;
  for (const _ of server.store.keys({ prefix: Buffer.from([NS_ELEMENT]) })) n++;
  return n;
}

async function info(field: string): Promise<number> {
  const text = await r.info('memory');
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(text);
  if (m === null) throw new Error(`INFO has no ${field}`);
  return Number(m[1]);
}

beforeAll(async () => {
  file = tmpFile('types.kv');
  server = createServer({ file });
  port = await listenOutsideEphemeral(server);
  r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 50, retryStrategy: () => 20 });
});

afterAll(async () => {
  r.disconnect();
  await server.close();
  fs.rmSync(file, { force: true });
});

beforeEach(async () => {
  await r.flushall();
  await until(freed);
});

describe('hashes', () => {
  test('set, get, delete, count; the last field deleted deletes the key', async () => {
    expect(await r.hset('h', 'a', '1', 'b', '2', 'c', '3')).toBe(3);
    expect(await r.hset('h', 'a', 'one', 'd', '4')).toBe(1);
    expect(await r.hsetnx('h', 'a', 'x')).toBe(0);
    expect(await r.hsetnx('h', 'e', '5')).toBe(1);
    expect(await r.hget('h', 'a')).toBe('one');
    expect(await r.hmget('h', 'a', 'zz', 'd')).toEqual(['one', null, '4']);
    expect(await r.hgetall('h')).toEqual({ a: 'one', b: '2', c: '3', d: '4', e: '5' });
    expect((await r.hkeys('h')).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect((await r.hvals('h')).sort()).toEqual(['2', '3', '4', '5', 'one']);
    expect(await r.hlen('h')).toBe(5);
    expect(await r.hexists('h', 'b')).toBe(1);
    expect(await r.hstrlen('h', 'a')).toBe(3);
    expect(await r.hdel('h', 'a', 'b', 'nope')).toBe(2);
    expect(await r.hdel('h', 'c', 'd', 'e')).toBe(3);
    expect(await r.exists('h')).toBe(0);
    expect(await r.hmset('h', 'x', '1')).toBe('OK');
    expect(await r.type('h')).toBe('hash');
  });

  test('HINCRBY, HINCRBYFLOAT and their errors', async () => {
    expect(await r.hincrby('n', 'i', 5)).toBe(5);
    expect(await r.hincrby('n', 'i', -7)).toBe(-2);
    expect(await r.hincrbyfloat('n', 'f', '1.1')).toBe('1.1');
    expect(await r.hincrbyfloat('n', 'f', '1')).toBe('2.1');
    await r.hset('n', 's', 'text', 'big', '9223372036854775807');
    await expect(r.hincrby('n', 's', 1)).rejects.toThrow('ERR hash value is not an integer');
    await expect(r.hincrby('n', 'big', 1)).rejects.toThrow('ERR increment or decrement would overflow');
    await expect(r.hincrby('n', 'i', 'x' as unknown as number)).rejects.toThrow('ERR value is not an integer or out of range');
    await expect(r.hincrbyfloat('n', 's', '1')).rejects.toThrow('ERR hash value is not a float');
    await expect(r.hincrbyfloat('n', 'f', 'inf')).rejects.toThrow('ERR value is NaN or Infinity');
    await expect(r.hincrbyfloat('n', 'f', 'abc')).rejects.toThrow('ERR value is not a valid float');
    await expect(r.call('hset', 'n', 'a')).rejects.toThrow("ERR wrong number of arguments for 'hset' command");
    await expect(r.call('hset', 'n', 'a', '1', 'b')).rejects.toThrow("ERR wrong number of arguments for 'hset' command");
    await expect(r.hset('n', 'f'.repeat(5000), 'v')).rejects.toThrow('ERR field is 5000 bytes; the limit is 4087');
    // A failed command on a missing key creates nothing.
    await expect(r.hincrbyfloat('none', 'f', 'nan')).rejects.toThrow();
    expect(await r.exists('none')).toBe(0);
  });

  test('HRANDFIELD with counts, and HSCAN of a big hash', async () => {
    const fields: string[] = [];
    for (let i = 0; i < 1000; i++) fields.push(`f${i}`, `v${i}`);
    await r.hset('big', ...fields);
    expect(await r.call('object', 'encoding', 'big')).toBe('hashtable');
    const five = (await r.hrandfield('big', 5)) as string[];
    expect(new Set(five).size).toBe(5);
    expect(((await r.hrandfield('big', -3000)) as string[]).length).toBe(3000);
    const withValues = (await r.hrandfield('big', 3, 'WITHVALUES')) as string[];
    expect(withValues.length).toBe(6);
    expect(withValues[1]).toBe(`v${withValues[0].slice(1)}`);
    expect(((await r.hrandfield('big', 5000)) as string[]).length).toBe(1000);
    expect(await r.hrandfield('missing')).toBeNull();
    await expect(r.call('hrandfield', 'big', '1', 'x')).rejects.toThrow('ERR syntax error');
    await expect(r.call('hrandfield', 'big', '-9223372036854775808')).rejects.toThrow('value is out of range');
    const seen = new Map<string, string>();
    let cursor = '0';
    let calls = 0;
    do {
      const [next, items] = await r.hscan('big', cursor, 'COUNT', 100);
      for (let i = 0; i < items.length; i += 2) seen.set(items[i], items[i + 1]);
      cursor = next;
      calls++;
    } while (cursor !== '0');
    expect(seen.size).toBe(1000);
    expect(seen.get('f999')).toBe('v999');
    expect(calls).toBeGreaterThan(5);
    await r.hset('small', 'a', '1', 'b', '2');
    expect(await r.call('object', 'encoding', 'small')).toBe('listpack');
    expect(await r.hscan('small', '0', 'MATCH', 'a*')).toEqual(['0', ['a', '1']]);
    await expect(r.call('hscan', 'small', 'x')).rejects.toThrow('ERR invalid cursor');
  });
});

describe('sets', () => {
  test('add, remove, members, moves', async () => {
    expect(await r.sadd('s', 'a', 'b', 'c', 'a')).toBe(3);
    expect(await r.scard('s')).toBe(3);
    expect(await r.sismember('s', 'b')).toBe(1);
    expect(await r.smismember('s', 'a', 'z')).toEqual([1, 0]);
    expect((await r.smembers('s')).sort()).toEqual(['a', 'b', 'c']);
    expect(await r.smove('s', 't', 'a')).toBe(1);
    expect(await r.smove('s', 't', 'zz')).toBe(0);
    expect(await r.smembers('t')).toEqual(['a']);
    expect(await r.srem('s', 'b', 'c', 'd')).toBe(2);
    expect(await r.exists('s')).toBe(0);
    await r.sadd('ints', '1', '2', '3');
    expect(await r.call('object', 'encoding', 'ints')).toBe('intset');
    await r.sadd('ints', 'x');
    expect(await r.call('object', 'encoding', 'ints')).toBe('hashtable');
  });

  test('small collections come from the SCAN family whole, in their encoding\'s order: a listpack\'s, an intset\'s ascending, a sorted set\'s by score', async () => {
    await r.hset('hs', 'c', '1', 'a', '2', 'b', '3');
    expect(await r.hscan('hs', '7')).toEqual(['0', ['c', '1', 'a', '2', 'b', '3']]);
    expect(await r.hscan('hs', '0', 'MATCH', '[ab]')).toEqual(['0', ['a', '2', 'b', '3']]);
    expect(await r.hgetall('hs')).toEqual({ c: '1', a: '2', b: '3' });
    await r.sadd('is', '10', '-5', '3', '9223372036854775807', '-9223372036854775808');
    const ascending = ['-9223372036854775808', '-5', '3', '10', '9223372036854775807'];
    expect(await r.sscan('is', '0', 'COUNT', '1')).toEqual(['0', ascending]);
    expect(await r.smembers('is')).toEqual(ascending);
    await r.zadd('zs', '3', 'c', '1', 'b', '1', 'a', '2', 'd');
    expect(await r.zscan('zs', '0')).toEqual(['0', ['a', '1', 'b', '1', 'd', '2', 'c', '3']]);
  });

  test('SPOP and SRANDMEMBER with counts', async () => {
    const members = Array.from({ length: 50 }, (_, i) => `m${i}`);
    await r.sadd('p', ...members);
    const popped = await r.spop('p', 10);
    expect(new Set(popped).size).toBe(10);
    expect(await r.scard('p')).toBe(40);
    for (const m of popped) expect(await r.sismember('p', m)).toBe(0);
    expect((await r.srandmember('p', 5)) as string[]).toHaveLength(5);
    expect((await r.srandmember('p', -100)) as string[]).toHaveLength(100);
    expect((await r.srandmember('p', 1000)) as string[]).toHaveLength(40);
    await expect(r.call('spop', 'p', '-1')).rejects.toThrow('ERR value is out of range, must be positive');
    expect((await r.spop('p', 100)).length).toBe(40);
    expect(await r.exists('p')).toBe(0);
    expect(await r.spop('p')).toBeNull();
  });

  test('SINTER, SUNION, SDIFF, their STORE forms and SINTERCARD', async () => {
    await r.sadd('a', '1', '2', '3', '4');
    await r.sadd('b', '3', '4', '5');
    expect((await r.sinter('a', 'b')).sort()).toEqual(['3', '4']);
    expect((await r.sunion('a', 'b')).sort()).toEqual(['1', '2', '3', '4', '5']);
    expect((await r.sdiff('a', 'b')).sort()).toEqual(['1', '2']);
    expect(await r.sinter('a', 'missing')).toEqual([]);
    expect(await r.sintercard(2, 'a', 'b')).toBe(2);
    expect(await r.call('sintercard', '2', 'a', 'b', 'LIMIT', '1')).toBe(1);
    await expect(r.call('sintercard', '0', 'a')).rejects.toThrow('ERR numkeys should be greater than 0');
    await expect(r.call('sintercard', '3', 'a', 'b')).rejects.toThrow("ERR Number of keys can't be greater than number of args");
    await expect(r.call('sintercard', '1', 'a', 'LIMIT', '-1')).rejects.toThrow("ERR LIMIT can't be negative");
    await r.set('dst', 'a string');
    await r.expire('dst', 100);
    expect(await r.sinterstore('dst', 'a', 'b')).toBe(2);
    expect(await r.type('dst')).toBe('set');
    expect(await r.ttl('dst')).toBe(-1);
    expect(await r.sunionstore('dst', 'a', 'b')).toBe(5);
    expect(await r.sdiffstore('a', 'a', 'b')).toBe(2);
    expect((await r.smembers('a')).sort()).toEqual(['1', '2']);
    expect(await r.sinterstore('dst', 'a', 'missing')).toBe(0);
    expect(await r.exists('dst')).toBe(0);
  });
});

test('a negative count past the output limit disconnects that client, not the server', async () => {
  const f = tmpFile('limit.kv');
  const small = createServer({ file: f, maxOutput: 1024 * 1024 });
  const p = await small.listen(0);
  const a = new Redis({ port: p, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
  const b = new Redis({ port: p, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await a.sadd('s', 'x', 'y');
    await a.hset('h', 'f', 'v');
    expect(((await a.srandmember('s', -1000)) as string[]).length).toBe(1000);
    await expect(a.srandmember('s', -100_000_000)).rejects.toThrow('Connection is closed');
    await expect(b.call('hrandfield', 'h', '-100000000', 'WITHVALUES')).rejects.toThrow('Connection is closed');
    const c = new Redis({ port: p, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await c.zadd('z', 1, 'a', 2, 'b');
      expect(((await c.zrandmember('z', -1000, 'WITHSCORES')) as string[]).length).toBe(2000);
      await expect(c.call('zrandmember', 'z', '-100000000', 'WITHSCORES')).rejects.toThrow('Connection is closed');
    } finally {
      c.disconnect();
    }
    const d = new Redis({ port: p, host: '127.0.0.1' });
    try {
      expect(await d.ping()).toBe('PONG');
      expect(await d.scard('s')).toBe(2);
    } finally {
      d.disconnect();
    }
  } finally {
    a.disconnect();
    b.disconnect();
    await small.close();
    fs.rmSync(f, { force: true });
  }
});

describe('types meet', () => {
  test('WRONGTYPE both ways, checked before any write', async () => {
    await r.set('str', 'v');
    await r.hset('hash', 'f', 'v');
    await r.sadd('set', 'm');
    for (const p of [r.hset('str', 'f', 'v'), r.hget('set', 'f'), r.sadd('hash', 'm'), r.smembers('str'), r.get('hash'), r.incr('set'),
      r.sunionstore('dst', 'set', 'hash'), r.smove('set', 'hash', 'm'), r.hincrbyfloat('set', 'f', '1')]) {
      await expect(p).rejects.toThrow('WRONGTYPE Operation against a key holding the wrong kind of value');
    }
    expect(await r.exists('dst')).toBe(0);
    expect(await r.smembers('set')).toEqual(['m']);
    expect(await r.hgetall('hash')).toEqual({ f: 'v' });
    // SET overwrites any type.
    expect(await r.set('hash', 'now a string')).toBe('OK');
    expect(await r.type('hash')).toBe('string');
  });

  test('generic commands on collections: RENAME, MOVE, COPY, EXPIRE, SCAN TYPE, SWAPDB, RANDOMKEY, DBSIZE', async () => {
    await r.hset('h', 'a', '1', 'b', '2');
    await r.sadd('s', 'x', 'y');
    await r.set('str', 'v');
    expect(await r.rename('h', 'h2')).toBe('OK');
    expect(await r.hgetall('h2')).toEqual({ a: '1', b: '2' });
    expect(await r.renamenx('s', 'str')).toBe(0);
    expect(await r.rename('s', 'str')).toBe('OK');
    expect((await r.smembers('str')).sort()).toEqual(['x', 'y']);
    expect(await r.copy('h2', 'hc')).toBe(1);
    await r.hset('hc', 'a', 'changed');
    expect(await r.hget('h2', 'a')).toBe('1');
    expect(await r.call('copy', 'h2', 'hc', 'DB', '1', 'REPLACE')).toBe(1);
    expect(await r.move('hc', 1)).toBe(0);
    expect(await r.move('str', 2)).toBe(1);
    expect(await r.dbsize()).toBe(2);
    const [, keys] = await r.scan('0', 'COUNT', 100, 'TYPE', 'hash');
    expect(keys.sort()).toEqual(['h2', 'hc']);
    await r.swapdb(0, 2);
    expect((await r.smembers('str')).sort()).toEqual(['x', 'y']);
    expect(await r.exists('h2')).toBe(0);
    await r.swapdb(0, 2);
    expect(await r.hget('h2', 'b')).toBe('2');
    expect(['h2', 'hc']).toContain(await r.randomkey());
    await r.pexpire('hc', 1);
    await until(() => server.keyspace.dbs[0].size === 1);
    expect(await r.exists('hc')).toBe(0);
    await until(freed);
    // Only h2's two fields are left in db 0; db 1 holds hc's copy, db 2 the set.
    expect(elementRecords()).toBe(2 + 2 + 2);
    expect(await r.flushall()).toBe('OK');
    await until(freed);
    expect(elementRecords()).toBe(0);
  });

  test('a restart recovers every collection, with its TTL and encoding', async () => {
    const fields: string[] = [];
    for (let i = 0; i < 600; i++) fields.push(`f${i}`, `value ${i}`);
    await r.hset('bighash', ...fields);
    await r.hset('smallhash', 'a', '1');
    await r.sadd('ints', '1', '2', '3');
    await r.sadd('words', 'x', 'y', 'z');
    await r.expire('words', 1000);
    await r.select(3);
    await r.sadd('other', 'in db 3');
    await r.select(0);
    await r.del('smallhash'); // its element is freed lazily, or found orphaned at open
    const before = { big: await r.hgetall('bighash'), ints: await r.smembers('ints'), words: await r.smembers('words') };
    await restart();
    expect(await r.hgetall('bighash')).toEqual(before.big);
    expect((await r.smembers('ints')).sort()).toEqual(before.ints.sort());
    expect((await r.smembers('words')).sort()).toEqual(before.words.sort());
    expect(await r.ttl('words')).toBeGreaterThan(900);
    expect(await r.exists('smallhash')).toBe(0);
    expect(await r.call('object', 'encoding', 'bighash')).toBe('hashtable');
    expect(await r.call('object', 'encoding', 'ints')).toBe('intset');
    await r.select(3);
    expect(await r.smembers('other')).toEqual(['in db 3']);
    await r.select(0);
    await until(freed);
    expect(elementRecords()).toBe(600 + 3 + 3 + 1);
    // New generations after the restart do not collide with recovered ones.
    await r.hset('fresh', 'k', 'v');
    await restart();
    expect(await r.hgetall('fresh')).toEqual({ k: 'v' });
    expect(await r.hlen('bighash')).toBe(600);
  });
});

describe('lazy free', () => {
  /**
   * DELs a 100k-field hash, lets one free step run and holds the next ones
   * until another client's PING is answered. @returns what the PING saw
   */
  async function delThenPing(): Promise<{ steps: number; recordsAtPing: number; pendingAtPing: number; pong: string }> {
    const N = 100_000;
    for (let i = 0; i < N; i += 5000) {
      const args: string[] = [];
      for (let j = i; j < i + 5000; j++) args.push(`field:${j}`, `${j}`);
      await r.hset('huge', ...args);
    }
    expect(elementRecords()).toBe(N);
    const lf = server.lazyfree;
    const realStep = lf.step.bind(lf);
    let steps = 0;
    let hold = true;
    lf.step = () => {
      if (hold && steps >= 1) return 0; // held: nothing freed, no step scheduled
      steps++;
      return realStep();
    };
    try {
      expect(await r.del('huge')).toBe(1);
      expect(await r.exists('huge')).toBe(0);
      await until(() => steps >= 1);
      const other = new Redis({ port, host: '127.0.0.1' });
      try {
        const pong = await other.ping();
        const recordsAtPing = elementRecords();
        const pendingAtPing = await info('lazyfree_pending_objects');
        hold = false;
        lf.kick();
        await until(() => server.keyspace.garbage.pending === 0 && !server.keyspace.hasPending);
        return { steps, recordsAtPing, pendingAtPing, pong };
      } finally {
        other.disconnect();
      }
    } finally {
      lf.step = realStep;
    }
  }

  test('a DEL of 100k elements answers at once; the elements go in bounded steps while another client is served', async () => {
    const freedBefore = server.keyspace.garbage.freed;
    const got = await delThenPing();
    expect(got.pong).toBe('PONG');
    // The PING was answered after the first step and before the last: elements of the DEL were still there.
    expect(got.recordsAtPing).toBeGreaterThan(0);
    expect(got.recordsAtPing).toBeLessThan(100_000);
    expect(got.pendingAtPing).toBe(1);
    expect(got.steps).toBeGreaterThanOrEqual(100);
    expect(elementRecords()).toBe(0);
    expect(server.keyspace.garbage.freed - freedBefore).toBe(100_000);
  });

  test('broken variant: a free that takes everything in one step leaves nothing for the PING to see', async () => {
    const g = server.keyspace.garbage;
    const take = g.take.bind(g);
    g.take = () => take(Number.MAX_SAFE_INTEGER);
    try {
      const got = await delThenPing();
      expect(got.recordsAtPing).toBe(0);
      expect(got.steps).toBe(1);
    } finally {
      g.take = take;
    }
  });
});
