// TieredCache's file: locked for the cache's lifetime (in this process and
// against others), identified through the lock, foreign files refused
// untouched, and a missing or empty file created under a temporary name and
// published whole (lib/core/identify.ts openStoreFile).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { AppendList, KVStore, ObjPool, TieredCache, Wal, openMapping } from '../lib';
import { identify, lockFile } from '../lib/core/identify';
import { expectPmemError, expectThrowName, testDir, tmpFile } from './helpers';

const dist = path.join(__dirname, '..', 'dist');
const small = { pmemBytes: 64 * 1024, dramEntries: 8, encoding: 'utf8' as const };

interface Snapshot {
  bytes: Buffer;
  size: number;
  mtimeMs: number;
}

function snapshot(file: string): Snapshot {
  const st = fs.statSync(file);
  return { bytes: fs.readFileSync(file), size: st.size, mtimeMs: st.mtimeMs };
}

/** An mtime in the past, so that a write within the same clock tick shows. */
function age(file: string): string {
  fs.utimesSync(file, new Date(2000, 0, 1), new Date(2000, 0, 1));
  return file;
}

function writeFile(name: string, data: string | Buffer): string {
  const f = tmpFile(name);
  fs.writeFileSync(f, data);
  return age(f);
}

/** Opening a cache on `file` throws ERR_PMEM_NOT_A_STORE naming `what`; the file keeps its bytes, size and mtime. */
function refusedUntouched(file: string, what: RegExp): void {
  const before = snapshot(file);
  let thrown: { code?: string; message?: string } | undefined;
  try {
    new TieredCache({ file, ...small }).close();
  } catch (e) {
    thrown = e as typeof thrown;
  }
  expect(thrown?.code).toBe('ERR_PMEM_NOT_A_STORE');
  expect(thrown?.message).toMatch(what);
  const after = snapshot(file);
  expect(after.size).toBe(before.size);
  expect(after.mtimeMs).toBe(before.mtimeMs);
  expect(after.bytes.equals(before.bytes)).toBe(true);
}

/** Temporary files a create left beside `file`. */
function leftovers(file: string): string[] {
  return fs.readdirSync(testDir()).filter((n) => n.startsWith(`.${path.basename(file)}.`));
}

describe('the lock', () => {
  test('a second open in the same process is ERR_PMEM_LOCKED until close()', () => {
    const file = tmpFile('locked.cache');
    const c = new TieredCache<string>({ file, ...small });
    c.set('k', 'v');
    expectPmemError(() => new TieredCache({ file, ...small }), 'ERR_PMEM_LOCKED');
    // The refused open changed nothing: the holder goes on.
    c.set('k2', 'v2');
    c.close();
    const d = new TieredCache<string>({ file, ...small });
    expect(d.get('k')).toBe('v');
    expect(d.get('k2')).toBe('v2');
    d.close();
  });

  test('a cache held here refuses another process', () => {
    const file = tmpFile('held-here.cache');
    const c = new TieredCache<string>({ file, ...small });
    const child = spawnSync(process.execPath, ['-e', `
      const { TieredCache } = require(${JSON.stringify(dist)});
      try { new TieredCache({ file: ${JSON.stringify(file)}, encoding: 'utf8' }).close(); console.log('opened'); }
      catch (e) { console.log(e.code); }`], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('ERR_PMEM_LOCKED');
    c.close();
  });

  test('a cache held by another process is refused here until that process closes it', async () => {
    const file = tmpFile('held-there.cache');
    const child = spawn(process.execPath, ['-e', `
      const { TieredCache } = require(${JSON.stringify(dist)});
      const c = new TieredCache({ file: ${JSON.stringify(file)}, pmemBytes: 65536, encoding: 'utf8', writeMode: 'write-through' });
      c.set('from', 'child');
      console.log('open');
      process.stdin.resume();
      process.stdin.on('end', () => { c.close(); console.log('closed'); });`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const said = (word: string) => new Promise<void>((resolve, reject) => {
      const check = () => {
        if (out.split('\n').includes(word)) resolve();
      };
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before '${word}': ${out}`)));
      check();
    });
    await said('open');
    expectPmemError(() => new TieredCache({ file, ...small }), 'ERR_PMEM_LOCKED');
    // 'close', not 'exit': only then has all of its stdout been read.
    const exited = new Promise((resolve) => child.once('close', resolve));
    child.stdin.end();
    expect(await exited).toBe(0);
    expect(out.split('\n')).toContain('closed');
    const c = new TieredCache<string>({ file, ...small });
    expect(c.get('from')).toBe('child');
    c.close();
  });

  test('a cache collected without close() releases its lock', () => {
    const file = tmpFile('gc.cache');
    const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'cache', 'gc-lock.js'), file], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ whileHeld: 'ERR_PMEM_LOCKED', afterGc: 'ok' });
  });

  test('a region takes no lock: the caller owns it', () => {
    const file = tmpFile('region.cache');
    const m = openMapping(file, { size: 64 * 1024, create: true });
    const c = new TieredCache<string>({ region: m, encoding: 'utf8' });
    lockFile(file, true).release();
    c.close();
    m.close();
  });
});

describe('foreign files are refused untouched, with what they hold', () => {
  test('a KV store, a WAL, a libpmemobj pool, an AppendList', () => {
    const kv = tmpFile('a-kv');
    KVStore.open(kv, { create: true, size: 1 << 20, segmentSize: 64 * 1024 }).close();
    refusedUntouched(age(kv), /: it holds a KV store/);
    const wal = tmpFile('a-wal');
    Wal.open(wal, { create: true, size: 1 << 16 }).close();
    refusedUntouched(age(wal), /: it holds a write-ahead log/);
    const pool = tmpFile('a-pool');
    ObjPool.create(pool, { size: 8 << 20 }).close();
    refusedUntouched(age(pool), /: it holds a libpmemobj pool/);
    const list = tmpFile('a-list');
    const m = openMapping(list, { size: 64 * 1024, create: true });
    AppendList.format(m);
    m.close();
    refusedUntouched(age(list), /: it holds a pmem AppendList/);
  });

  test('zeros, text, unknown bytes', () => {
    refusedUntouched(writeFile('zeros', Buffer.alloc(64 * 1024)), /: it holds zeros/);
    refusedUntouched(writeFile('one-line', Buffer.alloc(64)), /: it holds zeros/);
    refusedUntouched(writeFile('zeros-text', Buffer.concat([Buffer.alloc(4096), Buffer.from('hello\n'.repeat(100))])), /zeros/);
    refusedUntouched(writeFile('notes.txt', 'not a cache at all\n'.repeat(50)), /: it holds text/);
    refusedUntouched(writeFile('random', Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919 + 13) % 256))), /unknown/);
  });

  test('a header line whose magic word is zero (no format is ever published so) is not formatted again', () => {
    const file = tmpFile('magicless.cache');
    new TieredCache({ file, ...small }).close();
    const bytes = fs.readFileSync(file);
    bytes.fill(0, 0, 8);
    fs.writeFileSync(file, bytes);
    refusedUntouched(age(file), /unknown/);
  });

  test('KVStore and Wal name a cache file when they refuse it', () => {
    const file = tmpFile('named.cache');
    new TieredCache({ file, ...small }).close();
    const before = snapshot(age(file));
    expect(identify(before.bytes, before.bytes.length)).toEqual({ kind: 'cache', format: 'PCT1 v1', description: 'a tiered cache' });
    expect(() => KVStore.open(file, { create: true })).toThrow(/it holds a tiered cache/);
    expect(() => Wal.open(file, { create: true, size: 1 << 16 })).toThrow(/it holds a tiered cache/);
    expect(snapshot(file)).toEqual(before);
  });
});

describe('creating the file', () => {
  test('a missing file is created with pmemBytes and published whole, locked from the moment it appears', () => {
    const file = tmpFile('made.cache');
    const c = new TieredCache<string>({ file, ...small });
    expect(leftovers(file)).toEqual([]);
    expect(fs.statSync(file).size).toBe(small.pmemBytes);
    expect(identify(fs.readFileSync(file), 4096).kind).toBe('cache');
    expectPmemError(() => new TieredCache({ file, ...small }), 'ERR_PMEM_LOCKED');
    c.set('a', '1');
    c.close();
    // An existing file keeps its size, whatever pmemBytes says.
    const d = new TieredCache<string>({ file, ...small, pmemBytes: 1 << 20 });
    expect(d.get('a')).toBe('1');
    d.close();
    expect(fs.statSync(file).size).toBe(small.pmemBytes);
  });

  test('an empty file is replaced by a formatted one, and the lock comes with it', () => {
    const file = writeFile('empty.cache', '');
    const c = new TieredCache<string>({ file, ...small });
    expect(leftovers(file)).toEqual([]);
    expectPmemError(() => new TieredCache({ file, ...small }), 'ERR_PMEM_LOCKED');
    c.set('a', '1');
    c.close();
    expect(fs.statSync(file).size).toBe(small.pmemBytes);
    expect(identify(fs.readFileSync(file), 4096).kind).toBe('cache');
    const d = new TieredCache<string>({ file, ...small });
    expect(d.get('a')).toBe('1');
    d.close();
  });

  test('a pmemBytes that holds no slot is a RangeError that leaves nothing behind', () => {
    const file = tmpFile('tiny.cache');
    expectThrowName(() => new TieredCache({ file, ...small, pmemBytes: 100 }), 'RangeError');
    expect(fs.existsSync(file)).toBe(false);
    expect(leftovers(file)).toEqual([]);
    const empty = writeFile('tiny-empty.cache', '');
    const before = snapshot(empty);
    expectThrowName(() => new TieredCache({ file: empty, ...small, pmemBytes: 100 }), 'RangeError');
    expect(snapshot(empty)).toEqual(before);
    expect(leftovers(empty)).toEqual([]);
  });

  test('a cache file cut below its header line is ERR_PMEM_CORRUPT, untouched', () => {
    const file = tmpFile('cut.cache');
    new TieredCache({ file, ...small }).close();
    fs.truncateSync(file, 32);
    const before = snapshot(age(file));
    expectPmemError(() => new TieredCache({ file, ...small }), 'ERR_PMEM_CORRUPT');
    expect(snapshot(file)).toEqual(before);
  });

  test('a missing directory is ERR_PMEM_NOT_FOUND', () => {
    expectPmemError(() => new TieredCache({ file: path.join(tmpFile('no-dir'), 'x.cache'), ...small }), 'ERR_PMEM_NOT_FOUND');
  });
});
