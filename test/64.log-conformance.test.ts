// The Region-level structures' conformance suite, written once and run
// against every backend: the crash simulator (a CrashSim is the Region), and
// a real Mapping of a file in PMEM_TEST_DIR: /dev/shm in both passes of
// scripts/test.sh (msync, and CLWB+SFENCE under PMEM_IS_PMEM_FORCE=1), a
// fs-dax mount in the guest of scripts/test-dax.sh. Superblock, AppendList,
// Wal and TxLog: format, open and reopen, ordinary operations, read-only
// regions, closed regions, and what survives a reopen. On the simulator a
// reopen keeps only the persisted image, so it checks durability too.
import { AppendList, type Mapping, openMapping, PmemError, type Region, Superblock, TxLog, Wal } from '../lib';
import { CrashSim } from '../lib/testing';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

const SIZE = 64 * 1024;

interface Backend {
  name: string;
  /** A fresh, zeroed region of `size` bytes. */
  create(size: number): Region;
  /** Closes `region` and opens what is durable of it again. */
  reopen(region: Region): Region;
  /** What is durable of `region`, opened again read-only: flush, drain and persist are ERR_PMEM_READONLY. */
  readOnly(region: Region): Region;
  /** Closes `region`: the structures over it then throw ERR_PMEM_CLOSED. */
  close(region: Region): void;
}

/** A CrashSim whose Region `closed` flag can be set, as a closed mapping's is (the simulator sets it only once crashTest has recorded on it). */
class ClosableSim extends CrashSim {
  #shut = false;

  override get closed(): boolean {
    return this.#shut || super.closed;
  }

  override set closed(v: boolean) {
    this.#shut = v;
  }
}

/** The persisted image of a simulated region, behind a Region that refuses every write-back, as a read-only mapping does. */
function readOnlySim(image: Buffer, granularity: Region['granularity']): Region {
  const refuse = (): never => {
    throw new PmemError('ERR_PMEM_READONLY', 'the region is read-only');
  };
  return { bytes: image, length: image.length, granularity, closed: false, flush: refuse, drain: refuse, persist: refuse };
}

const simBackend: Backend = {
  name: 'CrashSim region',
  create: (size) => new ClosableSim(size),
  reopen(region) {
    const old = region as ClosableSim;
    old.closed = true;
    const next = new ClosableSim(old.length);
    next.bytes.set(old.persisted());
    next.persist(0, next.length);
    return next;
  },
  readOnly: (region) => readOnlySim((region as ClosableSim).persisted(), region.granularity),
  close(region) {
    (region as ClosableSim).closed = true;
  },
};

const paths = new WeakMap<Region, string>();
const opened: Mapping[] = [];
const fileBackend: Backend = {
  name: 'file mapping',
  create(size) {
    const path = tmpFile('log-conformance');
    const m = openMapping(path, { size, create: true });
    paths.set(m, path);
    opened.push(m);
    return m;
  },
  reopen(region) {
    const path = paths.get(region)!;
    (region as Mapping).close();
    const m = openMapping(path);
    paths.set(m, path);
    opened.push(m);
    return m;
  },
  readOnly(region) {
    const m = openMapping(paths.get(region)!, { readOnly: true });
    opened.push(m);
    return m;
  },
  close(region) {
    (region as Mapping).close();
  },
};

const backends: Backend[] = [simBackend, fileBackend];

afterEach(() => {
  for (const m of opened.splice(0)) m.close();
});

const SB = { offset: 128, capacity: 3000 };
const payload = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256));

describe.each(backends)('Superblock on a $name', (backend) => {
  test('format, write, reopen: the newest payload survives; payloads up to the capacity', () => {
    let r = backend.create(SIZE);
    const sb = Superblock.format(r, SB);
    expect(sb.read()).toBeUndefined();
    expect(sb.version).toBe(0);
    r = backend.reopen(r);
    expect(Superblock.open(r, SB).read()).toBeUndefined();
    const again = Superblock.open(r, SB);
    for (let v = 1; v <= 4; v++) again.write(payload(v * 700, v));
    again.write(Buffer.alloc(0));
    again.write(payload(3000, 9));
    expect(again.version).toBe(6);
    expectThrowName(() => again.write(Buffer.alloc(3001)), 'RangeError');
    expect(again.version).toBe(6);
    r = backend.reopen(r);
    const sb2 = Superblock.open(r, SB);
    expect(sb2.version).toBe(6);
    expect(sb2.read()).toEqual(payload(3000, 9));
  });

  test('read-only: open reads the payload, a write is ERR_PMEM_READONLY', () => {
    const r = backend.create(SIZE);
    Superblock.format(r, SB).write(Buffer.from('kept'));
    const ro = backend.readOnly(r);
    const sb = Superblock.open(ro, SB);
    expect(sb.read()!.toString()).toBe('kept');
    expect(sb.version).toBe(1);
    expectPmemError(() => sb.write(Buffer.from('refused')), 'ERR_PMEM_READONLY');
  });

  test('closed region: every method and open are ERR_PMEM_CLOSED', () => {
    const r = backend.create(SIZE);
    const sb = Superblock.format(r, SB);
    sb.write(Buffer.from('x'));
    backend.close(r);
    expectPmemError(() => sb.read(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => sb.version, 'ERR_PMEM_CLOSED');
    expectPmemError(() => sb.write(Buffer.from('y')), 'ERR_PMEM_CLOSED');
    expectPmemError(() => sb.recover(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => Superblock.open(r, SB), 'ERR_PMEM_CLOSED');
  });
});

describe.each(backends)('AppendList on a $name', (backend) => {
  const values = ['one', '', 'x'.repeat(200), 'four'];

  test('format, append, reopen, append again', () => {
    let r = backend.create(SIZE);
    const list = AppendList.format(r, 128);
    expect(list.length).toBe(0);
    expect(list.toArray()).toEqual([]);
    for (const v of values.slice(0, 3)) list.append(v);
    list.append(Buffer.from(values[3]));
    r = backend.reopen(r);
    const again = AppendList.open(r, 128);
    expect(again.length).toBe(4);
    expect(again.toArray().map(String)).toEqual(values);
    again.append(new Uint8Array([53]));
    r = backend.reopen(r);
    expect([...AppendList.open(r, 128)].map(String)).toEqual([...values, '5']);
  });

  test('a full region is ERR_PMEM_NO_SPACE; what was appended survives', () => {
    let r = backend.create(4096);
    const list = AppendList.format(r);
    let n = 0;
    for (; n < 100; n++) {
      try {
        list.append(Buffer.alloc(100, n));
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ERR_PMEM_NO_SPACE');
        break;
      }
    }
    expect(n).toBe(31);
    r = backend.reopen(r);
    const again = AppendList.open(r);
    expect(again.length).toBe(31);
    expect(again.toArray()[30]).toEqual(Buffer.alloc(100, 30));
  });

  test('read-only: open iterates, an append is ERR_PMEM_READONLY', () => {
    const r = backend.create(SIZE);
    const list = AppendList.format(r, 64);
    for (const v of values) list.append(v);
    const ro = AppendList.open(backend.readOnly(r), 64);
    expect(ro.toArray().map(String)).toEqual(values);
    expectPmemError(() => ro.append('refused'), 'ERR_PMEM_READONLY');
  });

  test('closed region: every method and open are ERR_PMEM_CLOSED', () => {
    const r = backend.create(SIZE);
    const list = AppendList.format(r);
    list.append('a');
    list.append('b');
    const it = list[Symbol.iterator]();
    const started = list[Symbol.iterator]();
    expect(String(started.next().value)).toBe('a');
    backend.close(r);
    expectPmemError(() => list.append('b'), 'ERR_PMEM_CLOSED');
    expectPmemError(() => list.length, 'ERR_PMEM_CLOSED');
    expectPmemError(() => list.toArray(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => it.next(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => started.next(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => list.recover(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => AppendList.open(r), 'ERR_PMEM_CLOSED');
  });
});

describe.each(backends)('Wal on a $name', (backend) => {
  const records = (w: Wal): string[] => [...w.read()].map((x) => `${x.lsn}:${x.data.toString()}`);

  test('format, append, appendBatch, truncate, reopen', () => {
    let r = backend.create(SIZE);
    const w = Wal.format(r, { offset: 64 });
    expect(w.nextLsn).toBe(1);
    expect(w.append('first')).toBe(1);
    expect(w.appendBatch(['b1', Buffer.from('b2'), ''])).toEqual([2, 3, 4]);
    expect(w.appendBatch([])).toEqual([]);
    expect([...w.read(3)].map((x) => x.lsn)).toEqual([3, 4]);
    w.truncate(1);
    expect(w.headLsn).toBe(2);
    r = backend.reopen(r);
    const again = Wal.open(r, { offset: 64 });
    expect(records(again)).toEqual(['2:b1', '3:b2', '4:']);
    expect(again.stats.lastRecovery).toMatchObject({ records: 3, nextLsn: 5, discardedTail: false });
    again.checkpoint();
    expect(again.append('after')).toBe(5);
    r = backend.reopen(r);
    expect(records(Wal.open(r, { offset: 64 }))).toEqual(['5:after']);
  });

  test('wraps around the ring many times, with batches of long and short records; every reopen finds them', () => {
    let r = backend.create(32 * 1024);
    let w = Wal.format(r);
    const live: string[] = [];
    let truncations = 0;
    for (let round = 0; round < 60; round++) {
      const batch = [0, 1, 2].map((j) => `${round}.${j}:${'abc'[j].repeat([30, 2500, 300][(round + j) % 3])}`);
      let lsns: number[];
      try {
        lsns = round % 2 === 0 ? w.appendBatch(batch) : batch.map((v) => w.append(v));
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ERR_PMEM_NO_SPACE');
        w.truncate(w.nextLsn - 1);
        truncations++;
        live.length = 0;
        lsns = w.appendBatch(batch);
      }
      lsns.forEach((lsn, i) => live.push(`${lsn}:${batch[i]}`));
      if (round % 7 === 0) {
        r = backend.reopen(r);
        w = Wal.open(r);
      }
      expect(records(w)).toEqual(live);
    }
    // The ring filled and was emptied several times: the records wrapped.
    expect(truncations).toBeGreaterThanOrEqual(4);
    expect(w.nextLsn).toBeGreaterThanOrEqual(181);
    expectThrowName(() => w.append(Buffer.alloc(w.maxRecordSize + 1)), 'RangeError');
  });

  test('read-only: readOnly opens write nothing and refuse appends; without readOnly, open is ERR_PMEM_READONLY', () => {
    const r = backend.create(SIZE);
    const w = Wal.format(r);
    w.appendBatch(['a', 'b']);
    const ro = backend.readOnly(r);
    const image = Buffer.from(ro.bytes);
    const reader = Wal.open(ro, { readOnly: true });
    expect(records(reader)).toEqual(['1:a', '2:b']);
    expectPmemError(() => reader.append('c'), 'ERR_PMEM_READONLY');
    expectPmemError(() => reader.appendBatch(['c']), 'ERR_PMEM_READONLY');
    expectPmemError(() => reader.truncate(1), 'ERR_PMEM_READONLY');
    expect(ro.bytes.equals(image)).toBe(true);
    // Recovery raises the epoch durably before any append: a write.
    expectPmemError(() => Wal.open(ro), 'ERR_PMEM_READONLY');
  });

  test('closed region: every method and open are ERR_PMEM_CLOSED', () => {
    const r = backend.create(SIZE);
    const w = Wal.format(r);
    w.append('a');
    w.append('b');
    const it = w.read();
    expect(it.next().value).toMatchObject({ lsn: 1 });
    backend.close(r);
    expectPmemError(() => it.next(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => w.append('c'), 'ERR_PMEM_CLOSED');
    expectPmemError(() => w.appendBatch(['c', 'd']), 'ERR_PMEM_CLOSED');
    expectPmemError(() => [...w.read()], 'ERR_PMEM_CLOSED');
    expectPmemError(() => w.truncate(1), 'ERR_PMEM_CLOSED');
    expectPmemError(() => w.nextLsn, 'ERR_PMEM_CLOSED');
    expectPmemError(() => w.stats, 'ERR_PMEM_CLOSED');
    expectPmemError(() => w.recover(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => Wal.open(r), 'ERR_PMEM_CLOSED');
  });
});

describe.each(backends)('TxLog on a $name', (backend) => {
  const LOG = { offset: 0, size: 4096 };
  const text = (r: Region, at: number, n: number): string => r.bytes.toString('utf8', at, at + n);

  test('format, run, undoUpdate, reopen: the writes survive and recovery has nothing to do', () => {
    let r = backend.create(SIZE);
    const log = TxLog.format(r, LOG);
    expect(log.capacity).toBe(1984 - 32 - 16); // two slots of (4096 - 64) / 2 bytes, rounded down to lines
    log.run((tx) => {
      tx.write(8192, Buffer.from('alpha'));
      tx.write(12000, Buffer.alloc(300, 7));
    });
    log.undoUpdate(20000, Buffer.from('undo'));
    expect(text(r, 8192, 5)).toBe('alpha');
    r = backend.reopen(r);
    const again = TxLog.open(r, LOG);
    expect(again.recover()).toEqual({ action: 'none', seq: 2 });
    expect(text(r, 8192, 5)).toBe('alpha');
    expect(r.bytes.subarray(12000, 12300).every((x) => x === 7)).toBe(true);
    expect(text(r, 20000, 4)).toBe('undo');
    again.run((tx) => tx.write(8192, Buffer.from('omega')));
    r = backend.reopen(r);
    expect(TxLog.open(r, LOG).recover()).toEqual({ action: 'none', seq: 3 });
    expect(text(r, 8192, 5)).toBe('omega');
  });

  test('errors: a throwing function or a promise writes nothing; writes on the log or past the region are RangeErrors', () => {
    const r = backend.create(SIZE);
    const log = TxLog.format(r, LOG);
    expect(() => log.run((tx) => {
      tx.write(8192, Buffer.from('never'));
      throw new Error('changed my mind');
    })).toThrow('changed my mind');
    expectThrowName(() => log.run((async () => undefined) as never), 'TypeError');
    expect(r.bytes[8192]).toBe(0);
    expectThrowName(() => log.run((tx) => tx.write(100, Buffer.from('on the log'))), 'RangeError');
    expectThrowName(() => log.run((tx) => tx.write(SIZE - 2, Buffer.from('past'))), 'RangeError');
    expectThrowName(() => log.undoUpdate(4000, Buffer.from('on the log')), 'RangeError');
    expectThrowName(() => log.run((tx) => tx.write(8192, Buffer.alloc(log.capacity + 1))), 'RangeError');
    expect(log.recover()).toEqual({ action: 'none', seq: 0 });
  });

  test('read-only: open recovers nothing and reads, a transaction is ERR_PMEM_READONLY', () => {
    const r = backend.create(SIZE);
    const rw = TxLog.format(r, LOG);
    rw.run((tx) => tx.write(8192, Buffer.from('kept')));
    // A run is retired lazily: until a checkpoint, recovery may redo it (a
    // write). An undo update retires itself and every run before it, fenced.
    rw.undoUpdate(8200, Buffer.from('also'));
    const ro = backend.readOnly(r);
    const log = TxLog.open(ro, LOG);
    expect(log.recover()).toEqual({ action: 'none', seq: 2 });
    expect(text(ro, 8192, 12)).toBe('kept\0\0\0\0also');
    expectPmemError(() => log.run((tx) => tx.write(8192, Buffer.from('gone'))), 'ERR_PMEM_READONLY');
    expectPmemError(() => log.undoUpdate(8192, Buffer.from('gone')), 'ERR_PMEM_READONLY');
  });

  test('read-only: a run that was never retired must be redone on open, which is ERR_PMEM_READONLY', () => {
    const r = backend.create(SIZE);
    TxLog.format(r, LOG).run((tx) => tx.write(8192, Buffer.from('kept')));
    expectPmemError(() => TxLog.open(backend.readOnly(r), LOG), 'ERR_PMEM_READONLY');
  });

  test('closed region: every method and open are ERR_PMEM_CLOSED', () => {
    const r = backend.create(SIZE);
    const log = TxLog.format(r, LOG);
    backend.close(r);
    expectPmemError(() => log.run((tx) => tx.write(8192, Buffer.from('x'))), 'ERR_PMEM_CLOSED');
    expectPmemError(() => log.undoUpdate(8192, Buffer.from('x')), 'ERR_PMEM_CLOSED');
    expectPmemError(() => log.recover(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => log.checkpoint(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => log.capacity, 'ERR_PMEM_CLOSED');
    expectPmemError(() => TxLog.open(r, LOG), 'ERR_PMEM_CLOSED');
  });
});
