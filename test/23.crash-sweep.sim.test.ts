// A sweep over seeds of the toy structures on a 64 KiB region, printing how
// many crash images were checked and how fast. PMEM_CRASH_SEEDS (default 2)
// and PMEM_CRASH_IMAGES (random images per point, default 16) scale it up:
// scripts/test-crash.sh runs it long. Rates are printed, never asserted.
import * as os from 'node:os';
import type { Region } from '../lib';
import { crashTest, CrashReport } from '../lib/testing';
import { batchAppend, batchRecover, publish, publishRecover, slotRecover, slotUpdate } from './fixtures/sim/toys';

const SIZE = 64 * 1024;
const SEEDS = Number(process.env.PMEM_CRASH_SEEDS ?? 2);
const IMAGES = Number(process.env.PMEM_CRASH_IMAGES ?? 16);

const rows: string[] = [];
function total(name: string, reports: CrashReport[]): void {
  const images = reports.reduce((n, r) => n + r.images, 0);
  const seconds = reports.reduce((n, r) => n + r.seconds, 0);
  const points = reports.reduce((n, r) => n + r.points, 0);
  rows.push(
    `${name.padEnd(34)} ${String(points).padStart(7)} points ${String(images).padStart(10)} images ` +
      `${(images / seconds).toFixed(0).padStart(9)} images/s`,
  );
}

afterAll(() => {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  // eslint-disable-next-line no-console
  console.log(`crash sweep, 64 KiB region, ${SEEDS} seeds, ${IMAGES} random images/point, torn words\n` +
    `${cpu}, ${os.cpus().length} cpus, node ${process.version}\n${rows.join('\n')}`);
});

function sweep(name: string, run: (seed: number) => CrashReport): void {
  test(name, () => {
    const reports: CrashReport[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const report = run(seed);
      expect(report.violations).toEqual([]);
      reports.push(report);
    }
    total(name, reports);
  });
}

sweep('publish (8-byte pointer)', (seed) =>
  crashTest<number, number>({
    size: SIZE,
    seed,
    torn: true,
    randomImages: IMAGES,
    exhaustiveLimit: 0, // every class of image, not only the enumeration
    setup: () => 0,
    operation(r) {
      for (let v = 1; v < 1000; v++) publish(r, v, v);
      return 999;
    },
    recover: (r) => publishRecover(r),
    check(v, { point, after }) {
      if (v > after || (point.label === 'end' && v !== after)) throw new Error(`recovered ${v}`);
    },
  }),
);

sweep('two-slot record', (seed) =>
  crashTest<number, number>({
    size: SIZE,
    seed,
    torn: true,
    randomImages: IMAGES,
    setup: () => 0,
    operation(r, _m, ctx) {
      for (let v = 1; v <= 500; v++) {
        slotUpdate(r, v);
        ctx.ack(v);
      }
      return 500;
    },
    recover: slotRecover,
    check(v, { acked }) {
      const floor = acked.length === 0 ? 0 : (acked[acked.length - 1] as number);
      if (v !== floor && v !== floor + 1) throw new Error(`recovered ${v}, acked ${floor}`);
    },
  }),
);

/** Batches of 16 lines: 154 images per fence before the count is published. */
function batchLog(seed: number, recover: (r: Region) => number): CrashReport {
  return crashTest<number, number>({
    size: SIZE,
    seed,
    torn: true,
    randomImages: IMAGES,
    setup: () => 0,
    operation(r) {
      for (let g = 1; g <= 60; g++) batchAppend(r, 16, g);
      return 960;
    },
    recover,
    check(n, { after }) {
      if (n % 16 !== 0 || n > after) throw new Error(`count ${n}`);
    },
  });
}

// The simulator's own cost: a recovery that reads one word.
sweep('batch log, recovery reads the count', (seed) => batchLog(seed, (r) => Number(r.bytes.readBigUInt64LE(0))));
// A recovery that checks every committed record (up to 960 lines).
sweep('batch log, recovery checks records', (seed) => batchLog(seed, batchRecover));
