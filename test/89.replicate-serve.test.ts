// pmem serve with replicas (openServer, `pmem serve --replica`): a write
// command's reply waits until the backup persisted the turn's writes, and
// replies keep their order behind it (strings and collections alike); a backup that never acknowledges
// gets the writing client disconnected without a reply, and the write is
// not in the store; failover opens the promoted backup's store as a
// server with every acknowledged write; the option errors.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';

import { createServer, KVStore, openServer, startStoreReplica, type RespServer, type StoreReplicaHandle } from '../lib';
import { parseServe } from '../lib/cli/serve';
import { frame, RawClient, type Reply, text } from './fixtures/serve/raw';
import { BIN } from './cli-helpers';
import { startPmem, stopPmem, testFiles } from './replicate-helpers';

const SMALL = { size: 1 << 20, segmentSize: 64 * 1024, journalSize: 1 << 20 };
const file = testFiles(['.journal']);

async function backup(): Promise<{ handle: StoreReplicaHandle; store: string }> {
  const store = file('backup.kv');
  return { handle: await startStoreReplica({ store, port: 0, create: true, ...SMALL }), store };
}

async function serve(path: string, replicas: string[], timeoutMs = 5000): Promise<{ server: RespServer; port: number }> {
  const server = await openServer({ file: path, size: 9 << 20, replicas, replicaTimeoutMs: timeoutMs, journalSize: 1 << 20 });
  const port = await server.listen(0, '127.0.0.1');
  return { server, port };
}

test('a write reply waits for the backup; replies keep their order; the backup store follows', async () => {
  const b = await backup();
  const { server, port } = await serve(file('serve.kv'), [`127.0.0.1:${b.handle.port}`]);
  const c = new RawClient(port);
  await c.ready;
  expect(text(await c.call('SET', 'a', '1'))).toBe('OK');
  // Once SET is answered the backup holds its record.
  expect(b.handle.lastDurableLsn).toBeGreaterThanOrEqual(1);
  // A pipeline: writes and reads, replies in order, reads see the writes.
  c.send(Buffer.concat([frame('SET', 'b', '2'), frame('GET', 'b'), frame('INCR', 'n'), frame('INCR', 'n'), frame('DEL', 'a'), frame('GET', 'a'), frame('MULTI'), frame('SET', 'c', '3'), frame('GET', 'c'), frame('EXEC')]));
  const replies = [];
  for (let i = 0; i < 10; i++) replies.push(text(await c.read()));
  expect(replies).toEqual(['OK', '2', 1, 2, 1, null, 'OK', 'QUEUED', 'QUEUED', ['OK', '3']]);
  expect(server.replication!.stats.rounds).toBeGreaterThanOrEqual(2);
  expect(server.replication!.stats.failedRounds).toBe(0);
  // Every write acknowledged is on the backup: WAIT and WAITAOF count it, at once.
  expect(text(await c.call('WAIT', '1', '0'))).toBe(1);
  expect(text(await c.call('WAITAOF', '1', '1', '0'))).toEqual([1, 1]);
  c.close();
  await server.close();
  await b.handle.close();
  // The backup's store holds the same keys in the server's namespace.
  const copy = KVStore.open(b.store);
  const keys = [...copy.keys()].map((k) => (k as Buffer).toString('latin1').slice(2)).sort();
  copy.close();
  expect(keys).toEqual(expect.arrayContaining(['b', 'c', 'n']));
  expect(keys).not.toContain('a');
});

test('a backup that never acknowledges: the writer is disconnected unanswered and the write is not in the store', async () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); s.resume(); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const bport = (silent.address() as net.AddressInfo).port;
  const path = file('silent.kv');
  const { server, port } = await serve(path, [`127.0.0.1:${bport}`], 200);
  const c = new RawClient(port);
  await c.ready;
  c.send(frame('SET', 'x', 'never'));
  expect(await c.read()).toBeNull(); // closed by the server, no reply
  expect(server.replication!.stats.failedRounds).toBe(1);
  // A later turn of reads only waits for no round: it is answered, and sees
  // the write, which stays in the journal (docs/api.md, openServer).
  for (let i = 0; i < 2; i++) {
    const r = new RawClient(port);
    await r.ready;
    expect([text(await r.call('GET', 'x')), text(await r.call('EXISTS', 'x', 'y'))]).toEqual(['never', 1]);
    r.close();
  }
  await server.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => silent.close(() => r()));
  const store = KVStore.open(path);
  const keys = [...store.keys()].map((k) => (k as Buffer).toString('latin1'));
  store.close();
  expect(keys.filter((k) => k.endsWith('x'))).toEqual([]);
});

test('failover: the promoted backup store serves every acknowledged write', async () => {
  const b = await backup();
  const { server, port } = await serve(file('old.kv'), [`127.0.0.1:${b.handle.port}`]);
  const c = new RawClient(port);
  await c.ready;
  for (let i = 0; i < 30; i++) c.send(frame('SET', `k${i}`, `v${i}`));
  for (let i = 0; i < 30; i++) expect(text(await c.read())).toBe('OK');
  // Collections: their element records go through the journal too.
  expect(text(await c.call('HSET', 'h', 'f1', 'a', 'f2', 'b'))).toBe(2);
  expect(text(await c.call('RPUSH', 'l', 'x', 'y', 'z'))).toBe(3);
  expect(text(await c.call('ZADD', 'z', '1', 'one', '2', 'two'))).toBe(2);
  c.close();
  b.handle.promote();
  await server.close();
  await b.handle.close();
  const b2 = await backup();
  const next = await serve(b.store, [`127.0.0.1:${b2.handle.port}`]);
  const d = new RawClient(next.port);
  await d.ready;
  for (let i = 0; i < 30; i++) expect(text(await d.call('GET', `k${i}`))).toBe(`v${i}`);
  expect(text(await d.call('HGET', 'h', 'f2'))).toBe('b');
  expect(text(await d.call('LRANGE', 'l', '0', '-1'))).toEqual(['x', 'y', 'z']);
  expect(text(await d.call('ZRANGE', 'z', '0', '-1'))).toEqual(['one', 'two']);
  expect(text(await d.call('SET', 'after', 'failover'))).toBe('OK');
  d.close();
  await next.server.close();
  await b2.handle.close();
});

test('option errors', async () => {
  expect(() => createServer({ file: file('e.kv'), replicas: ['127.0.0.1:1'] })).toThrow(TypeError);
  await expect(openServer({ file: file('e.kv'), replicas: 'x' as never })).rejects.toThrow(TypeError);
  await expect(openServer({ file: file('e.kv'), replicas: ['127.0.0.1:1'], journal: '' })).rejects.toThrow(TypeError);
  await expect(openServer({ file: file('e.kv'), replicas: ['127.0.0.1:1'], replicaTimeoutMs: 0 })).rejects.toThrow(RangeError);
  // null is a value, not an option left out: journalSize took it as 64 MiB,
  // and replicaTimeoutMs was refused as timeoutMs.
  await expect(openServer(null as never)).rejects.toThrow(new TypeError('options must be an object'));
  for (const name of ['journal', 'journalSize', 'replicaTimeoutMs', 'log', 'maxSize']) {
    const f = file('opt-null.kv');
    const err = await openServer({ file: f, replicas: ['127.0.0.1:1'], [name]: null } as never).then((s) => s.close(), (e: unknown) => e);
    expect([name, err]).toEqual([name, expect.any(TypeError)]);
    expect((err as Error).message.startsWith(`options.${name} `)).toBe(true);
    expect(fs.existsSync(f)).toBe(false);
  }
  await expect(openServer({ file: file('e.kv'), replicas: ['127.0.0.1:1'], journalSize: 100 })).rejects.toThrow(/^options\.journalSize must be \d+\.\.\d+ bytes, got 100$/);
  const bytes = (v: string): number => Number(v);
  expect(parseServe(['--replica', 'h:1', '--replica', 'h:2', '--journal', 'j', '--replica-timeout', '300'], bytes)).toMatchObject({
    replicas: ['h:1', 'h:2'], journal: 'j', replicaTimeoutMs: 300,
  });
  expect(() => parseServe(['--journal', 'j'], bytes)).toThrow(/need --replica/);
  expect(() => parseServe(['--replica-timeout', '0', '--replica', 'h:1'], bytes)).toThrow(/whole number/);
});

test('a replica address or timeout out of range is refused before the store is created, named as the option', async () => {
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ replicas: ['127.0.0.1:0'] }, 'RangeError', 'options.replicas[0]: port 0 is outside 1..65535'],
    [{ replicas: ['127.0.0.1:65536'] }, 'RangeError', 'options.replicas[0]: port 65536 is outside 1..65535'],
    [{ replicas: ['127.0.0.1:1', 'h'] }, 'TypeError', "options.replicas[1] must be 'host:port', got 'h'"],
    [{ replicas: ['127.0.0.1:1', '127.0.0.1:1'] }, 'RangeError', 'replica 127.0.0.1:1 is named twice'],
    [{ replicas: [] }, 'RangeError', 'options.replicas must name at least one backup'],
    // A Node timer of 2^31 ms or more fires at once.
    [{ replicas: ['127.0.0.1:1'], replicaTimeoutMs: 2 ** 31 }, 'RangeError', 'options.replicaTimeoutMs must be 1..2147483647, got 2147483648'],
    [{ replicas: ['127.0.0.1:1'], replicaTimeoutMs: 0 }, 'RangeError', 'options.replicaTimeoutMs must be 1..2147483647, got 0'],
  ];
  for (const [o, name, message] of cases) {
    const f = file('bad-replicas.kv');
    const err = await openServer({ file: f, ...o } as never).then(async (s) => { await s.close(); return null; }, (e: unknown) => e as Error);
    expect([o, err?.name, err?.message]).toEqual([o, name, message]);
    expect([o, fs.existsSync(f), fs.existsSync(`${f}.journal`)]).toEqual([o, false, false]);
  }
});

test('the command line: pmem replica --store as the backup of pmem serve --replica', async () => {
  const store = file('cli-backup.kv');
  const served = file('cli-served.kv');
  const backupProc = await startPmem(['replica', '--listen', '0', '--file', `${store}.journal`, '--store', store, '--create', '--size', '1M']);
  const serverProc = await startPmem(['serve', '--port', '0', '--file', served, '--journal', `${served}.journal`, '--replica', `127.0.0.1:${backupProc.port}`]);
  const c = new RawClient(serverProc.port);
  await c.ready;
  expect(text(await c.call('SET', 'cli', 'yes'))).toBe('OK');
  c.close();
  await stopPmem(serverProc.child);
  await stopPmem(backupProc.child);
  const copy = KVStore.open(store);
  const keys = [...copy.keys()].map((k) => (k as Buffer).toString('latin1').slice(2));
  copy.close();
  expect(keys).toContain('cli');
});

/** A subscriber to `set` events and a writer that enabled them, on `port`. */
async function subscribedPair(port: number): Promise<{ sub: RawClient; writer: RawClient }> {
  const sub = new RawClient(port);
  const writer = new RawClient(port);
  await Promise.all([sub.ready, writer.ready]);
  expect(text(await sub.call('SUBSCRIBE', '__keyevent@0__:set'))).toEqual(['subscribe', '__keyevent@0__:set', 1]);
  expect(text(await writer.call('CONFIG', 'SET', 'notify-keyspace-events', 'E$'))).toBe('OK');
  return { sub, writer };
}

test('keyspace events with replicas: a subscriber hears of a write once the backup holds it, and never of one the backup did not acknowledge', async () => {
  // A backup that persists: the event arrives, after the backup holds the write.
  const b = await backup();
  const ok = await serve(file('events.kv'), [`127.0.0.1:${b.handle.port}`]);
  const { sub, writer: w } = await subscribedPair(ok.port);
  try {
    const before = b.handle.lastDurableLsn;
    expect(text(await w.call('SET', 'seen', '1'))).toBe('OK');
    expect(text(await sub.read())).toEqual(['message', '__keyevent@0__:set', 'seen']);
    expect(b.handle.lastDurableLsn).toBeGreaterThan(before);
  } finally {
    sub.close();
    w.close();
    await ok.server.close();
    await b.handle.close();
  }

  // A backup that never acknowledges: the round fails, and its event, queued
  // with the round's replies, never reaches the subscriber, which is
  // disconnected with the writer (its output waited behind the round).
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); s.resume(); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const failing = await serve(file('events-silent.kv'), [`127.0.0.1:${(silent.address() as net.AddressInfo).port}`], 200);
  const { sub: s2, writer: w2 } = await subscribedPair(failing.port);
  try {
    w2.send(frame('SET', 'unseen', '1'));
    expect(await w2.read()).toBeNull();
    expect(await s2.read()).toBeNull(); // closed, with no message before it
    expect(failing.server.replication!.stats.failedRounds).toBe(1);
  } finally {
    s2.close();
    w2.close();
    await failing.server.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

/** Waits for `cond`, set by the server's own events (no time decides it). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 2));
}

/**
 * A TCP proxy to `port` whose replies (the backup's acks) are held while
 * `held` is set, and delivered in order once it is released.
 */
async function ackHolder(port: number): Promise<{ port: number; hold(): void; release(): void; close(): Promise<void> }> {
  let held = false;
  const queued: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
    }
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => (held ? queued.push(() => client.write(d)) : client.write(d)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    hold: () => { held = true; },
    release: () => {
      held = false;
      for (const send of queued.splice(0)) send();
    },
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

// The journal takes records of at most half its size (here about 512 KiB).
// A turn whose writes are more is never sent: its clients are disconnected
// unanswered, and DRAM is rebuilt as the store and the rounds still in
// flight leave it, as after a failed commit without replicas. Nothing of
// the turn is seen by anyone, then or after a restart; a round in flight
// meanwhile keeps its writes, and is answered.
test('a turn of writes larger than a journal record is dropped, reads never see it, and a round in flight keeps its writes', async () => {
  const b = await backup();
  const proxy = await ackHolder(b.handle.port);
  const path = file('too-large.kv');
  const { server, port } = await serve(path, [`127.0.0.1:${proxy.port}`]);
  const [writer, big, reader] = [new RawClient(port), new RawClient(port), new RawClient(port)];
  await Promise.all([writer.ready, big.ready, reader.ready]);
  try {
    expect(text(await writer.call('RPUSH', 'L', 'x', 'y'))).toBe(2);
    // A round in flight: the backup has it, its ack is held.
    proxy.hold();
    writer.send(frame('SET', 'k', 'v'));
    const rounds = server.replication!.stats.rounds;
    await until(() => server.replication!.stats.rounds === rounds + 1);
    // One turn (EXEC) of a list push and a value over the record.
    big.send(Buffer.concat([frame('MULTI'), frame('RPUSH', 'L', 'z'), frame('SET', 'big', Buffer.alloc(600 * 1024, 1)), frame('EXEC')]));
    await big.closedByServer();
    expect(server.replication!.stats.rounds).toBe(rounds + 1); // never sent
    // The reader's turn waits behind the round in flight, then sees it and nothing of the dropped turn.
    reader.send(Buffer.concat([frame('GET', 'k'), frame('EXISTS', 'big'), frame('LRANGE', 'L', '0', '-1')]));
    proxy.release();
    expect(text(await writer.read())).toBe('OK');
    expect([text(await reader.read()), text(await reader.read()), text(await reader.read())]).toEqual(['v', 0, ['x', 'y']]);
    expect(server.replication!.stats.failedRounds).toBe(0);
  } finally {
    for (const c of [writer, big, reader]) c.close();
    await server.close();
  }
  const again = await serve(path, [`127.0.0.1:${proxy.port}`]);
  const c = new RawClient(again.port);
  await c.ready;
  expect([text(await c.call('GET', 'k')), text(await c.call('EXISTS', 'big')), text(await c.call('LRANGE', 'L', '0', '-1'))]).toEqual(['v', 0, ['x', 'y']]);
  c.close();
  await again.server.close();
  await proxy.close();
  await b.handle.close();
});

// A round whose journal could not be opened again (the backup still did not
// answer) was dropped before its records reached the journal, though its
// writes stayed in DRAM and later acknowledged writes were built on them:
// an RPUSH answered 4 counted an element that a restart did not have.
test('a round refused before it reached the journal is sent by the next round, ahead of its writes', async () => {
  const b = await backup();
  const proxy = await ackHolder(b.handle.port);
  const path = file('unjournaled.kv');
  const { server, port } = await serve(path, [`127.0.0.1:${proxy.port}`], 300);
  const [c1, c2, c3] = [new RawClient(port), new RawClient(port), new RawClient(port)];
  await Promise.all([c1.ready, c2.ready, c3.ready]);
  try {
    expect(text(await c3.call('RPUSH', 'L', 'first'))).toBe(1);
    proxy.hold();
    const rounds = server.replication!.stats.rounds;
    c1.send(frame('RPUSH', 'L', 'r1')); // its round times out, held
    await until(() => server.replication!.stats.rounds === rounds + 1);
    c2.send(frame('RPUSH', 'L', 'r2')); // queued behind it; the reopen for it times out too
    await until(() => server.replication!.stats.rounds === rounds + 2);
    await c1.closedByServer();
    await c2.closedByServer();
    expect(server.replication!.stats.failedRounds).toBe(2);
    proxy.release();
    // The next write reopens the journal, which commits r1; r2 goes with it.
    expect(text(await c3.call('RPUSH', 'L', 'r3'))).toBe(4);
    expect(text(await c3.call('LRANGE', 'L', '0', '-1'))).toEqual(['first', 'r1', 'r2', 'r3']);
  } finally {
    for (const c of [c1, c2, c3]) c.close();
    await server.close();
  }
  const again = await serve(path, [`127.0.0.1:${proxy.port}`]);
  const c = new RawClient(again.port);
  await c.ready;
  expect(text(await c.call('LRANGE', 'L', '0', '-1'))).toEqual(['first', 'r1', 'r2', 'r3']);
  c.close();
  await again.server.close();
  await proxy.close();
  await b.handle.close();
});

// A primary killed before it announced its last commit point leaves
// acknowledged records in the backup's journal that its store has not
// applied; `pmem replica promote --file` alone left them out of the store,
// and serving the store then lacked an acknowledged write.
test('pmem replica promote --store applies every record of the journal to the store', async () => {
  const store = file('cli-promote.kv');
  const served = file('cli-promote-primary.kv');
  const backupProc = await startPmem(['replica', '--listen', '0', '--file', `${store}.journal`, '--store', store, '--create', '--size', '1M']);
  const serverProc = await startPmem(['serve', '--port', '0', '--file', served, '--journal', `${served}.journal`, '--replica', `127.0.0.1:${backupProc.port}`]);
  const c = new RawClient(serverProc.port);
  await c.ready;
  expect(text(await c.call('SET', 'first', '1'))).toBe('OK');
  expect(text(await c.call('SET', 'last', 'acknowledged'))).toBe('OK');
  c.close();
  serverProc.child.kill('SIGKILL');
  await new Promise((r) => serverProc.child.once('exit', r));
  await stopPmem(backupProc.child);
  const keysOf = (): string[] => {
    const copy = KVStore.open(store, { readOnly: true });
    try {
      return [...copy.keys()].map((k) => (k as Buffer).toString('latin1').slice(2));
    } finally {
      copy.close();
    }
  };
  // The store stopped at what it knew was committed: 'last' was acknowledged after it.
  expect(keysOf()).not.toContain('last');
  const r = spawnSync(process.execPath, [BIN, 'replica', 'promote', '--file', `${store}.journal`, '--store', store], { encoding: 'utf8' });
  expect([r.status, r.stderr]).toEqual([0, '']);
  expect(r.stdout).toMatch(/^promoted: .* epoch 2\nstore: .* holds every record of it \(applied up to LSN \d+\)\n$/);
  expect(keysOf()).toEqual(expect.arrayContaining(['first', 'last']));
  // Promoted once: a second promotion is refused (exit 3), the store untouched.
  const again = spawnSync(process.execPath, [BIN, 'replica', 'promote', '--file', `${store}.journal`, '--store', store], { encoding: 'utf8' });
  expect(again.status).toBe(3);
});

/** INFO replication's fields, by name (a field named twice is a defect: both are kept). */
async function replicationInfo(port: number): Promise<string[]> {
  const c = new RawClient(port);
  await c.ready;
  const info = text(await c.call('INFO', 'replication')) as string;
  c.close();
  return info.split('\r\n').filter((l) => l !== '' && !l.startsWith('#'));
}

/** ROLE's reply, as RawClient parses it. */
async function role(port: number): Promise<Reply | null> {
  const c = new RawClient(port);
  await c.ready;
  const r = await c.call('ROLE');
  c.close();
  return r;
}

test('INFO replication and ROLE list the backups whose handshake is done, with the LSN each persisted', async () => {
  const b = await backup();
  const { server, port } = await serve(file('info.kv'), [`127.0.0.1:${b.handle.port}`]);
  const c = new RawClient(port);
  await c.ready;
  // Once a write is answered, the backup has shaken hands and persisted it.
  expect(text(await c.call('SET', 'a', '1'))).toBe('OK');
  c.close();
  const lsn = b.handle.lastDurableLsn;
  expect(lsn).toBeGreaterThanOrEqual(1);
  expect(await replicationInfo(port)).toEqual([
    'role:master', 'connected_slaves:1', `slave0:ip=127.0.0.1,port=${b.handle.port},state=online,offset=${lsn}`, `master_repl_offset:${lsn}`,
  ]);
  expect(text(await role(port))).toEqual(['master', lsn, [['127.0.0.1', String(b.handle.port), String(lsn)]]]);
  await server.close();
  await b.handle.close();
  // A backup that is not there is not connected; a server without backups has none.
  const none = await serve(file('info-none.kv'), ['127.0.0.1:1'], 100);
  expect(await replicationInfo(none.port)).toEqual(['role:master', 'connected_slaves:0', 'master_repl_offset:0']);
  await none.server.close();
  const plain = createServer({ file: file('info-plain.kv'), size: 9 << 20 });
  const plainPort = await plain.listen(0, '127.0.0.1');
  expect(await replicationInfo(plainPort)).toEqual(['role:master', 'connected_slaves:0', 'master_repl_offset:0']);
  expect(text(await role(plainPort))).toEqual(['master', 0, []]);
  await plain.close();
});

test('a fenced primary (a backup was promoted) refuses reads as well as writes, with FENCED, from the round that met the promotion on', async () => {
  const b = await backup();
  const { server, port } = await serve(file('fenced.kv'), [`127.0.0.1:${b.handle.port}`]);
  try {
    const c = new RawClient(port);
    await c.ready;
    expect(text(await c.call('SET', 'a', '1'))).toBe('OK');
    expect(text(await c.call('GET', 'a'))).toBe('1');
    // Queued before the promotion, executed after it.
    expect(text(await c.call('MULTI'))).toBe('OK');
    expect(text(await c.call('GET', 'a'))).toBe('QUEUED');
    b.handle.promote();
    const fenced = { error: expect.stringMatching(/^FENCED this server is no longer the primary: a backup was promoted, .*promoted to epoch 2/) };
    // The first write after the promotion: its round is refused by the
    // promoted backup, and its client disconnected unanswered (its outcome
    // is unknown to it, as for any failed round); or, when the backup's
    // refusal of the primary's new handshake came first, refused at once.
    const w = new RawClient(port);
    await w.ready;
    w.send(frame('SET', 'a', '2'));
    expect([null, fenced]).toContainEqual(await w.read());
    // From then on every command that reads or writes the data is refused;
    // the others (PING, INFO) still answer.
    // A read queued before the fence was known is refused when EXEC runs it
    // (it would have read the write of the refused round, never committed).
    expect(await c.call('EXEC')).toEqual([fenced]);
    const r = new RawClient(port);
    await r.ready;
    for (const cmd of [['GET', 'a'], ['SET', 'a', '3'], ['DBSIZE'], ['EXISTS', 'a'], ['SCAN', '0'], ['KEYS', '*'], ['HGETALL', 'h']]) {
      expect([cmd, await r.call(...cmd)]).toEqual([cmd, fenced]);
    }
    expect(text(await r.call('MULTI'))).toBe('OK');
    expect(await r.call('GET', 'a')).toEqual(fenced);
    expect(await r.call('EXEC')).toEqual({ error: 'EXECABORT Transaction discarded because of previous errors.' });
    expect(text(await r.call('PING'))).toBe('PONG');
    expect(text(await r.call('INFO', 'server'))).toMatch(/redis_version/);
    c.close();
    r.close();
  } finally {
    await server.close();
    await b.handle.close();
  }
});

test('a fenced primary refuses reads before any write, once a backup refused its handshake as promoted', async () => {
  const b = await backup();
  const { server, port } = await serve(file('fenced-idle.kv'), [`127.0.0.1:${b.handle.port}`]);
  try {
    const c = new RawClient(port);
    await c.ready;
    expect(text(await c.call('SET', 'a', '1'))).toBe('OK');
    // The promotion drops the primary's connection; its new handshake is refused.
    b.handle.promote();
    while (server.replication!.fenced === null) await new Promise((r) => setTimeout(r, 5));
    expect(server.replication!.fenced).toMatch(/promoted to epoch 2/);
    expect(server.replication!.stats.failedRounds).toBe(0);
    const fenced = { error: expect.stringMatching(/^FENCED this server is no longer the primary/) };
    expect(await c.call('GET', 'a')).toEqual(fenced);
    // A write is refused before it is taken: answered, not disconnected, and in no round.
    expect(await c.call('SET', 'a', '2')).toEqual(fenced);
    expect(server.replication!.stats.rounds).toBe(1);
    expect(text(await c.call('PING'))).toBe('PONG');
    c.close();
  } finally {
    await server.close();
    await b.handle.close();
  }
});
