// A reader far behind a writer that cleaned and reused most of the
// segments it knew: its catch-up drops what its index held in all of them
// in one pass over the index (lib/kv/follow.ts, #follow), not one pass for
// each as the replay reaches it (a pass per segment made such a catch-up
// of 300,000 records over 4 KiB segments take 31 s, 3.3 s now). The
// writer runs in this thread, so the work is the same on any machine: the
// passes are counted, not timed.
import * as fs from 'node:fs';

import { openMapping, store64 } from '../lib';
import { SEQ_FLOOR_AT } from '../lib/kv/format';
import { KvIndex } from '../lib/kv/hash-index';
import { KVStore } from '../lib/kv/store';
import { tmpFile } from './helpers';

test.each([4096, 65536])('with %i-byte segments: the writer\'s contents, after one pass over the index for the segments gone', (segmentSize) => {
  const file = tmpFile('far-behind.kv');
  const w = KVStore.open(file, { create: true, size: 8 << 20, maxSize: 8 << 20, segmentSize });
  const v = 'x'.repeat(100);
  const KEYS = 20000;
  for (let i = 0; i < 2 * KEYS; i++) w.put(`k${i % KEYS}`, `${i}${v}`);
  const r = KVStore.open(file, { readOnly: true });
  // Overwrites, deletes and renames: the store is at its largest, so the
  // writer cleans as it goes, freeing and reusing the segments the reader knew.
  for (let i = 0; i < 3 * KEYS; i++) {
    if (i % 10 === 3) w.delete(`k${(i * 7) % KEYS}`);
    else if (i % 10 === 7) w.rename(`k${(i * 13) % KEYS}`, `r${i % 50}`);
    else w.put(`k${i % KEYS}`, `${i}y${v}`);
  }
  const proto = KvIndex.prototype as unknown as { dropInBlocks: (...a: unknown[]) => unknown };
  const dropInBlocks = proto.dropInBlocks;
  let passes = 0;
  proto.dropInBlocks = function (this: unknown, ...a: unknown[]): unknown {
    passes++;
    return dropInBlocks.apply(this, a);
  };
  let count: number;
  try {
    count = r.count;
  } finally {
    proto.dropInBlocks = dropInBlocks;
  }
  const stats = r.stats().reader;
  // It dropped entries, of more segments than it took passes for.
  expect(stats?.dropped).toBeGreaterThan(1000);
  expect(passes).toBeGreaterThan(0);
  expect(passes).toBeLessThanOrEqual(4);
  expect(count).toBe(w.count);
  expect([...r.entries({ encoding: 'utf8' })]).toEqual([...w.entries({ encoding: 'utf8' })]);
  r.close();
  w.close();
  fs.rmSync(file, { force: true });
});

// A reader that made no call while the writer opened 2^31 segments or more
// (1 KiB segments at 200,000 puts/s open 2^31 in about three days). The tail
// word holds the segment number mod 2^32; the floor gives the rest. The
// writer's segment numbers are moved on by raising the floor while it is
// closed, as that many openings of segments that cleaning freed leave it.
test.each([2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 5])('a reader %i segment numbers behind follows the writer', (lag) => {
  const file = tmpFile('far-behind-numbers.kv');
  let w = KVStore.open(file, { create: true, segmentSize: 1024 });
  const model = new Map<string, string>();
  let i = 0;
  const write = (n: number): void => {
    for (const end = i + n; i < end; i++) {
      const k = `k${i % 97}`;
      if (i % 13 === 0) {
        w.delete(k);
        model.delete(k);
      } else {
        const v = `v${i}${'-'.repeat(i % 50)}`;
        w.put(k, v);
        model.set(k, v);
      }
    }
  };
  write(2000);
  const r = KVStore.open(file, { readOnly: true });
  expect(r.count).toBe(model.size);
  w.close();
  const m = openMapping(file);
  const floor = Number(m.bytes.readBigUInt64LE(SEQ_FLOOR_AT));
  store64(m.bytes, SEQ_FLOOR_AT, floor + lag);
  m.persist(SEQ_FLOOR_AT, 8);
  m.close();
  w = KVStore.open(file, { segmentSize: 1024 });
  write(3000);
  // The writer opened segments past the raised floor.
  const after = openMapping(file, { readOnly: true });
  expect(Number(after.bytes.readBigUInt64LE(SEQ_FLOOR_AT))).toBeGreaterThan(floor + lag + 2);
  after.close();
  expect([...r.entries({ encoding: 'utf8' })]).toEqual([...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  for (const [k, v] of model) expect(r.getString(k)).toBe(v);
  r.close();
  w.close();
  fs.rmSync(file, { force: true });
});
