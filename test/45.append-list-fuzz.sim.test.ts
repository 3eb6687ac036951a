// AppendList and SharedAppendList on damaged images: bit flips, garbage,
// zeroed ranges, copied ranges, random words and truncations of lists of
// 1..60 values (the shared one with a reservation never linked and a link
// left dirty among them). Each open either fails with ERR_PMEM_CORRUPT, or
// yields, within a bound on its reads, the appended values in order up to
// the first link or node header the damage touched (all of them, when it
// touched none), and then takes an append that the next open reads after
// them. Nothing else may be thrown.
//
// Neither list has a checksum (docs/formats.md): a value's bytes, or a
// link or length changed to another one that passes the checks (forward,
// on a line, inside the region), are undetectable by design, so past the
// first damaged link or header the walk may yield anything of the region.
// PMEM_LOG_FUZZ sets the number of images per list (default 15000).
import { AppendList, SharedAppendList } from '../lib';
import { seededRandom } from '../lib/testing';
import { damage, fuzzRegion, imageCount, type Ranges, StepBudgetExceeded, touches } from './fuzz-helpers';

const IMAGES = imageCount(15000);
const SIZE = 16384;
const LIST_AT = 128;

type Kind = 'AppendList' | 'SharedAppendList';
interface List {
  append(value: Uint8Array | string): void;
  toArray(): Buffer[];
}
const open = (kind: Kind, region: ReturnType<typeof fuzzRegion>): List =>
  kind === 'AppendList' ? AppendList.open(region, LIST_AT) : SharedAppendList.open(region, LIST_AT);

interface Node { link: number; at: number; value: Buffer }
interface Build { image: Buffer; nodes: Node[] }

const builds = new Map<string, Build>();

function build(kind: Kind, k: number): Build {
  const key = `${kind} ${k}`;
  let b = builds.get(key);
  if (b !== undefined) return b;
  const random = seededRandom(0x4500 + k);
  const n = (m: number): number => Math.floor(random() * m);
  const region = fuzzRegion(Buffer.alloc(SIZE), Infinity);
  const count = 1 + (k * 7) % 60;
  const value = (i: number): Buffer => Buffer.alloc(n(4) === 0 ? n(400) : n(40), (i * 13 + k) & 0xff);
  if (kind === 'AppendList') {
    const list = AppendList.format(region, LIST_AT);
    for (let i = 0; i < count; i++) list.append(value(i));
  } else {
    const list = SharedAppendList.format(region, LIST_AT);
    for (let i = 0; i < count; i++) {
      const steps = list.appendSteps(value(i));
      // A producer that died after its reservation, or after its link
      // (left dirty: its persist and the clearing of the bit never ran).
      const stop = i === count - 1 && k % 2 === 0 ? 'linked' : n(10) === 0 ? 'written' : undefined;
      for (let s = steps.next(); !s.done && s.value !== stop; s = steps.next());
    }
  }
  // The chain as the undamaged image holds it (a dirty link's low bit masked).
  const bytes = region.bytes;
  const nodes: Node[] = [];
  for (let link = LIST_AT + 8, p = Number(bytes.readBigUInt64LE(link) & ~1n); p !== 0; link = p, p = Number(bytes.readBigUInt64LE(p) & ~1n)) {
    nodes.push({ link, at: p, value: Buffer.from(bytes.subarray(p + 16, p + 16 + bytes.readUInt32LE(p + 8))) });
  }
  b = { image: Buffer.from(bytes), nodes };
  builds.set(key, b);
  return b;
}

/** Opens damaged image `seed` of a `kind` list. */
function fuzzOne(kind: Kind, seed: number): { outcome: 'opened' | 'corrupt'; error?: string } {
  const random = seededRandom(seed);
  const { image, nodes } = build(kind, seed % 40);
  // The header line, and the first line of each node (its link and length).
  const hot: Ranges = [[LIST_AT, LIST_AT + 64], ...nodes.map((x): [number, number] => [x.at, x.at + 16])];
  const { image: img, ranges, kind: how } = damage(image, random, hot, LIST_AT + 64);
  if (img.length < SIZE) ranges.push([img.length, SIZE]);
  const region = fuzzRegion(img, 4 * SIZE);
  const fail = (what: string): { outcome: 'opened'; error: string } => ({ outcome: 'opened', error: `${kind} image ${seed} (${how}, ${nodes.length} values): ${what}` });
  let values: Buffer[];
  let list: List;
  try {
    list = open(kind, region);
    values = list.toArray();
  } catch (e) {
    if (e instanceof StepBudgetExceeded) return fail('the walk did not end');
    if ((e as { code?: string }).code === 'ERR_PMEM_CORRUPT') return { outcome: 'corrupt' };
    return fail(`threw ${String(e)}`);
  }
  // Up to the first node whose link or header was damaged (the tail's
  // null link counts as the link of a node after it), the walk is the
  // appended one: exactly, when no link or header was damaged.
  let exact = nodes.length + 1;
  if (touches(ranges, LIST_AT, LIST_AT + 4)) exact = 0; // the magic
  for (let i = 0; i <= nodes.length && exact > nodes.length; i++) {
    const link = i < nodes.length ? nodes[i].link : nodes[nodes.length - 1].at;
    if (touches(ranges, link, link + 8) || (i < nodes.length && touches(ranges, nodes[i].at + 8, nodes[i].at + 16))) exact = i;
  }
  if (exact > nodes.length && values.length !== nodes.length) return fail(`yields ${values.length} values, not the ${nodes.length} appended`);
  for (let i = 0; i < Math.min(exact, nodes.length); i++) {
    const x = nodes[i];
    if (touches(ranges, x.at + 16, x.at + 16 + x.value.length)) continue;
    if (values[i] === undefined || !values[i].equals(x.value)) return fail(`value ${i} is not the one appended`);
  }
  // Nodes are disjoint lines: whatever a walk yields fits the region once.
  const total = values.reduce((t, v) => t + 16 + v.length, 0);
  if (total > region.length) return fail(`yields ${total} bytes of nodes from a ${region.length}-byte region`);
  try {
    list.append('after');
    const again = open(kind, region).toArray();
    // Values up to the damage read back as they did; past it, a length
    // that the damage raised may take in the new link (the shared list
    // does not check that its nodes are disjoint).
    const same = (v: Buffer, i: number): boolean => i >= exact || v.equals(values[i]);
    if (again.length !== values.length + 1 || !again.slice(0, -1).every(same) || again[values.length].toString() !== 'after') {
      return fail('an append after the open did not read back after the values');
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_PMEM_NO_SPACE') return { outcome: 'opened' };
    return fail(`after the open: ${String(e)}`);
  }
  return { outcome: 'opened' };
}

describe.each<Kind>(['AppendList', 'SharedAppendList'])('%s', (kind) => {
  test(`${IMAGES} damaged images yield the appended values up to the damage or fail with ERR_PMEM_CORRUPT`, () => {
    const outcomes = { opened: 0, corrupt: 0 };
    const failures: string[] = [];
    for (let seed = 1; seed <= IMAGES; seed++) {
      const r = fuzzOne(kind, seed);
      outcomes[r.outcome]++;
      if (r.error !== undefined) failures.push(r.error);
    }
    // eslint-disable-next-line no-console
    console.log(`${kind} fuzz: ${IMAGES} images, ${outcomes.opened} opened, ${outcomes.corrupt} ERR_PMEM_CORRUPT`);
    expect(failures.slice(0, 10)).toEqual([]);
    expect(outcomes.opened).toBeGreaterThan(IMAGES / 4);
    expect(outcomes.corrupt).toBeGreaterThan(IMAGES / 20);
  });
});

test('recovery rebuilds a shared free pointer that no reservation makes: off a line, or past the region', () => {
  // The images that found it: a random word over the free pointer (seed
  // 493), and a region opened shorter than the list was written in, its
  // last node's lines past the end (seed 728). The open kept the pointer,
  // and every append after it failed with ERR_PMEM_CORRUPT.
  for (const seed of [493, 728]) expect(fuzzOne('SharedAppendList', seed)).toEqual({ outcome: 'opened' });
  const formatted = fuzzRegion(Buffer.alloc(SIZE), Infinity);
  const list = SharedAppendList.format(formatted, LIST_AT);
  list.append('one');
  for (const free of [LIST_AT + 64 + 64 + 8, 2 ** 40]) {
    const img = Buffer.from(formatted.bytes);
    img.writeBigUInt64LE(BigInt(free), LIST_AT + 16);
    const region = fuzzRegion(img, Infinity);
    SharedAppendList.open(region, LIST_AT).append('two');
    // Off a line, the node was placed where the walk refuses the link to it.
    expect(SharedAppendList.open(region, LIST_AT).toArray().map(String)).toEqual(['one', 'two']);
  }
});

test('shared list nodes whose lines overlap, more of them than the list has, are ERR_PMEM_CORRUPT', () => {
  // The image that found it: a copied range (seed 7789) made a walk of
  // overlapping nodes that yielded more bytes than the region holds.
  expect(fuzzOne('SharedAppendList', 7789)).toEqual({ outcome: 'corrupt' });
});
