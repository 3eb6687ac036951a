// Every user input is read once: an element, its length and its bytes in
// one step, then checked, then written. Getters, Proxies, resizable and
// shared buffers cannot make a structure write other bytes than it planned.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';

import { AppendList, crc32c, KVStore, ObjPool, openMapping, PersistentList, sealRecord, SharedAppendList, store64, Superblock, TieredCache, TxLog, Wal } from '../lib';
import { sealRecords } from '../lib/core/records';
import { snapshotBytes } from '../lib/core/args';
import type { Mapping } from '../lib/core/mapping';
import type { Region } from '../lib/core/region';
import { CrashSim, crashTest, killTest } from '../lib/testing';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

type Resizable = ArrayBuffer & { resize(n: number): void };
/** A resizable ArrayBuffer (Node 20; the project's TypeScript lib predates its types). */
function resizable(n: number, max: number): Resizable {
  return new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(n, { maxByteLength: max });
}

function walFile(): string {
  const f = tmpFile('wal-inputs');
  Wal.open(f, { create: true, size: 1 << 20 }).close();
  return f;
}

function records(f: string): string[] {
  const w = Wal.open(f, { readOnly: true });
  try {
    return [...w.read()].map((r) => `${r.lsn}:${r.data.length}`);
  } finally {
    w.close();
  }
}

describe('PersistentList.inRoot', () => {
  test('an offset that is not 8-byte aligned is refused before the root grows', () => {
    const file = tmpFile('plist-inroot');
    const pool = ObjPool.create(file, { layout: 'inroot', size: 16 << 20 });
    try {
      pool.root(24);
      const before = pool.usableSize(pool.root(24));
      expect(() => PersistentList.inRoot(pool, 4004)).toThrow(new RangeError('offset must be 8-byte aligned, got 4004'));
      expect(pool.usableSize(pool.root(24))).toBe(before);
    } finally {
      pool.close();
      fs.rmSync(file, { force: true });
    }
  });
});

describe('Wal.appendBatch', () => {
  test('an element getter that closes the log\'s region, or the log: ERR_PMEM_CLOSED, nothing appended', () => {
    const file = tmpFile('wal-region-closed');
    const m = openMapping(file, { size: 1 << 20, create: true });
    const w = Wal.format(m);
    w.append('before');
    const batch = ['first'] as Array<Uint8Array | string>;
    Object.defineProperty(batch, 1, { get: () => { m.close(); return 'second'; }, enumerable: true });
    expectPmemError(() => w.appendBatch(batch), 'ERR_PMEM_CLOSED');
    const again = openMapping(file);
    expect([...Wal.open(again).read()].map((r) => r.data.toString())).toEqual(['before']);
    const w2 = Wal.open(again);
    const closing = ['a'] as Array<Uint8Array | string>;
    Object.defineProperty(closing, 1, { get: () => { w2.close(); return 'b'; }, enumerable: true });
    expectPmemError(() => w2.appendBatch(closing), 'ERR_PMEM_CLOSED');
    again.close();
    const last = openMapping(file);
    expect([...Wal.open(last).read()].map((r) => r.data.toString())).toEqual(['before']);
    last.close();
    fs.rmSync(file);
  });

  test('an element getter that answers 10 bytes and then 20,000: the first answer is written, and reopens', () => {
    const f = walFile();
    const w = Wal.open(f);
    let calls = 0;
    const batch = ['first'] as Array<Uint8Array | string>;
    Object.defineProperty(batch, 1, { get: () => (calls++ === 0 ? Buffer.alloc(10, 1) : Buffer.alloc(20000, 2)), enumerable: true });
    expect(w.appendBatch(batch)).toEqual([1, 2]);
    expect(calls).toBe(1);
    w.append('after');
    w.close();
    expect(records(f)).toEqual(['1:5', '2:10', '3:5']);
  });

  test('a Proxy is not a Uint8Array; a Proxy of the array is read once per element', () => {
    const f = walFile();
    const w = Wal.open(f);
    expectThrowName(() => w.appendBatch([Buffer.from('a'), new Proxy(Buffer.alloc(8), {}) as Buffer]), 'TypeError');
    expectThrowName(() => w.append(new Proxy(Buffer.alloc(8), {}) as Buffer), 'TypeError');
    let reads = 0;
    const arr = new Proxy([Buffer.alloc(4), Buffer.alloc(6)], {
      get(t, k, r) {
        if (k === '0' || k === '1') reads++;
        return Reflect.get(t, k, r);
      },
    });
    expect(w.appendBatch(arr)).toEqual([1, 2]);
    expect(reads).toBe(2);
    w.close();
    expect(records(f)).toEqual(['1:4', '2:6']);
  });

  test('a resizable buffer grown, or a buffer detached, by a later element\'s getter', () => {
    const f = walFile();
    const w = Wal.open(f);
    const rab = resizable(64, 4096);
    new Uint8Array(rab).fill(3);
    const tracking = new Uint8Array(rab); // its length follows the buffer's
    const batch: Array<Uint8Array | string> = [tracking];
    Object.defineProperty(batch, 1, { get: () => { rab.resize(4096); new Uint8Array(rab).fill(3); return 'x'; }, enumerable: true });
    expect(w.appendBatch(batch)).toEqual([1, 2]);
    // A fixed-length buffer detached by a later getter: refused, nothing written.
    const fixed = new Uint8Array(new ArrayBuffer(32));
    const detach: Array<Uint8Array | string> = [fixed];
    let detached = false;
    Object.defineProperty(detach, 1, {
      get: () => {
        if (!detached) structuredClone(fixed.buffer, { transfer: [fixed.buffer] });
        detached = true;
        return 'y';
      },
      enumerable: true,
    });
    expectThrowName(() => w.appendBatch(detach), 'TypeError');
    // Refused before anything was written: the ring after the first two records is still zero.
    expect(fs.readFileSync(f).subarray(256 + 136, 256 + 8192).every((x) => x === 0)).toBe(true);
    w.append('last');
    w.close();
    expect(records(f)).toEqual(['1:64', '2:1', '3:4']);
    // Nothing was written past the three records (32 + 64, 32 + 1 → 40, 32 + 4 → 40 bytes): the ring starts after
    // the 256-byte superblock, and the bytes after its tail are still zero.
    const bytes = fs.readFileSync(f);
    expect(bytes.subarray(256 + 176, 256 + 8192).every((x) => x === 0)).toBe(true);
  });

  test('a SharedArrayBuffer-backed record is copied once', () => {
    const f = walFile();
    const w = Wal.open(f);
    const sab = new (SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer)(16, { maxByteLength: 1024 });
    const u8 = new Uint8Array(sab);
    u8.fill(9);
    expect(w.appendBatch([u8, 'z'])).toEqual([1, 2]);
    w.close();
    const r = Wal.open(f, { readOnly: true });
    expect([...r.read()][0].data.equals(Buffer.alloc(16, 9))).toBe(true);
    r.close();
  });
});

describe('KVStore.batch', () => {
  function store(): { s: KVStore; file: string } {
    const file = tmpFile('kv-inputs');
    return { s: KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 }), file };
  }

  test('a resizable ArrayBuffer grown after the ops were read: the length read first is written, every key reopens', () => {
    const { s, file } = store();
    const rab = resizable(8, 65536);
    const v = new Uint8Array(rab); // length-tracking
    v.fill(1);
    const ops: Array<{ type: 'put'; key: string; value: Uint8Array | string }> = [];
    for (let i = 0; i < 17; i++) ops.push({ type: 'put', key: `k${i}`, value: `v${i}` });
    ops.push({ type: 'put', key: 'grown', value: v });
    // The array's length, read again after the last op, grows the value.
    let lengthReads = 0;
    const proxy = new Proxy(ops, {
      get(t, k, r) {
        if (k === 'length' && ++lengthReads > 1) rab.resize(65536);
        return Reflect.get(t, k, r);
      },
    });
    s.batch(proxy);
    s.close();
    const t = KVStore.open(file);
    expect(t.count).toBe(18);
    expect(t.get('grown')!.equals(Buffer.alloc(8, 1))).toBe(true);
    for (let i = 0; i < 17; i++) expect(t.getString(`k${i}`)).toBe(`v${i}`);
    t.close();
  });

  test('getters of op fields are read once; a Proxy value is a TypeError; a detached value is refused before writing', () => {
    const { s } = store();
    let reads = 0;
    const op = { type: 'put' as const, key: 'g', get value(): Buffer { reads++; return reads === 1 ? Buffer.alloc(4, 1) : Buffer.alloc(40000, 2); } };
    s.batch([op]);
    expect(reads).toBe(1);
    expect(s.get('g')!.length).toBe(4);
    expectThrowName(() => s.batch([{ type: 'put', key: 'p', value: new Proxy(Buffer.alloc(4), {}) as Buffer }]), 'TypeError');
    expectThrowName(() => s.put('p', new Proxy(Buffer.alloc(4), {}) as Buffer), 'TypeError');
    const fixed = new Uint8Array(new ArrayBuffer(32));
    const detach = { type: 'put' as const, key: 'd2', get value(): string { structuredClone(fixed.buffer, { transfer: [fixed.buffer] }); return 'x'; } };
    expectThrowName(() => s.batch([{ type: 'put', key: 'd1', value: fixed }, detach]), 'TypeError');
    expect(s.has('d1')).toBe(false);
    const u8 = new Uint8Array(new SharedArrayBuffer(8));
    u8.fill(5);
    s.batch([{ type: 'put', key: 'shared', value: u8 }]);
    expect(s.get('shared')!.equals(Buffer.alloc(8, 5))).toBe(true);
    s.close();
  });
});

describe('a getter that closes the store', () => {
  test('KVStore.batch: ERR_PMEM_CLOSED, and nothing of the batch is written', () => {
    const file = tmpFile('kv-inputs');
    const s = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
    s.put('a', '1');
    const closing = { type: 'put' as const, key: 'c', get value(): string { s.close(); return 'x'; } };
    expectPmemError(() => s.batch([{ type: 'put', key: 'b', value: '2' }, closing]), 'ERR_PMEM_CLOSED');
    const t = KVStore.open(file);
    expect([...t.keys()].map(String)).toEqual(['a']);
    t.close();
  });
});

describe('Mapping.sealRecords: JavaScript that runs while its sources are read', () => {
  // Two 64-byte records at 0 and 64, each with a 32-byte source at its tail.
  const table = (): Float64Array => new Float64Array([0, 64, 0, 64, 128, 1]);
  function sealed(b: Buffer, at: number, seed: number): boolean {
    return b.readUInt32LE(at) === crc32c(b, at + 4, 60, seed);
  }

  test('a getter that closes the mapping: ERR_PMEM_CLOSED, before anything is written', () => {
    const m = openMapping(tmpFile('seal-getters'), { size: 4096, create: true });
    const srcs: unknown[] = [Buffer.alloc(32, 1)];
    Object.defineProperty(srcs, 1, { get: () => { m.close(); return Buffer.alloc(32, 2); } });
    expectPmemError(() => m.sealRecords(table(), 2, 7, true, srcs), 'ERR_PMEM_CLOSED');
  });

  test('a getter that frees an earlier source: refused as a detached source, and nothing is sealed', () => {
    const m = openMapping(tmpFile('seal-getters'), { size: 4096, create: true });
    const first = new Uint8Array(new ArrayBuffer(32)).fill(1);
    const srcs: unknown[] = [first];
    Object.defineProperty(srcs, 1, { get: () => { structuredClone(first.buffer, { transfer: [first.buffer] }); return Buffer.alloc(32, 2); } });
    expect(() => m.sealRecords(table(), 2, 7, true, srcs)).toThrow(new TypeError('srcs[] is a view of a detached ArrayBuffer'));
    expect(first.length).toBe(0);
    expect(m.buffer.subarray(0, 256).equals(Buffer.alloc(256))).toBe(true);
    m.close();
  });

  test('a getter that seals again: both calls seal every record they were given', () => {
    const m = openMapping(tmpFile('seal-getters'), { size: 16384, create: true });
    const srcs: unknown[] = [Buffer.alloc(32, 1)];
    Object.defineProperty(srcs, 1, {
      get: () => {
        // 100 records: the inner call needs more room than the outer one.
        const t = new Float64Array(300);
        for (let i = 0; i < 100; i++) t.set([1024 + 64 * i, 1088 + 64 * i, 0], 3 * i);
        m.sealRecords(t, 100, 9, true, [Buffer.alloc(32, 3)]);
        return Buffer.alloc(32, 2);
      },
    });
    m.sealRecords(table(), 2, 7, true, srcs);
    expect(m.buffer.subarray(32, 64).equals(Buffer.alloc(32, 1))).toBe(true);
    expect(m.buffer.subarray(96, 128).equals(Buffer.alloc(32, 2))).toBe(true);
    expect(sealed(m.buffer, 0, 7) && sealed(m.buffer, 64, 7)).toBe(true);
    for (let i = 0; i < 100; i++) expect(sealed(m.buffer, 1024 + 64 * i, 9)).toBe(true);
    m.close();
  });

  // The table is the caller's: a getter may point a record at an index it
  // never read, a hole in the call's own array, whose native read would
  // reach Array.prototype and run JavaScript inside the call (here one
  // that unmaps the file under the records it is about to write). In a
  // child: that was a SIGSEGV.
  test('a getter that rewrites the table to name a source it did not read: a TypeError, and no JavaScript runs inside the call', () => {
    const script = `
      const { openMapping } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const m = openMapping(${JSON.stringify(tmpFile('seal-table-getter'))}, { size: 4096, create: true });
      const table = new Float64Array([0, 64, 0, 64, 128, 1]);
      const srcs = [Buffer.alloc(32, 1)];
      Object.defineProperty(srcs, 1, { get() { table[2] = 2; return Buffer.alloc(32, 2); } });
      srcs.length = 3;
      let inside = 0;
      Object.defineProperty(Array.prototype, 2, { configurable: true, get() { inside++; m.close(); return Buffer.alloc(32, 9); } });
      let out;
      try { m.sealRecords(table, 2, 7, true, srcs); out = 'sealed'; } catch (e) { out = e.name + ': ' + e.message; }
      delete Array.prototype[2];
      console.log(JSON.stringify({ out, inside, closed: m.closed, zeros: m.closed ? null : m.buffer.subarray(0, 256).every((b) => b === 0) }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({
      out: 'TypeError: the table changed while the sources were read (a getter on srcs wrote it)', inside: 0, closed: false, zeros: true,
    });
  });

  test('a Proxy of the sources claiming 2^32 elements: only the ones the table names are read', () => {
    const m = openMapping(tmpFile('seal-getters'), { size: 4096, create: true });
    const read: PropertyKey[] = [];
    const srcs = new Proxy([Buffer.alloc(32, 1), Buffer.alloc(32, 2)], {
      get(t, k, r) {
        if (k === 'length') return 2 ** 32 - 1;
        read.push(k);
        return Reflect.get(t, k, r);
      },
    });
    m.sealRecords(table(), 2, 7, true, srcs);
    expect(read).toEqual(['0', '1']);
    expect(sealed(m.buffer, 0, 7) && sealed(m.buffer, 64, 7)).toBe(true);
    m.close();
  });
});

describe('sealRecord and sealRecords on a Region without them (the simulator) check as the native forms do', () => {
  test('a source with its own length property is sealed by its true length, or refused', () => {
    const sim = new CrashSim(4096);
    sim.bytes.fill(0xee);
    const lying = Buffer.alloc(64, 1);
    Object.defineProperty(lying, 'length', { value: 4 });
    expectThrowName(() => sealRecord(sim, 0, 16, 0, true, lying), 'RangeError');
    expectThrowName(() => sealRecords(sim, new Float64Array([0, 16, 0]), 1, 0, true, [lying]), 'RangeError');
    expect(sim.bytes.equals(Buffer.alloc(4096, 0xee))).toBe(true);
  });

  test('strings, valueOf objects and other types are TypeErrors, before anything is written', () => {
    const sim = new CrashSim(4096);
    sim.bytes.fill(0xee);
    let reads = 0;
    const moving = { valueOf: () => (reads++ < 2 ? 16 : 4000) };
    const bad: Array<[string, () => unknown]> = [
      ['end as a string', () => sealRecord(sim, 0, '64' as never, 0, true)],
      ['end as a valueOf object', () => sealRecord(sim, 0, moving as never, 0, true, Buffer.alloc(8))],
      ['crcAt as a bigint', () => sealRecord(sim, 0n as never, 64, 0, true)],
      ['persist as a string', () => sealRecord(sim, 0, 64, 0, 'no' as never)],
      ['seed as a string', () => sealRecord(sim, 0, 64, '1' as never, true)],
      ['a table of numbers in an array', () => sealRecords(sim, [0, 64, -1] as never, 1, 0, true, [])],
      ['count as a string', () => sealRecords(sim, new Float64Array([0, 64, -1]), '1' as never, 0, true, [])],
      ['persist as a number', () => sealRecords(sim, new Float64Array([0, 64, -1]), 1, 0, 1 as never, [])],
    ];
    for (const [what, fn] of bad) {
      try {
        fn();
        throw new Error(`${what}: no error`);
      } catch (e) {
        expect([what, (e as Error).name]).toEqual([what, 'TypeError']);
      }
    }
    expectThrowName(() => sealRecord(sim, 0, 64, 2 ** 32, true), 'RangeError');
    expect(sim.bytes.equals(Buffer.alloc(4096, 0xee))).toBe(true);
  });

  test('a source read by a getter once: the view checked is the view copied', () => {
    const sim = new CrashSim(4096);
    let reads = 0;
    const srcs: unknown[] = [];
    Object.defineProperty(srcs, 0, { get: () => (reads++ === 0 ? Buffer.alloc(8, 1) : Buffer.alloc(4000, 2)) });
    sealRecords(sim, new Float64Array([64, 80, 0]), 1, 0, true, srcs);
    expect(reads).toBe(1);
    expect(sim.bytes.subarray(72, 80).equals(Buffer.alloc(8, 1))).toBe(true);
    expect(sim.bytes.subarray(80, 4096).equals(Buffer.alloc(4016))).toBe(true);
  });
});

describe('store64(bytes, offset, value)', () => {
  test('takes a u64 as a bigint or a non-negative safe integer, and nothing else', () => {
    const b = Buffer.alloc(64);
    store64(b, 8, 2n ** 64n - 1n);
    expect(b.readBigUInt64LE(8)).toBe(2n ** 64n - 1n);
    store64(b, 16, 2 ** 53 - 1);
    expect(b.readBigUInt64LE(16)).toBe(2n ** 53n - 1n);
    for (const v of [-1, -1n, 2n ** 64n, 2n ** 70n + 7n, 2 ** 53, 1.5, NaN]) expectThrowName(() => store64(b, 24, v as never), 'RangeError');
    for (const v of ['5', '0x10', true, [], null, undefined, {}]) expectThrowName(() => store64(b, 24, v as never), 'TypeError');
    expect(b.readBigUInt64LE(24)).toBe(0n);
  });

  test('bytes must be a Uint8Array, bounded by its own length', () => {
    const ab = new ArrayBuffer(64);
    expectThrowName(() => store64({ length: 64, buffer: ab, byteOffset: 0 } as never, 8, 1), 'TypeError');
    const view = new Uint8Array(ab, 0, 8);
    Object.defineProperty(view, 'length', { value: 64 });
    expectThrowName(() => store64(view, 40, 1), 'RangeError');
    const offset = new Uint8Array(ab, 8, 16);
    Object.defineProperty(offset, 'byteOffset', { value: 40 });
    store64(offset, 8, 5);
    expect(Buffer.from(ab).readBigUInt64LE(16)).toBe(5n); // at its true offset, not the own property's
    expect(Buffer.from(ab).readBigUInt64LE(48)).toBe(0n);
  });
});

describe('TxLog, Superblock and AppendList take snapshots too', () => {
  test('a resizable or shared buffer is copied; a Proxy is a TypeError', () => {
    const sim = new CrashSim(1 << 16);
    const sb = Superblock.format(sim, { offset: 0, capacity: 64 });
    const rab = resizable(8, 256);
    new Uint8Array(rab).fill(7);
    sb.write(new Uint8Array(rab));
    expect(sb.read()!.equals(Buffer.alloc(8, 7))).toBe(true);
    expectThrowName(() => sb.write(new Proxy(Buffer.alloc(4), {}) as Buffer), 'TypeError');
    const list = AppendList.format(sim, 1024);
    list.append(new Uint8Array(new SharedArrayBuffer(4)));
    expectThrowName(() => list.append(new Proxy(Buffer.alloc(4), {}) as Buffer), 'TypeError');
    expect(list.length).toBe(1);
    const log = TxLog.format(sim, { offset: 8192, size: 4096 });
    log.run((tx) => tx.write(16384, new Uint8Array(rab)));
    expect(sim.bytes.subarray(16384, 16392).equals(Buffer.alloc(8, 7))).toBe(true);
    expectThrowName(() => log.run((tx) => tx.write(16384, new Proxy(Buffer.alloc(4), {}) as Buffer)), 'TypeError');
    expectThrowName(() => log.undoUpdate(16384, new Proxy(Buffer.alloc(4), {}) as Buffer), 'TypeError');
  });
});

// snapshotBytes keeps a view only when nothing but this thread can change
// its length or bytes, and decides without running user code: every other
// view is copied, and the same view always gets the same answer.
describe('snapshotBytes: which views are kept and which copied', () => {
  const kept = (v: unknown): boolean => snapshotBytes(v, 'v') === v;

  test('a Buffer, a pooled Buffer, a Uint8Array and empty ones are kept; a detached one is a TypeError', () => {
    expect(kept(Buffer.alloc(64))).toBe(true);
    expect(kept(Buffer.from('pooled'))).toBe(true);
    expect(kept(new Uint8Array(8))).toBe(true);
    expect(kept(Buffer.alloc(0))).toBe(true);
    expect(kept(new Uint8Array(new ArrayBuffer(8), 8, 0))).toBe(true);
    expect(snapshotBytes(new Uint8Array(new SharedArrayBuffer(0)), 'v').length).toBe(0);
    const gone = new Uint8Array(8);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    expect(() => snapshotBytes(gone, 'v')).toThrow(new TypeError('v is a view of a detached ArrayBuffer'));
  });

  test('a view of another realm, a subclass, and an instance with its own length are copied', () => {
    const foreign = vm.runInNewContext('new Uint8Array([1, 2, 3])') as Uint8Array;
    expect(kept(foreign)).toBe(false);
    expect([...snapshotBytes(foreign, 'v')]).toEqual([1, 2, 3]);
    class Sub extends Uint8Array {}
    expect(kept(new Sub(4))).toBe(false);
    // A Buffer whose prototype is a subclass's (class syntax over Buffer
    // returns a plain Buffer, since Buffer's constructor returns its own object).
    expect(kept(Object.setPrototypeOf(Buffer.alloc(4), Object.create(Buffer.prototype)))).toBe(false);
    const own = new Uint8Array(4);
    Object.defineProperty(own, 'length', { value: 1000 });
    const copy = snapshotBytes(own, 'v');
    expect(copy).not.toBe(own);
    expect(copy.length).toBe(4);
  });

  test('views over shared or resizable memory are copied, of this realm or another', () => {
    expect(kept(new Uint8Array(new SharedArrayBuffer(8)))).toBe(false);
    expect(kept(new Uint8Array(vm.runInNewContext('new SharedArrayBuffer(8)') as SharedArrayBuffer))).toBe(false);
    const growable = new (SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer)(8, { maxByteLength: 64 });
    expect(kept(new Uint8Array(growable))).toBe(false);
    expect(kept(new Uint8Array(resizable(8, 64)))).toBe(false);
    expect(kept(new Uint8Array(resizable(8, 64), 0, 4))).toBe(false);
  });

  test('no trap or getter of the view runs, and the answer does not change once the call is optimized', () => {
    const traps: string[] = [];
    const trapped = new Uint8Array(4);
    Object.setPrototypeOf(trapped, new Proxy(Uint8Array.prototype, {
      get(t, k, r) { traps.push(String(k)); return Reflect.get(t, k, r) as unknown; },
      has(t, k) { traps.push(String(k)); return Reflect.has(t, k); },
      getOwnPropertyDescriptor(t, k) { traps.push(String(k)); return Reflect.getOwnPropertyDescriptor(t, k); },
    }));
    expect(kept(trapped)).toBe(false);
    expect(traps).toEqual([]);
    // Many calls with one shape, then the others: an optimized build of the
    // check answers as the first calls did.
    const plain = Buffer.alloc(16);
    for (let i = 0; i < 20000; i++) expect(kept(plain)).toBe(true);
    expect(kept(new Uint8Array(new SharedArrayBuffer(8)))).toBe(false);
    expect(kept(Object.setPrototypeOf(Buffer.alloc(4), Uint8Array.prototype))).toBe(true);
    expect(kept(Object.setPrototypeOf(Buffer.alloc(4), Object.create(Buffer.prototype)))).toBe(false);
    expect(kept(trapped)).toBe(false);
    expect(traps).toEqual([]);
    expectThrowName(() => snapshotBytes(new Proxy(Buffer.alloc(4), {}), 'v'), 'TypeError');
    expectThrowName(() => snapshotBytes(new Uint16Array(4), 'v'), 'TypeError');
    expectThrowName(() => snapshotBytes('bytes', 'v'), 'TypeError');
  });
});

// The option, path, boolean, promise and closed checks are written once
// (lib/core/args.ts, closedError in lib/core/errors.ts); every entry point
// answers with the same words.
describe('a view that reads as empty without being so', () => {
  /** A Uint8Array (or Buffer) whose buffer was transferred away: its length reads 0. */
  const detached = (buffer = false): Uint8Array => {
    const ab = new ArrayBuffer(16);
    const v = buffer ? Buffer.from(ab) : new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] });
    expect(v.length).toBe(0);
    return v;
  };
  /** A view of bytes 8..16 of a resizable ArrayBuffer then shrunk to 4 bytes: out of bounds, its length reads 0. */
  const shrunk = (buffer = false): Uint8Array => {
    const rab = resizable(16, 32);
    const v = buffer ? Buffer.from(rab, 8, 8) : new Uint8Array(rab, 8, 8);
    rab.resize(4);
    expect(v.length).toBe(0);
    return v;
  };

  test.each([
    ['of a detached ArrayBuffer', detached, /is a view of a detached ArrayBuffer$/],
    ['past the end of a shrunk resizable ArrayBuffer', shrunk, /is a view past the end of its resizable ArrayBuffer, which was shrunk$/],
  ])('%s is a TypeError at every entry point that takes bytes, and nothing is written (not an empty key or value)', (_what, make, message) => {
    const detached = make;
    const f = walFile();
    const w = Wal.open(f);
    const s = KVStore.open(tmpFile('kv-detached'), { create: true, size: 1 << 20, segmentSize: 1 << 16 });
    const region = new CrashSim(1 << 16);
    const sb = Superblock.format(region, { offset: 0, capacity: 64 });
    const list = AppendList.format(region, 4096);
    const tx = TxLog.format(region, { offset: 8192, size: 8192 });
    const cache = new TieredCache<Uint8Array>({ region: new CrashSim(1 << 16), writeMode: 'write-through' });
    const image = Buffer.from(region.bytes);
    const calls: [string, (v: Uint8Array) => unknown][] = [
      ['Wal.append', (v) => w.append(v)],
      ['Wal.appendBatch', (v) => w.appendBatch(['a', v])],
      ['KVStore.put (value)', (v) => s.put('k', v)],
      ['KVStore.put (key)', (v) => s.put(v, 'x')],
      ['KVStore.get', (v) => s.get(v)],
      ['KVStore.has', (v) => s.has(v)],
      ['KVStore.delete', (v) => s.delete(v)],
      ['KVStore.batch', (v) => s.batch([{ type: 'put', key: 'b', value: v }])],
      ['Superblock.write', (v) => sb.write(v)],
      ['AppendList.append', (v) => list.append(v)],
      ['TxLog write', (v) => tx.run((t) => t.write(20000, v))],
      ['TieredCache.set', (v) => cache.set('c', v)],
    ];
    for (const [name, call] of calls) {
      for (const buffer of [false, true]) {
        let err: unknown;
        try {
          call(detached(buffer));
        } catch (e) {
          err = e;
        }
        expect([name, err instanceof TypeError, (err as Error)?.message]).toEqual([name, true, expect.stringMatching(message)]);
      }
    }
    expect(region.bytes.equals(image)).toBe(true);
    expect(s.count).toBe(0);
    expect(cache.size).toBe(0);
    s.close();
    w.close();
    expect(records(f)).toEqual([]);
  });
});

describe('a string with a lone surrogate', () => {
  test('is a TypeError wherever a string is stored as UTF-8 (it would read back as U+FFFD), and nothing is written', async () => {
    const f = walFile();
    const w = Wal.open(f);
    const region = new CrashSim(1 << 16);
    const list = AppendList.format(region, 0);
    const shared = SharedAppendList.format(region, 8192);
    const pool = ObjPool.create(tmpFile('surrogate-pool'), { size: 8 << 20 });
    pool.root(24);
    const plist = PersistentList.inRoot(pool);
    const calls: [string, (v: string) => unknown][] = [
      ['Wal.append', (v) => w.append(v)],
      ['Wal.appendBatch', (v) => w.appendBatch(['a', v])],
      ['AppendList.append', (v) => list.append(v)],
      ['SharedAppendList.append', (v) => shared.append(v)],
      ['PersistentList.push', (v) => plist.push(v)],
    ];
    for (const [name, call] of calls) {
      for (const v of ['\ud800', 'a\udc00b', 'x'.repeat(100) + '\ud83d']) {
        let err: unknown;
        try {
          call(v);
        } catch (e) {
          err = e;
        }
        expect([name, err instanceof TypeError, (err as Error)?.message]).toEqual([name, true, expect.stringMatching(/must be a well-formed string: a lone surrogate has no UTF-8 form$/)]);
      }
      // A pair is a character, and is taken.
      call('\ud83d\ude00');
    }
    expect(plist.length).toBe(1);
    expect(list.toArray().map(String)).toEqual(['\ud83d\ude00']);
    expect(shared.toArray().map(String)).toEqual(['\ud83d\ude00']);
    pool.close();
    w.close();
    expect(records(f)).toEqual(['1:4', '2:1', '3:4']);
  });
});

describe('one check, one wording, at every entry point', () => {
  const opens: [string, (options: unknown) => unknown][] = [
    ['openMapping', (o) => openMapping(tmpFile('m'), o as never)],
    ['Wal.open', (o) => Wal.open(tmpFile('w'), o as never)],
    ['KVStore.open', (o) => KVStore.open(tmpFile('kv'), o as never)],
    ['KVStore.openRegion', (o) => KVStore.openRegion(new CrashSim(1 << 20), o as never)],
    ['ObjPool.create', (o) => ObjPool.create(tmpFile('pool'), o as never)],
    ['ObjPool.open', (o) => ObjPool.open(tmpFile('pool'), o as never)],
    ['new CrashSim', (o) => new CrashSim(4096, o as never)],
    ['crashTest', (o) => crashTest(o as never)],
  ];

  test.each(opens)('%s: options not an object, and an unknown option', (_name, open) => {
    expect(() => open(null)).toThrow(new TypeError('options must be an object'));
    expect(() => open({ nosuch: 1 })).toThrow(new TypeError("unknown option 'nosuch'"));
  });

  test('killTest: the same, as a rejection', async () => {
    await expect(killTest(null as never)).rejects.toThrow(new TypeError('options must be an object'));
    await expect(killTest({ nosuch: 1 } as never)).rejects.toThrow(new TypeError("unknown option 'nosuch'"));
  });

  test.each([
    ['openMapping', () => openMapping(tmpFile('m'), { create: 1 } as never), 'create'],
    ['Wal.open', () => Wal.open(tmpFile('w'), { readOnly: 1 } as never), 'readOnly'],
    ['KVStore.open', () => KVStore.open(tmpFile('kv'), { create: 'yes' } as never), 'create'],
    ['ObjPool.create', () => ObjPool.create(tmpFile('pool'), { sds: 0 } as never), 'sds'],
    ['crashTest', () => crashTest({ size: 4096, torn: 1, setup() {}, operation() {}, recover() {}, check() {} } as never), 'torn'],
  ])('%s: a non-boolean flag', (_name, open, flag) => {
    expect(open).toThrow(new TypeError(`${flag} must be a boolean`));
  });

  // null is a value, not an option left out: refused like any other wrong
  // type, by every open alike (it was taken as the default by some).
  test.each([
    ['openMapping', 'size', (o: object) => openMapping(tmpFile('m'), { create: true, ...o } as never), 'TypeError', 'size must be a number, got null'],
    ['Wal.open', 'readOnly', (o: object) => Wal.open(tmpFile('w'), o as never), 'TypeError', 'readOnly must be a boolean'],
    ['KVStore.open', 'size', (o: object) => KVStore.open(tmpFile('kv'), { create: true, ...o } as never), 'TypeError', 'size must be a number, got null'],
    ['KVStore.open', 'maxSize', (o: object) => KVStore.open(tmpFile('kv'), { create: true, ...o } as never), 'TypeError', 'maxSize must be a number, got null'],
    ['KVStore.open', 'segmentSize', (o: object) => KVStore.open(tmpFile('kv'), { create: true, ...o } as never), 'TypeError', 'segmentSize must be a number, got null'],
    ['KVStore.open', 'create', (o: object) => KVStore.open(tmpFile('kv'), o as never), 'TypeError', 'create must be a boolean'],
    ['KVStore.openRegion', 'readOnly', (o: object) => KVStore.openRegion(new CrashSim(1 << 20), o as never), 'TypeError', 'readOnly must be a boolean'],
    ['ObjPool.create', 'size', (o: object) => ObjPool.create(tmpFile('pool'), o as never), 'TypeError', 'size must be a number, got null'],
    ['ObjPool.create', 'sds', (o: object) => ObjPool.create(tmpFile('pool'), o as never), 'TypeError', 'sds must be a boolean'],
    ['ObjPool.open', 'stats', (o: object) => ObjPool.open(tmpFile('pool'), o as never), 'TypeError', 'stats must be a boolean'],
  ])('%s: %s given as null is refused', (_name, option, open, type, message) => {
    let err: unknown;
    try {
      (open({ [option]: null }) as { close?: () => void } | undefined)?.close?.();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(type === 'TypeError' ? TypeError : RangeError);
    expect((err as Error).message).toBe(message);
  });

  test.each([
    ['openMapping', (p: unknown) => openMapping(p as string)],
    ['Wal.open', (p: unknown) => Wal.open(p as string)],
    ['KVStore.open', (p: unknown) => KVStore.open(p as string)],
    ['ObjPool.open', (p: unknown) => ObjPool.open(p as string)],
  ])('%s: an empty or missing path', (_name, open) => {
    expect(() => open('')).toThrow(new TypeError('path must be a non-empty string'));
    if (_name !== 'Wal.open') expect(() => open(undefined)).toThrow(new TypeError('path must be a non-empty string'));
  });

  test('a thenable, an object or a function, is refused by TxLog.run as a promise is', () => {
    const sim = new CrashSim(1 << 16);
    const log = TxLog.format(sim, { offset: 0, size: 4096 });
    const asFunction = Object.assign(() => undefined, { then: () => undefined });
    for (const result of [Promise.resolve(), { then: () => undefined }, asFunction]) {
      expect(() => log.run(() => result as never)).toThrow(
        new TypeError('transaction functions must be synchronous; a promise was returned and nothing was written'),
      );
    }
  });

  function closedMessage(fn: () => unknown): string {
    expectPmemError(fn, 'ERR_PMEM_CLOSED');
    try {
      fn();
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  }

  test('ERR_PMEM_CLOSED says "<what> is closed" everywhere, with the path where there is one', () => {
    const mf = tmpFile('m');
    const m = openMapping(mf, { create: true, size: 4096 });
    m.close();
    expect(closedMessage(() => m.flush(0, 1))).toBe(`mapping of '${mf}' is closed`);

    const wf = walFile();
    const w = Wal.open(wf);
    w.close();
    expect(closedMessage(() => w.append('x'))).toBe('log is closed');

    const kf = tmpFile('kv');
    const kv = KVStore.open(kf, { create: true, size: 16 << 20 });
    kv.close();
    expect(closedMessage(() => kv.get('k'))).toBe('the KV store is closed');
    expect((() => { try { kv.get('k'); } catch (e) { return (e as { path?: string }).path; } })()).toBe(kf);

    const kvRegion = openMapping(tmpFile('region'), { create: true, size: 16 << 20 });
    const rkv = KVStore.openRegion(kvRegion, { create: true });
    kvRegion.close();
    const walRegion = openMapping(tmpFile('region'), { create: true, size: 1 << 20 });
    const rw = Wal.format(walRegion);
    walRegion.close();
    expect(closedMessage(() => rkv.get('k'))).toBe('the region under the KV store is closed');
    expect(closedMessage(() => rw.append('x'))).toBe('the region under the log is closed');

    const pf = tmpFile('pool');
    const pool = ObjPool.create(pf);
    pool.close();
    expect(closedMessage(() => pool.alloc(8))).toBe(`pool '${pf}' is closed`);
  });
});

// A put and an append hand the caller's bytes to sealRecord as they are,
// with the length they planned the record for; sealRecord
// refuses bytes of any other length before it writes. A length-tracking
// view of a growable SharedArrayBuffer is the one view whose length can
// change with no user code on this thread: another thread grows it.
type Growable = SharedArrayBuffer & { grow(n: number): void };
function growable(n: number, max: number): Growable {
  return new (SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Growable)(n, { maxByteLength: max });
}

/** A Mapping as a Region, with `before` run once just before the next sealRecord reaches the native copy. */
class HookedRegion implements Region {
  before: (() => void) | null = null;
  seals = 0;
  /** Runs once, at the next prefault (a put that opens a segment queues the next one). */
  beforePrefault: (() => void) | null = null;
  prefaults = 0;
  constructor(readonly m: Mapping) {}
  get bytes(): Buffer { return this.m.bytes; }
  get length(): number { return this.m.length; }
  get granularity(): Region['granularity'] { return this.m.granularity; }
  get closed(): boolean { return this.m.closed; }
  flush(offset: number, length: number): void { this.m.flush(offset, length); }
  drain(): void { this.m.drain(); }
  persist(offset: number, length: number): void { this.m.persist(offset, length); }
  sealRecord(crcAt: number, end: number, seed: number, persist: boolean, src?: Uint8Array, srcLength?: number): number {
    this.seals++;
    const f = this.before;
    this.before = null;
    f?.();
    return this.m.sealRecord(crcAt, end, seed, persist, src, srcLength);
  }
  populate(offset: number, length: number): void { this.m.populate(offset, length); }
  prefault(offset: number, length: number): void {
    this.prefaults++;
    const f = this.beforePrefault;
    this.beforePrefault = null;
    f?.();
    this.m.prefault(offset, length);
  }
}

describe('a put and an append without a snapshot: sealRecord\'s srcLength', () => {
  test('a put and an append read a view\'s length through its internal slot: no getter of it runs', () => {
    let reads = 0;
    class Lying extends Uint8Array {}
    Object.defineProperty(Lying.prototype, 'length', { get: () => { reads++; return 3; } });
    const lying = new Lying(10).fill(5);
    const own = new Uint8Array(6).fill(6);
    Object.defineProperty(own, 'length', { get: () => { reads++; return 1000; } });
    const kf = tmpFile('kv-lying');
    const kv = KVStore.open(kf, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
    const wf = walFile();
    const w = Wal.open(wf);
    kv.put('lying', lying);
    kv.put('own', own);
    // As keys too: the put copies the bytes the internal slot counts.
    kv.put(lying, 'lying key');
    kv.put(own, 'own key');
    expect(w.append(lying)).toBe(1);
    expect(w.append(own)).toBe(2);
    expect(reads).toBe(0);
    // Anything but a Buffer or Uint8Array is refused, a Proxy of one too.
    for (const bad of [new Proxy(Buffer.alloc(4), {}), new Uint16Array(4), 42, null]) {
      expectThrowName(() => kv.put('bad', bad as Buffer), 'TypeError');
      expectThrowName(() => w.append(bad as Buffer), 'TypeError');
    }
    kv.close();
    w.close();
    const again = KVStore.open(kf);
    expect(again.count).toBe(4);
    expect(again.get('lying')!.equals(Buffer.alloc(10, 5))).toBe(true);
    expect(again.get('own')!.equals(Buffer.alloc(6, 6))).toBe(true);
    expect(again.getString(Buffer.alloc(10, 5))).toBe('lying key');
    expect(again.getString(Buffer.alloc(6, 6))).toBe('own key');
    again.close();
    expect(records(wf)).toEqual(['1:10', '2:6']);
  });

  test('a src that is not srcLength bytes is refused before anything is written, natively and in the generic form', () => {
    const m = openMapping(tmpFile('seal-len'), { create: true, size: 4096 });
    const generic: Region = {
      bytes: m.bytes, length: m.length, granularity: m.granularity,
      flush: (o, l) => m.flush(o, l), drain: () => m.drain(), persist: (o, l) => m.persist(o, l),
    };
    const src = Buffer.alloc(8, 0xab);
    for (const region of [m, generic]) {
      expect(m.bytes.subarray(0, 64).every((x) => x === 0)).toBe(true);
      expect(() => sealRecord(region, 0, 40, 7, true, src, 6)).toThrow(/src is 8 bytes, not the 6 the record was planned for/);
      expectThrowName(() => sealRecord(region, 0, 40, 7, true, src, 9), 'RangeError');
      expectThrowName(() => sealRecord(region, 0, 40, 7, true, src, -1), 'RangeError');
      expectThrowName(() => sealRecord(region, 0, 40, 7, true, src, 1.5), 'RangeError');
      expectThrowName(() => sealRecord(region, 0, 40, 7, true, src, '8' as unknown as number), 'TypeError');
      // Without src, a srcLength is still checked as an index, and otherwise unused.
      expectThrowName(() => sealRecord(region, 0, 40, 7, true, undefined, -1), 'RangeError');
      expectThrowName(() => sealRecord(region, 0, 40, 7, true, undefined, 0.5), 'RangeError');
      // Nothing was copied, checksummed or stored.
      expect(m.bytes.subarray(0, 64).every((x) => x === 0)).toBe(true);
      // The length it has: the same record as without srcLength.
      const crc = sealRecord(region, 0, 40, 7, true, src, 8);
      expect(m.bytes.subarray(32, 40).equals(src)).toBe(true);
      expect(m.bytes.readUInt32LE(0)).toBe(crc);
      m.bytes.fill(0, 0, 64);
      expect(sealRecord(region, 0, 40, 7, true, src)).toBe(crc);
      m.bytes.fill(0, 0, 64);
    }
    m.close();
  });

  test('a put and an append store views of shared and resizable memory, which reopen', () => {
    const kf = tmpFile('kv-shared');
    const kv = KVStore.open(kf, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
    const wf = walFile();
    const w = Wal.open(wf);
    const views: Array<[string, Uint8Array]> = [
      ['shared', new Uint8Array(new SharedArrayBuffer(300)).fill(1)],
      ['growable', new Uint8Array(growable(40, 4096)).fill(2)],
      ['resizable', new Uint8Array(resizable(3000, 8192)).fill(3)],
      ['part', new Uint8Array(new SharedArrayBuffer(64), 8, 20).fill(4)],
    ];
    for (const [name, v] of views) {
      kv.put(name, v);
      w.append(v);
    }
    kv.close();
    w.close();
    const again = KVStore.open(kf);
    for (const [name, v] of views) expect(again.get(name)!.equals(Buffer.from(v))).toBe(true);
    again.close();
    expect(records(wf)).toEqual(['1:300', '2:40', '3:3000', '4:20']);
  });

  test('a key another thread grows and rewrites between the put\'s read and its copy: the length read first is stored, and indexed as stored', () => {
    // 20 bytes: copied byte by byte; 40: through a view of exactly that many.
    for (const n of [20, 40]) {
      const sab = growable(n, 4096);
      const key = new Uint8Array(sab).fill(0x61); // its length follows the buffer's
      const region = new HookedRegion(openMapping(tmpFile(`kv-key-grown-${n}`), { create: true, size: 4 << 20 }));
      const kv = KVStore.openRegion(region, { create: true, segmentSize: 64 * 1024 });
      // The first put opens a segment and queues the next for prefault:
      // after the key's length is read, before its bytes are copied.
      region.beforePrefault = () => {
        sab.grow(n + 50);
        key.fill(0x7a);
      };
      kv.put(key, 'v');
      expect(region.prefaults).toBe(1); // the growth landed inside the put
      expect(key.length).toBe(n + 50);
      expect(kv.count).toBe(1);
      expect(kv.getString(Buffer.alloc(n, 0x7a))).toBe('v');
      expect(kv.has(key)).toBe(false);
      expect(kv.has(Buffer.alloc(n, 0x61))).toBe(false);
      // Nothing of the grown view was written past the key: its longest run
      // of 'z' in the file is the key itself.
      let run = 0;
      let longest = 0;
      for (const x of region.m.bytes) longest = Math.max(longest, (run = x === 0x7a ? run + 1 : 0));
      expect(longest).toBe(n);
      kv.close();
      const again = KVStore.openRegion(region);
      expect([...again.keys()].map((k) => Buffer.from(k).toString('latin1'))).toEqual(['z'.repeat(n)]);
      again.close();
      region.m.close();
    }
  });

  test('a key rewritten by another thread after its copy, at the seal: the index compares the bytes stored', () => {
    // 20 bytes: copied byte by byte; 40: with one call.
    for (const n of [20, 40]) {
      const key = new Uint8Array(new SharedArrayBuffer(n)).fill(0x71);
      const region = new HookedRegion(openMapping(tmpFile(`kv-key-rewritten-${n}`), { create: true, size: 4 << 20 }));
      const kv = KVStore.openRegion(region, { create: true, segmentSize: 64 * 1024 });
      kv.put(Buffer.alloc(n, 0x71), 'old');
      const seals = region.seals;
      region.before = () => key.fill(0x72);
      kv.put(key, 'new'); // an overwrite of the key its record holds
      expect(region.seals).toBe(seals + 1); // the rewrite landed inside the put, at its seal
      expect(kv.count).toBe(1);
      expect(kv.getString(Buffer.alloc(n, 0x71))).toBe('new');
      expect(kv.has(Buffer.alloc(n, 0x72))).toBe(false);
      kv.close();
      const again = KVStore.openRegion(region);
      expect([again.count, again.getString(Buffer.alloc(n, 0x71))]).toEqual([1, 'new']);
      again.close();
      region.m.close();
    }
  });

  test('a value another thread grows between the put\'s read and its copy is refused, and the store and the log stay whole', () => {
    const sab = growable(100, 4096);
    const tracking = new Uint8Array(sab).fill(7); // its length follows the buffer's
    const grow = (): void => {
      sab.grow(sab.byteLength + 50);
      tracking.fill(7);
    };

    const kvRegion = new HookedRegion(openMapping(tmpFile('kv-grown'), { create: true, size: 4 << 20 }));
    const kv = KVStore.openRegion(kvRegion, { create: true, segmentSize: 64 * 1024 });
    kv.put('before', 'x');
    kvRegion.before = grow;
    const sealsBefore = kvRegion.seals;
    expect(() => kv.put('grown', tracking)).toThrow(/src is 150 bytes, not the 100 the record was planned for/);
    expect(kvRegion.seals).toBe(sealsBefore + 1); // the growth landed inside the put, at its seal
    expect(sab.byteLength).toBe(150);
    expect(kv.has('grown')).toBe(false);
    kv.put('after', tracking); // its length now: 150
    kv.close();
    const kvAgain = KVStore.openRegion(kvRegion);
    expect(kvAgain.count).toBe(2);
    expect(kvAgain.getString('before')).toBe('x');
    expect(kvAgain.get('after')!.equals(Buffer.alloc(150, 7))).toBe(true);
    kvAgain.close();

    const walRegion = new HookedRegion(openMapping(tmpFile('wal-grown'), { create: true, size: 1 << 20 }));
    const w = Wal.format(walRegion);
    expect(w.append('a')).toBe(1);
    walRegion.before = grow;
    expect(() => w.append(tracking)).toThrow(/src is 200 bytes, not the 150 the record was planned for/);
    expect(sab.byteLength).toBe(200);
    expect(w.append(tracking)).toBe(2); // the refused append took no LSN
    w.close();
    const r = Wal.open(walRegion, { readOnly: true });
    expect([...r.read()].map((x) => `${x.lsn}:${x.data.length}`)).toEqual(['1:1', '2:200']);
    r.close();
    walRegion.m.close();
    kvRegion.m.close();
  });
});
