// Superblock on damaged images: bit flips, garbage, zeroed ranges, copied
// ranges, random words and truncations of superblocks that took 1..12
// writes of several capacities. Each open either fails with
// ERR_PMEM_CORRUPT or reads a payload that was once written, under the
// version it was written with, and takes a new write that the next open
// reads. Nothing else may be thrown. PMEM_LOG_FUZZ sets the number of
// images (default 20000).
import { Superblock } from '../lib';
import { seededRandom } from '../lib/testing';
import { damage, fuzzRegion, imageCount, StepBudgetExceeded, touches } from './fuzz-helpers';

const IMAGES = imageCount(20000);
const SIZE = 16384;
const OFFSET = 1024;
const CAPACITIES = [24, 100, 700, 3000];

interface Build {
  image: Buffer;
  capacity: number;
  writes: number;
  /** Each payload written, by its version. */
  payloads: Buffer[];
}

const builds = new Map<number, Build>();

/** Build `k` (of 48): a superblock of one of CAPACITIES that took 1..12 writes. */
function build(k: number): Build {
  let b = builds.get(k);
  if (b !== undefined) return b;
  const random = seededRandom(0x5b00 + k);
  const image = Buffer.alloc(SIZE);
  const capacity = CAPACITIES[k % CAPACITIES.length];
  const region = fuzzRegion(image, Infinity);
  const sb = Superblock.format(region, { offset: OFFSET, capacity });
  const writes = 1 + (k % 12);
  const payloads = [Buffer.alloc(0)];
  for (let v = 1; v <= writes; v++) {
    const p = Buffer.alloc(Math.floor(random() * (capacity + 1)));
    for (let i = 0; i < p.length; i++) p[i] = (v * 37 + i * 11) & 0xff;
    sb.write(p);
    payloads.push(p);
  }
  b = { image: Buffer.from(region.bytes), capacity, writes, payloads };
  builds.set(k, b);
  return b;
}

/** Opens damaged image `seed`: undefined when it behaved, else what went wrong. */
function fuzzOne(seed: number): { outcome: 'read' | 'corrupt'; error?: string } {
  const random = seededRandom(seed);
  const { image, capacity, writes, payloads } = build(seed % 48);
  const replica = 64 + Math.ceil(capacity / 64) * 64;
  // The replicas' headers, and the start of each payload.
  const hot: Array<[number, number]> = [[OFFSET, OFFSET + 128], [OFFSET + replica, OFFSET + replica + 128]];
  const { image: img, ranges, kind } = damage(image, random, hot, OFFSET + 2 * replica);
  const region = fuzzRegion(img, 1000);
  const fail = (what: string): { outcome: 'read'; error: string } => ({ outcome: 'read', error: `image ${seed} (${kind}, ${writes} writes): ${what}` });
  let sb: Superblock;
  try {
    sb = Superblock.open(region, { offset: OFFSET, capacity });
  } catch (e) {
    if (e instanceof StepBudgetExceeded) return fail('open did not finish');
    if ((e as { code?: string }).code === 'ERR_PMEM_CORRUPT') return { outcome: 'corrupt' };
    return fail(`open threw ${String(e)}`);
  }
  const got = sb.read();
  if (got === undefined) {
    // Write 1 (in replica 0) alone, its commit flag cleared, is a first
    // write a crash cut short before its flag; both replicas zeroed (or
    // overwritten with a copy of zeros) are a superblock just formatted:
    // the format cannot tell these apart from damage. So nothing is an
    // answer only when the damage hit every replica that held a version
    // of 2 or more (write v is in replica (v - 1) % 2); a replica of
    // version 2 or more that outlives it proves a write was committed.
    const hit = (r: number): boolean => touches(ranges, OFFSET + r * replica, OFFSET + (r + 1) * replica);
    const later = [writes, writes - 1].filter((v) => v >= 2).map((v) => (v - 1) % 2);
    if (later.every(hit)) return { outcome: 'read' };
    return fail('read() finds nothing written');
  }
  const v = sb.version;
  if (!(v >= 1 && v <= writes) || !got.equals(payloads[v])) return fail(`version ${v} reads a payload never written under it`);
  const next = Buffer.alloc(Math.min(capacity, 9), 0xee);
  try {
    sb.write(next);
    const again = Superblock.open(region, { offset: OFFSET, capacity });
    if (again.version !== v + 1 || !again.read()!.equals(next)) return fail('a write after the open did not read back');
  } catch (e) {
    return fail(`a write after the open threw ${String(e)}`);
  }
  return { outcome: 'read' };
}

test(`${IMAGES} damaged superblocks read a payload once written or fail with ERR_PMEM_CORRUPT`, () => {
  const outcomes = { read: 0, corrupt: 0 };
  const failures: string[] = [];
  for (let seed = 1; seed <= IMAGES; seed++) {
    const r = fuzzOne(seed);
    outcomes[r.outcome]++;
    if (r.error !== undefined) failures.push(r.error);
  }
  // eslint-disable-next-line no-console
  console.log(`Superblock fuzz: ${IMAGES} images, ${outcomes.read} read, ${outcomes.corrupt} ERR_PMEM_CORRUPT`);
  expect(failures.slice(0, 10)).toEqual([]);
  expect(outcomes.read).toBeGreaterThan(IMAGES / 4);
  expect(outcomes.corrupt).toBeGreaterThan(IMAGES / 20);
});

test('a commit flag cleared by damage after the second write is ERR_PMEM_CORRUPT, not a superblock never written', () => {
  // The images that found it: a copied range (seed 6) and a zeroed one
  // (seed 478) over the committed replica's flag; read() found nothing.
  for (const seed of [6, 478]) expect(fuzzOne(seed)).toEqual({ outcome: 'corrupt' });
  const image = Buffer.alloc(SIZE);
  const region = fuzzRegion(image, Infinity);
  const sb = Superblock.format(region, { offset: OFFSET, capacity: 100 });
  sb.write(Buffer.from('one'));
  // After one write, a cleared flag is a first write cut short: nothing.
  const first = Buffer.from(region.bytes);
  first.writeBigUInt64LE(0n, OFFSET + 24);
  expect(Superblock.open(fuzzRegion(first, Infinity), { offset: OFFSET, capacity: 100 }).read()).toBeUndefined();
  sb.write(Buffer.from('two'));
  const second = Buffer.from(region.bytes);
  second.writeBigUInt64LE(0n, OFFSET + 192 + 24); // replica 1 holds write 2
  expect(() => Superblock.open(fuzzRegion(second, Infinity), { offset: OFFSET, capacity: 100 }))
    .toThrow(expect.objectContaining({ code: 'ERR_PMEM_CORRUPT', message: expect.stringMatching(/no replica is committed, yet version 2 was written/) }));
});
