// A sort publishes a new output with link(2) and then removes the partial
// output's name (lib/sort/lock.ts, publishOutput). On a filesystem without
// hard links (vfat, exFAT) link fails with EPERM, ENOTSUP, EOPNOTSUPP or
// EMLINK, and the partial output is renamed into place instead: the whole
// output under its name, no partial output left, the work removed. Any
// other failure of link (EIO) reaches the caller, and the sort stays
// resumable. link(2) is made to fail through node:fs's linkSync, which
// lock.ts reads from the module at each call.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { externalSort, PmemError } from '../lib';
import { testDir } from './helpers';

// The module itself, whose property every importer's binding reads.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const nodeFs = require('node:fs') as typeof fs;

const MEMORY = 128 * 1024;
let dir = '';
beforeAll(() => {
  dir = path.join(testDir(), `sort-no-links-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);

/** Lines enough for several runs under MEMORY, and their sorted bytes. */
function input(name: string): { input: string; expected: Buffer } {
  const lines: string[] = [];
  let x = 12345;
  for (let i = 0; i < 20000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    lines.push(`${x.toString(36)}-${i}`);
  }
  const p = file(name);
  fs.writeFileSync(p, lines.map((l) => `${l}\n`).join(''));
  const sorted = [...lines].sort(); // ASCII: byte order
  return { input: p, expected: Buffer.from(sorted.map((l) => `${l}\n`).join('')) };
}

/** A failed system call as node:fs throws it. */
function systemError(code: string, syscall: string, from: string, to: string): NodeJS.ErrnoException {
  const errno = (os.constants.errno as Record<string, number>)[code];
  return Object.assign(new Error(`${code}: operation failed, ${syscall} '${from}' -> '${to}'`), {
    code, errno: -errno, syscall, path: from, dest: to,
  });
}

/**
 * Runs `f` with link(2) to `output` failing with `code` (other links
 * are made as usual); the links it refused, as [from, to].
 */
function withLinkFailing<T>(output: string, code: string, f: () => T): { result: T; refused: string[][] } {
  const linkSync = nodeFs.linkSync;
  const refused: string[][] = [];
  const spy = jest.spyOn(nodeFs, 'linkSync').mockImplementation((from: fs.PathLike, to: fs.PathLike) => {
    if (String(to) !== output) return linkSync(from, to);
    refused.push([String(from), String(to)]);
    throw systemError(code, 'link', String(from), String(to));
  });
  try {
    return { result: f(), refused };
  } finally {
    spy.mockRestore();
  }
}

test.each(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK'])(
  'link(2) failing with %s (a filesystem without hard links): the output is renamed into place, whole, and no partial output stays',
  (code) => {
    const { input: inFile, expected } = input(`in-${code}.txt`);
    const out = file(`out-${code}.txt`);
    const partial = `${out}.pmem-sort-partial`;
    const { result, refused } = withLinkFailing(out, code, () => externalSort(inFile, out, { memory: MEMORY }));
    // The new output's name was asked of link(2), once, and refused.
    expect(refused).toEqual([[partial, out]]);
    expect(result.runs).toBeGreaterThan(1);
    expect(result.outputBytes).toBe(expected.length);
    expect(fs.readFileSync(out).equals(expected)).toBe(true);
    // Renamed, not copied: one name on the output, the partial's gone.
    expect(fs.statSync(out).nlink).toBe(1);
    expect(fs.existsSync(partial)).toBe(false);
    expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith(path.basename(out)))).toEqual([path.basename(out)]);
  },
);

test('link(2) failing with another error (EIO) is thrown to the caller as ERR_PMEM_IO; the output is not published, and a resume publishes it', () => {
  const { input: inFile, expected } = input('in-eio.txt');
  const out = file('out-eio.txt');
  const partial = `${out}.pmem-sort-partial`;
  let thrown: unknown;
  const { refused } = withLinkFailing(out, 'EIO', () => {
    try {
      externalSort(inFile, out, { memory: MEMORY });
    } catch (e) {
      thrown = e;
    }
  });
  expect(refused).toEqual([[partial, out]]);
  expect(thrown).toBeInstanceOf(PmemError);
  const err = thrown as PmemError;
  expect(err.code).toBe('ERR_PMEM_IO');
  expect(err.syscall).toBe('link');
  expect(err.errno).toBe(os.constants.errno.EIO);
  expect(err.message).toContain('EIO');
  // Nothing under the output's name; the whole sorted output and the
  // checkpoint ('done') stay for the resume.
  expect(fs.existsSync(out)).toBe(false);
  expect(fs.readFileSync(partial).equals(expected)).toBe(true);
  expect(fs.existsSync(path.join(`${out}.pmem-sort`, 'checkpoint'))).toBe(true);
  const r = externalSort(inFile, out, { memory: MEMORY, resume: true });
  expect(r.resumed).toBe(true);
  expect(fs.readFileSync(out).equals(expected)).toBe(true);
  expect(fs.existsSync(partial)).toBe(false);
  expect(fs.existsSync(`${out}.pmem-sort`)).toBe(false);
});
