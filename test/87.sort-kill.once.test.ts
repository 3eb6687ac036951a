// The external sort under the kill harness: a child sorts (resuming from
// the checkpoint the last one left) and is SIGKILLed at random moments, in
// run formation and in the merge. After every kill the checkpoint recovers
// to a generation no older than the last acknowledged; every sort that
// completes, over however many kills, produces GNU sort's output. Each kill
// comes 0..1500 us after the run's Nth acknowledged checkpoint, N in
// 1..MAX_ACKS: during the work.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort, openMapping, type SortOptions } from '../lib';
import { Checkpoint } from '../lib/sort/checkpoint';
import { killTest } from '../lib/testing';
import { expectKillsLanded } from './fixtures/kill-report';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const child = require('./fixtures/sort/kill-child.js') as {
  OPTIONS: Record<string, unknown>; input(dir: string): string; output(dir: string): string; work(dir: string): string;
};
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { generate } = require('../bench/gensort.js') as { generate(kind: string, bytes: number, file: string, seed?: number): void };

const KILLS = Number(process.env.PMEM_SORT_KILLS ?? 30);
const MAX_ACKS = 40;

/**
 * The variants: unique on two threads (runs formed by a worker and the main
 * thread, a merge on one), and a stable sort by a key on two threads (its
 * final merge in key ranges, each range written by its thread: with DRAM
 * merge buffers, since a budget this small gives no two threads PMem
 * windows of 256 KiB for its runs), each with GNU sort's flags for the
 * same output. The budget gives about as many runs on two threads as 64
 * KiB gave on one.
 */
const VARIANTS: [string, Record<string, unknown>, string[]][] = [
  ['unique, runs on two threads', { memory: 128 * 1024, parallel: 2, unique: true }, ['-u']],
  ['stable -k2, runs and merge ranges on two threads', { memory: 256 * 1024, checkpointBytes: 32 * 1024, parallel: 2, unique: false, stable: true, keys: [{ field: 2 }], mergeBuffers: 'dram' }, ['-s', '-k2']],
];

test.each(VARIANTS)(`${KILLS} kills of an external sort (%s), in run formation and merge, lose no checkpoint and change no output`, async (name, options, flags) => {
  let expected: Buffer = Buffer.alloc(0);
  /** Acknowledgements that belong to sorts already completed and checked. */
  let base = 0;
  let seen = 0;
  let completedSorts = 0;
  let resumedSorts = 0;
  /** The most key ranges a completed sort's final merge was cut into. */
  let ranges = 0;
  let checkpointsChecked = 0;
  const killedIn = { runs: 0, merge: 0, done: 0, start: 0 };
  const dir = path.join(testDir(), `sort-kill-${process.pid}`);
  const report = await killTest({
    child: path.resolve(__dirname, 'fixtures/sort/kill-child.js'),
    kills: KILLS,
    seed: 11,
    crashAt: 'random',
    maxAcks: MAX_ACKS,
    maxDelayUs: 1500,
    dir,
    env: { PMEM_SORT_KILL_OPTIONS: JSON.stringify(options) },
    prepare(dir) {
      const input = child.input(dir);
      generate('text', 1536 * 1024, input, 3);
      // Repeated lines, for unique across runs and across resumes.
      fs.appendFileSync(input, fs.readFileSync(input).subarray(0, 256 * 1024));
      fs.appendFileSync(input, 'no newline at the end');
      expected = execFileSync('sort', [...flags, input], { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 26 });
    },
    verify(dir, acked) {
      const fresh = acked.slice(seen) as { phase?: string; finished?: boolean; resumed?: boolean }[];
      seen = acked.length;
      const acks = fresh.filter((a) => a.phase !== undefined);
      const finished = fresh.some((a) => a.finished === true);
      for (const a of fresh as { ranges?: number }[]) ranges = Math.max(ranges, a.ranges ?? 0);
      if (!finished) {
        const last = acks[acks.length - 1];
        if (last === undefined) killedIn.start++;
        else killedIn[last.phase as 'runs' | 'merge' | 'done']++;
      } else if (fresh.some((a) => a.resumed === true)) {
        resumedSorts++;
      }
      const mine = (acked.slice(base) as { phase?: string; generation?: number }[]).filter((a) => a.phase !== undefined);
      const out = child.output(dir);
      if (fs.existsSync(out)) {
        // The sort completed (in this run, or its rename landed before the kill).
        if (!fs.readFileSync(out).equals(expected)) throw new Error('a completed sort wrote another output');
        if (fs.existsSync(path.join(child.work(dir), 'checkpoint'))) {
          // Killed between the rename and the cleanup: the next run resumes and tidies up.
          return;
        }
        completedSorts++;
        fs.rmSync(out);
        base = acked.length;
        return;
      }
      const cpPath = path.join(child.work(dir), 'checkpoint');
      const lastGen = mine.length === 0 ? 0 : mine[mine.length - 1].generation!;
      if (!fs.existsSync(cpPath)) {
        if (lastGen > 0) throw new Error(`generation ${lastGen} was acknowledged and there is no checkpoint`);
        return;
      }
      const m = openMapping(cpPath, { readOnly: true });
      try {
        const r = Checkpoint.recover(m);
        const gen = r === null ? 0 : r.checkpoint.generation;
        if (gen < lastGen) throw new Error(`checkpoint generation ${gen} recovered, ${lastGen} acknowledged`);
        checkpointsChecked++;
      } finally {
        m.close();
      }
    },
  }).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
  console.log(`87 sort kills (${name}) by phase: ${JSON.stringify(killedIn)}; ${completedSorts} sorts completed (${resumedSorts} of them resumed), ` +
    `${checkpointsChecked} checkpoints checked after a kill`);
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(KILLS);
  expectKillsLanded(`87 external sort (${name})`, report);
  // Kills landed in both phases, and sorts completed across kills.
  expect(killedIn.runs).toBeGreaterThanOrEqual(Math.ceil(KILLS / 5));
  expect(killedIn.merge).toBeGreaterThanOrEqual(Math.ceil(KILLS / 5));
  expect(completedSorts).toBeGreaterThan(0);
  expect(resumedSorts).toBeGreaterThan(0);
  // The variant's final merge runs as it says: in key ranges, or on one
  // thread. Checked on one sort of the same input run to its end here:
  // the completed sorts above may all have been resumed after their merge
  // began (which reports no ranges), wherever the kills happened to land.
  if (options.unique === true) expect(ranges).toBeLessThanOrEqual(1);
  const whole = path.join(testDir(), `sort-whole-${process.pid}`);
  fs.mkdirSync(whole, { recursive: true });
  try {
    const input = child.input(whole);
    generate('text', 1536 * 1024, input, 3);
    fs.appendFileSync(input, fs.readFileSync(input).subarray(0, 256 * 1024));
    fs.appendFileSync(input, 'no newline at the end');
    const r = externalSort(input, child.output(whole), { ...child.OPTIONS, ...options, pmem: child.work(whole) } as SortOptions);
    expect(fs.readFileSync(child.output(whole)).equals(expected)).toBe(true);
    if (options.unique === true) expect(r.mergeRanges).toBeLessThanOrEqual(1);
    else expect(r.mergeRanges).toBeGreaterThan(1);
  } finally {
    fs.rmSync(whole, { recursive: true, force: true });
  }
}, 900_000);
