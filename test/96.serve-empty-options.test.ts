// pmem serve and createServer with an empty value where an address, a path
// or a password goes (most often a shell variable that was not set): Node
// would listen on every interface for an empty host, and an empty password
// would ask for none. Each is refused before anything is opened.
import * as fs from 'node:fs';

import { createServer } from '../lib';
import { EXIT } from '../lib/cli/exit';
import { tmpFile } from './helpers';
import { expectBuilt, fails, pmem } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/serve']));

test.each([
  [['--bind', ''], '--bind is an empty string'],
  [['--bind='], '--bind is an empty string'],
  [['--file', ''], '--file is an empty string'],
  [['--dir', ''], '--dir is an empty string'],
  [['--journal', '', '--replica', '127.0.0.1:1'], '--journal is an empty string'],
  [['--requirepass', ''], '--requirepass is an empty string: leave it out for no password'],
])('pmem serve %j: a usage error, exit 2', (args, why) => {
  // A file of its own, so that a serve that went ahead would make it.
  const file = tmpFile('empty-option.kv');
  const withFile = args[0].startsWith('--file') || args[0].startsWith('--dir') ? args : [...args, '--file', file];
  fails(pmem(['serve', '--port', '0', ...withFile], { timeout: 60_000 }), EXIT.USAGE, `pmem: ${why}`);
  expect(fs.existsSync(file)).toBe(false);
});

test("createServer with host '' is a TypeError, and listen(port, '') rejects; no store is made", async () => {
  const file = tmpFile('empty-host.kv');
  expect(() => createServer({ file, host: '' })).toThrow(new TypeError("options.host is an empty string: give an address ('0.0.0.0' for every interface)"));
  expect(fs.existsSync(file)).toBe(false);
  const s = createServer({ file });
  try {
    await expect(s.listen(0, '')).rejects.toThrow(new TypeError("host is an empty string: give an address ('0.0.0.0' for every interface)"));
    // Still usable: a listen with an address goes ahead.
    expect(await s.listen(0, '127.0.0.1')).toBeGreaterThan(0);
  } finally {
    await s.close();
    fs.rmSync(file, { force: true });
  }
});
