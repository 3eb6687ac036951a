// A KVStore that may still grow (maxSize above its size), on a filesystem
// with less room than a growth asks for. The store doubles its segments
// when it grows; a filesystem without room for that, but with room for the
// segments a put needs, gets those. And a filesystem with no room at all
// leaves the store as one at maxSize is: its dead space is reclaimed, so
// that overwrites go on, and a put fails only when nothing can be freed.
// Runs on a small tmpfs this file mounts (as root).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { KVStore } from '../lib';
import { expectPmemError, fillFilesystem, mountTmpfs, unmount } from './helpers';

const SEG = 64 * 1024;
const HEADER = 4096;
const LEAST = HEADER + 3 * SEG;

const dir = mountTmpfs('2m', 'a KVStore growing on a filesystem with little room');
const onFs = dir === null ? test.skip : test;

/** Stores a test opened: closed after it, failed or not, so that the filesystem unmounts. */
const open: KVStore[] = [];

afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

afterAll(() => unmount(dir));

/** A new store of three segments that may grow to 1 MiB. */
function growable(file: string): KVStore {
  const s = KVStore.open(file, { create: true, segmentSize: SEG, size: LEAST, maxSize: 1024 * 1024 });
  open.push(s);
  return s;
}

beforeEach(() => {
  if (dir === null) return;
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
});

/** Bytes the filesystem of `dir` has free. */
function free(d: string): number {
  const s = fs.statfsSync(d);
  return s.bavail * s.bsize;
}

/** A file that takes all but `left` bytes of the free space of `d`. */
function leave(d: string, left: number): void {
  const pad = free(d) - left;
  expect(pad).toBeGreaterThan(0);
  fs.writeFileSync(path.join(d, 'pad'), Buffer.alloc(pad, 1));
  expect(free(d)).toBe(left);
}

onFs('with room for one more segment and not for twice as many, a full store grows by one and takes the put', () => {
  const file = path.join(dir!, 'kv');
  const s = growable(file);
  // Doubling asks for three more segments (192 KiB); one (64 KiB) fits.
  leave(dir!, 100 * 1024);
  const value = Buffer.alloc(1000, 7);
  let n = 0;
  // Three segments: the one in use fills, then growth is the only way on.
  for (; n < 70; n++) s.put(`k${n}`, value);
  expect(fs.statSync(file).size).toBe(LEAST + SEG);
  expect(s.stats().segments.total).toBe(4);
  for (let i = 0; i < n; i++) expect(s.get(`k${i}`)).toEqual(value);
  const again = KVStore.open(file, { readOnly: true });
  expect(again.count).toBe(n);
  again.close();
});

onFs('with no room to grow, overwrites of a key go on as at maxSize: dead space is reclaimed, the file keeps its size', () => {
  const file = path.join(dir!, 'kv');
  const s = growable(file);
  fillFilesystem(path.join(dir!, 'pad'));
  // Twenty segments' worth of writes, one key live.
  const rounds = Math.ceil((20 * SEG) / 1000);
  for (let i = 0; i < rounds; i++) s.put('same', Buffer.alloc(1000, i % 251));
  expect(s.get('same')).toEqual(Buffer.alloc(1000, (rounds - 1) % 251));
  expect(s.count).toBe(1);
  expect(fs.statSync(file).size).toBe(LEAST);
});

onFs('with no room to grow and nothing dead, a put fails with the filesystem\'s ERR_PMEM_NO_SPACE; once there is room it grows', () => {
  const file = path.join(dir!, 'kv');
  const s = growable(file);
  fillFilesystem(path.join(dir!, 'pad'));
  const value = Buffer.alloc(1000, 3);
  let n = 0;
  let error: unknown;
  try {
    for (; n < 1000; n++) s.put(`k${n}`, value);
  } catch (e) {
    error = e;
  }
  expect(n).toBeGreaterThan(50);
  expect(error).toMatchObject({ code: 'ERR_PMEM_NO_SPACE', message: expect.stringContaining('No space left on device') });
  expect(fs.statSync(file).size).toBe(LEAST);
  expectPmemError(() => s.put('more', value), 'ERR_PMEM_NO_SPACE');
  for (let i = 0; i < n; i++) expect(s.get(`k${i}`)).toEqual(value);
  fs.rmSync(path.join(dir!, 'pad'));
  s.put('more', value);
  expect(fs.statSync(file).size).toBeGreaterThan(LEAST);
  expect(s.count).toBe(n + 1);
});
