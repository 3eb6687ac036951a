// TxLog under the crash simulator. Oracle: after a crash, recovery finds
// the targets in one of the states the operation passed through, never one
// before the last acknowledged: redo transactions and undo updates are
// all-or-nothing, a committed run is never lost, and a retired run is never
// redone over a direct write made after its checkpoint. The broken variants
// the simulator must catch: the log's fence removed (the in-place writes
// can reach the media before the log), a checksum without the generation,
// a checkpoint whose retire a later direct write can race, a retire before
// the in-place writes are durable, the undo update's own two, and a close
// whose retire is not yet durable when it returns.
import { TxLog, type Region } from '../lib';
import { crashTest, type CrashReport } from '../lib/testing';
import { Scenarios } from './fixtures/crash-scenarios';
import { faulty, type Faults } from './faults';

const LOG = { offset: 0, size: 8192 };
// Four targets: two sharing a line, one over several lines, one across a
// line boundary. Every run writes all of them, so runs overlap.
const RANGES: Array<[number, number]> = [
  [8192, 8],
  [8200, 16],
  [8400, 300],
  [9080, 40],
];
const LO = RANGES[0][0];
const HI = RANGES[3][0] + RANGES[3][1];

type State = Buffer[];
const fill = (tag: number): State => RANGES.map(([, len], i) => Buffer.alloc(len, tag * 16 + i + 1));
const read = (region: Region): State => RANGES.map(([off, len]) => Buffer.from(region.bytes.subarray(off, off + len)));
const same = (a: State, b: State): boolean => a.every((x, i) => x.equals(b[i]));
const runTag = (log: TxLog, tag: number): void => {
  const next = fill(tag);
  log.run((tx) => RANGES.forEach(([off], i) => tx.write(off, next[i])));
};

/** What the operation does after it opens the log; `step(state)` records a state reached and acknowledges it. */
type Act = (log: TxLog, region: Region, step: (s: State) => void) => void;

interface Options {
  act: Act;
  /** Runs in setup after format; default: two runs, not retired. */
  prepare?: (log: TxLog) => void;
  faults?: Faults;
  seed?: number;
  torn?: boolean;
  randomImages?: number;
  logClass?: typeof TxLog;
  mode?: 'adr' | 'page';
}

function txTest(o: Options): CrashReport {
  const cls = o.logClass ?? TxLog;
  return crashTest<State[], State>({
    size: 16384,
    mode: o.mode ?? 'adr',
    seed: o.seed ?? 1,
    torn: o.torn ?? false,
    randomImages: o.randomImages ?? 64,
    setup(region) {
      const log = cls.format(region, LOG);
      (o.prepare ?? ((l) => [1, 2].forEach((t) => runTag(l, t))))(log);
      return [read(region)];
    },
    operation(region, before, ctx) {
      // Opening recovers: with the default setup that redoes the last two
      // runs and retires them, under crashes too.
      const log = cls.open(o.faults ? faulty(region, o.faults) : region, LOG);
      const states = [...before];
      o.act(log, region, (s) => {
        states.push(s);
        ctx.ack(states.length - 1);
      });
      return states;
    },
    recover(region) {
      cls.open(region, LOG);
      return read(region);
    },
    check(got, { after, acked }) {
      const floor = acked.length > 0 ? (acked[acked.length - 1] as number) : 0;
      for (let k = floor; k < after.length; k++) if (same(got, after[k])) return;
      const known = after.findIndex((s) => same(got, s));
      throw new Error(known >= 0 ? `state ${known} recovered after state ${floor} was acknowledged` : 'torn or stale: a state no operation produced');
    },
  });
}

/** Three runs in a row: the lazy path (each run's in-place writes made durable by the next run's fence). */
const threeRuns: Act = (log, _r, step) => {
  for (const tag of [3, 4, 5]) {
    runTag(log, tag);
    step(fill(tag));
  }
};

/**
 * Three runs over disjoint targets: the third overwrites the first one's
 * record, so the first one's writes survive only if they were made durable
 * in place.
 */
const disjointRuns: Act = (log, _r, step) => {
  let state = fill(2);
  for (const [tag, which] of [[3, [0, 1]], [4, [2]], [5, [3]]] as const) {
    const next = fill(tag);
    log.run((tx) => which.forEach((i) => tx.write(RANGES[i][0], next[i])));
    state = state.map((x, i) => ((which as readonly number[]).includes(i) ? next[i] : x));
    step(state);
  }
};

/**
 * A run, its checkpoint, then a direct write over its first target: one
 * aligned 8-byte word, which a crash keeps whole or not at all.
 */
const runThenDirect: Act = (log, region, step) => {
  runTag(log, 3);
  step(fill(3));
  log.checkpoint();
  const direct = [Buffer.alloc(8, 0x99), ...fill(3).slice(1)];
  region.bytes.set(direct[0], RANGES[0][0]);
  region.persist(RANGES[0][0], 8);
  step(direct);
};

/** A run left unretired, then an undo update over all the targets. */
const runThenUndo: Act = (log, region, step) => {
  runTag(log, 3);
  step(fill(3));
  const image = Buffer.from(region.bytes.subarray(LO, HI));
  const next = fill(4);
  RANGES.forEach(([off], i) => next[i].copy(image, off - LO));
  log.undoUpdate(LO, image);
  step(next);
};

/** One undo update, from a retired log: its fences are the operation's drains 1, 2 and 3. */
const undoOnly: Act = (log, region, step) => {
  const image = Buffer.from(region.bytes.subarray(LO, HI));
  const next = fill(4);
  RANGES.forEach(([off], i) => next[i].copy(image, off - LO));
  log.undoUpdate(LO, image);
  step(next);
};

const retired = (log: TxLog): void => {
  [1, 2].forEach((t) => runTag(log, t));
  log.checkpoint();
};

const correct = new Scenarios();
const ROWS = [
  ['three runs', threeRuns],
  ['run, checkpoint, direct write', runThenDirect],
  ['run, then undo update', runThenUndo],
] as const;
for (const [name, act] of ROWS) {
  correct.add(`${name} 1`, () => txTest({ act, seed: 1, randomImages: 40000 }));
  correct.add(`${name} 2`, () => txTest({ act, seed: 2, torn: true, randomImages: 30000 }));
}

// Where a flush is an msync (page granularity, the targets' flushes merged by page).
for (const [name, act] of ROWS) correct.add(`${name}, msync pages`, () => txTest({ act, mode: 'page', seed: 3, torn: true, randomImages: 4000 }));

test.each(ROWS.flatMap(([name]) => [[name, 1], [name, 2]]))('%s, seed %i: 0 violations', (name, seed) => {
  expect(correct.report(`${name} ${seed}`).violations).toEqual([]);
});

test.each(ROWS.map(([name]) => name))('%s, msync pages: 0 violations', (name) => {
  expect(correct.report(`${name}, msync pages`).violations).toEqual([]);
});

test('TxLog was checked over at least 543,642 crash images', () => {
  const total = correct.images();
  console.log(`TxLog crash images: ${total}`);
  expect(total).toBeGreaterThanOrEqual(543_642);
});

test.each(['adr', 'page'] as const)('broken (%s): in-place writes never flushed are lost once their record is overwritten', (mode) => {
  const target = (o: number): boolean => o >= RANGES[0][0];
  const r = txTest({ act: disjointRuns, prepare: retired, mode, faults: { flush: (o, l) => (target(o) ? null : [o, l]) } });
  expect(r.violations.length).toBeGreaterThan(0);
  expect(txTest({ act: disjointRuns, prepare: retired, mode }).violations).toEqual([]);
});

test('broken redo: without the log\'s fence, the in-place writes can reach the media before the log', () => {
  // From a retired log, the run's commit is the operation's first drain.
  const r = txTest({ act: threeRuns, prepare: retired, faults: { skipDrain: (n) => n === 1 } });
  expect(r.violations.length).toBeGreaterThan(0);
  expect(txTest({ act: threeRuns, prepare: retired }).violations).toEqual([]);
});

test('broken redo, one write (the common shape, one step on a mapping): without the log\'s fence the write can reach the media first', () => {
  // Each run writes one range that spans lines (RANGES[2]): a crash may
  // persist some of its new lines while the record is not yet durable.
  const oneWrite: Act = (log, _r, step) => {
    let state = fill(2);
    for (const tag of [3, 4]) {
      const next = fill(tag);
      log.run((tx) => tx.write(RANGES[2][0], next[2]));
      state = state.map((x, i) => (i === 2 ? next[2] : x));
      step(state);
    }
  };
  const r = txTest({ act: oneWrite, prepare: retired, faults: { skipDrain: (n) => n === 1 } });
  expect(r.violations.length).toBeGreaterThan(0);
  expect(txTest({ act: oneWrite, prepare: retired }).violations).toEqual([]);
});

/** The checksum without header bytes 8..15: the sequence number, the record's generation, left out. */
class NoGenerationTxLog extends TxLog {
  protected override logChecksum(b: Buffer, start: number, bytes: number): number {
    const copy = Buffer.from(b.subarray(start, start + 32 + bytes));
    copy.fill(0, 8, 16);
    return super.logChecksum(copy, 0, bytes);
  }
}

test('broken: a checksum without the generation lets the record of run n - 2 pass for run n', () => {
  // One 8-byte target: a record is one line, so a torn image can hold the
  // new sequence number over the old record's checksum and bytes.
  const one = (tag: number) => (log: TxLog): void => log.run((tx) => tx.write(8192, Buffer.alloc(8, tag)));
  const opts: Options = {
    torn: true,
    randomImages: 2000,
    logClass: NoGenerationTxLog,
    prepare: (log) => {
      one(1)(log);
      one(2)(log);
      log.checkpoint();
    },
    act: (log, _r, step) => {
      one(3)(log);
      // The oracle reads all four ranges; only the first is written here.
      step([Buffer.alloc(8, 3), ...RANGES.slice(1).map(([, len]) => Buffer.alloc(len))]);
    },
  };
  const r = txTest(opts);
  expect(r.violations.length).toBeGreaterThan(0);
  expect(r.violations.some((v) => /torn or stale/.test(v.message))).toBe(true);
  // The same scenario with the real checksum passes.
  expect(txTest({ ...opts, logClass: TxLog }).violations).toEqual([]);
});

test('broken: a retire that is never flushed lets recovery redo a run over a later direct write', () => {
  const r = txTest({ act: runThenDirect, prepare: retired, faults: { flush: (o, l) => (o === LOG.offset && l === 8 ? null : [o, l]) } });
  expect(r.violations.length).toBeGreaterThan(0);
  expect(r.violations.some((v) => /state 1 recovered after state 2/.test(v.message))).toBe(true);
});

test('broken: a retire before the in-place writes are durable loses the run', () => {
  // Drains from a retired log: 1 the run's commit, 2 the checkpoint's, 3 the direct write's.
  const r = txTest({ act: runThenDirect, prepare: retired, faults: { skipDrain: (n) => n === 2 } });
  expect(r.violations.length).toBeGreaterThan(0);
  expect(r.violations.some((v) => /state 0 recovered after state 1/.test(v.message))).toBe(true);
});

test('broken undo: the retire can persist before the in-place data', () => {
  // Drains: 1 the undo log, 2 the in-place data, 3 the retire.
  const r = txTest({ act: undoOnly, prepare: retired, faults: { skipDrain: (n) => n === 2 } });
  expect(r.violations.length).toBeGreaterThan(0);
});

test('broken undo: the in-place update can persist before the undo log', () => {
  const r = txTest({ act: undoOnly, prepare: retired, faults: { skipDrain: (n) => n === 1 } });
  expect(r.violations.length).toBeGreaterThan(0);
  expect(txTest({ act: undoOnly, prepare: retired }).violations).toEqual([]);
});

/**
 * Two runs, then close(): every image is a state the runs passed through,
 * and at the end (after close returned) the retire word on the media holds
 * the last run: nothing is left for the next open to redo.
 */
function closeTest(mode: 'adr' | 'page', faults?: Faults): CrashReport {
  return crashTest<State[], { state: State; retire: bigint }>({
    size: 16384,
    mode,
    seed: 4,
    torn: true,
    randomImages: 2000,
    setup(region) {
      const log = TxLog.format(region, LOG);
      [1, 2].forEach((t) => runTag(log, t));
      return [read(region)];
    },
    operation(region, before, ctx) {
      const log = TxLog.open(faults ? faulty(region, faults) : region, LOG); // redoes and retires runs 1 and 2
      const states = [...before];
      for (const tag of [3, 4]) {
        runTag(log, tag);
        states.push(fill(tag));
        ctx.ack(states.length - 1);
      }
      log.close();
      return states;
    },
    recover(region) {
      const retire = region.bytes.readBigUInt64LE(LOG.offset); // as the crash left it, before the open retires
      TxLog.open(region, LOG);
      return { state: read(region), retire };
    },
    check({ state, retire }, { after, acked, point }) {
      const floor = acked.length > 0 ? (acked[acked.length - 1] as number) : 0;
      if (!after.slice(floor).some((s) => same(state, s))) throw new Error(`a state before state ${floor}, or none, recovered`);
      if (point.label === 'end' && retire !== 4n) throw new Error(`after close the retire word on the media is ${retire}, not 4`);
    },
  });
}

test.each(['adr', 'page'] as const)('runs, then close (%s): 0 violations, and the retire durable once close returned', (mode) => {
  const r = closeTest(mode);
  console.log(`TxLog close (${mode}): ${r.images} crash images at ${r.points} points`);
  expect(r.violations).toEqual([]);
  expect(r.images).toBeGreaterThan(1000);
});

test('broken close: without its last fence the retire can miss the media after close returned', () => {
  // Drains: 1 and 2 the open's recovery (redo, retire), 3 and 4 the runs'
  // commits, 5 the close's retire (in-place writes first), 6 the retire word.
  const r = closeTest('adr', { skipDrain: (n) => n === 6 });
  expect(r.violations.length).toBeGreaterThan(0);
  expect(r.violations.every((v) => /after close the retire word on the media is 2, not 4/.test(v.message))).toBe(true);
});
