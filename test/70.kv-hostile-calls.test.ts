// KVStore's calls made as a hostile program makes them: arguments whose
// getters, Proxy traps or `length` run code of their own in the middle of a
// call, and write to the store, compact it or change the bytes given.
import { KVStore } from '../lib';
import { tmpFile } from './helpers';

const SIZE = 1 << 20;
const SEG = 16 * 1024;

describe('batch: what its ops say is what it writes, whatever their getters do', () => {
  let path: string;
  let db: KVStore;
  beforeEach(() => {
    path = tmpFile('hostile.kv');
    db = KVStore.open(path, { create: true, size: SIZE, segmentSize: SEG });
  });
  afterEach(() => db.close());

  test('a del of a key a later op\'s getter puts deletes it: the batch is the last word', () => {
    db.batch([
      { type: 'del', key: 'y' },
      {
        type: 'put',
        get key() {
          db.put('y', 'written by a getter');
          return 'k';
        },
        value: 'v',
      },
    ]);
    expect(db.has('y')).toBe(false);
    expect(db.getString('k')).toBe('v');
    expect(db.count).toBe(1);
    db.close();
    db = KVStore.open(path);
    expect(db.has('y')).toBe(false);
    expect(db.count).toBe(1);
  });

  test('a del of a key a later op\'s getter deletes writes no tombstone: count, stats and a scan agree', () => {
    // The same writes without the batch, for the bytes they leave.
    const control = KVStore.open(tmpFile('control.kv'), { create: true, size: SIZE, segmentSize: SEG });
    control.put('x', '1');
    control.delete('x');
    const expected = control.stats().deadBytes;
    control.close();
    db.put('x', '1');
    db.batch([
      { type: 'del', key: 'x' },
      {
        type: 'del',
        get key() {
          db.delete('x');
          return 'absent';
        },
      },
    ]);
    expect(db.has('x')).toBe(false);
    expect(db.count).toBe(0);
    expect([...db.keys()]).toEqual([]);
    // Only the getter's own tombstone: the batch wrote no record.
    expect(db.stats().deadBytes).toBe(expected);
  });
});

describe('batch: a value is written as it was when its op was read', () => {
  test('bytes a later op\'s getter overwrites are written as they were read, before and after a reopen', () => {
    const path = tmpFile('hostile.kv');
    const db = KVStore.open(path, { create: true, size: SIZE, segmentSize: SEG });
    const v = Buffer.from('original');
    const u = new Uint8Array(new ArrayBuffer(16), 4, 8);
    u.set(Buffer.from('at an offset'.slice(0, 8)));
    db.batch([
      { type: 'put', key: 'a', value: v },
      { type: 'put', key: 'u', value: u },
      {
        type: 'put',
        get key() {
          v.fill(0x58);
          u.fill(0x59);
          return 'b';
        },
        value: 'x',
      },
    ]);
    expect(db.getString('a')).toBe('original');
    expect(db.getString('u')).toBe('at an of');
    db.close();
    const again = KVStore.open(path);
    expect(again.getString('a')).toBe('original');
    expect(again.getString('u')).toBe('at an of');
    again.close();
  });

  test('values of every size, copied side by side or on their own, are written as they were read; so is a batch a getter starts meanwhile', () => {
    const path = tmpFile('hostile-sizes.kv');
    const db = KVStore.open(path, { create: true, size: 8 << 20, segmentSize: 1 << 20 });
    // Small values share chunks of 4, 8, 16 KiB ...: these sizes end chunks
    // early, fill them exactly and pass over them; values over 16 KiB are
    // copied on their own.
    const sizes = [0, 1, 100, 3995, 4000, 4096, 96, 5000, 16384, 16385, 70000, 3, 8192, 300];
    const values = sizes.map((n, i) => Buffer.alloc(n, 0x41 + i));
    const expected = values.map((v) => Buffer.from(v));
    const ops: Array<{ type: 'put'; key: string; value: Buffer | string }> = values.map((value, i) => ({ type: 'put', key: `k${i}`, value }));
    let nested = 0;
    ops.push({
      type: 'put',
      get key() {
        for (const v of values) v.fill(0x7a);
        // A batch of the same store, begun while this one is read: its own copies.
        const inner = [Buffer.alloc(50, 0x69), Buffer.alloc(20000, 0x6a), Buffer.alloc(10, 0x6b)];
        db.batch([
          { type: 'put', key: 'inner0', value: inner[0] },
          { type: 'put', key: 'inner1', value: inner[1] },
          {
            type: 'put',
            get key() {
              inner[0].fill(0);
              inner[1].fill(0);
              return 'inner2';
            },
            value: inner[2],
          },
        ]);
        nested++;
        return 'last';
      },
      value: 'x',
    });
    db.batch(ops);
    expect(nested).toBe(1);
    const check = (s: KVStore): void => {
      sizes.forEach((_, i) => expect(s.get(`k${i}`)).toEqual(expected[i]));
      expect(s.get('inner0')).toEqual(Buffer.alloc(50, 0x69));
      expect(s.get('inner1')).toEqual(Buffer.alloc(20000, 0x6a));
      expect(s.get('inner2')).toEqual(Buffer.alloc(10, 0x6b));
      expect(s.getString('last')).toBe('x');
      expect(s.count).toBe(sizes.length + 4);
    };
    check(db);
    db.close();
    const again = KVStore.open(path);
    check(again);
    again.close();
  });

  test('a value whose buffer a later op\'s getter detaches is a TypeError, and nothing is written', () => {
    const path = tmpFile('hostile-detach.kv');
    const db = KVStore.open(path, { create: true, size: SIZE, segmentSize: SEG });
    const v = new Uint8Array(new ArrayBuffer(8)).fill(0x41);
    const before = db.stats();
    expect(() =>
      db.batch([
        { type: 'put', key: 'a', value: v },
        {
          type: 'put',
          get key() {
            structuredClone(v.buffer, { transfer: [v.buffer] });
            return 'b';
          },
          value: 'x',
        },
      ]),
    ).toThrow(new TypeError('a value of the batch changed while the batch was read'));
    expect(v.byteLength).toBe(0); // the getter did detach it
    expect(db.count).toBe(0);
    const after = db.stats();
    expect([after.liveBytes, after.deadBytes, after.segments.used]).toEqual([before.liveBytes, before.deadBytes, before.segments.used]);
    db.close();
  });
});

/** A writer on a new store for each test of the block, and readers of it, all closed after the test. */
function storeEach(): { readonly db: KVStore; reader(): KVStore } {
  let path = '';
  let db: KVStore | undefined;
  const readers: KVStore[] = [];
  beforeEach(() => {
    path = tmpFile('hostile.kv');
    db = KVStore.open(path, { create: true, size: SIZE, segmentSize: SEG });
  });
  afterEach(() => {
    for (const r of readers.splice(0)) r.close();
    db?.close();
  });
  return {
    get db() {
      return db as KVStore;
    },
    reader() {
      const r = KVStore.open(path, { readOnly: true });
      readers.push(r);
      return r;
    },
  };
}

describe("getInto: the target's length is read from the view itself, and no code of the caller runs during the copy", () => {
  const f = storeEach();

  test("a subclass whose length getter compacts and rewrites the store gets the key's own value, or nothing", () => {
    f.db.put('v', 'the value of v');
    for (let i = 0; i < 200; i++) f.db.put(`f${i}`, 'x'.repeat(50));
    let runs = 0;
    class Churning extends Uint8Array {
      override get length(): number {
        runs++;
        for (let i = 0; i < 2000; i++) f.db.put(`z${i % 50}`, 'Q'.repeat(100));
        f.db.compact();
        return 1000;
      }
    }
    const target = new Churning(32);
    const n = f.db.getInto('v', target);
    expect(runs).toBe(0);
    expect(n).toBe(14);
    expect(Buffer.from(target.buffer, 0, n).toString()).toBe('the value of v');
  });

  test('a length getter that says more than the view holds is not believed: a RangeError, nothing written; a reader alike', () => {
    f.db.put('k', 'abcdefgh');
    const ro = f.reader();
    for (const s of [f.db, ro]) {
      class Long extends Uint8Array {
        override get length(): number {
          return 100;
        }
      }
      const t = new Long(4);
      expect(() => s.getInto('k', t)).toThrow(/target is 4 bytes; the value is 8/);
      expect([...t]).toEqual([0, 0, 0, 0]);
      const own = new Uint8Array(4);
      Object.defineProperty(own, 'length', { value: 100 });
      expect(() => s.getInto('k', own)).toThrow(/target is 4 bytes; the value is 8/);
    }
  });

  test('a target over a detached ArrayBuffer is a TypeError, on a writer and a reader, whether the key is there or not', () => {
    f.db.put('', '');
    const ro = f.reader();
    const detached = new Uint8Array(new ArrayBuffer(8));
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    for (const s of [f.db, ro]) {
      expect(() => s.getInto('', detached)).toThrow(/target is a view of a detached ArrayBuffer/);
      expect(() => s.getInto('absent', detached)).toThrow(TypeError);
      // An empty target over a live buffer is a target: the empty value fits.
      expect(s.getInto('', new Uint8Array(0))).toBe(0);
      expect(s.getInto('absent', Buffer.alloc(0))).toBe(-1);
    }
  });
});

describe('a key given as bytes is the same key to every call: its length is read from the view, and a Proxy is not one', () => {
  const f = storeEach();

  class Lying extends Uint8Array {
    override get length(): number {
      return 4;
    }
  }

  test('a subclass with a length getter, or an own length, finds what put stored under its bytes, on a writer and a reader', () => {
    const lying = new Lying([97, 98]); // 'ab', claiming 4 bytes
    const own = Buffer.from('abcd');
    Object.defineProperty(own, 'length', { value: 2 }); // 'abcd', claiming 2
    f.db.put(lying, 'two bytes');
    f.db.put(own, 'four bytes');
    const ro = f.reader();
    expect(f.db.getString('ab')).toBe('two bytes');
    expect(f.db.getString('abcd')).toBe('four bytes');
    const target = Buffer.alloc(16);
    for (const s of [f.db, ro]) {
      expect(s.getString(lying)).toBe('two bytes');
      expect(s.get(lying)!.toString()).toBe('two bytes');
      expect(s.has(lying)).toBe(true);
      expect(s.getInto(lying, target)).toBe(9);
      expect(s.getString(own)).toBe('four bytes');
      expect(s.has(own)).toBe(true);
      expect(s.getInto(own, target)).toBe(10);
    }
    expect(f.db.delete(lying)).toBe(true);
    expect(f.db.has('ab')).toBe(false);
  });

  test('a Proxy of a Buffer is a TypeError to every read, as it is to put, on a writer and a reader', () => {
    f.db.put('ab', 'v');
    const ro = f.reader();
    const proxy = new Proxy(Buffer.from('ab'), { get: (t, p) => (p === 'length' ? 2 : (t as unknown as Record<PropertyKey, unknown>)[p]) });
    const message = /key must be a Buffer, Uint8Array or string, got object/;
    for (const s of [f.db, ro]) {
      expect(() => s.get(proxy)).toThrow(message);
      expect(() => s.getString(proxy)).toThrow(message);
      expect(() => s.has(proxy)).toThrow(message);
      expect(() => s.getInto(proxy, Buffer.alloc(4))).toThrow(message);
    }
    expect(() => f.db.put(proxy, 'x')).toThrow(message);
    expect(() => f.db.delete(proxy)).toThrow(message);
  });
});

describe('every write call of a read-only store, and every call of a closed one', () => {
  const writes = (s: KVStore): Array<[string, () => unknown]> => [
    ['put', () => s.put('a', 'x')],
    ['put of a bad key', () => s.put(1 as never, 'x')],
    ['delete', () => s.delete('a')],
    ['delete of an absent key', () => s.delete('absent')],
    ['batch', () => s.batch([{ type: 'put', key: 'a', value: 'x' }])],
    ['empty batch', () => s.batch([])],
    ['rename', () => s.rename('a', 'b')],
    ['rename of an absent key', () => s.rename('absent', 'b')],
    ['compact', () => s.compact()],
    ['writeDistinct', () => s.writeDistinct(new Map([['a', null]]))],
  ];

  test('a read-only store, by path or over a region, refuses each with ERR_PMEM_READONLY and writes nothing', () => {
    const path = tmpFile('hostile.kv');
    const db = KVStore.open(path, { create: true, size: SIZE, segmentSize: SEG });
    db.put('a', '1');
    const ro = KVStore.open(path, { readOnly: true });
    const image = Buffer.alloc(SIZE);
    const region = { bytes: image, length: SIZE, granularity: 'byte' as const, flush() {}, drain() {}, persist() {} };
    KVStore.openRegion(region, { create: true, segmentSize: SEG }).close();
    const roRegion = KVStore.openRegion(region, { readOnly: true });
    const before = Buffer.from(image);
    for (const s of [ro, roRegion]) {
      for (const [name, f] of writes(s)) {
        let code: unknown;
        try {
          f();
        } catch (e) {
          code = (e as { code?: unknown }).code;
        }
        expect({ name, code }).toEqual({ name, code: 'ERR_PMEM_READONLY' });
      }
    }
    expect(image.equals(before)).toBe(true);
    expect(ro.getString('a')).toBe('1');
    expect(db.stats().liveBytes).toBe(8 + 1 + 1);
    ro.close();
    roRegion.close();
    db.close();
  });

  test('a closed store, writer or reader: ERR_PMEM_CLOSED from every call and iterator; close() again does nothing', () => {
    const path = tmpFile('hostile.kv');
    const db = KVStore.open(path, { create: true, size: SIZE, segmentSize: SEG });
    db.put('a', '1');
    db.put('b', '2');
    const ro = KVStore.open(path, { readOnly: true });
    for (const s of [db, ro]) {
      const its = [s.range(), s.keys(), s.entries(), s.unordered()];
      for (const it of its) it.next();
      s.close();
      s.close();
      expect(s.closed).toBe(true);
      const calls: Array<[string, () => unknown]> = [
        ...writes(s),
        ['get', () => s.get('a')],
        ['getString', () => s.getString('a')],
        ['getInto', () => s.getInto('a', Buffer.alloc(4))],
        ['has', () => s.has('a')],
        ['count', () => s.count],
        ['stats', () => s.stats()],
        ['range', () => s.range()],
        ['keys', () => s.keys()],
        ['entries', () => s.entries()],
        ['unordered', () => s.unordered()],
        ...its.map((it, i): [string, () => unknown] => [`iterator ${i}`, () => it.next()]),
      ];
      for (const [name, f] of calls) {
        let code: unknown;
        try {
          f();
        } catch (e) {
          code = (e as { code?: unknown }).code;
        }
        expect({ name, code }).toEqual({ name, code: 'ERR_PMEM_CLOSED' });
      }
      expect(s.abandon()).toBe(false);
    }
  });
});
