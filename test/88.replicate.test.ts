// ReplicatedWal and startReplica over real TCP on 127.0.0.1 (port 0): ack
// levels, group commit (counted in round trips), catch-up after a backup's
// and a primary's restart, frames a backup must refuse (bad checksum, gap,
// reorder, no handshake, oversized), epoch fencing after a promotion,
// divergence, a replica that never acks (timeout), one too far behind, and
// every argument error.
import * as fs from 'node:fs';

import { PmemError, promoteReplicaFile, ReplicatedWal, readJournal, startReplica, type ReplicaHandle } from '../lib';
import { parseReplica, replica as replicaCommand } from '../lib/cli/replica';
import { encodeAck, encodeHello, encodeRefuse, FRAME_ACK, FRAME_REFUSE, FRAME_WELCOME, decodeRefuse, PROTOCOL_VERSION, WANT_RECEIVED } from '../lib/replicate/frames';
import { MAX_EPOCHS, ReplState } from '../lib/replicate/state';
import { reconcile } from '../lib/replicate/state';
import { dataFrame, describeFrame, FakeBackup, lsnsOf, RawPrimary, resealData } from './fixtures/replicate/fake';
import { readControlBlock, testFiles } from './replicate-helpers';

const SIZE = 1024 * 1024;
const file = testFiles();

const addr = (r: { port: number }): string => `127.0.0.1:${r.port}`;
const records = (r: { read(from?: number): Iterable<{ lsn: number; data: Buffer }> }): string[] => [...r.read()].map((x) => `${x.lsn}:${x.data.toString()}`);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string; name: string }).code ?? (e as Error).name;
  }
  return 'resolved';
}

async function errorName(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return (e as { code?: string; name: string }).code ?? (e as Error).name;
  }
  return 'resolved';
}

/** A backup on a fresh file. */
const backup = (name: string): Promise<ReplicaHandle> => startReplica({ file: file(name), port: 0, create: true, size: SIZE });

describe('ack levels and group commit', () => {
  test('persisted: every replica holds the record and the commit point covers it before the promise resolves', async () => {
    const [b1, b2] = [await backup('b1'), await backup('b2')];
    const pfile = file('p');
    const p = await ReplicatedWal.open(pfile, { replicas: [addr(b1), addr(b2)], create: true, size: SIZE });
    expect(p.epoch).toBe(1);
    const lsn = await p.append('one');
    expect(lsn).toBe(1);
    expect(p.committedLsn).toBe(1);
    expect([b1.lastDurableLsn, b2.lastDurableLsn]).toEqual([1, 1]);
    expect(await p.appendBatch(['two', Buffer.from('three')])).toEqual([2, 3]);
    expect(records(b1)).toEqual(['1:one', '2:two', '3:three']);
    expect(records(b2)).toEqual(records(b1));
    expect(records(p)).toEqual(records(b1));
    expect(await p.appendBatch([])).toEqual([]);
    await p.close();
    await b1.close();
    await b2.close();
    expect(readJournal(pfile).committedLsn).toBe(3);
  });

  test('local resolves once the intent is durable, received once every replica has it, persisted only after its ack', async () => {
    const fake = new FakeBackup({ welcome: true, received: true });
    await fake.listen();
    const p = await ReplicatedWal.open(file('levels'), { replicas: [addr(fake)], create: true, size: SIZE });
    let persistedDone = false;
    const persisted = p.append('p').then((lsn) => { persistedDone = true; return lsn; });
    while (fake.frames.length < 1) await new Promise((r) => setTimeout(r, 5));
    // The first round trip waits for its ack; a local append does not.
    expect(await p.append('l', { ack: 'local' })).toBe(2);
    expect(persistedDone).toBe(false);
    const received = p.append('r', { ack: 'received' });
    fake.release(); // persisted up to LSN 1
    expect(await persisted).toBe(1);
    expect(await received).toBe(3);
    // Received, not persisted: the commit point stays at LSN 1 until the ack.
    expect(p.committedLsn).toBe(1);
    // Only the round trip that carried the 'received' append asked for a receipt.
    expect(fake.frames.map((f) => [lsnsOf(f), f.flags & WANT_RECEIVED])).toEqual([[[1], 0], [[2, 3], WANT_RECEIVED]]);
    fake.release();
    const q = p.append('q');
    while (fake.frames.length < 3) await new Promise((r) => setTimeout(r, 5));
    fake.release();
    expect(await q).toBe(4);
    expect(p.committedLsn).toBe(4);
    await p.close();
        await fake.close();
  });

  test('appends made while a round trip is in flight share the next one', async () => {
    const fake = new FakeBackup({ welcome: true, received: false });
    await fake.listen();
    const p = await ReplicatedWal.open(file('group'), { replicas: [addr(fake)], create: true, size: SIZE });
    const first = p.append('a');
    while (fake.frames.length < 1) await new Promise((r) => setTimeout(r, 5));
    const more = [p.append('b'), p.append('c'), p.appendBatch(['d', 'e'])];
    // Nothing more is sent while the first round trip waits for its ack.
    await new Promise((r) => setImmediate(r));
    expect(fake.frames.length).toBe(1);
    fake.release();
    expect(await first).toBe(1);
    while (fake.frames.length < 2) await new Promise((r) => setTimeout(r, 5));
    expect(fake.frames[1].records.map((r) => Buffer.from(r).toString())).toEqual(['b', 'c', 'd', 'e']);
    fake.release();
    expect(await Promise.all(more)).toEqual([2, 3, [4, 5]]);
    expect(p.stats).toMatchObject({ roundTrips: 2, records: 5, recordsPerRoundTrip: 2.5 });
    await p.close();
    await fake.close();
  });

  test('close with the round trip of a local append still in flight stops its timer: nothing fires on a closed journal', async () => {
    const fake = new FakeBackup({ welcome: true, received: false });
    await fake.listen();
    const timeoutMs = 200;
    const p = await ReplicatedWal.open(file('close-in-flight'), { replicas: [addr(fake)], create: true, size: SIZE, timeoutMs });
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => { uncaught.push(e); };
    process.on('uncaughtException', onUncaught);
    try {
      expect(await p.append('a', { ack: 'local' })).toBe(1);
      while (fake.frames.length < 1) await new Promise((r) => setTimeout(r, 5));
      await p.close(); // the round trip is still in flight: the fake never acks
      // Timers fire in the order of their deadlines: this one, set after the
      // journal's with a later deadline, fires after it would have.
      await new Promise((r) => setTimeout(r, timeoutMs + 50));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await fake.close();
    }
  });
});

describe('catch-up', () => {
  test('a backup restarted on its file gets what it missed, once and in order', async () => {
    const b1 = await backup('c1');
    const f2 = file('c2');
    let b2 = await startReplica({ file: f2, port: 0, create: true, size: SIZE });
    const port2 = b2.port;
    const p = await ReplicatedWal.open(file('cp'), { replicas: [addr(b1), addr(b2)], create: true, size: SIZE, timeoutMs: 20000 });
    await p.appendBatch(['a', 'b']);
    await b2.close();
    // b1 takes these at once; b2 is down, so they wait for it.
    const waiting = [p.append('c'), p.append('d')];
    while (b1.lastDurableLsn < 3) await new Promise((r) => setTimeout(r, 5));
    expect(p.committedLsn).toBe(2);
    b2 = await startReplica({ file: f2, port: port2 });
    expect(await Promise.all(waiting)).toEqual([3, 4]);
    expect(records(b2)).toEqual(['1:a', '2:b', '3:c', '4:d']);
    expect(p.stats.resent).toBeGreaterThanOrEqual(1);
    await p.close();
    await b1.close();
    await b2.close();
  });

  test('a primary reopened after a timeout resends its unacknowledged records, and they commit then', async () => {
    const fake = new FakeBackup({ welcome: true, received: false });
    await fake.listen();
    const path = file('resend');
    let p = await ReplicatedWal.open(path, { replicas: [addr(fake)], create: true, size: SIZE, timeoutMs: 100 });
    expect(await code(p.append('lost?'))).toBe('ERR_PMEM_REPLICA_TIMEOUT');
    // Stopped: later appends are refused too, and nothing was committed.
    expect(await code(p.append('after'))).toBe('ERR_PMEM_REPLICA_TIMEOUT');
    expect(p.committedLsn).toBe(0);
    expect(records(p)).toEqual(['1:lost?']);
    await p.close();
    await fake.close();
    const b = await backup('resend-b');
    p = await ReplicatedWal.open(path, { replicas: [addr(b)] });
    expect(await p.append('next')).toBe(2);
    expect(records(b)).toEqual(['1:lost?', '2:next']);
    expect(p.committedLsn).toBe(2);
    await p.close();
    // Reopened once more with nothing new: the backup dedups, holds each record once.
    p = await ReplicatedWal.open(path, { replicas: [addr(b)] });
    expect(await p.append('third')).toBe(3);
    expect(records(b)).toEqual(['1:lost?', '2:next', '3:third']);
    await p.close();
    await b.close();
  });

  test('a replica behind the records the primary kept is refused with ERR_PMEM_REPLICA_BEHIND', async () => {
    const b1 = await backup('behind1');
    const path = file('behind-p');
    let p = await ReplicatedWal.open(path, { replicas: [addr(b1)], create: true, size: 64 * 1024, resendBytes: 1024 });
    for (let i = 0; i < 40; i++) await p.append(Buffer.alloc(1000, i));
    await p.close();
    expect(readJournal(path).headLsn).toBeGreaterThan(1);
    const fresh = await backup('behind2');
    p = await ReplicatedWal.open(path, { replicas: [addr(b1), addr(fresh)] });
    const e = (await p.append('x').catch((x: unknown) => x)) as Error & { code: string };
    expect(e).toMatchObject({ code: 'ERR_PMEM_REPLICA_BEHIND' });
    // The fresh backup already is what a reseed makes: the advice is not to
    // reseed, since the journal no longer holds its start.
    expect(e.message).toMatch(/a new backup cannot be made from this journal either: it no longer holds its records before LSN \d+/);
    expect(e.message).not.toMatch(/delete the replica's file/);
    await p.close();
    await b1.close();
    await fresh.close();
  });
});

describe('a backup refuses bad frames', () => {
  const hello = (journalId = 77, epoch = 1, history = [{ epoch: 1, startLsn: 1, tag: 0 }]): Buffer => encodeHello({ journalId, epoch, committedLsn: 0, history });
  const data = (first: number, recs: string[]): Buffer => dataFrame(1, first, recs);
  /** `frame` with byte `at` changed and its checksum not stored again. */
  const flipped = (frame: Buffer, at: number): Buffer => {
    frame[at] ^= 1;
    return frame;
  };
  const FIRST_LSN_AT = 5 + 32; // frame header, then the DATA body's first LSN

  async function refusedWith(b: ReplicaHandle, frames: Buffer[]): Promise<string> {
    const c = new RawPrimary(b.port);
    for (const f of frames) c.write(f);
    await c.closedByPeer();
    const refusal = c.frames.find((f) => f.type === FRAME_REFUSE);
    return refusal === undefined ? 'no refusal' : decodeRefuse(refusal.body).code;
  }

  test('good records are persisted under their LSNs and acked; checksum, gap, reorder and missing handshake are refused', async () => {
    const b = await backup('raw');
    const c = new RawPrimary(b.port);
    c.write(hello());
    c.write(data(1, ['a', 'b']));
    const frames = await c.next(2);
    expect(frames.map(describeFrame)).toEqual(['WELCOME 1 0', 'ACK 2 2']);
    c.destroy();
    expect(records(b)).toEqual(['1:a', '2:b']);

    // The frame's checksum covers its payloads and its first LSN (a frame replayed at another LSN fails).
    const good = data(3, ['c']);
    expect(await refusedWith(b, [hello(), flipped(Buffer.from(good), good.length - 1)])).toBe('ERR_PMEM_REPLICA_PROTOCOL');
    expect(await refusedWith(b, [hello(), flipped(Buffer.from(good), FIRST_LSN_AT)])).toBe('ERR_PMEM_REPLICA_PROTOCOL');
    expect(await refusedWith(b, [hello(), data(4, ['gap'])])).toBe('ERR_PMEM_REPLICA_PROTOCOL');
    // Frames out of order: the first to arrive leaves a gap.
    expect(await refusedWith(b, [hello(), data(4, ['d']), data(3, ['c'])])).toBe('ERR_PMEM_REPLICA_PROTOCOL');
    expect(await refusedWith(b, [data(3, ['c'])])).toBe('ERR_PMEM_REPLICA_PROTOCOL');
    // A frame header claiming more than the largest frame, and an unknown type.
    const huge = Buffer.alloc(5);
    huge.writeUInt32LE(0xffffffff, 0);
    huge.writeUInt8(4, 4);
    expect(await refusedWith(b, [huge])).toBe('ERR_PMEM_REPLICA_PROTOCOL');
    expect(await refusedWith(b, [Buffer.from([0, 0, 0, 0, 99])])).toBe('ERR_PMEM_REPLICA_PROTOCOL');
    // Another journal's primary.
    expect(await refusedWith(b, [hello(78)])).toBe('ERR_PMEM_REPLICA_DIVERGED');
    expect(records(b)).toEqual(['1:a', '2:b']);
    expect(b.stats.refusals).toBe(8);

    // Records it holds already are skipped (dedup by LSN), the rest appended.
    const d = new RawPrimary(b.port);
    d.write(hello());
    d.write(data(2, ['b', 'c']));
    expect((await d.next(2)).map(describeFrame)).toEqual(['WELCOME 1 2', 'ACK 2 3']);
    // A frame of records it holds, every one: nothing appended, its last durable LSN acked.
    d.write(data(1, ['a', 'b']));
    expect((await d.next(3)).map(describeFrame)).toEqual(['WELCOME 1 2', 'ACK 2 3', 'ACK 2 3']);
    d.destroy();
    expect(records(b)).toEqual(['1:a', '2:b', '3:c']);
    await b.close();
  });

  test('a HELLO with journal id 0 is refused and adopts nothing: the primary that comes next still meets a fresh backup', async () => {
    const f = file('id0');
    const b = await startReplica({ file: f, port: 0, create: true, size: SIZE });
    const foreign = new RawPrimary(b.port);
    foreign.write(hello(0));
    foreign.write(data(1, ['foreign']));
    // Its first answer: a refusal, not a WELCOME.
    expect((await foreign.next(1)).map(describeFrame)).toEqual(['REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
    await foreign.closedByPeer();
    expect(records(b)).toEqual([]);
    // The next primary is met as by a fresh backup: its id adopted, its records accepted.
    const c = new RawPrimary(b.port);
    c.write(hello(77));
    c.write(data(1, ['a']));
    expect((await c.next(2)).map(describeFrame)).toEqual(['WELCOME 1 0', 'ACK 2 1']);
    c.destroy();
    await b.close();
    expect(readJournal(f)).toMatchObject({ role: 'backup', journalId: 77 });
    expect(readJournal(f).records.map((r) => r.data.toString())).toEqual(['a']);
  });

  test('a primary resets its connection after a refused frame and catches the backup up', async () => {
    const b = await backup('reset-b');
    const p = await ReplicatedWal.open(file('reset-p'), { replicas: [addr(b)], create: true, size: SIZE });
    expect(await p.append('a')).toBe(1);
    // Someone else's frame, refused by the backup, does not disturb the primary's own connection.
    const c = new RawPrimary(b.port);
    c.write(data(2, ['x']));
    await c.closedByPeer();
    expect(await p.append('b')).toBe(2);
    expect(records(b)).toEqual(['1:a', '2:b']);
    await p.close();
    await b.close();
  });
});

describe('epochs', () => {
  test('after a promotion the old primary cannot commit, and the promoted journal goes on at the next epoch', async () => {
    const fb1 = file('e-b1');
    const b1 = await startReplica({ file: fb1, port: 0, create: true, size: SIZE });
    const b2 = await backup('e-b2');
    const oldPath = file('e-p');
    const old = await ReplicatedWal.open(oldPath, { replicas: [addr(b1), addr(b2)], create: true, size: SIZE, timeoutMs: 20000 });
    expect(await old.appendBatch(['a', 'b'])).toEqual([1, 2]);
    expect(b1.promote()).toBe(2);
    expect(b1.epoch).toBe(2);
    const fenced = (await old.append('stale').catch((x: unknown) => x)) as Error & { code: string };
    expect(fenced.code).toBe('ERR_PMEM_REPLICA_FENCED');
    // Not told to reopen: a fenced primary can never commit.
    expect(fenced.message).toMatch(/this primary can never commit them/);
    expect(fenced.message).not.toMatch(/reopen/);
    expect(await code(old.append('again'))).toBe('ERR_PMEM_REPLICA_FENCED');
    // The promoted side refuses the old epoch's handshake and records.
    const c = new RawPrimary(b1.port);
    c.write(encodeHello({ journalId: old.journalId, epoch: 1, committedLsn: 0, history: readControlBlock(oldPath).history }));
    await c.closedByPeer();
    expect(c.frames.map(describeFrame)).toEqual(['REFUSE ERR_PMEM_REPLICA_FENCED']);
    await old.close();
    await b1.close();

    const promoted = await ReplicatedWal.open(fb1, { replicas: [addr(b2)] });
    expect(promoted.epoch).toBe(2);
    expect(await promoted.append('c')).toBe(3);
    expect(b2.epoch).toBe(2);
    expect(records(b2)).toEqual(['1:a', '2:b', '3:c']);
    await promoted.close();

    // The old primary, reopened against the backup that follows epoch 2, is fenced there too.
    const again = await ReplicatedWal.open(oldPath, { replicas: [addr(b2)] });
    expect(await code(again.append('stale'))).toBe('ERR_PMEM_REPLICA_FENCED');
    await again.close();
    expect(records(b2)).toEqual(['1:a', '2:b', '3:c']);
    await b2.close();
  });

  test('the old primary, rejoining as a backup, drops the records the new primary never had', async () => {
    const fake = new FakeBackup({ welcome: true, received: false });
    await fake.listen();
    const fb = file('d-b');
    const b = await startReplica({ file: fb, port: 0, create: true, size: SIZE });
    const oldPath = file('d-p');
    let old = await ReplicatedWal.open(oldPath, { replicas: [addr(b)], create: true, size: SIZE });
    await old.append('a');
    await old.close();
    // The old primary writes LSNs 2 and 3 while its backup is away: intents never acknowledged.
    old = await ReplicatedWal.open(oldPath, { replicas: [addr(fake)], timeoutMs: 100 });
    expect(await code(old.appendBatch(['divergent', 'more']))).toBe('ERR_PMEM_REPLICA_TIMEOUT');
    await old.close();
    await fake.close();
    expect(b.promote()).toBe(2);
    await b.close();
    const rejoin = await startReplica({ file: oldPath, port: 0 });
    expect(records(rejoin)).toEqual(['1:a', '2:divergent', '3:more']);
    const p = await ReplicatedWal.open(fb, { replicas: [addr(rejoin)] });
    expect(await p.append('new 2')).toBe(2);
    expect(records(rejoin)).toEqual(['1:a', '2:new 2']);
    expect(rejoin.epoch).toBe(2);
    await p.close();
    await rejoin.close();
    expect(readJournal(oldPath)).toMatchObject({ role: 'backup', epoch: 2, nextLsn: 3 });
  });

  test('a replica that saw an epoch the primary never had is refused as diverged', async () => {
    // Two backups of one primary, each promoted: the second one's file never joins the first's journal.
    const f1 = file('s1');
    const f2 = file('s2');
    const b1 = await startReplica({ file: f1, port: 0, create: true, size: SIZE });
    const b2 = await startReplica({ file: f2, port: 0, create: true, size: SIZE });
    const p = await ReplicatedWal.open(file('s-p'), { replicas: [addr(b1), addr(b2)], create: true, size: SIZE });
    await p.append('a');
    await p.close();
    await b1.close();
    b2.promote();
    await b2.close();
    expect(promoteReplicaFile(f1)).toBe(2);
    const r2 = await startReplica({ file: f2, port: 0 });
    const q = await ReplicatedWal.open(f1, { replicas: [addr(r2)] });
    expect(await code(q.append('b'))).toBe('ERR_PMEM_REPLICA_DIVERGED');
    expect(r2.stats.lastRefusal?.message).toMatch(/epoch history differs/);
    await q.close();
    await r2.close();
  });

  test('reconcile: a history that is not a prefix diverges; records past the end of their epoch are cut', () => {
    const e1 = { epoch: 1, startLsn: 1, tag: 0 };
    const h = [e1, { epoch: 2, startLsn: 10, tag: 5 }, { epoch: 4, startLsn: 20, tag: 6 }];
    expect(reconcile([e1], 9, h)).toEqual({});
    expect(reconcile([e1], 10, h)).toEqual({ cutFrom: 10 });
    expect(reconcile(h.slice(0, 2), 19, h)).toEqual({});
    expect(reconcile(h.slice(0, 2), 25, h)).toEqual({ cutFrom: 20 });
    expect(reconcile(h, 100, h)).toEqual({});
    expect(reconcile([e1, { epoch: 3, startLsn: 12, tag: 5 }], 12, h).diverged).toMatch(/differs/);
    expect(reconcile([e1, { epoch: 2, startLsn: 10, tag: 7 }], 10, h).diverged).toMatch(/differs/);
    expect(reconcile([...h, { epoch: 5, startLsn: 30, tag: 8 }], 30, h).diverged).toMatch(/does not hold/);
  });

  test('a backup\'s file cannot be opened as the primary until promoted; promoting a primary\'s file is refused', async () => {
    const fb = file('role-b');
    const b = await startReplica({ file: fb, port: 0, create: true, size: SIZE });
    expect(await code(startReplica({ file: fb, port: 0 }))).toBe('ERR_PMEM_LOCKED');
    await b.close();
    expect(await code(ReplicatedWal.open(fb, { replicas: ['127.0.0.1:1'] }))).toBe('ERR_PMEM_REPLICA_ROLE');
    expect(promoteReplicaFile(fb)).toBe(2);
    expect(await errorName(() => promoteReplicaFile(fb))).toBe('ERR_PMEM_REPLICA_ROLE');
    // It never met a primary: it drew a journal id of its own, which its HELLO carries.
    const promoted = readJournal(fb);
    expect(promoted).toMatchObject({ role: 'primary', epoch: 2 });
    expect(promoted.journalId).toBeGreaterThan(0);
    const fb2 = file('role-b2');
    const b2 = await startReplica({ file: fb2, port: 0, create: true, size: SIZE });
    const p = await ReplicatedWal.open(fb, { replicas: [addr(b2)] });
    expect(p.journalId).toBe(promoted.journalId);
    expect(await p.append('x')).toBe(1);
    await p.close();
    await b2.close();
    expect(readJournal(fb2)).toMatchObject({ journalId: promoted.journalId, epoch: 2 });
  });

  /** A primary's file as promote() left it before it drew a journal id: promoted, its id word back to 0. */
  async function legacyPrimary(name: string): Promise<string> {
    const fb = file(name);
    const b = await startReplica({ file: fb, port: 0, create: true, size: SIZE });
    expect(b.promote()).toBe(2);
    await b.close();
    const f = fs.openSync(fb, 'r+');
    fs.writeSync(f, Buffer.alloc(8), 0, 8, 8);
    fs.closeSync(f);
    expect(readJournal(fb)).toMatchObject({ role: 'primary', journalId: 0 });
    return fb;
  }

  test('a primary\'s file with journal id 0 (promoted by an earlier version) draws one when opened, before any HELLO', async () => {
    const fb = await legacyPrimary('role-legacy');
    const fb2 = file('role-legacy-b');
    const b2 = await startReplica({ file: fb2, port: 0, create: true, size: SIZE });
    const p = await ReplicatedWal.open(fb, { replicas: [addr(b2)] });
    const id = p.journalId;
    expect(id).toBeGreaterThan(0);
    expect(await p.append('x')).toBe(1);
    await p.close();
    await b2.close();
    expect(readJournal(fb).journalId).toBe(id);
    expect(readJournal(fb2).journalId).toBe(id);
  });

  test('an open whose id cannot be stored throws that error and closes the file: the next open draws the id', async () => {
    const fb = await legacyPrimary('role-legacy-fail');
    const fb2 = file('role-legacy-fail-b');
    const b2 = await startReplica({ file: fb2, port: 0, create: true, size: SIZE });
    const failure = new PmemError('ERR_PMEM_IO', 'injected: the id could not be persisted');
    const spy = jest.spyOn(ReplState.prototype, 'setJournalId').mockImplementationOnce(() => {
      throw failure;
    });
    try {
      await expect(ReplicatedWal.open(fb, { replicas: [addr(b2)] })).rejects.toBe(failure);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
    expect(readJournal(fb)).toMatchObject({ role: 'primary', journalId: 0 });
    // Closed on the throw: its lock is free, and this open draws the id.
    let id = 0;
    try {
      const p = await ReplicatedWal.open(fb, { replicas: [addr(b2)] });
      id = p.journalId;
      expect(await p.append('x')).toBe(1);
      await p.close();
    } finally {
      await b2.close();
    }
    expect(id).toBeGreaterThan(0);
    expect(readJournal(fb2).journalId).toBe(id);
  });
});

describe('a replica that never acknowledges', () => {
  test('the append rejects with ERR_PMEM_REPLICA_TIMEOUT and is not committed (a server that never answers the handshake)', async () => {
    const silent = new FakeBackup({ welcome: false, received: false });
    await silent.listen();
    const p = await ReplicatedWal.open(file('silent'), { replicas: [addr(silent)], create: true, size: SIZE, timeoutMs: 100 });
    // Connected before the append's timeout starts, however slowly the machine connects.
    while (silent.hellos === 0) await new Promise((r) => setTimeout(r, 5));
    const e = (await p.append('x').catch((x: unknown) => x)) as Error & { code: string };
    expect(e).toMatchObject({ code: 'ERR_PMEM_REPLICA_TIMEOUT' });
    expect(e.message).toMatch(new RegExp(`${addr(silent)} \\(connected, no answer to its HELLO\\)`));
    expect(p.committedLsn).toBe(0);
    expect(p.stats.replicas[0]).toMatchObject({ connected: false, persistedLsn: 0 });
    await p.close();
    await silent.close();
  });

  test('local appends resolve, but the journal still stops at the timeout', async () => {
    const fake = new FakeBackup({ welcome: true, received: false });
    await fake.listen();
    const p = await ReplicatedWal.open(file('local'), { replicas: [addr(fake)], create: true, size: SIZE, timeoutMs: 100, ack: 'local' });
    expect(await p.append('x')).toBe(1);
    expect(await code(p.append('y', { ack: 'persisted' }))).toBe('ERR_PMEM_REPLICA_TIMEOUT');
    expect(await code(p.append('z'))).toBe('ERR_PMEM_REPLICA_TIMEOUT');
    await p.close();
    await fake.close();
  });
});

describe('argument errors', () => {
  test('ReplicatedWal.open', async () => {
    const f = file('args');
    const ok = { replicas: ['127.0.0.1:9'], create: true, size: SIZE };
    const cases: Array<[unknown, unknown, string]> = [
      [42, ok, 'TypeError'],
      ['', ok, 'TypeError'],
      [f, undefined, 'TypeError'],
      [f, { ...ok, bogus: 1 }, 'TypeError'],
      [f, { create: true }, 'TypeError'],
      [f, { ...ok, replicas: 'a:1' }, 'TypeError'],
      [f, { ...ok, replicas: [] }, 'RangeError'],
      [f, { ...ok, replicas: ['nohost'] }, 'TypeError'],
      [f, { ...ok, replicas: [7] }, 'TypeError'],
      [f, { ...ok, replicas: ['h:0'] }, 'RangeError'],
      [f, { ...ok, replicas: ['h:70000'] }, 'RangeError'],
      [f, { ...ok, replicas: ['h:1', 'h:1'] }, 'RangeError'],
      [f, { ...ok, ack: 'fsync' }, 'TypeError'],
      [f, { ...ok, timeoutMs: 0 }, 'RangeError'],
      [f, { ...ok, timeoutMs: '5' }, 'TypeError'],
      [f, { ...ok, timeoutMs: 2 ** 31 }, 'RangeError'],
      [f, { ...ok, size: -1 }, 'RangeError'],
      [f, { ...ok, create: 'yes' }, 'TypeError'],
      [f, { ...ok, resendBytes: 1.5 }, 'RangeError'],
      [f, { replicas: ['127.0.0.1:9'] }, 'ERR_PMEM_NOT_FOUND'],
    ];
    for (const [path, options, expected] of cases) {
      expect([path, options, await errorName(ReplicatedWal.open(path as string, options as never))]).toEqual([path, options, expected]);
    }
    expect(fs.existsSync(f)).toBe(false);
    // IPv6 in brackets is an address.
    const p = await ReplicatedWal.open(f, { replicas: ['[::1]:9'], create: true, size: SIZE });
    await p.close();
  });

  test('append, appendBatch, and use after close', async () => {
    const fake = new FakeBackup({ welcome: true, received: false });
    await fake.listen();
    const p = await ReplicatedWal.open(file('args2'), { replicas: [addr(fake)], create: true, size: 64 * 1024 });
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => p.append(42 as never), 'TypeError'],
      [() => p.append(null as never), 'TypeError'],
      [() => p.append('x', { ack: 'all' as never }), 'TypeError'],
      [() => p.append('x', { bogus: 1 } as never), 'TypeError'],
      [() => p.append('x', 5 as never), 'TypeError'],
      [() => p.appendBatch('x' as never), 'TypeError'],
      [() => p.appendBatch([Buffer.from('a'), 7 as never]), 'TypeError'],
      [() => p.append(Buffer.alloc(64 * 1024)), 'RangeError'],
    ];
    for (const [fn, expected] of cases) expect(await errorName(fn())).toBe(expected);
    expect(p.nextLsn).toBe(1); // nothing written by a refused call
    await p.close();
    expect(await errorName(p.append('x'))).toBe('ERR_PMEM_CLOSED');
    expect(await errorName(() => p.committedLsn)).toBe('ERR_PMEM_CLOSED');
    expect(await errorName(() => p.stats)).toBe('ERR_PMEM_CLOSED');
    await p.close(); // twice is fine
    await fake.close();
  });

  test('startReplica and its handle', async () => {
    const f = file('rargs');
    const cases: Array<[unknown, string]> = [
      [undefined, 'TypeError'],
      [{ port: 0 }, 'TypeError'],
      [{ file: f }, 'TypeError'],
      [{ file: f, port: -1 }, 'RangeError'],
      [{ file: f, port: 70000 }, 'RangeError'],
      [{ file: f, port: '1' }, 'TypeError'],
      [{ file: f, port: 0, host: '' }, 'TypeError'],
      [{ file: f, port: 0, bogus: true }, 'TypeError'],
      [{ file: f, port: 0, create: 1 }, 'TypeError'],
      [{ file: f, port: 0 }, 'ERR_PMEM_NOT_FOUND'],
      [{ file: f, port: 0, create: true }, 'RangeError'], // create needs a size
    ];
    for (const [o, expected] of cases) expect([o, await errorName(startReplica(o as never))]).toEqual([o, expected]);
    const b = await startReplica({ file: f, port: 0, create: true, size: SIZE });
    // Its port taken: ERR_PMEM_IO naming the listen error, and the file is left closed (it can be opened again).
    const taken = file('other');
    const inUse = (await startReplica({ file: taken, port: b.port, create: true, size: SIZE }).catch((e: unknown) => e)) as Error & { code: string; syscall: string };
    expect(inUse).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_IO', syscall: 'listen', path: taken });
    expect(inUse.message).toMatch(/EADDRINUSE/);
    await b.close();
    expect(await errorName(() => b.lastDurableLsn)).toBe('ERR_PMEM_CLOSED');
    expect(await errorName(() => b.promote())).toBe('ERR_PMEM_CLOSED');
    await b.close();
    const again = await startReplica({ file: f, port: 0 });
    await again.close();
    // Not a journal: refused, untouched.
    const text = file('text');
    fs.writeFileSync(text, 'hello\n');
    expect(await errorName(startReplica({ file: text, port: 0 }))).toBe('ERR_PMEM_NOT_A_STORE');
    expect(fs.readFileSync(text, 'utf8')).toBe('hello\n');
  });

  test('pmem replica: its arguments, and promote', async () => {
    const bytes = (s: string): number => Number(s);
    expect(parseReplica(['--listen', '7000', '--file', 'f', '--create', '--size', '1048576'], bytes)).toEqual({
      promote: false, port: 7000, file: 'f', bind: '127.0.0.1', create: true, size: 1048576,
    });
    expect(parseReplica(['--listen', '0', '--file', 'f', '--hello-timeout', '250'], bytes)).toMatchObject({ helloTimeoutMs: 250 });
    // The backup's store may grow as far as its primary's records need, up to --max-size.
    expect(parseReplica(['--listen', '0', '--file', 'f', '--store', 's', '--max-size', String(2 ** 31)], bytes)).toMatchObject({ store: 's', maxSize: 2 ** 31 });
    for (const [argv, why] of [
      [['--listen', '0', '--file', 'f', '--max-size', String(2 ** 30)], "--max-size bounds the backup's store: it needs --store"],
      [['--listen', '0', '--file', 'f', '--store', 's', '--max-size', String(5 * 2 ** 30)], `--max-size must be at most ${2 ** 32} (4G), got ${5 * 2 ** 30}`],
    ] as const) {
      let message = '';
      try {
        parseReplica([...argv], bytes);
      } catch (e) {
        message = (e as Error).message;
      }
      expect([argv, message]).toEqual([argv, expect.stringContaining(why)]);
    }
    expect(parseReplica(['promote', '--file=f'], bytes)).toMatchObject({ promote: true, file: 'f' });
    for (const argv of [['--file', 'f'], ['--listen', '1'], ['--listen', '70000', '--file', 'f'], ['--listen'], ['promote'], ['promote', '--listen', '1', '--file', 'f'], ['--bogus'],
      ['promote', '--file', 'f', '--hello-timeout', '5'], ['--listen', '0', '--file', 'f', '--hello-timeout', '0']]) {
      expect([argv, await errorName(() => parseReplica(argv, bytes))]).toEqual([argv, 'Fail']);
    }
    const f = file('cli');
    const b = await startReplica({ file: f, port: 0, create: true, size: SIZE });
    await b.close();
    const log = jest.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await replicaCommand(parseReplica(['promote', '--file', f], bytes))).toBe(0);
      expect(log.mock.calls[0][0]).toMatch(/primary's journal at epoch 2/);
    } finally {
      log.mockRestore();
    }
  });
});

// Frame types used only through describeFrame; named here so a change of their numbers fails this file.
test('frame type numbers', () => {
  expect([FRAME_WELCOME, FRAME_REFUSE, FRAME_ACK]).toEqual([2, 3, 5]);
});

describe('more refusals', () => {
  const E1 = { epoch: 1, startLsn: 1, tag: 0 };
  const hello = (epoch: number, history = [E1], journalId = 77): Buffer => encodeHello({ journalId, epoch, committedLsn: 0, history });
  const data = (epoch: number, recs: Array<[number, string]>): Buffer => dataFrame(epoch, recs[0][0], recs.map(([, x]) => x));
  async function exchange(port: number, frames: Buffer[]): Promise<string[]> {
    const c = new RawPrimary(port);
    for (const f of frames) c.write(f);
    await c.closedByPeer();
    return c.frames.map(describeFrame);
  }

  test('a backup refuses records of an older epoch than its handshake, of an epoch it was not told, and a HELLO that contradicts itself', async () => {
    const b = await backup('epochs-raw');
    const h2 = [E1, { epoch: 2, startLsn: 1, tag: 5 }];
    expect(await exchange(b.port, [hello(2, h2), data(1, [[1, 'a']])])).toEqual(['WELCOME 2 0', 'REFUSE ERR_PMEM_REPLICA_FENCED']);
    expect(await exchange(b.port, [hello(2, h2), data(3, [[1, 'a']])])).toEqual(['WELCOME 2 0', 'REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
    expect(await exchange(b.port, [hello(3, h2)])).toEqual(['REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
    expect(await exchange(b.port, [hello(1)])).toEqual(['REFUSE ERR_PMEM_REPLICA_FENCED']);
    // Protocol 1 (a checksum per record), 2 (no backup identity in the WELCOME) and an unknown version.
    for (const version of [1, 2, 9]) {
      const badVersion = hello(2, h2);
      badVersion.writeUInt32LE(version, 5);
      expect(await exchange(b.port, [badVersion])).toEqual(['REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
      expect(b.stats.lastRefusal!.message).toBe(
        `the primary speaks protocol version ${version}; this replica speaks version ${PROTOCOL_VERSION}: run one version of pmem on the primary and its backups`,
      );
    }
    // Malformed bodies whose checksum holds: what a primary that built them would send.
    const short = data(2, [[1, 'abc']]);
    short.writeUInt32LE(short.length - 5 - 2, 0); // the body ends inside the record
    expect(await exchange(b.port, [hello(2, h2), resealData(short.subarray(0, short.length - 2))])).toEqual(['WELCOME 2 0', 'REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
    expect(b.stats.lastRefusal!.message).toMatch(/ends inside record 0/);
    const long = Buffer.concat([data(2, [[1, 'abc']]), Buffer.from('xy')]);
    long.writeUInt32LE(long.length - 5, 0); // two bytes after the last record
    expect(await exchange(b.port, [hello(2, h2), resealData(long)])).toEqual(['WELCOME 2 0', 'REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
    expect(b.stats.lastRefusal!.message).toMatch(/2 bytes after the last record/);
    // Records from LSN 0, which no record has.
    expect(await exchange(b.port, [hello(2, h2), dataFrame(2, 0, ['x'])])).toEqual(['WELCOME 2 0', 'REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
    expect(b.stats.lastRefusal!.message).toBe('a DATA frame from LSN 0');
    // A primary may not send what only a backup sends.
    expect(await exchange(b.port, [hello(2, h2), encodeAck(2, 2, 0)])).toEqual(['WELCOME 2 0', 'REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
    expect(b.lastDurableLsn).toBe(0);
    expect(b.epoch).toBe(2);
    await b.close();
  });

  test('a second connection of the primary replaces the first', async () => {
    const b = await backup('two-conns');
    const c1 = new RawPrimary(b.port);
    c1.write(hello(1));
    await c1.next(1);
    const c2 = new RawPrimary(b.port);
    c2.write(hello(1));
    await c2.next(1);
    await c1.closedByPeer();
    c2.write(data(1, [[1, 'x']]));
    expect((await c2.next(2)).map(describeFrame)).toEqual(['WELCOME 1 0', 'ACK 2 1']);
    c2.destroy();
    await b.close();
  });

  test('a primary stops on a backup ahead of it, or of a newer epoch', async () => {
    for (const [opts, expected] of [[{ welcomeLsn: 5 }, 'ERR_PMEM_REPLICA_DIVERGED'], [{ welcomeEpoch: 9 }, 'ERR_PMEM_REPLICA_FENCED']] as const) {
      const fake = new FakeBackup({ welcome: true, received: false, ...opts });
      await fake.listen();
      const p = await ReplicatedWal.open(file('ahead'), { replicas: [addr(fake)], create: true, size: SIZE });
      expect(await code(p.append('x'))).toBe(expected);
      await p.close();
      await fake.close();
    }
  });

  test('a primary stops on an ack of a newer epoch', async () => {
    const fake = new FakeBackup({ welcome: true, received: false });
    await fake.listen();
    const p = await ReplicatedWal.open(file('ack-epoch'), { replicas: [addr(fake)], create: true, size: SIZE });
    const a = p.append('x');
    while (fake.frames.length < 1) await new Promise((r) => setTimeout(r, 5));
    fake.send(encodeAck(2, 3, 1));
    expect(await code(a)).toBe('ERR_PMEM_REPLICA_FENCED');
    await p.close();
    await fake.close();
  });

  test('a primary resets the connection on an ack of an LSN it did not send, a refused frame or a frame it does not expect, and catches up', async () => {
    for (const bad of [encodeAck(2, 1, 99), encodeRefuse('ERR_PMEM_REPLICA_PROTOCOL', 'a gap'), encodeHello({ journalId: 1, epoch: 1, committedLsn: 0, history: [E1] })]) {
      const fake = new FakeBackup({ welcome: true, received: false });
      await fake.listen();
      const p = await ReplicatedWal.open(file('bad-ack'), { replicas: [addr(fake)], create: true, size: SIZE });
      const a = p.append('x');
      while (fake.frames.length < 1) await new Promise((r) => setTimeout(r, 5));
      fake.send(bad);
      // The primary connects again, and resends LSN 1 after the new handshake.
      while (fake.frames.length < 2) await new Promise((r) => setTimeout(r, 5));
      expect(lsnsOf(fake.frames[1])).toEqual([1]);
      fake.release();
      expect(await a).toBe(1);
      expect(p.stats.replicas[0]).toMatchObject({ resets: 1, connects: 2 });
      // Sent twice, both times by catch-up: the append came before the first handshake.
      expect(p.stats.resent).toBe(2);
      await p.close();
      await fake.close();
    }
  });

  test('a damaged control block is ERR_PMEM_CORRUPT; an open journal is ERR_PMEM_LOCKED to readJournal and promoteReplicaFile', async () => {
    const f = file('corrupt');
    const b = await startReplica({ file: f, port: 0, create: true, size: 64 * 1024 });
    expect(await errorName(() => readJournal(f))).toBe('ERR_PMEM_LOCKED');
    expect(await errorName(() => promoteReplicaFile(f))).toBe('ERR_PMEM_LOCKED');
    await b.close();
    const good = fs.readFileSync(f);
    for (const [at, value] of [[0, 0x12345678], [4, 2], [16, 7], [32, 0], [32, MAX_EPOCHS + 1], [64, 0]]) {
      const bad = Buffer.from(good);
      bad.writeUInt32LE(value, at);
      fs.writeFileSync(f, bad);
      expect([at, await errorName(startReplica({ file: f, port: 0 }))]).toEqual([at, 'ERR_PMEM_CORRUPT']);
      expect([at, await errorName(ReplicatedWal.open(f, { replicas: ['127.0.0.1:9'] }))]).toEqual([at, 'ERR_PMEM_CORRUPT']);
    }
    fs.writeFileSync(f, good);
    expect(readJournal(f)).toMatchObject({ role: 'backup', epoch: 1, journalId: 0, records: [] });
  });

  test('the epoch history holds MAX_EPOCHS epochs; one more promotion is ERR_PMEM_NO_SPACE', async () => {
    const f = file('epochs');
    const b = await startReplica({ file: f, port: 0, create: true, size: 64 * 1024 });
    for (let e = 2; e <= MAX_EPOCHS; e++) expect(b.promote()).toBe(e);
    expect(await errorName(() => b.promote())).toBe('ERR_PMEM_NO_SPACE');
    await b.close();
    expect(readJournal(f).epoch).toBe(MAX_EPOCHS);
  });
});
