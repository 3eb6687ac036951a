// What a creator killed part way leaves beside a file, `.NAME.RANDOM.creating`
// (as large as the structure: on /dev/shm, that much memory), is removed by
// the next create of the same name, and nothing else is: not a file a live
// creator holds, not one just made, not a link or another name's file.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { KVStore, ObjPool, Wal } from '../lib';
import { binding } from '../lib/core/binding';
import { LEFTOVER_MS } from '../lib/core/create-file';
import { testDir } from './helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(testDir(), 'leftovers-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file at `name` in the directory, last changed `ageMs` ago. */
function made(name: string, ageMs: number, bytes = 1 << 16): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, Buffer.alloc(bytes, 0x5a));
  const when = (Date.now() - ageMs) / 1000;
  fs.utimesSync(p, when, when);
  return p;
}

const OLD = LEFTOVER_MS + 60_000;

describe('a create removes what crashed creators of the same name left, and only that', () => {
  test.each([
    ['KVStore.open', (f: string) => KVStore.open(f, { create: true }).close()],
    ['Wal.open', (f: string) => Wal.open(f, { create: true, size: 1 << 20 }).close()],
    ['ObjPool.create', (f: string) => ObjPool.create(f, { layout: 'leftovers', size: 16 << 20 }).close()],
  ])('%s', (_name, create) => {
    const f = path.join(dir, 'data');
    const crashed = made('.data.0123456789ab.creating', OLD);
    const crashed2 = made('.data.ffffffffffff.creating', OLD);
    const held = made('.data.aaaaaaaaaaaa.creating', OLD); // a live creator's: it holds the lock
    const fresh = made('.data.bbbbbbbbbbbb.creating', 0); // made a moment ago: its creator may not have locked it yet
    const target = made('target', OLD);
    fs.symlinkSync('target', path.join(dir, '.data.cccccccccccc.creating')); // a link: never a creator's
    const other = made('.other.dddddddddddd.creating', OLD); // another name's
    const notOurs = made('.data.eeeeeeeeeeee.creating.bak', OLD); // not the pattern
    const notHex = made('.data.0123456789aZ.creating', OLD);
    const lock = binding.lockFile(held, true, false);
    try {
      create(f);
    } finally {
      lock.release();
    }
    expect(fs.existsSync(crashed)).toBe(false);
    expect(fs.existsSync(crashed2)).toBe(false);
    const left = fs.readdirSync(dir).sort();
    expect(left).toEqual([
      '.data.0123456789aZ.creating', '.data.aaaaaaaaaaaa.creating', '.data.bbbbbbbbbbbb.creating', '.data.cccccccccccc.creating',
      '.data.eeeeeeeeeeee.creating.bak', '.other.dddddddddddd.creating', 'data', 'target',
    ]);
    // What was left is as it was.
    for (const p of [held, fresh, target, other, notOurs, notHex]) expect(fs.readFileSync(p).equals(Buffer.alloc(1 << 16, 0x5a))).toBe(true);
    expect(fs.readlinkSync(path.join(dir, '.data.cccccccccccc.creating'))).toBe('target');
  });

  test.each([
    ['KVStore.open', (f: string) => KVStore.open(f, { create: true }).close()],
    ['ObjPool.create', (f: string) => ObjPool.create(f, { layout: 'leftovers', size: 16 << 20 }).close()],
  ])('%s beside a path within 23 bytes of PATH_MAX, where DIR/.NAME.RANDOM.creating is too long for open(2)', (_name, create) => {
    let deep = dir;
    while (Buffer.byteLength(deep) + 201 < 4093) deep = path.join(deep, 'd'.repeat(200));
    deep = path.join(deep, 'e'.repeat(4093 - Buffer.byteLength(deep) - 1));
    fs.mkdirSync(deep, { recursive: true });
    const f = path.join(deep, 'a');
    // Reached through a descriptor of the directory, as the create must.
    const d = fs.openSync(deep, 'r');
    const inDeep = (name: string): string => `/proc/self/fd/${d}/${name}`;
    try {
      for (const name of ['.a.0123456789ab.creating', '.b.0123456789ab.creating']) {
        fs.writeFileSync(inDeep(name), Buffer.alloc(1 << 16, 0x5a));
        const when = (Date.now() - OLD) / 1000;
        fs.utimesSync(inDeep(name), when, when);
      }
      create(f);
      expect(fs.readdirSync(deep).sort()).toEqual(['.b.0123456789ab.creating', 'a']);
    } finally {
      // Names in `deep` too long for a path of their own: removed through d,
      // so that afterEach can remove the rest.
      for (const name of fs.readdirSync(deep)) fs.rmSync(inDeep(name), { force: true });
      fs.closeSync(d);
    }
  });

  test('an open of an existing file, and a read-only open, remove nothing', () => {
    const f = path.join(dir, 'data');
    KVStore.open(f, { create: true }).close();
    const crashed = made('.data.0123456789ab.creating', OLD);
    KVStore.open(f, { create: true }).close(); // the file exists: nothing is created
    KVStore.open(f, { readOnly: true }).close();
    expect(fs.existsSync(crashed)).toBe(true);
  });
});
