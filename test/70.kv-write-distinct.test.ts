// KVStore.writeDistinct (internal; pmem serve's commit): a map of distinct
// one-byte key strings to values or deletes, written as one record the way
// batch() writes it, and refused whole on a key or value too long.
import { KVStore } from '../lib';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

function store(name: string): { db: KVStore; file: string } {
  const file = tmpFile(name);
  return { db: KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 }), file };
}

describe('KVStore.writeDistinct', () => {
  test('puts and deletes as one record; a delete of an absent key writes nothing; a reopen sees the same', () => {
    const { db, file } = store('kv-write-distinct');
    db.put('old', 'gone soon');
    db.put('kept', 'kept');
    const before = db.stats().liveBytes + db.stats().deadBytes;
    // A key as its bytes, one char per byte: 0xff and 0x00 included.
    const binary = Buffer.from([0xff, 0x00, 0x41]).toString('latin1');
    const writes = new Map<string, Buffer | null>([
      ['new', Buffer.from('fresh')],
      ['old', null],
      ['never-there', null],
      [binary, Buffer.from('binary key')],
      ['empty', Buffer.alloc(0)],
    ]);
    expect(db.writeDistinct(writes)).toBe(4);
    expect(db.get('new')?.toString()).toBe('fresh');
    expect(db.has('old')).toBe(false);
    expect(db.get(Buffer.from([0xff, 0x00, 0x41]))?.toString()).toBe('binary key');
    expect(db.get('empty')?.length).toBe(0);
    expect(db.count).toBe(4);
    // Nothing written at all for deletes of absent keys alone.
    const grown = db.stats().liveBytes + db.stats().deadBytes;
    expect(grown).toBeGreaterThan(before);
    expect(db.writeDistinct(new Map([['never-there', null]]))).toBe(0);
    expect(db.writeDistinct(new Map())).toBe(0);
    expect(db.stats().liveBytes + db.stats().deadBytes).toBe(grown);
    db.close();
    const again = KVStore.open(file);
    expect(again.get('new')?.toString()).toBe('fresh');
    expect(again.has('old')).toBe(false);
    expect(again.get(Buffer.from([0xff, 0x00, 0x41]))?.toString()).toBe('binary key');
    expect(again.get('kept')?.toString()).toBe('kept');
    again.close();
  });

  test('a record of many entries (their index slots loaded ahead) points every key at its new entry', () => {
    const { db, file } = store('kv-write-distinct-many');
    const model = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      db.put(`k${i}`, `v${i}`);
      model.set(`k${i}`, `v${i}`);
    }
    // Rounds of 8 to 200 entries: overwrites, deletes, new keys, and keys
    // absent from the store, in every mix.
    for (let round = 0; round < 40; round++) {
      const writes = new Map<string, Buffer | null>();
      const n = 8 + ((round * 37) % 193);
      for (let j = 0; j < n; j++) {
        const k = `k${(round * 131 + j * 17) % 450}`;
        if ((round + j) % 3 === 0) writes.set(k, null);
        else writes.set(k, Buffer.from(`r${round}-${j}`));
      }
      db.writeDistinct(writes);
      for (const [k, v] of writes) {
        if (v === null) model.delete(k);
        else model.set(k, v.toString());
      }
      for (let i = 0; i < 450; i++) expect(db.get(`k${i}`)?.toString()).toBe(model.get(`k${i}`));
    }
    expect(db.count).toBe(model.size);
    db.close();
    const again = KVStore.open(file);
    for (let i = 0; i < 450; i++) expect(again.get(`k${i}`)?.toString()).toBe(model.get(`k${i}`));
    again.close();
  });

  test('a key or value too long is a RangeError, and nothing of the map is written', () => {
    const { db } = store('kv-write-distinct-limits');
    for (const bad of [
      new Map<string, Buffer | null>([['a', Buffer.from('1')], ['k'.repeat(4097), Buffer.from('v')]]),
      new Map<string, Buffer | null>([['a', Buffer.from('1')], ['k'.repeat(4097), null]]),
      new Map<string, Buffer | null>([['a', Buffer.from('1')], ['b', Buffer.alloc(2 ** 26 + 1)]]),
    ]) {
      expectThrowName(() => db.writeDistinct(bad), 'RangeError');
      expect(db.has('a')).toBe(false);
    }
    expect(db.writeDistinct(new Map([['k'.repeat(4096), Buffer.from('v')]]))).toBe(1);
    expect(db.get('k'.repeat(4096))?.toString()).toBe('v');
    db.close();
  });

  test('a full store refuses it with ERR_PMEM_NO_SPACE, and nothing of the map is written', () => {
    const file = tmpFile('kv-write-distinct-full');
    const db = KVStore.open(file, { create: true, size: 256 * 1024, segmentSize: 64 * 1024 });
    const value = Buffer.alloc(1000, 1);
    let n = 0;
    expectPmemError(() => {
      for (;;) db.put(`fill${n++}`, value);
    }, 'ERR_PMEM_NO_SPACE');
    const filled = db.count;
    expect(filled).toBeGreaterThan(0);
    expectPmemError(() => db.writeDistinct(new Map([['new-a', value], ['new-b', value], ['fill0', null]])), 'ERR_PMEM_NO_SPACE');
    expect(db.has('new-a') || db.has('new-b')).toBe(false);
    expect(db.has('fill0')).toBe(true);
    expect(db.count).toBe(filled);
    db.close();
  });

  test('read-only and closed stores refuse it', () => {
    const { db, file } = store('kv-write-distinct-refused');
    db.put('a', '1');
    db.close();
    expectPmemError(() => db.writeDistinct(new Map([['a', null]])), 'ERR_PMEM_CLOSED');
    const ro = KVStore.open(file, { readOnly: true });
    expectPmemError(() => ro.writeDistinct(new Map([['a', null]])), 'ERR_PMEM_READONLY');
    expect(ro.get('a')?.toString()).toBe('1');
    ro.close();
  });
});
