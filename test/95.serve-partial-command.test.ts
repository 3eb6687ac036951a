// A command that fails after it has written part of its changes (an
// allocation refused at a later member, a JavaScript Map at its 2^24
// entries): no part of it is ever made durable. The turn's batch is
// dropped as a failed commit's is, DRAM comes back to the store's state,
// the client is closed (with the error in place of the reply when no reply
// of its was queued before), and every other client with replies queued
// in the turn is disconnected without them. A command
// refused before it writes is an ordinary error reply. Maps at their
// limit refuse before anything is written where one request adds one
// entry (a key's expiry, a new collection).
import { createServer } from '../lib';
import * as members from '../lib/server/members';
import { serveFixture } from './fixtures/serve/each';
import { frame, RawClient, text } from './fixtures/serve/raw';

const s = serveFixture('partial-command.kv');

/** Every reply until the server closes the connection; 'open' after the `n`th (as many as the requests sent) when it did not. */
async function readUntilClosed(c: RawClient, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i <= n; i++) {
    const r = i < n ? await c.read() : 'open';
    if (r === null) return out;
    out.push(text(r));
  }
  return out;
}

/** Makes Members.set refuse the field or member `id` as a Map past its 2^24 entries does. */
function refuseMember(id: string): jest.SpyInstance {
  const real = members.Members.prototype.set;
  return jest.spyOn(members.Members.prototype, 'set').mockImplementation(function set(this: members.Members<unknown>, k: string, v: unknown) {
    if (k === id) throw new RangeError('Map maximum size exceeded');
    return real.call(this, k, v);
  });
}

/** Each key's type and hash fields (as "field=value", sorted) in the fixture's store, read by a server of its own once the fixture's has closed. */
async function reopened(keys: string[]): Promise<unknown[]> {
  await s.server.close();
  const server = createServer({ file: s.file });
  const c = new RawClient(await server.listen(0));
  await c.ready;
  const out: unknown[] = [];
  try {
    for (const k of keys) {
      out.push(text(await c.call('TYPE', k)));
      const flat = text(await c.call('HGETALL', k)) as string[];
      out.push(flat.flatMap((f, i) => (i % 2 === 0 ? [`${f}=${flat[i + 1]}`] : [])).sort());
    }
  } finally {
      await server.close();
  }
  return out;
}

test('an HSET refused at its third field: nothing of it, nor of the turn, is kept; its client and the turn\'s others are disconnected', async () => {
  const server = s.server;
  const a = await s.client();
  const b = await s.client();
  const watcher = await s.client();
  expect(text(await a.call('HSET', 'h', 'old', '0'))).toBe(1);
  expect(text(await watcher.call('WATCH', 'other'))).toBe('OK');
  const batches = server.keyspace.commits;
  const spy = refuseMember('f3');
  try {
    // Both in the kernel before the server reads either: one turn.
    b.send(frame('SET', 'b', 'from b'));
    a.send(Buffer.concat([frame('SET', 'before', '1'), frame('HSET', 'h', 'f1', 'v1', 'f2', 'v2', 'f3', 'v3'), frame('SET', 'after', '1')]));
    // a is closed without a reply: an error would pair with SET before, whose reply is dropped.
    expect(await readUntilClosed(a, 3)).toEqual([]);
    // b's SET was in the dropped batch: b gets no reply, and is disconnected.
    expect(await readUntilClosed(b, 1)).toEqual([]);
    // The refusal came after f1 and f2 were set.
    expect(spy.mock.calls.map((call) => call[0])).toEqual(['f1', 'f2', 'f3']);
    // A request with no reply queued before it gets the error in place of its reply.
    const alone = await s.client();
    alone.send(Buffer.concat([frame('HSET', 'h2', 'f1', 'v1', 'f3', 'v3'), frame('PING')]));
    expect(await readUntilClosed(alone, 2)).toEqual([
      '-ERR Map maximum size exceeded; nothing of it was applied, and the connection is closed',
    ]);
  } finally {
    spy.mockRestore();
  }
  expect(server.keyspace.commits).toBe(batches); // nothing was committed since
  // DRAM is the store's state again, and a watcher's EXEC fails.
  const c = await s.client();
  expect(text(await c.call('HGETALL', 'h'))).toEqual(['old', '0']);
  for (const k of ['before', 'after', 'b', 'h2']) expect(text(await c.call('EXISTS', k))).toBe(0);
  expect(text(await watcher.call('MULTI'))).toBe('OK');
  expect(text(await watcher.call('PING'))).toBe('QUEUED');
  expect(text(await watcher.call('EXEC'))).toBeNull();
  // The server goes on serving; the field refused before is accepted now.
  expect(text(await c.call('HSET', 'h', 'f1', 'v1', 'f2', 'v2', 'f3', 'v3'))).toBe(3);
  expect(await reopened(['h', 'before'])).toEqual(['hash', ['f1=v1', 'f2=v2', 'f3=v3', 'old=0'], 'none', []]);
});

test('a command in EXEC refused after it wrote: the transaction stops there and nothing of it is kept', async () => {
  const a = await s.client();
  for (const [cmd, reply] of [[['MULTI'], 'OK'], [['SET', 'x', '1'], 'QUEUED'], [['SADD', 's', 'm1', 'm2', 'boom', 'm4'], 'QUEUED'], [['SET', 'y', '1'], 'QUEUED']] as const) {
    expect(text(await a.call(...cmd))).toBe(reply);
  }
  const spy = refuseMember('boom');
  try {
    // The PING after EXEC shows whether the connection was closed after EXEC's reply.
    a.send(Buffer.concat([frame('EXEC'), frame('PING')]));
    expect(await readUntilClosed(a, 2)).toEqual([
      '-ERR Map maximum size exceeded; nothing of it was applied, and the connection is closed',
    ]);
  } finally {
    spy.mockRestore();
  }
  const c = await s.client();
  for (const k of ['x', 's', 'y']) expect(text(await c.call('EXISTS', k))).toBe(0);
  expect(await reopened(['s', 'x'])).toEqual(['none', [], 'none', []]);
});

test('a blocked BLMOVE served with its destination refused after the pop was written: the turn is dropped, and the server goes on', async () => {
  const server = s.server;
  const w = await s.client();
  const p = await s.client();
  // The PING behind it shows whether the connection was closed after BLMOVE's reply.
  w.send(Buffer.concat([frame('BLMOVE', 'src', 'dst', 'LEFT', 'RIGHT', '0'), frame('PING')]));
  while (server.blocking.blockedClients === 0) await new Promise((resolve) => setImmediate(resolve));
  const real = members.roomForOne;
  let collections = 0;
  // The first new collection (RPUSH's src) is let through, the second (BLMOVE's dst) refused.
  const spy = jest.spyOn(members, 'roomForOne').mockImplementation((m, what) => {
    if (/collections/.test(what) && ++collections === 2) throw new RangeError(`${what} holds ${members.MAP_MAX} entries, the most it can`);
    real(m, what);
  });
  try {
    p.send(frame('RPUSH', 'src', 'a'));
    // The waiter had no reply queued: it gets the error; the pusher's reply is dropped with its write.
    expect(await readUntilClosed(w, 2)).toEqual([
      `-ERR database 0's map of collections holds ${members.MAP_MAX} entries, the most it can; nothing of it was applied, and the connection is closed`,
    ]);
    expect(await readUntilClosed(p, 1)).toEqual([]);
  } finally {
    spy.mockRestore();
  }
  expect(collections).toBe(2);
  expect(server.blocking.blockedClients).toBe(0);
  const c = await s.client();
  expect(text(await c.call('EXISTS', 'src', 'dst'))).toBe(0);
  expect(text(await c.call('RPUSH', 'src', 'b'))).toBe(1);
});

test('a command refused before it writes is an error reply: the connection and the turn\'s other writes stay', async () => {
  const a = await s.client();
  expect(text(await a.call('HSET', 'h', 'old', '0'))).toBe(1);
  const spy = refuseMember('f1');
  try {
    // The hash exists (no META to write first): f1 is refused before anything is written.
    a.send(Buffer.concat([frame('SET', 'before', '1'), frame('HSET', 'h', 'f1', 'v1', 'f2', 'v2'), frame('SET', 'after', '1')]));
    expect([text(await a.read()), text(await a.read()), text(await a.read())]).toEqual(['OK', '-ERR Map maximum size exceeded', 'OK']);
  } finally {
    spy.mockRestore();
  }
  expect(text(await a.call('EXISTS', 'before', 'after', 'h'))).toBe(3);
  expect(text(await a.call('HGETALL', 'h'))).toEqual(['old', '0']);
});

test('a full map of expiry times or of collections refuses before anything is written', async () => {
  const a = await s.client();
  expect(text(await a.call('SET', 'k', 'old'))).toBe('OK');
  const real = members.roomForOne;
  const spy = jest.spyOn(members, 'roomForOne').mockImplementation((m, what) => {
    if (/expiry|collections/.test(what)) throw new RangeError(`${what} holds ${members.MAP_MAX} entries, the most it can`);
    real(m, what);
  });
  try {
    a.send(Buffer.concat([frame('SET', 'before', '1'), frame('SET', 'k', 'new', 'EX', '100'), frame('EXPIRE', 'before', '100'), frame('RPUSH', 'l', 'a'), frame('SET', 'after', '1')]));
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(text(await a.read()));
    expect(replies).toEqual([
      'OK',
      `-ERR database 0's map of expiry times holds ${members.MAP_MAX} entries, the most it can`,
      `-ERR database 0's map of expiry times holds ${members.MAP_MAX} entries, the most it can`,
      `-ERR database 0's map of collections holds ${members.MAP_MAX} entries, the most it can`,
      'OK',
    ]);
  } finally {
    spy.mockRestore();
  }
  expect(text(await a.call('GET', 'k'))).toBe('old');
  expect(text(await a.call('TTL', 'before'))).toBe(-1);
  expect(text(await a.call('EXISTS', 'l', 'before', 'after'))).toBe(2);
});

test('MAP_MAX is what a Map of this V8 holds', () => {
  // A Map with MAP_MAX entries refuses one more: the bound the checks above use is the real one.
  const m = new Map<number, number>();
  for (let i = 0; i < members.MAP_MAX; i++) m.set(i, i);
  expect(() => m.set(-1, -1)).toThrow(RangeError);
});
