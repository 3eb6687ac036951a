// pmem serve's batches and the young generation: a committed batch's
// values die young. The keyspace's pending map is replaced at each commit,
// not cleared, since a cleared V8 table stays linked to its successor: one
// table that reached the old generation kept every later batch's values
// alive through young collections, so under load every SET's value was
// promoted and collected only by a full collection.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { tmpFile } from './helpers';

test('batches committed between young collections leave (almost) nothing in the old generation, after one that was pending across two', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'serve', 'young-batches.js'), tmpFile('young-batches.kv'), '1000'], {
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const { sets, grown, majors } = JSON.parse(r.stdout) as { sets: number; grown: number; majors: number };
  expect(sets).toBe(50000);
  // A full collection would have taken the promoted values away again.
  expect(majors).toBe(0);
  // With Map.clear() the old generation grew by 2.5 MB over these SETs,
  // 50 bytes a SET; with a new map, by 92–95 KB (under 2 bytes a SET).
  expect(grown).toBeLessThan(10 * sets);
});
