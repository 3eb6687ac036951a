// The replicated journal's failure paths, against a hostile user and a
// hostile peer: a replica of another protocol version (the journal stops at
// once, no reconnecting), a replica whose log is full (ERR_PMEM_NO_SPACE
// naming it, nothing acknowledged that it did not persist), errors naming
// the user's path and never the temporary file of a journal being created,
// options of every wrong kind, a peer that sends garbage or closes
// mid-frame, a second primary on one backup, one backup named by two
// addresses, a journal file cut short,
// replaced or removed while open, and a path that is no journal at all.
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { KVStore, ReplicatedStore, ReplicatedWal, readJournal, startReplica, startStoreReplica, Wal, type ReplicaHandle } from '../lib';
import { encodeAck, encodeHello, encodeRefuse, FRAME_ACK, FRAME_DATA, FRAME_HELLO, PROTOCOL_VERSION } from '../lib/replicate/frames';
import { MAX_JOURNAL_SIZE, MIN_JOURNAL_SIZE } from '../lib/replicate/options';
import { Peer, RECONNECT_MS } from '../lib/replicate/peer';
import { seededRandom } from '../lib/testing/random';
import { dataFrame, describeFrame, FakeBackup, forward, RawPrimary, Relay } from './fixtures/replicate/fake';
import { testDir } from './helpers';
import { testFiles } from './replicate-helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { mountSmallTmpfs } = require('./fixtures/replicate-faults/net') as {
  mountSmallTmpfs(dir: string, bytes: number, why?: { reason?: string }): { dir: string; close(): void } | null;
};

const SIZE = 1024 * 1024;
/** Long enough never to be what ends a test of these: the code under test must stop the journal first, with its own error. */
const NO_TIMEOUT = 60_000;
const file = testFiles();

const addr = (r: { port: number }): string => `127.0.0.1:${r.port}`;
const backup = (name: string, size = SIZE): Promise<ReplicaHandle> => startReplica({ file: file(name), port: 0, create: true, size });
const primary = (name: string, replicas: string[], timeoutMs = NO_TIMEOUT): Promise<ReplicatedWal> =>
  ReplicatedWal.open(file(name), { replicas, create: true, size: SIZE, timeoutMs });
const records = (r: { read(from?: number): Iterable<{ lsn: number; data: Buffer }> }): string[] => [...r.read()].map((x) => `${x.lsn}:${x.data.toString()}`);

type Failure = Error & { code?: string; path?: string; syscall?: string };
async function rejection(p: Promise<unknown> | (() => unknown)): Promise<Failure> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e as Failure;
  }
  throw new Error('resolved');
}
const nameOf = async (p: Promise<unknown> | (() => unknown)): Promise<string> => {
  const e = await rejection(p);
  return e.code ?? e.name;
};

/** A TCP server that answers each connection with `reply(socket)`; counts connections. */
async function server(reply: (s: net.Socket) => void): Promise<{ port: number; connections: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const out = { port: 0, connections: 0, close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); srv.close(() => resolve()); }) };
  const srv = net.createServer((s) => {
    out.connections++;
    sockets.add(s);
    s.on('error', () => {});
    reply(s);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  out.port = (srv.address() as net.AddressInfo).port;
  return out;
}

describe('one backup named by two addresses', () => {
  // A name and its IP, localhost and 127.0.0.1, a forwarded port: the
  // options cannot tell them apart, the backup's WELCOME can. Here the
  // second address is a relay to the same backup.
  test('stops the journal once both reached it, naming both, with nothing committed: it would count as two copies', async () => {
    const b = await backup('twin-b');
    const relay = new Relay(b.port, forward);
    await relay.listen();
    const p = await primary('twin-p', [addr(b), addr(relay)]);
    const e = await rejection(p.append('x'));
    expect(e).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_INVALID', path: p.path });
    const names = `(${addr(b)} and ${addr(relay)}|${addr(relay)} and ${addr(b)})`;
    expect(e.message).toMatch(new RegExp(`^replicas ${names} are one backup \\(the same replica server answered both\\): it would count as two copies of every record; name each backup once; the journal stopped`));
    expect(await rejection(p.append('y'))).toBe(e);
    expect(p.committedLsn).toBe(0);
    // Both addresses reached the backup: directly, and through the relay.
    expect(relay.connections).toBeGreaterThanOrEqual(1);
    expect(b.stats.connections).toBeGreaterThanOrEqual(2);
    await p.close();
    await relay.close();
    await b.close();
  });

  test('two backups, one through a relay, each answer as themselves and commit', async () => {
    const b1 = await backup('twin-ok-b1');
    const b2 = await backup('twin-ok-b2');
    const relay = new Relay(b2.port, forward);
    await relay.listen();
    const p = await primary('twin-ok-p', [addr(b1), addr(relay)]);
    await p.append('x');
    expect(p.committedLsn).toBe(1);
    expect([b1.lastDurableLsn, b2.lastDurableLsn]).toEqual([1, 1]);
    await p.close();
    await relay.close();
    await b1.close();
    await b2.close();
  });
});

describe('a replica of another protocol version', () => {
  test('a real backup refusing the handshake stops the journal at once, naming both versions, without connecting again', async () => {
    const b = await backup('version-b');
    // What a primary of version 3 would send: the backup refuses it.
    const relay = new Relay(b.port, (f, raw, fromPrimary) => {
      if (fromPrimary && f.type === FRAME_HELLO) raw.writeUInt32LE(PROTOCOL_VERSION + 1, 5);
      return { forward: raw };
    });
    await relay.listen();
    const p = await primary('version-p', [addr(relay)]);
    const e = await rejection(p.append('x'));
    expect(e).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_REPLICA_PROTOCOL', path: p.path });
    expect(e.message).toContain(`replica ${addr(relay)} refused the handshake of this primary (protocol version ${PROTOCOL_VERSION})`);
    expect(e.message).toContain(`the primary speaks protocol version ${PROTOCOL_VERSION + 1}; this replica speaks version ${PROTOCOL_VERSION}`);
    // Stopped: later appends reject with the same error, nothing committed, one connection only.
    expect(await rejection(p.append('y'))).toBe(e);
    expect(p.committedLsn).toBe(0);
    expect(relay.connections).toBe(1);
    expect(b.lastDurableLsn).toBe(0);
    await p.close();
    await relay.close();
    await b.close();
  });

  test('a replica of a newer build: its refusal message and this primary\'s version', async () => {
    const newer = await server((s) => { s.end(encodeRefuse('ERR_PMEM_REPLICA_PROTOCOL', `the primary speaks protocol version ${PROTOCOL_VERSION}; this replica speaks version 7`)); });
    const p = await primary('newer-p', [addr(newer)]);
    const e = await rejection(p.append('x'));
    expect(e.code).toBe('ERR_PMEM_REPLICA_PROTOCOL');
    expect(e.message).toMatch(new RegExp(`protocol version ${PROTOCOL_VERSION}\\).*this replica speaks version 7`));
    expect(newer.connections).toBe(1);
    await p.close();
    await newer.close();
  });
});

describe('a replica whose log is full', () => {
  test('ERR_PMEM_NO_SPACE naming the replica; the journal stops; nothing it did not persist is acknowledged', async () => {
    const b = await backup('full-b', MIN_JOURNAL_SIZE);
    const p = await primary('full-p', [addr(b)]);
    expect(await p.append('first')).toBe(1);
    const big = Array.from({ length: 64 }, (_r, i) => Buffer.alloc(100, i)); // more than the backup's whole log
    const received = p.append('seen', { ack: 'received' });
    const e = await rejection(p.appendBatch(big));
    expect(e).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_NO_SPACE', path: p.path });
    expect(e.message).toContain(`replica ${addr(b)} has no space for records after LSN 1`);
    expect(e.message).toMatch(/no room for 65 records/);
    // 'received' is what it says: the backup received it (and did not persist it).
    expect(await received).toBe(2);
    expect(await rejection(p.append('later'))).toBe(e);
    expect(p.committedLsn).toBe(1);
    expect(b.lastDurableLsn).toBe(1);
    expect(records(b)).toEqual([]); // LSN 1, committed, was freed to make room; nothing after it was taken
    expect(b.stats.lastRefusal?.code).toBe('ERR_PMEM_NO_SPACE');
    expect(p.stats.replicas[0]).toMatchObject({ connects: 1, persistedLsn: 1 });
    await p.close();
    await b.close();
    expect(readJournal(p.path).committedLsn).toBe(1);
  });

  test('a backup frees what is committed when a batch does not fit, and takes it', async () => {
    const b = await backup('room-b', MIN_JOURNAL_SIZE);
    const p = await primary('room-p', [addr(b)]);
    const batch = (tag: number, n: number): Buffer[] => Array.from({ length: n }, () => Buffer.alloc(140, tag));
    // Under half the backup's log (so it frees nothing up front), then a batch that fits only once that is freed.
    expect(await p.appendBatch(batch(1, 10))).toHaveLength(10);
    expect(await p.appendBatch(batch(2, 20))).toHaveLength(20);
    expect(b.lastDurableLsn).toBe(30);
    expect([...b.read()].map((r) => r.lsn)).toEqual(Array.from({ length: 20 }, (_x, i) => 11 + i));
    expect(p.committedLsn).toBe(30);
    await p.close();
    await b.close();
  });
});

describe('errors name the user\'s path', () => {
  test('a journal that cannot be created: the error names its path, never the temporary file, which is gone', async () => {
    const dir = path.join(testDir(), `small-${process.pid}`);
    const why: { reason?: string } = {};
    const small = mountSmallTmpfs(dir, 256 * 1024, why);
    if (small === null) {
      console.log(`88.replicate-errors: SKIPPED the full-filesystem create (${why.reason})`);
      return;
    }
    try {
      const f = path.join(dir, 'journal');
      for (const open of [
        () => ReplicatedWal.open(f, { replicas: ['127.0.0.1:9'], create: true, size: 1024 * 1024 }),
        () => startReplica({ file: f, port: 0, create: true, size: 1024 * 1024 }),
      ]) {
        const e = await rejection(open);
        expect(e).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_NO_SPACE', path: f });
        expect(e.message).toContain(`'${f}'`);
        expect(e.message).not.toMatch(/creating/);
        expect(e.stack).not.toMatch(/creating/);
        expect(fs.readdirSync(dir)).toEqual([]);
      }
    } finally {
      small.close();
    }
  });

  test('a replica that cannot listen: ERR_PMEM_IO with the system\'s error; the file it created is removed, one it opened closed again', async () => {
    const f = file('listen');
    const e = await rejection(startReplica({ file: f, port: 0, host: '192.0.2.1', create: true, size: SIZE }));
    expect(e).toMatchObject({ name: 'PmemError', code: 'ERR_PMEM_IO', syscall: 'listen', path: f });
    expect(e.message).toMatch(/EADDRNOTAVAIL/);
    expect(fs.existsSync(f)).toBe(false);
    await (await startReplica({ file: f, port: 0, create: true, size: SIZE })).close();
    expect(await rejection(startReplica({ file: f, port: 0, host: '192.0.2.1' }))).toMatchObject({ code: 'ERR_PMEM_IO', path: f });
    const again = await startReplica({ file: f, port: 0 });
    await again.close();
  });
});

describe('options of every wrong kind', () => {
  test('ReplicatedWal.open and startReplica', async () => {
    const f = file('opts');
    const ok = { replicas: ['127.0.0.1:9'], create: true, size: SIZE };
    const open: Array<[unknown, string]> = [];
    for (const bad of [NaN, -1, Infinity, 1.5, 2 ** 53]) {
      open.push([{ ...ok, timeoutMs: bad }, 'RangeError'], [{ ...ok, size: bad }, 'RangeError'], [{ ...ok, resendBytes: bad }, 'RangeError']);
    }
    for (const bad of ['1', null, {}, [], true, 10n]) {
      open.push([{ ...ok, timeoutMs: bad }, 'TypeError'], [{ ...ok, size: bad }, 'TypeError'], [{ ...ok, resendBytes: bad }, 'TypeError']);
    }
    open.push(
      [{ ...ok, size: MIN_JOURNAL_SIZE - 1 }, 'RangeError'],
      [{ ...ok, size: MAX_JOURNAL_SIZE + 1 }, 'RangeError'],
      [{ ...ok, size: 100 }, 'RangeError'],
      [{ ...ok, replicas: ['127.0.0.1:-1'] }, 'TypeError'],
      [{ ...ok, replicas: ['127.0.0.1:99999'] }, 'RangeError'],
      [{ ...ok, replicas: ['127.0.0.1:1.5'] }, 'TypeError'],
      [{ ...ok, replicas: ['127.0.0.1'] }, 'TypeError'],
      [{ ...ok, replicas: [':7000'] }, 'TypeError'],
      [{ ...ok, replicas: ['[::1]'] }, 'TypeError'],
      [{ ...ok, replicas: ['::1:7000'] }, 'TypeError'],
      [{ ...ok, replicas: [null] }, 'TypeError'],
      [{ ...ok, replicas: [{ host: 'a', port: 1 }] }, 'TypeError'],
      [{ ...ok, replicas: null }, 'TypeError'],
      [{ ...ok, ack: null }, 'TypeError'],
      [{ ...ok, ack: 'PERSISTED' }, 'TypeError'],
      [null, 'TypeError'],
      ['options', 'TypeError'],
    );
    for (const [o, expected] of open) expect([o, await nameOf(ReplicatedWal.open(f, o as never))]).toEqual([o, expected]);
    expect(fs.existsSync(f)).toBe(false);

    const replica: Array<[unknown, string]> = [];
    for (const bad of [NaN, -1, Infinity, 1.5, 65536]) replica.push([{ file: f, port: bad }, 'RangeError']);
    for (const bad of [NaN, -1, Infinity, 100, MAX_JOURNAL_SIZE + 1]) replica.push([{ file: f, port: 0, create: true, size: bad }, 'RangeError']);
    for (const bad of [null, '7000', 7000n]) replica.push([{ file: f, port: bad }, 'TypeError']);
    for (const bad of [5, null, '', ['h']]) replica.push([{ file: f, port: 0, host: bad }, 'TypeError']);
    for (const bad of [5, null, '']) replica.push([{ file: bad, port: 0 }, 'TypeError']);
    for (const [o, expected] of replica) expect([o, await nameOf(startReplica(o as never))]).toEqual([o, expected]);
    // The file is named as the option it is.
    expect((await rejection(startReplica({ file: null as never, port: 0 }))).message).toBe('file must be a non-empty string');
    expect(fs.existsSync(f)).toBe(false);
  });

  test('one backup named twice in two spellings is refused, as one named twice is; a host with white space is not an address', async () => {
    const f = file('twice');
    const ok = { create: true, size: SIZE };
    // Two connections to one backup: each HELLO it takes closes the other.
    for (const [replicas, message] of [
      [['127.0.0.1:7000', '127.0.0.1:07000'], 'replica 127.0.0.1:07000 is named twice (as 127.0.0.1:7000)'],
      [['Backup.example:7000', 'backup.EXAMPLE:7000'], 'replica backup.EXAMPLE:7000 is named twice (as Backup.example:7000)'],
      [['[::1]:7000', '[::1]:7000'], 'replica [::1]:7000 is named twice'],
    ] as Array<[string[], string]>) {
      const e = await rejection(ReplicatedWal.open(f, { ...ok, replicas }));
      expect([replicas, e.name, e.message]).toEqual([replicas, 'RangeError', message]);
    }
    for (const bad of [' 127.0.0.1:7000', '127.0.0.1 :7000', 'a b:7000', '[::1 ]:7000', '\t:7000']) {
      expect([bad, await nameOf(ReplicatedWal.open(f, { ...ok, replicas: [bad] }))]).toEqual([bad, 'TypeError']);
    }
    expect(fs.existsSync(f)).toBe(false);
  });

  test('ReplicatedStore.open: the journal\'s size and timeout, null included', async () => {
    const f = file('store-opts');
    const ok = { replicas: ['127.0.0.1:9'], create: true, size: 9 * SIZE };
    const cases: Array<[unknown, string, RegExp]> = [
      [{ ...ok, journalSize: null }, 'TypeError', /journalSize/],
      [{ ...ok, journalSize: 100 }, 'RangeError', /journalSize must be/],
      [{ ...ok, journalSize: MAX_JOURNAL_SIZE + 1 }, 'RangeError', /journalSize must be/],
      [{ ...ok, journalSize: NaN }, 'RangeError', /journalSize/],
      [{ ...ok, timeoutMs: null }, 'TypeError', /timeoutMs/],
      [{ ...ok, timeoutMs: -1 }, 'RangeError', /timeoutMs/],
    ];
    for (const [o, name, message] of cases) {
      const e = await rejection(ReplicatedStore.open(f, o as never));
      expect([o, e.name]).toEqual([o, name]);
      expect(e.message).toMatch(message);
    }
    expect(fs.existsSync(f)).toBe(false);
  });

  test('startStoreReplica: pollMs and helloTimeoutMs past what a Node timer takes (2^31 - 1 ms) are refused, and nothing is made', async () => {
    const store = file('poll.kv');
    for (const [o, message] of [
      [{ pollMs: 2 ** 31 }, 'pollMs must be 1..2147483647, got 2147483648'],
      [{ pollMs: 2 ** 32 + 5 }, `pollMs must be 1..2147483647, got ${2 ** 32 + 5}`],
      [{ pollMs: 0 }, 'pollMs must be 1..2147483647, got 0'],
      [{ helloTimeoutMs: 2 ** 31 }, 'helloTimeoutMs must be 1..2147483647, got 2147483648'],
    ] as const) {
      // A backup that started anyway is closed, so that the test fails and does not wait on it.
      const e = await startStoreReplica({ store, port: 0, create: true, ...o }).then(async (h) => { await h.close(); return null; }, (x: unknown) => x as Error);
      expect([o, e?.name, e?.message]).toEqual([o, 'RangeError', message]);
    }
    expect(fs.existsSync(store)).toBe(false);
    expect(fs.existsSync(`${store}.journal`)).toBe(false);
  });

  test('a replica nobody listens for: the timeout names why it could not connect', async () => {
    const gone = await server(() => {});
    await gone.close();
    const p = await primary('refused-p', [addr(gone)], 200);
    // The refusal is in before the append, so that its 200 ms timeout finds
    // it however late a loaded machine delivers it.
    while (p.stats.replicas[0].lastError === null) await new Promise((r) => setTimeout(r, 5));
    const e = await rejection(p.append('x'));
    expect(e.code).toBe('ERR_PMEM_REPLICA_TIMEOUT');
    expect(e.message).toMatch(new RegExp(`${addr(gone)} \\(not connected: connect ECONNREFUSED`));
    expect(p.stats.replicas[0].lastError).toMatch(/ECONNREFUSED/);
    await p.close();
  });

  test('a peer connecting again after a failure still names the failure', async () => {
    // Sockets that stay in whatever state the test puts them in: which one
    // a timeout would find is decided here, not by the machine's speed.
    class Held extends EventEmitter {
      connecting = true;
      setNoDelay(): this { return this; }
      write(): boolean { return true; }
      destroy(): this { return this; }
    }
    const made: Held[] = [];
    // The module object itself: the namespace this file imports cannot be redefined.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const connect = jest.spyOn(require('node:net') as typeof net, 'connect').mockImplementation((() => {
      const s = new Held();
      made.push(s);
      return s;
    }) as never);
    const owner = { hello: () => Buffer.alloc(0), welcomed() {}, acked() {}, refused() {}, garbled() {}, lost() {} };
    const peer = new Peer({ host: '127.0.0.1', port: 9 } as never, owner);
    try {
      peer.connect();
      expect(peer.standing).toBe('connecting');
      made[0].connecting = false;
      expect(peer.standing).toBe('connected, no answer to its HELLO');
      made[0].emit('error', new Error('connect ECONNREFUSED 127.0.0.1:9'));
      made[0].emit('close');
      expect(peer.standing).toBe('not connected: connect ECONNREFUSED 127.0.0.1:9');
      while (made.length < 2) await new Promise((r) => setTimeout(r, RECONNECT_MS));
      expect(peer.standing).toBe('not connected: connect ECONNREFUSED 127.0.0.1:9; connecting again');
      made[1].connecting = false;
      expect(peer.standing).toBe('connected, no answer to its HELLO');
    } finally {
      peer.close();
      connect.mockRestore();
    }
  });
});

describe('a peer that sends garbage or closes mid-frame', () => {
  test('a backup refuses garbage with ERR_PMEM_REPLICA_PROTOCOL, persists none of it, and serves the next primary', async () => {
    const b = await backup('garbage-b');
    const random = seededRandom(88);
    const garbage: Buffer[] = [];
    for (let i = 0; i < 20; i++) garbage.push(Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256))));
    const huge = Buffer.alloc(5);
    huge.writeUInt32LE(2 ** 31, 0);
    huge[4] = FRAME_DATA;
    garbage.push(huge, Buffer.from([0, 0, 0, 0, 0]), Buffer.from([0, 0, 0, 0, 9]), Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    for (const g of garbage) {
      const c = new RawPrimary(b.port);
      c.write(g);
      await c.closedByPeer();
      expect(c.frames.map(describeFrame)).toEqual(['REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
    }
    expect(b.stats.refusals).toBe(garbage.length);
    expect(b.lastDurableLsn).toBe(0);
    const p = await primary('garbage-p', [addr(b)]);
    expect(await p.append('x')).toBe(1);
    await p.close();
    await b.close();
  });

  test('a primary whose replica answers the handshake with garbage, or with an ACK, stops at once: it is no pmem replica', async () => {
    for (const [answer, expected] of [
      [Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), /answered the handshake of this primary \(protocol version \d+\) with a frame of \d+ bytes; the most is/],
      [Buffer.from('-ERR unknown command\r\n'), /with a frame of \d+ bytes/],
      [encodeAck(2, 1, 0), /with an ACK, not a WELCOME: is it a pmem replica\?/],
      [dataFrame(1, 1, ['x']), /with a frame of type 4, which a replica does not send/],
    ] as const) {
      const srv = await server((s) => { s.once('data', () => { s.write(answer); }); });
      const p = await primary('garbage-hello', [addr(srv)]);
      const e = await rejection(p.append('x'));
      expect([answer.toString('latin1'), e.code]).toEqual([answer.toString('latin1'), 'ERR_PMEM_REPLICA_PROTOCOL']);
      expect(e.message).toMatch(expected);
      expect(srv.connections).toBe(1);
      await p.close();
      await srv.close();
    }
  });

  test('garbage after the handshake: the primary drops the connection and catches the backup up', async () => {
    const fake = new FakeBackup({ welcome: true, received: false });
    await fake.listen();
    const p = await primary('garbage-after', [addr(fake)]);
    const a = p.append('x');
    while (fake.frames.length < 1) await new Promise((r) => setTimeout(r, 5));
    fake.send(Buffer.from('garbage!'));
    while (fake.frames.length < 2) await new Promise((r) => setTimeout(r, 5));
    fake.release();
    expect(await a).toBe(1);
    expect(p.stats.replicas[0]).toMatchObject({ resets: 1, connects: 2 });
    expect(p.stats.replicas[0].lastError).toMatch(/sent a frame of \d+ bytes/);
    await p.close();
    await fake.close();
  });

  test('a connection cut inside a DATA frame, or inside an ACK: nothing of the half frame is taken, and the next connection completes it', async () => {
    for (const cutInside of [FRAME_DATA, FRAME_ACK]) {
      const b = await backup('cut-b');
      const relay = new Relay(b.port, (f, raw, _fromPrimary, connection) => {
        if (connection === 1 && f.type === cutInside) return { forward: raw.subarray(0, raw.length - 3), cut: true };
        return forward(f, raw);
      });
      await relay.listen();
      const p = await primary('cut-p', [addr(relay)]);
      expect(await p.append('whole')).toBe(1);
      expect(relay.connections).toBe(2);
      expect(p.stats.replicas[0].connects).toBe(2);
      expect(records(b)).toEqual(['1:whole']);
      expect(p.committedLsn).toBe(1);
      await p.close();
      await relay.close();
      await b.close();
    }
  });
});

describe('two primaries on one backup', () => {
  test('the second, of another journal, is refused as diverged; the first goes on, on its one connection', async () => {
    const b = await backup('two-b');
    const first = await primary('two-p1', [addr(b)]);
    expect(await first.append('a')).toBe(1);
    const second = await primary('two-p2', [addr(b)]);
    const e = await rejection(second.append('b'));
    expect(e.code).toBe('ERR_PMEM_REPLICA_DIVERGED');
    expect(e.message).toMatch(/belongs to another journal/);
    expect(await first.append('c')).toBe(2);
    expect(first.stats.replicas[0].connects).toBe(1);
    expect(records(b)).toEqual(['1:a', '2:c']);
    await first.close();
    await second.close();
    await b.close();
  });
});

describe('a path that is no journal', () => {
  test('a directory, a Wal, a KV store, text: refused with a typed error naming what it holds, left byte-identical', async () => {
    const dir = file('a-dir');
    fs.mkdirSync(dir);
    const wal = file('a-wal');
    Wal.open(wal, { create: true, size: 64 * 1024 }).close();
    const kv = file('a-kv');
    KVStore.open(kv, { create: true, size: 13 * SIZE }).close();
    const text = file('a-text');
    fs.writeFileSync(text, 'hello\n'.repeat(2000));
    const cases: Array<[string, string, RegExp | null]> = [
      [dir, 'ERR_PMEM_NOT_A_STORE', /is not a replicated journal: it holds a directory, not a regular file/],
      [wal, 'ERR_PMEM_NOT_A_STORE', /is not a replicated journal: it holds a write-ahead log/],
      [kv, 'ERR_PMEM_NOT_A_STORE', /is not a replicated journal: it holds a KV store/],
      [text, 'ERR_PMEM_NOT_A_STORE', /is not a replicated journal: it holds text/],
    ];
    for (const [f, code, message] of cases) {
      const before = fs.statSync(f).isFile() ? fs.readFileSync(f) : null;
      for (const open of [
        () => ReplicatedWal.open(f, { replicas: ['127.0.0.1:9'], create: true, size: SIZE }),
        () => startReplica({ file: f, port: 0, create: true, size: SIZE }),
        () => readJournal(f),
      ]) {
        const e = await rejection(open);
        expect([f, e.name, e.code]).toEqual([f, 'PmemError', code]);
        if (message !== null) expect(e.message).toMatch(message);
        if (before !== null) expect(fs.readFileSync(f).equals(before)).toBe(true);
      }
    }
  });
});

/** A child process's stdout lines, and a wait for the next one. */
function lines(child: ChildProcess): () => Promise<string> {
  const got: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  let rest = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    rest += chunk.toString();
    for (let i = rest.indexOf('\n'); i >= 0; i = rest.indexOf('\n')) {
      const l = rest.slice(0, i);
      rest = rest.slice(i + 1);
      const w = waiting.shift();
      if (w !== undefined) w(l);
      else got.push(l);
    }
  });
  child.on('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w(`exit ${code} ${signal}`);
  });
  return () => (got.length > 0 ? Promise.resolve(got.shift()!) : new Promise((resolve) => waiting.push(resolve)));
}

const FIXTURES = path.join(__dirname, 'fixtures');

describe('the journal file cut short, replaced or removed while open', () => {
  test('the primary\'s file replaced, or removed: the journal stops with ERR_PMEM_INVALID before writing', async () => {
    for (const how of ['replaced', 'removed'] as const) {
      const b = await backup('swap-b');
      const p = await primary('swap-p', [addr(b)]);
      expect(await p.append('a')).toBe(1);
      if (how === 'replaced') {
        const other = file('swap-other');
        fs.writeFileSync(other, 'not the journal');
        fs.renameSync(other, p.path);
      } else fs.rmSync(p.path);
      const e = await rejection(p.append('b'));
      expect(e).toMatchObject({ code: 'ERR_PMEM_INVALID', path: p.path });
      expect(e.message).toContain(`(it was ${how} while open)`);
      expect(p.nextLsn).toBe(2); // nothing written
      expect(b.lastDurableLsn).toBe(1);
      await p.close();
      await b.close();
    }
  });

  test('the backup\'s file replaced: the backup refuses, and the primary stops with ERR_PMEM_INVALID naming it', async () => {
    const bfile = file('bswap-b');
    const b = await startReplica({ file: bfile, port: 0, create: true, size: SIZE });
    const p = await primary('bswap-p', [addr(b)]);
    expect(await p.append('a')).toBe(1);
    fs.copyFileSync(bfile, `${bfile}.copy`);
    fs.renameSync(`${bfile}.copy`, bfile);
    const e = await rejection(p.append('b'));
    expect(e.code).toBe('ERR_PMEM_INVALID');
    expect(e.message).toContain(`replica ${addr(b)} refused records: '${bfile}' is no longer this journal's file (it was replaced while open)`);
    expect(p.committedLsn).toBe(1);
    await p.close();
    await b.close();
  });

  test('the backup\'s file cut short: it refuses with ERR_PMEM_IO instead of dying of SIGBUS', async () => {
    const bfile = file('cut-backup');
    const child = spawn(process.execPath, [path.join(FIXTURES, 'replicate-faults', 'backup.js'), JSON.stringify({ file: bfile, port: 0, host: '127.0.0.1', size: SIZE })], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const next = lines(child);
      const listening = await next();
      expect(listening).toMatch(/^listening \d+$/);
      const port = Number(listening.split(' ')[1]);
      const p = await primary('cut-backup-p', [`127.0.0.1:${port}`]);
      expect(await p.append('a')).toBe(1);
      fs.truncateSync(bfile, 8192);
      const e = await rejection(p.append('b'));
      expect(e.code).toBe('ERR_PMEM_IO');
      expect(e.message).toContain(`'${bfile}' was cut to 8192 bytes while open`);
      expect([child.exitCode, child.signalCode]).toEqual([null, null]); // alive: it wrote nothing past the end
      await p.close();
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('the primary\'s file cut short: the append rejects with ERR_PMEM_IO instead of a SIGBUS', async () => {
    const b = await backup('pcut-b');
    const pfile = file('pcut-p');
    const child = spawn(process.execPath, [path.join(FIXTURES, 'replicate', 'primary-child.js'), JSON.stringify({ file: pfile, replicas: [addr(b)], size: SIZE, timeoutMs: NO_TIMEOUT })], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const next = lines(child);
      expect(await next()).toBe('open');
      child.stdin!.write('append\n');
      expect(await next()).toBe('ok 1');
      fs.truncateSync(pfile, 8192);
      child.stdin!.write('append\n');
      const answer = await next();
      expect(answer).toMatch(new RegExp(`^err ERR_PMEM_IO '${pfile}' was cut to 8192 bytes while open`));
      expect([child.exitCode, child.signalCode]).toEqual([null, null]);
      expect(b.lastDurableLsn).toBe(1);
    } finally {
      child.kill('SIGKILL');
      await b.close();
    }
  });
});

// Frame types used here by number through describeFrame.
test('frame type numbers', () => {
  expect([FRAME_HELLO, FRAME_DATA, FRAME_ACK]).toEqual([1, 4, 5]);
  expect(encodeHello({ journalId: 1, epoch: 1, committedLsn: 0, history: [{ epoch: 1, startLsn: 1, tag: 0 }] }).readUInt32LE(5)).toBe(PROTOCOL_VERSION);
});
