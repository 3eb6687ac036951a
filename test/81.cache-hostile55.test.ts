// TieredCache against a hostile caller, continued: a cache that lives long
// enough for its hotness scores to be rescaled.
import { TieredCache } from '../lib';
import { CrashSim } from '../lib/testing';

describe('TieredCache hotness, hostile', () => {
  test('the access that rescales every score counts once, not 2^512 times: the entry it touches is not pinned in DRAM', () => {
    // With a half-life of 2 accesses the scores are rescaled near the
    // 1,024th access; each run puts the DRAM hit of 'a' at another access
    // around it, and then 'b', asked for 40 times, must take a's place.
    for (let at = 1010; at < 1040; at++) {
      const c = new TieredCache({ region: new CrashSim(64 + 256 * 64), halfLife: 2, dramEntries: 1 });
      c.set('a', Buffer.from('a'));
      for (let i = 1; i < at; i++) c.get(`miss${i}`);
      expect(c.get('a')).toEqual(Buffer.from('a'));
      for (let i = 0; i < 40; i++) if (c.get('b') === undefined) c.set('b', Buffer.from('b'));
      const s = c.stats();
      expect([at, s.promotions, s.rejected]).toEqual([at, 1, 1]);
      expect([at, s.hits.dram]).toEqual([at, 1 + 38]);
      c.close();
    }
  });
});
