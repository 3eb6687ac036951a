// pmem serve's HyperLogLog commands through a real client (ioredis): PFADD,
// PFCOUNT and PFMERGE over Redis's own representation (a value Redis
// 7.0.15 wrote, byte for byte), what a change writes (the whole value, one
// record, durable before the reply and after a restart), what a PFADD that
// changes no register and a PFCOUNT of a cached cardinality do not write,
// the errors, and a failed commit. Redis's own unit/hyperloglog runs in
// `npm run test:redis`; scripts/redis-diff.js compares replies and bytes
// with redis-server's.

import { failNextBatch } from './fixtures/serve/batch';
import { ioredisServer } from './fixtures/serve/ioredis-server';
import { frame, RawClient } from './fixtures/serve/raw';

const srv = ioredisServer('hll.kv');

const HEADER = (enc: number, card: number[]): Buffer => Buffer.concat([Buffer.from('HYLL'), Buffer.from([enc, 0, 0, 0, ...card])]);
const elements = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `el-${from + i}`);

test("Redis 7.0.15's bytes: PFADD a b c, and its cached cardinality after PFCOUNT", async () => {
  const r = srv.conn();
  await r.flushall();
  // What redis-srv.server 7.0.15 holds after the same commands (GETRANGE k 0 -1).
  const regs = Buffer.from([0x60, 0xf3, 0x80, 0x50, 0xb1, 0x84, 0x4b, 0xfb, 0x80, 0x42, 0x5a]);
  expect(await r.pfadd('k', 'a', 'b', 'c')).toBe(1);
  expect(await r.getBuffer('k')).toEqual(Buffer.concat([HEADER(1, [0, 0, 0, 0, 0, 0, 0, 0x80]), regs]));
  expect(await r.pfcount('k')).toBe(3);
  expect(await r.getBuffer('k')).toEqual(Buffer.concat([HEADER(1, [3, 0, 0, 0, 0, 0, 0, 0]), regs]));
  // An empty HLL: one XZERO of 16384 registers.
  expect(await r.pfadd('e')).toBe(1);
  expect(await r.getBuffer('e')).toEqual(Buffer.concat([HEADER(1, [0, 0, 0, 0, 0, 0, 0, 0x80]), Buffer.from([0x7f, 0xff])]));
  expect(await r.pfcount('e')).toBe(0);
});

test('sparse, dense and merged values survive a restart byte for byte, with their cached cardinalities', async () => {
  let r = srv.conn();
  await r.flushall();
  await r.pfadd('small', ...elements(0, 50));
  for (let i = 0; i < 5000; i += 500) await r.pfadd('big', ...elements(i, 500));
  await r.pfmerge('merged', 'small', 'big');
  await r.pfmerge('sparse-merged', 'small', 'nokey');
  await r.expire('big', 1000);
  expect(await r.call('PFDEBUG', 'ENCODING', 'small')).toBe('sparse');
  expect(await r.call('PFDEBUG', 'ENCODING', 'big')).toBe('dense');
  expect(await r.call('PFDEBUG', 'ENCODING', 'merged')).toBe('dense');
  expect(await r.call('PFDEBUG', 'ENCODING', 'sparse-merged')).toBe('sparse');
  expect((await r.getBuffer('big'))?.length).toBe(16 + 12288);
  const counts = [await r.pfcount('small'), await r.pfcount('big'), await r.pfcount('merged')];
  expect(Math.abs(counts[0] - 50)).toBeLessThanOrEqual(2);
  expect(Math.abs(counts[1] - 5000) / 5000).toBeLessThan(0.05);
  expect(counts[2]).toBe(counts[1]);
  const keys = ['small', 'big', 'merged', 'sparse-merged'];
  const before = await Promise.all(keys.map((k) => r.getBuffer(k)));
  // The cache written by PFCOUNT is in the values (bit 63 clear).
  for (const v of before.slice(0, 3)) expect((v as Buffer)[15] & 0x80).toBe(0);
  await srv.restart();
  r = srv.conn();
  expect(await Promise.all(keys.map((k) => r.getBuffer(k)))).toEqual(before);
  expect(await r.ttl('big')).toBeGreaterThan(0);
  expect([await r.pfcount('small'), await r.pfcount('big'), await r.pfcount('merged')]).toEqual(counts);
  expect(await r.pfcount('small', 'big', 'sparse-merged')).toBe(counts[1]);
});

test('a PFADD that changes no register writes nothing; a cached PFCOUNT writes nothing; a recount is one write', async () => {
  const r = srv.conn();
  await r.flushall();
  await r.pfadd('h', 'a', 'b', 'c');
  expect(await srv.commits(async () => expect(await r.pfadd('h', 'a', 'b', 'c')).toBe(0))).toBe(0);
  expect(await srv.commits(async () => expect(await r.pfadd('h')).toBe(0))).toBe(0);
  expect(await srv.commits(() => r.pfadd('h', 'd'))).toBe(1);
  expect(await srv.commits(() => r.pfcount('h'))).toBe(1);
  expect(await srv.commits(() => r.pfcount('h'))).toBe(0);
  expect(await srv.commits(() => r.pfcount('h', 'h', 'nokey'))).toBe(0);
  expect(await srv.commits(() => r.pfmerge('h', 'nokey'))).toBe(1);
  // A WATCH fails on a change and on a recount (Redis's signalModifiedKey), not on a PFADD of nothing.
  const w = srv.conn();
  await w.watch('h');
  await r.pfadd('h', 'a');
  expect(await w.multi().set('other', '1').exec()).not.toBeNull();
  await w.watch('h');
  await r.pfcount('h');
  expect(await w.multi().set('other', '2').exec()).toBeNull();
});

test("PFADD and PFMERGE raise 'pfadd'; a PFADD of nothing raises none; PFMERGE's absent keys raise 'keymiss'", async () => {
  const r = srv.conn();
  await r.flushall();
  await r.config('SET', 'notify-keyspace-events', 'E$m');
  const sub = srv.conn();
  const got: string[] = [];
  sub.on('message', (ch: string, key: string) => got.push(`${ch.slice('__keyevent@0__:'.length)} ${key}`));
  await sub.subscribe('__keyevent@0__:pfadd', '__keyevent@0__:keymiss');
  try {
    await r.pfadd('x', 'a');
    await r.pfadd('x', 'a');
    await r.pfmerge('y', 'x', 'nokey');
    await r.pfcount('y');
    await r.publish('__keyevent@0__:pfadd', 'end');
    await new Promise<void>((resolve) => {
      const check = (): void => (got.includes('pfadd end') ? resolve() : void setImmediate(check));
      check();
    });
    expect(got).toEqual(['pfadd x', 'keymiss y', 'keymiss nokey', 'pfadd y', 'pfadd end']);
  } finally {
    await r.config('SET', 'notify-keyspace-events', '');
  }
});

test('errors, in the order Redis checks them', async () => {
  const r = srv.conn();
  await r.flushall();
  await r.rpush('l', 'a');
  await r.set('str', 'not an hll at all');
  await r.pfadd('h', 'a');
  await expect(r.pfadd('l', 'x')).rejects.toThrow(/^WRONGTYPE Operation against a key holding the wrong kind of value/);
  await expect(r.pfadd('str', 'x')).rejects.toThrow('WRONGTYPE Key is not a valid HyperLogLog string value.');
  await expect(r.pfcount('h', 'str', 'l')).rejects.toThrow('WRONGTYPE Key is not a valid HyperLogLog string value.');
  await expect(r.pfmerge('h', 'l')).rejects.toThrow(/^WRONGTYPE Operation/);
  await expect(r.pfmerge('nokey', 'str')).rejects.toThrow('WRONGTYPE Key is not a valid HyperLogLog string value.');
  expect(await r.exists('nokey')).toBe(0);
  await expect(r.call('PFDEBUG', 'ENCODING', 'nokey')).rejects.toThrow('ERR The specified key does not exist');
  await expect(r.call('PFDEBUG', 'NOPE', 'h')).rejects.toThrow("ERR Unknown PFDEBUG subcommand 'NOPE'");
  await expect(r.call('PFADD')).rejects.toThrow("ERR wrong number of arguments for 'pfadd' command");
  // A dense value of the wrong length, a sparse one with bytes past its registers.
  await r.setrange('h', 4, '\x00');
  await expect(r.pfcount('h')).rejects.toThrow('WRONGTYPE Key is not a valid HyperLogLog string value.');
  await r.setrange('h', 4, '\x01');
  await r.append('h', 'tail');
  await expect(r.pfcount('h')).rejects.toThrow('INVALIDOBJ Corrupted HLL object detected');
  await expect(r.pfmerge('d', 'h')).rejects.toThrow('INVALIDOBJ Corrupted HLL object detected');
  expect(await r.exists('d')).toBe(0);
  await expect(r.config('SET', 'hll-sparse-max-bytes', 'abc')).rejects.toThrow('argument must be a memory value');
  await expect(r.config('SET', 'hll-sparse-max-bytes', '9223372036854775808')).rejects.toThrow('argument must be between 0 and 9223372036854775807 inclusive');
  expect(await r.config('GET', 'hll-sparse-max-bytes')).toEqual(['hll-sparse-max-bytes', '3000']);
});

test('hll-sparse-max-bytes decides when a value is promoted', async () => {
  const r = srv.conn();
  await r.flushall();
  await r.config('SET', 'hll-sparse-max-bytes', '100');
  try {
    await r.pfadd('h', ...elements(0, 10));
    expect(await r.call('PFDEBUG', 'ENCODING', 'h')).toBe('sparse');
    await r.pfadd('h', ...elements(10, 100));
    expect(await r.call('PFDEBUG', 'ENCODING', 'h')).toBe('dense');
  } finally {
    await r.config('SET', 'hll-sparse-max-bytes', '3000');
  }
  await r.pfadd('g', ...elements(0, 110));
  expect(await r.call('PFDEBUG', 'ENCODING', 'g')).toBe('sparse');
  // The same registers, either way.
  expect(await r.pfcount('g')).toBe(await r.pfcount('h'));
});

test('a PFADD whose commit fails is not answered and leaves the value as it was', async () => {
  const r = srv.conn();
  await r.flushall();
  await r.pfadd('h', 'a', 'b');
  await r.pfcount('h');
  const before = await r.getBuffer('h');
  const p = new RawClient(srv.port);
  await p.ready;
  const failed = failNextBatch(srv.server);
  p.send(frame('PFADD', 'h', 'c', 'd', 'e'));
  expect(await p.read()).toBeNull();
  expect(failed()).toBe(1);
  expect(await r.getBuffer('h')).toEqual(before);
  expect(await r.pfcount('h')).toBe(2);
});
