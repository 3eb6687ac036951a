// KVStore.openRegion over bytes that hold no store: one ERR_PMEM_CORRUPT
// that says so and says what create formats, with or without create, and
// nothing written; a store whose superblock is damaged says that instead.
import { KVStore, Superblock, Wal } from '../lib';
import { CrashSim, seededRandom } from '../lib/testing';

const SIZE = 1 << 20;
const SEG = 16384;
const NO_STORE = 'the region holds no pmem KV store at offset 0: ';
const CREATE_SAYS = 'create formats only a zeroed region (its first 256 bytes, the store header, all zero), and writes nothing to any other';

function random(sim: CrashSim, from: number, to: number, seed: number): void {
  const r = seededRandom(seed);
  for (let i = from; i < to; i++) sim.bytes[i] = Math.floor(r() * 256);
}

function refused(sim: CrashSim, what: string, options: object[]): void {
  for (const o of options) {
    const before = Buffer.from(sim.bytes);
    let error: unknown;
    try {
      KVStore.openRegion(sim, o).close();
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_CORRUPT', message: `${NO_STORE}${what}. ${CREATE_SAYS}` });
    expect(sim.bytes.equals(before)).toBe(true);
  }
}

const ALL = [{}, { create: true, segmentSize: SEG }, { readOnly: true }];
const FOREIGN = 'its first bytes are not a store header, and not all zero (other data, or another structure)';

test.each([1, 2, 3])('random bytes are no store, with or without create (seed %i)', (seed) => {
  const sim = new CrashSim(SIZE);
  random(sim, 0, SIZE, seed);
  refused(sim, FOREIGN, ALL);
});

test('a Wal\'s bytes are no store, and the log is left whole', () => {
  const sim = new CrashSim(SIZE);
  const wal = Wal.format(sim);
  wal.append(Buffer.from('a record'));
  refused(sim, FOREIGN, ALL);
  expect([...Wal.open(sim).read()].map((r) => String(r.data))).toEqual(['a record']);
});

test('a region zeroed in its second half only is no store; one zeroed in its first half has a zero header, and create formats it', () => {
  const back = new CrashSim(SIZE);
  random(back, 0, SIZE / 2, 7);
  refused(back, FOREIGN, ALL);

  const front = new CrashSim(SIZE);
  random(front, SIZE / 2, SIZE, 8);
  refused(front, 'its store header is all zero bytes (open it with create to format it)', [{}]);
  refused(front, 'its store header is all zero bytes, and a read-only open formats nothing', [{ create: true, readOnly: true }]);
  const s = KVStore.openRegion(front, { create: true, segmentSize: SEG });
  s.put('k', 'v');
  s.close();
  expect(String(KVStore.openRegion(front).get('k'))).toBe('v');
});

test('a superblock of another structure in the store\'s place is no store', () => {
  const sim = new CrashSim(SIZE);
  // A store's superblock, with a payload that is not a store's (another magic).
  KVStore.openRegion(sim, { create: true, segmentSize: SEG }).close();
  Superblock.open(sim, { offset: 0, capacity: 32 }).write(Buffer.alloc(32, 0x41));
  refused(sim, 'its first bytes are a superblock of another structure', ALL);
});

test.each([
  ['a byte of both replicas\' payloads', (b: Buffer) => { for (const at of [64 + 24, 192 + 24]) b[at] ^= 0xff; }, 'superblock at 0: no committed replica is valid'],
  ['both replicas\' headers but their magic (the capacity word among them)', (b: Buffer) => {
    for (const at of [0, 128]) for (let i = 8; i < 60; i++) b[at + i] ^= 0xff;
  }, 'superblock at 0: it has a capacity of'],
])('a store whose superblock is damaged (%s) says so, not that it holds no store', (_, damage, detail) => {
  const sim = new CrashSim(SIZE);
  KVStore.openRegion(sim, { create: true, segmentSize: SEG }).close();
  damage(sim.bytes);
  const before = Buffer.from(sim.bytes);
  for (const o of ALL) expect(() => KVStore.openRegion(sim, o)).toThrow(`the KV store's superblock is damaged: ${detail}`);
  expect(sim.bytes.equals(before)).toBe(true);
});
