// A store reclaims its dead space before it grows: one 15 MB value written
// and deleted again and again grew a 64 MiB store to its 1 GiB maxSize,
// holding 15 MB live and 450 MB dead, before anything was cleaned.
import * as fs from 'node:fs';

import { KVStore } from '../lib';
import { tmpFile } from './helpers';

const MB = 1024 * 1024;

test('writes and deletes of large values stay within the file while dead bytes outweigh live ones', () => {
  const file = tmpFile('grow-dead.kv');
  const db = KVStore.open(file, { create: true, size: 64 * MB, maxSize: 1024 * MB });
  try {
    const v = Buffer.alloc(15_000_000, 0x78);
    for (let i = 1; i <= 31; i++) {
      v.writeUInt32LE(i, 0);
      db.put(`big${i}`, v);
      if (i >= 2) db.delete(`big${i}`);
    }
    expect(db.stats().fileBytes).toBe(64 * MB);
    expect(db.count).toBe(1);
    expect(db.get('big1')?.readUInt32LE(0)).toBe(1);
  } finally {
    db.close();
  }
  const again = KVStore.open(file, { readOnly: true });
  expect([again.count, again.get('big1')?.readUInt32LE(0), again.has('big31')]).toEqual([1, 1, false]);
  again.close();
  fs.rmSync(file);
});

test('overwrites of a few keys stay within the file; new live data still grows it', () => {
  const file = tmpFile('grow-live.kv');
  const db = KVStore.open(file, { create: true, size: 16 * MB, maxSize: 256 * MB, segmentSize: MB });
  try {
    const v = Buffer.alloc(100_000, 0x61);
    for (let i = 0; i < 2000; i++) db.put(`k${i % 10}`, v);
    expect(db.stats().fileBytes).toBe(16 * MB);
    for (let i = 0; i < 400; i++) db.put(`new${i}`, v); // 40 MB live
    expect(db.stats().fileBytes).toBeGreaterThan(40 * MB);
    expect(db.count).toBe(410);
  } finally {
    db.close();
  }
  fs.rmSync(file);
});
