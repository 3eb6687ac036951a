// Mapping's aligned 8-byte atomics (load64, store64, compareExchange64,
// fetchAdd64) and the Region-level forms: their values, their checks, and
// their atomicity across processes, worker_threads and two mappings of one
// file, counted exactly. scripts/test-dax.sh runs this file on fs-dax too.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { compareExchange64, fetchAdd64, load64, atomicStore64, Mapping, openMapping, store64, type Region } from '../lib';
import { CrashSim } from '../lib/testing';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

const COUNTER = path.join(__dirname, 'fixtures', 'mapping', 'counter.js');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { TICKETS } = require('./fixtures/mapping/counter.js') as { TICKETS: number };

function create(size = 4096): Mapping {
  return openMapping(tmpFile('atomics'), { size, create: true });
}

describe('values', () => {
  test('load64, store64, compareExchange64 and fetchAdd64 read and write u64 little-endian words', () => {
    const m = create();
    m.store64(8, 0x0102030405060708n);
    expect(m.buffer.readBigUInt64LE(8)).toBe(0x0102030405060708n);
    expect(m.load64(8)).toBe(0x0102030405060708n);
    m.store64(16, 2 ** 53 - 1);
    expect(m.load64(16)).toBe(2n ** 53n - 1n);
    m.store64(24, 2n ** 64n - 1n);
    expect(m.buffer.readBigUInt64LE(24)).toBe(2n ** 64n - 1n);

    expect(m.compareExchange64(8, 5n, 6n)).toBe(0x0102030405060708n); // no swap: returns what is there
    expect(m.load64(8)).toBe(0x0102030405060708n);
    expect(m.compareExchange64(8, 0x0102030405060708n, 7)).toBe(0x0102030405060708n);
    expect(m.load64(8)).toBe(7n);

    expect(m.fetchAdd64(8, 3)).toBe(7n);
    expect(m.fetchAdd64(8, -10n)).toBe(10n);
    expect(m.load64(8)).toBe(0n);
    expect(m.fetchAdd64(24, 1)).toBe(2n ** 64n - 1n); // wraps modulo 2^64
    expect(m.load64(24)).toBe(0n);
    expect(m.fetchAdd64(24, -1)).toBe(0n);
    expect(m.load64(24)).toBe(2n ** 64n - 1n);
    m.close();
  });

  test('the last word of the mapping is usable', () => {
    const m = create();
    m.store64(4088, 42n);
    expect(m.fetchAdd64(4088, 1)).toBe(42n);
    expect(m.buffer.readBigUInt64LE(4088)).toBe(43n);
    m.close();
  });

  test('two mappings of one file in one thread see each other at once', () => {
    const file = tmpFile('two');
    const a = openMapping(file, { size: 4096, create: true });
    const b = openMapping(file);
    a.store64(64, 11n);
    expect(b.load64(64)).toBe(11n);
    expect(b.compareExchange64(64, 11n, 12n)).toBe(11n);
    expect(a.fetchAdd64(64, 1)).toBe(12n);
    expect(b.load64(64)).toBe(13n);
    a.close();
    b.close();
  });

  test('a read-only mapping loads; its stores are refused', () => {
    const file = tmpFile('ro');
    const w = openMapping(file, { size: 4096, create: true });
    w.store64(0, 99n);
    const r = openMapping(file, { readOnly: true });
    expect(r.load64(0)).toBe(99n);
    w.store64(0, 100n);
    expect(r.load64(0)).toBe(100n); // another mapping's later store, seen through the private mapping
    expectPmemError(() => r.store64(0, 1n), 'ERR_PMEM_READONLY');
    expectPmemError(() => r.compareExchange64(0, 100n, 1n), 'ERR_PMEM_READONLY');
    expectPmemError(() => r.fetchAdd64(0, 1), 'ERR_PMEM_READONLY');
    expect(w.load64(0)).toBe(100n);
    r.close();
    w.close();
  });

  test('mappings over 4 GiB: atomics in every window, beside its edges', () => {
    const size = 5 * 2 ** 30;
    const file = tmpFile('large');
    const m = openMapping(file, { size, create: true, sparse: true });
    try {
      for (const at of [0, 2 ** 30 - 8, 2 ** 30, 2 ** 32 - 8, 2 ** 32, 2 ** 32 + 2 ** 29 + 64, size - 8]) {
        m.store64(at, BigInt(at) + 1n);
        expect(m.fetchAdd64(at, 1)).toBe(BigInt(at) + 1n);
        expect(m.compareExchange64(at, BigInt(at) + 2n, 5n)).toBe(BigInt(at) + 2n);
        expect(m.load64(at)).toBe(5n);
        expect(m.view(at, 8).readBigUInt64LE(0)).toBe(5n);
      }
    } finally {
      m.close();
      fs.rmSync(file);
    }
  });
});

describe('checks', () => {
  const ops = (m: Mapping): [string, (off: unknown) => unknown][] => [
    ['load64', (off) => m.load64(off as number)],
    ['store64', (off) => m.store64(off as number, 1n)],
    ['compareExchange64', (off) => m.compareExchange64(off as number, 0n, 1n)],
    ['fetchAdd64', (off) => m.fetchAdd64(off as number, 1n)],
  ];

  test('an unaligned or out-of-range offset is a RangeError, a non-number offset a TypeError; nothing is written', () => {
    const m = create();
    m.buffer.fill(0xaa);
    const before = Buffer.from(m.buffer);
    for (const [, op] of ops(m)) {
      for (const off of [1, 4, 7, 4092, 4096, 4104, -8, 8.5, 2 ** 53, NaN, Infinity]) {
        expectThrowName(() => op(off), 'RangeError');
      }
      for (const off of ['8', 8n, null, undefined, {}]) expectThrowName(() => op(off), 'TypeError');
    }
    expect(m.buffer.equals(before)).toBe(true);
    m.close();
  });

  test('values: a TypeError for a wrong type, a RangeError outside u64 (or, for a delta, [-2^63, 2^64))', () => {
    const m = create();
    for (const bad of ['1', null, undefined, {}, true]) {
      expectThrowName(() => m.store64(0, bad as never), 'TypeError');
      expectThrowName(() => m.compareExchange64(0, bad as never, 1n), 'TypeError');
      expectThrowName(() => m.compareExchange64(0, 0n, bad as never), 'TypeError');
      expectThrowName(() => m.fetchAdd64(0, bad as never), 'TypeError');
    }
    for (const bad of [-1, -1n, 2n ** 64n, 1.5, 2 ** 53, NaN]) {
      expectThrowName(() => m.store64(0, bad), 'RangeError');
      expectThrowName(() => m.compareExchange64(0, bad, 1n), 'RangeError');
      expectThrowName(() => m.compareExchange64(0, 0n, bad), 'RangeError');
    }
    for (const bad of [-(2n ** 63n) - 1n, 2n ** 64n, 1.5, 2 ** 53]) expectThrowName(() => m.fetchAdd64(0, bad), 'RangeError');
    expect(m.load64(0)).toBe(0n);
    m.close();
  });

  test('after close every atomic throws ERR_PMEM_CLOSED', () => {
    const m = create();
    m.close();
    for (const [, op] of ops(m)) expectPmemError(() => op(0), 'ERR_PMEM_CLOSED');
  });
});

describe('the Region forms', () => {
  test('a Mapping answers with its own methods', () => {
    const m = create();
    atomicStore64(m, 8, 5n);
    expect(compareExchange64(m, 8, 5n, 9n)).toBe(5n);
    expect(fetchAdd64(m, 8, 1)).toBe(9n);
    expect(load64(m, 8)).toBe(10n);
    expectThrowName(() => load64(m, 4), 'RangeError');
    m.close();
  });

  test('a Region without atomics (the simulator, a wrapper) gets them on views of its bytes', () => {
    const sim = new CrashSim(4096);
    const wrapper: Region = {
      bytes: sim.bytes.subarray(64),
      length: 4096 - 64,
      granularity: sim.granularity,
      flush: () => {},
      drain: () => {},
      persist: () => {},
    };
    for (const r of [sim, wrapper]) {
      atomicStore64(r, 8, 5n);
      expect(r.bytes.readBigUInt64LE(8)).toBe(5n);
      expect(compareExchange64(r, 8, 4n, 9n)).toBe(5n);
      expect(compareExchange64(r, 8, 5n, 9n)).toBe(5n);
      expect(fetchAdd64(r, 8, -2)).toBe(9n);
      expect(load64(r, 8)).toBe(7n);
      expectThrowName(() => load64(r, 12), 'RangeError');
      expectThrowName(() => fetchAdd64(r, r.length - 4, 1), 'RangeError');
      expectThrowName(() => compareExchange64(r, r.length, 0, 1), 'RangeError');
      expectThrowName(() => atomicStore64(r, 8, -1), 'RangeError');
      expectThrowName(() => fetchAdd64(r, 8, '1' as never), 'TypeError');
    }
    // The wrapper's bytes start 64 bytes in: its offset 8 is the simulator's 72.
    expect(sim.bytes.readBigUInt64LE(72)).toBe(7n);
    // An unaligned view: offset 0 is not an aligned address.
    const odd: Region = { ...wrapper, bytes: sim.bytes.subarray(4), length: 4092 };
    expectThrowName(() => load64(odd, 0), 'RangeError');
    expect(load64(odd, 4)).toBe(7n); // the simulator's offset 8
  });

  test("a Region's length bounds them, though its bytes run past it", () => {
    const m = create(16384);
    const short: Region = { bytes: m.buffer, length: 4096, granularity: m.granularity, flush: () => {}, drain: () => {}, persist: () => {} };
    expect(load64(short, 4088)).toBe(0n);
    expectThrowName(() => atomicStore64(short, 4096, 0xdeadn), 'RangeError');
    expectThrowName(() => fetchAdd64(short, 8192, 1n), 'RangeError');
    expectThrowName(() => compareExchange64(short, 16376, 0n, 7n), 'RangeError');
    expectThrowName(() => load64(short, 12288), 'RangeError');
    // Nothing past the Region was written.
    expect(m.buffer.subarray(4096).every((x) => x === 0)).toBe(true);
    for (const length of [undefined, -8, 1.5, '64', Number.NaN]) {
      expectThrowName(() => load64({ ...short, length: length as never }, 0), 'TypeError');
    }
    m.close();
  });

  test('on a resizable ArrayBuffer, store64 and the atomics act at its size of the moment', () => {
    const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(16, {
      maxByteLength: 4096,
    });
    const bytes = new Uint8Array(ab); // follows the buffer's length
    const words = new BigUint64Array(ab);
    store64(bytes, 8, 1n); // the word views are made (and kept) here, at 16 bytes
    ab.resize(64);
    store64(bytes, 32, 0x1234n);
    store64(bytes, 40, 77);
    expect(words[4]).toBe(0x1234n);
    expect(words[5]).toBe(77n);
    const r = { bytes: bytes as unknown as Buffer, length: 64, granularity: 'cache-line', flush: () => {}, drain: () => {}, persist: () => {} } as Region;
    atomicStore64(r, 48, 9n);
    expect(fetchAdd64(r, 48, 1n)).toBe(9n);
    expect(words[6]).toBe(10n);
    ab.resize(8);
    store64(bytes, 0, 5n);
    expect(words[0]).toBe(5n);
    expectThrowName(() => store64(bytes, 8, 1n), 'RangeError');
    expectThrowName(() => load64({ ...r, length: 64 }, 48), 'RangeError');
  });
});

interface PartyResult {
  id: number;
  interleaved: number;
}
type Mode = 'fetchAdd' | 'cas' | 'region' | 'forced-plain';

function runParties(kind: 'process' | 'worker', parties: number, mode: Mode, turns: number, n: number): Promise<{ file: string; results: PartyResult[] }> {
  const file = tmpFile(`counter-${kind}`);
  openMapping(file, { size: TICKETS + parties * (turns + n) + 64, create: true }).close();
  const one = (id: number): Promise<PartyResult> => {
    const data = { file, id, parties, turns, n, mode };
    return new Promise((resolve, reject) => {
      let result: PartyResult | undefined;
      if (kind === 'process') {
        const child = fork(COUNTER, [JSON.stringify(data)], { stdio: 'inherit' });
        child.on('message', (msg) => (result = msg as PartyResult));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`party ${id} exited with ${code}`))));
      } else {
        const w = new Worker(COUNTER, { workerData: data });
        w.on('message', (msg) => (result = msg as PartyResult));
        w.on('error', reject);
        w.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`worker ${id} exited with ${code}`))));
      }
    });
  };
  return Promise.all(Array.from({ length: parties }, (_, i) => one(i))).then((results) => ({ file, results }));
}

/** The counter's final value, and each value it held before an increment: who took it, exactly once. */
function checkCount(file: string, total: number): void {
  const m = openMapping(file, { readOnly: true });
  try {
    expect(m.load64(0)).toBe(BigInt(total));
    const tickets = m.buffer.subarray(TICKETS, TICKETS + total);
    const missing = tickets.indexOf(0);
    expect(missing).toBe(-1); // every value 0..total-1 was returned by one increment
    expect(m.buffer.subarray(TICKETS + total).every((x) => x === 0)).toBe(true);
  } finally {
    m.close();
  }
}

describe('atomic across parties, counted exactly', () => {
  const TURNS = 100;
  const N = 100_000;

  test.each(['fetchAdd', 'cas', 'region'] as const)('3 processes, %s: every increment counted once, and the parties alternated', async (mode) => {
    const { file, results } = await runParties('process', 3, mode, TURNS, N);
    checkCount(file, 3 * (TURNS + N));
    console.log(`${mode}, 3 processes: ${results.map((r) => r.interleaved).join(', ')} runs of the free part interleaved`);
    fs.rmSync(file);
  });

  test.each(['fetchAdd', 'cas', 'region'] as const)('2 worker_threads with their own mappings, %s', async (mode) => {
    const { file, results } = await runParties('worker', 2, mode, TURNS, N);
    checkCount(file, 2 * (TURNS + N));
    console.log(`${mode}, 2 workers: ${results.map((r) => r.interleaved).join(', ')} runs of the free part interleaved`);
    fs.rmSync(file);
  });

  test('broken: a plain load and store, with the parties made to race, loses increments and the count shows it', async () => {
    const { file } = await runParties('process', 2, 'forced-plain', 0, 50);
    const m = openMapping(file, { readOnly: true });
    expect(m.load64(0)).toBe(50n); // one of each round's two increments lost
    expect(m.load64(0)).not.toBe(100n);
    m.close();
    fs.rmSync(file);
  });
});
