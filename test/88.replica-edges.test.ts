// `pmem replica` and startReplica at their edges: options of no characters
// (a usage error, not a defect's stack trace), and what the backup says
// about each connection it refuses or drops.
import * as fs from 'node:fs';

import { EXIT } from '../lib/cli/exit';
import { expectBuilt, fails, pmem } from './cli-helpers';
import { testFiles } from './replicate-helpers';

const file = testFiles();

beforeAll(() => expectBuilt(['cli/replica', 'replicate/replica', 'replicated/follower']));

describe('pmem replica: an option of no characters', () => {
  test.each([['--file'], ['--store'], ['--bind']])('%s \'\' exits 2 naming it, and makes nothing', (name) => {
    const f = file('empty-option');
    const args = ['replica', '--listen', '0', '--file', f, '--create', '--size', '1M', name, ''];
    fails(pmem(args), EXIT.USAGE, `pmem: ${name} is an empty string`);
    expect(fs.existsSync(f)).toBe(false);
  });

  test('promote --file \'\' exits 2 naming it', () => {
    fails(pmem(['replica', 'promote', '--file', '']), EXIT.USAGE, 'pmem: --file is an empty string');
  });
});
