import { fork, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { openMapping } from '../lib';
import { tmpFile } from './helpers';

const fixtures = path.join(__dirname, 'fixtures', 'mapping');

test('data persisted before SIGKILL is there on reopen', async () => {
  const file = tmpFile('killed');
  const child = fork(path.join(fixtures, 'persist-then-wait.js'), [file, '50'], { stdio: 'inherit' });
  const acked: number[] = [];
  await new Promise<void>((resolve, reject) => {
    child.on('message', (msg: { acked: number }) => {
      acked.push(msg.acked);
      if (acked.length === 50) {
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited with ${code}`));
    });
  });
  const m = openMapping(file);
  for (const i of acked) {
    expect(m.buffer.readUInt32LE(i * 64)).toBe(i + 1);
    expect(m.buffer.toString('utf8', i * 64 + 4, i * 64 + 4 + `record ${i}`.length)).toBe(`record ${i}`);
  }
  m.close();
});

test('misuse in a worker throws there, and the process survives the worker exit', async () => {
  const file = tmpFile('worker');
  const worker = new Worker(path.join(fixtures, 'worker-misuse.js'), { workerData: { path: file } });
  // Listen for the exit at once: a worker that exits before this thread
  // reads its message delivers 'message' and 'exit' in the same tick.
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const results = await new Promise<Record<string, string>>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const code = await exited;
  expect(code).toBe(0);
  expect(results).toEqual({
    outOfRange: 'RangeError',
    wrongType: 'TypeError',
    useAfterClose: 'ERR_PMEM_CLOSED',
    staleView: 'ERR_BUFFER_OUT_OF_BOUNDS',
  });
  const m = openMapping(file);
  expect(m.buffer.toString('utf8', 0, 13)).toBe('from a worker');
  m.close();
});

test('misuse on the main thread throws and the process goes on', () => {
  const m = openMapping(tmpFile('main'), { size: 4096, create: true });
  m.close();
  expect(() => m.persist(0, 1)).toThrow(/closed/);
  expect(() => m.copy(0, Buffer.alloc(1))).toThrow(/closed/);
});

test('a view keeps its memory mapped after the Mapping is collected; both collected, it is unmapped', () => {
  const file = tmpFile('gc');
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(fixtures, 'gc-unmap.js'), file], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ afterMapping: { mapped: true, text: 'kept' }, afterView: { mapped: false } });
});
