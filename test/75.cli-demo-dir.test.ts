// npm start (the demo) with a PMEM_DIR it cannot make: on a read-only
// filesystem, say. Node's recursive mkdir says ENOENT there (no such file or
// directory), for a path whose parent is there; the demo says why the
// directory cannot be made. Runs on a read-only tmpfs this file mounts (as
// root).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { EXIT } from '../lib/cli/exit';
import { mountFs, tmpFile, unmount } from './helpers';
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

// A PMEM_DIR with a line feed, a quote and a space: every line npm start
// prints names it escaped (one line), and the commands it suggests run as
// printed in a shell, on the store it made.
test('a PMEM_DIR with a line feed, a quote and a space: one line each, and the suggested commands run as printed', () => {
  const dir = tmpFile("it's a\ndir");
  try {
    const r = demo(dir);
    expect([r.code, r.err]).toEqual([EXIT.OK, []]);
    const escaped = `${path.resolve(dir).replace(/\n/g, '\\n')}/demo.kv`;
    expect(r.out).toContain(`store:       ${escaped} (PMEM_DIR)`);
    expect(r.out).toContain(`The store stays at ${escaped}. Explore it with:`);
    const suggested = r.out.filter((l) => l.startsWith('  npx pmem '));
    expect(suggested).toHaveLength(3);
    for (const l of suggested) {
      const cmd = l.replace(/^ {2}npx pmem /, '');
      expect(cmd).not.toContain('\n');
      const run = spawnSync('bash', ['-c', `"$PMEM_BIN" ${cmd}`], { encoding: 'utf8', env: { ...process.env, PMEM_BIN: BIN } });
      expect([cmd, run.status, run.stderr]).toEqual([cmd, 0, '']);
    }
    const info = spawnSync('bash', ['-c', `"$PMEM_BIN" ${suggested[2].replace(/^ {2}npx pmem /, '')}`], { encoding: 'utf8', env: { ...process.env, PMEM_BIN: BIN } });
    expect(info.stdout).toContain(`file: ${escaped}\n`);
    expect(info.stdout).toContain('kind: kv\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a PMEM_DIR that is a file named with a line feed: exit 3, one line, the name escaped', () => {
  const file = tmpFile('not\na dir');
  fs.writeFileSync(file, 'text');
  try {
    fails(demo(file), EXIT.CANNOT_USE, `pmem: ${file.replace(/\n/g, '\\n')} is not a directory (set PMEM_DIR to a directory)`);
    expect(fs.readFileSync(file, 'utf8')).toBe('text');
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('a relative PMEM_DIR starting with "-": the suggested commands name the store by its absolute path, not as an option', () => {
  const parent = tmpFile('demo-cwd');
  fs.mkdirSync(parent);
  try {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'demo.js')], { encoding: 'utf8', cwd: parent, env: { ...process.env, PMEM_DIR: '-x' } });
    expect([r.status, r.stderr]).toEqual([EXIT.OK, '']);
    const info = lines(r.stdout).find((l) => l.startsWith('  npx pmem info '));
    expect(info).toBe(`  npx pmem info ${path.join(parent, '-x', 'demo.kv')}`);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});
