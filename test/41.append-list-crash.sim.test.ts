// The append-only list under the crash simulator: recovery finds the values
// from before, plus a prefix of the appended ones containing every
// acknowledged append. Publishing before persisting the node must be caught.
import { AppendList, type Region } from '../lib';
import { crashTest, type CrashReport } from '../lib/testing';
import { Scenarios } from './fixtures/crash-scenarios';
import { faulty, type Faults } from './faults';

const value = (i: number): string => `value-${i}-${'#'.repeat((i * 397) % 2000)}`;

function run(opts: { appends: number; faults?: Faults; seed?: number; randomImages?: number; torn?: boolean }): CrashReport {
  return crashTest<string[], string[]>({
    size: 65536,
    seed: opts.seed ?? 1,
    torn: opts.torn ?? false,
    randomImages: opts.randomImages ?? 64,
    setup(region) {
      const list = AppendList.format(region, 64);
      const values = [0, 1, 2].map(value);
      for (const v of values) list.append(v);
      return values;
    },
    operation(region, before, ctx) {
      const list = AppendList.open(opts.faults ? faulty(region, opts.faults) : region, 64);
      const after = [...before];
      for (let i = 0; i < opts.appends; i++) {
        const v = value(before.length + i);
        list.append(v);
        after.push(v);
        ctx.ack(v);
      }
      return after;
    },
    recover(region: Region) {
      return AppendList.open(region, 64).toArray().map(String);
    },
    check(recovered, { after, acked }) {
      if (recovered.length < 3 + acked.length) throw new Error(`lost acknowledged values: ${recovered.length} < ${3 + acked.length}`);
      if (recovered.length > after.length) throw new Error('more values than were appended');
      recovered.forEach((v, i) => {
        if (v !== after[i]) throw new Error(`value ${i} is '${v.slice(0, 20)}', expected '${after[i].slice(0, 20)}'`);
      });
    },
  });
}

const SEEDS = [1, 2, 3, 4];
const correct = new Scenarios();
for (const seed of SEEDS) correct.add(`seed ${seed}`, () => run({ appends: 5, seed, randomImages: 30000 }));
const TORN = correct.add('torn', () => run({ appends: 5, torn: true, randomImages: 3000 }));

test.each(SEEDS)('correct list, 5 appends, seed %i: 0 violations', (seed) => {
  expect(correct.report(`seed ${seed}`).violations).toEqual([]);
});

test('correct list with torn words: 0 violations', () => {
  expect(correct.report(TORN).violations).toEqual([]);
});

test('broken: the pointer is published before the node is persisted', () => {
  // Each append drains twice: the node, then the pointer. Skip the node's.
  const r = run({ appends: 2, faults: { skipDrain: (n) => n % 2 === 1 } });
  expect(r.violations.length).toBeGreaterThan(0);
});

test('broken: the publishing pointer is never persisted', () => {
  const r = run({ appends: 2, faults: { flush: (off, len) => (len === 8 ? null : [off, len]) } });
  expect(r.violations.length).toBeGreaterThan(0);
  expect(r.violations.some((v) => v.message.includes('lost acknowledged'))).toBe(true);
});

test('the correct list was checked over at least 500,000 crash images', () => {
  const total = correct.images();
  console.log(`append-list crash images: ${total}`);
  expect(total).toBeGreaterThanOrEqual(500_000);
});
