// What KVStore's hot calls allocate once warm, measured in a plain Node
// process over the built package (test/fixtures/kv/alloc.js), where the
// optimizing compiler sees the code as users run it: getInto on a writer
// and on a reader allocates nothing; a put with a Buffer key, a delete, and
// a reader's replay of each record next to nothing. Bytes, not time: the
// machine's speed and load do not change them. The optimizing compiler runs
// on the main thread (no concurrent recompilation or OSR), so the code is
// optimized after as many calls on a loaded machine as on an idle one.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { tmpFile } from './helpers';

test('getInto, put, delete and a reader\'s catch-up leave (next to) no garbage', () => {
  const script = path.join(__dirname, 'fixtures', 'kv', 'alloc.js');
  const dist = path.join(__dirname, '..', 'dist');
  const out = JSON.parse(execFileSync(process.execPath, ['--no-concurrent-recompilation', '--no-concurrent-osr', script, dist, tmpFile('kv-alloc')], { encoding: 'utf8' })) as Record<string, number>;
  expect(Object.keys(out).sort()).toEqual(['catchUpPerRecord', 'deleteThenPut', 'getIntoBytes', 'getIntoString', 'putBytesKey', 'readerGetInto']);
  // What they were: a view of the value per getInto (about 96 B); the key's
  // hash, a uint32 passed uninlined, a heap number every other put by bytes
  // (8–14 B); a delete's one-entry array and entry (about 120 B); and per
  // replayed record the checksum and the hash as heap numbers (about 16 B).
  expect(out.getIntoString).toBeLessThan(1);
  expect(out.getIntoBytes).toBeLessThan(1);
  expect(out.readerGetInto).toBeLessThan(1);
  expect(out.putBytesKey).toBeLessThan(2);
  expect(out.deleteThenPut).toBeLessThan(4);
  expect(out.catchUpPerRecord).toBeLessThan(4);
});
