// npm start (the demo) with a PMEM_DIR it cannot make: on a read-only
// filesystem, say. Node's recursive mkdir says ENOENT there (no such file or
// directory), for a path whose parent is there; the demo says why the
// directory cannot be made. Runs on a read-only tmpfs this file mounts (as
// root).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { EXIT } from '../lib/cli/exit';
import { mountFs, unmount } from './helpers';
import { BIN, expectBuilt, fails, lines, ROOT, type Result } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/demo', 'cli/serve']));

const ro = mountFs('tmpfs', ['-o', 'size=1m,ro'], 'a PMEM_DIR on a read-only filesystem');
const onRo = ro === null ? test.skip : test;

afterAll(() => unmount(ro));

/** Runs dist/cli/demo.js, as `npm start` does, with PMEM_DIR set to `dir`. */
function demo(dir: string): Result {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'demo.js')], { encoding: 'utf8', env: { ...process.env, PMEM_DIR: dir } });
  return { code: r.status, out: lines(r.stdout), err: lines(r.stderr) };
}

onRo('a PMEM_DIR that cannot be made on a read-only filesystem: exit 3, one line saying so (EROFS), not "no such file"', () => {
  const dir = path.join(ro!, 'pmem');
  fails(demo(dir), EXIT.CANNOT_USE, `pmem: ${dir} cannot be made: read-only file system (EROFS)`);
  const deeper = path.join(dir, 'a', 'b');
  fails(demo(deeper), EXIT.CANNOT_USE, `pmem: ${deeper} cannot be made (its part ${dir}): read-only file system (EROFS)`);
  expect(fs.readdirSync(ro!)).toEqual([]);
});

// Node's recursive mkdir never returns for a new name in /proc (mkdir(2)
// says ENOENT there although the parent exists, and Node makes the parent
// again, forever): npm start and pmem serve make the directory one level at
// a time (lib/core/make-dirs.ts). The timeout only keeps a hang from
// stopping the suite; what is checked is the exit and the message.
test('a PMEM_DIR in /proc: npm start and pmem serve exit 3 at once, saying why', () => {
  const dir = `/proc/pmem-${process.pid}`;
  const env = { ...process.env, PMEM_DIR: dir };
  const run = (args: string[]): Result => {
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', env, timeout: 60_000 });
    return { code: r.status, out: lines(r.stdout), err: lines(r.stderr) };
  };
  fails(run([path.join(ROOT, 'dist', 'cli', 'demo.js')]), EXIT.CANNOT_USE, `pmem: ${dir} cannot be made: no such file or directory (ENOENT) (set PMEM_DIR to a directory)`);
  fails(run([BIN, 'serve', '--port', '0']), EXIT.CANNOT_USE, `pmem: ${dir} cannot be made: no such file or directory (ENOENT) (set PMEM_DIR to a directory)`);
});
