// Counts on the command line (--limit, sort's --parallel, --record-size,
// --key-offset, --key-length): digits only, and a number past 2^53 - 1,
// where a double stops counting by one, is refused with that bound named,
// not as if it were no whole number.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { EXIT } from '../lib/cli/exit';
import { tmpFile } from './helpers';
import { expectBuilt, fails, pmem } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/args', 'cli/sort']));

test('--limit: exit 2 for what is not digits, and for digits past 2^53 - 1 with the bound named', () => {
  const f = tmpFile('numbers.kv');
  expect(pmem(['kv', f, 'put', 'a', '1']).code).toBe(0);
  for (const v of ['-1', '1.5', '1e3', '0x10', '', ' 1']) {
    fails(pmem(['kv', f, 'scan', '--limit', v]), EXIT.USAGE, `--limit takes a whole number, got '${v}'`);
  }
  for (const v of ['9007199254740992', '99999999999999999999999']) {
    fails(pmem(['kv', f, 'export', `--limit=${v}`]), EXIT.USAGE, `--limit takes a whole number up to 9007199254740991, got '${v}'`);
  }
  expect(pmem(['kv', f, 'scan', '--limit', '9007199254740991'])).toEqual({ code: 0, out: ['a\t1'], err: [] });
});

test('sort\'s counts say the same, and nothing is made', () => {
  const dir = tmpFile('numbers-sort');
  fs.mkdirSync(dir);
  const input = path.join(dir, 'in.bin');
  fs.writeFileSync(input, Buffer.alloc(40));
  for (const name of ['--parallel', '--key-offset', '--key-length']) {
    fails(pmem(['sort', input, '-o', path.join(dir, 'out'), '--record-size', '4', name, '9007199254740992']), EXIT.USAGE,
      `${name} takes a whole number up to 9007199254740991, got '9007199254740992'`);
    fails(pmem(['sort', input, '-o', path.join(dir, 'out'), '--record-size', '4', name, '-2']), EXIT.USAGE, `${name} takes a whole number, got '-2'`);
  }
  expect(fs.readdirSync(dir)).toEqual(['in.bin']);
});
