// One sort at a time on a pmem directory and on an output: a second sort
// that would share the checkpoint or the partial output fails at once with
// ERR_PMEM_LOCKED (exit 3 from `pmem sort`) and changes nothing of the
// first's, in this process or another; a sort killed with SIGKILL leaves
// no lock behind. And the resume of a sort that was done: its rename is
// not done twice.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort, PmemError, type SortOptions } from '../lib';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { generate } = require('../bench/gensort.js') as { generate(kind: string, bytes: number, file: string, seed?: number): void };

const MEMORY = 128 * 1024;
const bin = path.join(__dirname, '..', 'bin', 'pmem');
const dist = path.join(__dirname, '..', 'dist');
let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-locks-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);

function gnu(input: string): Buffer {
  return execFileSync('sort', [input], { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 28 });
}

/** Each path, and each file in a directory among them, with a digest of its bytes ('missing' when there is none). */
function snapshot(paths: string[]): Record<string, string> {
  const digest = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  const out: Record<string, string> = {};
  for (const p of paths) {
    if (!fs.existsSync(p)) out[p] = 'missing';
    else if (fs.statSync(p).isDirectory()) for (const name of fs.readdirSync(p)) out[path.join(p, name)] = digest(path.join(p, name));
    else out[p] = digest(p);
  }
  return out;
}

/** What `f` threw. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

test('a second sort on the same pmem directory or into the same output, while the first runs, is ERR_PMEM_LOCKED and changes nothing of the first\'s', () => {
  const input = file('first.txt');
  generate('text', 1024 * 1024, input, 31);
  const other = file('second.txt');
  generate('text', 64 * 1024, other, 32);
  const out = file('first.out');
  const partial = `${out}.pmem-sort-partial`;
  const work = file('first.work');
  const options: SortOptions = { memory: MEMORY, pmem: work, parallel: 1, checkpointBytes: 64 * 1024 };
  const otherWork = file('second.work');
  const otherOut = file('second.out');
  const attempts: Array<[string, () => unknown, string]> = [
    ['a second resume of the same sort', () => externalSort(input, out, { ...options, resume: true }), partial],
    ['the same sort, afresh', () => externalSort(input, out, options), partial],
    ['another input into the same output, with a pmem directory of its own', () => externalSort(other, out, { memory: MEMORY, pmem: otherWork }), partial],
    ['another input into another output, in the same pmem directory', () => externalSort(other, otherOut, { memory: MEMORY, pmem: work }), path.join(work, 'checkpoint')],
  ];
  /** The phases whose first checkpoint the attempts were made at. */
  const phases: string[] = [];
  externalSort(input, out, {
    ...options,
    onCheckpoint: (info) => {
      if (phases.includes(info.phase)) return;
      phases.push(info.phase);
      const before = snapshot([work, partial, out]);
      for (const [name, attempt, locked] of attempts) {
        const e = thrown(attempt);
        expect(e).toBeInstanceOf(PmemError);
        expect([name, (e as PmemError).code, (e as PmemError).path]).toEqual([name, 'ERR_PMEM_LOCKED', locked]);
        expect(snapshot([work, partial, out])).toEqual(before);
      }
      // Nor did the second sorts leave anything of their own.
      expect([otherWork, otherOut, `${otherOut}.pmem-sort-partial`].filter((f) => fs.existsSync(f))).toEqual([]);
    },
  });
  // Tried while the runs were formed, during the merge, and once the output was whole.
  expect(phases).toEqual(['runs', 'merge', 'done']);
  expect(fs.readFileSync(out).equals(gnu(input))).toBe(true);
  expect(fs.existsSync(work)).toBe(false);
  // The locks went with the sort.
  externalSort(other, out, { memory: MEMORY, pmem: otherWork });
  expect(fs.readFileSync(out).equals(gnu(other))).toBe(true);
});

test('`pmem sort` beside a sort in another process exits 3 (ERR_PMEM_LOCKED); a SIGKILL drops the locks, and the resume completes', async () => {
  const input = file('killed.txt');
  generate('text', 1024 * 1024, input, 33);
  const other = file('killed-other.txt');
  generate('text', 64 * 1024, other, 34);
  const out = file('killed.out');
  const work = file('killed.work');
  const ready = file('killed.ready');
  // A sort that stops, holding its locks, at its first merge checkpoint, and
  // says so with a file.
  const child = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    const { externalSort } = require(${JSON.stringify(dist)});
    externalSort(${JSON.stringify(input)}, ${JSON.stringify(out)}, {
      memory: ${MEMORY}, pmem: ${JSON.stringify(work)}, parallel: 1, checkpointBytes: 64 * 1024,
      onCheckpoint: (info) => {
        if (info.phase !== 'merge') return;
        fs.writeFileSync(${JSON.stringify(ready)}, '');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      },
    });`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  try {
    for (const deadline = Date.now() + 60000; !fs.existsSync(ready);) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error('the sort did not reach its merge');
      await new Promise((r) => setTimeout(r, 20));
    }
    const pmem = (args: string[]): { code: number | null; err: string } => {
      const r = spawnSync(process.execPath, [bin, 'sort', '-S', '128K', ...args], { encoding: 'utf8' });
      return { code: r.status, err: r.stderr };
    };
    const partial = `${out}.pmem-sort-partial`;
    const before = snapshot([work, partial, out]);
    expect(pmem(['--pmem', work, '--resume', input, '-o', out])).toEqual({
      code: 3, err: `pmem: ERR_PMEM_LOCKED: another sort is writing ${out} (it holds ${partial})\n`,
    });
    expect(pmem(['--pmem', file('killed-other.work'), other, '-o', out]).code).toBe(3);
    expect(pmem(['--pmem', work, other, '-o', file('killed-other.out')])).toEqual({
      code: 3, err: `pmem: ERR_PMEM_LOCKED: another sort is using the pmem directory ${work} (it holds ${path.join(work, 'checkpoint')})\n`,
    });
    expect(snapshot([work, partial, out])).toEqual(before);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('killed-other.'))).toEqual(['killed-other.txt']);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const r = spawnSync(process.execPath, [bin, 'sort', '-S', '128K', '--pmem', work, '--resume', '--json', input, '-o', out], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect((JSON.parse(r.stdout) as { resumed: boolean }).resumed).toBe(true);
    expect(fs.readFileSync(out).equals(gnu(input))).toBe(true);
    expect(fs.existsSync(work)).toBe(false);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test('the resume of a sort stopped after its \'done\' checkpoint renames the output once: before the rename, and after it', () => {
  const input = file('done.txt');
  generate('text', 256 * 1024, input, 35);
  const expected = gnu(input);
  const out = file('done.out');
  const partial = `${out}.pmem-sort-partial`;
  for (const renamed of [false, true]) {
    fs.rmSync(out, { force: true });
    let phase = '';
    expect(() => externalSort(input, out, {
      memory: MEMORY, onCheckpoint: (info) => {
        phase = info.phase;
        if (phase === 'done') throw new Error('stop');
      },
    })).toThrow('stop');
    expect(phase).toBe('done');
    // A crash between the rename and the removal of the work files.
    if (renamed) fs.renameSync(partial, out);
    const r = externalSort(input, out, { memory: MEMORY, resume: true });
    expect(r.resumed).toBe(true);
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    expect(fs.existsSync(partial)).toBe(false);
    expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
  }
});
