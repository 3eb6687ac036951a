// pmem serve with replicas on a store it cannot serve: a store that
// follows another journal, opened without it (so a new journal would be
// made beside it), and another application's KVStore. The refusal leaves
// no journal file behind, an empty one it found empty again, and the store
// byte for byte as it was: through openServer, and through
// `pmem serve --replica` (exit 4, and 3 for a foreign store).
import * as fs from 'node:fs';

import { KVStore, openServer, startStoreReplica } from '../lib';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { expectBuilt, fails, pmem } from './cli-helpers';
import { testFiles } from './replicate-helpers';

const file = testFiles(['.journal']);
// Nothing listens on port 1: the journal never reaches a backup.
const NOBODY = '127.0.0.1:1';

beforeAll(() => expectBuilt(['server/open', 'replicated/committer', 'replicate/primary']));

/** What openServer rejects with, or null when it opened. */
async function refused(options: Parameters<typeof openServer>[0]): Promise<(Error & { code?: string }) | null> {
  return openServer(options).then(async (s) => { await s.close(); return null; }, (e: unknown) => e as Error & { code?: string });
}

test('a store of another journal, opened without it: refused, and no journal is left beside it', async () => {
  const backupStore = file('leftover-backup.kv');
  const b = await startStoreReplica({ store: backupStore, port: 0, create: true, size: 1 << 20, segmentSize: 64 * 1024, journalSize: 1 << 20 });
  const f = file('leftover.kv');
  const own = file('leftover-own.journal');
  const s = await openServer({ file: f, size: 9 << 20, journal: own, replicas: [`127.0.0.1:${b.port}`], journalSize: 1 << 20 });
  const port = await s.listen(0, '127.0.0.1');
  const c = new RawClient(port);
  await c.ready;
  c.send(frame('SET', 'k', 'v'));
  expect(text(await c.read())).toBe('OK');
  c.close();
  await s.close();
  await b.close();
  const before = fs.readFileSync(f);

  const err = await refused({ file: f, replicas: [NOBODY], journalSize: 1 << 20 });
  expect(err).toMatchObject({ code: 'ERR_PMEM_CORRUPT', message: expect.stringMatching(/do not belong together/) });
  expect(fs.existsSync(`${f}.journal`)).toBe(false);
  // An empty file at the journal's path is formatted by the open, and emptied again.
  fs.writeFileSync(`${f}.journal`, '');
  expect(await refused({ file: f, replicas: [NOBODY], journalSize: 1 << 20 })).toMatchObject({ code: 'ERR_PMEM_CORRUPT' });
  expect(fs.statSync(`${f}.journal`).size).toBe(0);
  fs.rmSync(`${f}.journal`);

  fails(pmem(['serve', '--port', '0', '--file', f, '--replica', NOBODY]), 4, 'do not belong together');
  expect(fs.existsSync(`${f}.journal`)).toBe(false);
  expect(fs.readFileSync(f).equals(before)).toBe(true);
  // Its own journal still serves it.
  const again = await openServer({ file: f, journal: own, replicas: [NOBODY], replicaTimeoutMs: 100 });
  expect(again.store.count).toBeGreaterThan(0);
  await again.close();
});

test("another application's KVStore: refused, and no journal is left beside it", async () => {
  const f = file('leftover-foreign.kv');
  const kv = KVStore.open(f, { create: true, size: 16 << 20 });
  kv.put('xylophone', 'v');
  kv.close();
  const before = fs.readFileSync(f);
  expect(await refused({ file: f, replicas: [NOBODY], journalSize: 1 << 20 })).toMatchObject({ code: 'ERR_PMEM_NOT_A_STORE' });
  expect(fs.existsSync(`${f}.journal`)).toBe(false);
  fails(pmem(['serve', '--port', '0', '--file', f, '--replica', NOBODY]), 3, 'pmem serve did not write');
  expect(fs.existsSync(`${f}.journal`)).toBe(false);
  expect(fs.readFileSync(f).equals(before)).toBe(true);
});
