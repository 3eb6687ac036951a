import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { ObjPool, PersistentList } from '../lib';
import { testDir, tmpFile } from './helpers';

// The layout is defined once, in test/fixtures/obj/interop.h.
const LAYOUT = 'pmem-interop';
const MAGIC = 0x31504f524554494dn;
const LIST_OFFSET = 48;
const ROOT_SIZE = 72;

let exe: string;

beforeAll(() => {
  const src = path.join(__dirname, 'fixtures', 'obj', 'interop.c');
  exe = path.join(testDir(), `${process.pid}-interop`);
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-o', exe, src, '-lpmemobj'], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc failed: ${cc.stderr}`);
});

function runC(mode: 'write' | 'read', file: string) {
  return spawnSync(exe, [mode, file], { encoding: 'utf8' });
}

test('a pool written by C reads in Node', () => {
  const file = tmpFile('from-c');
  const c = runC('write', file);
  expect(c.stderr).toBe('');
  expect(c.status).toBe(0);
  const pool = ObjPool.open(file, { layout: LAYOUT });
  const root = pool.root();
  expect(pool.rootSize).toBe(ROOT_SIZE);
  const r = pool.view(root, ROOT_SIZE);
  expect(r.readBigUInt64LE(0)).toBe(MAGIC);
  expect(r.readBigUInt64LE(8)).toBe(42n);
  expect(r.subarray(16, 48).toString('utf8').replace(/\0+$/, '')).toBe('from C');
  const list = new PersistentList(pool, root + LIST_OFFSET);
  expect(list.toArray()).toEqual(['alpha', 'beta', Buffer.from([1, 2, 3]), 'gamma']);
  expect([...list.reversed()]).toEqual(['gamma', Buffer.from([1, 2, 3]), 'beta', 'alpha']);
  // Node can go on changing a list C made.
  list.shift();
  list.push('delta');
  expect(list.toArray()).toEqual(['beta', Buffer.from([1, 2, 3]), 'gamma', 'delta']);
  pool.close();
  expect(ObjPool.check(file, LAYOUT)).toBe(true);
});

/** The root header Node writes: what the C reader expects (interop.h). */
function nodeHeader(): Buffer {
  const header = Buffer.alloc(48);
  header.writeBigUInt64LE(MAGIC, 0);
  header.writeBigUInt64LE(7n, 8);
  header.write('from node', 16, 'utf8');
  return header;
}

test('a pool written by Node reads in C', () => {
  const file = tmpFile('from-node');
  const pool = ObjPool.create(file, { layout: LAYOUT, size: 16 * 1024 * 1024 });
  const root = pool.root(ROOT_SIZE);
  const header = nodeHeader();
  pool.transaction((tx) => tx.write(root, header));
  const list = new PersistentList(pool, root + LIST_OFFSET);
  for (const v of ['zero', 'one', 'two', 'three']) list.push(v);
  list.shift();
  pool.close();
  const c = runC('read', file);
  expect(c.stderr).toBe('');
  expect(c.stdout).toBe('ok\n');
  expect(c.status).toBe(0);
});

test('the C reader fails on a pool that does not match (the check can fail)', () => {
  const file = tmpFile('mismatch');
  const pool = ObjPool.create(file, { layout: LAYOUT, size: 16 * 1024 * 1024 });
  const root = pool.root(ROOT_SIZE);
  const header = nodeHeader();
  pool.write(root, header);
  const list = new PersistentList(pool, root + LIST_OFFSET);
  for (const v of ['one', 'three', 'two']) list.push(v);
  pool.close();
  const c = runC('read', file);
  expect(c.status).toBe(1);
  expect(c.stderr).toMatch(/node 1 is wrong/);
});
