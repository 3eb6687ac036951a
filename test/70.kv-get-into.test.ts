// KVStore.getInto: the value copied into the caller's buffer, and its
// errors; and lookups by a key's bytes (getInto, get, getString and has
// take a Buffer key without making a string of it) finding the same
// entries as lookups by string, before and after a reopen; and that a
// getInto allocates nothing, on a writer and on a reader beside it.
import * as v8 from 'node:v8';

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

  test('allocates nothing once warm: on the writer and on a reader, with string and byte keys', () => {
    const file = tmpFile('kv-get-into-alloc');
    const db = KVStore.open(file, { create: true, size: 4 << 20, segmentSize: 64 * 1024 });
    // Keys and values long enough that any view or copy would show; hashes
    // of every kind (the int32 halves of the uint32 range).
    const keys: string[] = [];
    for (let i = 0; i < 1000; i++) {
      keys.push(`key${String(i).padStart(13, '0')}`);
      db.put(keys[i], Buffer.alloc(100, i));
    }
    const byteKeys = keys.map((k) => Buffer.from(k));
    const reader = KVStore.open(file, { readOnly: true });
    const target = Buffer.alloc(128);
    const newSpace = (): number => {
      const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
      if (s === undefined) throw new Error('no new_space in v8.getHeapSpaceStatistics()');
      return s.space_used_size;
    };
    // The least bytes of new space taken per call over a few rounds (a
    // round with a scavenge in it shows less, not more, and is skipped).
    const bytesPerCall = (store: KVStore, ks: ReadonlyArray<string | Buffer>): number => {
      let sum = 0;
      for (let i = 0; i < 200_000; i++) sum += store.getInto(ks[i % ks.length], target);
      expect(sum).toBe(200_000 * 100);
      let least = Infinity;
      for (let round = 0; round < 8; round++) {
        const before = newSpace();
        for (let i = 0; i < 20_000; i++) store.getInto(ks[i % ks.length], target);
        const after = newSpace();
        if (after >= before) least = Math.min(least, (after - before) / 20_000);
      }
      return least;
    };
    const measured = {
      writerString: bytesPerCall(db, keys), writerBytes: bytesPerCall(db, byteKeys),
      readerString: bytesPerCall(reader, keys), readerBytes: bytesPerCall(reader, byteKeys),
    };
    // A view of the value per call would be about 100 bytes; what remains
    // (under a byte) is the statistics call itself.
    expect(measured).toEqual({ writerString: expect.any(Number), writerBytes: expect.any(Number), readerString: expect.any(Number), readerBytes: expect.any(Number) });
    for (const v of Object.values(measured)) expect(v).toBeLessThan(1);
    reader.close();
    db.close();
  });
});
