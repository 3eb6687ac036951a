// KVStore.open(path, { readOnly: true }) beside a live writer: in the same
// thread, in a worker_thread and in another process. A read that starts
// after a write call returned sees it; no read returns a torn, uncommitted
// or stale value, nor half a batch; compaction and growth go on while
// readers read. The full counts (10M reads) run in
// scripts/kv-readers-stress.js; the same checks run here on fewer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

import { openMapping } from '../lib/core/mapping';
import { ENTRY_HEADER_BYTES, RECORD_HEADER_BYTES, TAIL_AT } from '../lib/kv/format';
import { KvFollower } from '../lib/kv/follow';
import { readValue } from '../lib/kv/follow-reads';
import type { KvLog } from '../lib/kv/log';
import { KVStore } from '../lib/kv/store';
import { expectPmemError, testDir, tmpFile } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const stress = require('./fixtures/kv/readers-stress.js') as {
  run(o: { dir: string; calls: number; reads: number; compactEvery?: number; seed?: number; broken?: string }): Promise<StressReport>;
};
const dist = path.join(__dirname, '..', 'dist');

interface ReaderReport {
  reads: number;
  readsDuringWrites: number;
  torn: number;
  stale: number;
  uncommitted: number;
  halfBatch: number;
  errors: number;
  firstError: string;
  catchUps: number;
  retries: number;
  resyncs: number;
  dropped: number;
  remaps: number;
}
interface StressReport {
  writer: { compactions: number; fileBytes: number; count: number; calls: number };
  readers: ReaderReport[];
  seconds: number;
}

const SMALL = { size: 128 * 1024, maxSize: 16 << 20, segmentSize: 8 * 1024 };

function contents(s: KVStore): [string, string][] {
  return [...s.entries({ encoding: 'utf8' })];
}

describe('a reader in the writer\'s own thread', () => {
  test('sees every put, delete, batch and rename once it returned, through compaction and growth', () => {
    const file = tmpFile('follow-same.kv');
    const w = KVStore.open(file, { create: true, ...SMALL });
    w.put('before', 'open');
    const early = KVStore.open(file, { readOnly: true });
    const model = new Map<string, string>([['before', 'open']]);
    let late: KVStore | undefined;
    let freed = 0;
    const check = (key: string): void => {
      for (const r of late === undefined ? [early] : [early, late]) {
        expect(r.getString(key)).toBe(model.get(key));
        expect(r.has(key)).toBe(model.has(key));
      }
    };
    for (let i = 0; i < 6000; i++) {
      const k = `k${(i * 7919) % 700}`;
      const v = `v${i}-${'x'.repeat(i % 5 === 0 ? 1500 : 40)}`;
      switch (i % 10) {
        case 0: case 1: case 2: case 3: case 4:
          w.put(k, v);
          model.set(k, v);
          check(k);
          break;
        case 5:
          w.delete(k);
          model.delete(k);
          check(k);
          break;
        case 6: {
          const k2 = `k${(i * 31) % 700}`;
          w.batch([{ type: 'put', key: k, value: v }, { type: 'del', key: k2 }, { type: 'put', key: `b${i % 50}`, value: v }]);
          model.set(k, v);
          model.delete(k2);
          model.set(`b${i % 50}`, v);
          check(k);
          check(k2);
          break;
        }
        case 7: {
          const to = `r${i % 40}`;
          if (w.rename(k, to)) {
            model.set(to, model.get(k) as string);
            model.delete(k);
          }
          check(k);
          check(to);
          break;
        }
        case 8:
          if (i % 500 === 8) freed += w.compact();
          break;
        default:
          if (i === 3009) late = KVStore.open(file, { readOnly: true });
      }
      if (i % 1000 === 999) {
        const want = [...model.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
        expect(contents(early)).toEqual(want);
        expect(early.count).toBe(model.size);
        expect(late === undefined ? model.size : late.count).toBe(model.size);
      }
    }
    // The writer compacted and grew the file while the readers read.
    expect(freed).toBeGreaterThan(0);
    expect(w.stats().fileBytes).toBeGreaterThan(SMALL.size);
    const s = early.stats().reader!;
    expect(s.remaps).toBeGreaterThan(0);
    expect(s.catchUps).toBeGreaterThan(1000);
    expect(early.stats().fileBytes).toBe(w.stats().fileBytes);
    // The writer goes; the readers keep what it wrote, and follow the next one.
    w.close();
    expect(early.count).toBe(model.size);
    const w2 = KVStore.open(file);
    w2.put('next', 'writer');
    expect(early.getString('next')).toBe('writer');
    expect(late!.getString('next')).toBe('writer');
    w2.close();
    early.close();
    late!.close();
  });

  test('a reader opened with no writer follows one that opens later', () => {
    const file = tmpFile('follow-later.kv');
    const w = KVStore.open(file, { create: true, ...SMALL });
    for (let i = 0; i < 100; i++) w.put(`k${i}`, `v${i}`);
    w.close();
    const r = KVStore.open(file, { readOnly: true });
    expect(r.count).toBe(100);
    const w2 = KVStore.open(file);
    w2.delete('k0');
    w2.put('k100', 'v100');
    expect(r.has('k0')).toBe(false);
    expect(r.getString('k100')).toBe('v100');
    expect(r.count).toBe(100);
    // Compaction of a store with dead entries only at the end: the tail
    // word stays, segments are freed, and the reader goes on.
    for (let i = 0; i < 100; i++) w2.delete(`k${i + 1}`);
    w2.compact();
    expect(r.count).toBe(0);
    expect(r.getString('k5')).toBeUndefined();
    w2.put('again', '1');
    expect(contents(r)).toEqual([['again', '1']]);
    w2.close();
    r.close();
  });

  test('a writer that reopens after compaction freed the newest segment: readers follow it', () => {
    const file = tmpFile('follow-restart.kv');
    let w = KVStore.open(file, { create: true, ...SMALL });
    // Segment 1 full of live entries (compaction skips it), segment 2 only dead ones.
    for (let i = 0; i < 7; i++) w.put(`a${i}`, 'a'.repeat(1000));
    for (let i = 0; i < 5; i++) w.put(`x${i}`, 'x'.repeat(1000));
    for (let i = 0; i < 5; i++) w.delete(`x${i}`);
    const r = KVStore.open(file, { readOnly: true });
    expect(r.count).toBe(7);
    expect(w.compact()).toBeGreaterThan(0);
    expect(r.count).toBe(7);
    w.close();
    w = KVStore.open(file);
    w.put('third', '3');
    expect(r.getString('third')).toBe('3');
    w.delete('a0');
    expect(r.has('a0')).toBe(false);
    expect(r.count).toBe(7);
    w.close();
    r.close();
  });

  test('a reader\'s get, getInto, getString and has answer as the writer\'s, for keys given as strings, Buffers and Uint8Arrays', () => {
    const file = tmpFile('follow-keys.kv');
    const w = KVStore.open(file, { create: true, ...SMALL });
    // Keys that share a hash slot's neighbours, differ only in length, or
    // are not ASCII (a string key is looked up by its UTF-8 bytes).
    const keys = ['a', 'ab', 'abc', 'ключ', 'ké', '\u{1F600}', 'x'.repeat(4096), '', 'k\u0000z'];
    for (const [i, k] of keys.entries()) w.put(k, `value ${i} ${k.slice(0, 20)}`);
    w.put(Buffer.from([0xff, 0xfe, 0x00]), 'raw bytes');
    const r = KVStore.open(file, { readOnly: true });
    const asked: (string | Buffer | Uint8Array)[] = [Buffer.from([0xff, 0xfe, 0x00]), new Uint8Array([0xff, 0xfe, 0x00]), 'missing', Buffer.from('abcd')];
    for (const k of keys) asked.push(k, Buffer.from(k, 'utf8'), new Uint8Array(Buffer.from(k, 'utf8')));
    const into = Buffer.alloc(64);
    for (const k of asked) {
      const want = w.get(k);
      expect(r.get(k)).toEqual(want);
      expect(r.getString(k)).toBe(w.getString(k));
      expect(r.has(k)).toBe(want !== undefined);
      expect(r.getInto(k, into)).toBe(want === undefined ? -1 : want.length);
      if (want !== undefined) expect(into.subarray(0, want.length)).toEqual(want);
    }
    expect(r.count).toBe(keys.length + 1);
    // The writer's errors, before anything is read.
    for (const f of [(s: KVStore) => s.get(Buffer.alloc(4097)), (s: KVStore) => s.has('y'.repeat(4097)), (s: KVStore) => s.getString(new Uint8Array(4097))]) {
      expect(() => f(w)).toThrow(RangeError);
      expect(() => f(r)).toThrow(RangeError);
    }
    for (const f of [(s: KVStore) => s.get(7 as unknown as string), (s: KVStore) => s.has(null as unknown as string)]) {
      expect(() => f(w)).toThrow(TypeError);
      expect(() => f(r)).toThrow(TypeError);
    }
    expect(() => r.getInto('ab', Buffer.alloc(3))).toThrow(/target is 3 bytes; the value is 10/);
    expect(r.stats().reader?.retries).toBe(0);
    r.close();
    w.close();
  });

  test('a tail in a new segment that ends at the same offset as the one the reader followed is caught up with', () => {
    const file = tmpFile('follow-same-end.kv');
    const w = KVStore.open(file, { create: true, ...SMALL });
    const m = openMapping(file, { readOnly: true });
    const tail = (): { seq: number; used: number } => {
      const word = m.load64(TAIL_AT);
      return { seq: Number(word >> 32n), used: Number(word & 0xffffffffn) };
    };
    // A put is one record of align8(header + entry header + key + value) bytes.
    const putSize = (key: string, vlen: number): number => Math.ceil((RECORD_HEADER_BYTES + ENTRY_HEADER_BYTES + key.length + vlen) / 8) * 8;
    for (let i = 0; i < 10; i++) w.put(`a${i}`, 'a'.repeat(300));
    const r = KVStore.open(file, { readOnly: true });
    expect(r.getString('probe')).toBeUndefined();
    const seen = tail();
    // Fill the segment, and in the next one write up to 400 bytes before
    // the same end, then the probe's record, sized to end exactly there.
    let t = tail();
    for (let i = 0; t.seq === seen.seq || t.used + 400 < seen.used; i++) {
      w.put(`f${i}`, 'f'.repeat(t.seq === seen.seq ? 1000 : Math.min(1000, seen.used - 400 - t.used)));
      t = tail();
    }
    const vlen = seen.used - t.used - putSize('probe', 0);
    expect(putSize('probe', vlen)).toBe(seen.used - t.used);
    w.put('probe', 'p'.repeat(vlen));
    t = tail();
    expect(t.seq).toBeGreaterThan(seen.seq);
    expect(t.used).toBe(seen.used);
    // The same end offset, in another segment, and nothing freed: only the
    // sequence number in the tail word shows that the log moved.
    expect(r.getString('probe')).toBe('p'.repeat(vlen));
    expect(r.stats().reader?.catchUps).toBeGreaterThan(0);
    m.close();
    r.close();
    w.close();
  });

  test('write calls on a reader are ERR_PMEM_READONLY; a second writer is ERR_PMEM_LOCKED; a closed reader is closed', () => {
    const file = tmpFile('follow-errors.kv');
    const w = KVStore.open(file, { create: true, ...SMALL });
    w.put('k', 'v');
    const r = KVStore.open(file, { readOnly: true });
    for (const f of [() => r.put('a', 'b'), () => r.delete('k'), () => r.batch([]), () => r.rename('k', 'x'), () => r.compact()]) {
      expectPmemError(f, 'ERR_PMEM_READONLY');
    }
    expectPmemError(() => KVStore.open(file), 'ERR_PMEM_LOCKED');
    expect(r.getString('k')).toBe('v');
    r.close();
    expectPmemError(() => r.get('k'), 'ERR_PMEM_CLOSED');
    expectPmemError(() => r.count, 'ERR_PMEM_CLOSED');
    expectPmemError(() => KVStore.open(tmpFile('missing.kv'), { readOnly: true }), 'ERR_PMEM_NOT_FOUND');
    w.close();
  });
});

test('a reader in a worker_thread sees each put once the main thread\'s put returned', async () => {
  const file = tmpFile('follow-worker.kv');
  const w = KVStore.open(file, { create: true, ...SMALL });
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const { KVStore } = require(workerData.dist);
     const r = KVStore.open(workerData.file, { readOnly: true });
     parentPort.on('message', (m) => {
       if (m === 'end') { parentPort.postMessage(r.stats().reader); r.close(); parentPort.close(); return; }
       parentPort.postMessage(r.getString(m.key) === m.value);
     });
     parentPort.postMessage('open');`,
    { eval: true, workerData: { file, dist } },
  );
  // The worker's next message; its error or exit instead rejects, so that
  // a reader that failed is reported as what it threw, not as a timeout.
  const next = (): Promise<unknown> => new Promise((resolve, reject) => {
    const off = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (m: unknown): void => { off(); resolve(m); };
    const onError = (e: unknown): void => { off(); reject(e); };
    const onExit = (code: number): void => { off(); reject(new Error(`the reader's worker exited (${code}) before it answered`)); };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
  // Where the test waits, said if it is still waiting after 100 s (a
  // report only: nothing here depends on it).
  let step = 'the worker\'s open';
  const stall = setTimeout(() => {
    // eslint-disable-next-line no-console
    console.log(`the worker_thread reader test still waits for ${step} after 100 s`);
  }, 100_000);
  stall.unref();
  expect(await next()).toBe('open');
  let seen = 0;
  for (let i = 0; i < 3000; i++) {
    const key = `k${i % 300}`;
    const value = `${i}`.repeat(1 + (i % 40));
    w.put(key, value);
    if (i % 10 === 0) {
      step = `the answer to read ${i / 10} (put ${i})`;
      worker.postMessage({ key, value });
      if ((await next()) === true) seen++;
    }
    if (i % 1000 === 999) w.compact();
  }
  step = 'the reader\'s stats';
  // Listened for before the worker can exit: a worker that exits before
  // its last message is read delivers that message and 'exit' in the same
  // tick, before the code after `await next()` runs (test/12.process).
  const exited = once(worker, 'exit');
  exited.catch(() => undefined); // an 'error' instead is what next() reports
  worker.postMessage('end');
  const stats = (await next()) as ReaderReport;
  step = 'the worker\'s exit';
  await exited;
  clearTimeout(stall);
  w.close();
  expect(seen).toBe(300);
  expect(stats.catchUps).toBeGreaterThan(0);
});

describe('a writer process, a reader worker and a reader process', () => {
  const dir = path.join(testDir(), `readers-${process.pid}`);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('no torn, stale, uncommitted or half-batch read, through compaction and growth', async () => {
    const r = await stress.run({ dir, calls: 20000, reads: 30000, compactEvery: 1000 });
    // eslint-disable-next-line no-console
    console.log(`readers beside a writer: ${r.writer.calls} calls, ${r.writer.compactions} compactions, ` +
      `${r.readers.map((x) => `${x.reads} reads (${x.readsDuringWrites} during writes, ${x.catchUps} catch-ups, ` +
        `${x.retries} retries, ${x.resyncs} rebuilds, ${x.remaps} remaps)`).join('; ')} in ${r.seconds.toFixed(1)} s`);
    for (const x of r.readers) {
      expect({ torn: x.torn, stale: x.stale, uncommitted: x.uncommitted, halfBatch: x.halfBatch, errors: x.errors, first: x.firstError })
        .toEqual({ torn: 0, stale: 0, uncommitted: 0, halfBatch: 0, errors: 0, first: '' });
      expect(x.reads).toBeGreaterThanOrEqual(30000);
      // The reads overlapped the writer's calls, and the readers followed it.
      expect(x.readsDuringWrites).toBeGreaterThan(0);
      expect(x.catchUps).toBeGreaterThan(0);
      expect(x.remaps).toBeGreaterThan(0);
    }
    expect(r.writer.calls).toBe(20000);
    expect(r.writer.compactions).toBeGreaterThan(0);
    expect(r.writer.fileBytes).toBeGreaterThan(256 * 1024);
  });

  // The checks above must catch a reader that does not follow the writer.
  test('a reader that does not follow the writer is caught', async () => {
    const r = await stress.run({ dir, calls: 20000, reads: 20000, compactEvery: 500, broken: 'no-catch-up' });
    expect(r.readers.reduce((n, x) => n + x.stale, 0)).toBeGreaterThan(0);
  });
});

/**
 * A store of small segments holding 'a' (`want`) and 20 dead entries, so
 * that a compaction frees the segment of 'a' and later puts reuse it; and a
 * reader of it that has not caught up yet.
 */
function storeToReuse(name: string): { file: string; w: KVStore; want: string; f: KvFollower } {
  const file = tmpFile(name);
  const w = KVStore.open(file, { create: true, size: 64 * 1024, segmentSize: 8 * 1024 });
  const want = 'A'.repeat(100);
  w.put('a', want);
  for (let i = 0; i < 20; i++) w.put(`dead${i}`, 'x'.repeat(100));
  for (let i = 0; i < 20; i++) w.delete(`dead${i}`);
  return { file, w, want, f: new KvFollower(file, fs.openSync(file, 'r'), openMapping(file, { readOnly: true })) };
}

test('a read during which its segment is freed and reused is read again, not returned', () => {
  const { file, w, want, f } = storeToReuse('follow-reuse.kv');
  // What a read does between finding the entry and copying it out: here
  // the writer compacts (the segment of 'a' is freed) and writes on until
  // that segment is reused.
  const readAcrossReuse = (once: { done: boolean }) => (log: KvLog): string => {
    const off = log.index.get('a') as number;
    if (!once.done) {
      once.done = true;
      // Until the segment of 'a' holds other bytes where its value was.
      const seg = 4096 + Math.floor((off - 4096) / 8192) * 8192;
      const seq = log.bytes.readBigUInt64LE(seg + 8);
      w.compact();
      for (let i = 0; i < 5000 && (log.bytes.readBigUInt64LE(seg + 8) === seq || log.bytes.toString('latin1', off + 9, off + 109) === want); i++) {
        w.put(`new${i % 30}`, 'z'.repeat(100));
      }
    }
    // A copy of the 100 bytes after the key, with no check afterwards.
    const start = off + ENTRY_HEADER_BYTES + 1;
    return Buffer.from(log.view.subarray(start, start + 100)).toString('latin1');
  };
  expect(f.read(readAcrossReuse({ done: false }))).toBe(want);
  expect(f.stats.retries).toBe(1);
  // The same read without the check afterwards returns what the reused
  // segment holds now: the check is what keeps it out.
  const g = new KvFollower(file, fs.openSync(file, 'r'), openMapping(file, { readOnly: true }));
  g.catchUp();
  const torn = readAcrossReuse({ done: false })(g.log);
  expect(torn).not.toBe(want);
  f.close();
  g.close();
  w.close();
});

test('a miss over reused bytes is read again: the index held the key, and the lookup compared it with what its segment holds now', () => {
  const { w, want, f } = storeToReuse('follow-miss-reused.kv');
  try {
    let calls = 0;
    let reused = false;
    const value = f.read((log: KvLog) => {
      calls++;
      if (calls === 1) {
        // The writer compacts (the segment of 'a' is freed) and writes on
        // until that segment holds other bytes where the key was.
        const off = log.index.get('a') as number;
        const seg = 4096 + Math.floor((off - 4096) / 8192) * 8192;
        const seq = log.bytes.readBigUInt64LE(seg + 8);
        w.compact();
        for (let i = 0; i < 5000 && (log.bytes.readBigUInt64LE(seg + 8) === seq || log.bytes[off + ENTRY_HEADER_BYTES] === 0x61); i++) {
          w.put(`new${i % 30}`, 'z'.repeat(100));
        }
        reused = log.bytes[off + ENTRY_HEADER_BYTES] !== 0x61;
      }
      return readValue(log, 'a');
    });
    expect(reused).toBe(true);
    expect(value?.toString('latin1')).toBe(want);
    expect(calls).toBe(2);
    expect(f.stats.retries).toBe(1);
  } finally {
    f.close();
    w.close();
  }
});
