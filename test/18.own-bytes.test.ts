// A value that is a view of the structure's own region: a caller who holds
// the Mapping (or the CrashSim) a structure lives on can pass bytes of it,
// free space the write is about to cover among them. Each write must store
// the bytes the view held when the call was made, not bytes its own header
// (or a move) wrote over them first.
import * as fs from 'node:fs';

import { AppendList, KVStore, type Mapping, openMapping, type Region, SharedAppendList, Superblock, TxLog, Wal } from '../lib';
import { CrashSim } from '../lib/testing';
import { tmpFile } from './helpers';

const SIZE = 1 << 20;
const marker = (i: number): Buffer => Buffer.from(`own-bytes-marker-${String(i).padStart(8, '0')}`);

/** Bytes of the region from `at`, filled with a pattern no structure writes, as a caller's view of them. */
function patterned(region: Region, at: number, length: number): Buffer {
  const view = region.bytes.subarray(at, at + length);
  for (let i = 0; i < length; i++) view[i] = (i * 7 + 0x41) & 0xff;
  return view;
}

/** Where `m` ends in the region's bytes (searched from `from`). */
function after(region: Region, m: Buffer, from = 0): number {
  const at = region.bytes.indexOf(m, from);
  expect(at).toBeGreaterThanOrEqual(from);
  return at + m.length;
}

const regions: Array<[string, () => { region: Region; done: () => void }]> = [
  ['a CrashSim', () => ({ region: new CrashSim(SIZE), done: () => {} })],
  [
    'a Mapping',
    () => {
      const file = tmpFile('own-bytes');
      const m: Mapping = openMapping(file, { size: SIZE, create: true });
      return { region: m, done: () => { m.close(); fs.rmSync(file, { force: true }); } };
    },
  ],
];

describe.each(regions)('on %s, a write whose source is the free space it covers stores the source as it was', (_name, make) => {
  let r: { region: Region; done: () => void };
  beforeEach(() => { r = make(); });
  afterEach(() => r.done());

  test('KVStore.openRegion: put of a value, and of a key given as bytes; batch', () => {
    const db = KVStore.openRegion(r.region, { create: true, segmentSize: 64 * 1024 });
    db.put('a', marker(1));
    const value = patterned(r.region, after(r.region, marker(1)), 300);
    const expected = Buffer.from(value);
    db.put('k', value);
    expect(db.get('k')).toEqual(expected);

    db.put('b', marker(2));
    const key = patterned(r.region, after(r.region, marker(2)), 40);
    const keyBytes = Buffer.from(key);
    db.put(key, 'v');
    expect(db.get(keyBytes)?.toString()).toBe('v');

    db.put('c', marker(3));
    const inBatch = patterned(r.region, after(r.region, marker(3)), 200);
    const batchExpected = Buffer.from(inBatch);
    db.batch([{ type: 'put', key: 'x', value: 'small' }, { type: 'put', key: 'y', value: inBatch }]);
    expect(db.get('y')).toEqual(batchExpected);
    db.close();
  });

  test('Wal.append and Wal.appendBatch', () => {
    const wal = Wal.format(r.region, { offset: 0 });
    wal.append(marker(4));
    const one = patterned(r.region, after(r.region, marker(4)), 300);
    const oneExpected = Buffer.from(one);
    const lsn = wal.append(one);
    wal.append(marker(5));
    const two = patterned(r.region, after(r.region, marker(5)), 300);
    const twoExpected = Buffer.from(two);
    const [first, second] = wal.appendBatch(['head', two]);
    const read = new Map([...wal.read()].map((e) => [e.lsn, Buffer.from(e.data)]));
    expect(read.get(lsn)).toEqual(oneExpected);
    expect(read.get(first)?.toString()).toBe('head');
    expect(read.get(second)).toEqual(twoExpected);
    wal.close();
  });

  test('AppendList and SharedAppendList', () => {
    const list = AppendList.format(r.region, 0);
    list.append(marker(6));
    const value = patterned(r.region, after(r.region, marker(6)), 300);
    const expected = Buffer.from(value);
    list.append(value);
    expect(list.toArray()[1]).toEqual(expected);

    const shared = SharedAppendList.format(r.region, SIZE / 2);
    shared.append(marker(7));
    const sv = patterned(r.region, after(r.region, marker(7), SIZE / 2), 300);
    const sExpected = Buffer.from(sv);
    shared.append(sv);
    expect(shared.toArray()[1]).toEqual(sExpected);
  });

  test('Superblock.write of the replica it writes next', () => {
    const sb = Superblock.format(r.region, { offset: 0, capacity: 512 });
    // Writes alternate between the replicas: the fourth goes where the
    // second went, replica 1 (replica 0's header holds the capacity, which
    // the pattern below must not cover).
    sb.write(Buffer.from('first'));
    sb.write(marker(8));
    sb.write(Buffer.from('other'));
    const payload = patterned(r.region, after(r.region, marker(8)) - marker(8).length - Superblock.HEADER, 200);
    const expected = Buffer.from(payload);
    sb.write(payload);
    expect(sb.read()).toEqual(expected);
    expect(Superblock.open(r.region, { offset: 0, capacity: 512 }).read()).toEqual(expected);
  });

  test('TxLog.run (a staged write) and TxLog.undoUpdate, from the slot they log into', () => {
    const OFFSET = 64 * 1024;
    const log = TxLog.format(r.region, { offset: OFFSET, size: 8192 });
    const target = 4096;
    log.run((tx) => tx.write(target, marker(9))); // seq 1; seq 3 logs into the same slot
    log.run((tx) => tx.write(target + 512, Buffer.from('seq two')));
    const inSlot = after(r.region, marker(9), OFFSET) - marker(9).length;
    let expected = Buffer.alloc(0);
    log.run((tx) => {
      const view = patterned(r.region, inSlot - 64, 160);
      expected = Buffer.from(view);
      tx.write(target, view);
    });
    expect(r.region.bytes.subarray(target, target + 160)).toEqual(expected);

    // undoUpdate logs the old bytes into its slot before it copies the update.
    log.run((tx) => tx.write(target + 1024, marker(10))); // seq 4
    log.undoUpdate(target + 1024, Buffer.alloc(marker(10).length, 0x2e)); // seq 5 logs marker(10), the old bytes
    log.run((tx) => tx.write(target + 2048, Buffer.from('seq six')));
    const undoSlot = r.region.bytes.lastIndexOf(marker(10), OFFSET + 8192);
    expect(undoSlot).toBeGreaterThan(OFFSET);
    const view = patterned(r.region, undoSlot - 64, 160);
    const undoExpected = Buffer.from(view);
    log.undoUpdate(target + 3072, view); // seq 7, the slot of seq 5
    expect(r.region.bytes.subarray(target + 3072, target + 3072 + 160)).toEqual(undoExpected);
  });
});
