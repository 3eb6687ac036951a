// Whether a file is ours: the one classifier, and the open paths that use
// it. A file that is not a store is refused before anything is written.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { KVStore, ObjPool, openMapping, PmemError, TieredCache, Wal } from '../lib';
import { binding } from '../lib/core/binding';
import { identify, openStoreFile } from '../lib/core/identify';
import { inspect } from '../lib/cli/inspect';
import { expectPmemError, expectThrowName, testDir, tmpFile } from './helpers';

interface Snapshot {
  bytes: Buffer;
  size: number;
  mtimeMs: number;
}

function snapshot(file: string): Snapshot {
  const st = fs.statSync(file);
  return { bytes: fs.readFileSync(file), size: st.size, mtimeMs: st.mtimeMs };
}

/** `fn` throws ERR_PMEM_NOT_A_STORE naming `what`, and the file keeps its bytes, size and mtime. */
function refusedUntouched(file: string, fn: () => unknown, what: RegExp): void {
  const before = snapshot(file);
  let thrown: { code?: string; message?: string } | undefined;
  try {
    fn();
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

function writeFile(name: string, data: string | Buffer): string {
  const f = tmpFile(name);
  fs.writeFileSync(f, data);
  // An mtime in the past, so that a write within the same clock tick shows.
  fs.utimesSync(f, new Date(2000, 0, 1), new Date(2000, 0, 1));
  return f;
}

const kvCreate = (f: string) => KVStore.open(f, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
const walCreate = (f: string) => Wal.open(f, { create: true, size: 1 << 16 });

describe('foreign files are refused untouched, with what they look like', () => {
  test('a short text file, with and without create', () => {
    const f = writeFile('notes.txt', 'nineteen bytes .. \n');
    refusedUntouched(f, () => KVStore.open(f), /text/);
    refusedUntouched(f, () => kvCreate(f), /text/);
    refusedUntouched(f, () => KVStore.open(f, { readOnly: true }), /text/);
    refusedUntouched(f, () => Wal.open(f), /text/);
    refusedUntouched(f, () => walCreate(f), /text/);
  });

  test('4 KiB of zeros and then text: both commit words read zero, still not a store', () => {
    const f = writeFile('zeros-text', Buffer.concat([Buffer.alloc(4096), Buffer.from('hello, world\n'.repeat(100))]));
    refusedUntouched(f, () => kvCreate(f), /zeros/);
    refusedUntouched(f, () => walCreate(f), /zeros/);
  });

  test('a README-sized file opened with create is not grown', () => {
    const f = writeFile('README.md', '# A project\n\nSome text, ' + 'more text. '.repeat(300));
    refusedUntouched(f, () => KVStore.open(f, { create: true }), /text/);
    refusedUntouched(f, () => Wal.open(f, { create: true, size: 1 << 20 }), /text/);
  });

  test('binary data is unknown', () => {
    const f = writeFile('random', Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919 + 13) % 256)));
    refusedUntouched(f, () => kvCreate(f), /unknown/);
  });

  test('another pmem structure is named: a WAL for KVStore, a KV store for Wal, a libpmemobj pool for both', () => {
    const wal = tmpFile('a-wal');
    walCreate(wal).close();
    fs.utimesSync(wal, new Date(2000, 0, 1), new Date(2000, 0, 1));
    refusedUntouched(wal, () => kvCreate(wal), /write-ahead log/);
    const kv = tmpFile('a-kv');
    kvCreate(kv).close();
    fs.utimesSync(kv, new Date(2000, 0, 1), new Date(2000, 0, 1));
    refusedUntouched(kv, () => walCreate(kv), /KV store/);
    refusedUntouched(kv, () => Wal.open(kv, { readOnly: true }), /KV store/);
    const pool = tmpFile('a-pool');
    ObjPool.create(pool, { size: 8 << 20 }).close();
    fs.utimesSync(pool, new Date(2000, 0, 1), new Date(2000, 0, 1));
    refusedUntouched(pool, () => kvCreate(pool), /libpmemobj pool/);
    refusedUntouched(pool, () => walCreate(pool), /libpmemobj pool/);
  });

  test('a Wal opened at an offset of another structure\'s file is told what the file holds from its start, not only the bytes at the offset', () => {
    const kv = tmpFile('kv-at-offset');
    kvCreate(kv).close();
    fs.utimesSync(kv, new Date(2000, 0, 1), new Date(2000, 0, 1));
    refusedUntouched(kv, () => Wal.open(kv, { offset: 4096 }), /it holds a KV store from its start, and zeros .* at offset 4096;/);
    refusedUntouched(kv, () => Wal.open(kv, { offset: 4096, create: true, size: 1 << 16 }), /it holds a KV store from its start/);
    const text = writeFile('text-at-offset', 'hello\n'.repeat(1000));
    refusedUntouched(text, () => Wal.open(text, { offset: 4096 }), /it holds text at offset 4096;/);
    refusedUntouched(text, () => Wal.open(text, { offset: 1 << 20 }), /it holds text from its start, and nothing at offset 1048576 \(the file is 6000 bytes\);/);
  });

  test('ObjPool.open refuses a KV store and text as not a pool, untouched; ObjPool.create never takes an existing file', () => {
    const text = writeFile('pool-text', 'some notes\n');
    const t0 = snapshot(text);
    expectPmemError(() => ObjPool.open(text), 'ERR_PMEM_NOT_POOL');
    expectPmemError(() => ObjPool.check(text), 'ERR_PMEM_NOT_POOL');
    expectPmemError(() => ObjPool.create(text, { size: 8 << 20 }), 'ERR_PMEM_EXISTS');
    const t1 = snapshot(text);
    expect(t1.bytes.equals(t0.bytes)).toBe(true);
    expect(t1.size).toBe(t0.size);
    expect(t1.mtimeMs).toBe(t0.mtimeMs);
    const kv = tmpFile('kv-for-pool');
    KVStore.open(kv, { create: true, size: 16 << 20 }).close();
    const before = snapshot(kv);
    expectPmemError(() => ObjPool.open(kv), 'ERR_PMEM_NOT_POOL');
    const after = snapshot(kv);
    expect(after.bytes.equals(before.bytes)).toBe(true);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  test('an empty file: refused without create (NOT_A_STORE), formatted with it', () => {
    const f = writeFile('empty', '');
    refusedUntouched(f, () => KVStore.open(f), /empty/);
    refusedUntouched(f, () => Wal.open(f), /empty/);
    refusedUntouched(f, () => Wal.open(f, { readOnly: true }), /empty/);
    const w = walCreate(f);
    w.append('x');
    w.close();
    const r = Wal.open(f, { readOnly: true });
    expect([...r.read()].map((rec) => rec.data.toString())).toEqual(['x']);
    r.close();
  });

  test('/dev/null is not a store; a symlink loop is ERR_PMEM_INVALID; a missing file ERR_PMEM_NOT_FOUND', () => {
    expectPmemError(() => Wal.open('/dev/null'), 'ERR_PMEM_NOT_A_STORE');
    expectPmemError(() => KVStore.open('/dev/null', { readOnly: true }), 'ERR_PMEM_NOT_A_STORE');
    const loop = tmpFile('loop');
    fs.symlinkSync(path.basename(loop), loop);
    expectPmemError(() => Wal.open(loop), 'ERR_PMEM_INVALID');
    expectPmemError(() => KVStore.open(loop, { create: true }), 'ERR_PMEM_INVALID');
    expectPmemError(() => Wal.open(tmpFile('none')), 'ERR_PMEM_NOT_FOUND');
    expectPmemError(() => KVStore.open(path.join(tmpFile('no-dir'), 'x'), { create: true }), 'ERR_PMEM_NOT_FOUND');
  });

  test('a directory, or a link to one, is ERR_PMEM_NOT_A_STORE for every open: writable, read-only, with create', () => {
    const dir = path.join(testDir(), `a-dir-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    const link = tmpFile('dir-link');
    fs.symlinkSync(dir, link);
    for (const f of [dir, link]) {
      for (const open of [
        () => KVStore.open(f), () => KVStore.open(f, { readOnly: true }), () => kvCreate(f),
        () => Wal.open(f), () => Wal.open(f, { readOnly: true }), () => walCreate(f),
        () => new TieredCache({ file: f, pmemBytes: 64 * 1024, dramEntries: 8 }),
      ]) {
        let e: { code?: string; message?: string; path?: string } = {};
        try {
          (open() as { close(): void }).close();
        } catch (thrown) {
          e = thrown as typeof e;
        }
        expect({ code: e.code, path: e.path }).toEqual({ code: 'ERR_PMEM_NOT_A_STORE', path: f });
        expect(e.message).toMatch(/it holds a directory, not a regular file; nothing was written to it$/);
      }
    }
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  });

  test('a FIFO, or a link to one, is refused at once by every open, read-only ones too (no writer ever opens it)', () => {
    const fifo = tmpFile('fifo');
    const made = spawnSync('mkfifo', [fifo]);
    expect(made.status).toBe(0);
    const link = tmpFile('fifo-link');
    fs.symlinkSync(fifo, link);
    // In a child: an open(2) that waits for a writer never returns, and the
    // child is then killed at its timeout, which fails the test.
    const script = [
      `const { KVStore, ObjPool, openMapping, Wal } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});`,
      'const out = [];',
      'for (const f of process.argv.slice(1)) for (const [name, open] of [',
      "  ['kv', () => KVStore.open(f)], ['kv readOnly', () => KVStore.open(f, { readOnly: true })],",
      "  ['wal', () => Wal.open(f)], ['wal readOnly', () => Wal.open(f, { readOnly: true })],",
      "  ['pool', () => ObjPool.open(f)], ['pool check', () => ObjPool.check(f)],",
      "  ['mapping readOnly', () => openMapping(f, { readOnly: true })], ['mapping shared', () => openMapping(f, { readOnly: true, shared: true })],",
      ']) {',
      "  try { open(); out.push(name + ' opened'); } catch (e) { out.push(name + ' ' + e.code + (/a FIFO, not a regular file/.test(e.message) ? '' : ': ' + e.message)); }",
      '}',
      'console.log(JSON.stringify(out));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['-e', script, fifo, link], { encoding: 'utf8', timeout: 20000 });
    expect({ error: r.error?.message, status: r.status, stderr: r.stderr }).toEqual({ error: undefined, status: 0, stderr: '' });
    const each = (f: string): string[] => ['kv ERR_PMEM_NOT_A_STORE', 'kv readOnly ERR_PMEM_NOT_A_STORE', 'wal ERR_PMEM_NOT_A_STORE',
      'wal readOnly ERR_PMEM_NOT_A_STORE', 'pool ERR_PMEM_NOT_POOL', 'pool check ERR_PMEM_NOT_POOL',
      `mapping readOnly ERR_PMEM_INVALID: cannot map '${f}' read-only: not a non-empty regular file`,
      `mapping shared ERR_PMEM_INVALID: cannot map '${f}' read-only: not a non-empty regular file`];
    expect(JSON.parse(r.stdout)).toEqual([...each(fifo), ...each(link)]);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
  });

  test('a UNIX socket, or a link to one, is not a store for any open, and not a file to map', async () => {
    // open(2) of a socket fails with ENXIO ("No such device or address"):
    // the opens must still say it is a socket, not report an I/O error.
    const sock = tmpFile('sock');
    const link = tmpFile('sock-link');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      fs.symlinkSync(sock, link);
      for (const f of [sock, link]) {
        const got: string[] = [];
        for (const [name, open] of [
          ['kv', () => KVStore.open(f)], ['kv readOnly', () => KVStore.open(f, { readOnly: true })], ['kv create', () => kvCreate(f)],
          ['wal', () => Wal.open(f)], ['wal readOnly', () => Wal.open(f, { readOnly: true })], ['wal create', () => walCreate(f)],
          ['cache', () => new TieredCache({ file: f, pmemBytes: 64 * 1024, dramEntries: 8 })],
          ['mapping', () => openMapping(f)], ['mapping readOnly', () => openMapping(f, { readOnly: true })],
          ['mapping create', () => openMapping(f, { create: true, size: 4096 })],
          ['pool', () => ObjPool.open(f)],
        ] as [string, () => { close(): void }][]) {
          try {
            open().close();
            got.push(`${name} opened`);
          } catch (e) {
            const { code, message, path: at } = e as PmemError;
            got.push(`${name} ${code}${/a socket, not a regular file/.test(message) && at === f ? '' : `: ${message}`}`);
          }
        }
        expect(got).toEqual([
          'kv ERR_PMEM_NOT_A_STORE', 'kv readOnly ERR_PMEM_NOT_A_STORE', 'kv create ERR_PMEM_NOT_A_STORE',
          'wal ERR_PMEM_NOT_A_STORE', 'wal readOnly ERR_PMEM_NOT_A_STORE', 'wal create ERR_PMEM_NOT_A_STORE',
          'cache ERR_PMEM_NOT_A_STORE',
          'mapping ERR_PMEM_INVALID', 'mapping readOnly ERR_PMEM_INVALID', 'mapping create ERR_PMEM_INVALID',
          // libpmemobj's own words for it: "file type 0140000 not supported".
          expect.stringMatching(/^pool ERR_PMEM_NOT_POOL: /),
        ]);
      }
      expect(fs.statSync(sock).isSocket()).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(sock, { force: true });
      fs.rmSync(link, { force: true });
    }
  });

  test('a symbolic link loop is ERR_PMEM_INVALID for every open: the stores, openMapping, ObjPool', () => {
    const loop = tmpFile('loop-all');
    fs.symlinkSync(path.basename(loop), loop);
    try {
      for (const open of [
        () => KVStore.open(loop), () => KVStore.open(loop, { readOnly: true }), () => kvCreate(loop),
        () => Wal.open(loop), () => Wal.open(loop, { readOnly: true }), () => walCreate(loop),
        () => new TieredCache({ file: loop, pmemBytes: 64 * 1024, dramEntries: 8 }),
        () => openMapping(loop), () => openMapping(loop, { readOnly: true }), () => openMapping(loop, { create: true, size: 4096 }),
        () => ObjPool.open(loop), () => ObjPool.check(loop),
      ]) {
        let e: { code?: string; errno?: number; path?: string } = {};
        try {
          (open() as unknown as { close(): void }).close();
        } catch (thrown) {
          e = thrown as typeof e;
        }
        expect({ code: e.code, errno: e.errno, path: e.path }).toEqual({ code: 'ERR_PMEM_INVALID', errno: 40, path: loop });
      }
    } finally {
      fs.rmSync(loop, { force: true });
    }
  });

  test('a /proc file, empty to stat, opened with create: the error says its directory takes no new file', () => {
    // comm: writable by its owner, so the open gets as far as the create.
    const before = fs.readdirSync('/proc/self');
    const comm = fs.readFileSync('/proc/self/comm', 'utf8');
    let err: unknown;
    try {
      KVStore.open('/proc/self/comm', { create: true, size: 1 << 20 }).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PmemError);
    const e = err as PmemError;
    expect(e.code).toBe('ERR_PMEM_NOT_FOUND');
    expect(e.message).toBe("cannot create '/proc/self/comm': no new file can be made in '/proc/self': No such file or directory");
    expect(e.path).toBe('/proc/self/comm');
    expect(e.stack).not.toMatch(/creating/);
    expect(fs.readdirSync('/proc/self')).toEqual(before);
    expect(fs.readFileSync('/proc/self/comm', 'utf8')).toBe(comm);
  });
});

describe('creating a file', () => {
  test('a create is published whole: no temporary file stays, and the new file is a store', () => {
    const f = tmpFile('made');
    const s = kvCreate(f);
    s.put('a', '1');
    s.close();
    const left = fs.readdirSync(testDir()).filter((n) => n.startsWith(`.${path.basename(f)}.`));
    expect(left).toEqual([]);
    expect(identify(fs.readFileSync(f), 4096).kind).toBe('kv');
  });

  test('a store made over an empty file keeps its owner, group and permissions; one with other hard links is refused', () => {
    const f = writeFile('empty-private', '');
    fs.chmodSync(f, 0o640);
    // Another owner and group, where this process may give them (root).
    const root = process.getuid?.() === 0;
    if (root) fs.chownSync(f, 65534, 65534);
    const before = fs.statSync(f);
    for (const make of [() => kvCreate(f), () => Wal.open(f, { create: true, size: 1 << 20 }), () => new TieredCache({ file: f, pmemBytes: 1 << 20 })]) {
      fs.rmSync(f);
      fs.writeFileSync(f, '');
      fs.chmodSync(f, 0o640);
      if (root) fs.chownSync(f, 65534, 65534);
      make().close();
      const after = fs.statSync(f);
      expect({ mode: after.mode & 0o7777, uid: after.uid, gid: after.gid, empty: after.size === 0 })
        .toEqual({ mode: 0o640, uid: before.uid, gid: before.gid, empty: false });
    }
    if (root) expect(before.uid).toBe(65534);
    // Two names for one empty file: replacing one would leave the other on the empty file.
    const g = writeFile('empty-linked', '');
    const other = tmpFile('empty-linked-2');
    fs.linkSync(g, other);
    let err: unknown;
    try {
      kvCreate(g).close();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_PMEM_INVALID', path: g, message: expect.stringMatching(/it has 2 names \(hard links\)/) });
    expect([fs.statSync(g).size, fs.statSync(g).ino, fs.statSync(g).nlink]).toEqual([0, fs.statSync(other).ino, 2]);
    expect(fs.readdirSync(testDir()).filter((n) => n.includes('empty-linked') && n.endsWith('.creating'))).toEqual([]);
  });

  test("a store made over another user's empty file, which this user may write but cannot give its owner, is refused naming the owner", () => {
    if (process.getuid?.() !== 0) {
      console.warn('not root: another user cannot be tried here; skipped');
      return;
    }
    const d = tmpFile('shared-dir');
    fs.mkdirSync(d, { mode: 0o777 });
    fs.chmodSync(d, 0o777);
    const f = path.join(d, 'roots-empty.kv');
    fs.writeFileSync(f, '', { mode: 0o666 });
    fs.chmodSync(f, 0o666);
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'pmem'), 'kv', f, 'put', 'k', 'v'], { encoding: 'utf8', uid: 65534, gid: 65534 });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`ERR_PMEM_ACCESS: cannot create '${f}' over the empty file there: it belongs to user 0 and group 0, `
      + 'which this process (user 65534) cannot give the new file; nothing was changed');
    expect(fs.statSync(f)).toMatchObject({ size: 0, uid: 0 });
    expect(fs.readdirSync(d)).toEqual(['roots-empty.kv']);
    fs.rmSync(d, { recursive: true });
  });

  test('a store replaced between the open and the lock: the open locks and maps what the path names now', () => {
    const f = tmpFile('moved-under-lock');
    const old = `${f}.old`;
    const a = kvCreate(f);
    a.put('k', 'first');
    a.close();
    const { binding } = require('../lib/core/binding') as typeof import('../lib/core/binding');
    const real = binding.lockFile.bind(binding);
    let calls = 0;
    const spy = jest.spyOn(binding, 'lockFile').mockImplementation((file, exclusive, create) => {
      const lock = real(file, exclusive, create);
      if (file === f && calls++ === 0) {
        // Between this open's lock and its first look: the store moved
        // aside, and another one made at the path.
        fs.renameSync(f, old);
        const b = kvCreate(f);
        b.put('k', 'second');
        b.close();
      }
      return lock;
    });
    let s: KVStore;
    try {
      s = KVStore.open(f);
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(2);
    expect(s.getString('k')).toBe('second');
    // Its lock is on the file it writes: another writer of the path is refused,
    // and the file moved aside is not held.
    expectPmemError(() => KVStore.open(f), 'ERR_PMEM_LOCKED');
    const moved = KVStore.open(old);
    expect(moved.getString('k')).toBe('first');
    moved.close();
    s.close();
  });

  test('the lock is held from the moment the file appears, also over an empty file replaced', () => {
    const f = writeFile('empty-locked', '');
    const s = kvCreate(f);
    expectPmemError(() => KVStore.open(f), 'ERR_PMEM_LOCKED');
    expectPmemError(() => kvCreate(f), 'ERR_PMEM_LOCKED');
    s.close();
    const w = tmpFile('wal-made');
    const log = walCreate(w);
    expectPmemError(() => Wal.open(w), 'ERR_PMEM_LOCKED');
    log.close();
  });

  test('a create that fails names the user\'s path, never its temporary file, and leaves nothing behind', () => {
    // A filesystem too small for the file: the fallocate of the new file fails.
    const dir = path.join(testDir(), `small-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=262144', 'tmpfs', dir], { encoding: 'utf8' });
    if (mount.status !== 0) {
      console.log(`17.identify: SKIPPED the full-filesystem create (mount -t tmpfs: ${(mount.stderr || '').trim() || mount.error})`);
      return;
    }
    try {
      for (const [name, create] of [
        ['kv', kvCreate],
        ['wal', (f: string) => Wal.open(f, { create: true, size: 1 << 20 })],
      ] as const) {
        const missing = path.join(dir, `${name}-missing`);
        const empty = path.join(dir, `${name}-empty`);
        fs.writeFileSync(empty, '');
        // A missing file is linked into place; an empty one is renamed over.
        for (const f of [missing, empty]) {
          let e: { code?: string; path?: string; message?: string; stack?: string } = {};
          try {
            create(f).close();
          } catch (thrown) {
            e = thrown as typeof e;
          }
          expect(e.code).toBe('ERR_PMEM_NO_SPACE');
          expect(e.path).toBe(f);
          expect(e.message).toContain(`'${f}'`);
          expect(e.message).not.toMatch(/creating/);
          expect(e.stack).not.toMatch(/creating/);
        }
        expect(fs.readdirSync(dir).sort()).toEqual([`${name}-empty`]);
        expect(fs.statSync(empty).size).toBe(0);
        fs.rmSync(empty);
      }
    } finally {
      spawnSync('umount', [dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a new file\'s mapping names the file, not its temporary name, in its errors from then on', () => {
    const f = tmpFile('renamed');
    const { lock, mapping } = openStoreFile(f, {
      kind: 'unknown',
      name: 'a test file',
      create: true,
      readOnly: false,
      size: 1 << 16,
      maxFile: 1 << 20,
      format: (m) => m.buffer.fill(7),
    });
    expect(mapping.path).toBe(f);
    mapping.close();
    lock.release();
    let e: { code?: string; message?: string; path?: string } = {};
    try {
      mapping.persist(0, 8);
    } catch (thrown) {
      e = thrown as typeof e;
    }
    expect(e.code).toBe('ERR_PMEM_CLOSED');
    expect(e.message).toContain(`'${f}'`);
    expect(e.path).toBe(f);
    expect(fs.readFileSync(f)[0]).toBe(7);
  });

  test('a name as long as a name may be (255 bytes) is created: its temporary name is cut to fit', () => {
    const dir = path.join(testDir(), `long-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    // 255 ASCII bytes; 127 two-byte characters (254 bytes), which are cut whole.
    for (const name of ['x'.repeat(255), '\u00e9'.repeat(127)]) {
      const f = path.join(dir, name);
      const s = kvCreate(f);
      s.put('k', 'v');
      s.close();
      const r = KVStore.open(f, { readOnly: true });
      expect(r.getString('k')).toBe('v');
      r.close();
      const log = Wal.open(`${f.slice(0, -1)}w`, { create: true, size: 1 << 16 });
      log.close();
    }
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.creating'))).toEqual([]);
    expect(fs.readdirSync(dir)).toHaveLength(4);
    fs.rmSync(dir, { recursive: true });
  });

  test("a path that ends in '/' is ERR_PMEM_INVALID for every create, saying it names a directory, and nothing is made", () => {
    const dir = path.join(testDir(), `slash-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    try {
      const creates: [string, (f: string) => { close(): void }][] = [
        ['kv', kvCreate], ['wal', walCreate],
        ['cache', (f) => new TieredCache({ file: f, pmemBytes: 64 * 1024, dramEntries: 8 })],
        ['pool', (f) => ObjPool.create(f, { layout: 'x' })],
      ];
      for (const [name, create] of creates) {
        const f = path.join(dir, `${name}.new`) + '/';
        expect(() => create(f).close()).toThrow(expect.objectContaining({
          code: 'ERR_PMEM_INVALID', path: f, message: `cannot create '${f}': a path that ends in '/' names a directory; nothing was created`,
        }));
      }
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a path as long as open(2) takes (4095 bytes) is created by every create; a longer one is ERR_PMEM_INVALID naming ENAMETOOLONG', () => {
    // The temporary name beside such a file is 23 bytes longer than its own:
    // past PATH_MAX as DIR/NAME, for a name of any length.
    const top = path.join(testDir(), `pathmax-${process.pid}`);
    let deep = top;
    while (Buffer.byteLength(deep) + 201 < 4093) deep = path.join(deep, 'd'.repeat(200));
    deep = path.join(deep, 'e'.repeat(4093 - Buffer.byteLength(deep) - 1));
    fs.mkdirSync(deep, { recursive: true });
    const creates: [string, (f: string) => { close(): void }][] = [
      ['kv', kvCreate], ['wal', walCreate],
      ['cache', (f) => new TieredCache({ file: f, pmemBytes: 64 * 1024, dramEntries: 8 })],
      ['pool', (f) => ObjPool.create(f, { layout: 'x' })],
    ];
    try {
      // A one-byte name in a directory of 4093 bytes, and a long name.
      const fits = [path.join(deep, 'a'), path.join(path.dirname(deep), 'n'.repeat(4094 - Buffer.byteLength(path.dirname(deep))))];
      for (const f of fits) {
        expect(Buffer.byteLength(f)).toBe(4095);
        for (const [name, create] of creates) {
          let got = 'created';
          try {
            create(f).close();
            expect(fs.statSync(f).size).toBeGreaterThan(0);
          } catch (e) {
            got = `${(e as PmemError).code}: ${(e as PmemError).message}`;
          }
          expect(`${name} ${got}`).toBe(`${name} created`);
          fs.rmSync(f);
        }
        expect(fs.readdirSync(path.dirname(f)).filter((n) => n.endsWith('.creating'))).toEqual([]);
      }
      // One byte more: no path open(2) takes, said so, and before a pool
      // of its size is built under a temporary name.
      const objCreate = binding.objCreate;
      let built = 0;
      binding.objCreate = (...a: Parameters<typeof objCreate>) => {
        built++;
        return objCreate(...a);
      };
      try {
        for (const [name, create] of creates) {
          const f = path.join(deep, 'ab');
          let e: Partial<PmemError> = {};
          try {
            create(f).close();
          } catch (thrown) {
            e = thrown as PmemError;
          }
          expect({ name, code: e.code, errno: e.errno, path: e.path }).toEqual({ name, code: 'ERR_PMEM_INVALID', errno: 36, path: f });
          expect(e.message).toMatch(/too long a path \(ENAMETOOLONG\): 4096 bytes/);
        }
      } finally {
        binding.objCreate = objCreate;
      }
      expect(built).toBe(0);
      expect(fs.readdirSync(deep)).toEqual([]);
    } finally {
      // A temporary file a failed create left in `deep` has a path too long
      // for rmSync: removed through a descriptor of the directory.
      const d = fs.openSync(deep, 'r');
      for (const name of fs.readdirSync(deep)) fs.rmSync(`/proc/self/fd/${d}/${name}`, { force: true });
      fs.closeSync(d);
      fs.rmSync(top, { recursive: true, force: true });
    }
  });

  test('a create through a symbolic link formats the empty file it names; the link stays, and a link to nothing is refused', () => {
    const dir = path.join(testDir(), `links-${process.pid}`);
    const targets = path.join(dir, 'targets');
    fs.mkdirSync(targets, { recursive: true });
    const creates = [
      ['kv', kvCreate, 'kv'],
      ['wal', walCreate, 'wal'],
      ['cache', (f: string) => new TieredCache({ file: f, pmemBytes: 64 * 1024, dramEntries: 8 }), 'cache'],
    ] as const;
    for (const [name, create, kind] of creates) {
      // A link to a link to an empty file in another directory, relative.
      const target = path.join(targets, name);
      fs.writeFileSync(target, '');
      const inner = path.join(dir, `${name}-inner`);
      const link = path.join(dir, `${name}-link`);
      fs.symlinkSync(path.join('targets', name), inner);
      fs.symlinkSync(path.basename(inner), link);
      create(link).close();
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(fs.readlinkSync(link)).toBe(path.basename(inner));
      expect(fs.readlinkSync(inner)).toBe(path.join('targets', name));
      expect(identify(fs.readFileSync(target), 4096).kind).toBe(kind);
      // Through the link it is the store from now on.
      create(link).close();
    }
    const s = KVStore.open(path.join(dir, 'kv-link'));
    s.put('k', 'v');
    s.close();
    const r = KVStore.open(path.join(targets, 'kv'), { readOnly: true });
    expect(r.getString('k')).toBe('v');
    r.close();
    // A link to nothing: refused, kept, and nothing made where it points.
    const dangling = path.join(dir, 'dangling');
    fs.symlinkSync(path.join('targets', 'none'), dangling);
    for (const [, create] of creates) {
      let e: { code?: string; message?: string; path?: string } = {};
      try {
        create(dangling).close();
      } catch (thrown) {
        e = thrown as typeof e;
      }
      expect(e.code).toBe('ERR_PMEM_NOT_FOUND');
      expect(e.path).toBe(dangling);
      expect(e.message).toBe(`cannot create '${dangling}': it is a symbolic link to 'targets/none', which does not exist; nothing was created`);
      expect(fs.readlinkSync(dangling)).toBe(path.join('targets', 'none'));
    }
    expect(fs.readdirSync(dir).sort()).toEqual(['cache-inner', 'cache-link', 'dangling', 'kv-inner', 'kv-link', 'targets', 'wal-inner', 'wal-link']);
    expect(fs.readdirSync(targets).sort()).toEqual(['cache', 'kv', 'wal']);
    fs.rmSync(dir, { recursive: true });
  });

  test('what a crashed create leaves beside the file is never taken for it', () => {
    const f = tmpFile('crashed');
    // A create interrupted before its link: the temporary file, half made.
    const leftover = path.join(path.dirname(f), `.${path.basename(f)}.0123456789ab.creating`);
    fs.writeFileSync(leftover, Buffer.alloc(1 << 16));
    expectPmemError(() => KVStore.open(f), 'ERR_PMEM_NOT_FOUND');
    const s = kvCreate(f);
    s.put('k', 'v');
    s.close();
    const r = KVStore.open(f, { readOnly: true });
    expect(r.getString('k')).toBe('v');
    r.close();
  });
});

describe('the classifier', () => {
  test('kinds from first bytes', () => {
    expect(identify(Buffer.alloc(0), 0).kind).toBe('empty');
    expect(identify(Buffer.alloc(64), 64).kind).toBe('zeros');
    expect(identify(Buffer.from('plain text\n'), 11).kind).toBe('text');
    expect(identify(Buffer.from([0xff, 0, 1, 2]), 4).kind).toBe('unknown');
    // Bytes of 0x80 and up are text only as UTF-8: all-0xff bytes, or an
    // overlong sequence, are not; a sequence cut at the end of the bytes read is.
    expect(identify(Buffer.alloc(4096, 0xff), 4096)).toMatchObject({ kind: 'unknown', description: 'unknown data (no signature of this package)' });
    expect(identify(Buffer.from([0x61, 0xc0, 0x80, 0x0a]), 4).kind).toBe('unknown');
    expect(identify(Buffer.from('héllo wörld — ✓\n'), 21).kind).toBe('text');
    expect(identify(Buffer.from('héllo').subarray(0, 2), 2).kind).toBe('text');
    const pool = Buffer.alloc(64);
    pool.write('PMEMOBJ\0', 0, 'latin1');
    expect(identify(pool, 64)).toMatchObject({ kind: 'objpool', description: 'a libpmemobj pool' });
    const list = Buffer.alloc(64);
    list.writeUInt32LE(0x4c505041, 0);
    expect(identify(list, 64).kind).toBe('append-list');
    const cache = Buffer.alloc(64);
    cache.writeUInt32LE(0x31544350, 0);
    cache.writeUInt32LE(1, 4);
    expect(identify(cache, 64)).toEqual({ kind: 'cache', format: 'PCT1 v1', description: 'a tiered cache' });
    const sb = Buffer.alloc(256);
    sb.writeUInt32LE(0x31425350, 0);
    expect(identify(sb, 256).kind).toBe('superblock');
  });

  test('inspect uses it, and a character device is devdax only when sysfs says so', () => {
    expect(inspect('/dev/null').kind).toBe('not a file');
    const text = writeFile('inspect-text', 'text\n');
    expect(inspect(text).kind).toBe('mapping');
  });
});

describe('Wal.open options', () => {
  test('readOnly: 1 and unknown options are TypeErrors; size and create need a path', () => {
    const f = tmpFile('wal-opts');
    walCreate(f).close();
    expectThrowName(() => Wal.open(f, { readOnly: 1 } as never), 'TypeError');
    expectThrowName(() => Wal.open(f, { create: 'yes' } as never), 'TypeError');
    expectThrowName(() => Wal.open(f, { bogus: true } as never), 'TypeError');
    expectThrowName(() => Wal.open(f, { create: true, readOnly: true }), 'TypeError');
    expectThrowName(() => Wal.open(tmpFile('wal-nosize'), { create: true }), 'RangeError');
  });
});

describe('two copies of the package in one process', () => {
  test('create works when the native errors come from the other copy', () => {
    // Loading the built copy makes the addon throw its PmemError class, not
    // the one of the copy under test: the open path must still see that the
    // file is missing and create it.
    const dist = require('../dist') as typeof import('../lib');
    const file = tmpFile('two-copies.kv');
    try {
      const db = KVStore.open(file, { create: true, size: 256 * 1024, segmentSize: 16384 });
      db.put('a', 'b');
      db.close();
      const w = Wal.open(tmpFile('two-copies.wal'), { create: true, size: 256 * 1024 });
      w.close();
    } finally {
      // Hand the error class back to the copy under test.
      const { binding } = require('../lib/core/binding') as typeof import('../lib/core/binding');
      const { PmemError } = require('../lib/core/errors') as typeof import('../lib/core/errors');
      binding.setErrorClass(PmemError);
      void dist;
    }
  });

  test('isPmemError goes by shape, across copies and realms', () => {
    const { isPmemError } = require('../lib/core/errors') as typeof import('../lib/core/errors');
    const vm = require('node:vm') as typeof import('node:vm');
    const foreign = vm.runInNewContext(`const e = new Error('x'); e.name = 'PmemError'; e.code = 'ERR_PMEM_NOT_FOUND'; e`);
    expect(isPmemError(foreign)).toBe(true);
    expect(isPmemError(foreign, 'ERR_PMEM_NOT_FOUND')).toBe(true);
    expect(isPmemError(foreign, 'ERR_PMEM_LOCKED')).toBe(false);
    expect(isPmemError(new Error('x'))).toBe(false);
    expect(isPmemError(null)).toBe(false);
    expect(isPmemError({ name: 'PmemError' })).toBe(false);
  });
});
