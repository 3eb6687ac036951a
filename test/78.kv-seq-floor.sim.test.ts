// The floor of segment sequence numbers under the crash simulator. Readers
// beside a writer (test/78.kv-readers) tell segments apart by their
// sequence numbers, so a writer must never hand one out twice: not after
// compaction freed the newest segments, not after a crash. Oracle: after a
// crash at any point, a writer that opens the store and opens a new segment
// gives it a number above that of every segment whose first record was
// acknowledged. The broken variant, which never flushes the floor, must be
// caught.
import { KVStore, type Region } from '../lib';
import { readSegmentHeader, DATA_START, SEQ_FLOOR_AT } from '../lib/kv/format';
import { Superblock } from '../lib/log/superblock';
import { crashTest, type CrashReport } from '../lib/testing';
import { faulty } from './faults';

const SIZE = 16 * 1024;
const SEG = 1024;

/** Every valid segment header: [segment, sequence number]. */
function headers(region: Region): Array<[number, number]> {
  const payload = Superblock.open(region, { offset: 0, capacity: 32 }).read();
  if (payload === undefined) return [];
  const salt = payload.readUInt32LE(8);
  const out: Array<[number, number]> = [];
  for (let s = 0; DATA_START + (s + 1) * SEG <= region.length; s++) {
    const h = readSegmentHeader(region.bytes, DATA_START + s * SEG, salt);
    if (h !== undefined) out.push([s, h.seq]);
  }
  return out;
}

function run(broken: boolean): CrashReport {
  return crashTest<number, { opened: number | null }>({
    size: SIZE,
    randomImages: 64,
    setup(region) {
      const s = KVStore.openRegion(region, { create: true, segmentSize: SEG });
      s.put('k', 'v');
      s.close();
      return 0;
    },
    operation(region, before, ctx) {
      // The broken variant never flushes the floor.
      const r = broken ? faulty(region, { flush: (o, n) => (o === SEQ_FLOOR_AT ? null : [o, n]) }) : region;
      const s = KVStore.openRegion(r, { segmentSize: SEG });
      for (let i = 0; i < 3; i++) {
        // A put on a store with no segment in use opens one; its number is
        // the highest of any header now. Deleting the key and compacting
        // frees that segment again: the numbers in use drop to none.
        s.delete(i === 0 ? 'k' : `x${i - 1}`);
        s.compact();
        s.put(`x${i}`, 'v');
        ctx.ack(Math.max(...headers(region).map(([, seq]) => seq)));
      }
      s.delete('x2');
      s.compact();
      s.close();
      return before;
    },
    recover(region) {
      const known = new Set(headers(region).map(([s, seq]) => `${s}:${seq}`));
      const s = KVStore.openRegion(region, { segmentSize: SEG });
      // Enough for a new segment whatever the one in use holds.
      s.put('probe', 'p'.repeat(SEG / 2));
      s.close();
      const fresh = headers(region).filter(([seg, seq]) => !known.has(`${seg}:${seq}`));
      return { opened: fresh.length === 0 ? null : fresh[0][1] };
    },
    check(r, { acked }) {
      if (r.opened === null || acked.length === 0) return;
      const top = Math.max(...(acked as number[]));
      if (r.opened <= top) throw new Error(`a new segment got sequence number ${r.opened}, and ${top} was acknowledged`);
    },
  });
}

test('a writer never hands out a sequence number twice, at any crash point', () => {
  const report = run(false);
  // eslint-disable-next-line no-console
  console.log(`sequence floor: ${report.points} crash points, ${report.images} images`);
  expect(report.violations).toEqual([]);
  expect(report.points).toBeGreaterThanOrEqual(10);
  expect(report.images).toBeGreaterThan(40);
});

test('without the floor\'s flush, the simulator finds a number handed out twice', () => {
  const report = run(true);
  expect(report.violationCount).toBeGreaterThan(0);
  expect(report.violations[0].message).toMatch(/acknowledged/);
});
