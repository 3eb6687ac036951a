// Every public method of every structure, in each state that must refuse
// it, throws exactly one documented code: closed (the structure, or the
// Region under it), a foreign file at open, a read-only open.
import * as fs from 'node:fs';

import { AppendList, KVStore, ObjPool, openMapping, PersistentList, Superblock, TxLog, Wal } from '../lib';
import { tmpFile } from './helpers';

type Calls = Record<string, () => unknown>;

/** The code (or error name) each call throws; undefined when it does not throw. */
function outcomes(calls: Calls): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, call] of Object.entries(calls)) {
    try {
      const r = call();
      // A generator throws on its first step.
      if (r !== null && typeof r === 'object' && typeof (r as Iterator<unknown>).next === 'function') (r as Iterator<unknown>).next();
      out[name] = undefined;
    } catch (e) {
      out[name] = (e as { code?: string }).code ?? (e as Error).name;
    }
  }
  return out;
}

function expectAll(calls: Calls, code: string): void {
  const got = outcomes(calls);
  expect(got).toEqual(Object.fromEntries(Object.keys(calls).map((k) => [k, code])));
}

const kvCalls = (s: KVStore): Calls => ({
  count: () => s.count, put: () => s.put('a', 'b'), get: () => s.get('a'), getString: () => s.getString('a'),
  has: () => s.has('a'), delete: () => s.delete('a'), batch: () => s.batch([{ type: 'put', key: 'a', value: 'b' }]),
  rename: () => s.rename('a', 'b'), range: () => s.range(), keys: () => s.keys(), entries: () => s.entries(),
  stats: () => s.stats(), compact: () => s.compact(),
});
const kvWrites = (s: KVStore): Calls => ({
  put: () => s.put('a', 'b'), delete: () => s.delete('k'), batch: () => s.batch([{ type: 'del', key: 'k' }]),
  rename: () => s.rename('k', 'b'), compact: () => s.compact(),
});
const walCalls = (w: Wal): Calls => ({
  append: () => w.append('x'), appendBatch: () => w.appendBatch(['x', 'y']), read: () => w.read(),
  truncate: () => w.truncate(1), checkpoint: () => w.checkpoint(), recover: () => w.recover(),
  headLsn: () => w.headLsn, nextLsn: () => w.nextLsn, stats: () => w.stats, maxRecordSize: () => w.maxRecordSize,
});
const walWrites = (w: Wal): Calls => ({
  append: () => w.append('x'), appendBatch: () => w.appendBatch(['x', 'y']), truncate: () => w.truncate(1), checkpoint: () => w.checkpoint(),
});

describe('closed', () => {
  test('KVStore: closed, and over a closed Region', () => {
    const s = KVStore.open(tmpFile('t-kv'), { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
    s.put('a', 'b');
    s.close();
    expectAll(kvCalls(s), 'ERR_PMEM_CLOSED');
    const m = openMapping(tmpFile('t-kv-region'), { size: 1 << 20, create: true });
    const r = KVStore.openRegion(m, { create: true, segmentSize: 64 * 1024 });
    r.put('a', 'b');
    m.close();
    expectAll(kvCalls(r), 'ERR_PMEM_CLOSED');
  });

  test('Wal: closed, and over a closed Region; an iterator closed under it', () => {
    const w = Wal.open(tmpFile('t-wal'), { create: true, size: 1 << 16 });
    w.appendBatch(['a', 'b']);
    const it = w.read();
    expect(it.next().value.data.toString()).toBe('a');
    w.close();
    expect(outcomes({ next: () => it.next() })).toEqual({ next: 'ERR_PMEM_CLOSED' });
    expectAll(walCalls(w), 'ERR_PMEM_CLOSED');
    const m = openMapping(tmpFile('t-wal-region'), { size: 1 << 16, create: true });
    const r = Wal.format(m);
    r.append('a');
    m.close();
    expectAll(walCalls(r), 'ERR_PMEM_CLOSED');
  });

  test('Superblock, AppendList, TxLog over a closed Region', () => {
    const m = openMapping(tmpFile('t-region'), { size: 1 << 16, create: true });
    const sb = Superblock.format(m, { offset: 0, capacity: 64 });
    sb.write(Buffer.from('x'));
    const list = AppendList.format(m, 4096);
    list.append('a');
    const log = TxLog.format(m, { offset: 8192, size: 4096 });
    m.close();
    expectAll({ read: () => sb.read(), write: () => sb.write(Buffer.from('y')), recover: () => sb.recover(), version: () => sb.version }, 'ERR_PMEM_CLOSED');
    expectAll({ append: () => list.append('b'), iterate: () => list[Symbol.iterator](), toArray: () => list.toArray(), recover: () => list.recover(), length: () => list.length }, 'ERR_PMEM_CLOSED');
    expectAll({
      run: () => log.run((tx) => tx.write(16384, Buffer.from('z'))), undoUpdate: () => log.undoUpdate(16384, Buffer.from('z')),
      recover: () => log.recover(), capacity: () => log.capacity,
    }, 'ERR_PMEM_CLOSED');
    for (const open of [() => Superblock.open(m, { capacity: 64 }), () => AppendList.open(m, 4096), () => TxLog.open(m, { offset: 8192, size: 4096 }), () => Wal.open(m), () => KVStore.openRegion(m)]) {
      expect(outcomes({ open })).toEqual({ open: 'ERR_PMEM_CLOSED' });
    }
  });

  test('ObjPool and PersistentList over a closed pool', () => {
    const pool = ObjPool.create(tmpFile('t-pool'), { size: 8 << 20 });
    const list = PersistentList.inRoot(pool);
    const node = list.push('a');
    const obj = pool.alloc(64);
    pool.close();
    expectAll({
      root: () => pool.root(64), rootSize: () => pool.rootSize, view: () => pool.view(obj, 8), usableSize: () => pool.usableSize(obj),
      alloc: () => pool.alloc(64), free: () => pool.free(obj), write: () => pool.write(obj, Buffer.from('x')),
      persist: () => pool.persist(obj, 8), stats: () => pool.stats(), transaction: () => pool.transaction(() => undefined),
    }, 'ERR_PMEM_CLOSED');
    expectAll({
      length: () => list.length, first: () => list.first, last: () => list.last, next: () => list.next(node), prev: () => list.prev(node),
      value: () => list.value(node), push: () => list.push('b'), unshift: () => list.unshift('b'), insertAfter: () => list.insertAfter(node, 'b'),
      remove: () => list.remove(node), shift: () => list.shift(), pop: () => list.pop(), nodes: () => list.nodes(),
      nodesReversed: () => list.nodesReversed(), iterate: () => list[Symbol.iterator](), reversed: () => list.reversed(), toArray: () => list.toArray(),
    }, 'ERR_PMEM_CLOSED');
  });
});

describe('a foreign file at open', () => {
  test('path opens: NOT_A_STORE for KVStore and Wal, NOT_POOL for ObjPool', () => {
    const text = tmpFile('t-text');
    fs.writeFileSync(text, 'not a store\n'.repeat(1000));
    expectAll({
      kv: () => KVStore.open(text), kvCreate: () => KVStore.open(text, { create: true }), kvReadOnly: () => KVStore.open(text, { readOnly: true }),
      wal: () => Wal.open(text), walCreate: () => Wal.open(text, { create: true, size: 1 << 16 }), walReadOnly: () => Wal.open(text, { readOnly: true }),
    }, 'ERR_PMEM_NOT_A_STORE');
    expectAll({ open: () => ObjPool.open(text), check: () => ObjPool.check(text) }, 'ERR_PMEM_NOT_POOL');
  });

  test('Region opens over foreign bytes: ERR_PMEM_CORRUPT', () => {
    const f = tmpFile('t-foreign-region');
    fs.writeFileSync(f, Buffer.alloc(1 << 16, 0x5a));
    const m = openMapping(f);
    expectAll({
      superblock: () => Superblock.open(m, { capacity: 64 }), list: () => AppendList.open(m, 4096), wal: () => Wal.open(m),
      kv: () => KVStore.openRegion(m),
    }, 'ERR_PMEM_CORRUPT');
    m.close();
  });

  test('PersistentList: an object that is not a node of the list is a RangeError', () => {
    const pool = ObjPool.create(tmpFile('t-pool-node'), { size: 8 << 20 });
    const list = PersistentList.inRoot(pool);
    list.push('a');
    const other = pool.alloc(64);
    pool.write(other, Buffer.alloc(64, 0xff)); // pointer fields past 2^53
    const zeros = pool.alloc(64, { zero: true });
    expectAll({
      insertAfter: () => list.insertAfter(other, 'b'), remove: () => list.remove(other),
      insertAfterZeros: () => list.insertAfter(zeros, 'b'), removeZeros: () => list.remove(zeros),
    }, 'RangeError');
    expect(list.toArray()).toEqual(['a']);
    pool.close();
  });
});

describe('read-only', () => {
  test('KVStore and Wal refuse every write with ERR_PMEM_READONLY and read on', () => {
    const kv = tmpFile('t-kv-ro');
    const s = KVStore.open(kv, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
    s.put('k', 'v');
    s.close();
    const r = KVStore.open(kv, { readOnly: true });
    expectAll(kvWrites(r), 'ERR_PMEM_READONLY');
    expect(r.getString('k')).toBe('v');
    // The same beside a live writer, whose writes it sees; a second writer is ERR_PMEM_LOCKED.
    const live = KVStore.open(kv);
    live.put('k', 'v2');
    expectAll(kvWrites(r), 'ERR_PMEM_READONLY');
    expectAll({ secondWriter: () => KVStore.open(kv) }, 'ERR_PMEM_LOCKED');
    expect(r.getString('k')).toBe('v2');
    live.close();
    r.close();
    const wal = tmpFile('t-wal-ro');
    const w = Wal.open(wal, { create: true, size: 1 << 16 });
    w.append('a');
    w.close();
    const ro = Wal.open(wal, { readOnly: true });
    expectAll(walWrites(ro), 'ERR_PMEM_READONLY');
    expect([...ro.read()].length).toBe(1);
    ro.close();
  });

  test('structures over a read-only Mapping: every write is ERR_PMEM_READONLY', () => {
    const f = tmpFile('t-ro-region');
    const m = openMapping(f, { size: 1 << 16, create: true });
    Superblock.format(m, { offset: 0, capacity: 64 }).write(Buffer.from('x'));
    AppendList.format(m, 4096).append('a');
    TxLog.format(m, { offset: 8192, size: 4096 });
    Wal.format(m, { offset: 16384 });
    m.close();
    const ro = openMapping(f, { readOnly: true });
    const sb = Superblock.open(ro, { capacity: 64 });
    const list = AppendList.open(ro, 4096);
    const log = TxLog.open(ro, { offset: 8192, size: 4096 });
    expectAll({
      superblock: () => sb.write(Buffer.from('y')), list: () => list.append('b'),
      run: () => log.run((tx) => tx.write(32768, Buffer.from('z'))), undoUpdate: () => log.undoUpdate(32768, Buffer.from('z')),
      wal: () => Wal.open(ro, { offset: 16384 }),
    }, 'ERR_PMEM_READONLY');
    ro.close();
    const fresh = openMapping(f);
    expect(Superblock.open(fresh, { capacity: 64 }).read()!.toString()).toBe('x');
    expect(AppendList.open(fresh, 4096).toArray().map(String)).toEqual(['a']);
    fresh.close();
    // A store formatted through a read-only mapping: nothing persists.
    const z = tmpFile('t-ro-zero');
    openMapping(z, { size: 1 << 20, create: true }).close();
    const roz = openMapping(z, { readOnly: true });
    expectAll({ kv: () => KVStore.openRegion(roz, { create: true, segmentSize: 64 * 1024 }) }, 'ERR_PMEM_READONLY');
    roz.close();
  });
});
