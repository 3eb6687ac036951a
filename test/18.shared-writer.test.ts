// A record copied from a view that another thread writes during the call
// holds the bytes of some moment of that view, and a checksum of exactly
// those bytes (docs/api.md, KVStore "Concurrency"): it is never a record
// whose checksum fails, which recovery would take for damage and refuse
// (or, told to truncate, cut with every acknowledged record after it).
// Each case runs until the writer thread has torn many copies (records
// whose bytes are not all one value, the writer's fill), and for at least
// MIN_APPENDS appends (a fifth of it for 5000-byte records): the tears show
// that writes landed during the copies.
import { Worker } from 'node:worker_threads';

import { KVStore, Wal } from '../lib';
import { tmpFile } from './helpers';

const MIN_APPENDS = 100_000;
const MIN_TORN = 50;
const MAX_ROUNDS = 400;
const ROUND = 5000;

/** A worker that fills the whole of `sab` with one byte value after another until stopped. */
async function withFiller<T>(sab: SharedArrayBuffer, fn: () => T): Promise<T> {
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(`
    const { workerData } = require('node:worker_threads');
    const v = new Uint8Array(workerData.sab);
    const stop = new Int32Array(workerData.stop);
    Atomics.store(stop, 0, 1);
    for (let x = 0; Atomics.load(stop, 0) === 1; ) { x = (x + 1) & 255; v.fill(x); }
  `, { eval: true, workerData: { sab, stop } });
  const exited = new Promise<void>((resolve, reject) => {
    w.on('exit', () => resolve());
    w.on('error', reject);
  });
  const flag = new Int32Array(stop);
  // Until the worker runs: it sets the flag before its first fill.
  while (Atomics.load(flag, 0) === 0) await new Promise((r) => setTimeout(r, 1));
  try {
    return fn();
  } finally {
    Atomics.store(flag, 0, 2);
    await exited;
  }
}

const uniform = (b: Uint8Array): boolean => b.every((x) => x === b[0]);

describe('Wal: records copied from a view another thread writes', () => {
  // 100 B: the copy's short form; 1000 B: a fold, then the short form for
  // the rest; 5000 B: streamed lines (from 4 KiB also before an msync)
  // between a head and a tail copied as the short form.
  test.each([
    ['100 B, one append each', 100, 1, MIN_APPENDS],
    ['1000 B, one append each', 1000, 1, MIN_APPENDS],
    ['5000 B, one append each', 5000, 1, MIN_APPENDS / 5],
    ['100 B, batches of 16', 100, 16, MIN_APPENDS],
  ])('%s: every record reopens with its checksum', async (_name, size, batch, minAppends) => {
    const sab = new SharedArrayBuffer(size);
    const view = new Uint8Array(sab);
    const f = tmpFile('wal-shared-writer');
    Wal.open(f, { create: true, size: 8 << 20 }).close();
    const { appended, torn } = await withFiller(sab, () => {
      let appended = 0;
      let torn = 0;
      const views = Array.from({ length: batch }, () => view);
      // A round's records fill at most half the log.
      const perRound = Math.min(ROUND, Math.floor((4 << 20) / (size + 64)));
      for (let round = 0; round < MAX_ROUNDS && (appended < minAppends || torn < MIN_TORN); round++) {
        // A round of appends, then a fresh open, which checks every record's checksum.
        let w = Wal.open(f);
        const from = w.nextLsn;
        for (let i = 0; i < perRound; i += batch) {
          if (batch === 1) w.append(view);
          else w.appendBatch(views);
        }
        w.close();
        w = Wal.open(f);
        try {
          for (const r of w.read(from)) {
            appended++;
            if (!uniform(r.data)) torn++;
          }
          w.truncate(w.nextLsn - 1);
        } finally {
          w.close();
        }
      }
      return { appended, torn };
    });
    expect(appended).toBeGreaterThanOrEqual(minAppends);
    expect(torn).toBeGreaterThanOrEqual(MIN_TORN);
  });
});

describe('KVStore: values copied from a view another thread writes', () => {
  test('100 B values: the store reopens, every put acknowledged', async () => {
    const sab = new SharedArrayBuffer(100);
    const view = new Uint8Array(sab);
    const f = tmpFile('kv-shared-writer');
    KVStore.open(f, { create: true, size: 16 << 20 }).close();
    const { puts, torn } = await withFiller(sab, () => {
      let puts = 0;
      let torn = 0;
      for (let round = 0; round < MAX_ROUNDS && (puts < MIN_APPENDS || torn < MIN_TORN); round++) {
        const db = KVStore.open(f);
        try {
          for (let i = 0; i < ROUND; i++) {
            db.put(`k${i % 64}`, view);
            puts++;
          }
        } finally {
          db.close();
        }
        // A fresh open checks every record's checksum; the last value of each key is there.
        const again = KVStore.open(f);
        try {
          for (let k = 0; k < 64; k++) {
            const v = again.get(`k${k}`);
            expect(v?.length).toBe(100);
            if (!uniform(v as Buffer)) torn++;
          }
        } finally {
          again.close();
        }
      }
      return { puts, torn };
    });
    expect(puts).toBeGreaterThanOrEqual(MIN_APPENDS);
    expect(torn).toBeGreaterThanOrEqual(MIN_TORN);
  });
});
