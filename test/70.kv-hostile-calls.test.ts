// KVStore's calls made as a hostile program makes them: arguments whose
// getters, Proxy traps or `length` run code of their own in the middle of a
// call, and write to the store, compact it or change the bytes given.
import { KVStore } from '../lib';
import { tmpFile } from './helpers';

const SIZE = 1 << 20;
const SEG = 16 * 1024;

describe('batch: what its ops say is what it writes, whatever their getters do', () => {
  let path: string;
  let db: KVStore;
  beforeEach(() => {
    path = tmpFile('hostile.kv');
    db = KVStore.open(path, { create: true, size: SIZE, segmentSize: SEG });
  });
  afterEach(() => db.close());

  test('a del of a key a later op\'s getter puts deletes it: the batch is the last word', () => {
    db.batch([
      { type: 'del', key: 'y' },
      {
        type: 'put',
        get key() {
          db.put('y', 'written by a getter');
          return 'k';
        },
        value: 'v',
      },
    ]);
    expect(db.has('y')).toBe(false);
    expect(db.getString('k')).toBe('v');
    expect(db.count).toBe(1);
    db.close();
    db = KVStore.open(path);
    expect(db.has('y')).toBe(false);
    expect(db.count).toBe(1);
  });

  test('a del of a key a later op\'s getter deletes writes no tombstone: count, stats and a scan agree', () => {
    // The same writes without the batch, for the bytes they leave.
    const control = KVStore.open(tmpFile('control.kv'), { create: true, size: SIZE, segmentSize: SEG });
    control.put('x', '1');
    control.delete('x');
    const expected = control.stats().deadBytes;
    control.close();
    db.put('x', '1');
    db.batch([
      { type: 'del', key: 'x' },
      {
        type: 'del',
        get key() {
          db.delete('x');
          return 'absent';
        },
      },
    ]);
    expect(db.has('x')).toBe(false);
    expect(db.count).toBe(0);
    expect([...db.keys()]).toEqual([]);
    // Only the getter's own tombstone: the batch wrote no record.
    expect(db.stats().deadBytes).toBe(expected);
  });
});

describe('batch: a value is written as it was when its op was read', () => {
  test('bytes a later op\'s getter overwrites are written as they were read, before and after a reopen', () => {
    const path = tmpFile('hostile.kv');
    const db = KVStore.open(path, { create: true, size: SIZE, segmentSize: SEG });
    const v = Buffer.from('original');
    const u = new Uint8Array(new ArrayBuffer(16), 4, 8);
    u.set(Buffer.from('at an offset'.slice(0, 8)));
    db.batch([
      { type: 'put', key: 'a', value: v },
      { type: 'put', key: 'u', value: u },
      {
        type: 'put',
        get key() {
          v.fill(0x58);
          u.fill(0x59);
          return 'b';
        },
        value: 'x',
      },
    ]);
    expect(db.getString('a')).toBe('original');
    expect(db.getString('u')).toBe('at an of');
    db.close();
    const again = KVStore.open(path);
    expect(again.getString('a')).toBe('original');
    expect(again.getString('u')).toBe('at an of');
    again.close();
  });
});
