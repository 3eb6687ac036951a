// externalSort's failures that no resume with the same options gets past:
// an input that changes while it is sorted (it grows, shrinks, or is
// rewritten), and a line longer than the budget allows. Each is refused
// before the output is published, and leaves nothing that blocks the next
// sort: no checkpoint, run, partial output, or directory the sort made.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort, type SortOptions } from '../lib';
import { seededRandom } from '../lib/testing';
import { expectNothingLeft, thrownBy } from './fixtures/sort/expect';
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

describe('an input that changes while it is sorted', () => {
  const APPENDED = 'zzzz appended while the runs were formed\naaaa appended too\n';

  test.each([[1, 'pmem'], [2, 'pmem'], [1, 'dram']] as const)(
    'one that grows while its runs are formed is refused before its output is published, and leaves nothing behind (%d threads, %s merge buffers)',
    (parallel, mergeBuffers) => {
      const input = file(`grow-runs-${parallel}-${mergeBuffers}.txt`);
      fs.writeFileSync(input, text(1, 12000));
      const size = fs.statSync(input).size;
      const out = file(`grow-runs-${parallel}-${mergeBuffers}.out`);
      let grewAt = -1;
      let merging = false;
      let runsAfter = 0;
      const options: SortOptions = {
        memory: MEMORY, parallel, mergeBuffers,
        onProgress: (p) => {
          // Once, after the first run, while more input is left to form runs of.
          if (p.phase === 'runs' && grewAt < 0 && p.done < p.total) {
            fs.appendFileSync(input, APPENDED);
            grewAt = p.done;
          }
        },
        onCheckpoint: (info) => {
          if (info.phase === 'runs' && grewAt >= 0) runsAfter++;
          if (info.phase !== 'runs') merging = true;
        },
      };
      const e = thrownBy(() => externalSort(input, out, options));
      // The input grew during run formation: before its end, with runs formed after it.
      expect(grewAt).toBeGreaterThan(0);
      expect(grewAt).toBeLessThan(size);
      expect(runsAfter).toBeGreaterThan(0);
      expect(merging).toBe(true); // it went on to the merge, and only the last check refused it
      expect(e.code).toBe('ERR_PMEM_INVALID');
      expect(e.path).toBe(fs.realpathSync(input));
      expect(e.message).toBe(`the input grew while it was sorted (${size + APPENDED.length} bytes, of which the sort read ${size}): `
        + 'the sort removed its runs and checkpoint; sort it again once it is no longer written');
      expectNothingLeft(out);
      // The same sort again starts afresh, and its output holds the appended lines.
      const r = externalSort(input, out, { memory: MEMORY, parallel, mergeBuffers });
      expect(r.resumed).toBe(false);
      expect(fs.readFileSync(out).equals(gnu(input))).toBe(true);
    });

  test('one that grows during the merge is refused too: the check comes after the merge, before the rename', () => {
    const input = file('grow-merge.txt');
    fs.writeFileSync(input, text(2, 12000));
    const out = file('grow-merge.out');
    let grew = false;
    const e = thrownBy(() => externalSort(input, out, {
      memory: MEMORY, checkpointBytes: 16 * 1024,
      onCheckpoint: (info) => {
        if (info.phase === 'merge' && info.outputBytes > 0 && !grew) {
          fs.appendFileSync(input, APPENDED);
          grew = true;
        }
      },
    }));
    expect(grew).toBe(true);
    expect([e.code, e.message]).toEqual(['ERR_PMEM_INVALID', expect.stringMatching(/^the input grew while it was sorted /)]);
    expectNothingLeft(out);
  });

  test('one that grows while a resume sorts it is refused, and the work of both calls goes', () => {
    const input = file('grow-resume.txt');
    fs.writeFileSync(input, text(3, 12000));
    const out = file('grow-resume.out');
    const options: SortOptions = { memory: MEMORY, parallel: 1 };
    let n = 0;
    expect(() => externalSort(input, out, {
      ...options,
      onCheckpoint: (info) => {
        if (info.phase === 'runs' && ++n === 2) throw new Error('stop');
      },
    })).toThrow('stop');
    expect(fs.readdirSync(`${out}.pmem-sort`)).toContain('checkpoint');
    let grew = false;
    const e = thrownBy(() => externalSort(input, out, {
      ...options, resume: true,
      onProgress: (p) => {
        if (p.phase === 'runs' && !grew && p.done < p.total) {
          fs.appendFileSync(input, APPENDED);
          grew = true;
        }
      },
    }));
    expect(grew).toBe(true);
    expect([e.code, e.message]).toEqual(['ERR_PMEM_INVALID', expect.stringMatching(/^the input grew while it was sorted /)]);
    expectNothingLeft(out);
  });

  test('one rewritten in place (its size kept, its modification time moved) is refused', () => {
    const input = file('rewrite.txt');
    fs.writeFileSync(input, text(4, 12000));
    const out = file('rewrite.out');
    let rewrote = false;
    const e = thrownBy(() => externalSort(input, out, {
      memory: MEMORY,
      onProgress: (p) => {
        if (p.phase === 'runs' && !rewrote && p.done < p.total) {
          // The first byte rewritten, and its time set apart from the start's, whatever the clock's tick.
          const fd = fs.openSync(input, 'r+');
          fs.writeSync(fd, Buffer.from('Z'), 0, 1, 0);
          fs.closeSync(fd);
          fs.utimesSync(input, new Date(), new Date(Date.now() + 10000));
          rewrote = true;
        }
      },
    }));
    expect(rewrote).toBe(true);
    expect(e.code).toBe('ERR_PMEM_INVALID');
    expect(e.message).toMatch(/^the input changed while it was sorted \(its modification time moved, its size of \d+ bytes did not\): the sort removed its runs and checkpoint/);
    expectNothingLeft(out);
  });

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

  test('pmem sort exits 3 for an input that grows while it is sorted, and publishes no output', () => {
    const input = file('grow-cli.txt');
    fs.writeFileSync(input, text(6, 12000));
    const out = file('grow-cli.out');
    // The command's own process grows its input right after its second
    // read of it (the second run's), while the runs are formed: the hook
    // says so on stderr.
    const hook = file('grow-hook.js');
    fs.writeFileSync(hook, `
      const fs = require('fs');
      const input = ${JSON.stringify(input)};
      const open = fs.openSync, read = fs.readSync;
      let fd = -1, reads = 0;
      fs.openSync = function (p, ...rest) {
        const got = open.call(this, p, ...rest);
        if (p === input) fd = got;
        return got;
      };
      fs.readSync = function (f, ...rest) {
        const n = read.call(this, f, ...rest);
        if (f === fd && n > 0 && ++reads === 2) {
          fs.appendFileSync(input, 'appended\\n');
          process.stderr.write('hook: grew the input\\n');
        }
        return n;
      };
    `);
    const bin = path.join(__dirname, '..', 'bin', 'pmem');
    const r = spawnSync(process.execPath, ['--require', hook, bin, 'sort', '-S', '128K', '--parallel', '1', '-o', out, input], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/hook: grew the input\n/);
    expect(r.stderr).toMatch(/ERR_PMEM_INVALID.*the input grew while it was sorted/);
    expect(r.status).toBe(3);
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
    // The chunk named is the one the line met, and so is its share: with a
    // worker thread, 40% of what the budget leaves after the worker's
    // charge (a quarter of this small budget), not 40% of the budget.
    const share = parallel === 1
      ? `in ${Math.floor(MEMORY * 0.4)} bytes, the input share (40%) of the memory budget: `
      : `in ${Math.floor((MEMORY - MEMORY / 4) * 0.4)} bytes, the input share (40%) of what the memory budget leaves after the cost of 1 worker thread: `;
    expect(e.message).toMatch(/^a line at input byte \d+ does not fit, with its newline, in \d+ bytes, /);
    expect(e.message).toContain(share);
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
