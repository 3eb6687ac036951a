// A rename of a value larger than a segment writes one record in a run of
// segments: the put of the new name, and a tombstone. The run's live entry
// needs as many segments as the run, more than compaction is sure to find
// free; compact() and the writes' cleaning pass over it, and clean the rest.
import * as fs from 'node:fs';

import { KVStore } from '../lib';
import { cleaning } from '../lib/kv/compact';
import { rng, tmpFile } from './helpers';

const SEGMENT = 64 * 1024;
const SIZE = 4096 + 16 * SEGMENT;
const BIG = Buffer.alloc(100 * 1024, 1);
const value = (n: number): Buffer => Buffer.alloc(1000, n & 255);

/** A store of SIZE, its model, and a put that keeps both. */
interface Run {
  db: KVStore;
  model: Map<string, Buffer>;
  put(k: string, v: Buffer): void;
}

/**
 * Runs `body` on a new store, then checks it against the model (and that
 * `gone` is absent) before and after a reopen.
 */
function withStore(name: string, gone: string, body: (r: Run) => void): void {
  const file = tmpFile(name);
  const db = KVStore.open(file, { create: true, size: SIZE, maxSize: SIZE, segmentSize: SEGMENT });
  const model = new Map<string, Buffer>();
  const check = (kv: KVStore): void => {
    expect(kv.get(gone)).toBeUndefined();
    expect(kv.count).toBe(model.size);
    for (const [k, v] of model) expect(kv.get(k)).toEqual(v);
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
 * Overwrites of keys written after the run (cleaning always has a victim
 * with fewer live bytes than the run), then new keys until the store is
 * full. @returns how many new keys (c0, c1, ...) went in
 */
function fillAround({ put }: Run, rand: () => number): number {
  for (let i = 0; i < 5000; i++) put(`b${Math.floor(rand() * 200)}`, value(i));
  let n = 0;
  for (;; n++) {
    try {
      put(`c${n}`, value(n));
      put(`b${Math.floor(rand() * 200)}`, value(n));
    } catch (e) {
      expect((e as { code?: string }).code).toBe('ERR_PMEM_NO_SPACE');
      return n;
    }
  }
}

/** Deletes the n keys fillAround put, which may take one of the two segments puts leave free. @returns the dead bytes then */
function deleteNew({ db, model }: Run, n: number): number {
  for (let i = 0; i < n; i++) {
    expect(db.delete(`c${i}`)).toBe(true);
    model.delete(`c${i}`);
  }
  expect(db.stats().segments.free).toBeLessThanOrEqual(2);
  const dead = db.stats().deadBytes;
  expect(dead).toBeGreaterThan(SIZE / 4);
  return dead;
}

test('compact() of a store down to its last free segment passes over a renamed large value', () => {
  withStore('kv-compact-run.kv', 'big', (r) => {
    const { db, model, put } = r;
    for (let i = 0; i < 200; i++) put(`a${i}`, value(i));
    put('big', BIG);
    expect(db.rename('big', 'big2')).toBe(true);
    model.delete('big');
    model.set('big2', BIG);
    for (let i = 0; i < 200; i++) put(`b${i}`, value(i));
    const dead = deleteNew(r, fillAround(r, rng(1)));
    db.compact();
    expect(db.stats().deadBytes).toBeLessThan(dead / 10);
    for (let i = 0; i < 100; i++) put(`n${i}`, value(i));
  });
});

// The same with the large value written by a batch that also holds a put
// it overwrites and the first put of a key deleted later: the run has dead
// puts, so no tombstone newer than it may go before it is cleaned, and its
// live entry needs more free segments than there are.
test('compact() cleans around a run whose copies find no room, and keeps every tombstone newer than it', () => {
  withStore('kv-compact-run-batch.kv', 'y', (r) => {
    const { db, model, put } = r;
    for (let i = 0; i < 200; i++) put(`a${i}`, value(i));
    db.batch([
      { type: 'put', key: 'big2', value: BIG },
      { type: 'put', key: 'x', value: Buffer.from('a') },
      { type: 'put', key: 'x', value: Buffer.from('b') },
      { type: 'put', key: 'y', value: Buffer.from('old') },
    ]);
    model.set('big2', BIG);
    model.set('x', Buffer.from('b'));
    for (let i = 0; i < 200; i++) put(`b${i}`, value(i));
    // y's put in the run dies by a tombstone in a newer segment, which the
    // overwrites of fillAround leave mostly dead.
    expect(db.delete('y')).toBe(true);
    const n = fillAround(r, rng(1));
    // Full with little dead: the writes' cleaning went around the run.
    expect(db.stats().segments.free).toBeLessThanOrEqual(2);
    expect(db.stats().deadBytes).toBeLessThan(SIZE / 20);
    db.compact();
    const dead = deleteNew(r, n);
    expect(db.compact()).toBeGreaterThan(0);
    expect(db.stats().deadBytes).toBeLessThan(dead / 4);
    for (let i = 0; i < 100; i++) put(`n${i}`, value(i));
    for (let i = 0; i < 2000; i++) put(`n${i % 100}`, value(i));
  });
});

// A run left whole (no room for its copy, forced here) holds a dead put of
// a key whose tombstone lies in a newer segment. compact() frees that
// segment with the tombstone copied to the log's end: dropped, the dead
// put would be the key's newest entry after a reopen.
test('a run left whole keeps the tombstones newer than it: a key it holds a dead put of stays deleted after compact() and a reopen', () => {
  const real = cleaning.roomForRun;
  cleaning.roomForRun = () => false;
  const file = tmpFile('kv-compact-run-carry.kv');
  const db = KVStore.open(file, { create: true, size: SIZE, maxSize: SIZE, segmentSize: SEGMENT });
  try {
    db.batch([
      { type: 'put', key: 'big', value: BIG },
      { type: 'put', key: 'y', value: Buffer.from('old') },
    ]);
    // Overwrites of one key move the log past the run and leave what they
    // wrote dead; y's tombstone lies among them.
    for (let i = 0; i < 70; i++) db.put('pad', value(i));
    expect(db.delete('y')).toBe(true);
    for (let i = 0; i < 140; i++) db.put('pad', value(i));
    const dead = db.stats().deadBytes;
    expect(db.compact()).toBeGreaterThan(0);
    expect(db.stats().deadBytes).toBeLessThan(dead / 4);
    expect(db.get('y')).toBeUndefined();
    db.close();
    const again = KVStore.open(file);
    try {
      expect(again.get('y')).toBeUndefined();
      expect(again.get('big')).toEqual(BIG);
      expect(again.get('pad')).toEqual(value(139));
      expect(again.count).toBe(2);
    } finally {
      again.close();
    }
  } finally {
    cleaning.roomForRun = real;
    if (!db.closed) db.close();
    fs.rmSync(file, { force: true });
  }
});

// A batch with two values larger than a segment writes one run, and the
// copy of each needs a run of its own. With free segments for one of them
// and one besides, compaction copied the first and found no room for the
// second: the run stayed whole, the copy took the free segments, and the
// store (1 segment free, 89 KiB dead) took neither a put nor a delete, and
// compact() freed nothing.
test('a run with two values larger than a segment is copied only when runs for both are free', () => {
  withStore('kv-compact-run-two.kv', 'k0', ({ db, model, put }) => {
    const big1 = Buffer.alloc(Math.floor(1.2 * SEGMENT), 1);
    const big2 = Buffer.alloc(Math.floor(1.2 * SEGMENT), 2);
    db.batch([
      { type: 'put', key: 'big1', value: big1 },
      { type: 'put', key: 'big2', value: big2 },
      { type: 'put', key: 'x', value: Buffer.from('a') },
    ]);
    model.set('big1', big1).set('big2', big2);
    for (let n = 0; db.stats().segments.free > 3; n++) put(`k${n}`, value(n + 1));
    put('x', Buffer.from('b')); // the run now holds a dead put
    expect(db.stats().segments.free).toBe(3);
    db.compact();
    expect(db.stats().segments.free).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 50; i++) {
      expect(db.delete(`k${i}`)).toBe(true);
      model.delete(`k${i}`);
    }
    for (let i = 0; i < 20; i++) put(`q${i}`, value(i));
    expect(db.compact()).toBeGreaterThan(0);
    expect(db.stats().segments.free).toBeGreaterThanOrEqual(3);
  });
});

// A batch of more than two segments of small puts writes one run of 3
// segments, and its copies fill 3. With 2 free, compaction copied what fit
// and found no room for the rest: the run stayed whole, the copies took
// both free segments, and the store (no segment free, 140 KiB dead) took
// neither a put nor a delete, and compact() freed nothing. The batch here
// is of 200 puts, a run of 4: compact() now fills the active segment's
// room first, and a run of 3's copies fit that room and the 2 free
// segments (it is cleaned whole, 3 free after).
test('a run whose live entries fill more segments than are free is left whole, its copies not begun', () => {
  withStore('kv-compact-run-small.kv', 'k49', ({ db, model, put }) => {
    const ops: { type: 'put'; key: string; value: Buffer }[] = [{ type: 'put', key: 'x', value: Buffer.from('a') }];
    for (let i = 0; i < 200; i++) ops.push({ type: 'put', key: `s${i}`, value: value(i) });
    db.batch(ops);
    for (const op of ops) model.set(op.key, op.value);
    for (let n = 0; db.stats().segments.free > 2; n++) put(`k${n}`, value(n + 1));
    put('x', Buffer.from('b')); // the run now holds a dead put
    expect(db.stats().segments.free).toBe(2);
    db.compact();
    expect(db.stats().segments.free).toBe(2);
    for (let i = 0; i < 50; i++) {
      expect(db.delete(`k${i}`)).toBe(true);
      model.delete(`k${i}`);
    }
    expect(db.compact()).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) put(`q${i}`, value(i));
  });
});
