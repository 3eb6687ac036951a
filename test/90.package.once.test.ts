// The package as a user gets it: the loader's messages, npm's install step,
// and a tarball from `npm pack` (which runs prepack) installed into a fresh
// project. Packing compiles the addon, so this file runs once.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadBinding, loadError, RUNTIME_PACKAGES } from '../lib/core/binding';
import { tmpFile } from './helpers';

const root = path.join(__dirname, '..');
const INSTALL_HINT = 'apt-get install libndctl6 libdaxctl1';

/** What loadBinding throws when the loader throws `e`. */
function thrownBy(e: unknown): unknown {
  try {
    loadBinding('/nowhere', () => {
      throw e;
    });
  } catch (thrown) {
    return thrown;
  }
  throw new Error('loadBinding did not throw');
}

describe('loading the addon', () => {
  test('the runtime packages are the two the prebuild links', () => {
    expect(RUNTIME_PACKAGES.join(' ')).toBe('libndctl6 libdaxctl1');
  });

  test.each([
    'libndctl.so.6: cannot open shared object file: No such file or directory',
    'libdaxctl.so.1: cannot open shared object file: No such file or directory',
    '/usr/lib/x86_64-linux-gnu/libndctl.so.6: version `LIBNDCTL_18\' not found (required by /x/pmem.glibc.node)',
  ])('a library that does not load names the packages to install: %s', (message) => {
    const original = Object.assign(new Error(message), { code: 'ERR_DLOPEN_FAILED' });
    const e = thrownBy(original) as Error;
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBe(original);
    expect(e.message).toContain(INSTALL_HINT);
    expect(e.message).toContain(message);
    expect(e.cause).toBe(original);
  });

  test('no build for this platform says what is prebuilt and where a source build is described', () => {
    const original = new Error('No native build was found for platform=linux arch=x64 libc=musl node=20.20.2\n    loaded from: /x\n');
    const e = thrownBy(original) as Error;
    expect(e.message).toContain('Linux x64 with glibc');
    expect(e.message).toContain('"Install" in the README');
    expect(e.message).toContain('libc=musl');
    expect(e.cause).toBe(original);
  });

  test('any other failure says the addon did not load, with the loader\'s message; every one has the code ERR_PMEM_ADDON', () => {
    const original = new Error('/x/pmem.node: invalid ELF header');
    const e = thrownBy(original) as Error & { code: string };
    expect(e.message).toBe('pmem: the native addon did not load: /x/pmem.node: invalid ELF header');
    expect(e.cause).toBe(original);
    expect(loadError('a string').message).toBe('pmem: the native addon did not load: a string');
    for (const m of ['libndctl.so.6: cannot open shared object file', 'No native build was found', 'anything']) {
      expect(thrownBy(new Error(m))).toMatchObject({ code: 'ERR_PMEM_ADDON' });
    }
  });

  // The command loads the library, and with it the addon, before it reads
  // its arguments: even --help and --version need it. Without it every
  // command says why in one line and exits 3, as for any machine or file
  // it cannot use, never 1 (which says a key was not found) with a stack.
  test('pmem without its libraries: one line naming the packages, exit 3, for every command', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmem-nolib-'));
    try {
      fs.writeFileSync(path.join(dir, 'libndctl.so.6'), ''); // a library that does not load
      for (const args of [['--help'], ['--version'], ['kv', tmpFile('nolib.kv'), 'get', 'k']]) {
        const r = spawnSync(process.execPath, [path.join(root, 'bin', 'pmem'), ...args], {
          encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: dir },
        });
        expect([r.status, r.stdout]).toEqual([3, '']);
        expect(r.stderr).toMatch(new RegExp(`^pmem: the native addon needs .*${INSTALL_HINT}.*libndctl\\.so\\.6.*\n$`));
        expect(r.stderr.split('\n')).toHaveLength(2);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a load that succeeds returns what the loader returned', () => {
    const b = {};
    expect(loadBinding('/somewhere', (dir) => (dir === '/somewhere' ? b : null))).toBe(b);
  });
});

describe("npm's install step (scripts/install.sh)", () => {
  /** Runs package.json's install script with a node-gyp-build that exits with `code`. */
  function install(code: number): SpawnSyncReturns<string> {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'pmem-install-'));
    try {
      fs.writeFileSync(path.join(bin, 'node-gyp-build'), `#!/bin/sh\necho built\nexit ${code}\n`, { mode: 0o755 });
      const script = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { install: string } })
        .scripts.install;
      return spawnSync('sh', ['-c', script], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  }

  test('when node-gyp-build succeeds, it says nothing more', () => {
    const r = install(0);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('built\n');
    expect(r.stderr).toBe('');
  });

  test('when it fails, the install fails and names the packages a run and a source build need', () => {
    const r = install(1);
    expect(r.stdout).toBe('built\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(INSTALL_HINT);
    expect(r.stderr).toContain('apt-get install libpmem-dev libpmem2-dev libpmemobj-dev pkg-config');
  });
});

describe('the pack scripts refuse to go on without what the package ships', () => {
  /**
   * Runs scripts/`script` from a scratch tree whose scripts/setup.sh and
   * scripts/prebuild.sh (unless it is the one run) are `stub`, with `npx` on
   * the PATH running `npxStub`.
   */
  function run(script: string, stub: string, npxStub = 'exit 0', tree?: { before(dir: string): void; after(dir: string): void }): SpawnSyncReturns<string> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmem-scripts-'));
    try {
      tree?.before(dir);
      fs.mkdirSync(path.join(dir, 'scripts'));
      fs.mkdirSync(path.join(dir, 'bin'));
      fs.copyFileSync(path.join(root, 'scripts', script), path.join(dir, 'scripts', script));
      for (const f of ['setup.sh', 'prebuild.sh']) {
        if (f !== script) fs.writeFileSync(path.join(dir, 'scripts', f), stub);
      }
      fs.writeFileSync(path.join(dir, 'bin/npx'), `#!/bin/sh\n${npxStub}\n`, { mode: 0o755 });
      const r = spawnSync('bash', [path.join(dir, 'scripts', script)], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` },
      });
      tree?.after(dir);
      return r;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const DIST = 'mkdir -p dist/testing && touch dist/index.js dist/index.d.ts dist/testing/index.js dist/testing/index.d.ts';
  const PREBUILD = 'mkdir -p prebuilds/linux-x64 && touch prebuilds/linux-x64/pmem.glibc.node';

  test('prepack passes when the build leaves dist/ and the prebuild', () => {
    const r = run('prepack.sh', `${DIST}\n${PREBUILD}\n`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('prepack fails when the build leaves no prebuild', () => {
    const r = run('prepack.sh', `${DIST}\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('prepack: prebuilds/linux-x64/pmem.glibc.node is missing after the build');
  });

  test('prepack fails when the build leaves no dist/', () => {
    const r = run('prepack.sh', `${PREBUILD}\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('prepack: dist/index.js is missing after the build');
  });

  test('prepack fails when the build fails', () => {
    const r = run('prepack.sh', 'exit 3\n');
    expect(r.status).not.toBe(0);
  });

  // A built tree: its addon, its prebuild and its dist/, each with bytes of its own.
  const built = {
    before(dir: string) {
      for (const [f, text] of [['build/Release/pmem.node', 'addon'], ['prebuilds/linux-x64/pmem.glibc.node', 'prebuild'], ['dist/index.js', 'dist']]) {
        fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
        fs.writeFileSync(path.join(dir, f), text);
      }
    },
    after(dir: string) {
      const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : null);
      expect([read('build/Release/pmem.node'), read('prebuilds/linux-x64/pmem.glibc.node'), read('dist/index.js')]).toEqual(['addon', 'prebuild', 'dist']);
    },
  };

  test('a failed build leaves the tree as it was: its addon (which node-gyp cleans), prebuilds and dist/', () => {
    // prebuildify fails, as a compile error does, after its node-gyp rebuild cleaned build/.
    const r = run('prebuild.sh', 'exit 0\n', 'rm -rf build; exit 1', built);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('prebuild: failed; the addon and prebuilds from before are back in place');
    // prepack, over a prebuild that fails the same way.
    const p = run('prepack.sh', 'rm -rf build prebuilds; exit 1\n', 'exit 0', {
      before: built.before,
      after(dir) {
        // The stub stands in for prebuild.sh, which restores its own (above): only dist/ is prepack's.
        expect(fs.readFileSync(path.join(dir, 'dist/index.js'), 'utf8')).toBe('dist');
      },
    });
    expect(p.status).toBe(1);
  });

  test('prebuild fails when prebuildify writes no glibc-tagged addon', () => {
    const r = run('prebuild.sh', 'exit 0\n', 'mkdir -p prebuilds/linux-x64 && touch prebuilds/linux-x64/pmem.node');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('prebuild: prebuildify wrote no prebuilds/linux-x64/pmem.glibc.node');
  });
});

describe('npm pack, installed into a fresh project', () => {
  let tmp = '';
  let tarball = '';
  let listing: string[] = [];
  let consumer = '';
  let installed = '';
  // npm's own variables from the jest run (npx sets some) must not reach
  // the npm and node children.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

  /** Runs `node -e code` in the consumer project. */
  function consumerNode(code: string, extra: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
    return spawnSync(process.execPath, ['-e', code], { cwd: consumer, encoding: 'utf8', env: { ...env, ...extra } });
  }

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmem-pack-'));
    // A clean checkout: the files git knows (committed or not, ignored ones
    // left out), so no dist/, build/ or prebuilds/.
    const src = path.join(tmp, 'src');
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '' && fs.existsSync(path.join(root, f)));
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      fs.copyFileSync(path.join(root, f), path.join(src, f));
    }
    expect(fs.existsSync(path.join(src, 'dist'))).toBe(false);
    expect(fs.existsSync(path.join(src, 'build'))).toBe(false);
    expect(fs.existsSync(path.join(src, 'prebuilds'))).toBe(false);
    // The dev dependencies, hard-linked; a fresh stamp (a new file, not the
    // shared inode) tells scripts/setup.sh that they are up to date.
    // The real directory: a node_modules that is a symbolic link would be
    // copied as the link, and the stamp removed below would be the root's.
    const modules = fs.realpathSync(path.join(root, 'node_modules'));
    execFileSync('cp', ['-al', modules, path.join(src, 'node_modules')]);
    const stamp = fs.readFileSync(path.join(modules, '.package-lock.json'));
    fs.rmSync(path.join(src, 'node_modules/.package-lock.json'));
    fs.writeFileSync(path.join(src, 'node_modules/.package-lock.json'), stamp);

    const out = path.join(tmp, 'out');
    fs.mkdirSync(out);
    execFileSync('npm', ['pack', '--pack-destination', out], { cwd: src, env, stdio: ['ignore', 'ignore', 'pipe'] });
    const tgz = fs.readdirSync(out).filter((f) => f.endsWith('.tgz'));
    expect(tgz).toEqual(['pmem-0.1.0.tgz']);
    tarball = path.join(out, tgz[0]);
    listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);

    consumer = path.join(tmp, 'consumer');
    fs.mkdirSync(consumer);
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
      cwd: consumer,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    installed = path.join(consumer, 'node_modules/pmem');
  }, 900_000);

  afterAll(() => {
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the tarball holds the compiled code, its types, the prebuild, the license and the docs, and no tests or build tree', () => {
    for (const f of [
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/dist/testing/index.js',
      'package/dist/testing/index.d.ts',
      'package/prebuilds/linux-x64/pmem.glibc.node',
      'package/LICENSE',
      'package/README.md',
      'package/scripts/install.sh',
      'package/scripts/setup.sh',
      'package/scripts/apt.sh',
      'package/binding.gyp',
      'package/native/addon.cc',
      // What the README and `pmem help` point to.
      'package/docs/api.md',
      'package/docs/server.md',
      'package/docs/durability.md',
    ]) {
      expect(listing).toContain(f);
    }
    expect(listing.filter((f) => /^package\/(test|build|lib|bench|node_modules)\//.test(f))).toEqual([]);
  });

  // The maps point into lib/, which is not shipped: each carries its
  // TypeScript, so a debugger or --enable-source-maps shows the code.
  test('every source map in the package carries the TypeScript it maps', () => {
    const maps = listing.filter((f) => f.endsWith('.js.map'));
    expect(maps).toContain('package/dist/index.js.map');
    for (const m of maps) {
      const map = JSON.parse(fs.readFileSync(path.join(installed, m.slice('package/'.length)), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
      expect([m, map.sourcesContent?.length]).toEqual([m, map.sources.length]);
      expect(map.sourcesContent?.every((text) => text.length > 0)).toBe(true);
    }
  });

  test('installing loads the prebuild and compiles nothing', () => {
    expect(fs.existsSync(path.join(installed, 'prebuilds/linux-x64/pmem.glibc.node'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
  });

  test('pmem and pmem/testing load from the installed package and a KVStore works', () => {
    const file = tmpFile('consumer.kv');
    const r = consumerNode(`
      const pmem = require('pmem');
      const testing = require('pmem/testing');
      const db = pmem.KVStore.open(${JSON.stringify(file)}, { create: true, size: 1 << 20, segmentSize: 64 << 10 });
      db.put('k', 'v');
      const got = db.getString('k');
      db[Symbol.dispose]();
      console.log(JSON.stringify({
        got,
        closed: db.closed,
        addon: require('node-gyp-build').path(require('path').dirname(require.resolve('pmem/package.json'))),
        resolved: require.resolve('pmem'),
        sim: typeof testing.CrashSim,
      }));
    `);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const o = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(o).toEqual({
      got: 'v',
      closed: true,
      addon: path.join(installed, 'prebuilds/linux-x64/pmem.glibc.node'),
      resolved: path.join(installed, 'dist/index.js'),
      sim: 'function',
    });
  });

  test('the prebuild is tagged glibc: node-gyp-build does not load it on musl', () => {
    const r = consumerNode("require('pmem')", { LIBC: 'musl' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('no prebuilt addon matches this platform');
    expect(r.stderr).toContain('libc=musl');
  });

  test('a libndctl that does not load gives the message that names the packages', () => {
    // An empty file first on the library path: the dynamic loader takes it
    // and fails ("file too short"), as it would for a missing library.
    const lib = path.join(tmp, 'badlib');
    fs.mkdirSync(lib);
    fs.writeFileSync(path.join(lib, 'libndctl.so.6'), '');
    const r = consumerNode("require('pmem')", { LD_LIBRARY_PATH: lib });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(INSTALL_HINT);
    expect(r.stderr).toContain('libndctl.so.6: file too short');
  });
});
