// The project's scripts refuse a bad argument or setting before they do
// anything: scripts/setup.sh (what npm start, npm test and npm run bench run
// first) and scripts/dax-vm.sh (the fs-dax guest of npm run test:dax). Each
// exits 2 with one line that names what was wrong.
import { spawnSync } from 'node:child_process';
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
