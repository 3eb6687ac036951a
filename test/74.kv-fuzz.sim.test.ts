// KVStore on damaged images: bit flips, garbage, zeroed ranges, copied
// segments and truncations of a store that went through overwrites,
// deletes, batches, renames and compactions. Each image either opens, with
// only keys and values that were once written, a count that agrees with a
// scan, and a working store; or fails with ERR_PMEM_CORRUPT. Nothing else
// may be thrown. PMEM_KV_FUZZ sets the number of images (default 12000).
import * as fs from 'node:fs';

import { KVStore, type Region } from '../lib';
import { tmpFile } from './helpers';

const IMAGES = Number(process.env.PMEM_KV_FUZZ ?? 12000);
const SIZE = 64 * 1024;
const SEG = 1024;

function memoryRegion(bytes: Buffer): Region {
  return { bytes, length: bytes.length, granularity: 'byte', flush() {}, drain() {}, persist() {} };
}

let x = 0x2545f491;
function rnd(n: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) % n;
}

/** A store image, and every value each key ever held. */
function build(): { image: Buffer; written: Map<string, Set<string>> } {
  const image = Buffer.alloc(SIZE);
  const store = KVStore.openRegion(memoryRegion(image), { create: true, segmentSize: SEG });
  const written = new Map<string, Set<string>>();
  const note = (k: string, v: string): void => {
    if (!written.has(k)) written.set(k, new Set());
    written.get(k)!.add(v);
  };
  for (let i = 0; i < 400; i++) {
    const k = `key${rnd(40)}`;
    const r = rnd(10);
    if (r < 5) {
      const v = `v${i}${'.'.repeat(rnd(120))}`;
      store.put(k, v);
      note(k, v);
    } else if (r < 7) store.delete(k);
    else if (r < 8) {
      const to = `key${rnd(40)}`;
      const v = store.getString(k);
      if (store.rename(k, to) && v !== undefined) note(to, v);
    } else if (r < 9) {
      const v = `b${i}`;
      store.batch([{ type: 'put', key: k, value: v }, { type: 'del', key: `key${rnd(40)}` }]);
      note(k, v);
    } else if (i % 3 === 0) store.compact();
  }
  store.close();
  return { image, written };
}

function mutate(base: Buffer): Buffer {
  const kind = rnd(6);
  let img = Buffer.from(base);
  const at = (): number => (rnd(4) === 0 ? rnd(4096) : 4096 + rnd(SIZE - 4096));
  switch (kind) {
    case 0: // bit flips
      for (let n = 1 + rnd(8); n > 0; n--) {
        const i = at();
        img[i] ^= 1 << rnd(8);
      }
      break;
    case 1: { // garbage
      const i = at();
      for (let j = i; j < Math.min(SIZE, i + 1 + rnd(200)); j++) img[j] = rnd(256);
      break;
    }
    case 2: { // a zeroed range
      const i = at();
      img.fill(0, i, Math.min(SIZE, i + 1 + rnd(600)));
      break;
    }
    case 3: { // one segment copied over another
      const from = 4096 + rnd(60) * SEG;
      const to = 4096 + rnd(60) * SEG;
      base.copy(img, to, from, from + SEG);
      break;
    }
    case 4: // truncation
      img = img.subarray(0, rnd(SIZE));
      break;
    default: { // a flipped word in a header or record length field
      const i = 4096 + rnd(60) * SEG + rnd(8) * 8;
      img.writeUInt32LE(rnd(2 ** 32), i);
      break;
    }
  }
  return img;
}

function check(store: KVStore, written: Map<string, Set<string>>): void {
  let n = 0;
  for (const [k, v] of store.range({ encoding: 'utf8' })) {
    n++;
    const key = k as string;
    if (!written.get(key)?.has(v as string)) throw new Error(`key '${key.slice(0, 20)}' holds a value never written to it`);
    if (store.getString(key) !== v) throw new Error('get disagrees with the scan');
  }
  if (n !== store.count) throw new Error(`count ${store.count}, scan ${n}`);
}

test(`${IMAGES} damaged images open with their valid prefix or fail with ERR_PMEM_CORRUPT`, () => {
  const { image, written } = build();
  const outcomes = { opened: 0, corrupt: 0 };
  for (let i = 0; i < IMAGES; i++) {
    const img = mutate(image);
    let store: KVStore;
    try {
      store = KVStore.openRegion(memoryRegion(img));
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_PMEM_CORRUPT') throw new Error(`image ${i}: open threw ${e}`);
      outcomes.corrupt++;
      continue;
    }
    outcomes.opened++;
    check(store, written);
    // The recovered store takes writes (or is full) and reopens the same.
    try {
      store.put('fuzz-after', 'after');
      store.close();
      const again = KVStore.openRegion(memoryRegion(img));
      expect(again.getString('fuzz-after')).toBe('after');
      again.close();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ERR_PMEM_NO_SPACE' && code !== 'ERR_PMEM_CORRUPT') throw new Error(`image ${i}: write after open threw ${e}`);
    }
  }
  // eslint-disable-next-line no-console
  console.log(`KVStore fuzz: ${IMAGES} images, ${outcomes.opened} opened, ${outcomes.corrupt} ERR_PMEM_CORRUPT`);
  expect(outcomes.opened).toBeGreaterThan(IMAGES / 4);
  expect(outcomes.corrupt).toBeGreaterThan(0);
});

test('damaged store files, mapped for real, open or fail with ERR_PMEM_CORRUPT', () => {
  const { image, written } = build();
  for (let i = 0; i < 200; i++) {
    const file = tmpFile('kv-fuzz');
    fs.writeFileSync(file, mutate(image));
    try {
      const store = KVStore.open(file);
      check(store, written);
      store.close();
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_PMEM_CORRUPT') throw new Error(`file ${i}: open threw ${e}`);
    }
    fs.rmSync(file);
  }
});

test('a segment header damaged in front of intact records is ERR_PMEM_CORRUPT, not a segment dropped with the writes it holds', () => {
  const image = Buffer.alloc(SIZE);
  const store = KVStore.openRegion(memoryRegion(image), { create: true, segmentSize: SEG });
  for (let i = 0; i < 40; i++) store.put(`key${i}`, 'x'.repeat(60));
  store.delete('key0');
  store.close();
  const first = 4096;
  expect(image.toString('latin1', first, first + 4)).toBe('KVSG');
  // The magic, the checksum, the span, the zero after it: each damaged alone.
  for (const byte of [0, 3, 4, 7, 16, 20]) {
    for (let seg = 0; seg < 3; seg++) {
      const img = Buffer.from(image);
      img[first + seg * SEG + byte] ^= 0x40;
      expect(() => KVStore.openRegion(memoryRegion(img), { readOnly: true }))
        .toThrow(expect.objectContaining({ code: 'ERR_PMEM_CORRUPT', message: expect.stringMatching(new RegExp(`^segment ${seg}: its header is damaged`)) }));
    }
  }
  // A freed segment's header (sequence number zero) in front of its old records is free space.
  const freed = Buffer.from(image);
  freed.fill(0, first + 8, first + 16);
  const s = KVStore.openRegion(memoryRegion(freed), { readOnly: true });
  expect(s.has('key1')).toBe(false);
  expect(s.getString('key39')).toBe('x'.repeat(60));
  s.close();
});
