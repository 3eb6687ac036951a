// SCAN's guarantee, as Redis gives it: a key (or element) present for the
// whole iteration is returned at least once. Also when it is overwritten
// mid-scan by a STORE command, COPY REPLACE or RENAME (Redis overwrites in
// place), and when the keyspace is rebuilt mid-scan (DEBUG RELOAD, or a
// failed turn's rollback). And glob patterns against the empty key.
import * as fs from 'node:fs';

import { createServer, type RespServer } from '../lib';
import { RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

let file: string;
let server: RespServer;
let c: RawClient;

const call = async (...args: string[]): Promise<unknown> => text(await c.call(...args.map((a) => Buffer.from(a, 'latin1'))));

beforeAll(async () => {
  file = tmpFile('scan.kv');
  server = createServer({ file, enableDebugCommand: 'yes' });
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

/** Runs SCAN-like `cmd` (with `key` for HSCAN, SSCAN, ZSCAN) to its end, COUNT 10, calling `between` after every call; returns what it saw. */
async function scanAll(cmd: string, key: string | null, between: (calls: number) => Promise<void>): Promise<Set<string>> {
  const seen = new Set<string>();
  let cursor = '0';
  let calls = 0;
  do {
    const [next, items] = (await call(...[cmd, ...(key === null ? [] : [key]), cursor, 'COUNT', '10'])) as [string, string[]];
    // HSCAN and ZSCAN return pairs: the names are the even items.
    const step = cmd === 'HSCAN' || cmd === 'ZSCAN' ? 2 : 1;
    for (let i = 0; i < items.length; i += step) seen.add(items[i]);
    cursor = next;
    await between(++calls);
  } while (cursor !== '0');
  expect(calls).toBeGreaterThan(20); // the scan took many calls: the change landed inside it
  return seen;
}

async function fill(n: number): Promise<void> {
  for (let b = 0; b < n; b += 500) {
    const args: string[] = [];
    for (let i = b; i < Math.min(n, b + 500); i++) args.push(`k${i}`, 'v');
    await call('MSET', ...args);
  }
}

describe('a key present for the whole SCAN and overwritten during it is returned', () => {
  const overwrites: Array<[string, () => Promise<unknown>]> = [
    ['SUNIONSTORE', () => call('SUNIONSTORE', 'dst', 'src')],
    ['ZUNIONSTORE', () => call('ZUNIONSTORE', 'dst', '1', 'zsrc')],
    ['ZRANGESTORE', () => call('ZRANGESTORE', 'dst', 'zsrc', '0', '-1')],
    ['SINTERSTORE', () => call('SINTERSTORE', 'dst', 'src')],
    ['COPY REPLACE (a set)', () => call('COPY', 'src', 'dst', 'REPLACE')],
    ['COPY REPLACE (a string)', () => call('COPY', 'str', 'dst', 'REPLACE')],
    ['RENAME over it', async () => {
      await call('SADD', 'tmp', 'q');
      return call('RENAME', 'tmp', 'dst');
    }],
  ];
  test.each(overwrites)('%s', async (_name, overwrite) => {
    await call('SADD', 'dst', 'x');
    await call('SADD', 'src', 'a', 'b');
    await call('ZADD', 'zsrc', '1', 'a');
    await call('SET', 'str', 'v');
    await fill(2000);
    const seen = await scanAll('SCAN', null, async () => {
      expect(await overwrite()).not.toBe(null);
    });
    expect(seen.has('dst')).toBe(true);
    expect(seen.size).toBe(await call('DBSIZE'));
  });
});

describe('a rebuild of the keyspace during a scan', () => {
  // Every third key deleted first: the store's own order (what a rebuild
  // reads) is then not the order the keys were added in.
  async function thinned(n: number): Promise<string[]> {
    await fill(n);
    const dels: string[] = [];
    for (let i = 0; i < n; i += 3) dels.push(`k${i}`);
    await call('DEL', ...dels);
    return Array.from({ length: n }, (_, i) => `k${i}`).filter((_, i) => i % 3 !== 0);
  }

  test('SCAN: every key present throughout is returned across a DEBUG RELOAD', async () => {
    const kept = await thinned(3000);
    const seen = await scanAll('SCAN', null, async (calls) => {
      if (calls === 30) expect(await call('DEBUG', 'RELOAD')).toBe('OK');
    });
    expect(kept.filter((k) => !seen.has(k))).toEqual([]);
  });

  test('SCAN: every key present throughout is returned across a failed turn\'s rollback', async () => {
    const kept = await thinned(3000);
    const rollbacks = server.keyspace;
    const seen = await scanAll('SCAN', null, async (calls) => {
      if (calls === 30) rollbacks.rollback();
    });
    expect(kept.filter((k) => !seen.has(k))).toEqual([]);
  });

  test.each([
    ['HSCAN', (ids: string[]) => call('HSET', 'c', ...ids.flatMap((id) => [id, 'v'])), 'HDEL'],
    ['SSCAN', (ids: string[]) => call('SADD', 'c', ...ids), 'SREM'],
    ['ZSCAN', (ids: string[]) => call('ZADD', 'c', ...ids.flatMap((id, i) => [String(i), id])), 'ZREM'],
  ])('%s: every element present throughout is returned across a DEBUG RELOAD', async (cmd, add, del) => {
    const ids = Array.from({ length: 3000 }, (_, i) => `e${i}`);
    await add(ids);
    await call(del, 'c', ...ids.filter((_, i) => i % 3 === 0));
    const kept = ids.filter((_, i) => i % 3 !== 0);
    const seen = await scanAll(cmd, 'c', async (calls) => {
      if (calls === 30) expect(await call('DEBUG', 'RELOAD')).toBe('OK');
    });
    expect(kept.filter((k) => !seen.has(k))).toEqual([]);
  });
});

describe('glob patterns and the empty key', () => {
  test('only * (KEYS, SCAN MATCH) returns it; ** and *** match it nowhere, as in Redis', async () => {
    await call('SET', '', 'x');
    await call('SET', 'a', '1');
    await call('HSET', 'h', '', 'x', 'f', 'y');
    const sorted = (r: unknown): string[] => [...(r as string[])].sort();
    expect(sorted(await call('KEYS', '*'))).toEqual(['', 'a', 'h']);
    expect(sorted(await call('KEYS', '**'))).toEqual(['a', 'h']);
    expect(sorted(await call('KEYS', '***'))).toEqual(['a', 'h']);
    expect(sorted(((await call('SCAN', '0', 'MATCH', '*', 'COUNT', '100')) as [string, string[]])[1])).toEqual(['', 'a', 'h']);
    expect(sorted(((await call('SCAN', '0', 'MATCH', '**', 'COUNT', '100')) as [string, string[]])[1])).toEqual(['a', 'h']);
    expect(((await call('HSCAN', 'h', '0', 'MATCH', '*')) as [string, string[]])[1]).toEqual(['', 'x', 'f', 'y']);
    expect(((await call('HSCAN', 'h', '0', 'MATCH', '**')) as [string, string[]])[1]).toEqual(['f', 'y']);
  });
});
