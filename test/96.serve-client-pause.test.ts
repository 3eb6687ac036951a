// CLIENT PAUSE and CLIENT UNPAUSE (lib/server/pause.ts), as Redis 7.0's:
// a WRITE pause postpones writes and PUBLISH and answers reads; an ALL
// pause postpones every command but QUIT, the pausing client's own too;
// postponed clients run in order when the pause ends, by CLIENT UNPAUSE or
// at its time; due keys read as absent and are not deleted meanwhile; and
// Redis's checks of the arguments. Every wait here is for a state of the
// server (a client postponed), never for a time to pass.
import { createServer, type RespServer } from '../lib';
import { idleClients } from '../lib/server/cron';
import { RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

/** Waits until `cond()` holds, looking after each turn of the event loop; fails after `limit` looks. */
async function until(cond: () => boolean, what: string, limit = 100_000): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never: ${what}`);
}

describe('CLIENT PAUSE', () => {
  let server: RespServer;
  let port: number;
  const clients: RawClient[] = [];
  const client = async (): Promise<RawClient> => {
    const c = new RawClient(port);
    clients.push(c);
    await c.ready;
    return c;
  };
  const info = async (c: RawClient, field: string): Promise<string> => {
    const t = text(await c.call('INFO', 'everything')) as string;
    return new RegExp(`^${field}:(.*)\r$`, 'm').exec(t)![1];
  };

  beforeEach(async () => {
    server = createServer({ file: tmpFile('pause.kv') });
    port = await server.listen(0);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });

  test('WRITE: reads are answered, writes and PUBLISH wait, and run in order at CLIENT UNPAUSE', async () => {
    const admin = await client();
    const a = await client();
    const b = await client();
    expect(text(await admin.call('SET', 'k', 'old'))).toBe('OK');
    expect(text(await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE'))).toBe('OK');
    a.send('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\na\r\n');
    await until(() => server.pause.postponedClients === 1, 'the SET postponed');
    b.send('*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$1\r\nm\r\n');
    await until(() => server.pause.postponedClients === 2, 'the PUBLISH postponed');
    // Reads go on, and see the value from before the pause.
    expect(text(await admin.call('GET', 'k'))).toBe('old');
    expect(text(await admin.call('PING'))).toBe('PONG');
    expect(await info(admin, 'blocked_clients')).toBe('2');
    // A postponed client is never idle: the timeout does not close it.
    const postponed = [...server.clients.values()].filter((x) => server.pause.isPostponed(x));
    expect(postponed).toHaveLength(2);
    server.timeout = 1;
    const idle = idleClients(server, Date.now() + 60_000);
    server.timeout = 0;
    expect(idle.length).toBeGreaterThan(0); // admin, which is not postponed
    for (const p of postponed) expect(idle).not.toContain(p);
    expect(text(await admin.call('CLIENT', 'UNPAUSE'))).toBe('OK');
    expect(text(await a.read())).toBe('OK');
    expect(text(await b.read())).toBe(0);
    expect(text(await admin.call('GET', 'k'))).toBe('a');
    expect(server.pause.postponedClients).toBe(0);
    expect(await info(admin, 'blocked_clients')).toBe('0');
  });

  test("WRITE: a postponed client's later requests wait behind it, and run after it in their order", async () => {
    const admin = await client();
    const a = await client();
    expect(text(await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE'))).toBe('OK');
    // A write, then a read that must see it: the read waits too.
    a.send('*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*2\r\n$3\r\nGET\r\n$1\r\nn\r\n');
    await until(() => server.pause.postponedClients === 1, 'the INCR postponed');
    expect(text(await admin.call('GET', 'n'))).toBe(null);
    expect(text(await admin.call('CLIENT', 'UNPAUSE'))).toBe('OK');
    expect(text(await a.read())).toBe(1);
    expect(text(await a.read())).toBe('1');
  });

  test('WRITE: a write queued in MULTI waits, and so does an EXEC of writes; one of reads does not', async () => {
    const admin = await client();
    const a = await client();
    const r = await client();
    const q = await client();
    expect(text(await a.call('MULTI'))).toBe('OK');
    expect(text(await a.call('SET', 'x', '1'))).toBe('QUEUED');
    expect(text(await r.call('MULTI'))).toBe('OK');
    expect(text(await r.call('GET', 'x'))).toBe('QUEUED');
    expect(text(await q.call('MULTI'))).toBe('OK');
    expect(text(await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE'))).toBe('OK');
    // A read-only transaction runs.
    expect(text(await r.call('EXEC'))).toEqual([null]);
    // A write waits even to be queued, as in Redis.
    q.send('*3\r\n$3\r\nSET\r\n$1\r\ny\r\n$1\r\n2\r\n');
    await until(() => server.pause.postponedClients === 1, 'the SET to queue postponed');
    a.send('*1\r\n$4\r\nEXEC\r\n');
    await until(() => server.pause.postponedClients === 2, 'the EXEC postponed');
    expect(text(await admin.call('EXISTS', 'x'))).toBe(0);
    expect(text(await admin.call('CLIENT', 'UNPAUSE'))).toBe('OK');
    expect(text(await q.read())).toBe('QUEUED');
    expect(text(await a.read())).toEqual(['OK']);
    expect(text(await admin.call('GET', 'x'))).toBe('1');
    expect(text(await q.call('EXEC'))).toEqual(['OK']);
  });

  test('a pause set inside a transaction starts when it ends: its later writes are made', async () => {
    const a = await client();
    const b = await client();
    expect(text(await a.call('MULTI'))).toBe('OK');
    expect(text(await a.call('SET', 'f1', 'v'))).toBe('QUEUED');
    expect(text(await a.call('CLIENT', 'PAUSE', '60000', 'WRITE'))).toBe('QUEUED');
    expect(text(await a.call('SET', 'f2', 'v'))).toBe('QUEUED');
    expect(text(await a.call('EXEC'))).toEqual(['OK', 'OK', 'OK']);
    b.send('*3\r\n$3\r\nSET\r\n$2\r\nf3\r\n$1\r\nv\r\n');
    await until(() => server.pause.postponedClients === 1, 'the SET after the transaction postponed');
    expect(text(await a.call('MGET', 'f1', 'f2', 'f3'))).toEqual(['v', 'v', null]);
    expect(text(await a.call('CLIENT', 'UNPAUSE'))).toBe('OK');
    expect(text(await b.read())).toBe('OK');
  });

  test("ALL: every command waits, the pausing client's own, CLIENT UNPAUSE from a paused client included; QUIT does not", async () => {
    const admin = await client();
    const other = await client();
    const quitter = await client();
    expect(text(await admin.call('CLIENT', 'PAUSE', '60000'))).toBe('OK');
    admin.send('*2\r\n$6\r\nCLIENT\r\n$7\r\nUNPAUSE\r\n');
    await until(() => server.pause.postponedClients === 1, "the pausing client's UNPAUSE postponed");
    other.send('*1\r\n$4\r\nPING\r\n');
    await until(() => server.pause.postponedClients === 2, 'the PING postponed');
    expect(text(await quitter.call('QUIT'))).toBe('OK');
    await quitter.closedByServer();
    // Nothing but its end lets the clients go: the server's own call, as the timer's is.
    server.pause.unpause();
    expect(text(await admin.read())).toBe('OK');
    expect(text(await other.read())).toBe('PONG');
  });

  test('a pause ends at its time: the postponed clients run, and a later pause keeps the later end and the stricter type', async () => {
    let now = 1_000_000;
    server.pause.clock = () => now;
    const admin = await client();
    const a = await client();
    expect(text(await admin.call('CLIENT', 'PAUSE', '5000', 'WRITE'))).toBe('OK');
    // A shorter pause leaves the end; ALL makes it stricter: PING waits now.
    expect(text(await admin.call('CLIENT', 'PAUSE', '10', 'ALL'))).toBe('OK');
    a.send('*1\r\n$4\r\nPING\r\n');
    await until(() => server.pause.postponedClients === 1, 'the PING postponed');
    now += 4999;
    server.pause.checkEnd();
    expect(server.pause.type).toBe('all');
    expect(server.pause.postponedClients).toBe(1);
    now += 1;
    server.pause.checkEnd(); // what the timer calls at the end
    expect(server.pause.type).toBe(null);
    expect(text(await a.read())).toBe('PONG');
  });

  test('a due key reads as absent while paused, and is deleted (and counted) only after', async () => {
    let now = Date.now();
    server.keyspace.now = () => now;
    const admin = await client();
    expect(text(await admin.call('SET', 'e', 'v', 'PX', '50'))).toBe('OK');
    expect(text(await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE'))).toBe('OK');
    now += 100;
    server.expiry.cycle(); // the active cycle waits too
    expect(text(await admin.call('GET', 'e'))).toBe(null);
    expect(text(await admin.call('EXISTS', 'e'))).toBe(0);
    expect(await info(admin, 'expired_keys')).toBe('0');
    expect(text(await admin.call('DBSIZE'))).toBe(1);
    expect(text(await admin.call('CLIENT', 'UNPAUSE'))).toBe('OK');
    expect(text(await admin.call('GET', 'e'))).toBe(null);
    expect(await info(admin, 'expired_keys')).toBe('1');
    expect(text(await admin.call('DBSIZE'))).toBe(0);
  });

  test("a blocked BLMOVE that the pausing EXEC serves deletes its due destination as expired before pushing there", async () => {
    let now = Date.now();
    server.keyspace.now = () => now;
    const admin = await client();
    const b = await client();
    expect(text(await admin.call('CONFIG', 'SET', 'notify-keyspace-events', 'Ex'))).toBe('OK');
    const events = await client();
    await events.call('SUBSCRIBE', '__keyevent@0__:expired');
    expect(text(await admin.call('RPUSH', 'dst', 'old1', 'old2'))).toBe(2);
    expect(text(await admin.call('PEXPIRE', 'dst', '50'))).toBe(1);
    b.send('*6\r\n$6\r\nBLMOVE\r\n$3\r\nsrc\r\n$3\r\ndst\r\n$4\r\nLEFT\r\n$5\r\nRIGHT\r\n$1\r\n0\r\n');
    await until(() => server.blocking.blockedClients === 1, 'the BLMOVE blocked');
    now += 100;
    expect(text(await admin.call('MULTI'))).toBe('OK');
    expect(text(await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE'))).toBe('QUEUED');
    expect(text(await admin.call('RPUSH', 'src', 'v'))).toBe('QUEUED');
    expect(text(await admin.call('EXEC'))).toEqual(['OK', 1]);
    expect(text(await b.read())).toBe('v');
    // The old list expired (counted, and its event published), and a new one holds the element.
    expect(await info(admin, 'expired_keys')).toBe('1');
    expect(text(await events.read())).toEqual(['message', '__keyevent@0__:expired', 'dst']);
    expect(text(await admin.call('LRANGE', 'dst', '0', '-1'))).toEqual(['v']);
    expect(text(await admin.call('PTTL', 'dst'))).toBe(-1);
    expect(text(await admin.call('CLIENT', 'UNPAUSE'))).toBe('OK');
    expect(await info(admin, 'expired_keys')).toBe('1');
  });

  test('a postponed client that disconnects is forgotten, and its request never runs', async () => {
    const admin = await client();
    const a = await client();
    expect(text(await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE'))).toBe('OK');
    a.send('*3\r\n$3\r\nSET\r\n$4\r\ngone\r\n$1\r\nv\r\n');
    await until(() => server.pause.postponedClients === 1, 'the SET postponed');
    a.close();
    await until(() => server.pause.postponedClients === 0, 'the client forgotten');
    expect(text(await admin.call('CLIENT', 'UNPAUSE'))).toBe('OK');
    expect(text(await admin.call('EXISTS', 'gone'))).toBe(0);
  });

  test("arguments: Redis's errors, answered at once even while paused", async () => {
    const c = await client();
    const cases: [string[], string][] = [
      [['CLIENT', 'PAUSE', '-1'], '-ERR timeout is negative'],
      [['CLIENT', 'PAUSE', 'abc'], '-ERR timeout is not an integer or out of range'],
      [['CLIENT', 'PAUSE', '1.5'], '-ERR timeout is not an integer or out of range'],
      [['CLIENT', 'PAUSE', '99999999999999999999'], '-ERR timeout is not an integer or out of range'],
      [['CLIENT', 'PAUSE', '9223372036854775807'], '-ERR timeout is out of range'],
      [['CLIENT', 'PAUSE', '10', 'foo'], '-ERR CLIENT PAUSE mode must be WRITE or ALL'],
      [['CLIENT', 'PAUSE'], "-ERR wrong number of arguments for 'client|pause' command"],
      [['CLIENT', 'PAUSE', '1', 'ALL', 'x'], "-ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP."],
      [['CLIENT', 'UNPAUSE', 'x'], "-ERR wrong number of arguments for 'client|unpause' command"],
    ];
    for (const [args, err] of cases) expect(text(await c.call(...args))).toBe(err);
    expect(server.pause.type).toBe(null);
    // A pause of 0 ms is over at once.
    expect(text(await c.call('CLIENT', 'PAUSE', '0'))).toBe('OK');
    expect(server.pause.type).toBe(null);
    expect(text(await c.call('PING'))).toBe('PONG');
    // While writes are paused, a write with the wrong arguments is answered at once.
    expect(text(await c.call('CLIENT', 'PAUSE', '60000', 'write'))).toBe('OK');
    expect(text(await c.call('SET', 'k'))).toBe("-ERR wrong number of arguments for 'set' command");
    expect(server.pause.postponedClients).toBe(0);
    expect(text(await c.call('CLIENT', 'UNPAUSE'))).toBe('OK');
    expect(text(await c.call('CLIENT', 'UNPAUSE'))).toBe('OK');
  });
});
