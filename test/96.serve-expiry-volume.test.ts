// Keys that expire in volume: the active expiry cycle keeps up with keys
// expiring faster than one round clears (as Redis's adaptive cycle does),
// a commit that fails with expired keys waiting leaves the server up, and
// a store filled with expired keys opens again with the options it had.
// The keyspace's clock, and the cycle's, are set by the tests: what a
// cycle does never depends on the machine's speed.
import * as fs from 'node:fs';

import { createServer, KVStore, type RespServer } from '../lib';
import { failNextBatch } from './fixtures/serve/batch';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

const servers: RespServer[] = [];

async function serve(file: string, options: { maxSize?: number } = {}): Promise<{ server: RespServer; port: number }> {
  const server = createServer({ file, ...options });
  servers.push(server);
  return { server, port: await server.listen(0) };
}

async function client(port: number): Promise<RawClient> {
  const c = new RawClient(port);
  await c.ready;
  return c;
}

/** Sends `n` SETs of `key(i)` to `value` with PX `ms`, pipelined; resolves with the replies. */
async function setMany(c: RawClient, n: number, key: (i: number) => string, value: string, ms: number): Promise<unknown[]> {
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) frames.push(frame('SET', key(i), value, 'PX', String(ms)));
  c.send(Buffer.concat(frames));
  const replies: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const r = await c.read();
    if (r === null) break; // the server closed the connection
    replies.push(text(r));
  }
  return replies;
}

afterAll(async () => {
  for (const s of servers) if (!s.closed) await s.close();
});

test('one cycle deletes every expired key while a tenth of each round is due, until its time is spent', async () => {
  const file = tmpFile('expiry-volume.kv');
  const { server, port } = await serve(file);
  const c = await client(port);
  const start = Date.now();
  server.keyspace.now = () => start; // nothing expires until the test says
  server.expiry.enabled = false;
  expect(await setMany(c, 20000, (i) => `v:${i}`, 'x', 1000)).toEqual(new Array(20000).fill('OK'));
  expect(await setMany(c, 100, (i) => `later:${i}`, 'x', 3_600_000)).toHaveLength(100);
  server.keyspace.now = () => start + 60_000;
  server.expiry.enabled = true;
  // The cycle's clock stands still: only the share of due keys ends it.
  server.expiry.clock = () => 0;
  expect(server.expiry.cycle()).toBe(20000); // a fixed budget of 500 a cycle kept up with 5,000 a second
  expect(server.keyspace.dbs[0].size).toBe(100);
  expect(server.keyspace.dbs[0].expires.size).toBe(100);
  // Its clock moving 1 ms a call: the cycle stops once its 25 ms are spent.
  server.keyspace.now = () => start;
  server.expiry.enabled = false;
  expect(await setMany(c, 20000, (i) => `w:${i}`, 'x', 1000)).toHaveLength(20000);
  server.keyspace.now = () => start + 60_000;
  server.expiry.enabled = true;
  let t = 0;
  server.expiry.clock = () => t++;
  const first = server.expiry.cycle();
  expect(first).toBeGreaterThan(200); // more than one round
  expect(first).toBeLessThan(20000);
  let cycles = 1;
  for (let n = first; n < 20000; cycles++) n += server.expiry.cycle();
  expect(cycles).toBeLessThan(20000 / 200);
  c.close();
  await server.close();
  fs.rmSync(file, { force: true });
});

test('a failed commit with expired keys waiting: the server stays up, writes nothing in its rollback, and the lazy free deletes them', async () => {
  const file = tmpFile('expiry-failed.kv');
  let { server, port } = await serve(file);
  const c = await client(port);
  const start = Date.now();
  server.keyspace.now = () => start;
  server.expiry.enabled = false;
  expect(await setMany(c, 3000, (i) => `e:${i}`, 'x', 1)).toHaveLength(3000);
  expect(text(await c.call('SET', 'kept', 'y'))).toBe('OK');
  server.keyspace.now = () => start + 60_000; // every e:* is due; none is deleted yet
  // The store refuses the next commit and every batch after it, as a full store does.
  const store = server.store as unknown as { batch: KVStore['batch'] };
  const batch = store.batch;
  let batches = 0;
  store.batch = () => {
    batches++;
    throw Object.assign(new Error('simulated: the store is full'), { name: 'PmemError', code: 'ERR_PMEM_NO_SPACE' });
  };
  const failed = failNextBatch(server);
  c.send(frame('SET', 'lost', 'z'));
  await c.closedByServer(); // not acknowledged
  expect(failed()).toBe(1);
  expect(batches).toBe(0); // the rollback wrote nothing
  store.batch = batch;
  // The server is up; the expired keys are gone from DRAM and go from the store through the lazy free.
  const d = await client(port);
  expect(text(await d.call('DBSIZE'))).toBe(1);
  expect(text(await d.call('GET', 'kept'))).toBe('y');
  while (server.keyspace.garbage.pending > 0 || server.keyspace.hasPending) await new Promise((r) => setTimeout(r, 5));
  expect(text(await d.call('PING'))).toBe('PONG');
  d.close();
  await server.close();
  // Nothing of them is left in the store: a key's record, its expiry record, or the lost SET.
  const st = KVStore.open(file);
  const keys = [...st.keys()].map((k) => k.toString('latin1')).filter((k) => k.includes('e:') || k.includes('lost'));
  st.close();
  expect(keys).toEqual([]);
  ({ server, port } = await serve(file));
  const e = await client(port);
  expect(text(await e.call('DBSIZE'))).toBe(1);
  e.close();
  await server.close();
  fs.rmSync(file, { force: true });
});

test('a store filled with expired keys opens again with the options it had, deleting them in batches it has room for', async () => {
  // Small keys: the deletes of all of them, as one record, would need more
  // segments in a row than a full store has free.
  const file = tmpFile('expiry-full.kv');
  const size = 2 * 1024 * 1024;
  KVStore.open(file, { create: true, size, maxSize: size, segmentSize: 64 * 1024 }).close();
  const { server, port } = await serve(file, { maxSize: size });
  const start = Date.now();
  server.keyspace.now = () => start;
  server.expiry.enabled = false;
  // Keys of 1 ms until a commit finds the store full and the server closes the connection.
  let stored = 0;
  for (let round = 0; round < 1000; round++) {
    const c = await client(port);
    const replies = await setMany(c, 2000, (i) => `f:${round}:${i}`, 'v'.repeat(10), 1);
    stored += replies.filter((r) => r === 'OK').length;
    c.close();
    if (replies.length < 2000) break;
  }
  expect(stored).toBeGreaterThan(10000);
  expect(server.stats.batches).toBeGreaterThan(0);
  await server.close();
  while (Date.now() <= start + 1) await new Promise((r) => setTimeout(r, 1)); // every key is past its time
  const again = await serve(file, { maxSize: size });
  const c = await client(again.port);
  expect(text(await c.call('DBSIZE'))).toBe(0);
  expect(text(await c.call('SET', 'after', 'x'))).toBe('OK');
  c.close();
  await again.server.close();
  fs.rmSync(file, { force: true });
});
