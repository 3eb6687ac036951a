// pmem serve: the keyspace events of each command group, with the names,
// classes and order Redis 7.0 raises them (its src/t_*.c, db.c, expire.c),
// the 'new' and 'keymiss' events, and expiry's 'expired', lazy and active.
import { text } from './fixtures/serve/raw';
import { NotifyHarness } from './fixtures/serve/notify';

describe('pmem serve keyspace events by command', () => {
  const h = NotifyHarness.install();
  const { client, subscriber, messages, drain, config } = h;

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

  test('keymiss: none for a read refused for its arguments (Redis parses them before the lookup)', async () => {
    const c = await client();
    const s = await subscriber();
    await c.call('DEL', 'm1', 'm2');
    await config(c, 'Em');
    expect(text(await c.call('LRANGE', 'm1', 'zero', '-1'))).toMatch(/^-ERR value is not an integer/);
    expect(text(await c.call('GETRANGE', 'm1', '0', 'end'))).toMatch(/^-ERR value is not an integer/);
    expect(text(await c.call('ZRANGE', 'm1', '0', '1', 'BYSCORE', 'LIMIT', '0'))).toMatch(/^-ERR syntax error/);
    await c.call('GET', 'm2');
    expect(await drain(c, s)).toEqual(['__keyevent@0__:keymiss m2']);
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
    // The keyspace's clock stands still until the test moves it: the
    // server's own 100 ms expiry cycle cannot take them before the cycle
    // below, however slow the round trips.
    const start = Date.now();
    h.server.keyspace.now = () => start;
    await c.call('PSETEX', 'xa', '10000', '1');
    await c.call('PSETEX', 'xb', '10000', '1');
    const later = start + 60_000;
    h.server.keyspace.now = () => later;
    // Active expiry: the cycle deletes xa and xb without any command touching them.
    expect(h.server.expiry.cycle()).toBe(2);
    expect(h.server.keyspace.dbs[0].type('xa')).toBeUndefined();
    expect((await messages(s, 2)).sort()).toEqual(['__keyevent@0__:expired xa', '__keyevent@0__:expired xb']);
    // Lazy expiry: GET finds it expired.
    h.server.keyspace.now = () => start;
    await c.call('PSETEX', 'xa', '10000', '1');
    h.server.keyspace.now = () => later;
    expect(text(await c.call('GET', 'xa'))).toBeNull();
    expect(await drain(c, s)).toEqual(['__keyevent@0__:expired xa']);
    await config(c, '');
  });

  test('SET with EXAT or PXAT in the past: \'set\' and \'expire\', then \'expired\' at the next read; GETEX with one: \'del\'', async () => {
    // Redis 7.0's setGenericCommand sets the key and its expiry whatever the
    // time, and raises both events; the key is then expired like any other.
    // getexCommand deletes at once when an absolute time has passed. The
    // same commands against redis-server 7.0.15 raise the same events.
    const c = await client();
    const s = await subscriber();
    await c.call('DEL', 'pa', 'pb', 'pc');
    await config(c, 'Egx$');
    // The reads below raise 'expired', not the server's 100 ms expiry cycle
    // between two round trips.
    expect(text(await c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0'))).toBe('OK');
    expect(text(await c.call('SET', 'pa', '1', 'EXAT', '1'))).toBe('OK');
    expect(text(await c.call('SET', 'pb', '1', 'PXAT', String(Date.now() - 1000)))).toBe('OK');
    expect(text(await c.call('GET', 'pa'))).toBeNull();
    expect(text(await c.call('EXISTS', 'pb'))).toBe(0);
    await c.call('SET', 'pc', '1');
    expect(text(await c.call('GETEX', 'pc', 'EXAT', '1'))).toBe('1');
    expect(text(await c.call('EXISTS', 'pc'))).toBe(0);
    expect(await drain(c, s)).toEqual([
      'set pa', 'expire pa', 'set pb', 'expire pb', 'expired pa', 'expired pb', 'set pc', 'del pc',
    ].map((e) => `__keyevent@0__:${e}`));
    await c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1');
    await config(c, '');
  });
});
