// compact() and the active segment's room. A store at its maxSize, nearly
// full of live entries, had a segment's room left in its active segment;
// compact() gave that segment up (appends went to a new one) with nothing
// in it to clean, so its room was lost until the segment's next cleaning,
// and a put that fitted it before compact() was refused after it. Now the
// active segment is given up only when compact() cleans it.
import * as fs from 'node:fs';

import { KVStore } from '../lib';
import { cleaning } from '../lib/kv/compact';
import { tmpFile } from './helpers';

const SEGMENT = 64 * 1024;
const SIZE = 4096 + 16 * SEGMENT;
const BIG = Buffer.alloc(60 * 1024, 1);
const value = (n: number): Buffer => Buffer.alloc(1000, n & 255);

/** A store of SIZE, its model, and a put that keeps both. */
interface Store {
  db: KVStore;
  model: Map<string, Buffer>;
  put(k: string, v: Buffer): void;
}

/**
 * Runs `body` on a new store, then checks it against the model before and
 * after a reopen.
 */
function withStore(name: string, body: (s: Store) => void): void {
  const file = tmpFile(name);
  const db = KVStore.open(file, { create: true, size: SIZE, maxSize: SIZE, segmentSize: SEGMENT });
  const model = new Map<string, Buffer>();
  const check = (kv: KVStore): void => {
    expect(kv.count).toBe(model.size);
    const wrong: string[] = [];
    for (const [k, v] of model) {
      const got = kv.get(k);
      if (got === undefined || !v.equals(got)) wrong.push(k);
    }
    expect(wrong).toEqual([]);
  };
  try {
    body({ db, model, put: (k, v) => { db.put(k, v); model.set(k, v); } });
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
}

/**
 * Distinct keys until the store, at its maxSize, is down to the two free
 * segments puts leave: the last put opened the active segment, which holds
 * only its record. Then one overwrite of the first key: a dead entry in
 * the oldest segment, and a second record in the active one, whose room
 * is then 63,408 bytes (a segment less its header and two records).
 */
function fill({ db, put }: Store): void {
  for (let n = 0; db.stats().segments.free > 2; n++) put(`k${n}`, value(n));
  put('k0', value(7));
  expect(db.stats().segments).toEqual({ total: 16, used: 14, free: 2 });
}

test('a put that fits the active segment\'s room before compact() fits after it', () => {
  // Without compact(), the store takes it.
  withStore('kv-compact-active-without.kv', (s) => {
    fill(s);
    s.put('big', BIG);
  });
  withStore('kv-compact-active.kv', (s) => {
    const { db, model, put } = s;
    fill(s);
    const before = db.stats();
    // Given up, the active segment's 63,408 bytes were lost: the copies of
    // the oldest segment opened a new one, the freed segment took its place
    // among the two kept free, and a record of at most 2,776 bytes fitted
    // the new active segment (BIG failed with ERR_PMEM_NO_SPACE).
    db.compact();
    const after = db.stats();
    expect(after.segments.free).toBeGreaterThanOrEqual(before.segments.free);
    expect(after.deadBytes).toBeLessThan(before.deadBytes);
    put('big', BIG);
    // Deletes go on, and a second compact() frees what they left dead.
    for (let i = 1; i < 200; i++) {
      expect(db.delete(`k${i}`)).toBe(true);
      model.delete(`k${i}`);
    }
    const dead = db.stats().deadBytes;
    expect(db.compact()).toBeGreaterThan(0);
    expect(db.stats().deadBytes).toBeLessThan(dead / 4);
    for (let i = 0; i < 100; i++) put(`n${i}`, value(i));
  });
});

test('a store takes as many puts after compact() as without it', () => {
  /** Puts of new keys until the store is full. @returns how many went in */
  const untilFull = ({ put }: Store): number => {
    for (let n = 0; ; n++) {
      try {
        put(`m${n}`, value(n));
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ERR_PMEM_NO_SPACE');
        return n;
      }
    }
  };
  let without = 0;
  let after = 0;
  withStore('kv-compact-active-count-without.kv', (s) => {
    fill(s);
    without = untilFull(s);
  });
  withStore('kv-compact-active-count.kv', (s) => {
    fill(s);
    s.db.compact();
    after = untilFull(s);
  });
  // 63 each; with the active segment given up, 2 after compact().
  expect(without).toBeGreaterThan(60);
  expect(after).toBeGreaterThanOrEqual(without);
});

// The active segment holds a dead entry: compact() gives it up, cleans it
// and frees it (kept, its dead entry would stay).
test('compact() cleans an active segment that holds a dead entry', () => {
  withStore('kv-compact-active-dead.kv', ({ db, put }) => {
    for (let i = 0; i < 20; i++) put('x', value(i));
    for (let i = 0; i < 20; i++) put(`k${i}`, value(i));
    expect(db.stats().segments.used).toBe(1);
    const dead = db.stats().deadBytes;
    expect(db.compact()).toBe(1);
    expect(db.stats().segments.used).toBe(1);
    expect(db.stats().deadBytes).toBeLessThan(dead / 10);
  });
});

// A run left whole (no room for its copy, forced here) makes compact()
// carry the tombstones of the segments after it to the log's end: with the
// active segment kept, into its room. It is then worth cleaning (a
// tombstone is a dead entry), but it is where the copies go: cleaned, it
// would be freed with the copies, and the live entries it held, in it.
test('compact() carries tombstones into a kept active segment and leaves it in use', () => {
  const real = cleaning.roomForRun;
  cleaning.roomForRun = () => false;
  try {
    withStore('kv-compact-active-carry.kv', ({ db, model, put }) => {
      db.batch([
        { type: 'put', key: 'big', value: Buffer.alloc(100 * 1024, 2) },
        { type: 'put', key: 'y', value: Buffer.from('old') },
      ]);
      model.set('big', Buffer.alloc(100 * 1024, 2));
      for (let i = 0; i < 70; i++) put('pad', value(i));
      expect(db.delete('y')).toBe(true);
      for (let i = 0; i < 140; i++) put('pad', value(i));
      // New keys until a segment opens: the active one holds only live entries.
      const used = db.stats().segments.used;
      for (let n = 0; db.stats().segments.used === used; n++) put(`q${n}`, value(n));
      const dead = db.stats().deadBytes;
      expect(db.compact()).toBeGreaterThan(0);
      expect(db.stats().deadBytes).toBeLessThan(dead / 4);
      expect(db.get('y')).toBeUndefined();
    });
  } finally {
    cleaning.roomForRun = real;
  }
});
