// SharedAppendList: appends, reopen, checks; producers interleaved step by
// step on one thread; and several worker_threads and processes appending to
// one list at once, every value present once, each producer's in its order.
// scripts/test-dax.sh runs this file on fs-dax too.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { openMapping, SharedAppendList } from '../lib';
import type { AppendStep } from '../lib/log/append-list-mp';
import { CrashSim, seededRandom } from '../lib/testing';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

const PRODUCER = path.join(__dirname, 'fixtures', 'log', 'mp-producer.js');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const mp = require('./fixtures/log/mp-producer.js') as {
  LIST_AT: number;
  value(tag: string, i: number): string;
  byTag(values: Buffer[]): Map<string, number>;
};

const strings = (list: SharedAppendList): string[] => list.toArray().map(String);

test('append, reopen, iterate', () => {
  const file = tmpFile('mp-list');
  const m = openMapping(file, { size: 65536, create: true });
  const list = SharedAppendList.format(m, 128);
  expect(list.length).toBe(0);
  list.append('one');
  list.append(Buffer.from('two'));
  list.append('');
  list.append('x'.repeat(200));
  expect(list.length).toBe(4);
  m.close();
  const again = openMapping(file);
  const reopened = SharedAppendList.open(again, 128);
  expect(reopened.length).toBe(4);
  expect(strings(reopened)).toEqual(['one', 'two', '', 'x'.repeat(200)]);
  reopened.append('five');
  expect([...SharedAppendList.open(again, 128)].map(String)).toEqual(['one', 'two', '', 'x'.repeat(200), 'five']);
  again.close();
});

test('two lists open on one region append to the same list', () => {
  const m = openMapping(tmpFile('mp-two'), { size: 65536, create: true });
  const a = SharedAppendList.format(m);
  const b = SharedAppendList.open(m);
  a.append('a0');
  b.append('b0'); // b's idea of the tail is stale: it steps over a0
  a.append('a1');
  b.append('b1');
  expect(strings(a)).toEqual(['a0', 'b0', 'a1', 'b1']);
  m.close();
});

test('a full region is ERR_PMEM_NO_SPACE and the list stays usable', () => {
  const m = openMapping(tmpFile('mp-full'), { size: 4096, create: true });
  const list = SharedAppendList.format(m);
  let n = 0;
  try {
    for (;;) {
      list.append(Buffer.alloc(100, n));
      n++;
    }
  } catch (e) {
    expect((e as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
  }
  expect(n).toBe(31);
  expect(SharedAppendList.open(m).length).toBe(n);
  list.append(Buffer.alloc(10)); // a smaller value still fits in the last line
  expectPmemError(() => list.append(Buffer.alloc(10)), 'ERR_PMEM_NO_SPACE');
  expect(SharedAppendList.open(m).length).toBe(n + 1);
  m.close();
});

test('damaged lists are ERR_PMEM_CORRUPT', () => {
  const m = openMapping(tmpFile('mp-bad'), { size: 8192, create: true });
  expectPmemError(() => SharedAppendList.open(m), 'ERR_PMEM_CORRUPT'); // no magic
  const list = SharedAppendList.format(m);
  list.append('a');
  list.append('b');
  const first = Number(m.buffer.readBigUInt64LE(8));
  const second = Number(m.buffer.readBigUInt64LE(first));
  m.buffer.writeBigUInt64LE(BigInt(first), second); // a cycle: the second node points back at the first
  expectPmemError(() => SharedAppendList.open(m), 'ERR_PMEM_CORRUPT');
  expectPmemError(() => list.append('c'), 'ERR_PMEM_CORRUPT'); // an append looking for the end, too
  m.buffer.writeBigUInt64LE(BigInt(second), second); // a node pointing at itself
  expectPmemError(() => SharedAppendList.open(m), 'ERR_PMEM_CORRUPT');
  m.buffer.writeBigUInt64LE(1n << 40n, second); // outside the region
  expectPmemError(() => SharedAppendList.open(m), 'ERR_PMEM_CORRUPT');
  m.buffer.writeBigUInt64LE(BigInt(second + 8), second); // off a line
  expectPmemError(() => SharedAppendList.open(m), 'ERR_PMEM_CORRUPT');
  m.buffer.writeBigUInt64LE(32n, second); // into the list's own header
  expectPmemError(() => SharedAppendList.open(m), 'ERR_PMEM_CORRUPT');
  m.buffer.writeBigUInt64LE(0n, second);
  m.buffer.writeUInt32LE(9000, second + 8); // length past the end
  expectPmemError(() => SharedAppendList.open(m), 'ERR_PMEM_CORRUPT');
  m.buffer.writeUInt32LE(1, second + 8);
  expect(strings(SharedAppendList.open(m))).toEqual(['a', 'b']);
  m.buffer.writeBigUInt64LE(1n << 40n, 16); // the free pointer outside the region
  expectPmemError(() => list.append('c'), 'ERR_PMEM_CORRUPT');
  m.close();
});

test('a node whose damaged length reaches a little into another node is ERR_PMEM_CORRUPT, whichever comes first in the list', () => {
  const m = openMapping(tmpFile('mp-overlap'), { size: 8192, create: true });
  const list = SharedAppendList.format(m);
  for (const v of ['a', 'b', 'c']) list.append(v);
  const first = Number(m.buffer.readBigUInt64LE(8));
  const second = Number(m.buffer.readBigUInt64LE(first));
  const third = Number(m.buffer.readBigUInt64LE(second));
  expect([second - first, third - second]).toEqual([64, 64]);
  // One byte into the next node's line: no check of a node alone sees it.
  m.buffer.writeUInt32LE(64 - 16 + 1, first + 8);
  expectPmemError(() => SharedAppendList.open(m), 'ERR_PMEM_CORRUPT');
  expect(() => list.toArray()).toThrow(`list nodes at ${first} and ${second} overlap: the first one's length reaches into the second`);
  expectPmemError(() => list.length, 'ERR_PMEM_CORRUPT');
  m.buffer.writeUInt32LE(1, first + 8);
  expect(strings(SharedAppendList.open(m))).toEqual(['a', 'b', 'c']);
  // Linked after the node it reaches into: the list's order is not the nodes' order.
  m.buffer.writeBigUInt64LE(BigInt(second), 8);
  m.buffer.writeBigUInt64LE(BigInt(first), second);
  m.buffer.writeBigUInt64LE(0n, first);
  expect(strings(SharedAppendList.open(m))).toEqual(['b', 'a']);
  m.buffer.writeUInt32LE(64 - 16 + 1, first + 8);
  expect(() => SharedAppendList.open(m)).toThrow(`list nodes at ${first} and ${second} overlap`);
  m.close();
});

test('bad arguments', () => {
  const m = openMapping(tmpFile('mp-args'), { size: 4096, create: true });
  expectThrowName(() => SharedAppendList.format(m, 10), 'RangeError');
  expectThrowName(() => SharedAppendList.format(m, 4096), 'RangeError');
  expectThrowName(() => SharedAppendList.format(m, -64), 'RangeError');
  expectThrowName(() => SharedAppendList.format(m, '0' as never), 'TypeError');
  const list = SharedAppendList.format(m);
  expectThrowName(() => list.append(42 as never), 'TypeError');
  expectThrowName(() => list.append(null as never), 'TypeError');
  expect(list.length).toBe(0);
  list.append('a');
  list.append('b');
  const started = list[Symbol.iterator]();
  expect(String(started.next().value)).toBe('a');
  m.close();
  expectPmemError(() => started.next(), 'ERR_PMEM_CLOSED');
  expectPmemError(() => list.append('x'), 'ERR_PMEM_CLOSED');
  expectPmemError(() => list.length, 'ERR_PMEM_CLOSED');
  expectPmemError(() => list.toArray(), 'ERR_PMEM_CLOSED');
  expectPmemError(() => list.recover(), 'ERR_PMEM_CLOSED');
});

test('recovery puts the free pointer past every reachable node', () => {
  const m = openMapping(tmpFile('mp-free'), { size: 8192, create: true });
  const list = SharedAppendList.format(m);
  list.append('a');
  list.append('b');
  const free = m.load64(16);
  m.store64(16, 64n); // as a crash may leave it: the pointer is never persisted
  expect(SharedAppendList.open(m).recover().length).toBe(2);
  expect(m.load64(16)).toBe(free);
  m.store64(16, free + 640n); // above: left as it is (another producer's reservation)
  SharedAppendList.open(m);
  expect(m.load64(16)).toBe(free + 640n);
  m.close();
});

test('a dirty link is persisted and cleaned by whoever follows it first', () => {
  const sim = new CrashSim(8192);
  const a = SharedAppendList.format(sim);
  const b = SharedAppendList.open(sim);
  const steps = a.appendSteps('a0');
  let s: IteratorResult<AppendStep>;
  while ((s = steps.next()).value !== 'linked');
  const head = sim.bytes.readBigUInt64LE(8);
  expect(head % 2n).toBe(1n); // visible, marked dirty, not yet durable
  expect(sim.persisted().readBigUInt64LE(8)).toBe(0n);
  expect(strings(b)).toEqual(['a0']); // the reader persisted it before reading on
  expect(sim.persisted().readBigUInt64LE(8)).toBe(head); // durable, with the bit: recovery ignores it
  expect(sim.bytes.readBigUInt64LE(8)).toBe(head - 1n); // and cleaned, unpersisted: later readers need no flush
  expect(steps.next().done).toBe(true); // a's clearing CAS finds it clean already
  expect(sim.bytes.readBigUInt64LE(8)).toBe(head - 1n);
});

test.each([1, 2, 3, 4, 5, 6, 7, 8])('three producers interleaved step by step on one thread (schedule %i)', (seed) => {
  const sim = new CrashSim(65536);
  SharedAppendList.format(sim);
  const random = seededRandom(seed);
  const producers = [0, 1, 2].map((p) => {
    const list = SharedAppendList.open(sim);
    const gens = [0, 1, 2, 3].map((i) => () => list.appendSteps(mp.value(`p${p}`, i)));
    return { gens, current: gens.shift()!(), done: 0 };
  });
  const seen = new Set<AppendStep>();
  for (let live = producers.slice(); live.length > 0; ) {
    const pr = live[Math.floor(random() * live.length)];
    const r = pr.current.next();
    if (r.done) {
      pr.done++;
      const g = pr.gens.shift();
      if (g === undefined) live = live.filter((x) => x !== pr);
      else pr.current = g();
    } else {
      seen.add(r.value);
    }
  }
  const counts = mp.byTag(SharedAppendList.open(sim).toArray());
  expect([...counts.entries()].sort()).toEqual([['p0', 4], ['p1', 4], ['p2', 4]]);
  expect(seen.has('passed')).toBe(true); // producers really raced for the same link
  // Every append returned: all of them are in what a crash would keep now.
  const image = new CrashSim(65536);
  image.bytes.set(sim.persisted());
  expect([...mp.byTag(SharedAppendList.open(image).toArray()).entries()].sort()).toEqual([['p0', 4], ['p1', 4], ['p2', 4]]);
});

interface Produced {
  tag: string;
  count: number;
}

function producers(kind: 'process' | 'worker', parties: number, count: number): Promise<string> {
  const file = tmpFile(`mp-${kind}`);
  const m = openMapping(file, { size: 4 * 2 ** 20, create: true });
  SharedAppendList.format(m, mp.LIST_AT);
  m.close();
  const one = (p: number): Promise<Produced> => {
    const data = { file, tag: `${kind}${p}`, count, parties };
    return new Promise((resolve, reject) => {
      let result: Produced | undefined;
      const child = kind === 'process' ? fork(PRODUCER, [JSON.stringify(data)], { stdio: 'inherit' }) : new Worker(PRODUCER, { workerData: data });
      child.on('message', (msg: Produced) => (result = msg));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`${kind} ${p} exited with ${code}`))));
    });
  };
  return Promise.all(Array.from({ length: parties }, (_, p) => one(p))).then(() => file);
}

function checkAll(file: string, kind: string, parties: number, count: number): void {
  const m = openMapping(file);
  try {
    const values = SharedAppendList.open(m, mp.LIST_AT).toArray();
    expect(values.length).toBe(parties * count);
    const counts = mp.byTag(values); // every producer's values in its order, none repeated
    for (let p = 0; p < parties; p++) expect(counts.get(`${kind}${p}`)).toBe(count);
    // The producers' values alternate somewhere: they appended at once.
    let switches = 0;
    for (let k = 1; k < values.length; k++) if (values[k].subarray(0, 8).toString() !== values[k - 1].subarray(0, 8).toString()) switches++;
    console.log(`${parties} ${kind} producers x ${count} appends: ${switches} switches between producers in the list`);
  } finally {
    m.close();
  }
  fs.rmSync(file);
}

test('3 processes append to one list at once: every value once, each producer in order', async () => {
  const file = await producers('process', 3, 3000);
  checkAll(file, 'process', 3, 3000);
});

test('2 worker_threads, each with its own mapping, append to one list at once', async () => {
  const file = await producers('worker', 2, 3000);
  checkAll(file, 'worker', 2, 3000);
});
