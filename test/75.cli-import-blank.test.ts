// pmem kv import skips a blank line, blank as JSON means it (spaces, tabs,
// a carriage return); a line of other white space is not JSON.
import * as fs from 'node:fs';

import { EXIT } from '../lib/cli/exit';
import { tmpFile } from './helpers';
import { expectBuilt, fails, pmem } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/import']));

test('empty lines, spaces, tabs and CRLF line ends are skipped', () => {
  const f = tmpFile('blank.kv');
  const input = '\n  \t \r\n{"key":"a","value":"1"}\r\n\r\n\t\n{"key":"b","value":"2"}\n \n';
  expect(pmem(['kv', f, 'import', '-'], { input })).toEqual({ code: EXIT.OK, out: ['imported 2 records'], err: [] });
  expect(pmem(['kv', f, 'scan']).out).toEqual(['a\t1', 'b\t2']);
});

test.each([
  ['a no-break space', '\u00a0'],
  ['a line separator', '\u2028'],
  ['a paragraph separator', '\u2029'],
  ['an ideographic space', '\u3000'],
  ['a vertical tab', '\u000b'],
  ['a form feed', '\f'],
])('a line of %s is a bad line, named, and no store is made', (_what, blank) => {
  const src = tmpFile('blank-bad.jsonl');
  const f = tmpFile('blank-bad.kv');
  fs.writeFileSync(src, `{"key":"a","value":"1"}\n${blank}\n{"key":"b","value":"2"}\n`);
  fails(pmem(['kv', f, 'import', src]), EXIT.USAGE, 'line 2: not JSON; nothing was imported');
  expect(fs.existsSync(f)).toBe(false);
});
