// KVStore.put's record and index update: keys given as strings, Buffers and
// Uint8Arrays are the same keys; every key and value length lays out a
// record that reads back, before and after a reopen; a key given as bytes
// is copied once; a put's new key joins a key order a scan built; the
// index's table asks for huge pages.
import { binding } from '../lib/core/binding';
import { KVStore } from '../lib';
import { expectThrowName, tmpFile } from './helpers';

const open = (file: string, create = false): KVStore =>
  KVStore.open(file, { create, size: 1 << 20, segmentSize: 64 * 1024 });

describe('KVStore.put', () => {
  test('every key length up to 40 and value length up to 17, as bytes and as strings, reads back before and after a reopen', () => {
    const file = tmpFile('kv-put-lengths');
    let db = open(file, true);
    const want = new Map<string, Buffer>();
    for (let k = 0; k <= 40; k++) {
      for (let v = 0; v <= 17; v++) {
        // The key's last byte differs from the padding's zero, so a key
        // overwritten by the padding no longer matches.
        const key = Buffer.alloc(k, 0x61 + (v % 26));
        if (k > 0) key[k - 1] = 0x30 + (k % 10);
        const value = Buffer.alloc(v, 0x41 + (k % 26));
        const asString = (k + v) % 2 === 0;
        db.put(asString ? key.toString('latin1') : key, asString ? value.toString('latin1') : value);
        want.set(key.toString('latin1'), value);
      }
    }
    const check = (s: KVStore): void => {
      expect(s.count).toBe(want.size);
      for (const [k, v] of want) {
        expect(s.get(k)?.equals(v)).toBe(true);
        expect(s.get(Buffer.from(k, 'latin1'))?.equals(v)).toBe(true);
      }
    };
    check(db);
    db.close();
    db = open(file);
    check(db);
    db.close();
  });

  test('a key given as a Buffer, a Uint8Array at an offset, or a string is one key', () => {
    const db = open(tmpFile('kv-put-forms'), true);
    const backing = new Uint8Array(64);
    const u8 = backing.subarray(3, 3 + 5);
    u8.set(Buffer.from('hello'));
    db.put(u8, 'a');
    expect(db.get('hello')?.toString()).toBe('a');
    db.put(Buffer.from('hello'), 'b');
    db.put('hello', 'c');
    expect(db.count).toBe(1);
    expect(db.getString(u8)).toBe('c');
    // A string that is not ASCII is its UTF-8 bytes.
    db.put(Buffer.from('cl\u00e9', 'utf8'), 'd');
    expect(db.getString('cl\u00e9')).toBe('d');
    db.put('cl\u00e9', 'e');
    expect(db.count).toBe(2);
    expect(db.getString(Buffer.from('cl\u00e9', 'utf8'))).toBe('e');
    db.close();
  });

  test('a key given as bytes is copied: changing them after the put changes nothing', () => {
    const db = open(tmpFile('kv-put-copy'), true);
    const key = Buffer.from('mutable');
    db.put(key, 'v');
    key.fill(0x7a);
    expect(db.getString('mutable')).toBe('v');
    expect(db.has(key)).toBe(false);
    db.close();
  });

  test('overwrites by bytes and by string count the old entry dead, and a reopen sees the last', () => {
    const file = tmpFile('kv-put-overwrite');
    let db = open(file, true);
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 50; i++) {
        const k = `key${i}`;
        db.put(round % 2 === 0 ? Buffer.from(k) : k, `r${round} ${i}`);
      }
    }
    expect(db.count).toBe(50);
    db.compact();
    db.close();
    db = open(file);
    for (let i = 0; i < 50; i++) expect(db.getString(`key${i}`)).toBe(`r29 ${i}`);
    db.close();
  });

  test("a put's new key given as bytes joins the key order a scan built", () => {
    const db = open(tmpFile('kv-put-order'), true);
    db.put('b', '1');
    db.put('d', '2');
    expect([...db.keys({ encoding: 'utf8' })]).toEqual(['b', 'd']);
    db.put(Buffer.from('c'), '3');
    db.put(new Uint8Array([0x61]), '4');
    db.put(Buffer.from('d'), '5'); // an overwrite adds no key
    expect([...db.keys({ encoding: 'utf8' })]).toEqual(['a', 'b', 'c', 'd']);
    expect([...db.range({ encoding: 'utf8' })].map(([, v]) => v)).toEqual(['4', '1', '3', '5']);
    db.close();
  });

  test('a bad key is refused before anything is written', () => {
    const db = open(tmpFile('kv-put-bad'), true);
    db.put('x', 'y');
    const before = db.stats().liveBytes + db.stats().deadBytes;
    expectThrowName(() => db.put(Buffer.alloc(4097), 'v'), 'RangeError');
    expectThrowName(() => db.put(new Uint8Array(5000), 'v'), 'RangeError');
    expectThrowName(() => db.put(42 as never, 'v'), 'TypeError');
    expectThrowName(() => db.put(Buffer.from('k'), 42 as never), 'TypeError');
    expect(db.stats().liveBytes + db.stats().deadBytes).toBe(before);
    expect(db.count).toBe(1);
    db.put(Buffer.alloc(4096, 1), 'longest');
    expect(db.getString(Buffer.alloc(4096, 1))).toBe('longest');
    db.close();
  });
});

describe('KVStore.put of a key string beyond ASCII (its UTF-8 bytes, encoded into one scratch buffer)', () => {
  const keys = ['cl\u00e9', '\u00fc', 'na\u00efve caf\u00e9', '\u65e5\u672c\u8a9e', '\ud83d\ude00 smile', 'z\u00e9'.repeat(50)];

  test('each key is its own UTF-8 bytes, as a string and as bytes, before and after a reopen, whatever the key put before it', () => {
    const file = tmpFile('kv-put-utf8');
    let db = open(file, true);
    // Longest first: a shorter key put next must not inherit the scratch's tail.
    const order = [...keys].sort((a, b) => Buffer.byteLength(b) - Buffer.byteLength(a));
    order.forEach((k, i) => db.put(k, `v${i}`));
    const check = (s: KVStore): void => {
      expect(s.count).toBe(keys.length);
      order.forEach((k, i) => {
        expect(s.getString(k)).toBe(`v${i}`);
        expect(s.getString(Buffer.from(k, 'utf8'))).toBe(`v${i}`);
      });
      expect([...s.keys({ encoding: 'utf8' })].sort()).toEqual([...keys].sort());
    };
    check(db);
    // Overwrites through the same path keep one entry per key.
    order.forEach((k, i) => db.put(k, `v${i}`));
    check(db);
    // New keys join the key order the scans above built, each as its own bytes.
    db.put('\u00e0 new', 'n1');
    db.put('\u00e0', 'n2');
    expect([...db.keys({ encoding: 'utf8' })].filter((k) => k.startsWith('\u00e0'))).toEqual(['\u00e0', '\u00e0 new']);
    db.delete('\u00e0 new');
    db.delete('\u00e0');
    db.close();
    db = open(file);
    check(db);
    db.close();
  });

  test('the key limit counts UTF-8 bytes, a character cut by the limit included; a refused key writes nothing', () => {
    const db = open(tmpFile('kv-put-utf8-limit'), true);
    db.put('x', 'y');
    const before = db.stats().liveBytes + db.stats().deadBytes;
    const emoji = '\ud83d\ude00'; // 4 bytes
    const atLimit = [emoji.repeat(1024), emoji.repeat(1023) + '\u00e9\u00e9', '\u00e9'.repeat(2048)];
    const over: Array<[string, number]> = [
      [emoji.repeat(1024) + 'a', 4097],
      [emoji.repeat(1023) + '\u00e9\u00e9\u00e9', 4098],
      [emoji.repeat(1025), 4100],
      ['\u00e9'.repeat(5000), 10000],
    ];
    for (const [k, bytes] of over) {
      expect(() => db.put(k, 'v')).toThrow(new RangeError(`key is ${bytes} bytes; the limit is 4096`));
    }
    expect(() => db.put('\u00e9\ud800', 'v')).toThrow(TypeError);
    expect(db.stats().liveBytes + db.stats().deadBytes).toBe(before);
    expect(db.count).toBe(1);
    for (const k of atLimit) {
      expect(Buffer.byteLength(k)).toBe(4096);
      db.put(k, 'longest');
      expect(db.getString(Buffer.from(k, 'utf8'))).toBe('longest');
    }
    expect(db.count).toBe(4);
    db.close();
  });
});

describe("the index's table", () => {
  test('asks for huge pages over the whole 2 MiB pages inside it, and only then', () => {
    expect(binding.kvTableHuge(new Uint32Array(1024))).toBe(false);
    // 8 MiB holds at least three whole 2 MiB pages, wherever it starts.
    expect(typeof binding.kvTableHuge(new Uint32Array(2 * 1024 * 1024))).toBe('boolean');
    expectThrowName(() => binding.kvTableHuge({} as never), 'TypeError');
  });

  test('prefetches slots only inside the table, and refuses what is no table, hash list or count', () => {
    const table = new Uint32Array(16).map((_, i) => i * 7);
    const before = Buffer.from(table.buffer).toString('hex');
    const hashes = new Int32Array([0, -1, 0x7fffffff, -0x80000000, 5]);
    // Hashes of every sign and size land on one of the table's 8 slots.
    binding.kvPrefetchSlots(table, hashes, hashes.length);
    binding.kvPrefetchSlots(table, hashes, 0);
    expect(Buffer.from(table.buffer).toString('hex')).toBe(before);
    expectThrowName(() => binding.kvPrefetchSlots({} as never, hashes, 1), 'TypeError');
    expectThrowName(() => binding.kvPrefetchSlots(new Int32Array(16) as never, hashes, 1), 'TypeError');
    expectThrowName(() => binding.kvPrefetchSlots(table, new Uint32Array(4) as never, 1), 'TypeError');
    expectThrowName(() => binding.kvPrefetchSlots(table, hashes, '1' as never), 'TypeError');
    expectThrowName(() => binding.kvPrefetchSlots(table, hashes, hashes.length + 1), 'RangeError');
    expectThrowName(() => binding.kvPrefetchSlots(table, hashes, -1), 'RangeError');
    expectThrowName(() => binding.kvPrefetchSlots(table, hashes, NaN), 'RangeError');
    expectThrowName(() => binding.kvPrefetchSlots(new Uint32Array(12), hashes, 1), 'RangeError');
    expectThrowName(() => binding.kvPrefetchSlots(new Uint32Array(0), hashes, 1), 'RangeError');
  });

  test('with the entries, follows only the slots that point inside them, and refuses what is no byte array', () => {
    // Slots: empty (0), deleted (1), inside the 64 entry bytes, at their end, and far past it.
    const table = new Uint32Array([0, 0, 1, 0, 8, 0, 63, 0, 64, 0, 0xffffffff, 0, 0x80000000, 0, 40, 0]);
    const entries = new Uint8Array(64).fill(0xa5);
    const before = Buffer.from(table.buffer).toString('hex') + Buffer.from(entries).toString('hex');
    const hashes = new Int32Array([0, 1, 2, 3, 4, 5, 6, 7, -1, 0x7fffffff]);
    binding.kvPrefetchSlots(table, hashes, hashes.length, entries);
    binding.kvPrefetchSlots(table, hashes, hashes.length, new Uint8Array(0));
    binding.kvPrefetchSlots(table, hashes, hashes.length, undefined);
    expect(Buffer.from(table.buffer).toString('hex') + Buffer.from(entries).toString('hex')).toBe(before);
    expectThrowName(() => binding.kvPrefetchSlots(table, hashes, 1, new Uint32Array(4) as never), 'TypeError');
    expectThrowName(() => binding.kvPrefetchSlots(table, hashes, 1, {} as never), 'TypeError');
    expectThrowName(() => binding.kvPrefetchSlots(table, hashes, 1, null as never), 'TypeError');
  });

  test('a store of enough keys to reach a huge table still finds every key', () => {
    const file = tmpFile('kv-put-big-table');
    const db = KVStore.open(file, { create: true, size: 64 << 20, segmentSize: 1 << 20 });
    // 400,000 keys: the table grows to 2^20 slots (8 MiB).
    const v = Buffer.alloc(8, 1);
    for (let i = 0; i < 400_000; i++) db.put(`k${i}`, v);
    expect(db.count).toBe(400_000);
    expect(db.stats().indexBytes).toBeGreaterThanOrEqual(8 << 20);
    for (let i = 0; i < 400_000; i += 997) expect(db.has(`k${i}`)).toBe(true);
    db.close();
  });
});
