// A tiered cache on fewer bytes than its header's first word (a pmemBytes
// of 1 to 7, or a region that short): the RangeError that says no slot
// fits, as for any region too small for one, not a read past the end of
// the region (Node's ERR_BUFFER_OUT_OF_BOUNDS); no file is left. Such a
// region that is not all zero holds something else: ERR_PMEM_NOT_A_STORE.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { openMapping, TieredCache } from '../lib';
import { expectPmemError, tmpFile } from './helpers';

test.each([1, 3, 4, 7, 8, 64])('pmemBytes %i: a RangeError saying no slot fits, and no file', (pmemBytes) => {
  const file = tmpFile('cache-tiny');
  let error: unknown;
  try {
    new TieredCache({ file, pmemBytes }).close();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(RangeError);
  expect(error).toMatchObject({ message: `a ${pmemBytes}-byte region holds no 256-byte slot` });
  expect((error as { code?: unknown }).code).toBeUndefined();
  expect(fs.existsSync(file)).toBe(false);
  // No temporary of this file's left (others' run beside it in the test directory).
  expect(fs.readdirSync(path.dirname(file)).filter((n) => n.startsWith(`.${path.basename(file)}.`))).toEqual([]);
});

test.each([3, 7])('a %i-byte region: zeros are a RangeError (no slot fits), other bytes ERR_PMEM_NOT_A_STORE, and it is left as it was', (n) => {
  const file = tmpFile('cache-tiny-region');
  const m = openMapping(file, { create: true, size: n });
  try {
    expect(() => new TieredCache({ region: m })).toThrow(new RangeError(`a ${n}-byte region holds no 256-byte slot`));
    m.buffer.fill(9);
    expectPmemError(() => new TieredCache({ region: m }), 'ERR_PMEM_NOT_A_STORE');
    expect(m.buffer.equals(Buffer.alloc(n, 9))).toBe(true);
  } finally {
    m.close();
  }
});
