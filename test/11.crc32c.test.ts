import { binding } from '../lib/binding';
import { crc32c } from '../lib';
import { expectThrowName } from './helpers';

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
