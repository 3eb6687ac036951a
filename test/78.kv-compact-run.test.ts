// A rename of a value larger than a segment writes one record in a run of
// segments: the put of the new name, and a tombstone. The run's live entry
// needs as many segments as the run, more than compaction is sure to find
// free; compact() and the writes' cleaning pass over it, and clean the rest.
import * as fs from 'node:fs';

import { KVStore } from '../lib';
import { rng, tmpFile } from './helpers';

const SEGMENT = 64 * 1024;
const SIZE = 4096 + 16 * SEGMENT;
const BIG = Buffer.alloc(100 * 1024, 1);
const value = (n: number): Buffer => Buffer.alloc(1000, n & 255);

test('compact() of a store down to its last free segment passes over a renamed large value', () => {
  const file = tmpFile('kv-compact-run.kv');
  const db = KVStore.open(file, { create: true, size: SIZE, maxSize: SIZE, segmentSize: SEGMENT });
  try {
    const model = new Map<string, Buffer>();
    const put = (k: string, v: Buffer): void => {
      db.put(k, v);
      model.set(k, v);
    };
    for (let i = 0; i < 200; i++) put(`a${i}`, value(i));
    put('big', BIG);
    expect(db.rename('big', 'big2')).toBe(true);
    model.delete('big');
    model.set('big2', BIG);
    // Only keys written after the rename are overwritten: cleaning always
    // has a victim with fewer live bytes than the run.
    const rand = rng(1);
    for (let i = 0; i < 200; i++) put(`b${i}`, value(i));
    for (let i = 0; i < 5000; i++) put(`b${Math.floor(rand() * 200)}`, value(i));
    let n = 0;
    for (;; n++) {
      try {
        put(`c${n}`, value(n));
        put(`b${Math.floor(rand() * 200)}`, value(n));
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ERR_PMEM_NO_SPACE');
        break;
      }
    }
    // Deletes may take one of the two segments puts leave free.
    for (let i = 0; i < n; i++) {
      expect(db.delete(`c${i}`)).toBe(true);
      model.delete(`c${i}`);
    }
    expect(db.stats().segments.free).toBeLessThanOrEqual(2);
    const dead = db.stats().deadBytes;
    expect(dead).toBeGreaterThan(SIZE / 4);
    db.compact();
    expect(db.stats().deadBytes).toBeLessThan(dead / 10);
    for (let i = 0; i < 100; i++) put(`n${i}`, value(i));
    const check = (kv: KVStore): void => {
      expect(kv.count).toBe(model.size);
      for (const [k, v] of model) expect(kv.get(k)).toEqual(v);
      expect(kv.get('big')).toBeUndefined();
    };
    check(db);
    db.close();
    const again = KVStore.open(file);
    try {
      check(again);
    } finally {
      again.close();
    }
  } finally {
    if (!db.closed) db.close();
    fs.rmSync(file, { force: true });
  }
});
