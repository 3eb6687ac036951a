// Mapping.populate and Mapping.prefault: stores into a populated range take
// no page fault, and the errors of both. Faults are the minor faults of
// the calling thread (/proc/thread-self/stat), which the prefault thread's
// own do not count into.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { openMapping, TxLog, Wal } from '../lib/index';
import { expectPmemError, expectThrowName, hugePagesMapped, tmpFile } from './helpers';

const PAGE = 4096;
const HALF = 4 * 1024 * 1024;
const PAGES = HALF / PAGE;

/** Minor faults this thread has taken so far. */
function minorFaults(): number {
  const stat = fs.readFileSync('/proc/thread-self/stat', 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

/** Resident bytes of this process's mappings of `file` (smaps). */
function resident(file: string): number {
  const smaps = fs.readFileSync('/proc/self/smaps', 'latin1');
  let n = 0;
  for (let at = smaps.indexOf(file); at >= 0; at = smaps.indexOf(file, at + 1)) {
    n += Number(/Rss:\s+(\d+) kB/.exec(smaps.slice(at))?.[1]) * 1024;
  }
  return n;
}

/** Faults taken while storing one byte into each page of [from, from + HALF). */
function faultsStoring(b: Buffer, from: number): number {
  const before = minorFaults();
  for (let off = from; off < from + HALF; off += PAGE) b[off] = 1;
  return minorFaults() - before;
}

describe('Mapping.populate and prefault', () => {
  test('stores into a populated range take no page fault; those into the rest do', () => {
    const file = tmpFile('populate');
    const m = openMapping(file, { create: true, size: 2 * HALF });
    const b = m.buffer;
    minorFaults(); // the first read of the stat file, out of the count
    m.populate(0, HALF);
    const warm = faultsStoring(b, 0);
    const cold = faultsStoring(b, HALF);
    if (!hugePagesMapped(file)) {
      expect(cold).toBeGreaterThanOrEqual(PAGES / 2);
      expect(warm).toBeLessThanOrEqual(PAGES / 8); // the JS engine takes a few faults of its own (GC, code)
    }
    m.close();
  });

  test('prefault populates on the mapping\'s thread; prefaultWait waits for it', () => {
    const file = tmpFile('prefault');
    const m = openMapping(file, { create: true, size: 2 * HALF });
    const b = m.buffer;
    expect(m.prefaultWait()).toEqual({ done: 0, failed: 0, lastError: 0 });
    minorFaults();
    m.prefault(HALF, HALF);
    expect(m.prefaultWait()).toEqual({ done: 1, failed: 0, lastError: 0 });
    const warm = faultsStoring(b, HALF);
    const cold = faultsStoring(b, 0);
    if (!hugePagesMapped(file)) {
      expect(cold).toBeGreaterThanOrEqual(PAGES / 2);
      expect(warm).toBeLessThanOrEqual(PAGES / 8); // the JS engine takes a few faults of its own (GC, code)
    }
    m.close();
  });

  test('populate changes no byte, on a writable and on a read-only mapping', () => {
    const path = tmpFile('bytes');
    const m = openMapping(path, { create: true, size: HALF });
    for (let i = 0; i < HALF; i += 997) m.buffer[i] = i % 251;
    m.persist(0, HALF);
    const before = Buffer.from(m.buffer);
    m.populate(0, HALF);
    m.prefault(0, HALF);
    m.prefaultWait();
    expect(m.buffer.equals(before)).toBe(true);
    m.close();
    const r = openMapping(path, { readOnly: true });
    r.populate(0, HALF);
    r.prefault(0, HALF);
    expect(r.prefaultWait().failed).toBe(0);
    expect(r.buffer.equals(before)).toBe(true);
    r.close();
    expect(fs.readFileSync(path).equals(before)).toBe(true);
  });

  test('populate on a live mapping loses no store another thread makes to the same bytes meanwhile', async () => {
    // populate accesses the first byte of each page after the madvise (see
    // native/mapping/populate.cc): with an atomic add of 0, which a store
    // of another thread to that byte cannot be lost under, as it could
    // under a plain read and write back.
    const file = tmpFile('live');
    const m = openMapping(file, { create: true, size: HALF });
    const b = m.buffer;
    const times = 20;
    const flags = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(path.join(__dirname, 'fixtures', 'mapping', 'populate-loop.js'), {
      workerData: { file, size: HALF, times, flags: flags.buffer },
    });
    const exited = new Promise<number>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('exit', resolve);
    });
    // Every populate of the worker starts after the first store of this
    // loop and ends before its last round: they all run while it stores.
    // The deadline only ends a loop whose worker died (the test then fails).
    const deadline = Date.now() + 60_000;
    let rounds = 0;
    let value = 0;
    Atomics.store(flags, 0, 1);
    while (Atomics.load(flags, 1) < times && Date.now() < deadline) {
      value = (rounds++ % 255) + 1;
      for (let off = 0; off < HALF; off += PAGE) b[off] = value;
    }
    // Each round stored every page after the one before: each page holds the last round's value unless a populate undid a store.
    const during = Atomics.load(flags, 1);
    expect(await exited).toBe(0);
    expect(during).toBe(times);
    expect(rounds).toBeGreaterThan(0);
    const stale: number[] = [];
    for (let off = 0; off < HALF; off += PAGE) if (b[off] !== value) stale.push(off);
    expect(stale).toEqual([]);
    m.close();
  });

  test('release drops whole pages from the process and changes no byte', () => {
    const file = tmpFile('release');
    const w = openMapping(file, { create: true, size: HALF });
    for (let i = 0; i < HALF; i += 997) w.buffer[i] = i % 251;
    w.persist(0, HALF);
    const before = Buffer.from(w.buffer);
    // Writable: the pages go, and their bytes stay the file's.
    w.populate(0, HALF);
    w.release(0, HALF);
    expect(resident(file)).toBeLessThan(HALF / 8);
    expect(w.buffer.equals(before)).toBe(true);
    w.close();
    const r = openMapping(file, { readOnly: true });
    r.populate(0, HALF);
    expect(resident(file)).toBeGreaterThanOrEqual(HALF - PAGE);
    // Only whole pages inside the range: one byte short of a page at each end keeps those two.
    r.release(1, HALF - 2);
    const left = resident(file);
    expect(left).toBeGreaterThanOrEqual(2 * PAGE);
    expect(left).toBeLessThan(HALF / 8);
    r.release(PAGE + 1, PAGE - 2); // no whole page inside: nothing to drop
    expect(r.buffer.equals(before)).toBe(true);
    // A store through a read-only (private) mapping is not the file's: released, it is gone.
    r.buffer[3 * PAGE] = 0xab;
    r.release(3 * PAGE, PAGE);
    expect(r.buffer[3 * PAGE]).toBe(before[3 * PAGE]);
    expectThrowName(() => r.release(0, HALF + 1), 'RangeError');
    expectThrowName(() => r.release(-1, 1), 'RangeError');
    expectThrowName(() => r.release('0' as unknown as number, 1), 'TypeError');
    r.close();
    expectPmemError(() => r.release(0, PAGE), 'ERR_PMEM_CLOSED');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('a bad range is a RangeError or TypeError; an empty one does nothing', () => {
    const m = openMapping(tmpFile('range'), { create: true, size: HALF });
    for (const call of [(o: number, l: number) => m.populate(o, l), (o: number, l: number) => m.prefault(o, l)]) {
      expectThrowName(() => call(0, HALF + 1), 'RangeError');
      expectThrowName(() => call(HALF, 1), 'RangeError');
      expectThrowName(() => call(-1, 1), 'RangeError');
      expectThrowName(() => call(0.5, 1), 'RangeError');
      expectThrowName(() => call('0' as unknown as number, 1), 'TypeError');
      call(HALF, 0);
    }
    expect(m.prefaultWait().done).toBe(0); // an empty prefault queues nothing
    m.close();
  });

  test('a range past the end of a truncated file: populate throws, prefault counts a failure', () => {
    const path = tmpFile('truncated');
    const m = openMapping(path, { create: true, size: 2 * HALF });
    fs.truncateSync(path, HALF);
    expectPmemError(() => m.populate(HALF, HALF), 'ERR_PMEM_IO');
    m.prefault(HALF, HALF);
    const s = m.prefaultWait();
    expect(s.done).toBe(1);
    expect(s.failed).toBe(1);
    expect(s.lastError).toBe(14); // EFAULT: a store there would be a SIGBUS
    m.populate(0, HALF); // the part the file still has
    m.close();
  });

  test('after close every call is ERR_PMEM_CLOSED; close waits for a running prefault', () => {
    const m = openMapping(tmpFile('closed'), { create: true, size: 4 * HALF });
    m.prefault(0, 4 * HALF);
    m.close();
    expectPmemError(() => m.populate(0, 1), 'ERR_PMEM_CLOSED');
    expectPmemError(() => m.prefault(0, 1), 'ERR_PMEM_CLOSED');
    expectPmemError(() => m.prefaultWait(), 'ERR_PMEM_CLOSED');
  });

  test('Wal.open and TxLog.open fault their area in', () => {
    const walFile = tmpFile('wal');
    Wal.open(walFile, { size: HALF, create: true }).close();
    const w = Wal.open(walFile);
    expect(resident(walFile)).toBeGreaterThanOrEqual(HALF - PAGE);
    w.close();
    const txFile = tmpFile('txlog');
    const m = openMapping(txFile, { create: true, size: 2 * HALF });
    TxLog.format(m, { offset: HALF, size: HALF });
    m.close();
    const again = openMapping(txFile);
    expect(resident(txFile)).toBeLessThan(HALF / 8);
    TxLog.open(again, { offset: HALF, size: HALF });
    expect(resident(txFile)).toBeGreaterThanOrEqual(HALF);
    again.close();
  });
});
