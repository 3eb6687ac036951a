// pmem serve before AUTH, as Redis 7.0 decides it (authRequired): who must
// authenticate when the password changes under connected clients, which
// commands run before AUTH, and the sizes of request a client that must
// still authenticate may send (10 arguments, 16384-byte bulks).

import { DEFAULT_LIMITS, ProtocolError, RespParser } from '../lib/server/resp';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { serveFixture } from './fixtures/serve/each';

const NOAUTH = '-NOAUTH Authentication required.';

describe('pmem serve: who must authenticate', () => {
  const { client } = serveFixture('auth.kv', { requirepass: 'sekret' });

  test('once the password is removed, a client that never gave it runs commands; one set later binds only clients connected after it', async () => {
    const waiting = await client();
    expect(text(await waiting.call('SET', 'k', 'v'))).toBe(NOAUTH);
    const admin = await client();
    expect(text(await admin.call('AUTH', 'sekret'))).toBe('OK');
    expect(text(await admin.call('CONFIG', 'SET', 'requirepass', ''))).toBe('OK');
    // Redis's authRequired: no password, so nobody needs AUTH.
    expect(text(await waiting.call('SET', 'k', 'v'))).toBe('OK');
    // HELLO still asks whether this client authenticated, as Redis's does.
    expect(text(await waiting.call('HELLO', '3'))).toMatch(/^-NOAUTH HELLO must be called with the client already authenticated/);
    const early = await client();
    expect(text(await admin.call('CONFIG', 'SET', 'requirepass', 'again'))).toBe('OK');
    // The password is back: the client that never authenticated needs it
    // again; one that connected while there was none is authenticated.
    expect(text(await waiting.call('GET', 'k'))).toBe(NOAUTH);
    expect(text(await early.call('GET', 'k'))).toBe('v');
    const late = await client();
    expect(text(await late.call('GET', 'k'))).toBe(NOAUTH);
    // RESET makes a client as a new connection is: it needs the password now.
    expect(text(await early.call('RESET'))).toBe('RESET');
    expect(text(await early.call('GET', 'k'))).toBe(NOAUTH);
  });

  test("before AUTH, a command with the wrong number of arguments and a protected one are told so first, in Redis 7.0's order", async () => {
    const c = await client();
    expect(text(await c.call('GET'))).toBe("-ERR wrong number of arguments for 'get' command");
    expect(text(await c.call('NOSUCHCOMMAND', 'x'))).toMatch(/^-ERR unknown command 'NOSUCHCOMMAND'/);
    expect(text(await c.call('DEBUG', 'SLEEP', '0'))).toMatch(/^-ERR DEBUG command not allowed/);
    expect(text(await c.call('GET', 'k'))).toBe(NOAUTH);
  });

  test('SHUTDOWN before AUTH is refused, as in Redis (it is not a no-auth command); the server goes on', async () => {
    const c = await client();
    expect(text(await c.call('SHUTDOWN', 'NOSAVE'))).toBe(NOAUTH);
    expect(text(await c.call('AUTH', 'sekret'))).toBe('OK');
    expect(text(await c.call('PING'))).toBe('PONG');
  });
});

describe('RESP parser: the sizes of an unauthenticated request, in Redis 7.0\'s order', () => {
  /** What the parser makes of `input`: the requests' arguments, then the error it throws, if any. */
  function parse(input: string, authRequired: boolean): (string[] | string)[] {
    const p = new RespParser(DEFAULT_LIMITS, () => authRequired);
    p.push(Buffer.from(input, 'latin1'));
    const out: (string[] | string)[] = [];
    try {
      for (let r = p.next(); r !== null; r = p.next()) out.push(r.map((b) => b.toString('latin1')));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      out.push(e.message);
    }
    return out;
  }
  const args = (n: number): string => frame(...Array.from({ length: n }, (_, i) => `a${i}`)).toString('latin1');

  test('at most 10 arguments and 16384-byte bulks while the client must authenticate; the usual limits otherwise', () => {
    expect(parse(args(10), true)).toHaveLength(1);
    expect(parse(args(11), true)).toEqual(['unauthenticated multibulk length']);
    expect(parse(args(11), false)).toHaveLength(1);
    expect(parse(frame('ECHO', 'x'.repeat(16384)).toString('latin1'), true)).toHaveLength(1);
    expect(parse(frame('ECHO', 'x'.repeat(16385)).toString('latin1'), true)).toEqual(['unauthenticated bulk length']);
    expect(parse(frame('ECHO', 'x'.repeat(16385)).toString('latin1'), false)).toHaveLength(1);
    // Refused from the header: no byte of the arguments or of the bulk is needed.
    expect(parse('*11\r\n', true)).toEqual(['unauthenticated multibulk length']);
    expect(parse('*1\r\n$16385\r\n', true)).toEqual(['unauthenticated bulk length']);
    // Empty requests (`*0`, `*-1`) stay empty requests.
    expect(parse('*0\r\n*-1\r\n', true)).toEqual([]);
  });

  test('a length Redis finds invalid is invalid first; past 10 arguments, pmem\'s own limit comes after the unauthenticated one', () => {
    // Redis refuses a count past INT_MAX, and a bulk length that is negative
    // or past proto-max-bulk-len, as invalid before it looks at authentication.
    expect(parse('*2147483648\r\n', true)).toEqual(['invalid multibulk length']);
    expect(parse('*1\r\n$-5\r\n', true)).toEqual(['invalid bulk length']);
    expect(parse(`*1\r\n$${DEFAULT_LIMITS.maxBulk + 1}\r\n`, true)).toEqual(['invalid bulk length']);
    // Within INT_MAX, Redis answers an unauthenticated client's count with
    // the unauthenticated error: pmem's lower maxArgs does not change that.
    expect(parse(`*${DEFAULT_LIMITS.maxArgs + 1}\r\n`, true)).toEqual(['unauthenticated multibulk length']);
    expect(parse(`*${DEFAULT_LIMITS.maxArgs + 1}\r\n`, false)).toEqual(['invalid multibulk length']);
  });
});

describe('pmem serve: requests before AUTH are held to Redis\'s unauthenticated sizes', () => {
  const { client } = serveFixture('auth-sizes.kv', { requirepass: 'sekret' }, true);
  const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `k${i}`);

  test('more than 10 arguments: the error, then the connection closes; 10 are read (and answered NOAUTH)', async () => {
    const c = await client();
    expect(text(await c.call('DEL', ...keys(9)))).toBe(NOAUTH);
    expect(text(await c.call('DEL', ...keys(10)))).toBe('-ERR Protocol error: unauthenticated multibulk length');
    await c.closedByServer();
    // From the header alone: the server waits for none of the arguments.
    const h = await client();
    h.send('*100\r\n');
    expect(text(await h.read())).toBe('-ERR Protocol error: unauthenticated multibulk length');
    await h.closedByServer();
  });

  test('a bulk over 16384 bytes: the error, then the connection closes; 16384 bytes are read (and answered NOAUTH)', async () => {
    const c = await client();
    expect(text(await c.call('ECHO', 'x'.repeat(16384)))).toBe(NOAUTH);
    expect(text(await c.call('ECHO', 'x'.repeat(16385)))).toBe('-ERR Protocol error: unauthenticated bulk length');
    await c.closedByServer();
    // The password itself is a bulk like another.
    const a = await client();
    expect(text(await a.call('AUTH', 'x'.repeat(16385)))).toBe('-ERR Protocol error: unauthenticated bulk length');
    await a.closedByServer();
    // From the header alone: not one byte of the bulk is waited for, or buffered.
    const h = await client();
    h.send('*1\r\n$1000000\r\n');
    expect(text(await h.read())).toBe('-ERR Protocol error: unauthenticated bulk length');
    await h.closedByServer();
  });

  test('a request after AUTH (or HELLO AUTH) in the same pipeline has the usual limits; after RESET the small ones again', async () => {
    const big = 'v'.repeat(100_000);
    const c = await client();
    c.send(Buffer.concat([frame('AUTH', 'sekret'), frame('SET', 'big', big), frame('DEL', ...keys(20))]));
    expect(text(await c.read())).toBe('OK');
    expect(text(await c.read())).toBe('OK');
    expect(text(await c.read())).toBe(0);
    expect(text(await c.call('RESET'))).toBe('RESET');
    expect(text(await c.call('DEL', ...keys(11)))).toBe('-ERR Protocol error: unauthenticated multibulk length');
    await c.closedByServer();
    const h = await client();
    h.send(Buffer.concat([frame('HELLO', '3', 'AUTH', 'default', 'sekret'), frame('ECHO', big)]));
    expect((text(await h.read()) as Map<string, unknown>).get('proto')).toBe(3);
    expect(text(await h.read())).toBe(big);
  });

  test('inline requests are not held to them, as in Redis: 64 KiB bounds an inline line for every client', async () => {
    const c = await client();
    c.send(`DEL ${keys(20).join(' ')}\r\n`);
    expect(text(await c.read())).toBe(NOAUTH);
    c.send(`ECHO ${'x'.repeat(20_000)}\r\n`);
    expect(text(await c.read())).toBe(NOAUTH);
    expect(c.closed).toBe(false);
  });

  test('once the password is removed, a client that never gave it sends requests of any size', async () => {
    const waiting = await client();
    const admin = await client();
    expect(text(await admin.call('AUTH', 'sekret'))).toBe('OK');
    expect(text(await admin.call('CONFIG', 'SET', 'requirepass', ''))).toBe('OK');
    try {
      expect(text(await waiting.call('DEL', ...keys(20)))).toBe(0);
      expect(text(await waiting.call('ECHO', 'x'.repeat(20_000)))).toBe('x'.repeat(20_000));
    } finally {
      expect(text(await admin.call('CONFIG', 'SET', 'requirepass', 'sekret'))).toBe('OK');
    }
  });
});

describe('pmem serve: an HTTP request ends its connection before its body runs', () => {
  const logged: string[] = [];
  const served = serveFixture('http.kv', { log: (line: string) => logged.push(line) });
  beforeEach(() => {
    logged.length = 0;
  });

  // A web page can make a browser send a POST to 127.0.0.1:6379, its body
  // lines of the page's choosing; read as inline commands, they would run.
  test.each([
    ['POST', 'POST / HTTP/1.1\r\nHost: 127.0.0.1:6379\r\nContent-Type: text/plain\r\n\r\nSET pwned 1\r\nFLUSHALL\r\n', 0],
    ['GET', 'GET / HTTP/1.1\r\nhOsT: 127.0.0.1:6379\r\n\r\nSET pwned 1\r\n', 1],
    ['post, in lower case', 'post /x HTTP/1.0\r\n\r\nSET pwned 1\r\n', 0],
  ])('%s: the connection closes at its first line or its Host: header, and nothing after runs', async (_name, request, errors) => {
    const setter = new RawClient(served.port);
    await setter.ready;
    expect(text(await setter.call('SET', 'kept', 'v'))).toBe('OK');
    const c = new RawClient(served.port);
    await c.ready;
    c.send(request);
    await c.closedByServer();
    // GET / HTTP/1.1 is a GET of the wrong arity, answered before the Host: line closes it.
    const replies: unknown[] = [];
    for (let r = await c.read(); r !== null; r = await c.read()) replies.push(text(r));
    expect(replies.length).toBe(errors);
    expect(text(await setter.call('EXISTS', 'pwned'))).toBe(0);
    expect(text(await setter.call('GET', 'kept'))).toBe('v');
    expect(logged.some((l) => l.includes('cross-protocol scripting'))).toBe(true);
    setter.close();
  });

  test('a key or an argument named POST or Host: is only data', async () => {
    const c = new RawClient(served.port);
    await c.ready;
    expect(text(await c.call('SET', 'POST', 'Host:'))).toBe('OK');
    expect(text(await c.call('GET', 'POST'))).toBe('Host:');
    expect(text(await c.call('POSTS'))).toMatch(/^-ERR unknown command/);
    c.close();
  });
});
