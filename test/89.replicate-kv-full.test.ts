// A backup's store without room. On a full filesystem, promoted: the
// journal holds acknowledged records the store has not applied (the
// primary died before announcing them committed), and the promotion cannot
// apply them. It must say so, never report the store complete; the records
// stay in the journal, and the promoted store takes them once it has room
// and is opened with its journal. Live: a store that found no room follows
// the journal again once the filesystem has room, without a restart; and a
// store with its primary's maxSize keeps up with it under a steady set of
// live keys. The filesystem cases run on a small tmpfs this file mounts (as
// root); skipped, saying why, otherwise.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { KVStore, ReplicatedStore, startStoreReplica } from '../lib';
import { readApplied } from '../lib/replicated/applied';
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

onFull('a backup whose store found no room follows the journal again once the filesystem has room, without a restart', async () => {
  const store = path.join(full!, 'c.kv');
  const filler = path.join(full!, 'filler');
  const primary = tmpFile('a.kv');
  cleanup.push(store, primary);
  const small = { segmentSize: 16 * 1024, journalSize: 1 << 20 };
  const lines: string[] = [];
  const b = await startStoreReplica({ store, port: 0, create: true, size: 64 * 1024, ...small, log: (l) => lines.push(l) });
  fillFilesystem(filler);
  const db = await ReplicatedStore.open(primary, { replicas: [`127.0.0.1:${b.port}`], create: true, size: 1 << 20, maxSize: 64 << 20, ...small });
  try {
    // 50 keys written over and over, each write with a value of its own:
    // a record skipped, applied twice or out of order leaves a key holding
    // another write's value.
    const last = new Map<string, Buffer>();
    let n = 0;
    const write = async (): Promise<void> => {
      const key = `k${n % 50}`;
      const value = Buffer.alloc(2000 + (n % 7), n % 251);
      n++;
      await db.put(key, value);
      last.set(key, value);
    };
    while (n < 100) await write();
    await until(() => b.error !== null);
    expect(b.error?.code).toBe('ERR_PMEM_NO_SPACE');
    const stalled = b.appliedLsn;
    expect(stalled).toBeLessThan(db.appliedLsn - 1);

    // Room again: the writes go on, and the store takes every record it
    // lacked, in order, with no restart.
    fs.rmSync(filler);
    while (n < 200) await write();
    const target = db.appliedLsn;
    await db.put('end', 'x'); // its frame announces the commit of `target`
    await until(() => b.appliedLsn >= target, 60_000);
    expect(b.error).toBeNull();
    // Said once when it stopped, and once when it went on.
    expect(lines.filter((l) => /^the store stopped following the journal at LSN \d+: ERR_PMEM_NO_SPACE/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('follows the journal again'))).toHaveLength(1);
    expect(b.lastDurableLsn).toBeGreaterThanOrEqual(target);
    const wrong = [...last].filter(([k, v]) => !b.store.get(k)?.equals(v)).map(([k]) => k);
    expect(wrong).toEqual([]);
  } finally {
    await db.close();
    await b.close();
  }
  const s = KVStore.open(store, { readOnly: true });
  try {
    const p = KVStore.open(primary, { readOnly: true });
    try {
      expect(readApplied(s)).toBe(readApplied(p));
      for (let i = 0; i < 50; i++) expect(s.get(`k${i}`)).toEqual(p.get(`k${i}`));
    } finally {
      p.close();
    }
  } finally {
    s.close();
  }
});

test('a backup\'s store with its primary\'s maxSize keeps up under a steady set of live keys (records applied one at a time when together they find no room)', async () => {
  const store = tmpFile('b.kv');
  const primary = tmpFile('a.kv');
  cleanup.push(store, primary);
  // Both stores at most 256 KiB, holding 60 live values of 2000 bytes:
  // each put is followed by the delete of the key written 60 puts before.
  const small = { segmentSize: 16 * 1024, journalSize: 1 << 20, size: 64 * 1024, maxSize: 256 * 1024 };
  // The store applies only when the journal frees records (at half full)
  // and at close, never from its poll: hundreds of records at once, more
  // than the store holds as one batch.
  const b = await startStoreReplica({ store, port: 0, create: true, ...small, pollMs: 2 ** 31 - 1, log: () => {} });
  const db = await ReplicatedStore.open(primary, { replicas: [`127.0.0.1:${b.port}`], create: true, ...small });
  let frees = 0;
  try {
    for (let i = 0; i < 600; i++) {
      const before = b.appliedLsn;
      await db.batch([{ type: 'put', key: `k${i}`, value: Buffer.alloc(2000, i % 251) }, ...(i >= 60 ? [{ type: 'del' as const, key: `k${i - 60}` }] : [])]);
      if (b.appliedLsn !== before) frees++;
    }
    expect(b.error).toBeNull();
  } finally {
    await db.close();
    await b.close();
  }
  // The journal (1 MiB) took 1.2 MB of records: it freed some, and the store applied them first.
  expect(frees).toBeGreaterThan(0);
  const s = KVStore.open(store, { readOnly: true });
  const p = KVStore.open(primary, { readOnly: true });
  try {
    expect(readApplied(s)).toBe(readApplied(p));
    expect(s.count).toBe(p.count);
    for (let i = 0; i < 600; i++) expect(s.get(`k${i}`)).toEqual(p.get(`k${i}`));
  } finally {
    s.close();
    p.close();
  }
});
