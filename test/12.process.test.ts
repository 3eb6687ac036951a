import { fork, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { openMapping } from '../lib';
import { crashTest } from '../lib/testing';
import { tmpFile } from './helpers';

const fixtures = path.join(__dirname, 'fixtures', 'mapping');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const records = require('./fixtures/mapping/persist-then-wait.js') as {
  writeRecords(region: unknown, count: number, ack: (i: number) => void, opts?: { persist?: boolean }): void;
  hasRecord(bytes: Buffer, i: number): boolean;
  RECORD: number;
};

// A SIGKILL leaves a process's stores in the page cache, persisted or not:
// this test shows the file keeps what the process wrote, and cannot tell
// whether it persisted. The crash simulator below checks the persists.
test('records a process wrote and acknowledged before SIGKILL are in the file on reopen', async () => {
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
  expect(acked.length).toBe(50);
  for (const i of acked) expect(records.hasRecord(m.buffer, i)).toBe(true);
  m.close();
});

describe('the same records under the crash simulator', () => {
  const COUNT = 40;
  const run = (persist: boolean) =>
    crashTest<null, Buffer>({
      size: COUNT * records.RECORD,
      setup: () => null,
      operation(region, _before, ctx) {
        records.writeRecords(region, COUNT, (i) => ctx.ack(i), { persist });
        return null;
      },
      recover: (region) => Buffer.from(region.bytes),
      check(bytes, { acked }) {
        for (const i of acked as number[]) {
          if (!records.hasRecord(bytes, i)) throw new Error(`acknowledged record ${i} lost`);
        }
      },
    });

  test('every record persisted before its ack is in every crash image', () => {
    const r = run(true);
    expect(r.violations).toEqual([]);
    expect(r.images).toBeGreaterThan(COUNT);
  });

  test('broken: records acknowledged without their persist are lost in some image', () => {
    const r = run(false);
    expect(r.violations.length).toBeGreaterThan(0);
    expect(r.violations[0].message).toMatch(/acknowledged record \d+ lost/);
  });
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
