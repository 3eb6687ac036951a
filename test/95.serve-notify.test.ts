// pmem serve: keyspace notifications (CONFIG SET notify-keyspace-events).
// The flag string as Redis 7.0 parses and prints it, the keyspace and
// keyevent channels, class masks, PUBLISH's order among events, and the
// durability rule: an event reaches a subscriber only after its write's
// batch is durable, and never for a batch that failed to commit. Each
// command group's events: 95.serve-notify-events.
import type { Client } from '../lib/server/client';
import { formatNotifyFlags, Notifier, NOTIFY_ALL, NOTIFY_KEY_MISS, NOTIFY_KEYEVENT, NOTIFY_KEYSPACE, NOTIFY_STRING, parseNotifyFlags } from '../lib/server/notify';
import { failNextBatch, watchBatches } from './fixtures/serve/batch';
import { frame, text } from './fixtures/serve/raw';
import { NotifyHarness } from './fixtures/serve/notify';

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
  const h = NotifyHarness.install();
  const { client, subscriber, messages, drain, config } = h;

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
    const batches = h.server.stats.batches;
    c.send(Buffer.concat([frame('SET', 'ordered', '1'), frame('PUBLISH', 'chan', 'after-set'), frame('DEL', 'ordered')]));
    expect(text(await c.read())).toBe('OK');
    expect(text(await c.read())).toBe(1);
    expect(text(await c.read())).toBe(1);
    expect(h.server.stats.batches - batches).toBe(1); // the three ran in one turn: one commit
    expect(await drain(c, s)).toEqual(['__keyevent@0__:set ordered', 'chan after-set']);
    await config(c, '');
  });

  test('an event is published only after its batch is durable', async () => {
    const c = await client();
    const s = await subscriber();
    await config(c, 'KEA');
    const sub = [...h.server.clients.values()].filter((x) => x.patterns.has('*')).pop() as Client; // the newest
    const written = sub.socket.bytesWritten;
    const seen: Array<{ queued: boolean; bytes: number }> = [];
    // At the commit nothing of the batch's events is in the subscriber's output or on its socket.
    const restore = watchBatches(h.server, () => seen.push({ queued: !sub.out.empty, bytes: sub.socket.bytesWritten - written }));
    try {
      await c.call('SET', 'durable', '1');
    } finally {
      restore();
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
    const failed = failNextBatch(h.server);
    const w = await client();
    // The PUBLISH waits behind the SET's event; it depends on no write, so the failed commit does not take it.
    w.send(Buffer.concat([frame('SET', 'lost', '1'), frame('PUBLISH', 'chan', 'published')]));
    expect(await w.read()).toBeNull(); // the writer is disconnected, unacknowledged
    expect(failed()).toBe(1);
    await c.call('SET', 'kept', '1');
    expect(await drain(c, s)).toEqual(['chan published', '__keyevent@0__:set kept']);
    expect(s.closed).toBe(false);
    expect(text(await c.call('EXISTS', 'lost'))).toBe(0);
    await c.call('DEL', 'kept');
    await config(c, '');
  });
});
