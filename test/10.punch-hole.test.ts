// punchHole: the range's storage is freed and reads as zeros, nothing
// outside it changes, the size stays; a filesystem that cannot punch
// holes answers false; bad arguments and files are errors.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

import { punchHole } from '../lib/core/space';
import { expectPmemError, testDir, tmpFile } from './helpers';

const KiB = 1024;

function filled(name: string, bytes: number): string {
  const file = tmpFile(name);
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = 1 + (i % 251);
  fs.writeFileSync(file, b);
  return file;
}

test('a page-aligned range is freed and reads as zeros; the rest and the size are as they were', () => {
  const file = filled('punch', 1024 * KiB);
  const before = fs.readFileSync(file);
  const blocks = fs.statSync(file).blocks;
  expect(punchHole(file, 256 * KiB, 512 * KiB)).toBe(true);
  const after = fs.readFileSync(file);
  expect(fs.statSync(file).size).toBe(1024 * KiB);
  expect(after.subarray(256 * KiB, 768 * KiB).every((b) => b === 0)).toBe(true);
  expect(after.subarray(0, 256 * KiB).equals(before.subarray(0, 256 * KiB))).toBe(true);
  expect(after.subarray(768 * KiB).equals(before.subarray(768 * KiB))).toBe(true);
  // st_blocks counts 512-byte units: the half of the file punched is gone.
  expect((blocks - fs.statSync(file).blocks) * 512).toBeGreaterThanOrEqual(512 * KiB);
});

test('a range that covers pages in part zeroes its own bytes only; an empty range changes nothing', () => {
  const file = filled('punch-part', 64 * KiB);
  const before = fs.readFileSync(file);
  expect(punchHole(file, 100, 5000)).toBe(true);
  const after = fs.readFileSync(file);
  expect(after.subarray(100, 5100).every((b) => b === 0)).toBe(true);
  expect(after.subarray(0, 100).equals(before.subarray(0, 100))).toBe(true);
  expect(after.subarray(5100).equals(before.subarray(5100))).toBe(true);
  expect(punchHole(file, 0, 0)).toBe(true);
  expect(fs.readFileSync(file).equals(after)).toBe(true);
});

test('a filesystem that cannot punch holes answers false', () => {
  expect(punchHole('/proc/self/status', 0, 4096)).toBe(false);
});

test('bad arguments and files that are not regular files are errors', () => {
  const file = filled('punch-args', 4 * KiB);
  expect(() => punchHole('', 0, 1)).toThrow(TypeError);
  expect(() => punchHole(file, -1, 1)).toThrow(RangeError);
  expect(() => punchHole(file, 0, 1.5)).toThrow(RangeError);
  expect(() => punchHole(file, 2 ** 62, 1)).toThrow(RangeError);
  expect(() => punchHole(file, '0' as unknown as number, 1)).toThrow(TypeError);
  expectPmemError(() => punchHole(`${file}-missing`, 0, 4096), 'ERR_PMEM_NOT_FOUND');
  expectPmemError(() => punchHole(testDir(), 0, 4096), 'ERR_PMEM_INVALID');
  expectPmemError(() => punchHole('/dev/null', 0, 4096), 'ERR_PMEM_INVALID');
  // A FIFO with no reader: the open fails (ENXIO) instead of waiting for
  // one, and is refused for its type, as /dev/null is.
  const fifo = tmpFile('punch-fifo');
  execFileSync('mkfifo', [fifo]);
  expectPmemError(() => punchHole(fifo, 0, 4096), 'ERR_PMEM_INVALID');
  // Nothing of the file changed.
  expect(fs.readFileSync(file)[0]).toBe(1);
});
