// File locks (native/core/filelock.cc): a lock is a handle released by
// release(), by its finalizer, and when the worker that took it exits.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { KVStore, Wal } from '../lib';
import { binding } from '../lib/core/binding';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

const dist = path.join(__dirname, '..', 'dist');

function makeStore(name: string): string {
  const file = tmpFile(name);
  KVStore.open(file, { create: true, size: 256 * 1024, segmentSize: 16384 }).close();
  return file;
}

describe('lockFile', () => {
  test('one writer or many readers; release drops it; releasing twice does nothing', () => {
    const file = tmpFile('lock');
    const w = binding.lockFile(file, true, true);
    expectPmemError(() => binding.lockFile(file, true, false), 'ERR_PMEM_LOCKED');
    expectPmemError(() => binding.lockFile(file, false, false), 'ERR_PMEM_LOCKED');
    w.release();
    w.release();
    const r1 = binding.lockFile(file, false, false);
    const r2 = binding.lockFile(file, false, false);
    expectPmemError(() => binding.lockFile(file, true, false), 'ERR_PMEM_LOCKED');
    r1.release();
    expectPmemError(() => binding.lockFile(file, true, false), 'ERR_PMEM_LOCKED');
    r2.release();
    binding.lockFile(file, true, false).release();
  });

  test('bad arguments are TypeError; a missing file without create is ERR_PMEM_NOT_FOUND', () => {
    expectThrowName(() => binding.lockFile(1 as never, true, false), 'TypeError');
    expectThrowName(() => binding.lockFile('x', 1 as never, false), 'TypeError');
    expectPmemError(() => binding.lockFile(tmpFile('no-lock'), true, false), 'ERR_PMEM_NOT_FOUND');
  });

  test('fd is the locked descriptor, read-only, and closed by release()', () => {
    const file = tmpFile('lock-fd');
    fs.writeFileSync(file, 'locked bytes');
    const h = binding.lockFile(file, true, false);
    expect(Number.isInteger(h.fd)).toBe(true);
    const b = Buffer.alloc(12);
    expect(fs.readSync(h.fd, b, 0, 12, 0)).toBe(12);
    expect(b.toString()).toBe('locked bytes');
    expectThrowName(() => { (h as { fd: number }).fd = 0; }, 'TypeError');
    h.release();
    binding.lockFile(file, true, false).release();
  });

  test('a read-only lock of a FIFO returns at once, without waiting for a writer, and its descriptor says FIFO', () => {
    // The store opens refuse what the lock's descriptor is not (a FIFO put in
    // a store's place after any earlier check included), so the lock's own
    // open must not wait. In a child: an open that waits never returns, and
    // the child is killed at its timeout, which fails the test.
    const fifo = tmpFile('lock-fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const script = [
      `const { binding } = require(${JSON.stringify(path.join(dist, 'core', 'binding'))});`,
      'const fs = require("node:fs");',
      'const h = binding.lockFile(process.argv[1], false, false);',
      'console.log(JSON.stringify({ fifo: fs.fstatSync(h.fd).isFIFO() }));',
      'h.release();',
    ].join('\n');
    const r = spawnSync(process.execPath, ['-e', script, fifo], { encoding: 'utf8', timeout: 20000 });
    expect({ error: r.error?.message, status: r.status, stderr: r.stderr }).toEqual({ error: undefined, status: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ fifo: true });
  });
});

describe('KVStore locks', () => {
  test('a worker that opens a store and exits without close() leaves it unlocked', async () => {
    const file = makeStore('worker-kv');
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { KVStore } = require(workerData.dist);
       const store = KVStore.open(workerData.file);
       store.put('from', 'worker');
       parentPort.postMessage('open');
       parentPort.once('message', () => parentPort.close());`,
      { eval: true, workerData: { file, dist } },
    );
    const exited = once(worker, 'exit');
    await once(worker, 'message');
    // The worker holds the store now.
    expectPmemError(() => KVStore.open(file), 'ERR_PMEM_LOCKED');
    worker.postMessage('exit');
    const [code] = await exited;
    expect(code).toBe(0);
    const store = KVStore.open(file);
    expect(store.getString('from')).toBe('worker');
    store.close();
  });

  test('a Wal opened in a worker that exits without close() is unlocked', async () => {
    const file = tmpFile('worker-wal');
    Wal.open(file, { create: true, size: 256 * 1024 }).close();
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { Wal } = require(workerData.dist);
       const wal = Wal.open(workerData.file);
       wal.append('from worker');
       parentPort.postMessage('open');
       parentPort.once('message', () => parentPort.close());`,
      { eval: true, workerData: { file, dist } },
    );
    const exited = once(worker, 'exit');
    await once(worker, 'message');
    expectPmemError(() => Wal.open(file), 'ERR_PMEM_LOCKED');
    worker.postMessage('exit');
    const [code] = await exited;
    expect(code).toBe(0);
    const wal = Wal.open(file);
    expect([...wal.read()].map((r) => r.data.toString())).toEqual(['from worker']);
    wal.close();
  });

  test('readers collected without close() close their descriptors, and no descriptor a later open reuses', () => {
    const file = tmpFile('gc-reader');
    const other = tmpFile('gc-reader-other');
    try {
      const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'lock', 'gc-reader.js'), file, other], {
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ whileOpen: true, reused: true, afterGc: 0, otherOpen: true });
    } finally {
      fs.rmSync(file, { force: true });
      fs.rmSync(other, { force: true });
    }
  });

  test('a reader opened in a worker that exits without close() leaves no descriptor', async () => {
    // Node closes a worker's fs.openSync descriptors when it exits
    // (trackUnmanagedFds); a reader's native handle must do as much.
    const file = makeStore('worker-reader');
    const fdsOn = (): number => fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
      } catch {
        return false;
      }
    }).length;
    try {
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const { KVStore } = require(workerData.dist);
         globalThis.reader = KVStore.open(workerData.file, { readOnly: true });
         parentPort.postMessage('open');
         parentPort.once('message', () => parentPort.close());`,
        { eval: true, workerData: { file, dist } },
      );
      const exited = once(worker, 'exit');
      await once(worker, 'message');
      expect(fdsOn()).toBeGreaterThan(0);
      worker.postMessage('exit');
      const [code] = await exited;
      expect(code).toBe(0);
      expect(fdsOn()).toBe(0);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  test('a store collected without close() releases its lock', () => {
    const file = tmpFile('gc-kv');
    const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'lock', 'gc-lock.js'), file], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ whileHeld: 'ERR_PMEM_LOCKED', afterGc: 'ok' });
  });
});
