// A backup's store on a full filesystem, promoted: the journal holds
// acknowledged records the store has not applied (the primary died before
// announcing them committed), and the promotion cannot apply them. It must
// say so, never report the store complete; the records stay in the journal,
// and the promoted store takes them once it has room and is opened with
// its journal. Runs on a small tmpfs this file mounts (as root); skipped,
// saying why, otherwise.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { KVStore, ReplicatedStore, startStoreReplica } from '../lib';
import { fillFilesystem, mountTmpfs, tmpFile, unmount } from './helpers';

const full = mountTmpfs('8m', 'a backup store on a full filesystem');
const onFull = full === null ? test.skip : test;

const cleanup: string[] = [];
afterAll(() => {
  for (const f of cleanup) for (const p of [f, `${f}.journal`]) fs.rmSync(p, { force: true });
  unmount(full);
});

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

onFull('promote() on a full filesystem throws ERR_PMEM_NO_SPACE once the journal is promoted; the records reach the store later', async () => {
  const store = path.join(full!, 'b.kv');
  const journal = `${store}.journal`;
  const primary = tmpFile('a.kv');
  cleanup.push(primary);
  const small = { segmentSize: 16 * 1024, journalSize: 1 << 20 };
  const b = await startStoreReplica({ store, port: 0, create: true, size: 64 * 1024, ...small, log: () => {} });
  fillFilesystem(path.join(full!, 'filler'));
  const db = await ReplicatedStore.open(primary, { replicas: [`127.0.0.1:${b.port}`], create: true, size: 1 << 20, maxSize: 64 << 20, ...small });
  const value = Buffer.alloc(2000, 7);
  const acked: string[] = [];
  for (let i = 0; i < 100; i++) {
    await db.put(`k${i}`, value);
    acked.push(`k${i}`);
  }
  await db.close();
  // The backup's store stopped when it had no room for the next segment.
  await until(() => b.error !== null);
  expect(b.error?.code).toBe('ERR_PMEM_NO_SPACE');
  await b.close();

  // Started again, as pmem replica promote --store does: it knows of no
  // commit point, so it has applied nothing more; the promotion applies all.
  const b2 = await startStoreReplica({ store, journal, port: 0, log: () => {} });
  let thrown: unknown;
  let applied = 0;
  let last = 0;
  let epoch = 0;
  try {
    applied = b2.appliedLsn;
    last = b2.lastDurableLsn;
    try {
      b2.promote();
    } catch (e) {
      thrown = e;
    }
    epoch = b2.epoch;
  } finally {
    await b2.close();
  }
  expect(applied).toBeLessThan(last);
  expect(epoch).toBe(2);
  expect(thrown).toMatchObject({ code: 'ERR_PMEM_NO_SPACE' });
  expect((thrown as Error).message).toContain(`is promoted (epoch 2)`);
  expect((thrown as Error).message).toContain(`up to LSN ${applied} of ${last}`);

  // With room, the promoted store opened with its journal (the old primary
  // back as its backup) applies the rest: every acknowledged write is there.
  fs.rmSync(path.join(full!, 'filler'));
  const a = await startStoreReplica({ store: primary, port: 0, log: () => {} });
  try {
    const db2 = await ReplicatedStore.open(store, { replicas: [`127.0.0.1:${a.port}`], maxSize: 64 << 20 });
    try {
      expect(acked.filter((k) => !db2.has(k))).toEqual([]);
    } finally {
      await db2.close();
    }
  } finally {
    await a.close();
  }
  const s = KVStore.open(store, { readOnly: true });
  expect(acked.filter((k) => !s.has(k))).toEqual([]);
  s.close();
});
