// externalSort's failures that no resume with the same options gets past:
// an input that shrinks while it is sorted, and a line longer than the
// budget allows. Each leaves nothing that blocks the next sort: no
// checkpoint, run, partial output, or directory the sort made.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort, PmemError, type SortOptions } from '../lib';
import { seededRandom } from '../lib/testing';
import { testDir } from './helpers';

const MEMORY = 128 * 1024;
let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-dead-ends-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);

/** GNU sort's output for `input`. */
function gnu(input: string): Buffer {
  return execFileSync('sort', [input], { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 28 });
}

/** `lines` random lines of 1..40 letters: many runs under MEMORY. */
function text(seed: number, lines: number): Buffer {
  const random = seededRandom(seed);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    let s = '';
    for (let n = 1 + Math.floor(random() * 40); n > 0; n--) s += String.fromCharCode(97 + Math.floor(random() * 26));
    out.push(s);
  }
  return Buffer.from(out.join('\n') + '\n');
}

/** What `f` threw (it must throw). */
function thrownBy(f: () => unknown): PmemError {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(PmemError);
  return thrown as PmemError;
}

/** Nothing of the sort into `out` is left: no output, no partial output, no default pmem directory. */
function expectNothingLeft(out: string): void {
  expect(fs.existsSync(out)).toBe(false);
  expect(fs.existsSync(`${out}.pmem-sort-partial`)).toBe(false);
  expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
}

describe('an input that shrinks while it is sorted', () => {
  test('one that shrinks while its runs are formed is refused, and leaves nothing behind', () => {
    const input = file('shrink.txt');
    const content = text(5, 12000);
    fs.writeFileSync(input, content);
    const out = file('shrink.out');
    let shrank = false;
    const e = thrownBy(() => externalSort(input, out, {
      memory: MEMORY, parallel: 1,
      onProgress: (p) => {
        if (p.phase === 'runs' && !shrank && p.done < p.total) {
          fs.truncateSync(input, p.done + 10);
          shrank = true;
        }
      },
    }));
    expect(shrank).toBe(true);
    expect(e.code).toBe('ERR_PMEM_INVALID');
    expect(e.message).toMatch(/^the input shrank while it was sorted \(\d+ of \d+ bytes\): the sort removed its runs and checkpoint/);
    expectNothingLeft(out);
  });

});

describe('a line longer than the budget allows', () => {
  /** Lines that make runs, then one line of `long` bytes, then more lines. */
  function withLongLine(name: string, long: number): string {
    const input = file(name);
    fs.writeFileSync(input, Buffer.concat([text(7, 6000), Buffer.from(`${'7'.repeat(long)}\n`), text(8, 2000)]));
    return input;
  }

  test.each([[1], [2]])('leaves nothing behind, so that the sort with a larger budget starts afresh (%d threads)', (parallel) => {
    const input = withLongLine(`long-${parallel}.txt`, MEMORY);
    const out = file(`long-${parallel}.out`);
    let published = 0;
    const e = thrownBy(() => externalSort(input, out, { memory: MEMORY, parallel, onCheckpoint: () => void published++ }));
    // Runs were formed and checkpointed before the line: there was work to remove.
    expect(published).toBeGreaterThan(0);
    expect(e.code).toBe('ERR_PMEM_NO_MEMORY');
    expect(e.message).toMatch(/^a line at input byte \d+ does not fit, with its newline, in \d+ bytes, the input share \(40%\) of the memory budget: /);
    expect(e.message).toMatch(/: the sort removed its runs and checkpoint; sort it again with a larger memory budget$/);
    expectNothingLeft(out);
    // The same sort again meets the line again (not ERR_PMEM_EXISTS), and
    // leaves nothing again; with a larger budget it succeeds, afresh.
    expect(thrownBy(() => externalSort(input, out, { memory: MEMORY, parallel })).code).toBe('ERR_PMEM_NO_MEMORY');
    expectNothingLeft(out);
    const r = externalSort(input, out, { memory: 4 * MEMORY, parallel });
    expect(r.resumed).toBe(false);
    expect(fs.readFileSync(out).equals(gnu(input))).toBe(true);
    expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
  });

  test('a pmem directory given is emptied of the sort\'s files and stays; one the sort made goes', () => {
    const input = withLongLine('long-dir.txt', MEMORY);
    const out = file('long-dir.out');
    const given = file('given-work');
    fs.mkdirSync(given);
    fs.writeFileSync(path.join(given, 'mine'), 'not the sort\'s');
    expect(thrownBy(() => externalSort(input, out, { memory: MEMORY, pmem: given })).code).toBe('ERR_PMEM_NO_MEMORY');
    expect(fs.readdirSync(given)).toEqual(['mine']);
    const made = file('made-work');
    expect(thrownBy(() => externalSort(input, out, { memory: MEMORY, pmem: made })).code).toBe('ERR_PMEM_NO_MEMORY');
    expect(fs.existsSync(made)).toBe(false);
    expectNothingLeft(out);
    externalSort(input, out, { memory: 4 * MEMORY, pmem: given });
    expect(fs.readFileSync(out).equals(gnu(input))).toBe(true);
    expect(fs.readdirSync(given)).toEqual(['mine']);
  });

  test('met by a resume, it removes the checkpoint and runs the interrupted call made', () => {
    const input = withLongLine('long-resume.txt', MEMORY);
    const out = file('long-resume.out');
    expect(() => externalSort(input, out, {
      memory: MEMORY, parallel: 1,
      onCheckpoint: () => {
        throw new Error('stop');
      },
    })).toThrow('stop');
    expect(fs.readdirSync(`${out}.pmem-sort`)).toContain('checkpoint');
    const e = thrownBy(() => externalSort(input, out, { memory: MEMORY, parallel: 1, resume: true }));
    expect(e.code).toBe('ERR_PMEM_NO_MEMORY');
    expectNothingLeft(out);
  });

  test('pmem sort: the same command with a larger -S succeeds after the refusal, with nothing to remove by hand', () => {
    const input = file('long-cli.txt');
    fs.writeFileSync(input, `${'0'.repeat(40000)}\n`);
    const out = file('long-cli.out');
    const bin = path.join(__dirname, '..', 'bin', 'pmem');
    const pmem = (args: string[]) => spawnSync(process.execPath, [bin, 'sort', ...args], { encoding: 'utf8' });
    const first = pmem(['-S', '64K', '-o', out, input]);
    expect(first.status).toBe(3);
    expect(first.stderr).toMatch(/ERR_PMEM_NO_MEMORY.*the sort removed its runs and checkpoint; sort it again with a larger memory budget/);
    expectNothingLeft(out);
    const again = pmem(['-S', '1M', '-o', out, input]);
    expect([again.status, again.stderr]).toEqual([0, '']);
    expect(fs.readFileSync(out).equals(fs.readFileSync(input))).toBe(true);
    expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
  });
});
