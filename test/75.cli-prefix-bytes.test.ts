// A --prefix of bytes that are not UTF-8 is refused, as a key of them is:
// Node would decode them to U+FFFD, which selects other keys.
import { spawnSync } from 'node:child_process';

import { EXIT } from '../lib/cli/exit';
import { KVStore } from '../lib';
import { tmpFile } from './helpers';
import { BIN, expectBuilt, fails, lines, type Result } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/args']));

/** Runs `pmem` with arguments as bash's $'...' puts their bytes on the command line. */
function bash(args: string): Result {
  const r = spawnSync('bash', ['-c', `exec "${BIN}" ${args}`], { encoding: 'utf8' });
  return { code: r.status, out: lines(r.stdout), err: lines(r.stderr) };
}

test('a --prefix that is not UTF-8 is refused by scan and export (exit 2), in both forms; U+FFFD typed as UTF-8 is a prefix', () => {
  const f = tmpFile('prefix-bytes.kv');
  // A key that starts with the byte \xff, and one that starts with U+FFFD as UTF-8.
  const s = KVStore.open(f, { create: true });
  s.put(Buffer.from([0xff, 0x78]), 'a');
  s.put('\uFFFDy', 'b');
  s.close();
  for (const args of [`kv "${f}" scan --prefix $'\\xff'`, `kv "${f}" scan --prefix=$'\\xff'`, `kv "${f}" export --prefix $'\\xfe' --limit 1`]) {
    const r = bash(args);
    try {
      fails(r, EXIT.USAGE, '--prefix is not valid UTF-8');
    } catch (e) {
      throw new Error(`pmem ${args}: ${(e as Error).message}`);
    }
    expect(r.out).toEqual([]);
  }
  expect(bash(`kv "${f}" scan --prefix $'\\xef\\xbf\\xbd'`)).toEqual({ code: 0, out: ['\uFFFDy\tb'], err: [] });
});
