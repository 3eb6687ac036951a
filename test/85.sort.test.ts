// externalSort against GNU sort (LC_ALL=C) on generated inputs, with keys,
// separators, numbers, reverse, unique and stable; binary records; every
// bad input of its list; resume from a checkpoint in each phase; a full
// disk. Small budgets, so that every input makes many runs.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { externalSort, parseKey, PmemError, type SortOptions, type SortResult } from '../lib';
import * as space from '../lib/core/space';
import { seededRandom } from '../lib/testing';
import { expectPmemError, fillFilesystem, mountTmpfs, readAfterWait, testDir, unmount } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { generate } = require('../bench/gensort.js') as { generate(kind: string, bytes: number, file: string, seed?: number): void };

const MEMORY = 128 * 1024;
let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);

/** GNU sort's output for `input` with `flags`. */
function gnu(input: string, flags: string[]): Buffer {
  return execFileSync('sort', [...flags, input], { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 28 });
}

/** Lines that stress keys and numbers: words, numbers (negative, decimal), blanks, tabs, empty fields. */
function mixedText(seed: number, lines: number): Buffer {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const words = ['apple', 'Bob', 'zed', ' lead', 'x\t1', '-3', '10', '2.5', '', '-0', '007', 'a:b', 'b:a', '\u00e9t\u00e9'];
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const n = Math.floor(random() * 5);
    const parts: string[] = [];
    for (let j = 0; j < n; j++) parts.push(pick(words) + (random() < 0.5 ? String(Math.floor(random() * 100)) : ''));
    out.push(parts.join(pick([' ', '  ', ':', '\t'])));
  }
  return Buffer.from(out.join('\n') + '\n');
}

const CASES: [string, SortOptions, string[]][] = [
  ['bytes', {}, []],
  ['reverse', { reverse: true }, ['-r']],
  ['numeric', { numeric: true }, ['-n']],
  ['numeric reverse stable', { numeric: true, reverse: true, stable: true }, ['-n', '-r', '-s']],
  ['unique', { unique: true }, ['-u']],
  ['stable -k2', { stable: true, keys: [parseKey('2')] }, ['-s', '-k2']],
  ['-k2,2 -n', { keys: [parseKey('2,2')], numeric: true }, ['-k2,2', '-n']],
  ['-k2.2,3.1', { keys: [parseKey('2.2,3.1')] }, ['-k2.2,3.1']],
  ['-t: -k2,2 -k1', { separator: ':', keys: [parseKey('2,2'), parseKey('1')] }, ['-t:', '-k2,2', '-k1']],
  ['-t: -k2 -u -r', { separator: ':', keys: [parseKey('2')], unique: true, reverse: true }, ['-t:', '-k2', '-u', '-r']],
  ['-k1.3,1.4 -s', { keys: [parseKey('1.3,1.4')], stable: true }, ['-k1.3,1.4', '-s']],
];

describe('text, as LC_ALL=C sort orders it', () => {
  let input = '';
  beforeAll(() => {
    input = file('mixed.txt');
    fs.writeFileSync(input, mixedText(5, 20000));
  });

  for (const mergeBuffers of ['pmem', 'dram'] as const) {
    test.each(CASES)(`%s (${mergeBuffers} merge buffers)`, (_name, options, flags) => {
      const out = file('out.txt');
      const r = externalSort(input, out, { ...options, memory: MEMORY, mergeBuffers, checkpointBytes: 32 * 1024 });
      expect(fs.readFileSync(out).equals(gnu(input, flags))).toBe(true);
      expect(r.runs).toBeGreaterThan(4);
      expect(r.records).toBe(20000);
      if (mergeBuffers === 'pmem') {
        // One pass, and the only temporary writes are the runs.
        expect(r.mergePasses).toBe(1);
        expect(r.tempBytesWritten).toBeLessThanOrEqual(fs.statSync(input).size);
      }
      expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
    });
  }

  test('DRAM merge buffers take more than one pass when the runs outnumber the buffers', () => {
    const big = file('big.txt');
    generate('text', 3 * 1024 * 1024, big, 2);
    const out = file('out-big.txt');
    const r = externalSort(big, out, { memory: MEMORY, mergeBuffers: 'dram' });
    expect(r.runs).toBeGreaterThan(16);
    expect(r.mergePasses).toBeGreaterThan(1);
    expect(r.tempBytesWritten).toBeGreaterThan(fs.statSync(big).size);
    expect(fs.readFileSync(out).equals(gnu(big, []))).toBe(true);
    // Under this budget, on one thread, the DRAM arena is the 52 KiB input
    // chunk, cut into 4 KiB windows: twelve runs are merged at once.
    // Thirteen to 23 runs: the first pass merges one group of twelve, and
    // the runs left fit the final merge; both passes count.
    const mid = file('mid.txt');
    fs.writeFileSync(mid, fs.readFileSync(big).subarray(0, Math.floor(12.3 * MEMORY * 0.4)));
    const m = externalSort(mid, out, { memory: MEMORY, mergeBuffers: 'dram', parallel: 1 });
    expect(m.runs).toBeGreaterThan(12);
    expect(m.runs).toBeLessThanOrEqual(23);
    expect(m.mergePasses).toBe(2);
    expect(fs.readFileSync(out).equals(gnu(mid, []))).toBe(true);
    const p = externalSort(big, out, { memory: MEMORY });
    expect(p.mergePasses).toBe(1);
    expect(p.tempBytesWritten).toBe(fs.statSync(big).size);
    expect(fs.readFileSync(out).equals(gnu(big, []))).toBe(true);
  });
});

describe('lines that share long prefixes, as LC_ALL=C sort orders them', () => {
  // Runs are sorted by 8-byte prefixes, refined 8 bytes at a time down to
  // 64, then compared in full: prefixes around those lengths, NUL bytes
  // against shorter lines (equal prefixes, different lines), and groups of
  // equal lines larger than an insertion sort's.
  let input = '';
  beforeAll(() => {
    const random = seededRandom(11);
    const lines: Buffer[] = [];
    for (let i = 0; i < 6000; i++) {
      const head = 'k'.repeat([0, 7, 8, 9, 15, 16, 63, 64, 65, 100][Math.floor(random() * 10)]);
      const tail = Buffer.from(Array.from({ length: Math.floor(random() * 3) }, () => [0, 0x20, 0x61, 0x62, 0xff][Math.floor(random() * 5)]));
      const field = random() < 0.5 ? '' : ` ${Math.floor(random() * 3)}`;
      lines.push(Buffer.concat([Buffer.from(head, 'latin1'), tail, Buffer.from(field), Buffer.from('\n')]));
    }
    input = file('prefixes.txt');
    fs.writeFileSync(input, Buffer.concat(lines));
  });

  test.each([
    ['bytes', {}, []],
    ['reverse', { reverse: true }, ['-r']],
    ['unique', { unique: true }, ['-u']],
    ['stable -k2', { stable: true, keys: [parseKey('2')] }, ['-s', '-k2']],
  ] as [string, SortOptions, string[]][])('%s', (_name, options, flags) => {
    const out = file('out-prefixes.txt');
    const r = externalSort(input, out, { ...options, memory: MEMORY });
    expect(r.runs).toBeGreaterThan(4);
    expect(fs.readFileSync(out).equals(gnu(input, flags))).toBe(true);
  });
});

/**
 * Lines for the radix passes over the prefix bytes: a shared first byte
 * (a pass that splits nothing), bytes above 0x7f (the words' top bits),
 * lines shorter than a prefix and empty ones, many lines equal in their
 * first 8 or 16 bytes, and repeats; 0x80, which GNU sort -n on x86-64
 * reads as a thousands separator (docs/api.md, `numeric`), among them.
 */
function radixText(seed: number, lines: number): Buffer {
  const random = seededRandom(seed);
  const heads = ['', 'k', 'kk', 'kkkkkkkk', 'kkkkkkkkkkkkkkkk', 'k\u00ff', 'k\u0080', 'k\t', 'k ', 'k-'];
  const out: Buffer[] = [];
  for (let i = 0; i < lines; i++) {
    const tail = Buffer.from(Array.from({ length: Math.floor(random() * 12) }, () => {
      const r = random();
      return r < 0.6 ? 97 + Math.floor(random() * 4) : r < 0.8 ? 48 + Math.floor(random() * 10) : 128 + Math.floor(random() * 128);
    }));
    out.push(Buffer.concat([Buffer.from(heads[Math.floor(random() * heads.length)], 'latin1'), tail, Buffer.from('\n')]));
    if (random() < 0.05) out.push(out[out.length - 1]);
  }
  return Buffer.concat(out);
}

test('runs of many records are sorted by radix passes over their prefix bytes, as GNU sort orders them', () => {
  // A 2 MiB budget holds 19660 records per run (more than 4096 is asserted:
  // several radix passes deep), split down to buckets of fewer than 64,
  // which are compared.
  const input = file('text-radix.txt');
  fs.writeFileSync(input, radixText(11, 120000));
  const out = file('out-text-radix.txt');
  const cases: [SortOptions, string[]][] = [
    [{}, []], [{ reverse: true }, ['-r']], [{ unique: true }, ['-u']], [{ numeric: true }, ['-n']], [{ keys: [parseKey('1.2')] }, ['-k1.2']],
  ];
  for (const [options, flags] of cases) {
    const r = externalSort(input, out, { ...options, memory: 2 * 1024 * 1024 });
    expect(r.runs).toBeGreaterThan(1);
    expect(r.records / r.runs).toBeGreaterThan(4096);
    expect(fs.readFileSync(out).equals(gnu(input, flags))).toBe(true);
  }
  // The bench's text corpus, whose lines share their first bytes in long runs.
  generate('text', 3 * 1024 * 1024, input, 3);
  for (const [options, flags] of cases.slice(0, 2)) {
    externalSort(input, out, { ...options, memory: 2 * 1024 * 1024 });
    expect(fs.readFileSync(out).equals(gnu(input, flags))).toBe(true);
  }
});

/**
 * Numbers as `sort -n` reads them, made to meet at every step of its
 * comparison: long integers and fractions that a double cannot tell apart,
 * leading zeros, -0 and -.0, '-' and '.' with no digits, blanks before,
 * junk after, 0x80 (a thousands separator to GNU sort 9.1 on x86-64)
 * inside and before digits, and integer parts past 2^15 digits, where
 * the prefix's exponent saturates.
 */
function numberText(seed: number, lines: number): Buffer {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const digits = (n: number): string => Array.from({ length: n }, () => pick(['0', '1', '9', String(Math.floor(random() * 10))])).join('');
  const stems = ['12345678901234567890', '9007199254740993', '0.1000000000000000000', '99999999999999', '1000000000000'];
  const out: Buffer[] = [];
  for (let i = 0; i < lines; i++) {
    let s = pick(['', '', ' ', '\t', '  ']) + pick(['', '', '', '-']) + pick(['', '', '0', '000', '\x80', '0\x800']);
    const r = random();
    if (r < 0.3) s += pick(stems) + digits(Math.floor(random() * 3));
    else if (r < 0.55) s += digits(1 + Math.floor(random() * 24));
    else if (r < 0.65) s += digits(1 + Math.floor(random() * 3)) + '\x80' + digits(Math.floor(random() * 4));
    if (random() < 0.5) s += '.' + pick(['', '0', '00', '000000000000000000001', '5']) + digits(Math.floor(random() * 22));
    s += pick(['', '', '', 'x', ' 7', '.5', '-', '\x80']);
    out.push(Buffer.from(s + '\n', 'latin1'));
    if (random() < 0.05) out.push(out[out.length - 1]);
  }
  // Integer parts of 40,000 digits (their exponents saturate the prefix),
  // and others that differ from them by a digit at the front, at the end,
  // or deep inside.
  const long = '7'.repeat(40000);
  for (const s of [long, '6' + long, long + '1', long.slice(0, 20000) + '8' + long.slice(20001), '-' + long, '-' + long + '1', `0.${'0'.repeat(40000)}3`, `-0.${'0'.repeat(40000)}3`]) {
    out.push(Buffer.from(s + '\n', 'latin1'));
  }
  return Buffer.concat(out);
}

test('numbers compare exactly as sort -n compares them, past a double\'s precision and a prefix\'s exponent', () => {
  const input = file('numbers.txt');
  fs.writeFileSync(input, numberText(13, 40000));
  const out = file('out-numbers.txt');
  const cases: [SortOptions, string[]][] = [
    [{ numeric: true }, ['-n']],
    [{ numeric: true, unique: true }, ['-n', '-u']],
    [{ numeric: true, reverse: true }, ['-n', '-r']],
    [{ numeric: true, stable: true }, ['-n', '-s']],
    [{ numeric: true, keys: [parseKey('2')] }, ['-n', '-k2']],
  ];
  for (const [options, flags] of cases) {
    const r = externalSort(input, out, { ...options, memory: 1024 * 1024 });
    expect(r.runs).toBeGreaterThan(1);
    expect(fs.readFileSync(out).equals(gnu(input, flags))).toBe(true);
  }
});

test('binary keys that differ only past their first 8 bytes, or only in one byte, sort by radix passes', () => {
  const random = seededRandom(12);
  const n = 40000;
  const data = Buffer.alloc(100 * n);
  for (let i = 0; i < n; i++) {
    const r = data.subarray(i * 100, i * 100 + 100);
    // Keys of 12 bytes: a shared first byte, byte 5 of few values, bytes 8..11 random.
    r[0] = 0xc3;
    r[5] = Math.floor(random() * 3) * 0x7f;
    for (let k = 8; k < 100; k++) r[k] = Math.floor(random() * 256);
  }
  const input = file('radix.bin');
  fs.writeFileSync(input, data);
  const out = file('radix.out');
  const r = externalSort(input, out, { recordSize: 100, keyLength: 12, memory: 2 * 1024 * 1024, stable: true });
  expect(r.runs).toBeGreaterThan(1);
  const recs = Array.from({ length: n }, (_, i) => data.subarray(i * 100, i * 100 + 100));
  const expected = Buffer.concat(recs.map((b, i) => ({ b, i })).sort((x, y) => Buffer.compare(x.b.subarray(0, 12), y.b.subarray(0, 12)) || x.i - y.i).map((x) => x.b));
  expect(fs.readFileSync(out).equals(expected)).toBe(true);
});

describe('binary records', () => {
  test('gensort records by their 10-byte key, ties in input order', () => {
    const input = file('gensort.bin');
    generate('binary', 100 * 30000, input, 9);
    // Every 7th record repeats an earlier key: ties must keep input order.
    const data = fs.readFileSync(input);
    for (let i = 7; i < 30000; i += 7) data.copy(data, i * 100, (i - 5) * 100, (i - 5) * 100 + 10);
    fs.writeFileSync(input, data);
    const out = file('gensort.out');
    const r = externalSort(input, out, { recordSize: 100, keyLength: 10, memory: MEMORY, stable: true });
    const recs = Array.from({ length: 30000 }, (_, i) => data.subarray(i * 100, i * 100 + 100));
    const expected = Buffer.concat(recs.map((b, i) => ({ b, i })).sort((x, y) => Buffer.compare(x.b.subarray(0, 10), y.b.subarray(0, 10)) || x.i - y.i).map((x) => x.b));
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    expect(r.mergePasses).toBe(1);
    expect(r.runs).toBeGreaterThan(40);
  });

  // A run's records are scattered to their sorted places when every record
  // is kept, and gathered in sorted order when `unique` drops some.
  test('unique binary records keep the first of each key, in runs that dropped records and runs that did not', () => {
    const input = file('unique.bin');
    generate('binary', 100 * 20000, input, 11);
    // Keys repeat only in the first half: the runs of the second half drop nothing.
    const data = fs.readFileSync(input);
    for (let i = 3; i < 10000; i += 3) data.copy(data, i * 100, (i - 2) * 100, (i - 2) * 100 + 10);
    fs.writeFileSync(input, data);
    const out = file('unique.out');
    const r = externalSort(input, out, { recordSize: 100, keyLength: 10, memory: MEMORY, unique: true });
    const seen = new Set<string>();
    const firsts: Buffer[] = [];
    for (let i = 0; i < 20000; i++) {
      const rec = data.subarray(i * 100, i * 100 + 100);
      const key = rec.subarray(0, 10).toString('hex');
      if (!seen.has(key)) firsts.push(rec);
      seen.add(key);
    }
    expect(firsts.length).toBeLessThan(20000 - 3000);
    const expected = Buffer.concat(firsts.sort((x, y) => Buffer.compare(x.subarray(0, 10), y.subarray(0, 10))));
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    expect(r.runs).toBeGreaterThan(20);
  });

  test('records of an odd size with a key inside them, ties by the whole record', () => {
    const input = file('rec13.bin');
    const random = seededRandom(5);
    // 13-byte records (most of them not 4-byte aligned), keys of 5 bytes at
    // offset 3 from a small alphabet: many ties, decided by whole records.
    const data = Buffer.alloc(13 * 30000);
    for (let i = 0; i < data.length; i++) data[i] = i % 13 >= 3 && i % 13 < 8 ? 97 + Math.floor(random() * 3) : Math.floor(random() * 256);
    fs.writeFileSync(input, data);
    const out = file('rec13.out');
    const r = externalSort(input, out, { recordSize: 13, keyOffset: 3, keyLength: 5, memory: MEMORY });
    const recs = Array.from({ length: 30000 }, (_, i) => data.subarray(i * 13, i * 13 + 13));
    const expected = Buffer.concat(recs.sort((x, y) => Buffer.compare(x.subarray(3, 8), y.subarray(3, 8)) || Buffer.compare(x, y)));
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    expect(r.runs).toBeGreaterThan(10);
  });

  test('gensort ASCII records sort as GNU sort sorts their lines', () => {
    const input = file('gensort.txt');
    generate('ascii', 100 * 20000, input, 4);
    const out = file('gensort-ascii.out');
    externalSort(input, out, { recordSize: 100, memory: MEMORY });
    expect(fs.readFileSync(out).equals(gnu(input, []))).toBe(true);
  });
});

describe('bad input', () => {
  const sortOf = (content: Buffer | string, options: SortOptions = {}, flags: string[] = []): void => {
    const input = file('bad.txt');
    fs.writeFileSync(input, content);
    const out = file('bad.out');
    externalSort(input, out, { memory: MEMORY, ...options });
    expect(fs.readFileSync(out).equals(gnu(input, flags))).toBe(true);
  };

  test('an empty input gives an empty output', () => {
    sortOf('');
    expect(fs.statSync(file('bad.out')).size).toBe(0);
  });
  test('a last line without a newline gets one, as GNU sort gives it', () => sortOf('b\nc\na'));
  test('CRLF: the CR is a byte of the line', () => sortOf('b\r\na\r\na\nb\n\r\n'));
  test('invalid UTF-8 sorts as bytes', () => sortOf(Buffer.from([0xff, 0x0a, 0xc3, 0x28, 0x0a, 0x61, 0x0a, 0x80, 0x0a, 0xc3, 0xa9, 0x0a])));
  test('NUL bytes and empty lines', () => sortOf(Buffer.from('a\0b\n\n\na\n\0\n')));

  test('a line longer than half the budget is refused with ERR_PMEM_NO_MEMORY', () => {
    const input = file('long.txt');
    fs.writeFileSync(input, `short\n${'x'.repeat(MEMORY)}\nshort\n`);
    expectPmemError(() => externalSort(input, file('long.out'), { memory: MEMORY }), 'ERR_PMEM_NO_MEMORY');
    expect(fs.existsSync(file('long.out'))).toBe(false);
  });

  test('the longest line taken is the input share less its newline, and the refusal says so', () => {
    const input = file('edge.txt');
    fs.writeFileSync(input, `short\n${'x'.repeat(MEMORY)}\nshort\n`);
    let share = 0;
    try {
      externalSort(input, file('edge-1.out'), { memory: MEMORY, parallel: 1 });
    } catch (e) {
      const m = /does not fit, with its newline, in (\d+) bytes, the input share/.exec((e as Error).message);
      expect(m).not.toBeNull();
      share = Number(m?.[1]);
    }
    expect(share).toBeGreaterThan(0);
    // A line of `share` bytes needs share + 1 with its newline: refused.
    fs.writeFileSync(input, `short\n${'x'.repeat(share)}\nshort\n`);
    expectPmemError(() => externalSort(input, file('edge-2.out'), { memory: MEMORY, parallel: 1 }), 'ERR_PMEM_NO_MEMORY');
    // One byte less fits exactly: sorted.
    fs.writeFileSync(input, `short\n${'x'.repeat(share - 1)}\nshort\n`);
    externalSort(input, file('edge.out'), { memory: MEMORY, parallel: 1 });
    expect(fs.readFileSync(file('edge.out'), 'latin1')).toBe(`short\nshort\n${'x'.repeat(share - 1)}\n`);
  });

  test('a binary input that is not a whole number of records is refused before anything is written', () => {
    const input = file('odd.bin');
    fs.writeFileSync(input, Buffer.alloc(250));
    expectPmemError(() => externalSort(input, file('odd.out'), { recordSize: 100 }), 'ERR_PMEM_INVALID');
    expect(fs.existsSync(file('odd.out'))).toBe(false);
    expect(fs.existsSync(file('odd.out.pmem-sort'))).toBe(false);
  });

  test('an output on the input path (or a link to it) is refused, and the input is untouched', () => {
    const input = file('same.txt');
    fs.writeFileSync(input, 'b\na\n');
    expectPmemError(() => externalSort(input, input), 'ERR_PMEM_INVALID');
    fs.linkSync(input, file('same-link.txt'));
    expectPmemError(() => externalSort(input, file('same-link.txt')), 'ERR_PMEM_INVALID');
    expect(fs.readFileSync(input, 'utf8')).toBe('b\na\n');
  });

  test('a missing input, or a directory', () => {
    expectPmemError(() => externalSort(file('missing.txt'), file('x.out')), 'ERR_PMEM_NOT_FOUND');
    expectPmemError(() => externalSort(dir, file('x.out')), 'ERR_PMEM_INVALID');
  });

  test('an input that cannot be reached for another reason (a loop of links) is ERR_PMEM_IO with its errno, not a missing file', () => {
    fs.symlinkSync(file('loop-b'), file('loop-a'));
    fs.symlinkSync(file('loop-a'), file('loop-b'));
    let e: unknown;
    try {
      externalSort(file('loop-a'), file('x.out'));
    } catch (err) {
      e = err;
    }
    expect(e).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_IO' });
    expect(e).toMatchObject({ errno: 40, syscall: 'stat', path: file('loop-a') });
    expect((e as Error).message).toMatch(/\(ELOOP\)$/);
    expect(fs.existsSync(file('x.out'))).toBe(false);
  });

  test('an input that holds more than its size says (a file of /proc) is refused, not sorted in part', () => {
    // /proc/self/status has size 0 and some 50 lines: reading its size would sort none of them.
    expect(fs.statSync('/proc/self/status').size).toBe(0);
    expect(() => externalSort('/proc/self/status', file('proc.out'))).toThrow(
      /\/proc\/self\/status holds more than its size \(0 bytes\) says/,
    );
    expectPmemError(() => externalSort('/proc/self/status', file('proc.out')), 'ERR_PMEM_INVALID');
    expect(fs.existsSync(file('proc.out'))).toBe(false);
    expect(fs.existsSync(file('proc.out.pmem-sort'))).toBe(false);
  });

  test('an output in a directory that takes no new file (/proc) says so, not that a path is missing', () => {
    const input = file('to-proc.txt');
    fs.writeFileSync(input, 'b\na\n');
    let e: unknown;
    try {
      externalSort(input, '/proc/pmem-sort-out');
    } catch (err) {
      e = err;
    }
    expect(e).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_IO', path: '/proc/pmem-sort-out.pmem-sort-partial' });
    expect((e as Error).message).toBe("cannot create '/proc/pmem-sort-out.pmem-sort-partial': no new file can be made in '/proc': no such file or directory (ENOENT)");
  });

  test('wrong types are TypeErrors, bad values RangeErrors', () => {
    const input = file('args.txt');
    fs.writeFileSync(input, 'a\n');
    const out = file('args.out');
    expect(() => externalSort(1 as unknown as string, out)).toThrow(TypeError);
    expect(() => externalSort(input, '')).toThrow(TypeError);
    expect(() => externalSort(input, out, { bogus: 1 } as SortOptions)).toThrow(TypeError);
    expect(() => externalSort(input, out, { memory: '1M' as unknown as number })).toThrow(TypeError);
    expect(() => externalSort(input, out, { memory: 1024 })).toThrow(RangeError);
    expect(() => externalSort(input, out, { separator: '::' })).toThrow(RangeError);
    expect(() => externalSort(input, out, { separator: '\n' })).toThrow(RangeError);
    expect(() => externalSort(input, out, { keys: [{ field: 0 }] })).toThrow(RangeError);
    expect(() => externalSort(input, out, { keys: 'k2' as unknown as [] })).toThrow(TypeError);
    expect(() => externalSort(input, out, { recordSize: 100, keyOffset: 95, keyLength: 10 })).toThrow(RangeError);
    expect(() => externalSort(input, out, { recordSize: 100, numeric: true })).toThrow(TypeError);
    expect(() => externalSort(input, out, { keyLength: 4 })).toThrow(TypeError);
    expect(() => externalSort(input, out, { mergeBuffers: 'disk' as 'pmem' })).toThrow(RangeError);
    expect(() => externalSort(input, out, { onProgress: 1 as unknown as () => void })).toThrow(TypeError);
    expect(() => externalSort(input, out, { reverse: 'yes' as unknown as boolean })).toThrow(TypeError);
    expect(() => parseKey('2,x')).toThrow(RangeError);
    expect(() => parseKey('0')).toThrow(RangeError);
    expect(parseKey('2.3,4.5')).toEqual({ field: 2, char: 3, endField: 4, endChar: 5 });
    expect(fs.existsSync(out)).toBe(false);
  });

  // null is a value, not an option left out: mergeBuffers took it as 'pmem'.
  test('options or an option given as null is a TypeError naming it; an option left out takes its default', () => {
    const input = file('null.txt');
    fs.writeFileSync(input, 'b\nc\na\n');
    const out = file('null.out');
    expect(() => externalSort(input, out, null as never)).toThrow(new TypeError('options must be an object'));
    const names = ['memory', 'pmem', 'keys', 'separator', 'numeric', 'reverse', 'unique', 'stable', 'recordSize', 'keyOffset',
      'keyLength', 'mergeBuffers', 'parallel', 'resume', 'checkpointBytes', 'onProgress', 'onCheckpoint'];
    for (const name of names) {
      let err: unknown;
      try {
        externalSort(input, out, { [name]: null } as never);
      } catch (e) {
        err = e;
      }
      expect([name, err]).toEqual([name, expect.any(TypeError)]);
      expect((err as Error).message.startsWith(`${name} `)).toBe(true);
    }
    expect(() => externalSort(input, out, { keys: [{ field: 1, char: null }] } as never)).toThrow(new TypeError('keys[0].char must be a number, got null'));
    expect(fs.existsSync(out)).toBe(false);

    const pick = (r: SortResult) => [r.records, r.runs, r.mergePasses, r.threads, r.mergeReads, r.resumed];
    const plain = pick(externalSort(input, out));
    expect(fs.readFileSync(out, 'utf8')).toBe('a\nb\nc\n');
    fs.rmSync(out);
    const left = Object.fromEntries(names.map((n) => [n, undefined]));
    expect(pick(externalSort(input, out, left))).toEqual(plain);
    expect(fs.readFileSync(out, 'utf8')).toBe('a\nb\nc\n');
    expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
  });
});

describe('files the sort did not make are left as they are', () => {
  const input = (): string => {
    const f = file('own.txt');
    fs.writeFileSync(f, 'b\na\nc\n');
    return f;
  };

  test('an output that is a FIFO, a directory or a dangling link is refused; a link to a file keeps the link and replaces the file', () => {
    const fifo = file('own.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expectPmemError(() => externalSort(input(), fifo, { memory: MEMORY }), 'ERR_PMEM_INVALID');
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
    const d = file('own.dir');
    fs.mkdirSync(d, { recursive: true });
    expectPmemError(() => externalSort(input(), d, { memory: MEMORY }), 'ERR_PMEM_INVALID');
    expect(fs.lstatSync(d).isDirectory()).toBe(true);
    const dangling = file('own.dangling');
    fs.symlinkSync(file('own.nothing'), dangling);
    expectPmemError(() => externalSort(input(), dangling, { memory: MEMORY }), 'ERR_PMEM_INVALID');
    expect(fs.existsSync(file('own.nothing'))).toBe(false);
    const target = file('own.target');
    fs.writeFileSync(target, 'old');
    const link = file('own.link');
    fs.symlinkSync(target, link);
    externalSort(input(), link, { memory: MEMORY });
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(target, 'latin1')).toBe('a\nb\nc\n');
  });

  // The output named checkpoint in the pmem directory was renamed into
  // place, then removed with the checkpoint, and the sort returned as if it
  // had written it; an output on the directory's path failed only at the
  // last rename, after the whole sort, leaving the directory behind.
  test('an output, partial output or input that is the pmem directory, or one of its own files by name, is refused before anything is made', () => {
    const work = file('apart.work');
    fs.mkdirSync(work, { recursive: true });
    fs.writeFileSync(path.join(work, 'notes'), 'keep');
    const inWork = path.join(work, 'run-3');
    const cases: Array<[string, string, string, RegExp]> = [
      ['output named checkpoint', path.join(work, 'checkpoint'), work, /the output .*checkpoint has the name of one of the sort's own files/],
      ['output named made-by-sort', path.join(work, 'made-by-sort'), work, /the output .*made-by-sort has the name/],
      ['output named run-N', path.join(work, 'run-12'), work, /the output .*run-12 has the name/],
      ['output named run-N, pmem through a link', path.join(work, 'run-0'), file('apart.link'), /the output .*run-0 has the name/],
      ['output on the pmem path', file('apart.out'), file('apart.out'), /the pmem directory .*apart\.out is the output/],
      ['partial output on the pmem path', file('apart2.out'), file('apart2.out.pmem-sort-partial'), /is the partial output/],
    ];
    fs.symlinkSync(work, file('apart.link'));
    for (const [what, out, pmem, message] of cases) {
      let err: unknown;
      try {
        externalSort(input(), out, { memory: MEMORY, pmem });
      } catch (e) {
        err = e;
      }
      expect([what, err]).toEqual([what, expect.any(PmemError)]);
      expect([what, (err as PmemError).code]).toEqual([what, 'ERR_PMEM_INVALID']);
      expect([what, (err as Error).message]).toEqual([what, expect.stringMatching(message)]);
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.existsSync(`${out}.pmem-sort-partial`)).toBe(false);
      expect(fs.existsSync(pmem) && !fs.lstatSync(pmem).isSymbolicLink() && pmem !== work).toBe(false);
    }
    // An input of that name: a resume would remove it as a run no checkpoint names.
    fs.writeFileSync(inWork, 'b\na\n');
    expectPmemError(() => externalSort(inWork, file('apart3.out'), { memory: MEMORY, pmem: work }), 'ERR_PMEM_INVALID');
    expect(fs.readFileSync(inWork, 'latin1')).toBe('b\na\n');
    fs.rmSync(inWork);
    expect(fs.readdirSync(work)).toEqual(['notes']);
    // Any other name in the pmem directory is the caller's to choose.
    const out = path.join(work, 'sorted.txt');
    externalSort(input(), out, { memory: MEMORY, pmem: work });
    expect(fs.readFileSync(out, 'latin1')).toBe('a\nb\nc\n');
    expect(fs.readdirSync(work).sort()).toEqual(['notes', 'sorted.txt']);
  });

  test('a pmem directory holding run-N files and no checkpoint: ERR_PMEM_EXISTS, nothing removed', () => {
    const work = file('own.work');
    fs.mkdirSync(work, { recursive: true });
    fs.writeFileSync(path.join(work, 'run-1'), 'a log of mine');
    fs.writeFileSync(path.join(work, 'other'), 'keep');
    expectPmemError(() => externalSort(input(), file('own.out'), { memory: MEMORY, pmem: work }), 'ERR_PMEM_EXISTS');
    expect(fs.readdirSync(work).sort()).toEqual(['other', 'run-1']);
    expect(fs.readFileSync(path.join(work, 'run-1'), 'latin1')).toBe('a log of mine');
  });

  test('a file named checkpoint that is not one, damaged or truncated: ERR_PMEM_CORRUPT, with or without resume, and left as it is', () => {
    const work = file('own.cp');
    fs.mkdirSync(work, { recursive: true });
    const cp = path.join(work, 'checkpoint');
    const random = seededRandom(5);
    const foreign = Buffer.from(Array.from({ length: 9000 }, () => Math.floor(random() * 256)));
    for (const bytes of [Buffer.from('my notes\n'), foreign, Buffer.concat([Buffer.from('PMEMSORT'), Buffer.alloc(40)])]) {
      fs.writeFileSync(cp, bytes);
      for (const resume of [false, true]) {
        expectPmemError(() => externalSort(input(), file('own.out'), { memory: MEMORY, pmem: work, resume }), 'ERR_PMEM_CORRUPT');
        expect(fs.readFileSync(cp).equals(bytes)).toBe(true);
      }
    }
    // A sort's own checkpoint, damaged over its magic or cut short, the same.
    fs.rmSync(cp);
    const big = file('own.big');
    fs.writeFileSync(big, mixedText(3, 3000));
    expect(() => externalSort(big, file('own.out'), {
      memory: MEMORY, pmem: work, checkpointBytes: 8 * 1024, onCheckpoint: () => { throw new Error('stop'); },
    })).toThrow('stop');
    const good = fs.readFileSync(cp);
    const damaged = Buffer.from(good);
    damaged.fill(0x5a, 0, 64);
    fs.writeFileSync(cp, damaged);
    expectPmemError(() => externalSort(big, file('own.out'), { memory: MEMORY, pmem: work, resume: true }), 'ERR_PMEM_CORRUPT');
    expect(fs.readFileSync(cp).equals(damaged)).toBe(true);
    fs.writeFileSync(cp, good.subarray(0, 100));
    expectPmemError(() => externalSort(big, file('own.out'), { memory: MEMORY, pmem: work, resume: true }), 'ERR_PMEM_CORRUPT');
    expect(fs.statSync(cp).size).toBe(100);
    // Whole again, it resumes.
    fs.writeFileSync(cp, good);
    expect(externalSort(big, file('own.out'), { memory: MEMORY, pmem: work, resume: true }).resumed).toBe(true);
    expect(fs.readFileSync(file('own.out')).equals(gnu(big, []))).toBe(true);
  });

  test('an empty checkpoint (a crash after the file was made, before it was sized) named nothing: the sort starts afresh, with or without resume', () => {
    for (const resume of [false, true]) {
      const work = file(`own.empty-cp-${resume}`);
      fs.mkdirSync(work);
      fs.writeFileSync(path.join(work, 'checkpoint'), '');
      const r = externalSort(input(), file('own.out'), { memory: MEMORY, pmem: work, resume });
      expect(r.resumed).toBe(false);
      expect(fs.readFileSync(file('own.out'), 'latin1')).toBe('a\nb\nc\n');
      // The directory was there before: it stays, without the sort's files.
      expect(fs.readdirSync(work)).toEqual([]);
      fs.rmdirSync(work);
    }
  });

  test('a partial output that is a directory or a link is refused with ERR_PMEM_INVALID naming it; nothing is made, and it is left as it is', () => {
    const out = file('own.partial-out');
    const partial = `${out}.pmem-sort-partial`;
    fs.mkdirSync(partial);
    fs.writeFileSync(path.join(partial, 'mine'), 'keep');
    const target = file('own.partial-target');
    fs.writeFileSync(target, 'keep');
    for (const make of [() => {}, () => {
      fs.rmSync(partial, { recursive: true });
      fs.symlinkSync(target, partial);
    }]) {
      make();
      let thrown: unknown;
      try {
        externalSort(input(), out, { memory: MEMORY });
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(PmemError);
      expect([(thrown as PmemError).code, (thrown as PmemError).path]).toEqual(['ERR_PMEM_INVALID', partial]);
      expect((thrown as PmemError).message).toContain(partial);
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
    }
    expect(fs.readlinkSync(partial)).toBe(target);
    expect(fs.readFileSync(target, 'latin1')).toBe('keep');
    fs.rmSync(partial);
  });

  test('a pmem path that is a regular file: ERR_PMEM_INVALID, the file unchanged', () => {
    const f = file('own.notdir');
    fs.writeFileSync(f, 'mine');
    expectPmemError(() => externalSort(input(), file('own.out'), { memory: MEMORY, pmem: f }), 'ERR_PMEM_INVALID');
    expect(fs.readFileSync(f, 'latin1')).toBe('mine');
  });

  test('an output or a pmem directory under a directory that does not exist is refused; no directory is made', () => {
    const missing = file('own-missing');
    expectPmemError(() => externalSort(input(), path.join(missing, 'deeper', 'out.txt'), { memory: MEMORY }), 'ERR_PMEM_NOT_FOUND');
    expectPmemError(() => externalSort(input(), file('own.out'), { memory: MEMORY, pmem: path.join(missing, 'work') }), 'ERR_PMEM_NOT_FOUND');
    expect(fs.existsSync(missing)).toBe(false);
    // An output "inside" a regular file.
    const f = file('own.plain');
    fs.writeFileSync(f, 'mine');
    expectPmemError(() => externalSort(input(), path.join(f, 'out.txt'), { memory: MEMORY }), 'ERR_PMEM_INVALID');
    expect(fs.readFileSync(f, 'latin1')).toBe('mine');
    // A pmem directory whose parent exists is made, and removed at the end.
    const work = file('own.made');
    externalSort(input(), file('own.out'), { memory: MEMORY, pmem: work });
    expect(fs.readFileSync(file('own.out'), 'latin1')).toBe('a\nb\nc\n');
    expect(fs.existsSync(work)).toBe(false);
    // One made by a sort that was stopped is removed by the resume that finishes it.
    const big = file('own-big.txt');
    generate('text', 1024 * 1024, big, 4);
    expect(() => externalSort(big, file('own.out'), {
      memory: MEMORY, pmem: work, onCheckpoint: () => { throw new Error('stop'); },
    })).toThrow('stop');
    expect(fs.existsSync(work)).toBe(true);
    expect(externalSort(big, file('own.out'), { memory: MEMORY, pmem: work, resume: true }).resumed).toBe(true);
    expect(fs.readFileSync(file('own.out')).equals(gnu(big, []))).toBe(true);
    expect(fs.existsSync(work)).toBe(false);
    // One that was there before stays, with the sort's files gone.
    fs.mkdirSync(work);
    expect(() => externalSort(big, file('own.out'), {
      memory: MEMORY, pmem: work, onCheckpoint: () => { throw new Error('stop'); },
    })).toThrow('stop');
    externalSort(big, file('own.out'), { memory: MEMORY, pmem: work, resume: true });
    expect(fs.readdirSync(work)).toEqual([]);
    fs.rmdirSync(work);
  });
});

/**
 * Sorts `input`, stopped (as a crash would) at its first checkpoint of the
 * merge, when every run is still to be read; returns the work directory and
 * its run files, in name order (at least two).
 */
function stoppedInMerge(input: string, out: string, options: SortOptions): { work: string; runs: string[] } {
  return stoppedAt('merge', 1, input, out, options);
}

/** Sorts, stopping (as a crash would) right after the `at`th checkpoint of `phase`; returns the work directory and its run files. */
function stoppedAt(phase: 'runs' | 'merge', at: number, input: string, out: string, options: SortOptions): { work: string; runs: string[] } {
  let n = 0;
  expect(() => externalSort(input, out, {
    ...options,
    onCheckpoint: (info) => {
      if (info.phase === phase && ++n === at) throw new Error('stop');
    },
  })).toThrow('stop');
  const work = `${out}.pmem-sort`;
  const runs = fs.readdirSync(work).filter((f) => f !== 'checkpoint').sort();
  expect(runs.length).toBeGreaterThan(1);
  return { work, runs };
}

describe('resume', () => {
  /** Sorts, stopping (as a crash would) right after the `stopAt`th checkpoint; returns what it had published. */
  function interrupted(input: string, out: string, options: SortOptions, stopAt: number): string {
    let n = 0;
    let phase = '';
    expect(() => externalSort(input, out, {
      ...options,
      onCheckpoint: (info) => {
        phase = info.phase;
        if (++n === stopAt) throw new Error('stop');
      },
    })).toThrow('stop');
    return phase;
  }

  test.each([['pmem'], ['dram']] as const)('a sort stopped after any checkpoint resumes to the same output (%s)', (mergeBuffers) => {
    const input = file('resume.txt');
    fs.writeFileSync(input, mixedText(11, 6000));
    const options: SortOptions = { memory: MEMORY, checkpointBytes: 8 * 1024, unique: true, keys: [parseKey('1,1')], mergeBuffers };
    const out = file('resume.out');
    let total = 0;
    externalSort(input, out, { ...options, onCheckpoint: () => total++ });
    const expected = fs.readFileSync(out);
    expect(expected.equals(gnu(input, ['-u', '-k1,1']))).toBe(true);
    const phases = new Set<string>();
    for (let stopAt = 1; stopAt < total; stopAt += 3) {
      fs.rmSync(out);
      phases.add(interrupted(input, out, options, stopAt));
      expect(fs.existsSync(out)).toBe(false);
      // Without resume, an unfinished sort is not started over.
      expectPmemError(() => externalSort(input, out, options), 'ERR_PMEM_EXISTS');
      const r = externalSort(input, out, { ...options, resume: true });
      expect(r.resumed).toBe(true);
      expect(fs.readFileSync(out).equals(expected)).toBe(true);
    }
    expect([...phases].sort()).toEqual(['merge', 'runs']);
  });

  test('a checkpoint description that cannot be read is said so, not a TypeError', () => {
    const { differences } = require('../lib/sort/sort') as typeof import('../lib/sort/sort');
    const now = JSON.stringify({ input: 'a', memory: 2 });
    for (const was of ['not json', 'null', '5', '"text"']) expect(differences(was, now)).toBe('its description cannot be read');
    expect(differences(JSON.stringify({ input: 'a', memory: 1 }), now)).toBe('its memory was 1, now 2');
  });

  test('a checkpoint of another sort, or of an input that changed, is not resumed', () => {
    const input = file('other.txt');
    fs.writeFileSync(input, mixedText(3, 3000));
    const out = file('other.out');
    interrupted(input, out, { memory: MEMORY }, 3);
    // The error names what differs, not the checkpoint's description whole.
    expect(() => externalSort(input, out, { memory: MEMORY, reverse: true, resume: true })).toThrow(
      /^the checkpoint in .* is of another sort: its format options differ \(reverse: false → true\)$/,
    );
    expectPmemError(() => externalSort(input, out, { memory: MEMORY * 2, resume: true }), 'ERR_PMEM_INVALID');
    expect(() => externalSort(input, out, { memory: MEMORY * 2, resume: true })).toThrow(
      new RegExp(`is of another sort: its memory was ${MEMORY}, now ${MEMORY * 2}$`),
    );
    // An input that changed since: no resume gets past it, so its work goes
    // (test/85.sort-resume-input.test.ts has the changes no size shows).
    fs.appendFileSync(input, 'more\n');
    expect(() => externalSort(input, out, { memory: MEMORY, resume: true })).toThrow(
      /^the input changed since the checkpoint in .* was written: its input size was \d+, now \d+(; .*)?: the sort removed its runs and checkpoint; start the sort again without resume$/,
    );
    expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
    expect(fs.existsSync(out)).toBe(false);
  });

  /**
   * Runs `f` with the merge reading runs in place as on persistent memory
   * (`reads` 'in place'), or as the test directory makes it ('as the
   * directory': with pread in the msync pass, in place in the forced one).
   */
  function reading<T>(reads: 'in place' | 'as the directory', f: () => T): T {
    const sources = require('../lib/sort/sources') as typeof import('../lib/sort/sources');
    const spy = reads === 'in place' ? jest.spyOn(sources, 'readsInPlace').mockReturnValue(true) : null;
    try {
      const r = f();
      // The sorts asked the spy, so that they read in place.
      if (spy !== null) expect(spy).toHaveBeenCalled();
      return r;
    } finally {
      spy?.mockRestore();
    }
  }

  test.each([
    ['text', 'pmem', 'as the directory'], ['text', 'pmem', 'in place'], ['text', 'dram', 'as the directory'],
    ['binary', 'pmem', 'as the directory'], ['binary', 'pmem', 'in place'], ['binary', 'dram', 'as the directory'],
  ] as const)('a run file cut short is ERR_PMEM_CORRUPT on resume, not a wrong output (%s, %s, read %s)', (kind, mergeBuffers, reads) => {
    const input = file(`cut-${kind}.in`);
    if (kind === 'text') fs.writeFileSync(input, mixedText(6, 6000));
    else generate('binary', 100 * 6000, input, 6);
    const out = file(`cut-${kind}-${mergeBuffers}.out`);
    const options: SortOptions = { memory: MEMORY, checkpointBytes: 8 * 1024, mergeBuffers, ...(kind === 'binary' ? { recordSize: 100 } : {}) };
    reading(reads, () => {
      const { work, runs } = stoppedInMerge(input, out, options);
      // Only the last run cut short: the merge reaches it last, after
      // checkpoints of its own, where the resume refuses it before any.
      const last = path.join(work, runs[runs.length - 1]);
      fs.truncateSync(last, Math.max(0, fs.statSync(last).size - 150));
      const checkpoint = fs.readFileSync(path.join(work, 'checkpoint'));
      let thrown: unknown;
      let published = 0;
      try {
        externalSort(input, out, { ...options, resume: true, onCheckpoint: () => void published++ });
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(PmemError);
      expect((thrown as PmemError).code).toBe('ERR_PMEM_CORRUPT');
      // The error names the run file.
      expect((thrown as PmemError).path).toBe(last);
      expect((thrown as PmemError).message).toMatch(/short of the \d+ bytes the checkpoint says it holds$/);
      // Refused before anything was published: the checkpoint is as it was.
      expect(published).toBe(0);
      expect(fs.readFileSync(path.join(work, 'checkpoint')).equals(checkpoint)).toBe(true);
      expect(fs.existsSync(out)).toBe(false);
      fs.rmSync(work, { recursive: true });
    });
  });

  test.each([['pmem', 'as the directory'], ['pmem', 'in place'], ['dram', 'as the directory']] as const)(
    'a run whose last line lost its newline (its length kept) is ERR_PMEM_CORRUPT naming the byte that line starts at (%s, read %s)', (mergeBuffers, reads) => {
      const input = file('no-newline.in');
      fs.writeFileSync(input, mixedText(9, 6000));
      const out = file(`no-newline-${mergeBuffers}-${reads === 'in place' ? 'mapped' : 'read'}.out`);
      const options: SortOptions = { memory: MEMORY, checkpointBytes: 8 * 1024, mergeBuffers, parallel: 1 };
      reading(reads, () => {
        const { work, runs } = stoppedInMerge(input, out, options);
        const run = path.join(work, runs[0]);
        const b = fs.readFileSync(run);
        const lastLine = b.lastIndexOf(10, b.length - 2) + 1;
        b[b.length - 1] = 0x78;
        fs.writeFileSync(run, b);
        let thrown: unknown;
        try {
          externalSort(input, out, { ...options, resume: true });
        } catch (e) {
          thrown = e;
        }
        expect(thrown).toBeInstanceOf(PmemError);
        expect([(thrown as PmemError).code, (thrown as PmemError).message]).toEqual(['ERR_PMEM_CORRUPT', `run '${run}' has no newline after its byte ${lastLine}`]);
        fs.rmSync(work, { recursive: true });
      });
    });

  test.each([['pmem', 1, 'as the directory'], ['pmem', 2, 'as the directory'], ['pmem', 1, 'in place'], ['pmem', 2, 'in place'], ['dram', 1, 'as the directory']] as const)(
    'a run file the checkpoint names gone missing is ERR_PMEM_CORRUPT on resume (%s, %d threads, read %s)', (mergeBuffers, parallel, reads) => {
      const input = file('gone.in');
      fs.writeFileSync(input, mixedText(8, 6000));
      const out = file(`gone-${mergeBuffers}-${parallel}.out`);
      const options: SortOptions = { memory: MEMORY, checkpointBytes: 8 * 1024, mergeBuffers, parallel };
      reading(reads, () => {
        const { work, runs } = stoppedInMerge(input, out, options);
        fs.rmSync(path.join(work, runs[runs.length - 1]));
        const checkpoint = fs.readFileSync(path.join(work, 'checkpoint'));
        let published = 0;
        expectPmemError(() => externalSort(input, out, { ...options, resume: true, onCheckpoint: () => void published++ }), 'ERR_PMEM_CORRUPT');
        // Refused before anything was published: the checkpoint is as it was.
        expect(published).toBe(0);
        expect(fs.readFileSync(path.join(work, 'checkpoint')).equals(checkpoint)).toBe(true);
        expect(fs.existsSync(out)).toBe(false);
        fs.rmSync(work, { recursive: true });
      });
    });

  test('a run the checkpoint names that is no longer a regular file is ERR_PMEM_CORRUPT on resume while runs are formed, before anything is published', () => {
    const input = file('not-a-run.in');
    fs.writeFileSync(input, mixedText(10, 6000));
    const out = file('not-a-run.out');
    const options: SortOptions = { memory: MEMORY, parallel: 1 };
    const { work, runs } = stoppedAt('runs', 2, input, out, options);
    const run = path.join(work, runs[0]);
    for (const replace of [(f: string) => fs.mkdirSync(f), (f: string) => fs.symlinkSync(input, f)]) {
      const saved = fs.readFileSync(run);
      fs.rmSync(run);
      replace(run);
      const checkpoint = fs.readFileSync(path.join(work, 'checkpoint'));
      let published = 0;
      let thrown: unknown;
      try {
        externalSort(input, out, { ...options, resume: true, onCheckpoint: () => void published++ });
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toMatchObject({ code: 'ERR_PMEM_CORRUPT', path: run, message: `run '${run}', which the checkpoint names, is not a regular file` });
      expect(published).toBe(0);
      expect(fs.readFileSync(path.join(work, 'checkpoint')).equals(checkpoint)).toBe(true);
      fs.rmSync(run, { recursive: true });
      fs.writeFileSync(run, saved);
    }
    // With the run back, the resume finishes the sort.
    externalSort(input, out, { ...options, resume: true });
    expect(fs.readFileSync(out).equals(gnu(input, []))).toBe(true);
  });

  test('a damaged checkpoint is ERR_PMEM_CORRUPT, not a wrong output', () => {
    const input = file('damaged.txt');
    fs.writeFileSync(input, mixedText(4, 3000));
    const out = file('damaged.out');
    interrupted(input, out, { memory: MEMORY }, 3);
    const cp = path.join(`${out}.pmem-sort`, 'checkpoint');
    const b = fs.readFileSync(cp);
    for (let i = 4096 + 64; i < b.length; i++) b[i] ^= 0x5a;
    fs.writeFileSync(cp, b);
    expectPmemError(() => externalSort(input, out, { memory: MEMORY, resume: true }), 'ERR_PMEM_CORRUPT');
    expect(fs.existsSync(out)).toBe(false);
    fs.rmSync(`${out}.pmem-sort`, { recursive: true });
  });
});


test('the merge gives the runs\' space back behind each checkpoint, and a sort stopped after that resumes to the same output', () => {
  const input = file('give-back.txt');
  generate('text', 4 * 1024 * 1024, input, 21);
  const expected = gnu(input, []);
  const work = file('give-back.work');
  // Runs of about 400 KiB on one thread, 16 checkpoints in the merge.
  const options: SortOptions = { memory: 1024 * 1024, parallel: 1, pmem: work, checkpointBytes: 256 * 1024 };
  /** The bytes the run files hold on the filesystem (st_blocks), at each merge checkpoint. */
  const held: number[] = [];
  const runBytes = (): number => fs.readdirSync(work).filter((n) => n.startsWith('run-'))
    .reduce((sum, n) => sum + fs.statSync(path.join(work, n)).blocks * 512, 0);
  const r = externalSort(input, file('give-back.out'), { ...options, onCheckpoint: (i) => { if (i.phase === 'merge') held.push(runBytes()); } });
  expect(fs.readFileSync(file('give-back.out')).equals(expected)).toBe(true);
  expect(r.runs).toBeGreaterThan(5);
  expect(held.length).toBeGreaterThan(8);
  // Before the first range was merged the runs held the whole input; by the
  // last checkpoint all but the bytes left to merge (less than one
  // checkpoint's) and at most two blocks of each run (the one its cursor is
  // in, and its last) were given back.
  const block = fs.statfsSync(path.dirname(work)).bsize;
  expect(held[0]).toBeGreaterThanOrEqual(4 * 1024 * 1024);
  for (let i = 1; i < held.length; i++) expect(held[i]).toBeLessThanOrEqual(held[i - 1]);
  expect(held[held.length - 1]).toBeLessThan(r.runs * 2 * block + 256 * 1024);
  // Stopped at a checkpoint in the middle of the merge, with space given back: the resume reads only what is left.
  let merges = 0;
  expect(() => externalSort(input, file('give-back.out2'), {
    ...options, onCheckpoint: (i) => { if (i.phase === 'merge' && ++merges === Math.floor(held.length / 2)) throw new Error('stop'); },
  })).toThrow('stop');
  expect(runBytes()).toBeLessThan(held[0]);
  const resumed = externalSort(input, file('give-back.out2'), { ...options, resume: true });
  expect(resumed.resumed).toBe(true);
  expect(fs.readFileSync(file('give-back.out2')).equals(expected)).toBe(true);
});

test('the runs of a small budget on two threads are given back as the merge goes, block by block, and whole once merged', () => {
  const input = file('give-back-small.txt');
  generate('text', 4 * 1024 * 1024, input, 24);
  const work = file('give-back-small.work');
  const out = file('give-back-small.out');
  const block = () => fs.statfsSync(path.dirname(work)).bsize;
  /** Runs and the output's partial file, on the filesystem, at each merge checkpoint. */
  let peak = 0;
  let checkpoints = 0;
  const held = (p: string): number => fs.statSync(p).blocks * 512;
  const r = externalSort(input, out, {
    memory: 1024 * 1024, parallel: 2, pmem: work, checkpointBytes: 64 * 1024,
    onCheckpoint: (i) => {
      if (i.phase !== 'merge') return;
      checkpoints++;
      const runs = fs.readdirSync(work).filter((n) => n.startsWith('run-')).reduce((sum, n) => sum + held(path.join(work, n)), 0);
      const partial = fs.readdirSync(path.dirname(out)).filter((n) => n.startsWith(`${path.basename(out)}.pmem-sort-partial`))
        .reduce((sum, n) => sum + held(path.join(path.dirname(out), n)), 0);
      peak = Math.max(peak, runs + partial);
    },
  });
  expect(fs.readFileSync(out).equals(gnu(input, []))).toBe(true);
  expect(checkpoints).toBeGreaterThan(8);
  // Runs of about 120 KiB: with 64 KiB granules each gave back half of
  // itself at most before its end.
  expect(r.runs).toBeGreaterThan(20);
  expect(peak).toBeLessThan(r.inputBytes + 64 * 1024 + r.runs * 2 * block() + 64 * 1024);
});

describe('a stop right after run space is given back', () => {
  /**
   * Sorts with a punchHole that throws (as a crash would stop the sort)
   * right after its `stopAt`th hole; `ahead` punches that hole one granule
   * further than asked, as giving space back before the checkpoint that
   * moves the cursor is durable would. Then resumes. Returns the output.
   */
  function stoppedAndResumed(ahead: boolean, stopAt: number): Buffer {
    const input = file('punch-stop.txt');
    const work = file(`punch-stop-${ahead}.work`);
    const out = file(`punch-stop-${ahead}.out`);
    const options: SortOptions = { memory: 1024 * 1024, parallel: 1, pmem: work, checkpointBytes: 256 * 1024 };
    const real = space.punchHole;
    let calls = 0;
    const spy = jest.spyOn(space, 'punchHole').mockImplementation((p, offset, length) => {
      const done = real(p, offset, length + (ahead ? 64 * 1024 : 0));
      if (++calls === stopAt) throw new Error('stop');
      return done;
    });
    try {
      expect(() => externalSort(input, out, options)).toThrow('stop');
    } finally {
      spy.mockRestore();
    }
    externalSort(input, out, { ...options, resume: true });
    return fs.readFileSync(out);
  }

  test('on a filesystem that cannot punch holes, the sort asks once and keeps the runs whole', () => {
    const input = file('no-punch.txt');
    generate('text', 4 * 1024 * 1024, input, 23);
    let calls = 0;
    const spy = jest.spyOn(space, 'punchHole').mockImplementation(() => { calls++; return false; });
    try {
      externalSort(input, file('no-punch.out'), { memory: 1024 * 1024, parallel: 1, pmem: file('no-punch.work'), checkpointBytes: 256 * 1024 });
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(1);
    expect(fs.readFileSync(file('no-punch.out')).equals(gnu(input, []))).toBe(true);
  });

  test('resumes to the same output; space given back ahead of the durable cursor is caught', () => {
    generate('text', 4 * 1024 * 1024, file('punch-stop.txt'), 22);
    const expected = gnu(file('punch-stop.txt'), []);
    expect(stoppedAndResumed(false, 5).equals(expected)).toBe(true);
    // The broken order: the resume reads zeros where the last durable
    // checkpoint's records were.
    expect(stoppedAndResumed(true, 5).equals(expected)).toBe(false);
  });
});

test('a full disk during the merge is ERR_PMEM_NO_SPACE; the input is untouched and the checkpoint resumes', () => {
  const input = file('space.txt');
  generate('text', 600 * 1024, input, 8);
  const before = fs.readFileSync(input);
  const expected = gnu(input, []);
  // Room for the runs and the checkpoint, not for the output too: the
  // merge gives the runs back as it goes, but not all of the output's room
  // (at 1024k it ran to its end; at 700k the runs did not fit).
  const mnt = mountTmpfs('832k', 'a full disk');
  if (mnt === null) return;
  try {
    const out = path.join(mnt, 'out.txt');
    let phase = '';
    expectPmemError(() => externalSort(input, out, { memory: MEMORY, checkpointBytes: 64 * 1024, onCheckpoint: (i) => { phase = i.phase; } }), 'ERR_PMEM_NO_SPACE');
    expect(phase).toBe('merge');
    expect(fs.readFileSync(input).equals(before)).toBe(true);
    expect(fs.existsSync(out)).toBe(false);
    execFileSync('mount', ['-o', 'remount,size=4m', mnt]);
    const r = externalSort(input, out, { memory: MEMORY, checkpointBytes: 64 * 1024, resume: true });
    expect(r.resumed).toBe(true);
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
  } finally {
    unmount(mnt);
  }
});

describe('pmem sort', () => {
  const bin = path.join(__dirname, '..', 'bin', 'pmem');
  const pmem = (args: string[], opts: { uid?: number; gid?: number } = {}): { code: number | null; out: string; err: string } => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', ...opts });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  let input = '';
  beforeAll(() => {
    input = file('cli.txt');
    fs.writeFileSync(input, mixedText(21, 5000));
  });

  test.each([
    [['-k2,2', '-n'], ['-k2,2', '-n']],
    [['-nr', '-t:'], ['-nr', '-t:']],
    [['-t', ':', '-k', '2', '-u'], ['-t', ':', '-k', '2', '-u']],
    [['-s', '-k1.2,1.3', '-r'], ['-s', '-k1.2,1.3', '-r']],
  ])('%j gives GNU sort\'s output, with counters in --json', (args, flags) => {
    const out = file('cli.out');
    const r = pmem(['sort', ...args, input, '-o', out, '-S', '64K', '--json']);
    expect(r.code).toBe(0);
    const counters = JSON.parse(r.out) as { records: number; runs: number; mergePasses: number; tempBytesWritten: number; peakRss: number };
    expect(counters.records).toBe(5000);
    expect(counters.runs).toBeGreaterThan(1);
    expect(counters.mergePasses).toBe(1);
    expect(counters.peakRss).toBeGreaterThan(0);
    expect(fs.readFileSync(out).equals(gnu(input, flags))).toBe(true);
  });

  test('without -o, or with -o -, the output goes to stdout once whole, through a pipe slower than the sort; nothing is left behind', async () => {
    const big = file('cli-stdout.txt');
    generate('text', 1024 * 1024, big, 13);
    const expected = gnu(big, ['-k2', '-s']);
    const tmp = file('tmpdir');
    fs.mkdirSync(tmp);
    const r = await readAfterWait(bin, ['sort', '-S', '128K', '-k2', '-s', big], { ...process.env, TMPDIR: tmp });
    // The reader began once pmem waited on the full pipe.
    expect(r.waited).toBe(true);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out.equals(expected)).toBe(true);
    expect(fs.readdirSync(tmp)).toEqual([]);
    // -o -, with --pmem: the sorted file is made beside the pmem directory, and goes with it.
    const work = path.join(tmp, 'work');
    const dash = spawnSync(process.execPath, [bin, 'sort', '-S', '128K', '-k2', '-s', '--pmem', work, '-o', '-', big], { maxBuffer: 1 << 26 });
    expect(dash.status).toBe(0);
    expect(dash.stdout.equals(expected)).toBe(true);
    expect(fs.readdirSync(tmp)).toEqual([]);
    // A reader that stops early: exit 0, the sort's files removed.
    const head = spawnSync('bash', ['-c', '"$0" "$1" sort -S 128K "$2" | head -c 10 > /dev/null; echo "${PIPESTATUS[0]}"', process.execPath, bin, big],
      { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
    expect(head.stdout.trim()).toBe('0');
    expect(fs.readdirSync(tmp)).toEqual([]);
    fs.rmdirSync(tmp);
  });

  test('stdout output with --json, or with --resume, is a usage error (exit 2)', () => {
    for (const args of [['--json'], ['--resume'], ['-o', '-', '--json']]) {
      const r = pmem(['sort', ...args, input]);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/^pmem: (--json writes the counters to stdout|--resume continues a sort into a file): give .* with -o FILE\n$/);
    }
  });

  test('an input of - is stdin, to stdout or to a file; nothing is left behind; --resume of stdin is a usage error', () => {
    const big = file('cli-stdin.txt');
    generate('text', 512 * 1024, big, 14);
    const expected = gnu(big, ['-n']);
    const tmp = file('stdin-tmp');
    fs.mkdirSync(tmp);
    const env = { ...process.env, TMPDIR: tmp };
    const toStdout = spawnSync(process.execPath, [bin, 'sort', '-S', '128K', '-n', '-'], { input: fs.readFileSync(big), env, maxBuffer: 1 << 26 });
    expect([toStdout.status, toStdout.stderr.toString()]).toEqual([0, '']);
    expect(toStdout.stdout.equals(expected)).toBe(true);
    // To a file: the copy of stdin is made beside the output, and removed.
    const outDir = file('stdin-out');
    fs.mkdirSync(outDir);
    const out = path.join(outDir, 'sorted.txt');
    const toFile = spawnSync(process.execPath, [bin, 'sort', '-S', '128K', '-n', '-', '-o', out], { input: fs.readFileSync(big), env });
    expect([toFile.status, toFile.stdout.length]).toEqual([0, 0]);
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    expect(fs.readdirSync(outDir)).toEqual(['sorted.txt']);
    expect(fs.readdirSync(tmp)).toEqual([]);
    // Empty stdin sorts to nothing.
    const empty = spawnSync(process.execPath, [bin, 'sort', '-'], { input: '', env });
    expect([empty.status, empty.stdout.length]).toEqual([0, 0]);
    const r = pmem(['sort', '--resume', '-', '-o', out]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('pmem: --resume continues the sort of a file: stdin cannot be read again\n');
    fs.rmSync(outDir, { recursive: true });
    fs.rmdirSync(tmp);
  });

  test('the directory a killed sort from stdin left is removed by the next such sort beside it; a live sort\'s, another host\'s and a foreign one stay', async () => {
    const tmp = file('left-tmp');
    fs.mkdirSync(tmp);
    const env = { ...process.env, TMPDIR: tmp };
    const sortDirs = (): string[] => fs.readdirSync(tmp).filter((n) => /^pmem-sort-\w{6}$/.test(n) && fs.existsSync(path.join(tmp, n, 'owner')));
    /** A `pmem sort -` that has made its directory and waits for the rest of stdin. */
    const waiting = async (): Promise<{ child: ChildProcess; dir: string; out: Buffer[] }> => {
      const before = sortDirs();
      const child = spawn(process.execPath, [bin, 'sort', '-S', '128K', '-'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
      const out: Buffer[] = [];
      child.stdout?.on('data', (b: Buffer) => out.push(b));
      child.stdin?.write('b\nc\n');
      for (const deadline = Date.now() + 30000; Date.now() < deadline;) {
        const made = sortDirs().filter((n) => !before.includes(n));
        if (made.length === 1) return { child, dir: made[0], out };
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('the sort made no directory');
    };
    // The live one first: a sort from stdin removes what a killed one left before it makes its own directory.
    const live = await waiting();
    try {
      const killed = await waiting();
      const gone = new Promise((r) => killed.child.on('exit', r));
      killed.child.kill('SIGKILL');
      await gone;
      expect(sortDirs().sort()).toEqual([live.dir, killed.dir].sort());
      // A directory of the same name without an owner file, and one whose owner is on another host.
      fs.mkdirSync(path.join(tmp, 'pmem-sort-nowner'));
      fs.mkdirSync(path.join(tmp, 'pmem-sort-elsewh'));
      fs.writeFileSync(path.join(tmp, 'pmem-sort-elsewh', 'owner'), `not-${os.hostname()} 1 1\n`);
      const r = spawnSync(process.execPath, [bin, 'sort', '-'], { input: 'z\ny\n', env, encoding: 'utf8' });
      expect([r.status, r.stdout]).toEqual([0, 'y\nz\n']);
      expect(r.stderr).toBe(`pmem sort: removed ${path.join(tmp, killed.dir)}, left by a sort that was killed (pid ${killed.child.pid})\n`);
      expect(fs.readdirSync(tmp).sort()).toEqual([live.dir, 'pmem-sort-elsewh', 'pmem-sort-nowner'].sort());
      // The live sort goes on to its output, and removes its own directory.
      // 'close', not 'exit': only then has all of its output been read.
      const done = new Promise<number | null>((resolve) => live.child.on('close', resolve));
      live.child.stdin?.end('a\n');
      expect(await done).toBe(0);
      expect(Buffer.concat(live.out).toString()).toBe('a\nb\nc\n');
      expect(fs.readdirSync(tmp).sort()).toEqual(['pmem-sort-elsewh', 'pmem-sort-nowner']);
    } finally {
      // A failure above leaves nothing waiting on stdin.
      if (live.child.exitCode === null) live.child.kill('SIGKILL');
    }
    fs.rmSync(tmp, { recursive: true });
  });

  test('a stdin that cannot be read (a directory, a write-only file) fails with exit 3 naming the error; the output is untouched', () => {
    const outDir = file('stdin-unreadable');
    fs.mkdirSync(outDir);
    const out = path.join(outDir, 'precious');
    fs.writeFileSync(out, '1\n2\n');
    const writeOnly = file('stdin-write-only');
    for (const [open, errno] of [[() => fs.openSync(outDir, 'r'), 'EISDIR'], [() => fs.openSync(writeOnly, 'w'), 'EBADF']] as const) {
      const fd = open();
      try {
        const r = spawnSync(process.execPath, [bin, 'sort', '-', '-o', out], { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
        expect([r.status, r.stdout, r.stderr]).toEqual([3, '', `pmem: cannot read stdin: ${errno}: ${errno === 'EISDIR' ? 'illegal operation on a directory' : 'bad file descriptor'}, read\n`]);
      } finally {
        fs.closeSync(fd);
      }
      expect(fs.readFileSync(out, 'latin1')).toBe('1\n2\n');
      expect(fs.readdirSync(outDir)).toEqual(['precious']);
    }
    fs.rmSync(outDir, { recursive: true });
    fs.rmSync(writeOnly);
  });

  test('stdin larger than the filesystem it is copied to: exit 3 (ENOSPC), nothing left there', () => {
    const mnt = mountTmpfs('512k', 'a full disk');
    if (mnt === null) return;
    try {
      const r = spawnSync(process.execPath, [bin, 'sort', '-S', '128K', '--pmem', path.join(mnt, 'work'), '-o', path.join(mnt, 'out.txt'), '-'],
        { input: Buffer.alloc(2 * 1024 * 1024, 'line\n'), encoding: 'utf8' });
      expect(r.status).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^pmem: cannot copy stdin to ${mnt}/pmem-sort-\\w+/input: no space left on device \\(ENOSPC\\)\n$`));
      expect(fs.readdirSync(mnt)).toEqual([]);
      // No room even for the directory's owner file: said so, and the
      // directory made for the sort is removed too.
      fillFilesystem(path.join(mnt, 'filler'));
      const full = spawnSync(process.execPath, [bin, 'sort', '-S', '128K', '--pmem', path.join(mnt, 'work'), '-o', path.join(mnt, 'out.txt'), '-'],
        { input: 'b\na\n', encoding: 'utf8' });
      expect(full.status).toBe(3);
      expect(full.stderr).toMatch(new RegExp(`^pmem: cannot write in ${mnt}/pmem-sort-\\w+: no space left on device \\(ENOSPC\\)\n$`));
      expect(fs.readdirSync(mnt)).toEqual(['filler']);
    } finally {
      unmount(mnt);
    }
  });

  test('--verbose, binary records, --resume', () => {
    const bin100 = file('cli.bin');
    generate('binary', 100 * 5000, bin100, 12);
    const out = file('cli-bin.out');
    let n = 0;
    expect(() => externalSort(bin100, out, { recordSize: 100, memory: MEMORY, checkpointBytes: 50000, onCheckpoint: () => {
      if (++n === 5) throw new Error('stop');
    } })).toThrow('stop');
    const again = pmem(['sort', '--record-size', '100', '--key-length=10', '-S', '128K', bin100, '-o', out]);
    expect(again.code).toBe(3);
    expect(again.err).toMatch(/ERR_PMEM_EXISTS/);
    const r = pmem(['sort', '--record-size', '100', '--key-length=10', '-S', '128K', '--resume', '--verbose', bin100, '-o', out]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/runs, 1 merge pass\(es\).*resumed from a checkpoint/);
    const data = fs.readFileSync(bin100);
    const recs = Array.from({ length: 5000 }, (_, i) => data.subarray(i * 100, i * 100 + 100));
    recs.sort((a, b) => Buffer.compare(a.subarray(0, 10), b.subarray(0, 10)) || Buffer.compare(a, b));
    expect(fs.readFileSync(out).equals(Buffer.concat(recs))).toBe(true);
  });

  test('an output or a pmem directory in a directory it may not enter is ERR_PMEM_ACCESS, exit 3; nothing is written', () => {
    const locked = file('cli-locked');
    const open = file('cli-open');
    for (const d of [locked, open]) fs.mkdirSync(d, { recursive: true });
    fs.chmodSync(open, 0o777);
    fs.chmodSync(locked, 0o000);
    // Root enters a directory whatever its mode: the sort runs as another user then.
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    try {
      const toLocked = pmem(['sort', input, '-o', path.join(locked, 'out.txt')], as);
      expect(toLocked.code).toBe(3);
      expect(toLocked.err).toMatch(/ERR_PMEM_ACCESS: cannot reach .*cli-locked\/out\.txt: EACCES/);
      const workLocked = pmem(['sort', input, '-o', path.join(open, 'out.txt'), '--pmem', path.join(locked, 'work')], as);
      expect(workLocked.code).toBe(3);
      expect(workLocked.err).toMatch(/ERR_PMEM_ACCESS: cannot make .*cli-locked\/work: EACCES/);
      expect(fs.readdirSync(open)).toEqual([]);
    } finally {
      fs.chmodSync(locked, 0o755);
    }
    expect(fs.readdirSync(locked)).toEqual([]);
  });

  test('an output in a directory it may enter but not write: ERR_PMEM_ACCESS for a file, exit 3 for stdin\'s directory; nothing is made', () => {
    const readOnly = file('cli-read-only');
    fs.mkdirSync(readOnly, { recursive: true });
    fs.chmodSync(readOnly, 0o555);
    // Root writes a directory whatever its mode: the sort runs as another user then.
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const out = path.join(readOnly, 'out.txt');
    try {
      const fromFile = pmem(['sort', input, '-o', out], as);
      expect(fromFile.code).toBe(3);
      expect(fromFile.err).toBe(`pmem: ERR_PMEM_ACCESS: cannot create '${out}.pmem-sort-partial': no new file can be made in '${readOnly}': permission denied (EACCES)\n`);
      // From stdin, the directory for the copy of stdin is made there first.
      const r = spawnSync(process.execPath, [bin, 'sort', '-', '-o', out], { input: 'b\na\n', encoding: 'utf8', ...as });
      expect(r.status).toBe(3);
      expect(r.stderr).toBe(`pmem: cannot make a directory in ${readOnly} for the sort's files: permission denied (EACCES)\n`);
      expect(fs.readdirSync(readOnly)).toEqual([]);
    } finally {
      fs.chmodSync(readOnly, 0o755);
    }
  });

  test('usage errors exit 2, inputs it cannot use 3, and help names every option', () => {
    for (const args of [['sort'], ['sort', '-o', file('x')], ['sort', '-q', input, '-o', file('x')], ['sort', '-k', 'x', input, '-o', file('x')],
      ['sort', '--merge-buffers', 'disk', input, '-o', file('x')], ['sort', '-S', '10Q', input, '-o', file('x')], ['sort', '-S', '1K', input, '-o', file('x')],
      ['sort', '-o']]) {
      const r = pmem(args);
      expect([args, r.code]).toEqual([args, 2]);
    }
    expect(pmem(['sort', input, '-o', input]).code).toBe(3);
    expect(pmem(['sort', file('missing'), '-o', file('x')]).code).toBe(3);
    const help = pmem(['help', 'sort']).out;
    for (const o of ['-o', '-k', '-t', '-n', '-r', '-u', '-s', '--memory', '--pmem', '--resume', '--record-size', '--merge-buffers', '--verbose', '--json']) {
      expect(help).toContain(o);
    }
    expect(pmem(['help']).out).toContain('pmem sort');
  });
});

test('the progress bar in bytes shows MiB and an ETA on a terminal, nothing elsewhere', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { Progress } = require('../lib/cli/progress') as typeof import('../lib/cli/progress');
  const drawn: string[] = [];
  const tty = { isTTY: true, write: (s: string) => drawn.push(s) };
  const bar = new Progress('sort: runs ', 64 * 2 ** 20, tty as unknown as NodeJS.WriteStream, true);
  bar.tick(16 * 2 ** 20);
  bar.finish();
  expect(drawn[0]).toMatch(/^\rsort: runs  \[#+-+\]  25% 16\.0\/64\.0 MiB, ETA \d+s$/);
  expect(drawn[drawn.length - 1]).toMatch(/100% 64\.0\/64\.0 MiB\n$/);
  const none: string[] = [];
  const pipe = new Progress('sort: runs ', 10, { isTTY: false, write: (s: string) => none.push(s) } as unknown as NodeJS.WriteStream, true);
  pipe.tick(5);
  pipe.finish();
  expect(none).toEqual([]);
});

test('a populate the kernel refuses (no memory) stops the sort with its error; the input is untouched and a resume completes', () => {
  // Mapping.populate faults a run's pages in before it is written, and a
  // merge source's window before it is read in place; either may fail with
  // ENOMEM (ERR_PMEM_NO_MEMORY). One thread, so that every populate is this
  // thread's and the spy sees it. The merge reads in place as it does on
  // persistent memory (this directory is not: it would read with pread).
  const { Mapping } = require('../lib/core/mapping') as typeof import('../lib/core/mapping');
  const { PmemError } = require('../lib/core/errors') as typeof import('../lib/core/errors');
  const sources = require('../lib/sort/sources') as typeof import('../lib/sort/sources');
  const inPlace = jest.spyOn(sources, 'readsInPlace').mockReturnValue(true);
  const input = file('populate.txt');
  generate('text', 400 * 1024, input, 11);
  const before = fs.readFileSync(input);
  const expected = gnu(input, []);
  for (const [phase, nth] of [['runs', 2], ['merge', 0]] as const) {
    const out = file(`populate-${phase}.txt`);
    let calls = 0;
    let refused = 0;
    let failedIn = '';
    let current = '';
    const real = Mapping.prototype.populate;
    const spy = jest.spyOn(Mapping.prototype, 'populate').mockImplementation(function (this: InstanceType<typeof Mapping>, offset: number, length: number) {
      // A run is written by a writable mapping, a merge source read through a read-only one.
      const kind = this.readOnly ? 'merge' : 'runs';
      if (kind === phase && calls++ === nth) {
        refused++;
        failedIn = current;
        throw new PmemError('ERR_PMEM_NO_MEMORY', `madvise: Cannot allocate memory (simulated, ${kind})`, { path: this.path });
      }
      return real.call(this, offset, length);
    });
    try {
      expectPmemError(() => externalSort(input, out, {
        memory: MEMORY, parallel: 1, checkpointBytes: 64 * 1024, onCheckpoint: (i) => { current = i.phase; },
      }), 'ERR_PMEM_NO_MEMORY');
    } finally {
      spy.mockRestore();
    }
    expect(refused).toBe(1);
    if (phase === 'merge') expect(failedIn).toBe('merge');
    expect(fs.readFileSync(input).equals(before)).toBe(true);
    expect(fs.existsSync(out)).toBe(false);
    const r = externalSort(input, out, { memory: MEMORY, parallel: 1, checkpointBytes: 64 * 1024, resume: true });
    if (phase === 'merge') expect(r.resumed).toBe(true);
    expect(r.mergeReads).toBe('in place');
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
  }
  inPlace.mockRestore();
});
