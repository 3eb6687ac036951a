// The length a KVStore records in its superblock (docs/formats.md,
// "KVStore"): written at format and at each growth, and at a writer's open
// when it records less; a file (or region) shorter than it is refused as
// cut short, by a writer's open and a reader's; a store written before
// lengths were recorded (0 there) opens as before.
import * as fs from 'node:fs';
// The module object itself (an `import *` namespace cannot be spied on): lib/kv/store.ts reads fdatasyncSync from it per call.
import nodeFs = require('node:fs');

import { KVStore, openMapping, type Region } from '../lib';
import { DATA_START } from '../lib/kv/format';
import { KvLog } from '../lib/kv/log';
import { recordLength } from '../lib/kv/log-open';
import { Superblock } from '../lib/log/superblock';

// The format, as docs/formats.md gives it: the store's superblock at 0, its
// payload 32 bytes, the recorded length a u64 at 16 in the payload.
const KV_SUPERBLOCK = { offset: 0, capacity: 32 };
const LENGTH_AT = 16;
import { PmemError } from '../lib/core/errors';
import { expectPmemError, tmpFile } from './helpers';

const SEG = 64 * 1024;

/** A Region over plain memory, for a store that needs no durability here. */
function memory(bytes: Buffer, length = bytes.length): Region {
  return { bytes: bytes.subarray(0, length), length, granularity: 'cache-line', flush: () => {}, drain: () => {}, persist: () => {} };
}

/** The length the superblock in `bytes` records (0: none). */
function recordedIn(bytes: Buffer): number {
  const p = Superblock.open(memory(bytes.subarray(0, DATA_START)), KV_SUPERBLOCK).read();
  if (p === undefined) throw new Error('no superblock payload');
  return Number(p.readBigUInt64LE(LENGTH_AT));
}

/** The length the store file at `file` records, read from its first page. */
function recorded(file: string): number {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(DATA_START);
    fs.readSync(fd, head, 0, DATA_START, 0);
    return recordedIn(head);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes the store's payload with no length in it, through the Superblock API: a store written before lengths were recorded. */
function forgetLength(file: string): void {
  const m = openMapping(file);
  try {
    const sb = Superblock.open(m, KV_SUPERBLOCK);
    const p = sb.read()!;
    p.fill(0, LENGTH_AT, LENGTH_AT + 8);
    sb.write(p);
  } finally {
    m.close();
  }
}

/** The error `fn` throws. */
function thrown(fn: () => unknown): PmemError {
  try {
    fn();
  } catch (e) {
    return e as PmemError;
  }
  throw new Error('did not throw');
}

const value = (i: number): string => `value ${i} ${'v'.repeat(1000)}`;

/** A store of `keys` keys that grew from 4 segments: its file is several times that now. */
function grownStore(name: string, keys: number): string {
  const file = tmpFile(name);
  const s = KVStore.open(file, { create: true, size: DATA_START + 4 * SEG, maxSize: DATA_START + 64 * SEG, segmentSize: SEG });
  for (let i = 0; i < keys; i++) s.put(`k${i}`, value(i));
  s.close();
  return file;
}

describe('a store cut short', () => {
  test('is refused by a writer\'s open and a reader\'s with ERR_PMEM_CORRUPT, both lengths, and the file left as it was', () => {
    const file = grownStore('cut.kv', 400);
    const full = fs.statSync(file).size;
    expect(full).toBeGreaterThanOrEqual(DATA_START + 8 * SEG);
    // Cut to a whole number of segments: every segment left is intact, and
    // the store recovers a valid prefix of its log without it.
    const cut = DATA_START + 4 * SEG;
    fs.truncateSync(file, cut);
    const image = fs.readFileSync(file);
    for (const options of [{}, { readOnly: true }, { maxSize: full * 2 }]) {
      const e = thrown(() => KVStore.open(file, options));
      expect(e.name).toBe('PmemError');
      expect(e.code).toBe('ERR_PMEM_CORRUPT');
      expect(e.message).toContain(`is ${cut} bytes, shorter than the ${full}-byte store it holds`);
      expect(e.path).toBe(file);
    }
    expect(fs.readFileSync(file).equals(image)).toBe(true);
    expect(recorded(file)).toBe(full);
  });

  test('a file longer than the store records opens; a reader writes nothing, and a writer records the file\'s length', () => {
    const file = grownStore('longer.kv', 100);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size + 3 * SEG); // as a growth that a crash kept from being recorded leaves it
    const image = fs.readFileSync(file);
    const r = KVStore.open(file, { readOnly: true });
    expect(r.count).toBe(100);
    r.close();
    expect(fs.readFileSync(file).equals(image)).toBe(true);
    expect(recorded(file)).toBe(size);
    // The writer syncs the file's size, then records it.
    const synced: number[] = [];
    const sync = nodeFs.fdatasyncSync;
    const spy = jest.spyOn(nodeFs, 'fdatasyncSync').mockImplementation((fd) => {
      synced.push(recorded(file));
      sync(fd);
    });
    let w: KVStore;
    try {
      w = KVStore.open(file);
    } finally {
      spy.mockRestore();
    }
    expect(synced).toEqual([size]);
    expect(recorded(file)).toBe(size + 3 * SEG);
    expect(w.count).toBe(100);
    w.close();
  });

  test('growth records each new length, once the file\'s new size is synced', () => {
    const file = tmpFile('grows.kv');
    const s = KVStore.open(file, { create: true, size: DATA_START + 4 * SEG, maxSize: DATA_START + 64 * SEG, segmentSize: SEG });
    expect(recorded(file)).toBe(DATA_START + 4 * SEG);
    // What the file and its superblock say at each fdatasync.
    const synced: Array<[number, number]> = [];
    const sync = nodeFs.fdatasyncSync;
    const spy = jest.spyOn(nodeFs, 'fdatasyncSync').mockImplementation((fd) => {
      synced.push([fs.statSync(file).size, recorded(file)]);
      sync(fd);
    });
    const lengths = new Set<number>();
    try {
      for (let i = 0; i < 1500; i++) {
        s.put(`k${i}`, value(i));
        const size = fs.statSync(file).size;
        expect(recorded(file)).toBe(size);
        lengths.add(size);
      }
    } finally {
      spy.mockRestore();
      s.close();
    }
    expect(lengths.size).toBeGreaterThanOrEqual(3); // grown at least twice
    // One sync per growth, of the grown file, while the superblock still
    // recorded the length before it.
    const sizes = [...lengths].sort((a, b) => a - b);
    expect(synced).toEqual(sizes.map((size, k) => [size, k === 0 ? DATA_START + 4 * SEG : sizes[k - 1]]).filter(([size]) => size > DATA_START + 4 * SEG));
  });
});

describe('a store written before lengths were recorded', () => {
  test('opens as before, read-only without a write; a writer\'s open records its length, and a cut is refused from then on', () => {
    const file = grownStore('old.kv', 200);
    const size = fs.statSync(file).size;
    forgetLength(file);
    expect(recorded(file)).toBe(0);
    const image = fs.readFileSync(file);
    const r = KVStore.open(file, { readOnly: true });
    expect(r.count).toBe(200);
    r.close();
    expect(fs.readFileSync(file).equals(image)).toBe(true);
    const w = KVStore.open(file);
    expect(w.getString('k199')).toBe(value(199));
    w.close();
    expect(recorded(file)).toBe(size);
    fs.truncateSync(file, DATA_START + 4 * SEG);
    expectPmemError(() => KVStore.open(file, { readOnly: true }), 'ERR_PMEM_CORRUPT');
  });

  test('cut short before a writer recorded its length, it opens with what is left: nothing tells the cut', () => {
    const file = grownStore('old-cut.kv', 400);
    forgetLength(file);
    fs.truncateSync(file, DATA_START + 4 * SEG);
    const r = KVStore.open(file, { readOnly: true });
    expect(r.count).toBeLessThan(400);
    r.close();
  });
});

describe('a store on a Region', () => {
  test('records the region\'s length at format; a shorter region is refused, a longer one opens and a writer records it', () => {
    const bytes = Buffer.alloc(DATA_START + 16 * SEG);
    const at = DATA_START + 8 * SEG;
    const s = KVStore.openRegion(memory(bytes, at), { create: true, segmentSize: SEG });
    for (let i = 0; i < 200; i++) s.put(`k${i}`, value(i));
    s.close();
    expect(recordedIn(bytes)).toBe(at);
    for (const readOnly of [false, true]) {
      const e = thrown(() => KVStore.openRegion(memory(bytes, at - SEG), { readOnly }));
      expect(e.code).toBe('ERR_PMEM_CORRUPT');
      expect(e.message).toContain(`the region is ${at - SEG} bytes, shorter than the ${at}-byte store it holds`);
    }
    const r = KVStore.openRegion(memory(bytes), { readOnly: true });
    expect(r.count).toBe(200);
    r.close();
    expect(recordedIn(bytes)).toBe(at);
    KVStore.openRegion(memory(bytes)).close();
    expect(recordedIn(bytes)).toBe(bytes.length);
  });

  test('the recorded length never shrinks', () => {
    const bytes = Buffer.alloc(DATA_START + 8 * SEG);
    KVStore.openRegion(memory(bytes), { create: true, segmentSize: SEG }).close();
    const before = Buffer.from(bytes.subarray(0, DATA_START));
    recordLength(memory(bytes), DATA_START + 4 * SEG);
    expect(bytes.subarray(0, DATA_START).equals(before)).toBe(true); // not even rewritten
    recordLength(memory(bytes), bytes.length + SEG);
    expect(recordedIn(bytes)).toBe(bytes.length + SEG);
  });
});

describe('the record at growth', () => {
  /** A log on the first `first` bytes of `bytes` that grows over the rest. */
  function growing(bytes: Buffer, first: number, syncLength: () => void): KvLog {
    return new KvLog(memory(bytes, first), { create: false, readOnly: false, segmentSize: SEG, syncLength }, bytes.length,
      (n) => memory(bytes, n));
  }

  test('the file\'s size is made durable first; a failure there writes nothing, and the next growth records the length', () => {
    const bytes = Buffer.alloc(DATA_START + 32 * SEG);
    const first = DATA_START + 4 * SEG;
    KVStore.openRegion(memory(bytes, first), { create: true, segmentSize: SEG }).close();
    const synced: number[] = [];
    let fail = true;
    const log = growing(bytes, first, () => {
      // Before the record: the superblock still holds the old length.
      synced.push(recordedIn(bytes));
      if (fail) {
        fail = false;
        throw new PmemError('ERR_PMEM_IO', 'fdatasync failed');
      }
    });
    let i = 0;
    let failed: PmemError | undefined;
    for (; i < 400 && failed === undefined; i++) {
      try {
        log.appendPut(`k${i}`, `k${i}`.length, value(i), value(i).length);
      } catch (e) {
        failed = e as PmemError;
      }
    }
    expect(failed?.code).toBe('ERR_PMEM_IO');
    expect(synced).toEqual([first]);
    // The store went on over the grown region, at its old segments, all of
    // which the recorded length covers; nothing past it was written.
    expect(log.index.size).toBe(i - 1);
    expect(recordedIn(bytes)).toBe(first);
    expect(bytes.subarray(first).every((x) => x === 0)).toBe(true);
    // The next put that needs a segment records the length, then uses it.
    log.appendPut('again', 5, value(i), value(i).length);
    expect(synced).toEqual([first, first]);
    const grown = recordedIn(bytes);
    expect(grown).toBeGreaterThan(first);
    for (let j = 0; j < 200; j++) log.appendPut(`more${j}`, `more${j}`.length, value(j), value(j).length);
    const s = KVStore.openRegion(memory(bytes, recordedIn(bytes)), { readOnly: true });
    expect(s.count).toBe(i + 200);
    s.close();
  });
});

describe('a reader beside a writer', () => {
  test('whose mapping was made before the writer grew the file and recorded it opens: the file is as long as recorded', () => {
    const file = tmpFile('reader-grown.kv');
    const w = KVStore.open(file, { create: true, size: DATA_START + 4 * SEG, maxSize: DATA_START + 64 * SEG, segmentSize: SEG });
    w.put('first', 'x');
    const m = openMapping(file, { readOnly: true, shared: true });
    try {
      for (let i = 0; i < 400; i++) w.put(`k${i}`, value(i));
      expect(recorded(file)).toBeGreaterThan(m.length);
      const open = (fileLength?: () => number): KvLog =>
        new KvLog(m, { create: false, readOnly: true, segmentSize: SEG, path: file, fileLength }, m.length, null);
      // The mapping alone looks cut short; the file, looked at after the superblock, is not.
      expectPmemError(() => open(), 'ERR_PMEM_CORRUPT');
      expect(open(() => m.fileSize()).index.size).toBeGreaterThan(0);
      // And opened by path, the reader maps the file as it is now.
      const r = KVStore.open(file, { readOnly: true });
      expect(r.count).toBe(401);
      r.close();
    } finally {
      m.close();
      w.close();
    }
  });
});
