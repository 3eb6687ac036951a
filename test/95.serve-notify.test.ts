// pmem serve: keyspace notifications (CONFIG SET notify-keyspace-events).
// The flag string as Redis 7.0 parses and prints it, the keyspace and
// keyevent channels, class masks, the events of each command group, and the
// durability rule: an event reaches a subscriber only after its write's
// batch is durable, and never for a batch that failed to commit.
import * as fs from 'node:fs';

import { createServer, type KVStore, type RespServer } from '../lib';
import type { Client } from '../lib/server/client';
import { formatNotifyFlags, Notifier, NOTIFY_ALL, NOTIFY_KEY_MISS, NOTIFY_KEYEVENT, NOTIFY_KEYSPACE, NOTIFY_STRING, parseNotifyFlags } from '../lib/server/notify';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

describe('notify-keyspace-events flags', () => {
  test('parse and print as Redis 7.0 (A folds the classes, then K, E, m)', () => {
    const round = (s: string): string => formatNotifyFlags(parseNotifyFlags(s));
    expect(round('gKE')).toBe('gKE');
    expect(round('$lshzxeKE')).toBe('$lshzxeKE');
    expect(round('KA')).toBe('AK');
    expect(round('EA')).toBe('AE');
    expect(round('Kg$lshzxetd')).toBe('AK'); // every class of A, spelled out
    expect(round('nmKEA')).toBe('AKEm'); // n is not part of A, and Redis prints no n after an A
    expect(round('En')).toBe('nE');
    expect(round('Ksn')).toBe('snK');
    expect(round('')).toBe('');
    expect(round('EEgg')).toBe('gE');
    expect(parseNotifyFlags('A') & NOTIFY_KEY_MISS).toBe(0); // m is not part of A
    expect(parseNotifyFlags('A')).toBe(NOTIFY_ALL);
  });

  test('a character that is no class is refused', () => {
    for (const bad of ['?', 'KEx!', 'a', 'k', 'e ', ' ', 'L']) expect(parseNotifyFlags(bad)).toBe(-1);
  });

  test('with the flags 0 nothing is queued; with a class off, its events are not either', () => {
    const n = new Notifier();
    n.raise(NOTIFY_STRING, 'set', 0, 'k');
    expect(n.queued).toBe(0);
    n.flags = NOTIFY_KEYSPACE | NOTIFY_KEYEVENT | NOTIFY_KEY_MISS;
    n.raise(NOTIFY_STRING, 'set', 0, 'k');
    expect(n.queued).toBe(0);
    n.raise(NOTIFY_KEY_MISS, 'keymiss', 0, 'k');
    expect(n.queued).toBe(1);
    n.drop(); // not committed: dropped
    expect(n.queued).toBe(0);
  });
});

describe('pmem serve keyspace notifications', () => {
  let file: string;
  let server: RespServer;
  let port: number;
  const open: RawClient[] = [];

  beforeAll(async () => {
    file = tmpFile('notify.kv');
    server = createServer({ file });
    port = await server.listen(0);
  });

  afterAll(async () => {
    await server.close();
    fs.rmSync(file, { force: true });
  });

  afterEach(() => {
    for (const c of open.splice(0)) c.close();
    server.keyspace.now = Date.now;
  });

  async function client(): Promise<RawClient> {
    const c = new RawClient(port);
    await c.ready;
    open.push(c);
    return c;
  }

  /** A client subscribed to every channel by pattern (`*`), or to `channels` by name. */
  async function subscriber(...channels: string[]): Promise<RawClient> {
    const s = await client();
    if (channels.length === 0) expect(text(await s.call('PSUBSCRIBE', '*'))).toEqual(['psubscribe', '*', 1]);
    else {
      s.send(Buffer.concat(channels.map((ch) => Buffer.from(`*2\r\n$9\r\nSUBSCRIBE\r\n$${Buffer.byteLength(ch)}\r\n${ch}\r\n`))));
      for (let i = 0; i < channels.length; i++) expect(text(await s.read())).toEqual(['subscribe', channels[i], i + 1]);
    }
    return s;
  }

  /** The next `n` messages of a pattern subscriber to `*`, as "channel message". */
  async function messages(s: RawClient, n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const m = text(await s.read()) as string[];
      expect(m[0]).toBe('pmessage');
      out.push(`${m[2]} ${m[3]}`);
    }
    return out;
  }

  /**
   * Publishes a marker on 'end' and reads the pattern subscriber's messages
   * up to it: every event of the commands before it (their batches were
   * flushed before their replies) comes first.
   */
  async function drain(c: RawClient, s: RawClient): Promise<string[]> {
    expect(text(await c.call('PUBLISH', 'end', 'marker'))).toBe(1);
    const out: string[] = [];
    for (;;) {
      const m = text(await s.read()) as string[];
      if (m[2] === 'end') return out;
      out.push(`${m[2]} ${m[3]}`);
    }
  }

  async function config(c: RawClient, flags: string): Promise<void> {
    expect(text(await c.call('CONFIG', 'SET', 'notify-keyspace-events', flags))).toBe('OK');
  }

  test('CONFIG SET and GET round trip; the default is off; invalid flags are refused and change nothing', async () => {
    const c = await client();
    expect(text(await c.call('CONFIG', 'GET', 'notify-keyspace-events'))).toEqual(['notify-keyspace-events', '']);
    for (const [given, shown] of [['gKE', 'gKE'], ['$lshzxeKE', '$lshzxeKE'], ['KA', 'AK'], ['EA', 'AE'], ['KEAmn', 'AKEm'], ['', '']]) {
      await config(c, given);
      expect(text(await c.call('CONFIG', 'GET', 'notify-keyspace-events'))).toEqual(['notify-keyspace-events', shown]);
    }
    await config(c, 'Kl');
    expect(text(await c.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEq'))).toBe(
      "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
    );
    expect(text(await c.call('CONFIG', 'GET', 'notify-keyspace-events'))).toEqual(['notify-keyspace-events', 'lK']);
    await config(c, '');
  });

  test('keyspace channel: the event as message; keyevent channel: the key as message; both with KE', async () => {
    const c = await client();
    const s = await subscriber('__keyspace@0__:foo', '__keyevent@0__:set');
    await config(c, 'KA');
    await c.call('SET', 'foo', 'bar');
    expect(text(await s.read())).toEqual(['message', '__keyspace@0__:foo', 'set']);
    await config(c, 'EA');
    await c.call('SET', 'foo', 'bar');
    expect(text(await s.read())).toEqual(['message', '__keyevent@0__:set', 'foo']);
    await config(c, 'KEA');
    await c.call('SET', 'foo', 'bar');
    expect(text(await s.read())).toEqual(['message', '__keyspace@0__:foo', 'set']);
    expect(text(await s.read())).toEqual(['message', '__keyevent@0__:set', 'foo']);
    // Another database's channel names its number.
    const p = await subscriber();
    await c.call('SELECT', '3');
    await c.call('SET', 'foo', 'x');
    expect(await drain(c, p)).toEqual(['__keyspace@3__:foo set', '__keyevent@3__:set foo']);
    await config(c, '');
  });

  test('pattern subscribers get pmessage with their pattern; RESP3 subscribers get pushes', async () => {
    const c = await client();
    const s = await client();
    expect(text(await s.call('PSUBSCRIBE', '__keyevent@*__:*'))).toEqual(['psubscribe', '__keyevent@*__:*', 1]);
    const r3 = await client();
    expect(text(await r3.call('HELLO', '3'))).toBeInstanceOf(Map);
    expect(text(await r3.call('PSUBSCRIBE', '__keyspace@0__:p*'))).toEqual({ push: ['psubscribe', '__keyspace@0__:p*', 1] });
    await config(c, 'KEg$');
    await c.call('SET', 'pkey', '1');
    await c.call('DEL', 'pkey');
    expect(text(await s.read())).toEqual(['pmessage', '__keyevent@*__:*', '__keyevent@0__:set', 'pkey']);
    expect(text(await s.read())).toEqual(['pmessage', '__keyevent@*__:*', '__keyevent@0__:del', 'pkey']);
    expect(text(await r3.read())).toEqual({ push: ['pmessage', '__keyspace@0__:p*', '__keyspace@0__:pkey', 'set'] });
    expect(text(await r3.read())).toEqual({ push: ['pmessage', '__keyspace@0__:p*', '__keyspace@0__:pkey', 'del'] });
    await config(c, '');
  });

  test('masks: only the enabled classes are published; m is apart from A', async () => {
    const c = await client();
    const s = await subscriber();
    await c.call('DEL', 'mylist', 'miss');
    await config(c, 'KEl');
    await c.call('SET', 'foo', 'bar');
    await c.call('LPUSH', 'mylist', 'a');
    await c.call('DEL', 'mylist');
    expect(await drain(c, s)).toEqual(['__keyspace@0__:mylist lpush', '__keyevent@0__:lpush mylist']);
    await config(c, 'EA');
    await c.call('GET', 'miss');
    expect(await drain(c, s)).toEqual([]);
    await config(c, 'Em');
    await c.call('GET', 'miss');
    await c.call('SET', 'miss', '1');
    expect(await drain(c, s)).toEqual(['__keyevent@0__:keymiss miss']);
    await config(c, 'En');
    await c.call('SET', 'newkey', 'a');
    await c.call('SET', 'newkey', 'b'); // not new
    await c.call('RPUSH', 'newlist', 'a');
    await c.call('RPUSH', 'newlist', 'b'); // not new
    expect(await drain(c, s)).toEqual(['__keyevent@0__:new newkey', '__keyevent@0__:new newlist']);
    await c.call('DEL', 'newkey', 'newlist', 'miss', 'foo');
    await config(c, '');
  });

  test('keymiss: a read of an absent key, as in Redis (lookupKeyRead), not a write command\'s lookup', async () => {
    const c = await client();
    const s = await subscriber();
    await c.call('DEL', 'm1', 'm2', 'present');
    await c.call('SET', 'present', '1');
    await config(c, 'Em');
    await c.call('GET', 'm1');
    await c.call('MGET', 'm1', 'present', 'm2');
    await c.call('EXISTS', 'present', 'm2');
    await c.call('HGET', 'm1', 'f');
    await c.call('LRANGE', 'm2', '0', '-1');
    await c.call('OBJECT', 'ENCODING', 'm1'); // looked up without the event
    await c.call('INCR', 'm1'); // a write's lookup: no event
    await c.call('GETSET', 'm2', 'x'); // GETSET reads the old value: an event
    await c.call('GETSET', 'm2', 'y');
    expect(await drain(c, s)).toEqual(['m1', 'm1', 'm2', 'm2', 'm1', 'm2', 'm2'].map((k) => `__keyevent@0__:keymiss ${k}`));
    await c.call('DEL', 'm1', 'm2', 'present');
    await config(c, '');
  });

  test('the events of strings and generic commands, in command order', async () => {
    const c = await client();
    const s = await subscriber();
    await config(c, 'Eg$');
    await c.call('SET', 'a', '1', 'EX', '100');
    await c.call('INCRBY', 'a', '2');
    await c.call('INCRBYFLOAT', 'a', '0.5');
    await c.call('APPEND', 'a', 'x');
    await c.call('SETRANGE', 'a', '0', 'y');
    await c.call('SETRANGE', 'a', '0', ''); // no change: no event
    await c.call('PERSIST', 'a');
    await c.call('PERSIST', 'a'); // no expiry: no event
    await c.call('MSET', 'b', '1', 'c', '2');
    await c.call('EXPIRE', 'b', '100');
    await c.call('RENAME', 'b', 'd');
    await c.call('COPY', 'd', 'e');
    await c.call('MOVE', 'e', '1');
    await c.call('GETDEL', 'c');
    await c.call('GETEX', 'd', 'PERSIST');
    await c.call('PEXPIREAT', 'd', '1'); // in the past: a delete, not an expiry
    await c.call('DEL', 'a', 'nothing');
    await c.call('GET', 'nothing'); // keymiss is not enabled
    expect(await drain(c, s)).toEqual([
      'set a', 'expire a', 'incrby a', 'incrbyfloat a', 'append a', 'setrange a', 'persist a',
      'set b', 'set c', 'expire b', 'rename_from b', 'rename_to d', 'copy_to e',
      'move_from e', 'move_to e', 'del c', 'persist d', 'del d', 'del a',
    ].map((e) => `__keyevent@${e.startsWith('move_to') ? 1 : 0}__:${e}`));
    await c.call('SELECT', '1');
    await c.call('DEL', 'e');
    await config(c, '');
  });

  test('the events of lists, sets, zsets and hashes, as Redis raises them', async () => {
    const c = await client();
    const s = await subscriber();
    await c.call('DEL', 'l', 'l2', 'st', 'st2', 'z', 'z2', 'zd', 'h', 'sd');
    await config(c, 'KA');
    const ev = async (...cmd: string[]): Promise<string[]> => {
      await c.call(...cmd);
      return (await drain(c, s)).map((m) => m.replace(/^__keyspace@0__:/, ''));
    };
    expect(await ev('RPUSH', 'l', 'a', 'b', 'c')).toEqual(['l rpush']);
    expect(await ev('LSET', 'l', '0', 'x')).toEqual(['l lset']);
    expect(await ev('LINSERT', 'l', 'BEFORE', 'x', 'w')).toEqual(['l linsert']);
    expect(await ev('LREM', 'l', '0', 'nope')).toEqual([]);
    expect(await ev('LREM', 'l', '0', 'w')).toEqual(['l lrem']);
    expect(await ev('LMOVE', 'l', 'l2', 'LEFT', 'RIGHT')).toEqual(['l2 rpush', 'l lpop']);
    expect(await ev('LMOVE', 'l', 'l', 'LEFT', 'RIGHT')).toEqual(['l rpush', 'l lpop']);
    expect(await ev('LTRIM', 'l', '1', '0')).toEqual(['l ltrim', 'l del']);
    expect(await ev('RPOP', 'l2')).toEqual(['l2 rpop', 'l2 del']);
    expect(await ev('LPUSHX', 'l2', 'a')).toEqual([]);
    expect(await ev('SADD', 'st', 'a', 'b')).toEqual(['st sadd']);
    expect(await ev('SADD', 'st', 'a')).toEqual([]);
    expect(await ev('SREM', 'st', 'x')).toEqual([]);
    expect(await ev('SMOVE', 'st', 'st2', 'a')).toEqual(['st srem', 'st2 sadd']);
    expect(await ev('SINTERSTORE', 'sd', 'st', 'st2')).toEqual([]); // empty, and sd was absent: nothing
    expect(await ev('SUNIONSTORE', 'sd', 'st', 'st2')).toEqual(['sd sunionstore']);
    expect(await ev('SINTERSTORE', 'sd', 'st', 'st2')).toEqual(['sd del']);
    expect(await ev('SPOP', 'st')).toEqual(['st spop', 'st del']);
    expect(await ev('ZADD', 'z', '1', 'a', '2', 'b', '3', 'c')).toEqual(['z zadd']);
    expect(await ev('ZADD', 'z', '1', 'a')).toEqual([]);
    expect(await ev('ZINCRBY', 'z', '1', 'a')).toEqual(['z zincr']);
    expect(await ev('ZREM', 'z', 'x')).toEqual([]);
    expect(await ev('ZREMRANGEBYSCORE', 'z', '3', '3')).toEqual(['z zremrangebyscore']);
    expect(await ev('ZUNIONSTORE', 'z2', '1', 'z')).toEqual(['z2 zunionstore']);
    expect(await ev('ZRANGESTORE', 'zd', 'z', '0', '0')).toEqual(['zd zrangestore']);
    expect(await ev('ZPOPMIN', 'z', '5')).toEqual(['z zpopmin', 'z del']);
    expect(await ev('HSET', 'h', 'f', '1', 'g', '2')).toEqual(['h hset']);
    expect(await ev('HINCRBY', 'h', 'f', '1')).toEqual(['h hincrby']);
    expect(await ev('HINCRBYFLOAT', 'h', 'f', '1.5')).toEqual(['h hincrbyfloat']);
    expect(await ev('HDEL', 'h', 'f', 'g')).toEqual(['h hdel', 'h del']);
    await c.call('DEL', 'l', 'l2', 'st', 'st2', 'z', 'z2', 'zd', 'h', 'sd');
    await config(c, '');
  });

  test('the new key event: only for a key that was absent, before the command\'s own event', async () => {
    const c = await client();
    const s = await subscriber();
    await c.call('DEL', 'n1', 'n2', 'n3');
    await config(c, 'EA$n');
    await c.call('SET', 'n1', 'a');
    await c.call('SUNIONSTORE', 'n1', 'nothing'); // replaces n1 with nothing: a delete
    await c.call('SADD', 'n2', 'a');
    await c.call('SUNIONSTORE', 'n3', 'n2');
    await c.call('SUNIONSTORE', 'n3', 'n2'); // overwritten in place: not new
    expect(await drain(c, s)).toEqual([
      'new n1', 'set n1', 'del n1', 'new n2', 'sadd n2', 'new n3', 'sunionstore n3', 'sunionstore n3',
    ].map((e) => `__keyevent@0__:${e.split(' ')[0]} ${e.split(' ')[1]}`));
    await c.call('DEL', 'n2', 'n3');
    await config(c, '');
  });

  test('expired events: from active expiry and from a read that finds the key expired', async () => {
    const c = await client();
    const s = await subscriber();
    await c.call('DEL', 'xa', 'xb');
    await config(c, 'Ex');
    await c.call('PSETEX', 'xa', '100', '1');
    await c.call('PSETEX', 'xb', '100', '1');
    const later = Date.now() + 60_000;
    server.keyspace.now = () => later;
    // Active expiry: the cycle deletes xa and xb without any command touching them.
    expect(server.expiry.cycle()).toBe(2);
    expect(server.keyspace.dbs[0].type('xa')).toBeUndefined();
    expect((await messages(s, 2)).sort()).toEqual(['__keyevent@0__:expired xa', '__keyevent@0__:expired xb']);
    // Lazy expiry: GET finds it expired.
    server.keyspace.now = Date.now;
    await c.call('PSETEX', 'xa', '100', '1');
    server.keyspace.now = () => later;
    expect(text(await c.call('GET', 'xa'))).toBeNull();
    expect(await drain(c, s)).toEqual(['__keyevent@0__:expired xa']);
    await config(c, '');
  });

  test('MULTI/EXEC: the events of the transaction, in order, after its commit', async () => {
    const c = await client();
    const s = await subscriber();
    await c.call('DEL', 't1', 't2');
    await config(c, 'E$g');
    await c.call('MULTI');
    await c.call('SET', 't1', 'a');
    await c.call('SET', 't2', 'b');
    await c.call('DEL', 't1');
    expect(text(await c.call('EXEC'))).toEqual(['OK', 'OK', 1]);
    expect(await drain(c, s)).toEqual(['__keyevent@0__:set t1', '__keyevent@0__:set t2', '__keyevent@0__:del t1']);
    await c.call('DEL', 't2');
    await config(c, '');
  });

  test('a PUBLISH after a write in the same turn reaches subscribers after the write\'s events, with its count', async () => {
    const c = await client();
    const s = await subscriber();
    await config(c, 'E$');
    // One send: both commands run in one turn, the event waits for the commit, the message behind it.
    const batches = server.stats.batches;
    c.send(Buffer.concat([frame('SET', 'ordered', '1'), frame('PUBLISH', 'chan', 'after-set'), frame('DEL', 'ordered')]));
    expect(text(await c.read())).toBe('OK');
    expect(text(await c.read())).toBe(1);
    expect(text(await c.read())).toBe(1);
    expect(server.stats.batches - batches).toBe(1); // the three ran in one turn: one commit
    expect(await drain(c, s)).toEqual(['__keyevent@0__:set ordered', 'chan after-set']);
    await config(c, '');
  });

  test('an event is published only after its batch is durable', async () => {
    const c = await client();
    const s = await subscriber();
    await config(c, 'KEA');
    const sub = [...server.clients.values()].filter((x) => x.patterns.has('*')).pop() as Client; // the newest
    const written = sub.socket.bytesWritten;
    const store = server.store as unknown as { batch: KVStore['batch'] };
    const real = store.batch.bind(server.store);
    const seen: Array<{ queued: boolean; bytes: number }> = [];
    store.batch = (ops) => {
      // At the commit nothing of the batch's events is in the subscriber's output or on its socket.
      seen.push({ queued: !sub.out.empty, bytes: sub.socket.bytesWritten - written });
      real(ops);
    };
    try {
      await c.call('SET', 'durable', '1');
    } finally {
      store.batch = real as never;
    }
    expect(seen).toEqual([{ queued: false, bytes: 0 }]);
    expect(await messages(s, 2)).toEqual(['__keyspace@0__:durable set', '__keyevent@0__:set durable']);
    await c.call('DEL', 'durable');
    await messages(s, 2);
    await config(c, '');
  });

  test('a write whose batch fails to commit raises no event; the subscriber stays connected', async () => {
    const c = await client();
    const s = await subscriber();
    await config(c, 'E$g');
    const store = server.store as unknown as { batch: KVStore['batch'] };
    const real = store.batch;
    let failed = 0;
    store.batch = () => {
      store.batch = real;
      failed++;
      throw Object.assign(new Error('simulated: the store is full'), { name: 'PmemError', code: 'ERR_PMEM_NO_SPACE' });
    };
    const w = await client();
    // The PUBLISH waits behind the SET's event; it depends on no write, so the failed commit does not take it.
    w.send(Buffer.concat([frame('SET', 'lost', '1'), frame('PUBLISH', 'chan', 'published')]));
    expect(await w.read()).toBeNull(); // the writer is disconnected, unacknowledged
    expect(failed).toBe(1);
    await c.call('SET', 'kept', '1');
    expect(await drain(c, s)).toEqual(['chan published', '__keyevent@0__:set kept']);
    expect(s.closed).toBe(false);
    expect(text(await c.call('EXISTS', 'lost'))).toBe(0);
    await c.call('DEL', 'kept');
    await config(c, '');
  });
});
