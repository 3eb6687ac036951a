// The filesystem under a mapping: full, read-only, truncated behind our
// back. Each full-filesystem case runs on a small tmpfs this file mounts
// (as root); anything that could SIGBUS runs in a child process, so that a
// regression fails the test instead of killing jest.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { openMapping, ObjPool, KVStore, Wal } from '../lib';
import { expectPmemError, fillFilesystem, mountFs, mountTmpfs, tmpFile, unmount } from './helpers';

const child = path.join(__dirname, 'fixtures', 'space', 'full.js');

/** Runs a scenario of fixtures/space/full.js; it must exit normally (no SIGBUS). */
function run(scenario: string, ...args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [child, scenario, ...args], { encoding: 'utf8' });
  expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * Runs the 'limit' scenario under a 1 MiB file-size limit (ulimit -f
 * counts 1 KiB blocks), with SIGXFSZ ignored so that growing past it fails
 * with EFBIG instead of killing the child.
 */
function runLimited(fresh: string, existing: string): Record<string, unknown> {
  const r = spawnSync('sh', ['-c', `trap '' XFSZ; ulimit -f 1024; exec "$0" "$@"`, process.execPath, child, 'limit', fresh, existing], {
    encoding: 'utf8',
  });
  expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const full = mountTmpfs('8m', 'a full filesystem');
const onFull = full === null ? test.skip : test;

afterAll(() => unmount(full));

beforeEach(() => {
  if (full === null) return;
  for (const f of fs.readdirSync(full)) fs.rmSync(path.join(full, f), { recursive: true, force: true });
});

describe('a full filesystem', () => {
  onFull('openMapping create is ERR_PMEM_NO_SPACE and leaves no file', () => {
    fillFilesystem(path.join(full!, 'filler'));
    const file = path.join(full!, 'new');
    expectPmemError(() => openMapping(file, { size: 1024 * 1024, create: true }).close(), 'ERR_PMEM_NO_SPACE');
    expect(fs.existsSync(file)).toBe(false);
    expectPmemError(() => openMapping(file, { size: 1024 * 1024, create: true, exclusive: true }).close(), 'ERR_PMEM_NO_SPACE');
    expect(fs.existsSync(file)).toBe(false);
  });

  // The pool file is created and its blocks reserved before libpmemobj
  // sees it: a failure there removes the file again.
  onFull('ObjPool.create is ERR_PMEM_NO_SPACE and leaves no file', () => {
    const file = path.join(full!, 'pool');
    expectPmemError(() => ObjPool.create(file, { size: 16 * 1024 * 1024 }).close(), 'ERR_PMEM_NO_SPACE');
    expect(fs.existsSync(file)).toBe(false);
    fillFilesystem(path.join(full!, 'filler'));
    expectPmemError(() => ObjPool.create(file).close(), 'ERR_PMEM_NO_SPACE');
    expect(fs.readdirSync(full!)).toEqual(['filler']);
  });

  // A pool copied sparse (cp --sparse, rsync -S, a restored backup): its
  // holes are reserved at open, as a Mapping's are, before libpmemobj maps
  // them; a full filesystem is ERR_PMEM_NO_SPACE there, with the file as it
  // was, not a SIGBUS at a later allocation.
  onFull('ObjPool.open of a pool with holes is ERR_PMEM_NO_SPACE on a full filesystem, and the file is unchanged', () => {
    const made = tmpFile('holes.pool');
    const pool = ObjPool.create(made, { size: 8 * 1024 * 1024 });
    pool.write(pool.root(64), Buffer.from('kept'));
    pool.close();
    const file = path.join(full!, 'pool');
    execFileSync('cp', ['--sparse=always', made, file]);
    fs.rmSync(made);
    const before = fs.statSync(file);
    expect(before.blocks * 512).toBeLessThan(before.size / 2); // the copy has holes
    const bytes = fs.readFileSync(file);
    fillFilesystem(path.join(full!, 'filler'));
    expect(run('poolHoles', file)).toEqual({ open: 'ERR_PMEM_NO_SPACE' });
    const after = fs.statSync(file);
    expect([after.size, after.blocks]).toEqual([before.size, before.blocks]);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    // With room, the open reserves the holes and the pool allocates until it is full.
    fs.rmSync(path.join(full!, 'filler'));
    expect(run('poolHoles', file)).toEqual({ open: 'ok', allocs: expect.any(Number), after: 'ERR_PMEM_NO_SPACE', root: 'kept' });
    expect(fs.statSync(file).blocks * 512).toBeGreaterThanOrEqual(before.size);
  });

  onFull('growing a file is ERR_PMEM_NO_SPACE and changes nothing: size, blocks, bytes, mtime', () => {
    const file = path.join(full!, 'grow');
    const m = openMapping(file, { size: 65536, create: true });
    m.copy(100, Buffer.from('kept'));
    m.close();
    const before = fs.statSync(file);
    const bytes = fs.readFileSync(file);
    fillFilesystem(path.join(full!, 'filler'));
    expectPmemError(() => openMapping(file, { size: 4 * 1024 * 1024, create: true }).close(), 'ERR_PMEM_NO_SPACE');
    const after = fs.statSync(file);
    expect([after.size, after.blocks, after.mtimeMs]).toEqual([before.size, before.blocks, before.mtimeMs]);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    // The file is as good as before: it opens and keeps its bytes.
    const again = openMapping(file);
    expect(again.length).toBe(65536);
    expect(again.buffer.toString('utf8', 100, 104)).toBe('kept');
    again.close();
  });

  onFull('a file extended without blocks: a writable open is ERR_PMEM_NO_SPACE, a read-only one reads zeros', () => {
    fillFilesystem(path.join(full!, 'filler'));
    // What pmem_map_file's ftruncate-then-posix_fallocate left behind on a
    // full filesystem: a size with no blocks behind it.
    const file = path.join(full!, 'unbacked');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 1024 * 1024);
    expect(fs.statSync(file).blocks).toBe(0);
    expect(run('holes', file)).toEqual({ writable: 'ERR_PMEM_NO_SPACE', readOnlyLength: 1024 * 1024, readOnlySum: 0 });
    const after = fs.statSync(file);
    expect([after.size, after.blocks]).toEqual([1024 * 1024, 0]);
  });

  onFull('sparse create reserves nothing; only a sparse open keeps the holes', () => {
    fillFilesystem(path.join(full!, 'filler'));
    const file = path.join(full!, 'sparse');
    openMapping(file, { size: 1024 * 1024, create: true, sparse: true }).close();
    expect(fs.statSync(file).blocks).toBe(0);
    openMapping(file, { sparse: true }).close();
    expectPmemError(() => openMapping(file).close(), 'ERR_PMEM_NO_SPACE');
    expect(fs.statSync(file).size).toBe(1024 * 1024);
    expect(fs.statSync(file).blocks).toBe(0);
    // With space, a plain open reserves the holes.
    fs.rmSync(path.join(full!, 'filler'));
    openMapping(file).close();
    expect(fs.statSync(file).blocks * 512).toBeGreaterThanOrEqual(1024 * 1024);
  });

  onFull('KVStore: growth fails with ERR_PMEM_NO_SPACE, the store goes on, grows once there is room, and reopens', () => {
    const filler = path.join(full!, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(5 * 1024 * 1024, 1));
    const out = run('kv', path.join(full!, 'kv'), filler);
    expect(out.firstError).toBe('ERR_PMEM_NO_SPACE');
    expect(out.puts).toBeGreaterThan(100);
    // A failed growth leaves the file at the size the store maps.
    expect(out.fileBytes).toBe(out.storeBytes);
    expect(out.allRead).toBe(true);
    for (const code of out.smallCodes as string[]) expect(['ok', 'ERR_PMEM_NO_SPACE']).toContain(code);
    expect(out.retry).toBe('ERR_PMEM_NO_SPACE');
    expect(out.afterFree).toEqual(['ok']);
    expect(out.grewTo as number).toBeGreaterThan(out.storeBytes as number);
    expect(out.reopen).toBe('ok');
    expect(out.readOnlyReopen).toBe('ok');
  });

  onFull('no-space column: every public method on a full filesystem gives exactly its documented code', () => {
    openMapping(path.join(full!, 'map'), { size: 65536, create: true }).close();
    KVStore.open(path.join(full!, 'kv'), { create: true, size: 256 * 1024, segmentSize: 16384 }).close();
    Wal.open(path.join(full!, 'wal'), { create: true, size: 256 * 1024 }).close();
    fillFilesystem(path.join(full!, 'filler'));
    const out = run('table', full!);
    const ok = (names: string[], prefix: string) => Object.fromEntries(names.map((n) => [`${prefix}.${n}`, 'ok']));
    expect(out.rows).toEqual({
      // A mapping needs no file space after its open: reserve before extend.
      ...ok(['buffer', 'bytes', 'view', 'flush', 'drain', 'persist', 'deepFlush', 'copy', 'fill', 'sealRecord', 'fileSize', 'close'], 'Mapping'),
      'openMapping existing': 'ok',
      'openMapping readOnly': 'ok',
      'openMapping create': 'ERR_PMEM_NO_SPACE',
      'openMapping grow': 'ERR_PMEM_NO_SPACE',
      // A store writes into segments it already has; only growth needs space.
      ...ok(['put', 'get', 'getString', 'has', 'batch', 'rename', 'delete', 'range', 'keys', 'entries', 'count', 'stats', 'compact'], 'KVStore'),
      'KVStore.put past maxSize': 'ERR_PMEM_NO_SPACE',
      'KVStore.close': 'ok',
      'KVStore.open existing': 'ok',
      'KVStore.open create': 'ERR_PMEM_NO_SPACE',
      // A log writes into its ring; only its creation needs space.
      ...ok(['append', 'appendBatch', 'read', 'truncate', 'checkpoint', 'recover', 'stats', 'close'], 'Wal'),
      'Wal.open existing': 'ok',
      'Wal.open create': 'ERR_PMEM_NO_SPACE',
    });
    expect(out.left).toEqual([]);
    // KVStore.open formats a new store under a temporary name and publishes
    // it only when whole: a create that failed leaves no file.
    expect(out.newKvBytes).toBe(-1);
  });
});

describe('a file-size limit', () => {
  test('EFBIG is ERR_PMEM_NO_SPACE: no file left behind, an existing one unchanged', () => {
    const dir = process.env.PMEM_TEST_DIR ?? os.tmpdir();
    const fresh = path.join(dir, `${process.pid}-limit-new`);
    const existing = path.join(dir, `${process.pid}-limit-old`);
    fs.rmSync(fresh, { force: true });
    const m = openMapping(existing, { size: 65536, create: true });
    m.close();
    const before = fs.statSync(existing);
    expect(runLimited(fresh, existing)).toEqual({
      create: 'ERR_PMEM_NO_SPACE',
      freshLeft: false,
      grow: 'ERR_PMEM_NO_SPACE',
      size: 65536,
      blocks: before.blocks,
      mtimeMs: before.mtimeMs,
    });
    fs.rmSync(existing);
  });
});

describe('a file truncated under a live mapping', () => {
  test('KVStore growth is ERR_PMEM_CORRUPT and does not grow the file back', () => {
    const dir = process.env.PMEM_TEST_DIR ?? os.tmpdir();
    const file = path.join(dir, `${process.pid}-truncated-kv`);
    fs.rmSync(file, { force: true });
    const out = run('truncated', file);
    expect(out.code).toBe('ERR_PMEM_CORRUPT');
    expect(out.sizeAfter).toBe(out.truncatedTo);
    fs.rmSync(file, { force: true });
  });

  test('Mapping.fileSize sees the truncation; it is ERR_PMEM_CLOSED after close', () => {
    const dir = process.env.PMEM_TEST_DIR ?? os.tmpdir();
    const file = path.join(dir, `${process.pid}-filesize`);
    const m = openMapping(file, { size: 65536, create: true });
    expect(m.fileSize()).toBe(65536);
    fs.truncateSync(file, 4096);
    expect(m.fileSize()).toBe(4096);
    m.close();
    expectPmemError(() => m.fileSize(), 'ERR_PMEM_CLOSED');
    fs.rmSync(file);
  });
});

const ro = mountTmpfs('16m', 'a read-only filesystem');
const onRo = ro === null ? test.skip : test;
afterAll(() => unmount(ro));

describe('a read-only filesystem', () => {
  onRo('writable opens are ERR_PMEM_ACCESS (ObjPool too); read-only opens work', () => {
    const pool = path.join(ro!, 'pool');
    ObjPool.create(pool, { layout: 'space' }).close();
    openMapping(path.join(ro!, 'map'), { size: 4096, create: true }).close();
    KVStore.open(path.join(ro!, 'kv'), { create: true, size: 256 * 1024, segmentSize: 16384 }).close();
    execFileSync('mount', ['-o', 'remount,ro', ro!]);
    try {
      expectPmemError(() => ObjPool.open(pool, { layout: 'space' }).close(), 'ERR_PMEM_ACCESS');
      expectPmemError(() => ObjPool.create(path.join(ro!, 'pool2'), { layout: 'space' }).close(), 'ERR_PMEM_ACCESS');
      expectPmemError(() => openMapping(path.join(ro!, 'map')).close(), 'ERR_PMEM_ACCESS');
      expectPmemError(() => openMapping(path.join(ro!, 'map2'), { size: 4096, create: true }).close(), 'ERR_PMEM_ACCESS');
      expectPmemError(() => KVStore.open(path.join(ro!, 'kv')).close(), 'ERR_PMEM_ACCESS');
      openMapping(path.join(ro!, 'map'), { readOnly: true }).close();
      KVStore.open(path.join(ro!, 'kv'), { readOnly: true }).close();
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', ro!]);
    }
  });
});

const ramfs = mountFs('ramfs', [], 'a filesystem without fallocate');
const onRamfs = ramfs === null ? test.skip : test;
afterAll(() => unmount(ramfs));

describe('a filesystem without fallocate (ramfs: EOPNOTSUPP)', () => {
  onRamfs('create and growth set the size first and fill it with posix_fallocate', () => {
    const file = path.join(ramfs!, 'map');
    const m = openMapping(file, { size: 8192, create: true });
    m.copy(8000, Buffer.from('kept'));
    m.close();
    const grown = openMapping(file, { size: 65536, create: true });
    expect(grown.length).toBe(65536);
    expect(grown.buffer.toString('latin1', 8000, 8004)).toBe('kept');
    grown.copy(65530, Buffer.from('end'));
    grown.close();
    expect(fs.statSync(file).size).toBe(65536);
    expect(fs.readFileSync(file).toString('latin1', 65530, 65533)).toBe('end');
  });

  onRamfs('a failure after the size was set puts the size back, or removes the new file', () => {
    const fresh = path.join(ramfs!, 'limit-new');
    const existing = path.join(ramfs!, 'limit-old');
    openMapping(existing, { size: 65536, create: true }).close();
    const before = fs.statSync(existing);
    expect(runLimited(fresh, existing)).toEqual({
      create: 'ERR_PMEM_NO_SPACE',
      freshLeft: false,
      grow: 'ERR_PMEM_NO_SPACE',
      size: 65536,
      blocks: before.blocks,
      mtimeMs: before.mtimeMs,
    });
  });
});
