import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

import { binding } from '../lib/core/binding';
import { crc32c, Mapping, openMapping, PmemError } from '../lib';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

const forced = process.env.PMEM_IS_PMEM_FORCE === '1';
// scripts/test-dax.sh runs this file on a real fs-dax mount too.

function create(size = 64 * 1024, name = 'map'): Mapping {
  return openMapping(tmpFile(name), { size, create: true });
}

describe('openMapping', () => {
  test('creates, writes, persists, reopens and reads back', () => {
    const path = tmpFile('roundtrip');
    const m = openMapping(path, { size: 8192, create: true });
    expect(m.length).toBe(8192);
    expect(m.path).toBe(path);
    m.buffer.write('durable bytes', 100);
    m.persist(100, 13);
    m.close();
    const again = openMapping(path);
    expect(again.length).toBe(8192);
    expect(again.buffer.toString('utf8', 100, 113)).toBe('durable bytes');
    again.close();
  });

  test('reports the durability mode of this test pass', () => {
    const m = create();
    if (process.env.PMEM_DAX_MOUNT) {
      expect(m.isPmem).toBe(true);
      expect(m.granularity).toBe('cache-line');
      expect(m.mode).toBe('dax');
    } else if (forced) {
      expect(m.isPmem).toBe(true);
      expect(m.granularity).toBe('cache-line');
      expect(m.mode).toBe('forced');
    } else {
      expect(m.isPmem).toBe(false);
      expect(m.granularity).toBe('page');
      expect(m.mode).toBe('msync');
    }
    m.close();
  });

  test('create grows a smaller file and never truncates a larger one', () => {
    const path = tmpFile('grow');
    const m = openMapping(path, { size: 4096, create: true });
    m.buffer[4095] = 7;
    m.persist(4095, 1);
    m.close();
    const grown = openMapping(path, { size: 16384, create: true });
    expect(grown.length).toBe(16384);
    expect(grown.buffer[4095]).toBe(7);
    grown.close();
    const kept = openMapping(path, { size: 4096, create: true });
    expect(kept.length).toBe(16384);
    kept.close();
  });

  test('a size without create is refused, not ignored', () => {
    const path = tmpFile('nogrow');
    openMapping(path, { size: 4096, create: true }).close();
    expect(() => openMapping(path, { size: 16384 })).toThrow(new TypeError('size applies only with create'));
    expect(() => openMapping(path, { size: 16384, readOnly: true })).toThrow(new TypeError('size applies only with create'));
    expect(fs.statSync(path).size).toBe(4096);
  });

  test('exclusive create refuses an existing file', () => {
    const path = tmpFile('excl');
    openMapping(path, { size: 4096, create: true, exclusive: true }).close();
    expectPmemError(() => openMapping(path, { size: 4096, create: true, exclusive: true }), 'ERR_PMEM_EXISTS');
  });

  test('sparse create allocates no blocks up front', () => {
    const path = tmpFile('sparse');
    const m = openMapping(path, { size: 64 << 20, create: true, sparse: true });
    expect(fs.statSync(path).blocks * 512).toBeLessThan(1 << 20);
    m.close();
  });

  test('a missing file is ERR_PMEM_NOT_FOUND with errno, syscall and path', () => {
    const path = tmpFile('missing');
    let err: PmemError | undefined;
    try {
      openMapping(path);
    } catch (e) {
      err = e as PmemError;
    }
    expect(err).toBeInstanceOf(PmemError);
    expect(err!.code).toBe('ERR_PMEM_NOT_FOUND');
    expect(err!.errno).toBe(2);
    expect(err!.syscall).toBe('open');
    expect(err!.path).toBe(path);
    expect(err!.message).toContain(path);
  });

  test('a directory and an empty file are ERR_PMEM_INVALID', () => {
    const dir = tmpFile('dir');
    fs.mkdirSync(dir);
    expectPmemError(() => openMapping(dir), 'ERR_PMEM_INVALID');
    const empty = tmpFile('empty');
    fs.writeFileSync(empty, '');
    expectPmemError(() => openMapping(empty), 'ERR_PMEM_INVALID');
    expectPmemError(() => openMapping(empty, { readOnly: true }), 'ERR_PMEM_INVALID');
  });

  test('a file in a missing directory cannot be created', () => {
    expectPmemError(() => openMapping(tmpFile('nodir') + '/x', { size: 4096, create: true }), 'ERR_PMEM_NOT_FOUND');
  });

  test('create through a symbolic link to nothing is ERR_PMEM_NOT_FOUND, and creates nothing', () => {
    // In a child: the open used to retry forever (ENOENT, then EEXIST from
    // O_EXCL on the link itself), which no timer in this process could stop.
    const dir = tmpFile('dangling-dir');
    fs.mkdirSync(dir);
    fs.symlinkSync('nowhere', `${dir}/link`);
    const script = `
      const { openMapping } = require(${JSON.stringify(require.resolve('../dist'))});
      try { openMapping(process.argv[1], { create: true, size: 4096 }); console.log('opened'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, message: e.message })); }`;
    const r = spawnSync(process.execPath, ['-e', script, `${dir}/link`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBeNull();
    const out = JSON.parse(r.stdout);
    expect(out.code).toBe('ERR_PMEM_NOT_FOUND');
    expect(out.errno).toBe(2);
    expect(out.message).toContain(`symbolic link to 'nowhere', which does not exist`);
    expect(fs.readdirSync(dir)).toEqual(['link']);
    expect(fs.readlinkSync(`${dir}/link`)).toBe('nowhere');
    fs.rmSync(dir, { recursive: true });
  });

  test('bad options are TypeError or RangeError', () => {
    const path = tmpFile('opts');
    expect(() => openMapping(42 as unknown as string)).toThrow(TypeError);
    expect(() => openMapping('')).toThrow(TypeError);
    expect(() => openMapping(path, null as never)).toThrow(TypeError);
    expect(() => openMapping(path, { sise: 1 } as never)).toThrow(/unknown option 'sise'/);
    expect(() => openMapping(path, { create: 1 } as never)).toThrow(TypeError);
    expect(() => openMapping(path, { create: true })).toThrow(RangeError);
    expect(() => openMapping(path, { create: true, size: -1 })).toThrow(RangeError);
    expect(() => openMapping(path, { create: true, size: 1.5 })).toThrow(RangeError);
    expect(() => openMapping(path, { create: true, size: '4096' as never })).toThrow(TypeError);
    expect(() => openMapping(path, { create: true, size: 4096, readOnly: true })).toThrow(TypeError);
    expect(() => openMapping(path, { exclusive: true })).toThrow(TypeError);
    expect(() => openMapping(path, { sparse: true, readOnly: true })).toThrow(TypeError);
    expect(fs.existsSync(path)).toBe(false);
  });
});

describe('Mapping methods', () => {
  test('flush + drain, copy, fill and deepFlush land in the file', () => {
    const path = tmpFile('methods');
    const m = openMapping(path, { size: 16384, create: true });
    m.buffer.write('flushed', 0);
    m.flush(0, 7);
    m.drain();
    m.copy(4096, Buffer.from('copied'));
    m.fill(8192, 0xab, 100);
    m.buffer.write('deep', 12000);
    m.deepFlush(12000, 4);
    m.close();
    const bytes = fs.readFileSync(path);
    expect(bytes.toString('utf8', 0, 7)).toBe('flushed');
    expect(bytes.toString('utf8', 4096, 4102)).toBe('copied');
    expect(bytes.subarray(8192, 8292).every((b) => b === 0xab)).toBe(true);
    expect(bytes[8292]).toBe(0);
    expect(bytes.toString('utf8', 12000, 12004)).toBe('deep');
  });

  test('copy accepts a view of the same mapping, overlapping', () => {
    const m = create(4096);
    m.buffer.write('abcdef', 0);
    m.copy(2, m.view(0, 6));
    expect(m.buffer.toString('utf8', 0, 8)).toBe('ababcdef');
    m.close();
  });

  test('copy accepts bytes over a SharedArrayBuffer, and any typed array or ArrayBuffer natively', () => {
    const m = create(4096);
    const shared = new Uint8Array(new SharedArrayBuffer(16), 4, 8);
    shared.set([1, 2, 3, 4, 5, 6, 7, 8]);
    m.copy(10, shared);
    expect([...m.buffer.subarray(10, 18)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(m.sealRecord(64, 128, 0, true, shared)).toBe(crc32c(m.buffer, 68, 60, 0));
    const h = binding.mapOpen(tmpFile('typed'), 4096, binding.mapFlags.create);
    h.copy(0, new Uint16Array(new SharedArrayBuffer(4)).fill(0x0102) as never);
    h.copy(4, new Uint8Array([9, 9]).buffer as never);
    expect([...new Uint8Array(h.view(0, 6))]).toEqual([2, 1, 2, 1, 9, 9]);
    h.close();
    m.close();
  });

  test('zero-length operations at the end are allowed', () => {
    const m = create(4096);
    m.persist(4096, 0);
    m.flush(0, 0);
    m.copy(4096, Buffer.alloc(0));
    m.fill(4096, 1, 0);
    expect(m.view(4096, 0).length).toBe(0);
    m.close();
  });

  test('the buffer is created once and views share it', () => {
    const m = create(8192);
    expect(m.buffer).toBe(m.buffer);
    expect(m.bytes).toBe(m.buffer);
    const v = m.view(100, 10);
    v[0] = 42;
    expect(m.buffer[100]).toBe(42);
    expect(v.buffer).toBe(m.buffer.buffer);
    m.close();
  });

  test.each([
    ['negative offset', -1, 1],
    ['offset past the end', 4097, 0],
    ['length past the end', 4000, 97],
    ['fractional offset', 1.5, 1],
    ['NaN length', 0, NaN],
    ['Infinity length', 0, Infinity],
    ['overflowing sum', 2 ** 53 - 1, 2 ** 53 - 1],
  ])('%s is a RangeError everywhere', (_name, off, len) => {
    const m = create(4096);
    expect(() => m.flush(off, len)).toThrow(RangeError);
    expect(() => m.persist(off, len)).toThrow(RangeError);
    expect(() => m.deepFlush(off, len)).toThrow(RangeError);
    expect(() => m.fill(off, 0, len)).toThrow(RangeError);
    expect(() => m.view(off, len)).toThrow(RangeError);
    expect(() => m.readInto(off, len, Buffer.alloc(8192))).toThrow(RangeError);
    m.close();
  });

  test('wrong types are TypeError', () => {
    const m = create(4096);
    expect(() => m.persist('0' as never, 1)).toThrow(TypeError);
    expect(() => m.flush(0, undefined as never)).toThrow(TypeError);
    expect(() => m.copy(0, 'text' as never)).toThrow(TypeError);
    expect(() => m.copy(0, [1, 2] as never)).toThrow(TypeError);
    expect(() => m.fill(0, 256, 1)).toThrow(RangeError);
    expect(() => m.fill(0, '1' as never, 1)).toThrow(TypeError);
    expect(() => m.copy(4090, Buffer.alloc(7))).toThrow(RangeError);
    expect(() => m.readInto('0' as never, 1, Buffer.alloc(1))).toThrow(TypeError);
    for (const bad of [undefined, 'text', [1, 2], new ArrayBuffer(4), new Uint16Array(4), new DataView(new ArrayBuffer(4))]) {
      expectThrowName(() => m.readInto(0, 1, bad as never), 'TypeError');
    }
    // A target shorter than the range: nothing is written.
    const short = Buffer.alloc(3, 0xee);
    expectThrowName(() => m.readInto(0, 4, short), 'RangeError');
    expect(short.equals(Buffer.alloc(3, 0xee))).toBe(true);
    m.close();
  });

  test('readInto copies a range to the start of a target, also from a read-only mapping and into a view of the same mapping', () => {
    const path = tmpFile('read-into');
    const m = openMapping(path, { size: 8192, create: true });
    m.buffer.write('0123456789', 100);
    const t = Buffer.alloc(8, 0xee);
    m.readInto(102, 5, t);
    expect(t.toString('latin1')).toBe('23456\xee\xee\xee');
    const u = new Uint8Array(new SharedArrayBuffer(16), 3, 5);
    m.readInto(100, 5, u);
    expect(Buffer.from(u).toString()).toBe('01234');
    // Overlapping ranges of the same mapping, both ways.
    m.readInto(100, 10, m.view(103, 10));
    expect(m.buffer.toString('latin1', 100, 113)).toBe('0120123456789');
    m.readInto(103, 10, m.view(100, 10));
    expect(m.buffer.toString('latin1', 100, 110)).toBe('0123456789');
    m.readInto(8192, 0, Buffer.alloc(0));
    m.close();
    const ro = openMapping(path, { readOnly: true });
    const r = Buffer.alloc(10);
    ro.readInto(100, 10, r);
    expect(r.toString()).toBe('0123456789');
    ro.close();
  });

  test('native code checks ranges again when called directly', () => {
    const path = tmpFile('native');
    const h = binding.mapOpen(path, 4096, binding.mapFlags.create);
    // flush, persist and sealRecord read their numbers from the call block.
    const call = new Float64Array(h.call);
    const withCall = (values: number[], fn: () => unknown) => () => {
      call.set(values);
      return fn();
    };
    expectThrowName(withCall([-1, 1], () => h.persist()), 'RangeError');
    expectThrowName(withCall([4096, 1], () => h.persist()), 'RangeError');
    expectThrowName(withCall([1, 2 ** 53], () => h.flush()), 'RangeError');
    expectThrowName(withCall([NaN, 1], () => h.flush()), 'RangeError');
    expectThrowName(withCall([0.5, 1], () => h.persist()), 'RangeError');
    expectThrowName(withCall([0, 64, 2 ** 32, 1], () => h.sealRecord()), 'RangeError');
    expectThrowName(withCall([4000, 4100, 0, 1], () => h.sealRecord()), 'RangeError');
    expectThrowName(withCall([64, 0, 0, 1], () => h.sealRecord()), 'RangeError');
    expectThrowName(withCall([0, 64, 0, 1], () => h.sealRecord(Buffer.alloc(61))), 'RangeError');
    expectThrowName(withCall([0, 64, 0, 1], () => h.sealRecord(new Uint16Array(2) as never)), 'TypeError');
    // call[4], the length src was planned with (-1: any): another one, or
    // one that is no index, is refused before anything is written.
    expectThrowName(withCall([0, 64, 0, 1, 59], () => h.sealRecord(Buffer.alloc(60))), 'RangeError');
    expectThrowName(withCall([0, 64, 0, 1, 0.5], () => h.sealRecord(Buffer.alloc(60))), 'RangeError');
    expectThrowName(withCall([0, 64, 0, 1, NaN], () => h.sealRecord(Buffer.alloc(60))), 'RangeError');
    expectThrowName(withCall([0, 64, 0, 1, -2], () => h.sealRecord(Buffer.alloc(60))), 'RangeError');
    call.set([0, 64, 0, 1, 60]);
    expect(h.sealRecord(Buffer.alloc(60, 1))).toBeUndefined();
    expect(call[0]).toBe(crc32c(Buffer.alloc(60, 1), 0, 60, 0));
    call.set([0, 64, 0, 1, -1]);
    // The checksum comes back in the call block's first element.
    expect(h.sealRecord(Buffer.alloc(60, 1))).toBeUndefined();
    expect(call[0]).toBe(crc32c(Buffer.alloc(60, 1), 0, 60, 0));
    // call[7], sealRecord's prefetch hint: any value, an address or not,
    // leaves the seal's bytes and checksum as they are, and the seal clears it.
    const src = Buffer.alloc(60, 7);
    const address = binding.kvTableAddress(new Uint32Array(2048));
    for (const hint of [NaN, -1, -Infinity, Infinity, 0.5, 1, 2 ** 64, 2 ** 70, 2 ** 63 + 2 ** 62, 8, address]) {
      h.fill(0, 0xaa, 64);
      call.set([0, 64, 0, 1, 60, 0, 0, hint]);
      expect(h.sealRecord(src)).toBeUndefined();
      expect(call[0]).toBe(crc32c(src, 0, 60, 0));
      expect(call[7]).toBe(0);
      expect(Buffer.from(h.view(4, 60)).equals(src)).toBe(true);
    }
    // A hint left on a seal that refuses its arguments is cleared too.
    call.set([0, 64, 0, 1, 59, 0, 0, address]);
    expectThrowName(() => h.sealRecord(src), 'RangeError');
    expect(call[7]).toBe(0);
    expectThrowName(() => binding.kvTableAddress({} as never), 'TypeError');
    expectThrowName(() => h.deepFlush(0.5, 1), 'RangeError');
    expectThrowName(() => h.fill(0, 300, 1), 'RangeError');
    expectThrowName(() => h.fill(4000, 0, 97), 'RangeError');
    expectThrowName(() => h.copy(4095, Buffer.alloc(2)), 'RangeError');
    expectThrowName(() => h.copy(0, {} as never), 'TypeError');
    // readInto reads its range from the call block too.
    expectThrowName(withCall([4090, 7], () => h.readInto(Buffer.alloc(8))), 'RangeError');
    expectThrowName(withCall([-1, 1], () => h.readInto(Buffer.alloc(8))), 'RangeError');
    expectThrowName(withCall([0, NaN], () => h.readInto(Buffer.alloc(8))), 'RangeError');
    expectThrowName(withCall([0, 9], () => h.readInto(Buffer.alloc(8))), 'RangeError');
    expectThrowName(withCall([0, 1], () => h.readInto(new Uint16Array(4) as never)), 'TypeError');
    expectThrowName(withCall([0, 1], () => (h.readInto as () => void)()), 'TypeError');
    expectThrowName(() => h.view(0, 0), 'RangeError');
    expectThrowName(() => h.view(1, 4096), 'RangeError');
    expectThrowName(() => binding.mapOpen(path, -5, 0), 'RangeError');
    expectThrowName(() => binding.mapOpen(7 as never, 0, 0), 'TypeError');
    // Create with no size: nothing to map, and no empty file left behind.
    const none = tmpFile('no-size');
    expectPmemError(() => binding.mapOpen(none, 0, binding.mapFlags.create), 'ERR_PMEM_INVALID');
    expect(fs.existsSync(none)).toBe(false);
    h.close();
    call.set([0, 1]);
    expectPmemError(() => h.persist(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => h.sealRecord(), 'ERR_PMEM_CLOSED');
    expectPmemError(() => h.view(0, 1), 'ERR_PMEM_CLOSED');
    expectPmemError(() => h.readInto(Buffer.alloc(1)), 'ERR_PMEM_CLOSED');
  });
});

describe('close', () => {
  test('detaches every view and makes every call ERR_PMEM_CLOSED', () => {
    const m = create(8192);
    const whole = m.buffer;
    const slice = m.view(10, 100);
    m.close();
    expect(m.closed).toBe(true);
    expect(whole.byteLength).toBe(0);
    expect(slice.byteLength).toBe(0);
    expect(whole[0]).toBeUndefined();
    expectThrowName(() => slice.readUInt32LE(0), 'RangeError');
    const calls: Record<string, () => unknown> = {
      buffer: () => m.buffer,
      bytes: () => m.bytes,
      view: () => m.view(0, 1),
      flush: () => m.flush(0, 1),
      drain: () => m.drain(),
      persist: () => m.persist(0, 1),
      sealRecord: () => m.sealRecord(0, 64, 0, true),
      sealRecords: () => m.sealRecords(new Float64Array([0, 64, -1]), 1, 0, true, []),
      sealAndApply: () => m.sealAndApply(0, 64, 0, 128, 8, 8),
      deepFlush: () => m.deepFlush(0, 1),
      copy: () => m.copy(0, Buffer.alloc(1)),
      copyRanges: () => m.copyRanges(0, Buffer.alloc(1), new Uint32Array(2), 1, 2, -1),
      readInto: () => m.readInto(0, 1, Buffer.alloc(1)),
      fill: () => m.fill(0, 0, 1),
      fileSize: () => m.fileSize(),
      load64: () => m.load64(0),
      store64: () => m.store64(0, 1n),
      compareExchange64: () => m.compareExchange64(0, 0n, 1n),
      fetchAdd64: () => m.fetchAdd64(0, 1n),
      populate: () => m.populate(0, 1),
      prefault: () => m.prefault(0, 1),
      prefaultWait: () => m.prefaultWait(),
      release: () => m.release(0, 4096),
      renamed: () => m.renamed('/elsewhere'),
    };
    for (const call of Object.values(calls)) expectPmemError(call, 'ERR_PMEM_CLOSED');
    expect(m.path).not.toBe('/elsewhere');
    // Every method and getter of Mapping is in the list (close and closed
    // are the two that work after close).
    const members = Object.getOwnPropertyNames(Mapping.prototype).filter((n) => !['constructor', 'close', 'closed'].includes(n));
    expect(Object.keys(calls).sort()).toEqual(members.sort());
    m.close();
  });

  test('many open/close cycles of the same file', () => {
    const path = tmpFile('cycles');
    openMapping(path, { size: 4096, create: true }).close();
    for (let i = 0; i < 500; i++) {
      const m = openMapping(path);
      m.buffer[i % 4096] = i & 0xff;
      m.close();
    }
  });
});

describe('read-only mappings', () => {
  test('read the file; stores stay private; persisting is refused', () => {
    const path = tmpFile('ro');
    const w = openMapping(path, { size: 4096, create: true });
    w.copy(0, Buffer.from('original'));
    w.close();
    const r = openMapping(path, { readOnly: true });
    expect(r.readOnly).toBe(true);
    expect(r.buffer.toString('utf8', 0, 8)).toBe('original');
    r.buffer.write('changed!', 0);
    expectPmemError(() => r.persist(0, 8), 'ERR_PMEM_READONLY');
    expectPmemError(() => r.flush(0, 8), 'ERR_PMEM_READONLY');
    expectPmemError(() => r.deepFlush(0, 8), 'ERR_PMEM_READONLY');
    expectPmemError(() => r.copy(0, Buffer.from('x')), 'ERR_PMEM_READONLY');
    expectPmemError(() => r.fill(0, 1, 1), 'ERR_PMEM_READONLY');
    expectPmemError(() => r.sealRecord(0, 64, 0, true), 'ERR_PMEM_READONLY');
    r.close();
    expect(fs.readFileSync(path).toString('utf8', 0, 8)).toBe('original');
  });

  test('a missing file is ERR_PMEM_NOT_FOUND', () => {
    expectPmemError(() => openMapping(tmpFile('ro-missing'), { readOnly: true }), 'ERR_PMEM_NOT_FOUND');
  });

  test('a file with holes reads its data and zeros; a writable open reserves the holes, sparse keeps them', () => {
    const path = tmpFile('ro-holes');
    const fd = fs.openSync(path, 'w');
    fs.writeSync(fd, 'head', 0);
    fs.writeSync(fd, 'middle', 300000);
    fs.writeSync(fd, 'tail', 1048576 + 100);
    fs.closeSync(fd);
    const size = 1048576 + 104;
    expect(fs.statSync(path).blocks * 512).toBeLessThan(size);
    const r = openMapping(path, { readOnly: true });
    expect(r.length).toBe(size);
    const b = r.buffer;
    expect([b.toString('latin1', 0, 4), b.toString('latin1', 300000, 300006), b.toString('latin1', size - 4, size)]).toEqual([
      'head', 'middle', 'tail',
    ]);
    let nonZero = 0;
    for (let i = 0; i < size; i++) if (b[i] !== 0) nonZero++;
    expect(nonZero).toBe(14);
    r.close();
    openMapping(path, { sparse: true }).close();
    expect(fs.statSync(path).blocks * 512).toBeLessThan(size);
    const w = openMapping(path);
    expect(w.buffer.toString('latin1', 300000, 300006)).toBe('middle');
    w.close();
    expect(fs.statSync(path).blocks * 512).toBeGreaterThanOrEqual(size);
  });
});

describe('mappings larger than 4 GiB', () => {
  const size = 6 * 2 ** 30;

  test('are seen through windows; the whole buffer is refused', () => {
    const path = tmpFile('huge');
    const m = openMapping(path, { size, create: true, sparse: true });
    expect(m.length).toBe(size);
    expect(() => m.buffer).toThrow(/use view\(\)/);
    expect(() => m.view(0, 2 ** 30 + 1)).toThrow(RangeError);
    const far = 5 * 2 ** 30 + 12345;
    m.view(far, 5).write('hello');
    m.persist(far, 5);
    // A view that straddles a window stride boundary.
    const edge = 2 ** 31 - 3;
    m.view(edge, 6).write('across');
    m.persist(edge, 6);
    expect(m.view(edge, 6).toString()).toBe('across');
    // The last byte, and the empty view at the end (6 GiB is a whole
    // number of strides: no window starts there).
    m.view(size - 1, 1)[0] = 9;
    m.persist(size - 1, 1);
    expect(m.view(size, 0).length).toBe(0);
    expect(m.view(size - 2 ** 30, 2 ** 30).length).toBe(2 ** 30);
    m.close();
    // sparse: keep the holes (without it the open reserves all 6 GiB).
    const again = openMapping(path, { sparse: true });
    expect(again.view(far, 5).toString()).toBe('hello');
    expect(again.view(edge, 6).toString()).toBe('across');
    expect(again.view(size - 1, 1)[0]).toBe(9);
    again.close();
    fs.rmSync(path);
  });

  test('a sparse file larger than memory and swap opens read-only, and the process still forks', () => {
    // A private writable copy of the whole file, charged in full, would be
    // refused by the kernel's overcommit check at this size (mmap ENOMEM);
    // the private mapping and its hole fills are MAP_NORESERVE. Under
    // overcommit_memory 2 the kernel ignores MAP_NORESERVE, and the open is
    // refused instead.
    const meminfo = fs.readFileSync('/proc/meminfo', 'latin1');
    const kb = (name: string) => Number(new RegExp(`${name}:\\s*(\\d+) kB`).exec(meminfo)![1]);
    const big = Math.ceil(((kb('MemTotal') + kb('SwapTotal')) * 1024) / 2 ** 30 + 1) * 2 ** 30;
    const path = tmpFile('ro-larger-than-memory');
    const fd = fs.openSync(path, 'w');
    fs.writeSync(fd, 'head', 0);
    fs.writeSync(fd, 'tail', big - 4);
    fs.closeSync(fd);
    try {
      if (fs.readFileSync('/proc/sys/vm/overcommit_memory', 'latin1').trim() === '2') {
        expectPmemError(() => openMapping(path, { readOnly: true }), 'ERR_PMEM_NO_MEMORY');
        return;
      }
      const r = openMapping(path, { readOnly: true });
      try {
        expect(r.length).toBe(big);
        expect([r.view(0, 4).toString('latin1'), r.view(big - 4, 4).toString('latin1')]).toEqual(['head', 'tail']);
        expect(r.view(big / 2, 8)).toEqual(Buffer.alloc(8));
        // The private copy takes stores (to this process only).
        r.view(big / 2, 4).write('priv');
        expect(r.view(big / 2, 4).toString('latin1')).toBe('priv');
        const child = spawnSync(process.execPath, ['-e', 'process.exit(5)']);
        expect(child.error).toBeUndefined();
        expect(child.status).toBe(5);
      } finally {
        r.close();
      }
      // Nothing reached the file.
      const back = Buffer.alloc(4, 1);
      const rfd = fs.openSync(path, 'r');
      fs.readSync(rfd, back, 0, 4, big / 2);
      fs.closeSync(rfd);
      expect(back).toEqual(Buffer.alloc(4));
    } finally {
      fs.rmSync(path);
    }
  });
});

// INFO's used_memory takes these off V8's external count (lib/server/memory.ts).
test('mappedViewBytes counts the bytes live views cover, until they are detached at close', () => {
  const file = tmpFile('view-bytes');
  const before = binding.mappedViewBytes();
  const m = openMapping(file, { create: true, size: 1 << 20 });
  try {
    m.bytes.fill(1, 0, 16);
    expect(binding.mappedViewBytes() - before).toBeGreaterThanOrEqual(1 << 20);
  } finally {
    m.close();
  }
  expect(binding.mappedViewBytes()).toBe(before);
  fs.rmSync(file);
});
