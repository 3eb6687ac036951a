// KVStore.unordered() while the store is written and compacted under it:
// every key present at the start and neither deleted nor rewritten since is
// yielded once, with its value, wherever a compaction moved it; no key is
// yielded twice; a key written since the start never is; a rewritten one
// is skipped or yielded with its new value.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { KVStore } from '../lib';
import { KvLog } from '../lib/kv/log';
import { rng, tmpFile } from './helpers';

// Segments freed, counted where the log frees them (compact.ts tells the log first).
let frees = 0;
const realBeforeFree = KvLog.prototype.beforeFree;
beforeAll(() => {
  KvLog.prototype.beforeFree = function (this: KvLog, start: number, end: number): void {
    frees++;
    realBeforeFree.call(this, start, end);
  };
});
afterAll(() => {
  KvLog.prototype.beforeFree = realBeforeFree;
});

const SIZE = 1 << 20;
const SEG = 16 * 1024;

/** Runs unordered() over `keys` keys, calling `during(step)` after each entry; returns what it yielded and checks it. */
function walk(db: KVStore, keys: number, during: (step: number) => void, prefix?: string): { yielded: Map<string, string>; rewritten: Set<string>; deleted: Set<string> } {
  const yielded = new Map<string, string>();
  const rewritten = new Set<string>();
  const deleted = new Set<string>();
  let step = 0;
  for (const [k, v] of db.unordered(prefix, { encoding: 'latin1' })) {
    expect(yielded.has(k)).toBe(false);
    yielded.set(k, v);
    during(step++);
  }
  for (let i = 0; i < keys; i++) {
    const k = `k${String(i).padStart(4, '0')}`;
    if (prefix !== undefined && !k.startsWith(prefix)) continue;
    if (deleted.has(k) || rewritten.has(k)) continue;
    expect([k, yielded.get(k)]).toEqual([k, `v${i}`.repeat(8)]);
  }
  return { yielded, rewritten, deleted };
}

function fill(db: KVStore, keys: number): void {
  for (let i = 0; i < keys; i++) db.put(`k${String(i).padStart(4, '0')}`, `v${i}`.repeat(8));
}

test('compact() after a few entries: the entries it moved ahead of the walk are yielded, each once', () => {
  const db = KVStore.open(tmpFile('unordered-compact.kv'), { create: true, size: SIZE, segmentSize: SEG });
  try {
    fill(db, 300);
    // Dead bytes in every segment, so that compact() moves every live entry.
    for (let i = 0; i < 300; i += 7) db.put(`k${String(i).padStart(4, '0')}`, `v${i}`.repeat(8));
    let freed = 0;
    const r = walk(db, 300, (step) => {
      if (step === 10) freed = db.compact();
    });
    expect(freed).toBeGreaterThan(0);
    expect(r.yielded.size).toBe(300);
  } finally {
    db.close();
  }
});

test.each([1, 2, 3, 4, 5])('overwrites, deletes and new keys inside the loop, with the cleaning the writes pay for (seed %i): a model of what may be yielded', (seed) => {
  // Few segments, so that the writes must clean as they go.
  const db = KVStore.open(tmpFile('unordered-churn.kv'), { create: true, size: 192 * 1024, segmentSize: SEG });
  try {
    const N = 400;
    fill(db, N);
    const random = rng(seed);
    const rewrittenTo = new Map<string, string>();
    const deleted = new Set<string>();
    const added = new Set<string>();
    const yielded = new Map<string, string>();
    let step = 0;
    const freedBefore = frees;
    for (const [k, v] of db.unordered(undefined, { encoding: 'latin1' })) {
      expect(yielded.has(k)).toBe(false);
      yielded.set(k, v);
      // Writes enough to make the store clean segments as it goes.
      for (let w = 0; w < 8; w++) {
        const i = Math.floor(random() * N);
        const key = `k${String(i).padStart(4, '0')}`;
        const roll = random();
        if (roll < 0.6) {
          const value = `w${step}-${w}:${'.'.repeat(200)}`;
          db.put(key, value);
          rewrittenTo.set(key, value);
          deleted.delete(key);
        } else if (roll < 0.8) {
          db.delete(key);
          deleted.add(key);
        } else {
          const fresh = `new${step}-${w}`;
          db.put(fresh, 'x'.repeat(50));
          added.add(fresh);
        }
      }
      step++;
    }
    // The walk met compactions: otherwise it tests nothing here.
    expect(frees).toBeGreaterThan(freedBefore);
    for (const k of added) expect(yielded.has(k)).toBe(false);
    for (let i = 0; i < N; i++) {
      const k = `k${String(i).padStart(4, '0')}`;
      const got = yielded.get(k);
      if (!rewrittenTo.has(k) && !deleted.has(k)) expect([k, got]).toEqual([k, `v${i}`.repeat(8)]);
      // Rewritten (and perhaps deleted since): skipped, or a value it held at some point.
      else if (got !== undefined) expect(got === `v${i}`.repeat(8) || /^w\d+-\d+:\.{200}$/.test(got)).toBe(true);
    }
  } finally {
    db.close();
  }
});

test('with a prefix: only its keys, each once, across a compaction', () => {
  const db = KVStore.open(tmpFile('unordered-prefix.kv'), { create: true, size: SIZE, segmentSize: SEG });
  try {
    fill(db, 300);
    for (let i = 0; i < 300; i += 3) db.put(`k${String(i).padStart(4, '0')}`, `v${i}`.repeat(8));
    let freed = 0;
    const r = walk(db, 300, (step) => {
      if (step === 2) freed = db.compact();
    }, 'k01');
    expect(freed).toBeGreaterThan(0);
    expect([...r.yielded.keys()].every((k) => k.startsWith('k01'))).toBe(true);
    expect(r.yielded.size).toBe(100);
  } finally {
    db.close();
  }
});

test('an iterator dropped unfinished, or finished by return(), costs later compactions nothing', () => {
  const db = KVStore.open(tmpFile('unordered-dropped.kv'), { create: true, size: SIZE, segmentSize: SEG });
  try {
    fill(db, 300);
    const it = db.unordered();
    it.next();
    it.return?.(undefined);
    for (let i = 0; i < 300; i += 2) db.put(`k${String(i).padStart(4, '0')}`, 'y'.repeat(40));
    expect(db.compact()).toBeGreaterThan(0);
    expect(db.getString('k0002')).toBe('y'.repeat(40));
  } finally {
    db.close();
  }
});

test('iterators started and dropped unfinished, on a store that frees nothing, are not all kept: the log sweeps their collected walks', () => {
  // 20,000 walks dropped, 2,000 per job with a collection between: the
  // log sweeps the collected ones as new walks come, so it watches at most
  // about twice the walks alive at its last sweep (one job's, here), and
  // not one per walk ever dropped, which only a free would have swept.
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'kv', 'dropped-walks.js'), tmpFile('dropped-walks.kv'), '10', '2000'], {
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const { watching, dropped, frees } = JSON.parse(r.stdout) as { watching: number; dropped: number; frees: number };
  expect([dropped, frees]).toEqual([20000, 0]);
  expect(watching).toBeGreaterThanOrEqual(1); // the walk still going
  expect(watching).toBeLessThanOrEqual(3 * 2000);
});
