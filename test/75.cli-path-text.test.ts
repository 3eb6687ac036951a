// Every path a message of the `pmem` command, or the text of `info` and
// `check`, names is escaped as scan escapes a key: a line feed, a tab, a
// backslash, an escape byte, bytes that are not UTF-8. The message stays one
// line and names the path exactly; --json gives the path as it is.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { EXIT } from '../lib/cli/exit';
import { testDir, tmpFile } from './helpers';
import { BIN, expectBuilt, fails, lines, pmem } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/exit', 'cli/text', 'cli/import', 'cli/inspect', 'cli/args']));

/** A fresh path whose name ends with `name` (control characters and all), and its escaped form. */
function oddPath(name: string, escaped: string): [string, string] {
  const p = tmpFile('x');
  return [p + name, p + escaped];
}

const NAMES: Array<[string, string, string]> = [
  ['a line feed', 's\n.kv', 's\\n.kv'],
  ['a tab', 's\t.kv', 's\\t.kv'],
  ['a backslash', 's\\n.kv', 's\\\\n.kv'],
  ['an escape byte', 's\x1b[31m.kv', 's\\x1b[31m.kv'],
  ['all of them, and a carriage return', 'a\n\t\\\x1b\r.kv', 'a\\n\\t\\\\\\x1b\\r.kv'],
];

describe.each(NAMES)('a path with %s', (_what, name, escaped) => {
  test('a missing file is named on one line, escaped', () => {
    const [f, fe] = oddPath(name, escaped);
    expect(pmem(['kv', f, 'get', 'k'])).toEqual({ code: EXIT.CANNOT_USE, out: [], err: [`pmem: ${fe}: no such file`] });
    expect(pmem(['info', f])).toEqual({ code: EXIT.CANNOT_USE, out: [], err: [`pmem: ${fe}: no such file`] });
    expect(pmem(['check', f]).err).toEqual([`pmem: ${fe}: no such file`]);
  });

  test('info and check of a store print one line a field, the path escaped; --json gives it as it is', () => {
    const [f, fe] = oddPath(name, escaped);
    expect(pmem(['kv', f, 'put', 'k', 'v']).code).toBe(EXIT.OK);
    const info = pmem(['info', f]);
    expect(info.code).toBe(EXIT.OK);
    expect(info.out[0]).toBe(`file: ${fe}`);
    expect(info.out.every((l) => /^[a-zA-Z]+: /.test(l))).toBe(true);
    expect(JSON.parse(pmem(['info', f, '--json']).out[0]).file).toBe(f);
    expect(pmem(['check', f])).toEqual({ code: EXIT.OK, out: [`${fe}: ok (kv, 1 keys)`], err: [] });
    expect(JSON.parse(pmem(['check', f, '--json']).out[0]).file).toBe(f);
    // The library's own message names the path as it is: escaped on the way out.
    fs.truncateSync(f, 16 * 1024 * 1024);
    const r = pmem(['check', f]);
    fails(r, EXIT.CORRUPT, `'${fe}' is 16777216 bytes, shorter than`);
    expect(r.err[0]).not.toContain(f);
    fs.rmSync(f);
  });

  test('a file that is not a store, and import inputs, are named escaped', () => {
    const [f, fe] = oddPath(name, escaped);
    fs.writeFileSync(f, 'text\n');
    fails(pmem(['kv', f, 'get', 'k']), EXIT.CANNOT_USE, `${fe} is not a KV store (no known format)`);
    const store = tmpFile('path-text.kv');
    // The input, missing, bad and the store itself.
    fails(pmem(['kv', store, 'import', f + '.missing']), EXIT.CANNOT_USE, `cannot read ${fe}.missing: no such file or directory (ENOENT)`);
    fails(pmem(['kv', store, 'import', f]), EXIT.USAGE, `${fe} line 1: not JSON; nothing was imported`);
    fs.writeFileSync(f, '');
    expect(pmem(['kv', f, 'import', f]).err).toEqual([`pmem: cannot import ${fe} into ${fe}: ${fe} is the store itself`]);
    fails(pmem(['kv', f, 'import', '-'], { stdio: [fs.openSync(f, 'r'), 'pipe', 'pipe'] }),
      EXIT.CANNOT_USE, `cannot import stdin into ${fe}: stdin is the store itself`);
    fs.rmSync(f);
  });
});

test('a path whose bytes are not UTF-8 is named by its bytes as typed (\\xHH), and left as it is', () => {
  const dir = testDir();
  const name = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x66, 0xff])]);
  fs.writeFileSync(name, 'bytes\n');
  // The command line carries bytes only from a shell: printf writes the name.
  const run = (cmd: string): { code: number | null; err: string[] } => {
    const r = spawnSync('/bin/sh', ['-c', `exec "$0" ${cmd} "$(printf '%s/f\\377' "$1")"`, BIN, dir], { encoding: 'utf8' });
    return { code: r.status, err: lines(r.stderr) };
  };
  expect(run('info')).toEqual({ code: EXIT.USAGE, err: [`pmem: info: the file ${dir}/f\\xff is not valid UTF-8 as typed: the command line cannot carry its bytes (they became U+FFFD, which would name another file)`] });
  expect(run('kv')).toMatchObject({ code: EXIT.USAGE, err: [expect.stringContaining(`kv: the file ${dir}/f\\xff is not valid UTF-8`)] });
  expect(run(`kv ${path.join(dir, 'nb.kv')} import`)).toMatchObject({ code: EXIT.USAGE, err: [expect.stringContaining(`kv import: the input ${dir}/f\\xff is not`)] });
  expect(fs.readFileSync(name, 'utf8')).toBe('bytes\n');
  fs.rmSync(name);
});
