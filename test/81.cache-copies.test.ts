// TieredCache: what reads hand out and what reaches PMem. A Buffer a read
// returned is DRAM's own copy, and a change to it never reaches PMem (a
// write-back entry's dirty bytes are apart from it); a json value in DRAM is
// the value parsed back from the bytes set wrote, so a DRAM hit gives what a
// PMem hit and the next open give, and a change to the object that was set
// reaches no read.
import { TieredCache, type WriteMode } from '../lib';
import { tmpFile } from './helpers';

const small = { pmemBytes: 1 << 20, dramEntries: 16 };
const MODES: WriteMode[] = ['write-back', 'write-through'];

describe.each(MODES)('TieredCache, %s', (writeMode) => {
  test('a change to a Buffer a read returned never reaches PMem', () => {
    const file = tmpFile(`copy-dram-${writeMode}.cache`);
    const c = new TieredCache<Buffer>({ file, ...small, writeMode });
    c.set('k', Buffer.from('hello'));
    expect(c.stats().dram.entries).toBe(1); // the reads below are DRAM hits
    const got = c.get('k')!;
    expect(c.get('k')).toBe(got); // DRAM's own copy, as lru-cache returns what was set
    got.write('J');
    c.peek('k')!.write('P', 1);
    for (const [, v] of c) v.write('I', 2);
    c.forEach((v) => v.write('F', 3));
    c.flush();
    c.close();
    const again = new TieredCache<Buffer>({ file });
    expect(again.get('k')!.toString()).toBe('hello');
    again.close();
  });

  test('a change to a Buffer promoted from PMem never reaches PMem', () => {
    const file = tmpFile(`copy-pmem-${writeMode}.cache`);
    const c = new TieredCache<Buffer>({ file, ...small, writeMode });
    c.set('k', Buffer.from('hello'));
    c.close();
    const again = new TieredCache<Buffer>({ file, ...small, writeMode, preload: 0 });
    expect(again.stats().dram.entries).toBe(0);
    again.get('k')!.write('J'); // a PMem hit, promoted
    expect(again.stats().promotions).toBe(1);
    again.close();
    const third = new TieredCache<Buffer>({ file });
    expect(third.get('k')!.toString()).toBe('hello');
    third.close();
  });

  test('a json value in DRAM is what PMem gives back: the object set is read once, as JSON', () => {
    const file = tmpFile(`copy-json-${writeMode}.cache`);
    const c = new TieredCache<Record<string, unknown>>({ file, ...small, writeMode, encoding: 'json' });
    const value: Record<string, unknown> = { n: 1, when: new Date(0), nan: NaN, gone: undefined };
    c.set('k', value);
    value.n = 2;
    const expected = { n: 1, when: '1970-01-01T00:00:00.000Z', nan: null };
    expect(c.stats().dram.entries).toBe(1);
    expect(c.get('k')).toEqual(expected);
    expect(c.get('k')).not.toBe(value);
    expect(c.peek('k')).toEqual(expected);
    c.close();
    const again = new TieredCache<Record<string, unknown>>({ file });
    expect(again.get('k')).toEqual(expected);
    again.close();
  });

  test('a json value replaced by set is read once too', () => {
    const file = tmpFile(`copy-json-update-${writeMode}.cache`);
    const c = new TieredCache<number[]>({ file, ...small, writeMode, encoding: 'json' });
    c.set('k', [1]);
    const next = [2];
    c.set('k', next); // the update of an entry DRAM holds
    next.push(3);
    expect(c.get('k')).toEqual([2]);
    c.close();
  });
});
