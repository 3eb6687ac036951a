// The DRAM structure of hashes, sets and sorted sets' members
// (lib/server/members.ts): ids with values in slots, and a map from id to
// slot; and a sorted set whose map refuses a member.
import { Members } from '../lib/server/members';
import { ZSetValue } from '../lib/server/zset';
import { seededRandom } from '../lib/testing/random';

function expectAgrees(m: Members<number>, model: Map<string, number>): void {
  expect(m.size).toBe(model.size);
  expect(m.slots.size).toBe(model.size);
  expect(new Set(m.ids)).toEqual(new Set(model.keys()));
  m.ids.forEach((id, i) => {
    expect(m.slots.get(id)).toBe(i);
    expect(m.vals[i]).toBe(model.get(id));
  });
}

test('set, append, delete and deleteAt agree with a Map: the last id takes a deleted one\'s slot', () => {
  const rnd = seededRandom(5);
  const m = new Members<number>();
  const model = new Map<string, number>();
  const id = (): string => `\u00ff${String.fromCharCode(Math.floor(rnd() * 256))}:${Math.floor(rnd() * 300)}`;
  for (let step = 0; step < 5000; step++) {
    const k = id();
    const op = rnd();
    if (op < 0.5) {
      expect(m.set(k, step)).toBe(!model.has(k));
      model.set(k, step);
    } else if (op < 0.6 && !model.has(k)) {
      m.append(k, step);
      model.set(k, step);
    } else if (op < 0.8) {
      expect(m.delete(k)).toBe(model.delete(k));
    } else if (m.size > 0) {
      const i = Math.floor(rnd() * m.size);
      const there = m.ids[i];
      m.deleteAt(i, there);
      model.delete(there);
    }
    if (step % 500 === 0) expectAgrees(m, model);
  }
  expectAgrees(m, model);
});

test('a sorted set whose map refuses a new member (RangeError: no memory, or a Map past its 2^24 entries) changes nothing', () => {
  const z = new ZSetValue();
  for (let i = 0; i < 50; i++) z.set(`m${i}`, i);
  const before = z.entries();
  const used = z.usedWords;
  const append = jest.spyOn(Members.prototype, 'append').mockImplementation(() => {
    throw new RangeError('Map maximum size exceeded');
  });
  try {
    expect(() => z.set('new', 0.5)).toThrow(new RangeError('Map maximum size exceeded'));
  } finally {
    append.mockRestore();
  }
  expect(z.entries()).toEqual(before);
  expect(z.members.has('new')).toBe(false);
  // The node it took went back to the pool.
  expect(z.usedWords).toBe(used);
  expect(z.set('new', 0.5)).toBe(true);
  expect(z.rank('new')).toBe(1);
});
