// A KVStore reader on a file with holes (a copy made with `cp --sparse=always`
// or `rsync -S`, whose free zeroed segments are holes): a writer that opens
// the copy later writes into those ranges, and the reader must see it there.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { openMapping } from '../lib/core/mapping';
import { KVStore } from '../lib/kv/store';
import { expectPmemError, fillFilesystem, mountTmpfs, tmpFile, unmount } from './helpers';

const dist = path.join(__dirname, '..', 'dist');
const SMALL = { size: 256 * 1024, maxSize: 1 << 20, segmentSize: 8 * 1024 };

/** The holes of `file` as [begin, end) pairs (SEEK_HOLE/SEEK_DATA, which node does not expose). */
function holes(file: string): [number, number][] {
  const script = [
    'import os, sys, json',
    'fd = os.open(sys.argv[1], os.O_RDONLY)',
    'size = os.fstat(fd).st_size',
    'out = []',
    'pos = 0',
    'while pos < size:',
    '    h = os.lseek(fd, pos, os.SEEK_HOLE)',
    '    if h >= size: break',
    '    try: d = os.lseek(fd, h, os.SEEK_DATA)',
    '    except OSError: d = size',
    '    out.append([h, d])',
    '    pos = d',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as [number, number][];
}

/** A store with a few entries, copied with `cp --sparse=always`: the copy's free segments are holes. */
function sparseCopy(name: string): { copy: string; keys: Map<string, string>; before: [number, number][] } {
  const file = tmpFile(`${name}.kv`);
  const keys = new Map<string, string>();
  const w = KVStore.open(file, { create: true, ...SMALL });
  for (let i = 0; i < 4; i++) {
    keys.set(`first-${i}`, `value-${i}`);
    w.put(`first-${i}`, `value-${i}`);
  }
  w.close();
  const copy = tmpFile(`${name}-copy.kv`);
  execFileSync('cp', ['--sparse=always', file, copy]);
  fs.rmSync(file);
  const before = holes(copy);
  return { copy, keys, before };
}

/** Whether the file now has a non-zero byte in one of the ranges that were holes. */
function writtenIntoHoles(file: string, ranges: [number, number][]): boolean {
  const bytes = fs.readFileSync(file);
  return ranges.some(([b, e]) => bytes.subarray(b, e).some((x) => x !== 0));
}

describe('a reader on a sparse copy of a store', () => {
  // The reader opens first: the writer's open then reserves the holes (on
  // tmpfs they read as data from then on), and the reader must still see
  // the writer's stores there.
  test('opened before the writer, sees every put the writer makes into former holes', () => {
    const name = 'sparse';
    const { copy, keys, before } = sparseCopy(name);
    // The copy has holes, and most of the file is one: the free segments.
    const holeBytes = before.reduce((n, [b, e]) => n + e - b, 0);
    expect(holeBytes).toBeGreaterThan(SMALL.size / 2);
    const r = KVStore.open(copy, { readOnly: true });
    const w = KVStore.open(copy);
    try {
      for (const [k, v] of keys) expect(r.getString(k)).toBe(v);
      let i = 0;
      // Puts until the writer has written into a former hole, and then as
      // many again; the reader is checked after each one.
      let stopAt = -1;
      for (; stopAt < 0 || i < stopAt; i++) {
        const k = `key-${i}`;
        const v = `${name}-${i}-`.padEnd(300, String.fromCharCode(97 + (i % 26)));
        w.put(k, v);
        keys.set(k, v);
        expect(r.getString(k)).toBe(v);
        if (stopAt < 0 && writtenIntoHoles(copy, before)) stopAt = 2 * (i + 1);
        expect(i).toBeLessThan(2000);
      }
      for (const [k, v] of keys) expect(r.getString(k)).toBe(v);
      expect(r.count).toBe(keys.size);
      // Its first mapping took the holes from anonymous memory; it mapped
      // the file again once the writer had filled them.
      expect(r.stats().reader!.remaps).toBeGreaterThan(0);
    } finally {
      r.close();
      w.close();
      fs.rmSync(copy);
    }
  });

  test('the shared mapping a reader uses needs readOnly, and refuses writes', () => {
    const file = tmpFile('shared-flag.bin');
    openMapping(file, { size: 8192, create: true }).close();
    expect(() => openMapping(file, { shared: true })).toThrow(TypeError);
    expect(() => openMapping(file, { readOnly: true, shared: 1 as unknown as boolean })).toThrow(TypeError);
    const m = openMapping(file, { readOnly: true, shared: true });
    try {
      expect(m.readOnly).toBe(true);
      expectPmemError(() => m.copy(0, Buffer.from('x')), 'ERR_PMEM_READONLY');
      expectPmemError(() => m.store64(0, 1), 'ERR_PMEM_READONLY');
      // It sees a store made through another mapping of the file at once.
      const w = openMapping(file);
      w.copy(4096, Buffer.from('seen'));
      w.close();
      expect(m.view(4096, 4).toString()).toBe('seen');
    } finally {
      m.close();
      fs.rmSync(file);
    }
  });
});

const full = mountTmpfs('4m', 'a full filesystem');
afterAll(() => unmount(full));
const onFull = full === null ? test.skip : test;

describe('a writer on a sparse copy of a store', () => {
  onFull('reserves the holes at open: ERR_PMEM_NO_SPACE on a full filesystem, the file unchanged', () => {
    const file = path.join(full!, 'store.kv');
    const w = KVStore.open(file, { create: true, ...SMALL });
    w.put('k', 'v');
    w.close();
    const copy = path.join(full!, 'copy.kv');
    execFileSync('cp', ['--sparse=always', file, copy]);
    fs.rmSync(file);
    expect(holes(copy).length).toBeGreaterThan(0);
    const filler = path.join(full!, 'filler');
    fillFilesystem(filler);
    const bytes = fs.readFileSync(copy);
    const before = holes(copy);
    // In a child process: without the reservation the open would succeed,
    // and its first store into a hole would be a SIGBUS.
    const script = [
      `const { KVStore } = require(${JSON.stringify(path.join(dist, 'kv', 'store'))});`,
      'let s;',
      'try { s = KVStore.open(process.argv[1]); } catch (e) { console.log(e.code); process.exit(0); }',
      "for (let i = 0; i < 400; i++) s.put('key-' + i, 'x'.repeat(300));",
      "s.close(); console.log('opened');",
    ].join('\n');
    const r = spawnSync(process.execPath, ['-e', script, copy], { encoding: 'utf8' });
    expect({ signal: r.signal, status: r.status, stdout: r.stdout.trim() }).toEqual({ signal: null, status: 0, stdout: 'ERR_PMEM_NO_SPACE' });
    expect(fs.readFileSync(copy).equals(bytes)).toBe(true);
    expect(holes(copy)).toEqual(before);
    // With space again it opens, and its puts go into the former holes.
    fs.rmSync(filler);
    const again = KVStore.open(copy);
    for (let i = 0; i < 400; i++) again.put(`key-${i}`, 'x'.repeat(300));
    expect(writtenIntoHoles(copy, before)).toBe(true);
    again.close();
    fs.rmSync(copy);
  });
});

describe('a reader on a store with holes, on a full filesystem', () => {
  // `truncate -s` past a store's end, or a sparse copy: reading a hole
  // through a shared mapping allocates a page on tmpfs, a SIGBUS when it is
  // full. Each read-only open runs in a child, which such a SIGBUS kills.
  onFull('reads it all without allocating a block: KVStore.open readOnly, pmem kv and pmem check', () => {
    const file = path.join(full!, 'holes.kv');
    const w = KVStore.open(file, { create: true, ...SMALL });
    for (let i = 0; i < 20; i++) w.put(`key-${i}`, `value-${i}`);
    w.close();
    // Holes past the store's data: the segments the grown size adds.
    fs.truncateSync(file, 16 << 20);
    const filler = path.join(full!, 'filler');
    fillFilesystem(filler);
    const before = fs.statSync(file);
    expect(before.blocks * 512).toBeLessThan(1 << 20);
    try {
      const script = [
        `const { KVStore } = require(${JSON.stringify(path.join(dist, 'kv', 'store'))});`,
        'const r = KVStore.open(process.argv[1], { readOnly: true });',
        "console.log(JSON.stringify([r.count, r.getString('key-7'), [...r.keys({ encoding: 'utf8' })].length]));",
        'r.close();',
      ].join('\n');
      const reader = spawnSync(process.execPath, ['-e', script, file], { encoding: 'utf8' });
      expect({ signal: reader.signal, status: reader.status, stdout: reader.stdout.trim(), stderr: reader.stderr })
        .toEqual({ signal: null, status: 0, stdout: '[20,"value-7",20]', stderr: '' });
      const bin = path.join(__dirname, '..', 'bin', 'pmem');
      for (const [args, out] of [
        [['kv', file, 'get', 'key-3'], 'value-3'],
        [['kv', file, 'count'], '20'],
      ] as const) {
        const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
        expect({ args, signal: r.signal, status: r.status, stdout: r.stdout.trim() }).toEqual({ args, signal: null, status: 0, stdout: out });
      }
      const check = spawnSync(process.execPath, [bin, 'check', file], { encoding: 'utf8' });
      expect({ signal: check.signal, status: check.status }).toEqual({ signal: null, status: 0 });
      expect(fs.statSync(file).blocks).toBe(before.blocks);
    } finally {
      fs.rmSync(filler);
      fs.rmSync(file);
    }
  });
});
