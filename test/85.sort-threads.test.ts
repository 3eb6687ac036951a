// A sort's worker thread that stops without answering (its heap limit, or
// terminated) fails the wait on it with ERR_PMEM_NO_MEMORY instead of
// blocking the sort forever: the main thread, blocked in Atomics.wait, looks
// for the worker's thread in /proc/self/task.
import * as fs from 'node:fs';

import { PmemError } from '../lib';
import { checkSortOptions } from '../lib/sort/options';
import { RunThread } from '../lib/sort/run-thread';

const format = checkSortOptions({}).format;

/** The error `wait` throws, or a failure when it returns. */
function waitError(t: RunThread): PmemError {
  try {
    t.wait();
  } catch (e) {
    return e as PmemError;
  }
  throw new Error('wait returned');
}

/** Waits, without blocking the event loop, until the worker has said which thread it is. */
async function started(t: RunThread): Promise<number> {
  const tids = (): number[] => fs.readdirSync('/proc/self/task').map(Number);
  while (!t.alive() || !tids().some((x) => x === t.threadId())) await new Promise((r) => setTimeout(r, 5));
  return t.threadId();
}

test('a worker terminated while the main thread waits for it: the wait throws ERR_PMEM_NO_MEMORY, and says why', async () => {
  const t = new RunThread(null, 0, 2, format);
  const tid = await started(t);
  expect(tid).toBeGreaterThan(0);
  expect(fs.existsSync(`/proc/self/task/${tid}`)).toBe(true);
  t.terminate();
  const e = waitError(t);
  expect(e).toBeInstanceOf(PmemError);
  expect(e.code).toBe('ERR_PMEM_NO_MEMORY');
  expect(e.message).toMatch(/sort worker thread stopped without answering/);
  // It threw because the thread was gone, not on a timer.
  expect(fs.existsSync(`/proc/self/task/${tid}`)).toBe(false);
  expect(t.alive()).toBe(false);
  t.close(); // nothing held: it returns
});

test('a worker terminated as soon as it is made, before or after it stored its thread id: the wait throws', () => {
  const t = new RunThread(null, 0, 2, format);
  t.terminate();
  expect(waitError(t).code).toBe('ERR_PMEM_NO_MEMORY');
  expect(t.alive()).toBe(false);
  t.close();
});

test('a live worker is alive, and its answer is waited for', async () => {
  const t = new RunThread(null, 0, 2, format);
  await started(t);
  expect(t.alive()).toBe(true);
  // A merge range over no sources: the worker answers with an error of its own.
  t.start({ kind: 'range' } as never);
  expect(() => t.wait()).toThrow();
  expect(t.alive()).toBe(true);
  t.close();
});
