// The keyspace's key table (lib/server/key-table.ts): what Map<string,
// number> does for the keys of one database, checked against a Map.
import { KeyTable } from '../lib/server/key-table';

/** A latin1 string of `n` bytes drawn from `rnd`. */
function key(rnd: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(rnd() * 256));
  return s;
}

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function expectSame(t: KeyTable, m: Map<string, number>, keys: readonly string[]): void {
  expect(t.size).toBe(m.size);
  for (const k of keys) expect(t.get(k)).toBe(m.get(k));
}

describe('KeyTable', () => {
  test('does what a Map does through sets, deletes, getOrSet and clear, for keys of any bytes and length', () => {
    const rnd = lcg(7);
    // Short keys collide often; some are prefixes of others; '' is one.
    const keys = Array.from({ length: 3000 }, (_, i) => key(rnd, i % 50 === 0 ? 0 : 1 + Math.floor(rnd() * (i % 7 === 0 ? 300 : 12))));
    keys.push('a', 'ab', 'abc', '\u0000', '\u0000\u0000', '\u00ff');
    const t = new KeyTable();
    const m = new Map<string, number>();
    for (let op = 0; op < 60000; op++) {
      const k = keys[Math.floor(rnd() * keys.length)];
      const r = rnd();
      if (r < 0.45) {
        const v = Math.floor(rnd() * 2 ** 31) - (r < 0.1 ? 2 ** 31 : 0);
        expect(t.set(k, v)).toBe(t);
        m.set(k, v);
      } else if (r < 0.75) {
        expect(t.delete(k)).toBe(m.delete(k));
      } else if (r < 0.9) {
        const had = m.get(k);
        expect(t.getOrSet(k, op)).toBe(had);
        if (had === undefined) m.set(k, op);
      } else {
        expect(t.has(k)).toBe(m.has(k));
        expect(t.get(k)).toBe(m.get(k));
      }
      if (op % 10000 === 9999) expectSame(t, m, keys);
      if (op === 40000) {
        t.clear();
        m.clear();
        expectSame(t, m, keys);
      }
    }
    expectSame(t, m, keys);
  });

  test('holds enough keys for huge pages, and gives back the memory of keys deleted', () => {
    const t = new KeyTable();
    const n = 300_000;
    for (let i = 0; i < n; i++) t.set(`key:${i}`, i);
    expect(t.size).toBe(n);
    const full = t.memoryBytes;
    expect(full).toBeGreaterThan(8 * 1024 * 1024); // table and arena each past 4 MiB
    for (let i = 0; i < n; i += 997) expect(t.get(`key:${i}`)).toBe(i);
    for (let i = 0; i < n; i++) if (i % 10 !== 0) t.delete(`key:${i}`);
    // The dead records of 90% of the keys were dropped from the arena.
    expect(t.size).toBe(n / 10);
    expect(t.memoryBytes).toBeLessThan(full);
    for (let i = 0; i < n; i += 7) expect(t.get(`key:${i}`)).toBe(i % 10 === 0 ? i : undefined);
    // The table is rebuilt smaller as keys are added again over deleted slots.
    for (let i = 0; i < n; i++) if (i % 10 !== 0) t.set(`key:${i}`, -i);
    for (let i = 0; i < n; i += 11) expect(t.get(`key:${i}`)).toBe(i % 10 === 0 ? i : -i);
  });

  test('a key of a MiB, and keys that differ only in their last byte', () => {
    const t = new KeyTable();
    const big = 'x'.repeat(1 << 20);
    t.set(big, 1);
    t.set(`${big}y`, 2);
    t.set(big.slice(1), 3);
    expect(t.get(big)).toBe(1);
    expect(t.get(`${big}y`)).toBe(2);
    expect(t.get(`${big}z`)).toBeUndefined();
    expect(t.get(big.slice(1))).toBe(3);
    expect(t.delete(big)).toBe(true);
    expect(t.get(big)).toBeUndefined();
    expect(t.get(`${big}y`)).toBe(2);
  });

  test('refuses a key that is not latin1 and a value that is not an int32, and is left as it was', () => {
    const t = new KeyTable();
    t.set('k', 1);
    expect(() => t.set('\u0100', 2)).toThrow(TypeError);
    expect(() => t.set('ab\u20ac', 2)).toThrow(TypeError);
    expect(() => t.getOrSet('\u0100', 2)).toThrow(TypeError);
    for (const v of [1.5, 2 ** 31, -(2 ** 31) - 1, NaN, Infinity]) {
      expect(() => t.set('k', v)).toThrow(RangeError);
      expect(() => t.set('new', v)).toThrow(RangeError);
    }
    expect(t.size).toBe(1);
    expect(t.get('k')).toBe(1);
    expect(t.has('new')).toBe(false);
    expect(t.has('\u0100')).toBe(false);
    // A string of other chars is looked up (and absent), never refused.
    expect(t.get('\u20ac')).toBeUndefined();
    expect(t.delete('\u20ac')).toBe(false);
  });

  test('an allocation refused: a put that needs more room adds nothing; a delete whose arena cannot shrink is done all the same', () => {
    const RealU8 = globalThis.Uint8Array;
    const RealI32 = globalThis.Int32Array;
    const refuse = (): void => {
      const refused = function refused(): never {
        throw new RangeError('Array buffer allocation failed');
      };
      globalThis.Uint8Array = refused as unknown as Uint8ArrayConstructor;
      globalThis.Int32Array = refused as unknown as Int32ArrayConstructor;
    };
    const restore = (): void => {
      globalThis.Uint8Array = RealU8;
      globalThis.Int32Array = RealI32;
    };
    const t = new KeyTable();
    const m = new Map<string, number>();
    const name = (i: number): string => `a key of some forty bytes, number ${i}`;
    // New keys until one needs a larger table or arena.
    let refusedKey = '';
    refuse();
    try {
      for (let i = 0; i < 100_000 && refusedKey === ''; i++) {
        try {
          t.set(name(i), i);
          m.set(name(i), i);
        } catch (e) {
          expect(e).toEqual(new RangeError('Array buffer allocation failed'));
          refusedKey = name(i);
        }
      }
    } finally {
      restore();
    }
    expect(refusedKey).not.toBe('');
    expect(t.has(refusedKey)).toBe(false);
    expectSame(t, m, [...m.keys(), refusedKey]);
    // Enough keys that deletes pass the arena's shrink threshold (64 KiB dead).
    for (let i = m.size + 1; m.size < 8000; i++) {
      t.set(name(i), i);
      m.set(name(i), i);
    }
    const keys = [...m.keys()];
    const full = t.memoryBytes;
    refuse();
    try {
      for (const k of keys.slice(0, 7000)) {
        expect(t.delete(k)).toBe(true);
        m.delete(k);
      }
    } finally {
      restore();
    }
    expect(t.memoryBytes).toBe(full); // no smaller arena could be had
    expectSame(t, m, keys);
    // The next delete past the threshold shrinks it.
    expect(t.delete(keys[7000])).toBe(true);
    m.delete(keys[7000]);
    expect(t.memoryBytes).toBeLessThan(full);
    expectSame(t, m, keys);
    expect(t.set(refusedKey, -1)).toBe(t);
    expect(t.get(refusedKey)).toBe(-1);
  });
});
