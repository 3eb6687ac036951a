// The DRAM structure of hashes, sets and sorted sets' members
// (lib/server/members.ts): ids with values in slots, and a map from id to
// slot that is a Map while small and a KeyTable from TABLE_FROM ids on.
import { KeyTable } from '../lib/server/key-table';
import { Members, TABLE_FROM } from '../lib/server/members';
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
  for (const [id, v] of model) {
    expect(m.has(id)).toBe(true);
    expect(m.get(id)).toBe(v);
  }
}

test('ids of any latin1 bytes, through sets, appends and deletes across TABLE_FROM both ways, agree with a Map; the table stays', () => {
  const rnd = seededRandom(5);
  const m = new Members<number>();
  const model = new Map<string, number>();
  const id = (): string => `\u00ff${String.fromCharCode(Math.floor(rnd() * 256))}:${Math.floor(rnd() * 3 * TABLE_FROM)}`;
  // Up past TABLE_FROM with set() ...
  for (let i = 0; m.size < 2 * TABLE_FROM; i++) {
    const k = id();
    expect(m.set(k, i)).toBe(!model.has(k));
    model.set(k, i);
  }
  expect(m.slots).toBeInstanceOf(KeyTable);
  expectAgrees(m, model);
  // ... down below it, with absent ids deleted too ...
  while (m.size > TABLE_FROM / 4) {
    const k = rnd() < 0.8 ? m.ids[Math.floor(rnd() * m.size)] : id();
    expect(m.delete(k)).toBe(model.delete(k));
  }
  expect(m.slots).toBeInstanceOf(KeyTable);
  expectAgrees(m, model);
  // ... and the absent ids' get and has.
  for (let i = 0; i < 200; i++) {
    const k = id();
    expect(m.get(k)).toBe(model.get(k));
    expect(m.has(k)).toBe(model.has(k));
  }

  // append() (the open's path) crosses it as set() does.
  const a = new Members<number>();
  const am = new Map<string, number>();
  for (let i = 0; i < TABLE_FROM + 10; i++) {
    a.append(`e${i}`, i);
    am.set(`e${i}`, i);
    if (i === TABLE_FROM - 2) expect(a.slots).toBeInstanceOf(Map);
  }
  expect(a.slots).toBeInstanceOf(KeyTable);
  expectAgrees(a, am);
});

test('followOrder keeps the old slot order of the ids both hold, with either map on either side', () => {
  for (const [before, after] of [[10, 10], [10, 2 * TABLE_FROM], [2 * TABLE_FROM, 10], [2 * TABLE_FROM, 3 * TABLE_FROM]]) {
    const old = new Members<number>();
    for (let i = 0; i < before; i++) old.set(`k${i}`, i);
    // A rebuild: the same ids in another order, some gone, some new.
    const now = new Members<number>();
    const model = new Map<string, number>();
    for (let i = after - 1; i >= 0; i--) {
      if (i % 5 === 0) continue;
      now.set(`k${i}`, -i);
      model.set(`k${i}`, -i);
    }
    now.followOrder(old);
    expectAgrees(now, model);
    const kept = old.ids.filter((k) => model.has(k));
    expect(now.ids.slice(0, kept.length)).toEqual(kept);
  }
});

test('a KeyTable that cannot be had leaves the Map, and the next id tries again; a sorted set whose map refuses a member changes nothing', () => {
  const refused = (): never => {
    throw new RangeError('Array buffer allocation failed');
  };
  const m = new Members<number>();
  const model = new Map<string, number>();
  const spy = jest.spyOn(KeyTable.prototype, 'set').mockImplementation(refused);
  try {
    for (let i = 0; i < TABLE_FROM + 5; i++) {
      expect(m.set(`k${i}`, i)).toBe(true);
      model.set(`k${i}`, i);
    }
    expect(spy).toHaveBeenCalled();
    expect(m.slots).toBeInstanceOf(Map);
    expectAgrees(m, model);
  } finally {
    spy.mockRestore();
  }
  m.set('one more', -1);
  model.set('one more', -1);
  expect(m.slots).toBeInstanceOf(KeyTable);
  expectAgrees(m, model);

  // ZADD of a new member whose map cannot take it: neither the list nor the pool keeps a node of it.
  const z = new ZSetValue();
  for (let i = 0; i < 50; i++) z.set(`m${i}`, i);
  const before = z.entries();
  const used = z.usedWords;
  const append = jest.spyOn(Members.prototype, 'append').mockImplementation(refused);
  try {
    expect(() => z.set('new', 0.5)).toThrow(RangeError);
  } finally {
    append.mockRestore();
  }
  expect(z.entries()).toEqual(before);
  expect(z.members.has('new')).toBe(false);
  expect(z.usedWords).toBe(used);
  expect(z.set('new', 0.5)).toBe(true);
  expect(z.rank('new')).toBe(1);
});
