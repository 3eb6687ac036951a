// TieredCache against a hostile caller: keys and values that have no
// faithful UTF-8 form, options that answer differently each time they are
// read, bounds that would allocate without limit, values changed after
// they were set, and files whose records pass their checksum but cannot be
// what the cache wrote.
import { TieredCache } from '../lib';
import { CrashSim } from '../lib/testing';
import { expectThrowName, tmpFile } from './helpers';

describe('TieredCache, hostile input', () => {
  test('a key or utf8 value with a lone surrogate is refused: its UTF-8 bytes would read back as U+FFFD, another key', () => {
    const file = tmpFile('surrogate.cache');
    let c = new TieredCache<string>({ file, pmemBytes: 1 << 16, encoding: 'utf8', writeMode: 'write-through' });
    for (const key of ['\uD800', 'a\uDBFFb', '\uDC00', 'x\uDFFF']) {
      expectThrowName(() => c.set(key, 'v'), 'TypeError');
      expectThrowName(() => c.get(key), 'TypeError');
      expectThrowName(() => c.has(key), 'TypeError');
      expectThrowName(() => c.delete(key), 'TypeError');
    }
    expectThrowName(() => c.set('k', 'a\uD800'), 'TypeError');
    // A well-formed pair is one character, and comes back as it went in.
    c.set('\uD83D\uDE00', 'v\uD83D\uDE00');
    c.set('\uFFFD', 'replacement');
    c.close();
    c = new TieredCache<string>({ file, encoding: 'utf8' });
    expect(c.get('\uD83D\uDE00')).toBe('v\uD83D\uDE00');
    expect(c.get('\uFFFD')).toBe('replacement');
    expect(c.size).toBe(2);
    c.close();
  });
});
