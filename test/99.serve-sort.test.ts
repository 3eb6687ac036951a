// pmem serve's SORT and SORT_RO through a real client (ioredis): the sort
// orders (numbers, bytes, BY through strings and hash fields, GET, LIMIT,
// each type's own order with a BY that has no '*'), the errors, and STORE:
// the list it makes replaces any type and its TTL in one batch, survives a
// restart in order, wakes a blocked pop, and a STORE whose commit fails
// leaves the destination as it was. Redis's own unit/sort runs in
// `npm run test:redis`; scripts/redis-diff.js compares replies with
// redis-server's.

import { failNextBatch, watchBatches } from './fixtures/serve/batch';
import { ioredisServer } from './fixtures/serve/ioredis-server';
import { frame, RawClient } from './fixtures/serve/raw';

const srv = ioredisServer('sort.kv');

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 2));
}

describe('orders', () => {
  test('numbers, bytes, DESC and LIMIT over a list, a set and a sorted set', async () => {
    const r = srv.conn();
    await r.flushall();
    await r.rpush('n', '10', '2', '-1.5', '0x10', ' 3', '', '2');
    expect(await r.sort('n')).toEqual(['-1.5', '', '2', '2', ' 3', '10', '0x10']);
    expect(await r.sort('n', 'DESC', 'LIMIT', '1', '3')).toEqual(['10', ' 3', '2']);
    expect(await r.sort('n', 'ALPHA')).toEqual(['', ' 3', '-1.5', '0x10', '10', '2', '2']);
    await r.sadd('s', '30', '4', '-7');
    expect(await r.sort('s')).toEqual(['-7', '4', '30']);
    expect(await r.sort('s', 'ALPHA', 'DESC')).toEqual(['4', '30', '-7']);
    await r.zadd('z', '3', 'a', '1', 'b', '2', 'c');
    expect(await r.sort('z', 'ALPHA')).toEqual(['a', 'b', 'c']);
    // A BY with no '*': each type keeps its own order (a sorted set's by score), LIMIT and DESC applied to it.
    expect(await r.sort('z', 'BY', 'nosort')).toEqual(['b', 'c', 'a']);
    expect(await r.sort('z', 'BY', 'nosort', 'DESC', 'LIMIT', '0', '2')).toEqual(['a', 'c']);
    expect(await r.sort('n', 'BY', 'nosort', 'LIMIT', '1', '2')).toEqual(['2', '-1.5']);
    // LIMIT past either end is clamped; a count of 0 is nothing.
    expect(await r.sort('n', 'LIMIT', '-5', '2')).toEqual(['-1.5', '']);
    expect(await r.sort('n', 'LIMIT', '99', '2')).toEqual([]);
    expect(await r.sort('n', 'LIMIT', '0', '0')).toEqual([]);
    expect(await r.sort('nokey')).toEqual([]);
  });

  test('BY and GET through string keys and hash fields; missing values', async () => {
    const r = srv.conn();
    await r.flushall();
    await r.rpush('ids', '1', '2', '3', '4');
    await r.mset('w_1', '40', 'w_2', '10', 'w_3', '30', 'name_1', 'ann', 'name_3', 'cy');
    await r.hset('u_1', 'age', '9', 'name', 'A');
    await r.hset('u_2', 'age', '7');
    await r.hset('u_4', 'age', '8', 'name', 'D');
    // w_4 is missing: its weight is 0.
    expect(await r.sort('ids', 'BY', 'w_*')).toEqual(['4', '2', '3', '1']);
    // u_3 is missing: 0 again, first.
    expect(await r.sort('ids', 'BY', 'u_*->age')).toEqual(['3', '2', '4', '1']);
    // ALPHA with BY: a missing value sorts before every other (after them in DESC); equal ones keep the list's order.
    expect(await r.sort('ids', 'BY', 'name_*', 'ALPHA')).toEqual(['2', '4', '1', '3']);
    expect(await r.sort('ids', 'BY', 'name_*', 'ALPHA', 'DESC')).toEqual(['3', '1', '2', '4']);
    expect(await r.sort('ids', 'BY', 'w_*', 'GET', '#', 'GET', 'name_*', 'GET', 'u_*->name', 'LIMIT', '0', '2'))
      .toEqual(['4', null, 'D', '2', null, null]);
    // A GET pattern without '*' names no key; "->" with no field after it is part of the key's name.
    expect(await r.sort('ids', 'BY', 'nosort', 'GET', 'name_1', 'GET', 'u_*->', 'LIMIT', '0', '1')).toEqual([null, null]);
    // A BY or GET key of another type is missing: u_* is a hash, name_* strings.
    expect(await r.sort('ids', 'BY', 'nosort', 'GET', 'u_*', 'GET', 'name_*->x', 'LIMIT', '0', '1')).toEqual([null, null]);
    // SORT_RO sorts as SORT does.
    expect(await r.call('SORT_RO', 'ids', 'BY', 'w_*', 'DESC')).toEqual(['1', '3', '2', '4']);
    // COMMAND GETKEYS finds the sorted key and the last STORE.
    expect(await r.call('COMMAND', 'GETKEYS', 'SORT', 'ids', 'BY', 'store', 'STORE', 'a', 'STORE', 'b')).toEqual(['ids', 'b']);
    expect(await r.call('COMMAND', 'GETKEYS', 'SORT_RO', 'ids')).toEqual(['ids']);
  });

  test('errors: options before the key type, bad numbers, SORT_RO refuses STORE', async () => {
    const r = srv.conn();
    await r.flushall();
    await r.set('str', 'x');
    await r.rpush('l', 'a', 'b');
    await expect(r.sort('str')).rejects.toThrow(/^WRONGTYPE/);
    await expect(r.sort('str', 'LIMIT', 'x', '1')).rejects.toThrow('ERR value is not an integer or out of range');
    await expect(r.sort('l', 'LIMIT', '1')).rejects.toThrow('ERR syntax error');
    await expect(r.sort('l', 'BY')).rejects.toThrow('ERR syntax error');
    await expect(r.sort('l', 'ALPHA', 'nope')).rejects.toThrow('ERR syntax error');
    await expect(r.call('SORT_RO', 'l', 'STORE', 'd')).rejects.toThrow('ERR syntax error');
    await expect(r.sort('l')).rejects.toThrow("ERR One or more scores can't be converted into double");
    // A value out of a double's range, or a subnormal that strtod rounds, is refused; an exact subnormal is a number.
    await r.rpush('f', '1e309');
    await expect(r.sort('f')).rejects.toThrow(/can't be converted/);
    await r.del('f');
    await r.rpush('f', '1e-320');
    await expect(r.sort('f')).rejects.toThrow(/can't be converted/);
    await r.del('f');
    await r.rpush('f', '0x1p-1074', '-1');
    expect(await r.sort('f')).toEqual(['-1', '0x1p-1074']);
    // A sort that fails stores nothing.
    await r.set('dst', 'kept');
    await expect(r.sort('l', 'STORE', 'dst')).rejects.toThrow(/can't be converted/);
    expect(await r.get('dst')).toBe('kept');
  });
});

describe('STORE', () => {
  test('replaces a hash with a TTL by the list in one batch, and the list survives a restart in order', async () => {
    let r = srv.conn();
    await r.flushall();
    const n = 5000;
    const values = Array.from({ length: n }, (_, i) => String((i * 7919) % n));
    for (let i = 0; i < n; i += 1000) await r.rpush('big', ...values.slice(i, i + 1000));
    await r.hset('dst', 'f1', 'v1', 'f2', 'v2');
    await r.expire('dst', 1000);
    const batches: number[] = [];
    const stop = watchBatches(srv.server, (writes) => batches.push(writes.size));
    expect(await r.sort('big', 'STORE', 'dst')).toBe(n);
    stop();
    // One commit: the hash's META deleted, the list's META and its n elements written (the hash's fields go lazily, later).
    expect(batches.length).toBe(1);
    expect(batches[0]).toBeGreaterThanOrEqual(n + 2);
    expect(await r.ttl('dst')).toBe(-1);
    const sorted = [...values].sort((a, b) => Number(a) - Number(b));
    expect(await r.lrange('dst', 0, -1)).toEqual(sorted);
    await srv.restart();
    r = srv.conn();
    expect(await r.type('dst')).toBe('list');
    expect(await r.ttl('dst')).toBe(-1);
    expect(await r.lrange('dst', 0, -1)).toEqual(sorted);
    expect(await r.dbsize()).toBe(2);
  });

  test('an empty result deletes the destination; a missing GET value is stored as an empty string', async () => {
    const r = srv.conn();
    await r.flushall();
    await r.rpush('l', 'b', 'a');
    await r.set('dst', 'old');
    expect(await r.sort('nokey', 'STORE', 'dst')).toBe(0);
    expect(await r.exists('dst')).toBe(0);
    expect(await r.sort('l', 'ALPHA', 'GET', '#', 'GET', 'missing_*', 'STORE', 'dst')).toBe(4);
    expect(await r.lrange('dst', 0, -1)).toEqual(['a', '', 'b', '']);
    // The sorted key may be its own destination.
    expect(await r.sort('l', 'ALPHA', 'DESC', 'STORE', 'l')).toBe(2);
    expect(await r.lrange('l', 0, -1)).toEqual(['b', 'a']);
  });

  test('a STORE wakes a client blocked on the destination', async () => {
    const r = srv.conn();
    await r.flushall();
    await r.rpush('src', 'y', 'x');
    const b = srv.conn();
    const popped = b.blpop('woken', 0);
    await until(() => srv.server.blocking.blockedClients === 1);
    expect(await r.sort('src', 'ALPHA', 'STORE', 'woken')).toBe(2);
    expect(await popped).toEqual(['woken', 'x']);
    expect(await r.lrange('woken', 0, -1)).toEqual(['y']);
  });

  test('a STORE whose commit fails is not answered, and leaves the destination as it was, also after a restart', async () => {
    let r = srv.conn();
    await r.flushall();
    await r.rpush('src', '3', '1', '2');
    await r.sadd('dst', 'm');
    const p = new RawClient(srv.port);
    await p.ready;
    const failed = failNextBatch(srv.server);
    p.send(frame('SORT', 'src', 'STORE', 'dst'));
    // A failed commit's replies are never sent: the connection closes.
    expect(await p.read()).toBeNull();
    expect(failed()).toBe(1);
    expect(await r.type('dst')).toBe('set');
    expect(await r.smembers('dst')).toEqual(['m']);
    await srv.restart();
    r = srv.conn();
    expect(await r.type('dst')).toBe('set');
    expect(await r.smembers('dst')).toEqual(['m']);
  });
});
