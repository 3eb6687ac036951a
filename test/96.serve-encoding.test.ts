// pmem serve's OBJECT ENCODING of strings as Redis 7.0 reports it: a value
// is encoded from its bytes when a command sets it whole (int, embstr up to
// 44 bytes, raw), but one changed in place (APPEND, SETRANGE, SETBIT) is
// raw however short, and INCRBYFLOAT's result is never int. RENAME, MOVE,
// COPY and SWAPDB keep a key's encoding; a restart reads it afresh. DEBUG
// OBJECT reports the same encoding, and OBJECT REFCOUNT's count, in Redis's
// format.

import { text } from './fixtures/serve/raw';
import { serveFixture } from './fixtures/serve/each';

describe('pmem serve: OBJECT ENCODING of a string', () => {
  const { client } = serveFixture('encoding.kv', { enableDebugCommand: 'yes' });

  test('APPEND to a key and SETRANGE make it raw, however short; SET, INCR and GETSET encode it from its bytes again', async () => {
    const c = await client();
    const enc = async (k: string): Promise<unknown> => text(await c.call('OBJECT', 'ENCODING', k));
    expect(text(await c.call('SET', 'a', '123'))).toBe('OK');
    expect(await enc('a')).toBe('int');
    expect(text(await c.call('APPEND', 'a', '4'))).toBe(4);
    expect(await enc('a')).toBe('raw');
    expect(text(await c.call('INCR', 'a'))).toBe(1235);
    expect(await enc('a')).toBe('int');
    expect(text(await c.call('SETRANGE', 'a', '0', '9'))).toBe(4);
    expect(await enc('a')).toBe('raw');
    expect(text(await c.call('GETSET', 'a', '5'))).toBe('9235');
    expect(await enc('a')).toBe('int');
    // An empty SETRANGE changes nothing; an empty APPEND still makes the raw copy.
    await c.call('SET', 'b', 'hello');
    expect(text(await c.call('SETRANGE', 'b', '0', ''))).toBe(5);
    expect(await enc('b')).toBe('embstr');
    expect(text(await c.call('APPEND', 'b', ''))).toBe(5);
    expect(await enc('b')).toBe('raw');
    expect(text(await c.call('SET', 'b', 'hello'))).toBe('OK');
    expect(await enc('b')).toBe('embstr');
    // A key SETRANGE makes is raw; one APPEND makes is encoded as SET's.
    expect(text(await c.call('SETRANGE', 'nb', '2', 'x'))).toBe(3);
    expect(await enc('nb')).toBe('raw');
    expect(text(await c.call('APPEND', 'na', '12'))).toBe(2);
    expect(await enc('na')).toBe('int');
    expect(text(await c.call('APPEND', 'ns', 'xy'))).toBe(2);
    expect(await enc('ns')).toBe('embstr');
  });

  test('SETBIT makes a string raw; INCRBYFLOAT makes embstr, an integer result too', async () => {
    const c = await client();
    const enc = async (k: string): Promise<unknown> => text(await c.call('OBJECT', 'ENCODING', k));
    expect(text(await c.call('SETBIT', 'sb', '1', '1'))).toBe(0);
    expect(await enc('sb')).toBe('raw');
    await c.call('SET', 'c', '12');
    expect(text(await c.call('SETBIT', 'c', '1', '1'))).toBe(0);
    expect(await enc('c')).toBe('raw');
    await c.call('SET', 'f', '1.5');
    expect(text(await c.call('INCRBYFLOAT', 'f', '0.5'))).toBe('2');
    expect(await enc('f')).toBe('embstr');
    expect(text(await c.call('INCR', 'f'))).toBe(3);
    expect(await enc('f')).toBe('int');
    // Past 44 bytes it is raw, as any string.
    await c.call('SET', 'g', '1e300');
    expect(((text(await c.call('INCRBYFLOAT', 'g', '1')) as string).length)).toBeGreaterThan(44);
    expect(await enc('g')).toBe('raw');
  });

  test('RENAME, COPY, MOVE and SWAPDB keep a raw string raw; deleting, expiring, FLUSHALL and a restart forget it', async () => {
    const c = await client();
    const enc = async (k: string): Promise<unknown> => text(await c.call('OBJECT', 'ENCODING', k));
    await c.call('SET', 'b', 'hello');
    await c.call('APPEND', 'b', '!');
    expect(text(await c.call('RENAME', 'b', 'b2'))).toBe('OK');
    expect(await enc('b2')).toBe('raw');
    expect(text(await c.call('COPY', 'b2', 'b3'))).toBe(1);
    expect(await enc('b3')).toBe('raw');
    expect(text(await c.call('MOVE', 'b3', '1'))).toBe(1);
    await c.call('SELECT', '1');
    expect(await enc('b3')).toBe('raw');
    expect(text(await c.call('SWAPDB', '0', '1'))).toBe('OK');
    // Db 1 now holds what db 0 held (b2), and db 0 what db 1 held (b3).
    expect([await enc('b2'), await enc('b3')]).toEqual(['raw', null]);
    await c.call('SELECT', '0');
    expect(await enc('b3')).toBe('raw');
    // A key made anew under the name of a raw one is encoded from its bytes.
    await c.call('DEL', 'b3');
    await c.call('SET', 'b3', 'x');
    expect(await enc('b3')).toBe('embstr');
    await c.call('SETRANGE', 'e', '0', 'abc');
    await c.call('PEXPIRE', 'e', '1');
    await new Promise((r) => setTimeout(r, 20));
    await c.call('SET', 'e', 'abc');
    expect(await enc('e')).toBe('embstr');
    await c.call('SETRANGE', 'e', '0', 'x');
    await c.call('FLUSHALL');
    await c.call('SET', 'e', 'abc');
    expect(await enc('e')).toBe('embstr');
    // DEBUG RELOAD reads every value afresh, as Redis's RDB load encodes each one from its bytes.
    await c.call('APPEND', 'e', 'd');
    await c.call('SETRANGE', 'n', '0', '42');
    expect([await enc('e'), await enc('n')]).toEqual(['raw', 'raw']);
    expect(text(await c.call('DEBUG', 'RELOAD'))).toBe('OK');
    expect([await enc('e'), await enc('n')]).toEqual(['embstr', 'int']);
  });
});

describe('pmem serve: DEBUG OBJECT and OBJECT REFCOUNT', () => {
  const fixture = serveFixture('debug-object.kv', { enableDebugCommand: 'yes' });
  const { client } = fixture;
  const line = (refcount: number, encoding: string, length: number): string =>
    `Value at:0x0 refcount:${refcount} encoding:${encoding} serializedlength:${length} lru:0 lru_seconds_idle:0`;

  test("a string's encoding and reference count are OBJECT ENCODING's and OBJECT REFCOUNT's, in Redis's format", async () => {
    const c = await client();
    const dbg = async (k: string): Promise<unknown> => text(await c.call('DEBUG', 'OBJECT', k));
    const refcount = async (k: string): Promise<unknown> => text(await c.call('OBJECT', 'REFCOUNT', k));
    await c.call('SET', 'a', '123');
    expect(await dbg('a')).toBe(line(2147483647, 'int', 3));
    await c.call('APPEND', 'a', '4');
    expect(await dbg('a')).toBe(line(1, 'raw', 4));
    expect(await refcount('a')).toBe(1);
    await c.call('SET', 'big', '20000');
    expect(await dbg('big')).toBe(line(1, 'int', 5));
    await c.call('SET', 's', 'hello');
    expect(await dbg('s')).toBe(line(1, 'embstr', 5));
    await c.call('SET', 'long', 'x'.repeat(45));
    expect(await dbg('long')).toBe(line(1, 'raw', 45));
    // A short integer that Redis keeps raw or embstr is not its shared object.
    await c.call('SETRANGE', 'n', '0', '42');
    expect([await dbg('n'), await refcount('n')]).toEqual([line(1, 'raw', 2), 1]);
    expect(text(await c.call('INCRBYFLOAT', 'f', '2'))).toBe('2');
    expect([await dbg('f'), await refcount('f')]).toEqual([line(1, 'embstr', 1), 1]);
    await c.call('INCR', 'f');
    expect([await dbg('f'), await refcount('f')]).toEqual([line(2147483647, 'int', 1), 2147483647]);
  });

  test("a collection's encoding, and the bytes the store holds for it; a list has no quicklist fields", async () => {
    const c = await client();
    const dbg = async (k: string): Promise<unknown> => text(await c.call('DEBUG', 'OBJECT', k));
    await c.call('RPUSH', 'l', 'a', 'bb', 'c');
    expect(await dbg('l')).toBe(line(1, 'quicklist', 3 * 8 + 4));
    await c.call('HSET', 'h', 'f', 'vv', 'g', '1');
    expect(await dbg('h')).toBe(line(1, 'listpack', 5));
    await c.call('HSET', 'h', 'big', 'x'.repeat(65));
    expect(await dbg('h')).toBe(line(1, 'hashtable', 5 + 3 + 65));
    await c.call('SADD', 'st', '1', '22');
    expect(await dbg('st')).toBe(line(1, 'intset', 3));
    await c.call('SADD', 'st', 'm');
    expect(await dbg('st')).toBe(line(1, 'hashtable', 4));
    await c.call('ZADD', 'z', '1', 'a', '2', 'bc');
    expect(await dbg('z')).toBe(line(1, 'listpack', 3 + 2 * 8));
    // OBJECT ENCODING gives the same, for every type.
    for (const k of ['l', 'h', 'st', 'z']) expect((await dbg(k) as string).split(' ')[3]).toBe(`encoding:${text(await c.call('OBJECT', 'ENCODING', k)) as string}`);
  });

  test('a key past its time that is still there is described and stays, as Redis finds it in its dict; once deleted it is no such key', async () => {
    const c = await client();
    // The server's clock is this test's: a real one could pass the 1 ms
    // between a PEXPIRE's now and its check, which deletes the key at once.
    let clock = Date.now();
    fixture.server.keyspace.now = () => clock;
    // With active expiry off, a key past its time stays until a command meets it.
    expect(text(await c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0'))).toBe('OK');
    expect(text(await c.call('SET', 'e', 'v', 'PX', '1'))).toBe('OK');
    await c.call('RPUSH', 'l', 'a', 'bb');
    expect(text(await c.call('PEXPIRE', 'l', '1'))).toBe(1);
    expect(text(await c.call('PTTL', 'l'))).toBe(1);
    clock += 20;
    expect(text(await c.call('DEBUG', 'OBJECT', 'e'))).toBe(line(1, 'embstr', 1));
    expect(text(await c.call('DEBUG', 'OBJECT', 'l'))).toBe(line(1, 'quicklist', 2 * 8 + 3));
    // Neither deleted nor counted expired by it.
    expect(text(await c.call('DBSIZE'))).toBe(2);
    expect(String(text(await c.call('INFO', 'stats')))).toContain('expired_keys:0\r\n');
    // A read meets it: deleted, and then DEBUG OBJECT does not find it.
    expect(text(await c.call('GET', 'e'))).toBeNull();
    expect(text(await c.call('DBSIZE'))).toBe(1);
    expect(text(await c.call('DEBUG', 'OBJECT', 'e'))).toBe('-ERR no such key');
  });

  test("a missing key is ERR no such key; no key, or two, is Redis's subcommand error", async () => {
    const c = await client();
    expect(text(await c.call('DEBUG', 'OBJECT', 'nokey'))).toBe('-ERR no such key');
    expect(text(await c.call('DEBUG', 'OBJECT'))).toBe("-ERR unknown subcommand or wrong number of arguments for 'OBJECT'. Try DEBUG HELP.");
    await c.call('SET', 'k', 'v');
    expect(text(await c.call('DEBUG', 'Object', 'k', 'k'))).toBe("-ERR unknown subcommand or wrong number of arguments for 'Object'. Try DEBUG HELP.");
  });
});
