// ReplicatedStore and startStoreReplica, over TCP on 127.0.0.1: a write is
// acknowledged only once the backup persisted its journal record, and only
// then applied to the primary's store; the backup's store follows the
// journal; a reopen commits and applies the journal's unacknowledged tail;
// a crash between the commit and the apply is repaired from the journal;
// failover opens the promoted backup's store as the new primary, and the
// old primary is fenced off; every argument error.
import * as fs from 'node:fs';
import * as net from 'node:net';

import { KVStore, ReplicatedStore, ReplicatedWal, startStoreReplica, type StoreReplicaHandle } from '../lib';
import { APPLIED_KEY } from '../lib/replicated/applied';
import { encodeOps } from '../lib/replicated/ops';
import { tmpFile } from './helpers';

const SMALL = { size: 1 << 20, segmentSize: 64 * 1024, journalSize: 1 << 20 };

async function rejection(p: Promise<unknown>): Promise<{ name: string; code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { name: string; code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

/** A server that takes connections and never answers: a backup that never acknowledges. */
async function silentServer(port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.resume();
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

function backupFiles(): { store: string; journal: string } {
  const store = tmpFile('backup.kv');
  return { store, journal: `${store}.journal` };
}

const cleanup: string[] = [];
afterAll(() => {
  for (const f of cleanup) for (const p of [f, `${f}.journal`]) fs.rmSync(p, { force: true });
});
function file(name: string): string {
  const f = tmpFile(name);
  cleanup.push(f);
  return f;
}

async function startBackup(port = 0, journalSize = SMALL.journalSize): Promise<{ handle: StoreReplicaHandle; store: string; journal: string }> {
  const b = backupFiles();
  cleanup.push(b.store);
  const handle = await startStoreReplica({ store: b.store, port, create: true, ...SMALL, journalSize });
  return { handle, ...b };
}

test('writes are acknowledged once the backup persisted them, applied here, and applied to the backup store', async () => {
  const b = await startBackup();
  const db = await ReplicatedStore.open(file('primary.kv'), { replicas: [`127.0.0.1:${b.handle.port}`], create: true, ...SMALL });
  const l1 = await db.put('a', '1');
  const l2 = await db.batch([{ type: 'put', key: 'b', value: Buffer.from('2') }, { type: 'put', key: 'c', value: '3' }, { type: 'del', key: 'a' }]);
  // Many writes in flight share rounds (one journal round trip, one store batch each).
  const lsns = await Promise.all(Array.from({ length: 50 }, (_, i) => db.put(`k${i}`, `v${i}`)));
  expect(l2).toBe(l1 + 1);
  expect(lsns).toEqual(Array.from({ length: 50 }, (_, i) => l2 + 1 + i));
  expect(db.stats.rounds).toBeLessThan(db.stats.writes);
  // Every acknowledged write is on the backup's journal already.
  expect(b.handle.lastDurableLsn).toBeGreaterThanOrEqual(lsns[49]);
  expect(db.get('a')).toBeUndefined();
  expect(db.getString('b')).toBe('2');
  expect(db.has('c')).toBe(true);
  expect(db.count).toBe(52);
  expect(db.appliedLsn).toBe(lsns[49]);
  // The applied LSN's key is the store's, never a user's.
  expect(db.has(APPLIED_KEY)).toBe(false);
  expect([...db.range()].map(([k]) => String(k))).not.toContain(APPLIED_KEY);
  expect([...db.range({ encoding: 'utf8' })].length).toBe(52);
  await db.close();
  await b.handle.close();
  const copy = KVStore.open(b.store);
  try {
    expect(copy.getString('b')).toBe('2');
    expect(copy.get('a')).toBeUndefined();
    expect(copy.getString('k49')).toBe('v49');
  } finally {
    copy.close();
  }
});

test('a write larger than the journal takes is refused alone: the writes of its round commit, and nothing of it is written', async () => {
  const b = await startBackup();
  const db = await ReplicatedStore.open(file('too-large.kv'), { replicas: [`127.0.0.1:${b.handle.port}`], create: true, ...SMALL });
  try {
    const before = await db.put('first', '0');
    // In one round: a write over half the 1 MiB journal, between two that fit.
    const [a, big, c] = await Promise.allSettled([db.put('a', '1'), db.put('big', Buffer.alloc(600 * 1024)), db.put('c', '3')]);
    expect(big).toMatchObject({ status: 'rejected', reason: expect.any(RangeError) });
    expect((big as PromiseRejectedResult).reason.message).toMatch(/exceeds the journal's largest record/);
    expect([a, c]).toEqual([{ status: 'fulfilled', value: before + 1 }, { status: 'fulfilled', value: before + 2 }]);
    expect([db.getString('a'), db.has('big'), db.getString('c')]).toEqual(['1', false, '3']);
    expect(db.stats.reopens).toBe(0);
    expect(b.handle.lastDurableLsn).toBe(before + 2);
  } finally {
    await db.close();
    await b.handle.close();
  }
});

test('a write the backup never acknowledges is rejected and not applied; a reopen commits it once a backup takes it', async () => {
  const silent = await silentServer();
  const port = silent.port;
  const path = file('unacked.kv');
  const db = await ReplicatedStore.open(path, { replicas: [`127.0.0.1:${port}`], create: true, timeoutMs: 200, ...SMALL });
  const e = await rejection(db.put('x', 'lost?'));
  expect(e.code).toBe('ERR_PMEM_REPLICA_TIMEOUT');
  expect(db.get('x')).toBeUndefined();
  expect(db.count).toBe(0);
  await db.close();
  await silent.close();
  // The record stays in the journal, unacknowledged; a backup on that
  // address and a reopen commit it (it goes to the backup first) and apply it.
  const b = await startBackup(port);
  const again = await ReplicatedStore.open(path, { replicas: [`127.0.0.1:${port}`], timeoutMs: 5000 });
  expect(again.stats.replayed).toBeGreaterThanOrEqual(1);
  expect(again.getString('x')).toBe('lost?');
  expect(b.handle.lastDurableLsn).toBeGreaterThanOrEqual(again.appliedLsn);
  await again.close();
  await b.handle.close();
});

test('a write committed to the journal but not applied to the store (a crash between the two) is applied at open', async () => {
  const b = await startBackup();
  const replicas = [`127.0.0.1:${b.handle.port}`];
  const path = file('crash-between.kv');
  const db = await ReplicatedStore.open(path, { replicas, create: true, ...SMALL });
  await db.put('before', '1');
  await db.close();
  // What a crash after the journal's commit and before the store's batch leaves.
  const wal = await ReplicatedWal.open(`${path}.journal`, { replicas });
  await wal.append(encodeOps([{ type: 'put', key: Buffer.from('after'), value: Buffer.from('2') }]));
  await wal.close();
  const again = await ReplicatedStore.open(path, { replicas });
  expect(again.stats.replayed).toBe(1);
  expect(again.getString('before')).toBe('1');
  expect(again.getString('after')).toBe('2');
  await again.close();
  await b.handle.close();
});

test('failover: the promoted backup store holds every acknowledged write and serves as the primary; the old primary is fenced off', async () => {
  const b = await startBackup();
  // The fence comes from the backup's refusal, not from a timeout: one that
  // fell first, on a loaded machine, would fail the 40 writes instead.
  const old = await ReplicatedStore.open(file('old.kv'), { replicas: [`127.0.0.1:${b.handle.port}`], create: true, timeoutMs: 60_000, ...SMALL });
  const acked = await Promise.all(Array.from({ length: 40 }, (_, i) => old.put(`k${i}`, `v${i}`)));
  expect(acked.length).toBe(40);
  const epoch = b.handle.promote();
  expect(epoch).toBe(2);
  const fenced = await rejection(old.put('late', 'x'));
  expect(fenced.code).toBe('ERR_PMEM_REPLICA_FENCED');
  expect(old.get('late')).toBeUndefined();
  await old.close();
  await b.handle.close();
  const b2 = await startBackup();
  const next = await ReplicatedStore.open(b.store, { replicas: [`127.0.0.1:${b2.handle.port}`] });
  expect(next.epoch).toBe(2);
  for (let i = 0; i < 40; i++) expect(next.getString(`k${i}`)).toBe(`v${i}`);
  expect(next.get('late')).toBeUndefined();
  await next.put('new', 'y');
  expect(next.getString('new')).toBe('y');
  await next.close();
  await b2.handle.close();
});

test('argument errors, the reserved key, a closed store, and a store that does not belong to its journal', async () => {
  await expect(ReplicatedStore.open(123 as unknown as string, { replicas: ['127.0.0.1:1'] })).rejects.toThrow(TypeError);
  await expect(ReplicatedStore.open(file('e.kv'), { replicas: ['127.0.0.1:1'], bogus: 1 } as never)).rejects.toThrow(TypeError);
  await expect(ReplicatedStore.open(file('e.kv'), { replicas: ['127.0.0.1:1'], journal: '' })).rejects.toThrow(TypeError);
  await expect(ReplicatedStore.open(file('e.kv'), {} as never)).rejects.toThrow(TypeError);
  await expect(ReplicatedStore.open(file('e.kv'), { replicas: ['127.0.0.1:1'], journalSize: -1 })).rejects.toThrow(RangeError);
  await expect(startStoreReplica({} as never)).rejects.toThrow(TypeError);
  await expect(startStoreReplica({ store: file('e.kv'), port: 0, pollMs: 0 })).rejects.toThrow(RangeError);
  await expect(startStoreReplica({ store: file('e.kv'), port: 0, unknown: 1 } as never)).rejects.toThrow(TypeError);

  const b = await startBackup();
  const path = file('args.kv');
  const db = await ReplicatedStore.open(path, { replicas: [`127.0.0.1:${b.handle.port}`], create: true, ...SMALL });
  expect((await rejection(db.put(123 as never, 'v'))).name).toBe('TypeError');
  expect((await rejection(db.put(APPLIED_KEY, 'v'))).name).toBe('RangeError');
  expect((await rejection(db.batch('x' as never))).name).toBe('TypeError');
  expect((await rejection(db.batch([{ type: 'nope', key: 'k' } as never]))).name).toBe('TypeError');
  expect(() => db.get(5 as never)).toThrow(TypeError);
  await db.put('k', 'v');
  await db.close();
  await db.close();
  expect(() => db.get('k')).toThrow(expect.objectContaining({ code: 'ERR_PMEM_CLOSED' }));
  expect((await rejection(db.put('k', 'w'))).code).toBe('ERR_PMEM_CLOSED');
  await b.handle.close();

  // The store has applied records of another journal: refused, and the store is left closed.
  const b2 = await startBackup();
  const e = await rejection(ReplicatedStore.open(path, { replicas: [`127.0.0.1:${b2.handle.port}`], journal: file('other.journal'), create: true, ...SMALL }));
  expect(e.code).toBe('ERR_PMEM_CORRUPT');
  const reopened = KVStore.open(path); // not locked: the failed open closed it
  reopened.close();
  await b2.handle.close();
});

// null is a value, not an option left out: pollMs took it as 5 ms, and
// journalSize and store were refused under other names (size, path).
test('startStoreReplica: options or an option given as null is a TypeError naming it; an option left out takes its default', async () => {
  await expect(startStoreReplica(null as never)).rejects.toThrow(new TypeError('options must be an object'));
  const store = file('opt-null-backup.kv');
  const base = { store, port: 0, create: true, ...SMALL };
  for (const name of ['store', 'journal', 'port', 'host', 'create', 'size', 'maxSize', 'segmentSize', 'journalSize', 'pollMs', 'helloTimeoutMs']) {
    const e = await rejection(startStoreReplica({ ...base, [name]: null } as never));
    expect([name, e.name, e.message.startsWith(`${name} `)]).toEqual([name, 'TypeError', true]);
  }
  // A journal size out of range is named as the option given, not as the journal's own size.
  const small = await rejection(startStoreReplica({ ...base, journalSize: 100 }));
  expect([small.name, small.message]).toEqual(['RangeError', expect.stringMatching(/^journalSize must be \d+\.\.\d+ bytes, got 100$/)]);
  expect(fs.existsSync(store)).toBe(false);
  const handle = await startStoreReplica({ ...base, journal: undefined, host: undefined, pollMs: undefined, helloTimeoutMs: undefined });
  try {
    expect(handle.port).toBeGreaterThan(0);
    expect(fs.existsSync(`${store}.journal`)).toBe(true);
  } finally {
    await handle.close();
  }
});

test('a committed write the store cannot apply is never skipped: later writes wait behind it', async () => {
  const b = await startBackup(0, 8 << 20);
  const path = file('full.kv');
  const db = await ReplicatedStore.open(path, { replicas: [`127.0.0.1:${b.handle.port}`], create: true, ...SMALL, journalSize: 8 << 20 });
  await db.put('small', '1');
  // Larger than this 1 MiB store: committed to the journal (and the backup's), refused by the store.
  const big = await rejection(db.put('big', Buffer.alloc(2 << 20, 1)));
  expect(big.code).toBe('ERR_PMEM_NO_SPACE');
  expect(b.handle.lastDurableLsn).toBeGreaterThan(db.appliedLsn); // on the backup: committed
  const applied = db.appliedLsn;
  // The next write first applies the journal's committed record, which fails again: it is not skipped.
  const next = await rejection(db.put('after', '2'));
  expect(next.code).toBe(big.code);
  expect(db.appliedLsn).toBe(applied);
  expect(db.get('after')).toBeUndefined();
  expect(db.getString('small')).toBe('1');
  await db.close();
  await b.handle.close();
});

test("a backup whose store stopped fills its journal: the primary's error says the store holds the records, not the commit point", async () => {
  const b = backupFiles();
  cleanup.push(b.store, b.journal);
  const lines: string[] = [];
  const handle = await startStoreReplica({ store: b.store, port: 0, create: true, ...SMALL, maxSize: SMALL.size, log: (l) => lines.push(l) });
  const db = await ReplicatedStore.open(file('store-held.kv'), { replicas: [`127.0.0.1:${handle.port}`], create: true, ...SMALL, size: 16 << 20, maxSize: 16 << 20, timeoutMs: 10_000 });
  try {
    // 300 KiB values: the backup's 1 MiB store takes two, its 1 MiB journal three.
    let refused: { code?: string; message: string } | null = null;
    for (let i = 0; i < 8 && refused === null; i++) {
      try {
        await db.put(`k${i}`, Buffer.alloc(300 << 10, i));
      } catch (e) {
        refused = e as { code?: string; message: string };
      }
    }
    expect(handle.error?.code).toBe('ERR_PMEM_NO_SPACE');
    expect(refused?.code).toBe('ERR_PMEM_NO_SPACE');
    const applied = handle.appliedLsn;
    expect(refused?.message).toMatch(new RegExp(`are committed, but the store this backup feeds has applied them only up to LSN ${applied},`));
    expect(refused?.message).not.toMatch(/before the primary commits them/);
    expect(lines.some((l) => l.startsWith(`the store stopped following the journal at LSN ${applied}: ERR_PMEM_NO_SPACE`))).toBe(true);
  } finally {
    await db.close().catch(() => {});
    await handle.close();
  }
});

/** Waits, a turn at a time, until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setImmediate(r));
}

test("a backup's store applies only what it knows is committed: an old epoch's tail that a new primary cuts is never applied there", async () => {
  // Every store and backup is closed at the end, also when an expectation
  // fails, so that a failure does not keep jest waiting on their sockets.
  const open: Array<{ close(): Promise<void> }> = [];
  const opened = <T extends { close(): Promise<void> }>(x: T): T => {
    open.push(x);
    return x;
  };
  try {
    // Three nodes: A the primary, B and C its backups. A write that B
    // persisted and C did not (C is down) is not committed; C is promoted,
    // and B follows it, which cuts that write from B's journal. B's store
    // must hold the new epoch's write of the same LSN, not the cut one.
    const b = await startBackup();
    opened(b.handle);
    const c = await startBackup();
    opened(c.handle);
    const a = opened(await ReplicatedStore.open(file('three-a.kv'), { replicas: [`127.0.0.1:${b.handle.port}`, `127.0.0.1:${c.handle.port}`], create: true, timeoutMs: 2000, ...SMALL }));
    expect(await a.put('k', 'v1')).toBe(1);
    await c.handle.close();
    const stale = rejection(a.put('k', 'stale'));
    await until(() => b.handle.lastDurableLsn === 2);
    expect((await stale).code).toBe('ERR_PMEM_REPLICA_TIMEOUT');
    // B holds the write, and knows that only LSN 1 is committed.
    expect(b.handle.appliedLsn).toBe(1);
    expect(b.handle.store.getString('k')).toBe('v1');
    await a.close();
    const c1 = opened(await startStoreReplica({ store: c.store, port: 0 }));
    expect(c1.promote()).toBe(2);
    await c1.close();
    const c2 = opened(await ReplicatedStore.open(c.store, { replicas: [`127.0.0.1:${b.handle.port}`], timeoutMs: 60_000 }));
    expect(await c2.put('k', 'new')).toBe(2);
    expect(await c2.put('x', '1')).toBe(3);
    // Closing tells B the last commit point; B's store then holds all of it.
    await c2.close();
    await b.handle.close();
    expect(b.handle.error).toBeNull();
    const copy = KVStore.open(b.store);
  try {
      expect([copy.getString('k'), copy.getString('x')]).toEqual(['new', '1']);
  } finally {
    copy.close();
  }

  // Two nodes: the old primary A rejoins as the backup of B, promoted
  // after A's last write failed. A's journal holds that write, past its own
  // commit point: its store does not apply it, and takes B's instead.
  const b2 = await startBackup();
  opened(b2.handle);
  const aFile = file('two-a.kv');
  const a2 = opened(await ReplicatedStore.open(aFile, { replicas: [`127.0.0.1:${b2.handle.port}`], create: true, timeoutMs: 2000, ...SMALL }));
  expect(await a2.put('k', 'v1')).toBe(1);
  await b2.handle.close();
  expect((await rejection(a2.put('k', 'stale'))).code).toBe('ERR_PMEM_REPLICA_TIMEOUT');
  await a2.close();
  const b3 = opened(await startStoreReplica({ store: b2.store, port: 0 }));
  expect(b3.promote()).toBe(2);
  await b3.close();
  const aBackup = opened(await startStoreReplica({ store: aFile, port: 0 }));
  expect([aBackup.lastDurableLsn, aBackup.appliedLsn]).toEqual([2, 1]);
  expect(aBackup.store.getString('k')).toBe('v1');
  const b4 = opened(await ReplicatedStore.open(b2.store, { replicas: [`127.0.0.1:${aBackup.port}`], timeoutMs: 60_000 }));
  expect(await b4.put('k', 'new')).toBe(2);
  await b4.close();
  await aBackup.close();
  expect(aBackup.error).toBeNull();
  const aCopy = KVStore.open(aFile);
  try {
      expect(aCopy.getString('k')).toBe('new');
  } finally {
    aCopy.close();
  }
  } finally {
    for (const x of open.reverse()) await x.close().catch(() => {});
  }
});

test("a backup's journal frees no record its store has not applied: under writes that fill the journal many times, the store keeps up", async () => {
  // The store does not poll here (pollMs far off): only the journal's own
  // frees make it take records, which it must do before they are freed.
  // The journal (1 MiB) fills with about 3,500 of these records: 20,000
  // writes free it several times.
  const b = backupFiles();
  cleanup.push(b.store);
  const handle = await startStoreReplica({ store: b.store, port: 0, create: true, ...SMALL, pollMs: 1_000_000 });
  const primaryFile = file('frees.kv');
  const db = await ReplicatedStore.open(primaryFile, { replicas: [`127.0.0.1:${handle.port}`], create: true, ...SMALL, size: 16 << 20 });
  try {
    let n = 0;
    const value = 'v'.repeat(100);
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (n < 20_000) {
        const i = n++;
        await db.put(`k${i % 3000}`, `${i}:${value}`);
      }
    }));
    expect(handle.error).toBeNull();
    expect(handle.appliedLsn).toBeGreaterThan(3500);
  } finally {
    await db.close();
    await handle.close();
  }
  expect(handle.error).toBeNull();
  // The backup's store is the primary's, key for key.
  const copy = KVStore.open(b.store);
  const primary = KVStore.open(primaryFile);
  try {
    expect(copy.count).toBe(primary.count);
    for (let k = 0; k < 3000; k++) expect(copy.getString(`k${k}`)).toBe(primary.getString(`k${k}`));
  } finally {
    copy.close();
    primary.close();
  }
});

// Bounded by its own size, as a KVStore is by default, a backup's store
// stopped following at 64 MiB while its primary's grew on to 1 GiB.
test("a backup's store grows as its primary's records need, without a maxSize", async () => {
  const b = await startBackup();
  const db = await ReplicatedStore.open(file('grows.kv'), { replicas: [`127.0.0.1:${b.handle.port}`], create: true, ...SMALL, maxSize: 8 << 20 });
  const v = Buffer.alloc(100_000, 0x62);
  for (let i = 0; i < 40; i++) await db.put(`k${i}`, v); // 4 MB live, past the backup store's 1 MiB
  await db.close();
  expect(b.handle.error).toBeNull();
  expect(b.handle.store.count).toBe(40);
  expect(b.handle.store.stats().fileBytes).toBeGreaterThan(4_000_000);
  await b.handle.close();
});
