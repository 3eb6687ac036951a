// The project's scripts refuse a bad argument or setting before they do
// anything: scripts/setup.sh (what npm start, npm test and npm run bench run
// first) and scripts/dax-vm.sh (the fs-dax guest of npm run test:dax). Each
// exits 2 with one line that names what was wrong. And a bench that reaches
// into the library's internals runs against them as they are.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');

function run(script: string, args: string[], env: Record<string, string> = {}): { code: number | null; err: string[] } {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', script), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, err: r.stderr.split('\n').filter((l) => l !== '') };
}

test('setup.sh: an unknown argument exits 2 and names the ones it takes', () => {
  expect(run('setup.sh', ['--bogus'])).toEqual({
    code: 2,
    err: ["setup: unknown argument '--bogus' (they are --no-addon and --bench)"],
  });
  // Every argument is checked before anything is installed or built: known ones before a bad one start nothing.
  expect(run('setup.sh', ['--no-addon', '--bench', 'x']).code).toBe(2);
});

describe('dax-vm.sh refuses before it boots anything', () => {
  test.each([
    [['--bogus', '--', 'true'], {}, 'dax-vm: unknown option --bogus'],
    [['--variant', 'pmem9', '--', 'true'], {}, 'dax-vm: unknown variant pmem9'],
    [['--variant'], {}, 'dax-vm: --variant needs an argument'],
    [['--project', '/no/such/dir', '--', 'true'], {}, 'dax-vm: no such directory: /no/such/dir'],
    [['--', 'true'], { DAX_VM_TIMEOUT: '10m' }, 'dax-vm: DAX_VM_TIMEOUT must be a number of seconds'],
    [['--', 'true'], { DAX_VM_CPUS: '0' }, 'dax-vm: DAX_VM_CPUS must be a number of CPUs, 1 or more'],
    [['--', 'true'], { DAX_VM_CPUS: 'two' }, 'dax-vm: DAX_VM_CPUS must be a number of CPUs, 1 or more'],
    [['--', 'true'], { DAX_VM_CPUS: '02' }, 'dax-vm: DAX_VM_CPUS must be a number of CPUs, 1 or more'],
  ])('%j %j', (args, env, said) => {
    const r = run('dax-vm.sh', args, env);
    expect(r.code).toBe(2);
    expect(r.err[r.err.length - 1]).toBe(said);
  });

  test('no command prints the usage', () => {
    const r = run('dax-vm.sh', []);
    expect(r.code).toBe(2);
    expect(r.err).toEqual(['usage: scripts/dax-vm.sh [--variant nvdimm|memmap|devdax] [--project DIR] [--] COMMAND...']);
  });
});

describe('apt.sh: the installs wait for another apt instead of failing', () => {
  /** Sources scripts/apt.sh and runs `body`, with an `apt-get` on the PATH that fails its first `failures` calls and logs each call's arguments and DEBIAN_FRONTEND. */
  function withApt(body: string, failures: number): { code: number | null; calls: string[]; err: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmem-apt-'));
    try {
      const log = path.join(dir, 'calls');
      fs.writeFileSync(path.join(dir, 'apt-get'), [
        '#!/bin/sh',
        `echo "$DEBIAN_FRONTEND $*" >> '${log}'`,
        `[ "$(wc -l < '${log}')" -gt ${failures} ]`,
      ].join('\n'), { mode: 0o755 });
      const script = `. '${path.join(ROOT, 'scripts', 'apt.sh')}'\nAPT_RETRY_SECONDS=0\nAPT_UPDATE_TRIES=3\n${body}`;
      const r = spawnSync('bash', ['-c', script], {
        env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, DEBIAN_FRONTEND: '' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') : [];
      return { code: r.status, calls, err: r.stderr };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test('an update that fails (its lists lock held) is tried again', () => {
    const r = withApt('apt_update', 2);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual(Array(3).fill(' -o DPkg::Lock::Timeout=600 update -qq'));
    expect(r.err).toContain("apt: 'apt-get update' failed; trying again in 0 s");
  });

  test('an update that keeps failing gives up after its tries, with the failure', () => {
    const r = withApt('apt_update', 99);
    expect(r.code).toBe(1);
    expect(r.calls).toHaveLength(3);
    expect(r.err).toContain("apt: 'apt-get update' failed 3 times; giving up");
  });

  test('an install waits on the dpkg lock, asks nothing and installs no recommends', () => {
    const r = withApt('apt_install libpmem-dev "a b"', 0);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual(['noninteractive -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends libpmem-dev a b']);
    expect(withApt('apt_install x', 1).code).not.toBe(0);
  });
});

test('bench/readers-lag.js: a short phase runs against the library as built, and reports the markers it saw', () => {
  // It opens a reader through the library's internals (KvFollower), which
  // no type check follows through its require of a computed path.
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bench', 'readers-lag.js'), '--seconds', '0.3', '--records', '10000'], {
    encoding: 'utf8',
    env: { ...process.env, PMEM_BENCH_DIR: process.env.PMEM_TEST_DIR ?? os.tmpdir() },
    timeout: 60_000, // a poller that dies leaves its writer waiting for it
  });
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out.marks).toBeGreaterThan(0);
  expect(out.everyMarker.marks).toBeGreaterThanOrEqual(out.marks);
});

test("bench's key-value harness skips a library that is not installed, saying how to install it", () => {
  const { CONFIGS, installed } = require(path.join(ROOT, 'bench', 'harness', 'drivers.js')) as {
    CONFIGS: Array<{ id: string; available?: () => true | string }>;
    installed: (name: string) => () => true | string;
  };
  expect(installed('pmem-no-such-module')()).toBe("pmem-no-such-module is not installed: run `npm run bench` (or `bash scripts/setup.sh --bench`), which installs bench/package.json's dependencies");
  expect(installed('node:fs')()).toBe(true);
  // Every other library's configuration says whether it is there.
  const others = CONFIGS.filter((c) => !['pmem-kv', 'c-floor'].includes(c.id));
  expect(others.length).toBe(7);
  for (const c of others) expect(typeof c.available).toBe('function');
});
