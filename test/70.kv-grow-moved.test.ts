// A store renamed, replaced or removed while it is open: its writer grows
// the file it opened and locked, and its readers map that file again, never
// the file another process has since put at its path. The moved store keeps
// every acknowledged write; the file at the path is left byte for byte.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { KVStore } from '../lib';
import { testDir } from './helpers';

const SEG = 16 * 1024;
const SMALL = 4096 + 3 * SEG;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(testDir(), 'grow-moved-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Puts keys `${prefix}0..n-1` until the file at `file` has grown, at least `n`; returns how many. */
function putUntilGrown(db: KVStore, prefix: string, file: string, n = 200): number {
  const before = fs.statSync(file).size;
  let i = 0;
  for (; i < n || fs.statSync(file).size === before; i++) {
    if (i > 100_000) throw new Error('the store never grew');
    db.put(`${prefix}${i}`, Buffer.alloc(500, i & 0xff));
  }
  expect(fs.statSync(file).size).toBeGreaterThan(before);
  return i;
}

function expectAll(db: KVStore, prefix: string, n: number): void {
  for (let i = 0; i < n; i++) expect(db.get(`${prefix}${i}`)?.equals(Buffer.alloc(500, i & 0xff))).toBe(true);
}

test('renamed, with a foreign file at its path: the writer grows the renamed file and leaves the foreign one alone', () => {
  const f = path.join(dir, 'app.kv');
  const moved = path.join(dir, 'app.kv.old');
  const db = KVStore.open(f, { create: true, size: SMALL, segmentSize: SEG, maxSize: 1 << 24 });
  db.put('before', '1');
  fs.renameSync(f, moved);
  const foreign = randomBytes(1 << 20);
  fs.writeFileSync(f, foreign);
  const n = putUntilGrown(db, 'k', moved);
  expect(db.getString('before')).toBe('1');
  expectAll(db, 'k', n);
  db.close();
  expect(fs.readFileSync(f).equals(foreign)).toBe(true);
  const again = KVStore.open(moved, { readOnly: true });
  expect(again.count).toBe(n + 1);
  expectAll(again, 'k', n);
  again.close();
});

test('replaced by another store (mv new over old) while both have writers: neither takes the other\'s file', () => {
  const f = path.join(dir, 'app.kv');
  const old = KVStore.open(f, { create: true, size: SMALL, segmentSize: SEG, maxSize: 1 << 24 });
  old.put('k', 'OLD');
  const oldFile = path.join(dir, 'old-inode');
  fs.linkSync(f, oldFile); // a name for the old file once the path is the new one's
  const next = path.join(dir, 'app.kv.new');
  const fresh = KVStore.open(next, { create: true, size: SMALL, segmentSize: SEG, maxSize: 1 << 24 });
  fresh.put('k', 'NEW');
  fs.renameSync(next, f);
  // The old writer grows its (now nameless) file; the new one goes on at the path.
  const n = putUntilGrown(old, 'a', oldFile);
  const m = putUntilGrown(fresh, 'b', f);
  expect(old.getString('k')).toBe('OLD');
  expect(fresh.getString('k')).toBe('NEW');
  expectAll(old, 'a', n);
  old.close();
  fresh.close();
  const reopened = KVStore.open(f, { readOnly: true });
  expect(reopened.getString('k')).toBe('NEW');
  expect(reopened.count).toBe(m + 1);
  expectAll(reopened, 'b', m);
  expect(reopened.has('a0')).toBe(false);
  reopened.close();
  const kept = KVStore.open(oldFile, { readOnly: true });
  expect(kept.getString('k')).toBe('OLD');
  expectAll(kept, 'a', n);
  kept.close();
});

test('a reader follows the renamed store\'s writer across growth, not the foreign file at the path', () => {
  const f = path.join(dir, 'app.kv');
  const moved = path.join(dir, 'app.kv.old');
  const db = KVStore.open(f, { create: true, size: SMALL, segmentSize: SEG, maxSize: 1 << 24 });
  db.put('before', '1');
  const reader = KVStore.open(f, { readOnly: true });
  expect(reader.getString('before')).toBe('1');
  fs.renameSync(f, moved);
  const foreign = randomBytes(1 << 20);
  fs.writeFileSync(f, foreign);
  const n = putUntilGrown(db, 'k', moved);
  expect(reader.count).toBe(n + 1);
  expectAll(reader, 'k', n);
  expect(reader.stats().reader?.remaps ?? 0).toBeGreaterThan(0);
  reader.close();
  db.close();
  expect(fs.readFileSync(f).equals(foreign)).toBe(true);
});

describe('without /proc (a mount namespace where it is unmounted)', () => {
  // The same writer in a child whose /proc is gone: it grows its file by
  // path, once the path is checked to name it still, and refuses to grow
  // one that was moved (ERR_PMEM_INVALID) rather than map another file.
  const script = (moved: boolean): string => `
    const fs = require('fs');
    if (fs.existsSync('/proc/self')) { console.log('PROC'); process.exit(0); }
    const { KVStore } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist'))});
    const f = process.argv[1];
    const db = KVStore.open(f, { create: true, size: ${SMALL}, segmentSize: ${SEG}, maxSize: 1 << 24 });
    db.put('before', '1');
    if (${moved}) { fs.renameSync(f, f + '.old'); fs.writeFileSync(f, 'foreign'); }
    let i = 0;
    try {
      for (; i < 400; i++) db.put('k' + i, Buffer.alloc(500, 1));
      console.log('GREW ' + fs.statSync(${moved} ? f + '.old' : f).size);
    } catch (e) {
      console.log('REFUSED ' + i + ' ' + e.code + ' ' + e.message);
    }
    console.log('BEFORE ' + db.getString('before'));
    db.close();
  `;

  function run(moved: boolean): string {
    const f = path.join(dir, moved ? 'moved.kv' : 'stays.kv');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'umount -l /proc && exec "$0" -e "$1" "$2"', process.execPath, script(moved), f], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`unshare failed (status ${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  const root = process.getuid?.() === 0;
  (root ? test : test.skip)('a store that stays grows; one moved is refused, and the file at its path is left', () => {
    const stays = run(false);
    expect(stays).not.toMatch(/PROC/);
    expect(stays).toMatch(/^GREW (\d+)$/m);
    expect(Number(/^GREW (\d+)$/m.exec(stays)![1])).toBeGreaterThan(SMALL);
    const moved = run(true);
    expect(moved).toMatch(/^REFUSED \d+ ERR_PMEM_INVALID '.*moved\.kv' no longer names the file open here \(renamed, replaced or removed\), and without \/proc it cannot be mapped again$/m);
    expect(moved).toMatch(/^BEFORE 1$/m);
    expect(fs.readFileSync(path.join(dir, 'moved.kv'), 'utf8')).toBe('foreign');
  });
});
