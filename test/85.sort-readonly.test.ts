// externalSort with its output on a read-only filesystem: refused as the
// store creates refuse a file there (ERR_PMEM_ACCESS, no permission), not
// as an I/O error, and nothing is made. Runs on a read-only tmpfs this
// file mounts (as root).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { externalSort, KVStore } from '../lib';
import { expectPmemError, mountFs, testDir, unmount } from './helpers';

const ro = mountFs('tmpfs', ['-o', 'size=1m,ro'], 'an output on a read-only filesystem');
const onRo = ro === null ? test.skip : test;

afterAll(() => unmount(ro));

onRo('an output on a read-only filesystem is ERR_PMEM_ACCESS, as a store made there is', () => {
  const input = path.join(testDir(), `${process.pid}-sort-ro-in.txt`);
  fs.writeFileSync(input, 'b\na\n');
  const out = path.join(ro!, 'out.txt');
  let e: unknown;
  try {
    externalSort(input, out, { pmem: path.join(testDir(), `${process.pid}-sort-ro-work`) });
  } catch (err) {
    e = err;
  }
  expect((e as { code?: string }).code).toBe('ERR_PMEM_ACCESS');
  expect((e as Error).message).toContain(`cannot create '${out}`);
  expect((e as Error).message).toContain('(EROFS)');
  // The same refusal a store's create gives there.
  expectPmemError(() => KVStore.open(path.join(ro!, 'x.kv'), { create: true }), 'ERR_PMEM_ACCESS');
  expect(fs.readdirSync(ro!)).toEqual([]);
  fs.rmSync(input);
});
