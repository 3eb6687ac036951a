// A resume of externalSort whose input changed since its checkpoint: the
// input is known by its size and modification time, which a user can set
// back (`touch -r`, `cp -p`, `rsync -t`, `tar x`), and by what no user can:
// its device and inode, and its change time. A changed input, or a
// checkpoint of an earlier version that recorded neither, is refused, and
// nothing is published; an unchanged input resumes to a fresh sort's output.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort, PmemError, type SortOptions } from '../lib';
import { openMapping } from '../lib/core/mapping';
import { Checkpoint } from '../lib/sort/checkpoint';
import { seededRandom } from '../lib/testing';
import { expectNothingLeft, thrownBy } from './fixtures/sort/expect';
import { testDir } from './helpers';

const OPTIONS: SortOptions = { memory: 64 * 1024, parallel: 1 };
/** The input's modification time, a whole number of seconds: set back exactly, as `touch -r` does. */
const MTIME = 1_000_000_000;
let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-resume-input-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);

/** `lines` random lines of 8 digits: many runs under OPTIONS.memory. */
function digits(seed: number, lines: number): Buffer {
  const random = seededRandom(seed);
  let s = '';
  for (let i = 0; i < lines; i++) s += String(Math.floor(random() * 1e8)).padStart(8, '0') + '\n';
  return Buffer.from(s);
}

/** Writes `bytes` to `input`, its modification time MTIME. */
function writeInput(input: string, bytes: Buffer): void {
  fs.writeFileSync(input, bytes);
  fs.utimesSync(input, MTIME, MTIME);
}

/** Sorts `input` into `out` and stops it by its third checkpoint, which stays. */
function stopped(input: string, out: string): void {
  let n = 0;
  expect(() => externalSort(input, out, {
    ...OPTIONS,
    onCheckpoint: () => {
      if (++n === 3) throw new Error('stop');
    },
  })).toThrow('stop');
  expect(fs.readdirSync(`${out}.pmem-sort`)).toContain('checkpoint');
}

/** The change time of `f`, in nanoseconds. */
const ctimeOf = (f: string): bigint => fs.statSync(f, { bigint: true }).ctimeNs;

/**
 * Sets `input`'s modification time back to MTIME until its change time is
 * not `was`: a write within the clock tick of the one before leaves the
 * change time as it was, whatever the machine's speed, and a later utimes
 * moves it.
 */
function setBack(input: string, was: bigint): void {
  fs.utimesSync(input, MTIME, MTIME);
  while (ctimeOf(input) === was) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    fs.utimesSync(input, MTIME, MTIME);
  }
}

/** The resume's error, which must be thrown. */
function resumeError(input: string, out: string): PmemError {
  return thrownBy(() => externalSort(input, out, { ...OPTIONS, resume: true }));
}

/** The sorted lines of `bytes`. */
function sorted(bytes: Buffer): Buffer {
  const lines = bytes.toString('latin1').split('\n');
  lines.pop();
  return Buffer.from(lines.sort().join('\n') + '\n', 'latin1');
}

test('an input rewritten in place, its size kept and its modification time set back, is not resumed', () => {
  const input = file('rewritten.txt');
  const out = file('rewritten.out');
  const old = digits(1, 20000);
  writeInput(input, old);
  const was = ctimeOf(input);
  stopped(input, out);
  // Every '1' a '9', in place: the same size, other records.
  const now = Buffer.from(old.toString('latin1').replace(/1/g, '9'), 'latin1');
  const fd = fs.openSync(input, 'r+');
  try {
    fs.writeSync(fd, now, 0, now.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  setBack(input, was);
  expect(fs.statSync(input).size).toBe(old.length);
  expect(fs.statSync(input).mtimeMs).toBe(MTIME * 1000);
  const e = resumeError(input, out);
  expect(e.code).toBe('ERR_PMEM_INVALID');
  expect(e.message).toMatch(/^the input changed since the checkpoint in .* was written: its input change time \(ns\) was \d+, now \d+: the sort removed its runs and checkpoint; start the sort again without resume$/);
  expectNothingLeft(out);
  // As the message says: the sort again, without resume, sorts the input it finds.
  externalSort(input, out, OPTIONS);
  expect(fs.readFileSync(out).equals(sorted(now))).toBe(true);
});

test('an input replaced by another file of its size and modification time is not resumed', () => {
  const input = file('replaced.txt');
  const out = file('replaced.out');
  writeInput(input, digits(2, 20000));
  stopped(input, out);
  const other = file('replaced.new');
  writeInput(other, digits(3, 20000));
  expect(fs.statSync(other).size).toBe(fs.statSync(input).size);
  fs.renameSync(other, input);
  expect(fs.statSync(input).mtimeMs).toBe(MTIME * 1000);
  const e = resumeError(input, out);
  expect(e.code).toBe('ERR_PMEM_INVALID');
  expect(e.message).toMatch(/^the input changed since the checkpoint in .* was written: .*its input inode was \d+, now \d+.*: the sort removed its runs and checkpoint; start the sort again without resume$/);
  expectNothingLeft(out);
});

test('a checkpoint of an earlier version, which recorded the input by its size and modification time only, is not resumed', () => {
  const input = file('earlier.txt');
  const out = file('earlier.out');
  writeInput(input, digits(4, 20000));
  stopped(input, out);
  // The checkpoint as the earlier version wrote it: its description without
  // the device, inode and change time, its modification time in ms.
  const region = openMapping(path.join(`${out}.pmem-sort`, 'checkpoint'));
  try {
    const found = Checkpoint.recover(region);
    expect(found).not.toBeNull();
    const { checkpoint, state } = found as NonNullable<typeof found>;
    const d = JSON.parse(checkpoint.job) as Record<string, unknown>;
    const earlier = JSON.stringify({
      input: d.input, size: d.size, mtimeMs: fs.statSync(input).mtimeMs, output: d.output,
      format: d.format, memory: d.memory, mergeBuffers: d.mergeBuffers,
    });
    Checkpoint.create(region, earlier, checkpoint.maxRuns, state);
  } finally {
    region.close();
  }
  const e = resumeError(input, out);
  expect(e.code).toBe('ERR_PMEM_INVALID');
  expect(e.message).toMatch(/^the checkpoint in .* was written by an earlier version, which identified the input by its size and modification time only: .*: the sort removed its runs and checkpoint; start the sort again without resume$/);
  expectNothingLeft(out);
});

test('an unchanged input resumes to the output of a fresh sort', () => {
  const input = file('unchanged.txt');
  const out = file('unchanged.out');
  writeInput(input, digits(5, 20000));
  const fresh = file('unchanged.fresh');
  externalSort(input, fresh, OPTIONS);
  stopped(input, out);
  // Read meanwhile (its access time may move, its change time does not).
  fs.readFileSync(input);
  const r = externalSort(input, out, { ...OPTIONS, resume: true });
  expect(r.resumed).toBe(true);
  expect(fs.readFileSync(out).equals(fs.readFileSync(fresh))).toBe(true);
  expect(fs.readFileSync(out).equals(sorted(fs.readFileSync(input)))).toBe(true);
  expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
});
