import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { binding } from '../lib/core/binding';
import { crc32c } from '../lib';
import { seededRandom } from '../lib/testing';
import { expectThrowName, tmpFile } from './helpers';

// Reference: bitwise CRC-32C, written independently of native/crc32c.cc.
function reference(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test('known check values', () => {
  expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  expect(crc32c(Buffer.alloc(0))).toBe(0);
  expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
  expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
});

test('matches a bitwise reference at every length and alignment', () => {
  const data = Buffer.alloc(300);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  for (let off = 0; off < 9; off++) {
    for (let len = 0; len + off <= data.length; len += 7) {
      expect(crc32c(data, off, len)).toBe(reference(data.subarray(off, off + len)));
    }
  }
});

test('chains through the seed', () => {
  const a = Buffer.from('persistent ');
  const b = Buffer.from('memory');
  expect(crc32c(b, 0, b.length, crc32c(a))).toBe(crc32c(Buffer.concat([a, b])));
});

test('bad arguments are TypeError or RangeError, in TS and in native code', () => {
  const buf = Buffer.alloc(16);
  expect(() => crc32c('text' as never)).toThrow(TypeError);
  expect(() => crc32c(buf, 10, 7)).toThrow(RangeError);
  expect(() => crc32c(buf, -1, 1)).toThrow(RangeError);
  expect(() => crc32c(buf, 0, 1, 2 ** 32)).toThrow(RangeError);
  expectThrowName(() => binding.crc32c(buf, 10, 7, 0), 'RangeError');
  expectThrowName(() => binding.crc32c(buf, 0, 1, 2 ** 32), 'RangeError');
  expectThrowName(() => binding.crc32c({} as never, 0, 0, 0), 'TypeError');
});

test('long inputs (the folding path) match the reference at every alignment, and chain', () => {
  const rnd = seededRandom(11);
  const data = Buffer.alloc(70_000);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rnd() * 256);
  // Around each block size the fold uses (64, 256), past it, and long.
  const lengths = [191, 192, 193, 255, 256, 257, 319, 320, 511, 512, 513, 1000, 4096, 4097, 65536, 69_000];
  for (const len of lengths) {
    for (const off of [0, 1, 7, 8, 63]) {
      const want = reference(data.subarray(off, off + len));
      expect(crc32c(data, off, len)).toBe(want);
      expect(binding.crc32cSoft(data, off, len, 0)).toBe(want);
      // Chaining through a split anywhere gives the same checksum.
      const cut = Math.floor(rnd() * len);
      expect(crc32c(data, off + cut, len - cut, crc32c(data, off, cut))).toBe(want);
    }
  }
  // Random lengths and seeds against the table form.
  for (let i = 0; i < 400; i++) {
    const len = Math.floor(rnd() * rnd() * 66_000);
    const off = Math.floor(rnd() * 64);
    const seed = Math.floor(rnd() * 0x100000000);
    expect(crc32c(data, off, len, seed)).toBe(binding.crc32cSoft(data, off, len, seed));
  }
});

test('the table form checks its arguments like the fast one', () => {
  expectThrowName(() => binding.crc32cSoft('x' as never, 0, 0, 0), 'TypeError');
  expectThrowName(() => binding.crc32cSoft(Buffer.alloc(4), 2, 3, 0), 'RangeError');
  expectThrowName(() => binding.crc32cSoft(Buffer.alloc(4), 0, 4, 2 ** 32), 'RangeError');
  expectThrowName(() => binding.crc32c(Buffer.alloc(4), -1, 1, 0), 'RangeError');
  expectThrowName(() => binding.crc32c(Buffer.alloc(4), 0, '1' as never, 0), 'TypeError');
  expect(typeof binding.crc32cFolds).toBe('boolean');
});

test('the int32 form gives the same 32 bits, signed, and checks its arguments like the others', () => {
  const random = seededRandom(11);
  let negative = 0;
  for (let i = 0; i < 200; i++) {
    const data = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 600) }, () => Math.floor(random() * 256)));
    const seed = Math.floor(random() * 2 ** 32);
    const off = Math.floor(random() * data.length);
    const want = crc32c(data, off, data.length - off, seed);
    const got = binding.crc32cInt32(data, off, data.length - off, seed);
    expect(got).toBe(want | 0);
    expect(got >>> 0).toBe(want);
    if (got < 0) negative++;
  }
  expect(negative).toBeGreaterThan(50); // both halves of the range were seen
  expectThrowName(() => binding.crc32cInt32('x' as never, 0, 0, 0), 'TypeError');
  expectThrowName(() => binding.crc32cInt32(Buffer.alloc(4), 2, 3, 0), 'RangeError');
  expectThrowName(() => binding.crc32cInt32(Buffer.alloc(4), 0, 4, 2 ** 32), 'RangeError');
});

test('every folding form matches the table form, alone and in the copy a record\'s seal makes', () => {
  // The form a CPU takes follows its flags; PMEM_CRC32C_FOLD takes a smaller one.
  const flags = new Set((/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
  const has128 = flags.has('sse4_2') && flags.has('pclmulqdq');
  const has512 = has128 && flags.has('avx512f') && flags.has('avx512bw') && flags.has('vpclmulqdq');
  const cases: Array<[string | undefined, string]> = [
    [undefined, has512 ? '512' : has128 ? '128' : 'none'],
    ['128', has128 ? '128' : 'none'],
    ['none', 'none'],
  ];
  expect(binding.crc32cFold).toBe(cases[0][1]);
  for (const [want, form] of cases) {
    for (const forced of [false, true]) {
      const file = tmpFile(`forms-${want ?? 'cpu'}-${forced ? 'forced' : 'msync'}`);
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.PMEM_CRC32C_FOLD;
      delete env.PMEM_IS_PMEM_FORCE;
      if (want !== undefined) env.PMEM_CRC32C_FOLD = want;
      if (forced) env.PMEM_IS_PMEM_FORCE = '1';
      const r = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'crc', 'forms.js'), file], { encoding: 'utf8', env });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ form, compared: 294, mismatches: 0, records: 30, readBack: true });
      fs.rmSync(file, { force: true });
    }
  }
});
