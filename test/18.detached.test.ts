// A Buffer whose ArrayBuffer was detached (a view of a closed Mapping, a
// buffer transferred to a worker) reads as empty. A write given one must
// refuse it, as every structure on a Region does, not return as if it had
// stored the bytes the caller meant.
import * as fs from 'node:fs';

import { ObjPool, openMapping, sealRecord } from '../lib';
import { sealRecords } from '../lib/core/records';
import { CrashSim } from '../lib/testing';
import { tmpFile } from './helpers';

/** A 9-byte view of a mapping that is then closed: detached. */
function detachedView(): Buffer {
  const file = tmpFile('detached-src');
  const m = openMapping(file, { size: 4096, create: true });
  m.buffer.write('important');
  const view = m.view(0, 9);
  m.close();
  fs.rmSync(file);
  expect(view.length).toBe(0);
  return view;
}

/** A 9-byte Buffer whose ArrayBuffer was transferred away. */
function transferred(): Buffer {
  const b = Buffer.from(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]).buffer);
  structuredClone(b.buffer, { transfer: [b.buffer] });
  expect(b.length).toBe(0);
  return b;
}

describe.each([['a closed mapping\'s view', detachedView], ['a transferred buffer', transferred]])('%s', (_name, make) => {
  test('ObjPool.write and ObjTx.write refuse it, and write nothing', () => {
    const file = tmpFile('detached-pool');
    const pool = ObjPool.create(file, { layout: 'detached', size: 16 << 20 });
    try {
      const obj = pool.alloc(16, { zero: true });
      expect(() => pool.write(obj, make())).toThrow(new TypeError('data is a view of a detached ArrayBuffer'));
      expect(() => pool.transaction((tx) => tx.write(obj, make()))).toThrow(new TypeError('data is a view of a detached ArrayBuffer'));
      expect(pool.view(obj, 16).equals(Buffer.alloc(16))).toBe(true);
      // An empty view that is not detached is still an empty write.
      pool.write(obj, Buffer.alloc(0));
    } finally {
      pool.close();
      fs.rmSync(file, { force: true });
    }
  });

  test('Mapping.copy and Mapping.copyRanges refuse it', () => {
    const file = tmpFile('detached-dst');
    const m = openMapping(file, { size: 4096, create: true });
    try {
      expect(() => m.copy(0, make())).toThrow(new TypeError('src is a view of a detached ArrayBuffer'));
      expect(() => m.copyRanges(0, make(), new Uint32Array(0), 0, 2, -1)).toThrow(new TypeError('src is a view of a detached ArrayBuffer'));
      expect(m.view(0, 16).equals(Buffer.alloc(16))).toBe(true);
      m.copy(0, Buffer.alloc(0));
    } finally {
      m.close();
      fs.rmSync(file, { force: true });
    }
  });

  test('sealRecord and sealRecords refuse it, on a Mapping as on the crash simulator, and seal nothing', () => {
    const file = tmpFile('detached-seal');
    const m = openMapping(file, { size: 4096, create: true });
    try {
      for (const region of [m, new CrashSim(4096)]) {
        expect(() => sealRecord(region, 0, 64, 0, true, make())).toThrow(new TypeError('src is a view of a detached ArrayBuffer'));
        expect(() => sealRecords(region, new Float64Array([128, 192, 0]), 1, 0, true, [make()]))
          .toThrow(new TypeError('srcs[] is a view of a detached ArrayBuffer'));
        expect(region.bytes.subarray(0, 256).equals(Buffer.alloc(256))).toBe(true);
        // An empty view of a live buffer is still a record with nothing copied in.
        sealRecord(region, 0, 64, 0, true, Buffer.alloc(0));
        sealRecords(region, new Float64Array([128, 192, 0]), 1, 0, true, [new Uint8Array(new SharedArrayBuffer(0))]);
      }
    } finally {
      m.close();
      fs.rmSync(file, { force: true });
    }
  });
});
