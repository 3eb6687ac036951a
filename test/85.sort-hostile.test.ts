// externalSort and `pmem sort` given what a hostile user gives: options
// whose getters answer differently each time, letters run together as GNU
// sort takes them (-nk2), callbacks that throw.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort, parseKey, type SortOptions } from '../lib';
import { testDir } from './helpers';

const MEMORY = 64 * 1024;
let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-hostile-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);
const bin = path.join(__dirname, '..', 'bin', 'pmem');

/** `pmem sort` with `args`: its exit code, stdout and stderr. */
function pmem(args: string[], as: { uid?: number; gid?: number } = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, 'sort', ...args], { encoding: 'utf8', ...as });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** GNU sort's output for `input` with `flags`. */
/** What `fn` throws (an empty object when it returns). */
function thrownBy(fn: () => unknown): { code?: string; message?: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message?: string };
  }
  return {};
}

function gnu(input: string, flags: string[]): Buffer {
  return execFileSync('sort', [...flags, input], { env: { ...process.env, LC_ALL: 'C' } });
}

/** Lines of a word and a number, enough for several runs under MEMORY. */
function numbered(name: string, lines = 20000): string {
  const p = file(name);
  const out: string[] = [];
  let x = 12345;
  for (let i = 0; i < lines; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    out.push(`w${x.toString(36)} ${x % 1000}`);
  }
  fs.writeFileSync(p, out.join('\n') + '\n');
  return p;
}

describe('options are read once', () => {
  test('each option of the sort and of each key is read once, however many checks use it', () => {
    const input = numbered('once.txt', 2000);
    const reads = new Map<string, number>();
    const counted = <T extends object>(target: T, prefix: string): T => new Proxy(target, {
      get(t, name, receiver) {
        if (typeof name === 'string') reads.set(prefix + name, (reads.get(prefix + name) ?? 0) + 1);
        return Reflect.get(t, name, receiver) as unknown;
      },
    });
    const options = counted({
      memory: MEMORY, pmem: file('once.work'), keys: [counted({ field: 2, char: 1, endField: 2 }, 'keys[0].')], numeric: true,
      separator: ' ', reverse: true, stable: true, mergeBuffers: 'dram', parallel: 2, checkpointBytes: 4096,
      onProgress: () => undefined, onCheckpoint: () => undefined,
    } as SortOptions, '');
    externalSort(input, file('once.out'), options);
    expect(fs.readFileSync(file('once.out')).equals(gnu(input, ['-t', ' ', '-k2,2', '-n', '-r', '-s']))).toBe(true);
    expect([...reads].filter(([, n]) => n > 1)).toEqual([]);
    expect(reads.get('onProgress')).toBe(1);
    expect(reads.get('pmem')).toBe(1);
  });

  test('an onProgress getter that answers a function, then a number, is the function it answered to its check', () => {
    const input = numbered('getter.txt');
    let reads = 0;
    let calls = 0;
    const options = { memory: MEMORY };
    Object.defineProperty(options, 'onProgress', {
      enumerable: true,
      get: () => (++reads === 1 ? () => { calls++; } : 42),
    });
    // It was read again where the sort called it: a TypeError ("not a
    // function") in the middle of the sort, the work left behind.
    const r = externalSort(input, file('getter.out'), options);
    expect(r.runs).toBeGreaterThan(1);
    expect(calls).toBeGreaterThan(0);
    expect(reads).toBe(1);
    expect(fs.existsSync(file('getter.out.pmem-sort'))).toBe(false);
  });

  test('a keys array whose own map answers other keys is read by index: the keys checked are the keys sorted by', () => {
    const input = numbered('keys.txt', 2000);
    const keys = [{ field: 2 }];
    // A key that the checks would refuse, had they seen it.
    Object.defineProperty(keys, 'map', { value: () => [{ field: 0, char: 0, endField: 0, endChar: 0 }] });
    externalSort(input, file('keys.out'), { memory: MEMORY, keys, numeric: true });
    expect(fs.readFileSync(file('keys.out')).equals(gnu(input, ['-k2', '-n']))).toBe(true);
  });
});

describe('pmem sort: letters run together as GNU sort takes them', () => {
  test.each([
    [['-nk2'], ['-n', '-k2']],
    [['-rnk2,2'], ['-r', '-n', '-k2,2']],
    [['-nrt', ' ', '-k2'], ['-n', '-r', '-t', ' ', '-k2']],
    [['-nt ', '-k2,2', '-u'], ['-n', '-t', ' ', '-k2,2', '-u']],
    [['-sk', '2,2'], ['-s', '-k2,2']],
    [['-nS64K', '-k2'], ['-n', '-k2']],
    [['-nS', '64K', '-rk1.2'], ['-n', '-r', '-k1.2']],
  ])('%j sorts as GNU sort does', (args, flags) => {
    const input = numbered('cli.txt', 3000);
    const out = file('cli.out');
    const r = pmem([...args, input, '-o', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(out).equals(gnu(input, flags))).toBe(true);
  });

  test('-no FILE writes FILE, as GNU sort does', () => {
    const input = numbered('cli-o.txt', 3000);
    const out = file('cli-o.out');
    const r = pmem(['-no', out, input]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(out).equals(gnu(input, ['-n']))).toBe(true);
  });

  test.each([
    [['-nz'], "unknown sort option letter 'z' in -nz"],
    [['-n-r'], "unknown sort option letter '-' in -n-r"],
    [['-nk2n'], "-k: a key is F[.C][,F[.C]] (fields and characters from 1), got '2n'"],
  ])('%j is a usage error naming the letter', (args, message) => {
    const input = numbered('cli-bad.txt', 10);
    const out = file('cli-bad.out');
    const r = pmem([...args, input, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`pmem: ${message}\n`);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('pmem sort: an option given twice, as GNU sort takes it', () => {
  test('two outputs are refused, and neither is written; the same one twice is one', () => {
    const input = numbered('twice-o.txt', 100);
    const [a, b] = [file('twice-a.out'), file('twice-b.out')];
    const r = pmem([input, '-o', a, '-o', b]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`pmem: multiple output files specified: -o ${a} and -o ${b}\n`);
    expect([fs.existsSync(a), fs.existsSync(b)]).toEqual([false, false]);
    expect(pmem([input, '-o', a, `-o${a}`])).toMatchObject({ code: 0, err: '' });
    expect(fs.readFileSync(a).equals(gnu(input, []))).toBe(true);
  });

  test('two tabs are refused; the same tab twice is one', () => {
    const input = numbered('twice-t.txt', 100);
    const out = file('twice-t.out');
    const r = pmem(['-t', ',', '-t:', '-k2', input, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.err).toBe("pmem: incompatible tabs: -t ',' and -t ':'\n");
    expect(fs.existsSync(out)).toBe(false);
    expect(pmem(['-t', ' ', '-t ', '-k2', input, '-o', out])).toMatchObject({ code: 0, err: '' });
    expect(fs.readFileSync(out).equals(gnu(input, ['-t', ' ', '-k2']))).toBe(true);
  });
});

describe('callbacks that throw', () => {
  test.each([
    ['onProgress, while runs are formed', 'runs'],
    ['onCheckpoint, in the final merge', 'merge'],
  ])('%s: the error is thrown as it is, the workers stopped, and resume continues to GNU sort\'s output', (_, phase) => {
    const input = numbered(`throw-${phase}.txt`);
    const out = file(`throw-${phase}.out`);
    const thrown = new Error('the application gave up');
    let error: unknown;
    try {
      externalSort(input, out, {
        memory: MEMORY, parallel: 2, checkpointBytes: 4096,
        onProgress: (p) => { if (phase === 'runs' && p.done > 0) throw thrown; },
        onCheckpoint: (c) => { if (phase === 'merge' && c.phase === 'merge') throw thrown; },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBe(thrown);
    expect(fs.existsSync(out)).toBe(false);
    const r = externalSort(input, out, { memory: MEMORY, parallel: 2, resume: true });
    expect(r.resumed).toBe(true);
    expect(fs.readFileSync(out).equals(gnu(input, []))).toBe(true);
    expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
  });
});

describe('a pmem directory that cannot be made', () => {
  test.each([
    ['whose parent takes no new directory (/proc)', () => '/proc/pmem-sort-hostile', 'ERR_PMEM_IO', /^cannot make \/proc\/pmem-sort-hostile: no new directory can be made in \/proc: no such file or directory \(ENOENT\)$/],
    ['whose parent is a regular file', () => path.join(file('parent-file.txt'), 'work'), 'ERR_PMEM_INVALID', /: its parent .*parent-file\.txt is not a directory$/],
    ['whose parent is missing', () => path.join(file('no-such-dir'), 'work'), 'ERR_PMEM_NOT_FOUND', /: its parent .*no-such-dir does not exist$/],
  ])('%s is refused, said as it is, and nothing is left', (_, pmem, code, message) => {
    const input = numbered('parent.txt', 100);
    fs.writeFileSync(file('parent-file.txt'), 'x\n');
    const out = file('parent.out');
    let error: { code?: string; message?: string; path?: string } = {};
    try {
      externalSort(input, out, { memory: MEMORY, pmem: pmem() });
    } catch (e) {
      error = e as typeof error;
    }
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(error.path).toBe(pmem());
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('parent.out'))).toEqual([]);
  });
});

describe('a large budget for a small input', () => {
  // The run buffers were the budget's (40% of it for the input chunk, 15%
  // for the record table), whatever the input's size. Untouched, they cost
  // no RSS; but a search for the newline of a last line without one ran
  // through all of the chunk past the bytes read, faulting every page in
  // (880 MiB of RSS and 3 s for 5 bytes under -S 2G). MALLOC_PERTURB_ makes
  // glibc fill every block it hands out, so that each byte allocated counts
  // here: 950 MiB for 6 bytes before the buffers were sized to the input.
  test('costs memory of its size, and a last line without a newline no more than one with it', () => {
    const peaks: number[] = [];
    for (const text of ['b\na\nc\n', 'b\na\nc']) {
      const input = file('small.txt');
      fs.writeFileSync(input, text);
      const out = file('small.out');
      const r = spawnSync(process.execPath, [bin, 'sort', '-S', '2G', '--parallel', '1', '--json', input, '-o', out], {
        encoding: 'utf8', env: { ...process.env, MALLOC_PERTURB_: '165' },
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(fs.readFileSync(out, 'latin1')).toBe('a\nb\nc\n');
      peaks.push((JSON.parse(r.stdout) as { peakRss: number }).peakRss);
    }
    expect(peaks[0]).toBeLessThan(300 * 2 ** 20);
    expect(peaks[1]).toBeLessThan(peaks[0] + 64 * 2 ** 20);
  });

  test('peakRss is the sort\'s own, not that of the process that started it', () => {
    // getrusage's maxRSS of a process started by fork and exec is its
    // parent's RSS at the fork, when that is larger: a sort spawned by a
    // jest worker reported the worker's.
    const input = file('spawned.txt');
    fs.writeFileSync(input, 'b\na\nc\n');
    const script = `
      const held = Buffer.alloc(400 * 2 ** 20, 1);
      const r = require('node:child_process').spawnSync(process.execPath, process.argv.slice(1), { encoding: 'utf8' });
      const hwm = Number(/^VmHWM:\\s+(\\d+) kB$/m.exec(require('node:fs').readFileSync('/proc/self/status', 'latin1'))[1]) * 1024;
      console.log(JSON.stringify({ parent: hwm, held: held.length, status: r.status, err: r.stderr, sort: JSON.parse(r.stdout || 'null') }));`;
    const r = spawnSync(process.execPath, ['-e', script, bin, 'sort', '--json', input, '-o', file('spawned.out')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as { parent: number; status: number; err: string; sort: { peakRss: number } };
    expect([got.status, got.err]).toEqual([0, '']);
    expect(got.parent).toBeGreaterThan(400 * 2 ** 20);
    expect(got.sort.peakRss).toBeGreaterThan(0);
    expect(got.sort.peakRss).toBeLessThan(got.parent - 200 * 2 ** 20);
  });

  test('one thread forms an input that is one run whatever the threads asked for; a larger input forms on them', () => {
    const small = file('one-run.txt');
    fs.writeFileSync(small, 'b\na\nc\n');
    const one = externalSort(small, file('one-run.out'), { memory: 2 ** 31, parallel: 4 });
    expect([one.threads, one.runs]).toEqual([1, 1]);
    expect(fs.readFileSync(file('one-run.out'), 'latin1')).toBe('a\nb\nc\n');
    // 20,000 lines under 64 KiB: many runs, formed on both threads asked for.
    const large = numbered('many-runs.txt');
    const two = externalSort(large, file('many-runs.out'), { memory: MEMORY, parallel: 2, mergeBuffers: 'dram' });
    expect(two.threads).toBe(2);
    expect(two.runs).toBeGreaterThan(2);
    expect(fs.readFileSync(file('many-runs.out')).equals(gnu(large, []))).toBe(true);
  });
});

describe('an input at the partial output\'s path', () => {
  // The partial output is emptied as a sort starts and removed when the
  // sort fails past any resume: the input there was emptied, then removed
  // ("the input shrank while it was sorted").
  test.each([
    ['by its name', (input: string, partial: string) => fs.renameSync(input, partial)],
    ['as a hard link', (input: string, partial: string) => fs.linkSync(input, partial)],
    ['as a symbolic link', (input: string, partial: string) => fs.symlinkSync(input, partial)],
  ])('%s is refused, and the input is left as it was', (how, make) => {
    const name = `partial-${how.replace(/ /g, '-')}`;
    const original = numbered(`${name}.txt`, 100);
    const before = fs.readFileSync(original);
    const out = file(`${name}.out`);
    const partial = `${out}.pmem-sort-partial`;
    make(original, partial);
    const input = how === 'by its name' ? partial : original;
    const error = thrownBy(() => externalSort(input, out, { memory: MEMORY }));
    expect(error.code).toBe('ERR_PMEM_INVALID');
    expect(error.message).toContain(`the partial output ${partial} is the input`);
    expect(fs.readFileSync(input).equals(before)).toBe(true);
    expect(fs.readFileSync(partial).equals(before)).toBe(true);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
  });
});

describe('arguments of the wrong form', () => {
  test.each([
    ['an input with a NUL byte', (f: string) => [`${f}\0x`, file('nul.out'), {}], 'input must not contain a NUL byte'],
    ['an output with a NUL byte', (f: string) => [f, `${file('nul.out')}\0x`, {}], 'output must not contain a NUL byte'],
    ['a pmem directory with a NUL byte', (f: string) => [f, file('nul.out'), { pmem: `${file('nul.work')}\0x` }], 'pmem must not contain a NUL byte'],
    ['options given as an array', (f: string) => [f, file('nul.out'), []], 'options must be an object, not an array'],
    ['a key given as an array', (f: string) => [f, file('nul.out'), { keys: [[2]] }], 'keys[0] must be an object, not an array'],
    ['a hole in the keys', (f: string) => [f, file('nul.out'), { keys: [{ field: 1 }, , { field: 2 }] }], 'keys[1] must be an object'],
  ])('%s is a TypeError naming it, and nothing is made', (_, args, message) => {
    const input = numbered('nul.txt', 10);
    const [i, o, options] = args(input) as [string, string, SortOptions];
    expect(() => externalSort(i, o, options)).toThrow(new TypeError(message));
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('nul.') && n !== 'nul.txt')).toEqual([]);
  });
});

test.each([['99999999999999999999'], ['1.9007199254740993'], ['2,9007199254740993'], ['1,1.99999999999999999999']])(
  'parseKey(%p) is a RangeError: a field or character number past 2^53 - 1 would not be the one typed', (spec) => {
    expect(() => parseKey(spec)).toThrow(new RangeError(`field and character numbers are at most 9007199254740991, got '${spec}'`));
  },
);

test.each([[2], [null], [{ toString: () => '2' }]])('parseKey(%p) is a TypeError: only a string is a key spec', (spec) => {
  expect(() => parseKey(spec as unknown as string)).toThrow(TypeError);
  expect(() => parseKey(spec as unknown as string)).toThrow(/^a key spec must be a string, got (number|null|object)$/);
});

describe('pmem sort -t with a byte that is not UTF-8', () => {
  // The command line carries such bytes only from a shell: printf writes them.
  const sh = (tab: string, input: string, out: string): { code: number | null; err: string } => {
    const r = spawnSync('/bin/sh', ['-c', `exec "${process.execPath}" "$0" sort -t "$(printf '${tab}')" -k2 "$1" -o "$2"`, bin, input, out], { encoding: 'utf8' });
    return { code: r.status, err: r.stderr };
  };

  test('-t \\xa7 is that byte, as GNU sort takes it in the C locale', () => {
    const input = file('section.txt');
    fs.writeFileSync(input, Buffer.from('a\xa73 x\nb\xa71 y\nc\xa72\xa7z\nd\xa7\n', 'latin1'));
    const out = file('section.out');
    const r = sh('\\247', input, out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const expected = execFileSync('/bin/sh', ['-c', `exec sort -t "$(printf '\\247')" -k2 "$0"`, input], { env: { ...process.env, LC_ALL: 'C' } });
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    expect(fs.readFileSync(out, 'latin1')).toBe('d\xa7\nb\xa71 y\nc\xa72\xa7z\na\xa73 x\n');
  });

  test.each([['\\247\\247', '\\xa7\\xa7'], ['a\\247', 'a\\xa7']])('-t %s is a usage error naming its bytes', (tab, named) => {
    const out = file('section-bad.out');
    const r = sh(tab, numbered('section-bad.txt', 10), out);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`pmem: -t takes one byte; '${named}' is 2 bytes (a multi-character tab)\n`);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('an output that names a directory', () => {
  // path.resolve drops a trailing '/': `new/` was made a file `new`, and
  // `kept.txt/` replaced kept.txt.
  test.each([['new/'], ['kept.txt/'], ['new/.']])('%s is refused, and nothing is made or replaced', (name) => {
    const input = numbered('slash.txt', 100);
    fs.writeFileSync(file('kept.txt'), 'kept\n');
    const out = `${dir}/${name}`; // not path.join, which drops a trailing /.
    const error = thrownBy(() => externalSort(input, out, { memory: MEMORY }));
    expect(error.code).toBe('ERR_PMEM_INVALID');
    expect(error.message).toBe(`the output ${out} names a directory: the sort writes a regular file`);
    expect(fs.readFileSync(file('kept.txt'), 'latin1')).toBe('kept\n');
    expect(fs.existsSync(file('new'))).toBe(false);
    expect(fs.readdirSync(dir).filter((n) => /^(new|kept\.txt).*pmem-sort/.test(n))).toEqual([]);
  });
});

describe('pmem sort -o /dev/stdout', () => {
  test.each([['/dev/stdout'], ['/dev/fd/1'], ['/proc/self/fd/1']])('-o %s is stdout: through a pipe, and appended to a file stdout appends to', (name) => {
    const input = numbered('stdout.txt', 3000);
    const expected = gnu(input, ['-k2']);
    // A pipe: it was 'a symbolic link to nothing'.
    const piped = spawnSync(process.execPath, [bin, 'sort', '-S', '64K', '-k2', input, '-o', name]);
    expect(piped.stderr.toString()).toBe('');
    expect(piped.status).toBe(0);
    expect(piped.stdout.equals(expected)).toBe(true);
    // A file opened to append (a log): it was replaced by the output, and
    // what the shell wrote after it went to the file unlinked.
    const log = file('stdout.log');
    fs.writeFileSync(log, 'before\n');
    const fd = fs.openSync(log, 'a');
    try {
      const r = spawnSync(process.execPath, [bin, 'sort', '-S', '64K', '-k2', input, '-o', name], { stdio: ['ignore', fd, 'pipe'] });
      expect(r.stderr.toString()).toBe('');
      expect(r.status).toBe(0);
      fs.writeSync(fd, 'after\n');
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(log).equals(Buffer.concat([Buffer.from('before\n'), expected, Buffer.from('after\n')]))).toBe(true);
  });
});

describe('pmem sort /dev/stdin', () => {
  test.each([['/dev/stdin'], ['/dev/fd/0'], ['/proc/self/fd/0']])('%s from a pipe is stdin, as - is; from a file, that file', (name) => {
    const input = numbered('stdin.txt', 3000);
    const expected = gnu(input, ['-k2']);
    const out = file('stdin.out');
    // A pipe: it was 'not a regular file'.
    const piped = spawnSync(process.execPath, [bin, 'sort', '-S', '64K', '-k2', name, '-o', out], { input: fs.readFileSync(input) });
    expect(piped.stderr.toString()).toBe('');
    expect(piped.status).toBe(0);
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    fs.rmSync(out);
    const fd = fs.openSync(input, 'r');
    try {
      const r = spawnSync(process.execPath, [bin, 'sort', '-S', '64K', '-k2', name, '-o', out], { stdio: [fd, 'pipe', 'pipe'] });
      expect(r.stderr.toString()).toBe('');
      expect(r.status).toBe(0);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('pmem-sort-') || n.startsWith('stdin.out.'))).toEqual([]);
  });
});

describe('an output whose name is too long for a suffix', () => {
  // `<output>.pmem-sort-partial` and `<output>.pmem-sort` passed the 255
  // bytes a name may have: every sort into it failed (ENAMETOOLONG).
  test('250 bytes: sorted, through an interruption and its resume, into names of at most 255 bytes, and nothing is left', () => {
    const input = numbered('long-name.txt');
    const out = path.join(dir, 'é'.repeat(125));
    const names: string[] = [];
    expect(() => externalSort(input, out, {
      memory: MEMORY, checkpointBytes: 4096,
      onCheckpoint: (c) => {
        if (c.phase !== 'merge') return;
        names.push(...fs.readdirSync(dir));
        throw new Error('interrupted');
      },
    })).toThrow('interrupted');
    const own = names.filter((n) => n.startsWith('é'.repeat(100)));
    expect(own.length).toBe(2);
    for (const n of own) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(255);
    expect(own.some((n) => n.endsWith('.pmem-sort-partial'))).toBe(true);
    expect(own.some((n) => n.endsWith('.pmem-sort'))).toBe(true);
    const r = externalSort(input, out, { memory: MEMORY, resume: true });
    expect(r.resumed).toBe(true);
    expect(fs.readFileSync(out).equals(gnu(input, []))).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('é'))).toEqual([path.basename(out)]);
  });
});

describe('pmem sort of a FIFO', () => {
  test('a named pipe is read once, to its end, as stdin is (it was refused as not a regular file); --resume refuses it', () => {
    const input = numbered('fifo-src.txt', 3000);
    const fifo = file('fifo');
    execFileSync('mkfifo', [fifo]);
    const out = file('fifo.out');
    // A writer in the background, as a shell's <(cmd) is; one that no
    // reader opens gives up after 10 s.
    const r = spawnSync('/bin/sh', ['-c', 'timeout 10 sh -c \'cat "$0" > "$1"\' "$1" "$2" >/dev/null 2>&1 & exec "$3" "$0" sort -S 64K -k2 "$2" -o "$4"', bin, input, fifo, process.execPath, out],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(fs.readFileSync(out).equals(gnu(input, ['-k2']))).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('pmem-sort-') || n.startsWith('fifo.out.'))).toEqual([]);
    const again = spawnSync(process.execPath, [bin, 'sort', '--resume', fifo, '-o', out], { encoding: 'utf8' });
    expect(again.status).toBe(2);
    expect(again.stderr).toBe(`pmem: --resume continues the sort of a file: ${fifo} is a FIFO, which cannot be read again\n`);
  });
});

describe('an output that exists is replaced by a file like it', () => {
  const root = process.getuid?.() === 0;
  const nobody = { uid: 65534, gid: 65534 };
  let d = '';
  let input = '';
  beforeAll(() => {
    d = file('replaced');
    fs.mkdirSync(d, { mode: 0o777 });
    fs.chmodSync(d, 0o777);
    input = path.join(d, 'in.txt');
    fs.writeFileSync(input, 'b\na\nc\n', { mode: 0o644 });
  });

  test('its permission bits are kept (a private file stays private), and its owner and group', () => {
    const out = path.join(d, 'private.txt');
    fs.writeFileSync(out, 'secret\n', { mode: 0o600 });
    fs.chmodSync(out, 0o600);
    if (root) fs.chownSync(out, nobody.uid, nobody.gid);
    const r = pmem([input, '-o', out]);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(fs.readFileSync(out, 'utf8')).toBe('a\nb\nc\n');
    const st = fs.statSync(out);
    expect(st.mode & 0o7777).toBe(0o600);
    if (root) expect([st.uid, st.gid]).toEqual([nobody.uid, nobody.gid]);
    else console.warn('not root: the owner part of this test is skipped');
  });

  test('one with other names (hard links) is refused before any work, and every name keeps its contents', () => {
    const out = path.join(d, 'linked.txt');
    fs.writeFileSync(out, 'old\n');
    fs.linkSync(out, path.join(d, 'other-name.txt'));
    const r = pmem([input, '-o', out]);
    expect(r.code).toBe(3);
    expect(r.err).toContain(`the output ${out} has 2 names (hard links)`);
    expect(fs.readFileSync(out, 'utf8')).toBe('old\n');
    expect(fs.readFileSync(path.join(d, 'other-name.txt'), 'utf8')).toBe('old\n');
    expect(fs.readdirSync(d).filter((n) => n.startsWith('linked.txt.'))).toEqual([]);
  });

  test("another user's is refused before any work: it would become this user's", () => {
    if (!root) {
      console.warn('not root: another user cannot be tried here; skipped');
      return;
    }
    const out = path.join(d, 'roots.txt');
    fs.writeFileSync(out, 'old\n', { mode: 0o666 });
    fs.chmodSync(out, 0o666);
    const r = pmem([input, '-o', out], nobody);
    expect(r.code).toBe(3);
    expect(r.err).toContain(`the output ${out} belongs to user 0 and group 0: the sort renames a new file into place, which this user (65534) cannot give that owner`);
    expect(fs.readFileSync(out, 'utf8')).toBe('old\n');
    expect(fs.statSync(out).uid).toBe(0);
    expect(fs.readdirSync(d).filter((n) => n.startsWith('roots.txt.'))).toEqual([]);
    // The same user's own file is replaced, as before.
    const own = path.join(d, 'own.txt');
    fs.writeFileSync(own, 'old\n', { mode: 0o640 });
    fs.chmodSync(own, 0o640);
    fs.chownSync(own, nobody.uid, nobody.gid);
    expect(pmem([input, '-o', own], nobody)).toMatchObject({ code: 0, err: '' });
    expect(fs.readFileSync(own, 'utf8')).toBe('a\nb\nc\n');
    expect(fs.statSync(own).mode & 0o7777).toBe(0o640);
  });

  test("a symbolic link at the default pmem directory's name is the user's: the sort works there, ends well, and leaves the link and what it names", () => {
    const out = path.join(d, 'linkdir.txt');
    const target = path.join(d, 'elsewhere');
    fs.mkdirSync(target);
    fs.symlinkSync(target, `${out}.pmem-sort`);
    const r = pmem([input, '-o', out]);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(fs.readFileSync(out, 'utf8')).toBe('a\nb\nc\n');
    expect(fs.lstatSync(`${out}.pmem-sort`).isSymbolicLink()).toBe(true);
    expect(fs.readdirSync(target)).toEqual([]);
  });
});

describe('externalSort separator: a string is UTF-8, as the lines are', () => {
  test("'é' is refused (two bytes in UTF-8), not taken as the byte 0xE9; a byte past ASCII is given as a one-byte Uint8Array", () => {
    const input = file('sep-utf8.txt');
    fs.writeFileSync(input, 'aé3\nbé1\ncé2\n');
    const out = file('sep-utf8.out');
    expect(thrownBy(() => externalSort(input, out, { separator: 'é', keys: [parseKey('2')] }))).toMatchObject({
      name: 'RangeError', message: 'separator must be one byte other than a newline, got "é" (2 bytes in UTF-8; a byte past ASCII is given as a one-byte Uint8Array)',
    });
    expect(fs.existsSync(out)).toBe(false);
    // The byte 0xA9, the second of 'é': field 2 is what follows it.
    externalSort(input, out, { separator: Buffer.from([0xa9]), keys: [parseKey('2')] });
    expect(fs.readFileSync(out, 'utf8')).toBe('bé1\ncé2\naé3\n');
    expect(thrownBy(() => externalSort(input, out, { separator: Buffer.from([0x3a, 0x3a]) }))).toMatchObject({ name: 'RangeError' });
    expect(thrownBy(() => externalSort(input, out, { separator: Buffer.from([10]) }))).toMatchObject({ name: 'RangeError' });
    expect(thrownBy(() => externalSort(input, out, { separator: 58 as unknown as string }))).toMatchObject({ name: 'TypeError', message: 'separator must be a string or a Uint8Array' });
  });
});
