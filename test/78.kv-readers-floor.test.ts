// Readers beside a writer that opens a store whose previous writer died
// between a new segment's header and the sequence floor (lib/kv/log-open.ts,
// openSegment). The header carries a number above the floor; the next
// writer's recovery takes that segment as its newest and publishes a tail in
// it. A reader takes the full number of a tail from the floor (follow.ts,
// #stopAt), loaded after the tail: with the floor one below the tail's
// number it took the tail for one 2^32 - 1 segments behind it, and followed
// nothing the writer appended there (puts that had returned read stale), and
// a reader that opened then stopped its scan before every segment (an empty
// index). Seen in test/79 as stale reads after a writer kill.
import * as fs from 'node:fs';

import { KVStore, openMapping } from '../lib';
import { DATA_START, SEGMENT_HEADER_BYTES, SEQ_FLOOR_AT } from '../lib/kv/format';
import { readWord } from '../lib/kv/published';
import { faulty } from './faults';
import { tmpFile } from './helpers';

const SEG = 1024;

class Killed extends Error {}

/**
 * A writer over `file` that dies (throws Killed, its mapping unmapped, no
 * close) at the flush of the first segment header it writes: after the
 * header, before openSegment stores the floor.
 */
function writerKilledInOpenSegment(file: string): { floor: number; header: number } {
  const m = openMapping(file);
  let armed = false;
  const region = faulty(m, {
    flush(offset, length) {
      if (armed && offset >= DATA_START && length === SEGMENT_HEADER_BYTES) throw new Killed();
      return [offset, length];
    },
  });
  const w = KVStore.openRegion(region, { segmentSize: SEG });
  try {
    armed = true;
    for (let i = 0; i < 100; i++) w.put(`dying${i}`, 'x'.repeat(100));
    throw new Error('no segment was opened');
  } catch (e) {
    if (!(e instanceof Killed)) throw e;
    const floor = readWord(m.bytes, SEQ_FLOOR_AT);
    let header = 0;
    for (let at = DATA_START; at + SEG <= m.length; at += SEG) header = Math.max(header, readWord(m.bytes, at + 8));
    return { floor, header };
  } finally {
    m.close(); // the process is gone: no close(), no end mark
  }
}

test('a writer that resumes after a death inside openSegment: readers follow its puts, and a reader opened then sees every key', () => {
  const file = tmpFile('floor.kv');
  const db = KVStore.open(file, { create: true, size: 64 * 1024, segmentSize: SEG });
  for (let i = 0; i < 20; i++) db.put(`k${i}`, `old${i}`);
  db.close();
  const reader = KVStore.open(file, { readOnly: true });
  try {
    expect(reader.get('k0')?.toString()).toBe('old0');

    // The image a SIGKILL leaves there: a valid header one above the floor.
    const { floor, header } = writerKilledInOpenSegment(file);
    expect(header).toBe(floor + 1);

    const w = KVStore.open(file);
    try {
      for (let i = 0; i < 5; i++) w.put(`k${i}`, `new${i}`);
      // Its puts go to the segment the dead writer opened; they returned.
      for (let i = 0; i < 5; i++) expect([i, reader.get(`k${i}`)?.toString()]).toEqual([i, `new${i}`]);
      expect(reader.count).toBe(w.count);

      // A reader that opens beside it builds its index up to its tail.
      const late = KVStore.open(file, { readOnly: true });
      try {
        expect(late.count).toBe(w.count);
        for (let i = 0; i < 20; i++) expect([i, late.get(`k${i}`)?.toString()]).toEqual([i, i < 5 ? `new${i}` : `old${i}`]);
      } finally {
        late.close();
      }
      // The floor covers the number the tail names, from the open on.
      const b = fs.readFileSync(file);
      expect(readWord(b, SEQ_FLOOR_AT)).toBeGreaterThanOrEqual(header);
    } finally {
      w.close();
    }
  } finally {
    reader.close();
    fs.rmSync(file, { force: true });
  }
});
