import { AppendList, openMapping } from '../lib';
import { expectPmemError, tmpFile } from './helpers';

test('append, reopen, iterate', () => {
  const file = tmpFile('list');
  const m = openMapping(file, { size: 65536, create: true });
  const list = AppendList.format(m, 128);
  expect(list.length).toBe(0);
  list.append('one');
  list.append(Buffer.from('two'));
  list.append('');
  list.append('x'.repeat(200));
  m.close();
  const again = openMapping(file);
  const reopened = AppendList.open(again, 128);
  expect(reopened.length).toBe(4);
  expect(reopened.toArray().map((b) => b.toString())).toEqual(['one', 'two', '', 'x'.repeat(200)]);
  reopened.append('five');
  expect([...AppendList.open(again, 128)].map(String)).toEqual(['one', 'two', '', 'x'.repeat(200), 'five']);
  again.close();
});

test('a full region is ERR_PMEM_NO_SPACE and the list stays usable', () => {
  const m = openMapping(tmpFile('list-full'), { size: 4096, create: true });
  const list = AppendList.format(m);
  let n = 0;
  try {
    for (;;) {
      list.append(Buffer.alloc(100, n));
      n++;
    }
  } catch (e) {
    expect((e as { code: string }).code).toBe('ERR_PMEM_NO_SPACE');
  }
  expect(n).toBe(31);
  expect(AppendList.open(m).length).toBe(n);
  list.append(Buffer.alloc(10)); // a smaller value still fits in the last line
  m.close();
});

test('damaged lists are ERR_PMEM_CORRUPT', () => {
  const m = openMapping(tmpFile('list-bad'), { size: 8192, create: true });
  expectPmemError(() => AppendList.open(m), 'ERR_PMEM_CORRUPT'); // no magic
  const list = AppendList.format(m);
  list.append('a');
  list.append('b');
  const first = Number(m.buffer.readBigUInt64LE(8));
  m.buffer.writeBigUInt64LE(BigInt(first), first); // a cycle: points at itself
  expectPmemError(() => AppendList.open(m), 'ERR_PMEM_CORRUPT');
  m.buffer.writeBigUInt64LE(1n << 40n, first); // outside the region
  expectPmemError(() => AppendList.open(m), 'ERR_PMEM_CORRUPT');
  m.buffer.writeBigUInt64LE(0n, first);
  m.buffer.writeUInt32LE(9000, first + 8); // length past the end
  expectPmemError(() => AppendList.open(m), 'ERR_PMEM_CORRUPT');
  m.close();
});

test('a list damaged after it was opened: its iterator throws ERR_PMEM_CORRUPT, and neither loops nor reads past the region', () => {
  const m = openMapping(tmpFile('list-bad-later'), { size: 8192, create: true });
  const list = AppendList.format(m);
  list.append('a');
  list.append('b');
  const first = Number(m.buffer.readBigUInt64LE(8));
  const second = Number(m.buffer.readBigUInt64LE(first));
  const firstValues = (): number => {
    let n = 0;
    for (const _ of list) if (++n > 10) break; // bounded: a cycle would never end
    return n;
  };
  m.buffer.writeBigUInt64LE(BigInt(first), second); // a cycle: the tail points back at the first node
  expectPmemError(firstValues, 'ERR_PMEM_CORRUPT');
  m.buffer.writeBigUInt64LE(BigInt(m.length - 8), second); // a node header past the region's end
  expectPmemError(firstValues, 'ERR_PMEM_CORRUPT');
  m.buffer.writeBigUInt64LE(0n, second);
  m.buffer.writeUInt32LE(9000, second + 8); // length past the end
  expectPmemError(firstValues, 'ERR_PMEM_CORRUPT');
  m.buffer.writeUInt32LE(1, second + 8);
  expect(list.toArray().map(String)).toEqual(['a', 'b']);
  m.close();
});

test('bad arguments', () => {
  const m = openMapping(tmpFile('list-args'), { size: 4096, create: true });
  expect(() => AppendList.format(m, 10)).toThrow(RangeError);
  expect(() => AppendList.format(m, 4096)).toThrow(RangeError);
  expect(() => AppendList.format(m, -64)).toThrow(RangeError);
  const list = AppendList.format(m);
  expect(() => list.append(5 as never)).toThrow(TypeError);
  m.close();
});
