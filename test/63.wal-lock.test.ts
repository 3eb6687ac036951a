// One Wal writer at a time, across processes and threads; read-only opens
// write nothing and are refused beside a writer.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { Wal } from '../lib';
import { expectPmemError, tmpFile } from './helpers';

const dist = path.join(__dirname, '..', 'dist');

test('a second writer is refused with ERR_PMEM_LOCKED, in this process and in another; close releases it', () => {
  const file = tmpFile('wal-lock');
  const w = Wal.open(file, { create: true, size: 1 << 16 });
  w.append('one');
  expectPmemError(() => Wal.open(file), 'ERR_PMEM_LOCKED');
  expectPmemError(() => Wal.open(file, { create: true, size: 1 << 16 }), 'ERR_PMEM_LOCKED');
  // Readers beside a writer are refused until they can follow it.
  expectPmemError(() => Wal.open(file, { readOnly: true }), 'ERR_PMEM_LOCKED');
  const child = spawnSync(process.execPath, ['-e', `
    const { Wal } = require(${JSON.stringify(dist)});
    try { Wal.open(${JSON.stringify(file)}).append('two'); console.log('appended'); }
    catch (e) { console.log(e.code); }`], { encoding: 'utf8' });
  expect(child.stdout.trim()).toBe('ERR_PMEM_LOCKED');
  w.close();
  const again = Wal.open(file);
  expect([...again.read()].map((r) => `${r.lsn}:${r.data}`)).toEqual(['1:one']);
  again.close();
});

test('a worker beside the main thread cannot open the log for writing', async () => {
  const file = tmpFile('wal-worker');
  const w = Wal.open(file, { create: true, size: 1 << 16 });
  const code = await new Promise<string>((resolve, reject) => {
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const { Wal } = require(workerData.dist);
      try { Wal.open(workerData.file).append('from worker'); parentPort.postMessage('appended'); }
      catch (e) { parentPort.postMessage(e.code); }`, { eval: true, workerData: { dist, file } });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  expect(code).toBe('ERR_PMEM_LOCKED');
  w.append('from main');
  w.close();
});

test('read-only opens share the file, write nothing, and keep a writer out', () => {
  const file = tmpFile('wal-ro');
  const w = Wal.open(file, { create: true, size: 1 << 16 });
  w.appendBatch(['a', 'b']);
  w.close();
  fs.utimesSync(file, new Date(2000, 0, 1), new Date(2000, 0, 1));
  const bytes = fs.readFileSync(file);
  const mtime = fs.statSync(file).mtimeMs;
  const r1 = Wal.open(file, { readOnly: true });
  const r2 = Wal.open(file, { readOnly: true });
  expect([...r2.read()].length).toBe(2);
  expectPmemError(() => Wal.open(file), 'ERR_PMEM_LOCKED');
  expectPmemError(() => r1.append('x'), 'ERR_PMEM_READONLY');
  r1.recover(); // recovers again, still without writing
  r1.close();
  r2.close();
  expect(fs.statSync(file).mtimeMs).toBe(mtime);
  expect(fs.readFileSync(file).equals(bytes)).toBe(true);
});
