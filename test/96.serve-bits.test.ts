// pmem serve's bitmap commands through a real client (ioredis): BITCOUNT,
// BITPOS, BITOP and BITFIELD over values in bytes and bits, their errors,
// what a change writes (the whole value, one record, durable before the
// reply and after a restart) and what a change of nothing does not (no
// write, no event, no failed WATCH). Redis's own unit/bitops and
// unit/bitfield run in `npm run test:redis`; scripts/redis-diff.js
// compares replies with redis-server's.

import { failNextBatch } from './fixtures/serve/batch';
import { ioredisServer } from './fixtures/serve/ioredis-server';
import { frame, RawClient } from './fixtures/serve/raw';

const srv = ioredisServer('bits.kv');

const bytes = (...b: number[]): Buffer => Buffer.from(b);

test('BITCOUNT and BITPOS over bytes and bits, with ranges from either end', async () => {
  const r = srv.conn();
  await r.flushall();
  await r.set('b', bytes(0xff, 0xf0, 0x00, 0x01, 0x80));
  expect(await r.bitcount('b')).toBe(14);
  expect(await r.bitcount('b', 1, 3)).toBe(5);
  expect(await r.call('BITCOUNT', 'b', '4', '11', 'BIT')).toBe(8);
  expect(await r.call('BITCOUNT', 'b', '-9', '-1', 'BIT')).toBe(2);
  expect(await r.bitcount('nokey')).toBe(0);
  expect(await r.bitpos('b', 0)).toBe(12);
  expect(await r.bitpos('b', 1, 2)).toBe(31);
  expect(await r.call('BITPOS', 'b', '1', '13', '30', 'BIT')).toBe(-1);
  expect(await r.call('BITPOS', 'b', '1', '13', '31', 'BIT')).toBe(31);
  // A missing key is all 0 bits; 0 bits past a string's end count unless the range has an end.
  expect(await r.bitpos('nokey', 0)).toBe(0);
  expect(await r.bitpos('nokey', 1)).toBe(-1);
  await r.set('ones', bytes(0xff, 0xff));
  expect(await r.bitpos('ones', 0)).toBe(16);
  expect(await r.bitpos('ones', 0, 0, -1)).toBe(-1);
  // Large values: aligned words skipped whole, the edges bit by bit.
  const big = Buffer.alloc(1 << 20);
  big[big.length - 3] = 0x10;
  await r.set('big', big);
  expect(await r.bitpos('big', 1)).toBe((big.length - 3) * 8 + 3);
  expect(await r.bitcount('big')).toBe(1);
  big.fill(0xff);
  await r.set('big', big);
  expect(await r.bitcount('big')).toBe(big.length * 8);
  expect(await r.bitpos('big', 0)).toBe(big.length * 8);
  expect(await r.call('BITPOS', 'big', '0', '5', '-2', 'BIT')).toBe(-1);
});

test('errors, in the order Redis checks them', async () => {
  const r = srv.conn();
  await r.flushall();
  await r.set('b', 'x');
  await r.rpush('l', 'a');
  await expect(r.call('BITCOUNT', 'b', '1')).rejects.toThrow('ERR syntax error');
  await expect(r.call('BITCOUNT', 'b', '0', '1', 'BITS')).rejects.toThrow('ERR syntax error');
  await expect(r.call('BITCOUNT', 'l')).rejects.toThrow(/^WRONGTYPE/);
  await expect(r.call('BITPOS', 'b', '2')).rejects.toThrow('ERR The bit argument must be 1 or 0.');
  await expect(r.call('BITOP', 'NOT', 'd', 'b', 'b')).rejects.toThrow('ERR BITOP NOT must be called with a single source key.');
  await expect(r.call('BITOP', 'NAND', 'd', 'b')).rejects.toThrow('ERR syntax error');
  await expect(r.call('BITOP', 'AND', 'd', 'b', 'l')).rejects.toThrow(/^WRONGTYPE/);
  await expect(r.call('BITFIELD', 'b', 'GET', 'u64', '0')).rejects.toThrow(/Invalid bitfield type/);
  await expect(r.call('BITFIELD', 'b', 'OVERFLOW', 'NOPE')).rejects.toThrow('ERR Invalid OVERFLOW type specified');
  await expect(r.call('BITFIELD', 'b', 'GET', 'u8', '-1')).rejects.toThrow('ERR bit offset is not an integer or out of range');
  await expect(r.call('BITFIELD_RO', 'b', 'SET', 'u8', '0', '1')).rejects.toThrow('ERR BITFIELD_RO only supports the GET subcommand');
  await expect(r.call('BITFIELD', 'l', 'GET', 'u8', '0')).rejects.toThrow(/^WRONGTYPE/);
  // A bit offset past proto-max-bulk-len (64 MiB) is out of range; growing a string past its limit is refused with nothing written.
  await expect(r.call('GETBIT', 'b', String(64 * 2 ** 20 * 8))).rejects.toThrow('ERR bit offset is not an integer or out of range');
  await expect(r.call('SETBIT', 'b', String(64 * 2 ** 20 * 8 - 1), '1')).rejects.toThrow('ERR string exceeds maximum allowed size');
  await expect(r.call('BITFIELD', 'b', 'SET', 'u8', String(64 * 2 ** 20 * 8 - 8), '1')).rejects.toThrow('ERR string exceeds maximum allowed size');
  expect(await r.get('b')).toBe('x');
});

test('BITOP and BITFIELD results survive a restart; BITOP replaces any type and its TTL', async () => {
  let r = srv.conn();
  await r.flushall();
  await r.set('a', bytes(0xf0, 0x0f, 0xaa));
  await r.set('b', bytes(0xff));
  await r.hset('dst', 'f', 'v');
  await r.expire('dst', 1000);
  expect(await r.call('BITOP', 'AND', 'dst', 'a', 'b', 'nokey')).toBe(3);
  expect(await r.call('BITOP', 'XOR', 'x', 'a', 'b')).toBe(3);
  expect(await r.call('BITFIELD', 'f', 'SET', 'i8', '#1', '-2', 'OVERFLOW', 'SAT', 'INCRBY', 'u4', '0', '99', 'OVERFLOW', 'FAIL', 'INCRBY', 'i8', '#1', '-127')).toEqual([0, 15, null]);
  await srv.restart();
  r = srv.conn();
  expect(await r.type('dst')).toBe('string');
  expect(await r.ttl('dst')).toBe(-1);
  expect(await r.getBuffer('dst')).toEqual(bytes(0, 0, 0));
  expect(await r.getBuffer('x')).toEqual(bytes(0x0f, 0x0f, 0xaa));
  expect(await r.getBuffer('f')).toEqual(bytes(0xf0, 0xfe));
  expect(await r.call('BITFIELD_RO', 'f', 'GET', 'i8', '8', 'GET', 'u4', '0')).toEqual([-2, 15]);
  // An empty result deletes the destination.
  expect(await r.call('BITOP', 'OR', 'x', 'nokey')).toBe(0);
  expect(await r.exists('x')).toBe(0);
});

test('a change of nothing writes nothing and fails no WATCH; a change is one durable write', async () => {
  const r = srv.conn();
  await r.flushall();
  await r.set('k', bytes(0x80));
  expect(await srv.commits(() => r.setbit('k', 0, 1))).toBe(0);
  expect(await srv.commits(() => r.call('BITFIELD', 'k', 'SET', 'u1', '0', '1'))).toBe(0);
  const w = srv.conn();
  await w.watch('k');
  await r.setbit('k', 0, 1);
  await r.call('BITFIELD', 'k', 'SET', 'u4', '0', '8');
  expect(await w.multi().set('other', '1').exec()).not.toBeNull();
  await w.watch('k');
  expect(await srv.commits(() => r.setbit('k', 1, 1))).toBe(1);
  expect(await w.multi().set('other', '2').exec()).toBeNull();
  // A key made by a BITFIELD whose every operation failed is written, zeroed, as Redis makes it.
  expect(await r.call('BITFIELD', 'z', 'OVERFLOW', 'FAIL', 'SET', 'u2', '10', '9')).toEqual([null]);
  expect(await r.getBuffer('z')).toEqual(bytes(0, 0));
});

test('a SETBIT whose commit fails is not answered and leaves the value as it was', async () => {
  const r = srv.conn();
  await r.flushall();
  await r.set('k', bytes(0x00));
  const p = new RawClient(srv.port);
  await p.ready;
  const failed = failNextBatch(srv.server);
  p.send(frame('SETBIT', 'k', '3', '1'));
  expect(await p.read()).toBeNull();
  expect(failed()).toBe(1);
  expect(await r.getBuffer('k')).toEqual(bytes(0x00));
});
