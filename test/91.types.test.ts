// The public types as a consumer compiles them: the declarations built from
// lib/ (with stripInternal) in a package named pmem, and the fixtures in
// test/types/ importing 'pmem' and 'pmem/testing' under the strictest
// options and every moduleResolution. Also: `using` closes what it holds.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { KVStore, ObjPool, openMapping, Wal } from '../lib/index';
import { expectPmemError, tmpFile } from './helpers';

const root = path.join(__dirname, '..');
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');

describe('the declarations, compiled by a consumer', () => {
  let tmp = '';

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmem-types-'));
    const pkg = path.join(tmp, 'node_modules/pmem');
    fs.mkdirSync(pkg, { recursive: true });
    fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
    const build = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(pkg, 'dist')], {
      encoding: 'utf8',
    });
    expect(build.stdout + build.stderr).toBe('');
    expect(build.status).toBe(0);
    fs.mkdirSync(path.join(tmp, 'node_modules/@types'));
    fs.symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(tmp, 'node_modules/@types/node'));
    fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    for (const f of fs.readdirSync(path.join(__dirname, 'types'))) {
      fs.copyFileSync(path.join(__dirname, 'types', f), path.join(tmp, f));
    }
  }, 300_000);

  afterAll(() => {
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** tsc's diagnostics for `files` under `options` (empty when it compiles). */
  function compile(name: string, files: string[], options: Record<string, unknown>): string {
    const config = path.join(tmp, `tsconfig.${name}.json`);
    fs.writeFileSync(
      config,
      JSON.stringify({
        compilerOptions: {
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: false,
          target: 'ES2022',
          lib: ['ES2022'],
          types: ['node'],
          ...options,
        },
        files,
      }),
    );
    const r = spawnSync(process.execPath, [tsc, '-p', config], { cwd: tmp, encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`.trim() + (r.status === 0 ? '' : `\n(exit ${r.status})`);
  }

  // lib ES2022 alone (with @types/node) for consumer.ts: the declarations
  // must not need esnext.disposable. dispose.ts uses `using`, which does.
  test.each([
    ['node10', ['consumer.ts'], { module: 'commonjs', moduleResolution: 'node10' }],
    ['node16', ['consumer.ts', 'dispose.ts'], { module: 'node16', moduleResolution: 'node16', lib: ['ES2022', 'esnext.disposable'] }],
    ['bundler', ['consumer.ts'], { module: 'esnext', moduleResolution: 'bundler' }],
  ])('pmem and pmem/testing type-check under moduleResolution %s, and every @ts-expect-error errs', (name, files, options) => {
    expect(compile(name, files as string[], options)).toBe('');
  });

  test('an error in a fixture is reported (the harness can fail)', () => {
    fs.writeFileSync(path.join(tmp, 'broken.ts'), "import { KVStore } from 'pmem';\nconst n: number = KVStore;\nconsole.log(n);\n");
    expect(compile('broken', ['broken.ts'], { module: 'commonjs', moduleResolution: 'node10' })).toMatch(/error TS2322/);
  });

  test('nothing internal is left in the declarations, and what the public ones use is there', () => {
    const dist = path.join(tmp, 'node_modules/pmem/dist');
    const dts = (f: string): string => fs.readFileSync(path.join(dist, f), 'utf8');
    const all = fs.readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
    expect(all.length).toBeGreaterThan(10);
    for (const f of all) expect(dts(f)).not.toMatch(/@internal/);
    expect(dts('testing/sim.d.ts')).not.toMatch(/setPointSink|replayTarget|nativeOf/);
    expect(dts('obj/tx.d.ts')).not.toMatch(/runTransaction|inTransaction|commit\(\)|fail\(/);
    expect(dts('core/mapping.d.ts')).toMatch(/constructor\(path: string, native: NativeMapping, readOnly: boolean, shared\?: boolean\)/);
  });
});

describe('Symbol.dispose closes', () => {
  test('a KVStore, at the end of a `using` block, releasing its lock', () => {
    const file = tmpFile('dispose.kv');
    let held: KVStore;
    {
      using db = KVStore.open(file, { create: true, size: 1 << 20, segmentSize: 64 << 10 });
      db.put('k', 'v');
      held = db;
      expect(db.closed).toBe(false);
    }
    expect(held.closed).toBe(true);
    expectPmemError(() => held.get('k'), 'ERR_PMEM_CLOSED');
    const again = KVStore.open(file);
    expect(again.getString('k')).toBe('v');
    again.close();
  });

  test('a Mapping', () => {
    const m = openMapping(tmpFile('dispose.map'), { size: 4096, create: true });
    m[Symbol.dispose]();
    expect(m.closed).toBe(true);
    expectPmemError(() => m.persist(0, 8), 'ERR_PMEM_CLOSED');
    m[Symbol.dispose]();
  });

  test('a Wal opened by path', () => {
    const w = Wal.open(tmpFile('dispose.wal'), { size: 65536, create: true });
    w.append('x');
    w[Symbol.dispose]();
    expectPmemError(() => w.append('y'), 'ERR_PMEM_CLOSED');
  });

  test('an ObjPool', () => {
    const pool = ObjPool.create(tmpFile('dispose.pool'), { layout: 'dispose' });
    pool[Symbol.dispose]();
    expect(pool.closed).toBe(true);
  });
});
