// KVStore.getInto: the value copied into the caller's buffer, and its
// errors; and lookups by a key's bytes (getInto, get, getString and has
// take a Buffer key without making a string of it) finding the same
// entries as lookups by string, before and after a reopen. That it
// allocates nothing: test/70.kv-alloc.
import { KVStore, openMapping } from '../lib';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

function store(): KVStore {
  return KVStore.open(tmpFile('kv-get-into'), { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
}

describe('KVStore.getInto', () => {
  test('copies the value to the start of the target and returns its length; -1 when absent', () => {
    const db = store();
    db.put('a', Buffer.from([1, 2, 3]));
    const t = Buffer.alloc(8, 0xee);
    expect(db.getInto('a', t)).toBe(3);
    expect([...t]).toEqual([1, 2, 3, 0xee, 0xee, 0xee, 0xee, 0xee]);
    const untouched = Buffer.alloc(8, 0xdd);
    expect(db.getInto('missing', untouched)).toBe(-1);
    expect(untouched.equals(Buffer.alloc(8, 0xdd))).toBe(true);
    // A value exactly as long as the target, an empty value, a plain Uint8Array target.
    db.put('eight', Buffer.alloc(8, 9));
    expect(db.getInto('eight', t)).toBe(8);
    expect(t.equals(Buffer.alloc(8, 9))).toBe(true);
    db.put('empty', Buffer.alloc(0));
    expect(db.getInto('empty', new Uint8Array(0))).toBe(0);
    const u = new Uint8Array(4);
    expect(db.getInto('a', u)).toBe(3);
    expect([...u]).toEqual([1, 2, 3, 0]);
    db.close();
  });

  test('follows overwrites, deletes, compaction and a reopen', () => {
    const file = tmpFile('kv-get-into-reopen');
    let db = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
    const t = Buffer.alloc(64);
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 100; i++) db.put(`key${i}`, `value ${i} of round ${round}`);
    }
    db.delete('key7');
    expect(db.compact()).toBeGreaterThan(0);
    const check = (d: KVStore): void => {
      for (let i = 0; i < 100; i++) {
        const n = d.getInto(`key${i}`, t);
        if (i === 7) expect(n).toBe(-1);
        else expect(t.toString('utf8', 0, n)).toBe(`value ${i} of round 39`);
      }
    };
    check(db);
    db.close();
    db = KVStore.open(file);
    check(db);
    db.close();
  });

  test('a key as bytes finds what a key as a string stored, and the reverse', () => {
    const db = store();
    const binary = Buffer.from([0, 0x80, 0xff, 0x41, 0xc3]);
    db.put(binary, 'binary');
    db.put('grüße', 'utf8');
    db.put(Buffer.from('plain'), 'plain');
    const t = Buffer.alloc(16);
    expect(db.getInto(Buffer.from(binary), t)).toBe(6);
    expect(db.getInto(new Uint8Array(binary), t)).toBe(6);
    // A key that is a slice of a larger buffer, at an offset.
    const wide = Buffer.concat([Buffer.from('xx'), binary, Buffer.from('yy')]);
    expect(db.getInto(wide.subarray(2, 2 + binary.length), t)).toBe(6);
    expect(db.getInto(Buffer.from('grüße', 'utf8'), t)).toBe(4);
    expect(db.getInto('plain', t)).toBe(5);
    expect(db.get(Buffer.from('grüße', 'utf8'))?.toString()).toBe('utf8');
    expect(db.getString(Buffer.from('plain'))).toBe('plain');
    expect(db.has(binary)).toBe(true);
    expect(db.has(Buffer.from([0, 0x80, 0xff, 0x41]))).toBe(false); // a prefix of a key
    expect(db.getInto(Buffer.from([0, 0x80, 0xff, 0x41, 0xc3, 0]), t)).toBe(-1); // a key plus one byte
    db.close();
  });

  test('a target shorter than the value is a RangeError, and nothing is written', () => {
    const db = store();
    db.put('k', Buffer.alloc(10, 1));
    const t = Buffer.alloc(9, 0xaa);
    expectThrowName(() => db.getInto('k', t), 'RangeError');
    expectThrowName(() => db.getInto(Buffer.from('k'), t), 'RangeError');
    expect(t.equals(Buffer.alloc(9, 0xaa))).toBe(true);
    let message = '';
    try {
      db.getInto('k', t);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('10');
    db.close();
  });

  test('a target that is not a Uint8Array, or a bad key, is a TypeError or RangeError', () => {
    const db = store();
    db.put('k', 'v');
    for (const bad of [undefined, null, 'buf', 7, [0, 0], new ArrayBuffer(8), new Uint16Array(4), new DataView(new ArrayBuffer(8))]) {
      expectThrowName(() => db.getInto('k', bad as never), 'TypeError');
    }
    for (const bad of [undefined, null, 7, {}, ['k']]) {
      expectThrowName(() => db.getInto(bad as never, Buffer.alloc(4)), 'TypeError');
    }
    expectThrowName(() => db.getInto('x'.repeat(4097), Buffer.alloc(4)), 'RangeError');
    expectThrowName(() => db.getInto(Buffer.alloc(4097), Buffer.alloc(4)), 'RangeError');
    expectThrowName(() => db.get(Buffer.alloc(4097)), 'RangeError');
    expectThrowName(() => db.has(new Uint8Array(4097)), 'RangeError');
    db.close();
  });

  test('on a closed store, or over a closed region: ERR_PMEM_CLOSED', () => {
    const db = store();
    db.put('k', 'v');
    db.close();
    expectPmemError(() => db.getInto('k', Buffer.alloc(4)), 'ERR_PMEM_CLOSED');
    expectPmemError(() => db.getInto(Buffer.from('k'), Buffer.alloc(4)), 'ERR_PMEM_CLOSED');
    const m = openMapping(tmpFile('kv-get-into-region'), { create: true, size: 1 << 20 });
    const r = KVStore.openRegion(m, { create: true, segmentSize: 64 * 1024 });
    r.put('k', 'v');
    m.close();
    expectPmemError(() => r.getInto('k', Buffer.alloc(4)), 'ERR_PMEM_CLOSED');
  });
});
