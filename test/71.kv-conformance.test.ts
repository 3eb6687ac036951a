// The KVStore conformance suite, written once and run against every
// backend: the crash simulator's Region and real file mappings.
import { KVStore } from '../lib';
import { backends } from './fixtures/kv/backends';
import { expectPmemError, expectThrowName } from './helpers';

const SIZE = 1 << 20;
const SEG = 16 * 1024;

/** Everything in the store, as a sorted array of [key, value] strings (latin1 keys, utf8 values). */
function dump(s: KVStore): Array<[string, string]> {
  return [...s.entries()].map(([k, v]) => [(k as Buffer).toString('latin1'), (v as Buffer).toString()]);
}

function modelDump(m: Map<string, string>): Array<[string, string]> {
  return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

describe.each(backends)('KVStore on a $name', (backend) => {
  let store: KVStore;
  beforeEach(() => {
    store = backend.create(SIZE, SEG);
  });
  afterEach(() => store.close());

  test('put, get, getString, has, count, overwrite', () => {
    expect(store.count).toBe(0);
    expect(store.get('a')).toBeUndefined();
    store.put('a', 'one');
    store.put(Buffer.from('b'), Buffer.from([1, 2, 3]));
    expect(store.getString('a')).toBe('one');
    expect(store.get('b')).toEqual(Buffer.from([1, 2, 3]));
    expect(store.get(new Uint8Array([98]))).toEqual(Buffer.from([1, 2, 3]));
    expect(store.has('a')).toBe(true);
    expect(store.has('c')).toBe(false);
    expect(store.count).toBe(2);
    store.put('a', 'two');
    expect(store.getString('a')).toBe('two');
    expect(store.count).toBe(2);
    store = backend.reopen(store);
    expect(store.getString('a')).toBe('two');
    expect(store.get('b')).toEqual(Buffer.from([1, 2, 3]));
    expect(store.count).toBe(2);
  });

  test('get returns a copy that later writes do not change', () => {
    store.put('k', 'abc');
    const v = store.get('k')!;
    store.put('k', 'xyz');
    store.compact();
    expect(v.toString()).toBe('abc');
  });

  test('values of every size come out whole, each copy independent of the others', () => {
    // Around 4 KiB, where Node stops copying Buffers into its shared pool.
    const sizes = [1, 100, 4095, 4096, 5000, 8191, 8192, 8193, 12000];
    const fill = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
    sizes.forEach((n, i) => store.put(`v${i}`, fill(n, i)));
    const copies: Buffer[] = [];
    // Enough gets that Node's pool is replaced several times over.
    for (let round = 0; round < 12; round++) sizes.forEach((_, i) => copies.push(store.get(`v${i}`)!));
    copies.forEach((c, j) => expect(c.equals(fill(sizes[j % sizes.length], j % sizes.length))).toBe(true));
    copies[3].fill(0); // writing into one copy leaves the others, and the store, alone
    expect(copies[3 + sizes.length].equals(fill(4096, 3))).toBe(true);
    expect(store.get('v3')!.equals(fill(4096, 3))).toBe(true);
    const scanned = [...store.range({ prefix: 'v' })].map(([, v]) => v as Buffer);
    store.put('v3', 'changed');
    store.compact();
    expect(scanned.map((v) => v.length).sort((a, b) => a - b)).toEqual(sizes);
    expect(scanned[3].equals(fill(4096, 3))).toBe(true);
    expect(copies[4].equals(fill(5000, 4))).toBe(true);
  });

  test('keys given as a Buffer slice, a Uint8Array or a string are the same key', () => {
    const backing = Buffer.from('xxkeyxx');
    store.put(backing.subarray(2, 5), 'v');
    expect(store.getString('key')).toBe('v');
    expect(store.getString(new Uint8Array(backing.buffer, backing.byteOffset + 2, 3))).toBe('v');
    expect(store.has(Buffer.from('key'))).toBe(true);
    // Strings that are not ASCII are their UTF-8 bytes; a lone surrogate,
    // which has none (its bytes would be U+FFFD's), is refused.
    for (const k of ['\u00e9t\u00e9', '\u{1f600}', 'a\u0080', '\ufffd']) {
      store.put(k, k);
      expect(store.getString(Buffer.from(k, 'utf8'))).toBe(k);
    }
    expect(() => store.put('\ud800', 'v')).toThrow(TypeError);
    expect(store.getString(Buffer.from([0xef, 0xbf, 0xbd]))).toBe('\ufffd');
  });

  test('empty values and empty keys are allowed', () => {
    store.put('e', '');
    store.put('', 'empty key');
    expect(store.get('e')).toEqual(Buffer.alloc(0));
    expect(store.getString('')).toBe('empty key');
    store = backend.reopen(store);
    expect(store.get('e')).toEqual(Buffer.alloc(0));
    expect(store.getString('')).toBe('empty key');
  });

  test('string keys are their UTF-8 bytes; binary keys work', () => {
    store.put('é', 'string');
    expect(store.getString(Buffer.from('é', 'utf8'))).toBe('string');
    const bin = Buffer.from([0, 255, 128, 0]);
    store.put(bin, 'binary');
    expect(store.getString(bin)).toBe('binary');
    expect([...store.keys()]).toEqual([bin, Buffer.from('é')]);
    expect([...store.keys({ encoding: 'utf8' })][1]).toBe('é');
  });

  test('values larger than a segment', () => {
    const big = Buffer.alloc(3 * SEG + 123, 7);
    big.write('start', 0);
    store.put('big', big);
    store.put('small', 's');
    expect(store.get('big')!.equals(big)).toBe(true);
    store = backend.reopen(store);
    expect(store.get('big')!.equals(big)).toBe(true);
    store.put('small', 't');
    expect(store.getString('small')).toBe('t');
    store.put('big', 'now small');
    store.compact();
    store = backend.reopen(store);
    expect(store.getString('big')).toBe('now small');
    expect(store.getString('small')).toBe('t');
  });

  test('delete', () => {
    store.put('a', '1');
    expect(store.delete('a')).toBe(true);
    expect(store.delete('a')).toBe(false);
    expect(store.delete('never')).toBe(false);
    expect(store.get('a')).toBeUndefined();
    expect(store.count).toBe(0);
    store = backend.reopen(store);
    expect(store.has('a')).toBe(false);
    expect(store.count).toBe(0);
  });

  test('batch applies puts and deletes in order, atomically', () => {
    store.put('x', 'old');
    store.put('gone', 'g');
    store.batch([
      { type: 'put', key: 'a', value: '1' },
      { type: 'put', key: 'b', value: Buffer.from('2') },
      { type: 'del', key: 'gone' },
      { type: 'del', key: 'absent' },
      { type: 'put', key: 'x', value: 'new' },
      { type: 'put', key: 'tmp', value: 't' },
      { type: 'del', key: 'tmp' },
    ]);
    const expected: Array<[string, string]> = [['a', '1'], ['b', '2'], ['x', 'new']];
    expect(dump(store)).toEqual(expected);
    store = backend.reopen(store);
    expect(dump(store)).toEqual(expected);
    store.batch([]);
    store.batch([{ type: 'del', key: 'a' }]);
    expect(store.has('a')).toBe(false);
  });

  test('a batch with a bad op writes nothing', () => {
    store.put('a', '1');
    expectThrowName(() => store.batch([{ type: 'put', key: 'a', value: '2' }, { type: 'nope', key: 'b' } as never]), 'TypeError');
    expectThrowName(() => store.batch([{ type: 'put', key: 'a', value: '2' }, { type: 'put', key: 'b', value: 3 } as never]), 'TypeError');
    expectThrowName(() => store.batch([{ type: 'put', key: 'a', value: '2' }, null as never]), 'TypeError');
    expectThrowName(() => store.batch([{ type: 'put', key: 'x'.repeat(5000), value: '2' }]), 'RangeError');
    expectThrowName(() => store.batch('nope' as never), 'TypeError');
    expect(dump(store)).toEqual([['a', '1']]);
    store = backend.reopen(store);
    expect(dump(store)).toEqual([['a', '1']]);
  });

  test('rename', () => {
    store.put('from', 'v');
    store.put('to', 'old');
    expect(store.rename('from', 'to')).toBe(true);
    expect(store.has('from')).toBe(false);
    expect(store.getString('to')).toBe('v');
    expect(store.rename('missing', 'x')).toBe(false);
    expect(store.has('x')).toBe(false);
    expect(store.rename('to', 'to')).toBe(true);
    expect(store.getString('to')).toBe('v');
    expect(store.rename('to', 'fresh')).toBe(true);
    store = backend.reopen(store);
    expect(dump(store)).toEqual([['fresh', 'v']]);
  });

  test('range with bounds, prefix, reverse, limit and encoding', () => {
    for (const k of ['a', 'ab', 'abc', 'abd', 'b', 'ba', 'c']) store.put(k, k.toUpperCase());
    const keys = (o: object): string[] => [...store.keys(o as never)].map((k) => (k as Buffer).toString());
    expect(keys({})).toEqual(['a', 'ab', 'abc', 'abd', 'b', 'ba', 'c']);
    expect(keys({ gte: 'ab', lt: 'b' })).toEqual(['ab', 'abc', 'abd']);
    expect(keys({ gt: 'ab', lte: 'b' })).toEqual(['abc', 'abd', 'b']);
    expect(keys({ prefix: 'ab' })).toEqual(['ab', 'abc', 'abd']);
    expect(keys({ prefix: 'ab', gt: 'abc' })).toEqual(['abd']);
    expect(keys({ prefix: 'ab', reverse: true })).toEqual(['abd', 'abc', 'ab']);
    expect(keys({ reverse: true, limit: 2 })).toEqual(['c', 'ba']);
    expect(keys({ limit: 0 })).toEqual([]);
    expect(keys({ prefix: 'zz' })).toEqual([]);
    expect(keys({ gte: 'bb' })).toEqual(['c']);
    expect([...store.range({ prefix: 'b', encoding: 'utf8' })]).toEqual([['b', 'B'], ['ba', 'BA']]);
    expect([...store.entries({ lte: 'a' })]).toEqual([[Buffer.from('a'), Buffer.from('A')]]);
    expectThrowName(() => [...store.range({ gt: 'a', gte: 'b' })], 'TypeError');
    expectThrowName(() => [...store.range({ lt: 'a', lte: 'b' })], 'TypeError');
    expectThrowName(() => [...store.range({ limit: -1 })], 'RangeError');
    expectThrowName(() => [...store.range({ encoding: 'hex' as never })], 'TypeError');
    expectThrowName(() => [...store.range({ bogus: 1 } as never)], 'TypeError');
    expectThrowName(() => [...store.range({ gt: 5 } as never)], 'TypeError');
  });

  test('range sees deletes made while it iterates and keeps its key set', () => {
    for (const k of ['a', 'b', 'c', 'd']) store.put(k, k);
    const seen: string[] = [];
    for (const [k] of store.range()) {
      const key = (k as Buffer).toString();
      seen.push(key);
      if (key === 'a') {
        store.delete('c');
        store.put('bb', 'new');
      }
    }
    expect(seen).toEqual(['a', 'b', 'd']);
    expect([...store.keys()].map(String)).toEqual(['a', 'b', 'bb', 'd']);
  });

  test('compact reclaims dead space and keeps every value', () => {
    for (let i = 0; i < 3000; i++) store.put(`k${i % 200}`, `value ${i} ${'x'.repeat(i % 50)}`);
    for (let i = 0; i < 50; i++) store.delete(`k${i}`);
    const before = store.stats();
    const contents = dump(store);
    expect(before.deadBytes).toBeGreaterThan(before.liveBytes);
    const freed = store.compact();
    expect(freed).toBeGreaterThan(0);
    const after = store.stats();
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.deadBytes).toBeLessThan(before.deadBytes / 4);
    expect(after.segments.free).toBeGreaterThan(before.segments.free);
    expect(dump(store)).toEqual(contents);
    store = backend.reopen(store);
    expect(dump(store)).toEqual(contents);
    expect(store.count).toBe(150);
    store.compact();
    expect(dump(store)).toEqual(contents);
  });

  test('a full store refuses writes with ERR_PMEM_NO_SPACE, keeps reads, and writes again after deletes', () => {
    const value = 'v'.repeat(1000);
    let n = 0;
    let err: unknown;
    try {
      for (;;) store.put(`k${n++}`, value);
    } catch (e) {
      err = e;
    }
    n--;
    expect((err as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
    expect(store.count).toBe(n);
    expect(store.getString('k0')).toBe(value);
    expectPmemError(() => store.put('more', value), 'ERR_PMEM_NO_SPACE');
    for (let i = 0; i < n; i += 2) store.delete(`k${i}`);
    store.put('more', value); // compacts on its own to make room
    expect(store.getString('more')).toBe(value);
    store = backend.reopen(store);
    expect(store.count).toBe(n - Math.ceil(n / 2) + 1);
    expect(store.getString('k1')).toBe(value);
  });

  test('random operations agree with a model, across reopens and compactions', () => {
    const model = new Map<string, string>();
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      const k = `key${rnd(300)}`;
      const op = rnd(100);
      if (op < 55) {
        const v = `v${i}-${'y'.repeat(rnd(300))}`;
        store.put(k, v);
        model.set(k, v);
      } else if (op < 75) {
        expect(store.delete(k)).toBe(model.delete(k));
      } else if (op < 85) {
        const k2 = `key${rnd(300)}`;
        const ok = store.rename(k, k2);
        expect(ok).toBe(model.has(k));
        if (ok && k !== k2) {
          model.set(k2, model.get(k)!);
          model.delete(k);
        }
      } else if (op < 95) {
        const ops = [];
        for (let j = rnd(5); j >= 0; j--) {
          const bk = `key${rnd(300)}`;
          if (rnd(2) === 0) {
            ops.push({ type: 'put' as const, key: bk, value: `b${i}.${j}` });
            model.set(bk, `b${i}.${j}`);
          } else {
            ops.push({ type: 'del' as const, key: bk });
            model.delete(bk);
          }
        }
        store.batch(ops);
      } else if (op < 97) {
        store.compact();
      } else {
        store = backend.reopen(store);
      }
      if (i % 500 === 0) expect(dump(store)).toEqual(modelDump(model));
    }
    expect(dump(store)).toEqual(modelDump(model));
    expect(store.count).toBe(model.size);
    store = backend.reopen(store);
    expect(dump(store)).toEqual(modelDump(model));
    expect(store.count).toBe([...store.keys()].length);
  });

  test('stats', () => {
    store.put('a', 'xyz');
    store.put('a', 'xyzw');
    const s = store.stats();
    expect(s.count).toBe(1);
    expect(s.liveBytes).toBe(8 + 1 + 4);
    expect(s.deadBytes).toBeGreaterThan(0);
    expect(s.segmentSize).toBe(SEG);
    expect(s.segments.used + s.segments.free).toBe(s.segments.total);
    expect(s.indexBytes).toBeGreaterThan(0);
    expect(s.fileBytes).toBe(SIZE);
    store = backend.reopen(store);
    const r = store.stats().recovery;
    expect(r.records).toBe(2);
    expect(r.segments).toBe(1);
    expect(r.ms).toBeGreaterThanOrEqual(0);
  });

  test('bad arguments are TypeError or RangeError', () => {
    expectThrowName(() => store.put(1 as never, 'v'), 'TypeError');
    expectThrowName(() => store.put(null as never, 'v'), 'TypeError');
    expectThrowName(() => store.put('k', 1 as never), 'TypeError');
    expectThrowName(() => store.put('k', undefined as never), 'TypeError');
    expectThrowName(() => store.get({} as never), 'TypeError');
    expectThrowName(() => store.put('k'.repeat(4097), 'v'), 'RangeError');
    expectThrowName(() => store.put('é'.repeat(2049), 'v'), 'RangeError');
    expectThrowName(() => store.get(Buffer.alloc(4097)), 'RangeError');
    store.put('k'.repeat(4096), 'max key');
    expect(store.getString('k'.repeat(4096))).toBe('max key');
    expectThrowName(() => store.rename(1 as never, 'a'), 'TypeError');
    expect(store.count).toBe(1);
  });

  test('every method of a closed store throws ERR_PMEM_CLOSED', () => {
    store.put('a', 'b');
    store.close();
    store.close();
    expect(store.closed).toBe(true);
    for (const f of [
      () => store.put('a', 'b'),
      () => store.get('a'),
      () => store.getString('a'),
      () => store.has('a'),
      () => store.delete('a'),
      () => store.count,
      () => store.batch([]),
      () => store.rename('a', 'b'),
      () => [...store.range()],
      () => [...store.keys()],
      () => [...store.entries()],
      () => store.stats(),
      () => store.compact(),
    ]) {
      expectPmemError(f, 'ERR_PMEM_CLOSED');
    }
  });

  test('an iterator open across close throws ERR_PMEM_CLOSED', () => {
    store.put('a', '1');
    store.put('b', '2');
    const it = store.range();
    it.next();
    store.close();
    expectPmemError(() => it.next(), 'ERR_PMEM_CLOSED');
  });
});
