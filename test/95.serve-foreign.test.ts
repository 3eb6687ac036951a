// pmem serve over a store it did not write: another application's KVStore
// is refused, byte for byte unchanged, instead of having the keys that fall
// into the keyspace's namespaces by their first byte misread and deleted;
// a store with keys of more databases than the server has is refused as
// Redis refuses such a data file; a store of an older pmem serve (no
// marker) is taken, and marked.
import * as fs from 'node:fs';

import { createServer, KVStore } from '../lib';
import { MARKER_KEY } from '../lib/server/records';
import { RawClient, text } from './fixtures/serve/raw';
import { expectPmemError, tmpFile } from './helpers';

/** The PmemError `fn` throws, checked for `code`. */
function refusal(fn: () => unknown, code: string): Error & { code: string; path?: string } {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toMatchObject({ name: 'PmemError', code });
  return thrown as Error & { code: string; path?: string };
}

function storeWith(name: string, keys: Array<string | Buffer>): string {
  const file = tmpFile(name);
  const kv = KVStore.open(file, { create: true, size: 16 << 20 });
  for (const k of keys) kv.put(k, 'v');
  kv.close();
  return file;
}

function keysOf(file: string): string[] {
  const kv = KVStore.open(file);
  try {
    return [...kv.keys()].map((k) => k.toString('latin1')).sort();
  } finally {
    kv.close();
  }
}

test("another application's KVStore is refused, unchanged, naming the file and a key pmem serve did not write", () => {
  // 'xylophone' reads as an expiry record of database 'y', 'event:12345' as
  // an element of a collection that does not exist: both were deleted.
  const cases: string[][] = [
    ['xylophone', 'apple'],
    ['event:12345'],
    ['kitten'],
    ['apple', 'hello'],
    ['k\u0001x'], // a key record whose value has no type pmem serve writes
  ];
  for (const keys of cases) {
    const file = storeWith(`foreign-${keys[0].replace(/\W/g, '')}.kv`, keys);
    const before = fs.readFileSync(file);
    const e = refusal(() => createServer({ file }), 'ERR_PMEM_NOT_A_STORE');
    expect([keys, e.message]).toEqual([keys, expect.stringContaining(`'${file}': the store holds a record that pmem serve did not write`)]);
    expect(e.path).toBe(file);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(keysOf(file)).toEqual([...keys].sort());
    // Refused again: nothing was marked.
    expectPmemError(() => createServer({ file }), 'ERR_PMEM_NOT_A_STORE');
  }
});

test('keys of a database past --databases are refused, unchanged; with enough databases they and their expiry times are served', async () => {
  const file = tmpFile('more-dbs.kv');
  const wide = createServer({ file, databases: 32 });
  const port = await wide.listen(0, '127.0.0.1');
  const c = new RawClient(port);
  await c.ready;
  expect(text(await c.call('SELECT', '20'))).toBe('OK');
  expect(text(await c.call('SET', 'k', 'v', 'EX', '1000'))).toBe('OK');
  expect(text(await c.call('HSET', 'h', 'f', 'x'))).toBe(1);
  c.close();
  await wide.close();

  const before = fs.readFileSync(file);
  const e = refusal(() => createServer({ file }), 'ERR_PMEM_INVALID');
  expect(e.message).toMatch(/holds keys of database 20, and the server has 16 databases: start it with 21 or more/);
  expect(fs.readFileSync(file).equals(before)).toBe(true);

  const again = createServer({ file, databases: 21 });
  const port2 = await again.listen(0, '127.0.0.1');
  const d = new RawClient(port2);
  await d.ready;
  expect(text(await d.call('SELECT', '20'))).toBe('OK');
  expect(text(await d.call('GET', 'k'))).toBe('v');
  expect(await d.call('TTL', 'k')).toBeGreaterThan(900);
  expect(text(await d.call('HGET', 'h', 'f'))).toBe('x');
  d.close();
  await again.close();
});

test('a new store is marked as the keyspace; a store of pmem serve without the marker is taken, and marked', async () => {
  const file = tmpFile('marked.kv');
  const s = createServer({ file });
  const port = await s.listen(0, '127.0.0.1');
  const c = new RawClient(port);
  await c.ready;
  expect(text(await c.call('SET', 'a', '1'))).toBe('OK');
  expect(text(await c.call('RPUSH', 'l', 'x', 'y'))).toBe(2);
  expect(text(await c.call('EXPIRE', 'a', '1000'))).toBe(1);
  c.close();
  await s.close();
  expect(keysOf(file)).toContain(MARKER_KEY);

  // As an older pmem serve left it: the same records, no marker.
  const kv = KVStore.open(file);
  kv.delete(MARKER_KEY);
  kv.close();
  const again = createServer({ file });
  const port2 = await again.listen(0, '127.0.0.1');
  const d = new RawClient(port2);
  await d.ready;
  expect(text(await d.call('GET', 'a'))).toBe('1');
  expect(text(await d.call('LRANGE', 'l', '0', '-1'))).toEqual(['x', 'y']);
  d.close();
  await again.close();
  expect(keysOf(file)).toContain(MARKER_KEY);
});
