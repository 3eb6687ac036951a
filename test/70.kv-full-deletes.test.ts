// A full store takes deletes. Keys that are never overwritten (a cache
// whose entries expire unread), with a few deleted now and then, fill the
// store with live entries and leave a tombstone in most segments, so the
// one victim cleaning may take is the oldest, mostly live. A delete may
// open one of the two segments puts leave free; a put that then filled
// that segment's room left deletes a segment short, and the store, with
// one free segment kept for cleaning, took no delete again
// (ERR_PMEM_NO_SPACE for every delete, at any maxSize it had). Puts fail
// when the store is full; deletes never do. Counted in operations, not
// time: the same on any machine.
import * as fs from 'node:fs';

import { KVStore } from '../lib';
import { rng, tmpFile } from './helpers';

test.each([
  [16384, 16, 0.1, 1],
  [16384, 16, 0.02, 2],
  [65536, 12, 0.05, 3],
  [4096, 40, 0.2, 4],
])('%i-byte segments, %i of them, deletes %d of the calls (seed %i): every delete is taken, every put of a store not full', (segmentSize, segments, deletes, seed) => {
  const file = tmpFile('kv-full-deletes.kv');
  const size = 8192 + segments * segmentSize;
  const db = KVStore.open(file, { create: true, size, maxSize: size, segmentSize });
  const rand = rng(seed);
  const live: string[] = [];
  let n = 0;
  let full = 0;
  let deleted = 0;
  for (let i = 0; i < 40000 && full < 2000; i++) {
    if (rand() >= deletes) {
      const k = `key:${n++}`;
      try {
        db.put(k, Buffer.alloc(900 + Math.floor(rand() * 200), 1));
        live.push(k);
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ERR_PMEM_NO_SPACE');
        full++;
      }
    } else if (live.length > 0) {
      const ks: string[] = [];
      for (let j = 1 + Math.floor(rand() * 4); j > 0 && live.length > 0; j--) ks.push(live.splice(Math.floor(rand() * live.length), 1)[0]);
      db.batch(ks.map((key) => ({ type: 'del' as const, key }))); // never ERR_PMEM_NO_SPACE
      deleted += ks.length;
    }
  }
  // The store was full (puts were refused) while deletes went on.
  expect(full).toBeGreaterThan(10);
  expect(deleted).toBeGreaterThan(100);
  expect(db.count).toBe(live.length);
  // Each delete gave its room back: the store takes puts again once enough are gone.
  for (const k of live.splice(0, live.length >> 1)) db.delete(k);
  db.put('after', Buffer.alloc(1000, 2));
  db.close();
  const again = KVStore.open(file);
  expect(again.count).toBe(live.length + 1);
  for (const k of live.slice(0, 50)) expect(again.has(k)).toBe(true);
  again.close();
  fs.rmSync(file, { force: true });
});
