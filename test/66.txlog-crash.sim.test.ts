// TxLog under the crash simulator: redo transactions and undo updates are
// all-or-nothing. A commit persisted before the data must be caught.
import { TxLog, type Region } from '../lib';
import { crashTest, type CrashReport } from '../lib/testing';
import { Scenarios } from './fixtures/crash-scenarios';
import { faulty, type Faults } from './faults';

const LOG = { offset: 0, size: 8192 };
// Three ranges on separate lines, one spanning several lines.
const RANGES: Array<[number, number]> = [
  [8192, 8],
  [9000, 300],
  [12280, 40],
];

const fill = (tag: number): Buffer[] => RANGES.map(([, len], i) => Buffer.alloc(len, tag * 16 + i + 1));
const read = (region: Region): Buffer[] => RANGES.map(([off, len]) => Buffer.from(region.bytes.subarray(off, off + len)));
const same = (a: Buffer[], b: Buffer[]): boolean => a.every((x, i) => x.equals(b[i]));

function run(kind: 'redo' | 'undo', opts: { faults?: Faults; seed?: number; torn?: boolean; randomImages?: number }): CrashReport {
  return crashTest<Buffer[], Buffer[]>({
    size: 16384,
    seed: opts.seed ?? 1,
    torn: opts.torn ?? false,
    randomImages: opts.randomImages ?? 64,
    setup(region) {
      const log = TxLog.format(region, LOG);
      const first = fill(1);
      log.run((tx) => RANGES.forEach(([off], i) => tx.write(off, first[i])));
      return first;
    },
    operation(region, _before, ctx) {
      const log = TxLog.open(opts.faults ? faulty(region, opts.faults) : region, LOG);
      const next = fill(2);
      if (kind === 'redo') {
        log.run((tx) => RANGES.forEach(([off], i) => tx.write(off, next[i])));
      } else {
        // An undo update covers one contiguous range: span all three.
        const lo = RANGES[0][0];
        const hi = RANGES[2][0] + RANGES[2][1];
        const image = Buffer.from(region.bytes.subarray(lo, hi));
        RANGES.forEach(([off], i) => next[i].copy(image, off - lo));
        log.undoUpdate(lo, image);
      }
      ctx.ack('done');
      return next;
    },
    recover(region) {
      TxLog.open(region, LOG);
      return read(region);
    },
    check(got, { before, after, acked }) {
      if (same(got, after)) return;
      if (acked.length > 0) throw new Error('an acknowledged transaction was lost');
      if (!same(got, before)) throw new Error('torn transaction: a mix of old and new bytes');
    },
  });
}

const ROWS = [
  ['redo', 1],
  ['redo', 2],
  ['undo', 1],
  ['undo', 2],
] as const;
const correct = new Scenarios();
for (const [kind, seed] of ROWS) correct.add(`${kind} ${seed}`, () => run(kind, { seed, torn: seed === 2, randomImages: 60000 }));

test.each(ROWS)('%s, seed %i: 0 violations', (kind, seed) => {
  expect(correct.report(`${kind} ${seed}`).violations).toEqual([]);
});

test('broken redo: the commit and the writes can persist before the log', () => {
  const r = run('redo', { faults: { skipDrain: (n) => n === 1 } });
  expect(r.violations.length).toBeGreaterThan(0);
});

test('broken undo: the commit record can persist before the in-place data', () => {
  // Drains: 1 the undo log, 2 the in-place data, 3 the commit record.
  const r = run('undo', { faults: { skipDrain: (n) => n === 2 } });
  expect(r.violations.length).toBeGreaterThan(0);
});

test('broken undo: the in-place update can persist before the undo log', () => {
  const r = run('undo', { faults: { skipDrain: (n) => n === 1 } });
  expect(r.violations.length).toBeGreaterThan(0);
});

test('TxLog was checked over at least 500,000 crash images', () => {
  const total = correct.images();
  console.log(`TxLog crash images: ${total}`);
  expect(total).toBeGreaterThanOrEqual(500_000);
});
