// pmem serve's `timeout` (CONFIG SET timeout, the `timeout` option, `pmem
// serve --timeout`): a client idle for more than that many seconds is
// closed, as Redis's clientsCronHandleTimeout closes it, and nothing it was
// told is lost; a client that keeps talking, a blocked client, a
// subscriber and a client whose replies are not all written out are not
// closed. Then Redis's checks of the value, and `hz`, which sets how often
// the server's periodic work runs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { createServer, openServer, startStoreReplica, type RespServer } from '../lib';
import { parseServe } from '../lib/cli/serve';
import { Fail } from '../lib/cli/exit';
import { idleClients } from '../lib/server/cron';
import { serveFixture } from './fixtures/serve/each';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';
import { startPmem, stopPmem, testFiles } from './replicate-helpers';

const MB = 1024 * 1024;
/** How long a close that must come may take: far more than the second of the timeout and the second between checks. */
const CLOSE_WITHIN_MS = 20_000;
const failed = (k: string, why: string): string => `-ERR CONFIG SET failed (possibly related to argument '${k}') - ${why}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves to the milliseconds until the server closed `c`; rejects when it has not within CLOSE_WITHIN_MS. */
async function closedWithin(c: RawClient): Promise<number> {
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not closed within ${CLOSE_WITHIN_MS} ms`)), CLOSE_WITHIN_MS);
  });
  try {
    await Promise.race([c.closedByServer(), late]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - start;
}

describe('CONFIG SET timeout: idle clients are closed, the others are not', () => {
  let file: string;
  let server: RespServer;
  let port: number;
  const clients: RawClient[] = [];
  const client = async (): Promise<RawClient> => {
    const c = new RawClient(port);
    clients.push(c);
    await c.ready;
    return c;
  };

  beforeEach(async () => {
    file = tmpFile('timeout.kv');
    server = createServer({ file });
    port = await server.listen(0);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
    fs.rmSync(file, { force: true });
  });

  test('an idle client is closed after more than the timeout; a talking, a blocked and a subscribed one stay, and nothing is lost', async () => {
    const talker = await client();
    // 2 s: the talker below stays open unless this process stops for
    // most of that (its PINGs come every 100 ms), which no load here does.
    expect(text(await talker.call('CONFIG', 'SET', 'timeout', '2'))).toBe('OK');
    expect(text(await talker.call('CONFIG', 'GET', 'timeout'))).toEqual(['timeout', '2']);
    // The blocked client and the subscriber go quiet before the idle one:
    // any check that finds the idle one idle finds them idle for longer.
    const blocked = await client();
    blocked.send(frame('BLPOP', 'queue', '0'));
    const subscriber = await client();
    expect(text(await subscriber.call('SUBSCRIBE', 'news'))).toEqual(['subscribe', 'news', 1]);
    await sleep(50);
    const idle = await client();
    expect(text(await idle.call('SET', 'k', 'acknowledged'))).toBe('OK');
    const quietSince = Date.now();

    // The talker sends a PING every 100 ms for 5 s, and every one is answered.
    const talking = (async () => {
      const until = Date.now() + 5000;
      let pings = 0;
      while (Date.now() < until) {
        expect(text(await talker.call('PING'))).toBe('PONG');
        pings++;
        await sleep(100);
      }
      return pings;
    })();
    await closedWithin(idle);
    // Not before it had been idle for more than the timeout.
    expect(Date.now() - quietSince).toBeGreaterThan(2000);
    expect(await talking).toBeGreaterThan(10);
    expect(talker.closed).toBe(false);
    expect(blocked.closed).toBe(false);
    expect(subscriber.closed).toBe(false);

    // The others are served as before: the blocked client gets its element, the subscriber its message.
    expect(text(await talker.call('LPUSH', 'queue', 'job'))).toBe(1);
    expect(text(await blocked.read())).toEqual(['queue', 'job']);
    // Its reply written is an interaction (Redis's lastinteraction): once unblocked it is not idle at once.
    expect(idleClients(server, Date.now())).toEqual([]);
    expect(text(await talker.call('PUBLISH', 'news', 'hello'))).toBe(1);
    expect(text(await subscriber.read())).toEqual(['message', 'news', 'hello']);
    // What the closed client was told is so.
    expect(text(await talker.call('GET', 'k'))).toBe('acknowledged');
    expect(server.clients.size).toBe(3);
  });

  test('a client whose replies wait unread in its socket is not closed; it reads them all afterwards', async () => {
    const admin = await client();
    const value = 'v'.repeat(2 * MB);
    expect(text(await admin.call('SET', 'big', value))).toBe('OK');
    const reader = await client();
    reader.socket.pause();
    reader.send(Buffer.concat(Array.from({ length: 16 }, () => frame('GET', 'big'))));
    // Its replies (32 MB) are more than the sockets' buffers hold: some wait in the server's.
    const start = Date.now();
    while (![...server.clients.values()].some((c) => c.socket.writableLength > 0)) {
      if (Date.now() - start > CLOSE_WITHIN_MS) throw new Error('the replies never waited in the socket');
      await sleep(20);
    }
    expect(text(await admin.call('CONFIG', 'SET', 'timeout', '1'))).toBe('OK');
    // The admin client goes quiet after the reader did: when it is closed, the reader had been quiet for longer.
    await closedWithin(admin);
    expect(reader.closed).toBe(false);
    reader.socket.resume();
    for (let i = 0; i < 16; i++) expect(text(await reader.read())).toBe(value);
  });

  test('timeout 0 closes no one; a check run as if much later closes only the idle client', async () => {
    const c = await client();
    const blocked = await client();
    blocked.send(frame('BLPOP', 'queue', '0'));
    await sleep(50);
    expect(text(await c.call('CONFIG', 'SET', 'timeout', '0'))).toBe('OK');
    server.cron.tick(Date.now() + 3_600_000);
    await sleep(50);
    expect(c.closed).toBe(false);
    expect(text(await c.call('CONFIG', 'SET', 'timeout', '10'))).toBe('OK');
    server.cron.tick(Date.now() + 5_000);
    await sleep(50);
    expect(c.closed).toBe(false); // idle for 5 s, not more than 10
    server.cron.tick(Date.now() + 20_000);
    await closedWithin(c);
    expect(blocked.closed).toBe(false);
  });

  test("Redis's checks of the value, with Redis's error texts; a refused one changes nothing", async () => {
    const c = await client();
    const parse = "argument couldn't be parsed into an integer";
    const range = 'argument must be between 0 and 2147483647 inclusive';
    for (const [v, why] of [['abc', parse], ['1.5', parse], ['01', parse], ['+5', parse], ['', parse], [' 5', parse], ['-1', range], ['2147483648', range]]) {
      expect(text(await c.call('CONFIG', 'SET', 'timeout', v))).toBe(failed('timeout', why));
    }
    expect(text(await c.call('CONFIG', 'GET', 'timeout'))).toEqual(['timeout', '0']);
    expect(text(await c.call('CONFIG', 'SET', 'timeout', '2147483647'))).toBe('OK');
    expect(text(await c.call('CONFIG', 'GET', 'timeout'))).toEqual(['timeout', '2147483647']);
    // All or nothing: a refused timeout leaves the pair before it unapplied too.
    expect(text(await c.call('CONFIG', 'SET', 'maxclients', '50', 'timeout', '-1'))).toBe(failed('timeout', range));
    expect(text(await c.call('CONFIG', 'GET', 'maxclients', 'timeout'))).toEqual(['maxclients', '10000', 'timeout', '2147483647']);
    expect(server.timeout).toBe(2147483647);
  });
});

describe('the timeout option and pmem serve --timeout', () => {
  const file = testFiles(['.journal']);

  test('createServer({ timeout }) closes an idle client; CONFIG GET shows it; bad values are TypeError and RangeError', async () => {
    const server = createServer({ file: file('option.kv'), timeout: 1 });
    const port = await server.listen(0);
    const c = new RawClient(port);
    await c.ready;
    try {
      expect(text(await c.call('CONFIG', 'GET', 'timeout'))).toEqual(['timeout', '1']);
      await closedWithin(c);
    } finally {
      c.close();
      await server.close();
    }
    const bad = file('bad.kv');
    expect(() => createServer({ file: bad, timeout: '1' as never })).toThrow(new TypeError('options.timeout must be a number, got string'));
    expect(() => createServer({ file: bad, timeout: -1 })).toThrow(RangeError);
    expect(() => createServer({ file: bad, timeout: 1.5 })).toThrow(RangeError);
    expect(() => createServer({ file: bad, timeout: 2147483648 })).toThrow(
      new RangeError('options.timeout must be 0 to 2147483647 seconds, got 2147483648'),
    );
    expect(fs.existsSync(bad)).toBe(false);
  });

  test('--timeout: parsed and checked as a usage error; the server closes an idle client', async () => {
    const bytes = (v: string): number => Number(v);
    expect(parseServe([], bytes).timeout).toBe(0);
    expect(parseServe(['--timeout', '30'], bytes).timeout).toBe(30);
    expect(parseServe(['--timeout=2147483647'], bytes).timeout).toBe(2147483647);
    for (const v of ['-1', 'x', '1.5', '2147483648', '']) {
      let err: unknown;
      try {
        parseServe(['--timeout', v], bytes);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Fail);
      expect((err as Fail).message).toBe(`--timeout takes a whole number from 0 to 2147483647, got '${v}'`);
    }
    expect(() => parseServe(['--timeout'], bytes)).toThrow('--timeout needs a value');
    // The command: a bad value exits with the usage code before any file is made.
    const store = file('cli.kv');
    const bad = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'pmem'), 'serve', '--file', store, '--timeout', 'soon'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--timeout takes a whole number from 0 to 2147483647, got 'soon'");
    expect(fs.existsSync(store)).toBe(false);
    const { child, port } = await startPmem(['serve', '--port', '0', '--file', store, '--timeout', '1']);
    const c = new RawClient(port);
    try {
      await c.ready;
      expect(text(await c.call('CONFIG', 'GET', 'timeout'))).toEqual(['timeout', '1']);
      await closedWithin(c);
    } finally {
      c.close();
      expect(await stopPmem(child)).toBe(0);
    }
  });

  test('with replicas, a client whose reply waits for the backups is not idle', async () => {
    const backup = await startStoreReplica({ store: file('backup.kv'), port: 0, create: true, size: 1 << 20, segmentSize: 64 * 1024, journalSize: 1 << 20 });
    // Between the server and its backup: the backup's acknowledgements are held while `hold` is set.
    let hold = false;
    const held: Array<() => void> = [];
    const proxy = net.createServer((inner) => {
      const outer = net.connect(backup.port, '127.0.0.1');
      inner.on('error', () => {});
      outer.on('error', () => {});
      inner.on('data', (d) => outer.write(d));
      outer.on('data', (d) => {
        if (hold) held.push(() => inner.write(d));
        else inner.write(d);
      });
      inner.on('close', () => outer.destroy());
      outer.on('close', () => inner.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyPort = (proxy.address() as net.AddressInfo).port;
    const server = await openServer({
      file: file('primary.kv'), size: 9 << 20, replicas: [`127.0.0.1:${proxyPort}`], replicaTimeoutMs: 60_000, journalSize: 1 << 20, timeout: 1,
    });
    const port = await server.listen(0);
    const writer = new RawClient(port);
    const other = new RawClient(port);
    try {
      await writer.ready;
      hold = true;
      const before = server.replication!.stats.rounds;
      writer.send(frame('SET', 'x', 'replicated'));
      // The SET's round is on its way to the backup; then another client goes quiet, after the writer.
      while (server.replication!.stats.rounds === before) await sleep(10);
      await other.ready;
      await closedWithin(other);
      // The writer, quiet for longer, was not closed: its reply was waiting for the round.
      expect(writer.closed).toBe(false);
      hold = false;
      for (const f of held.splice(0)) f();
      expect(text(await writer.read())).toBe('OK');
    } finally {
      writer.close();
      other.close();
      await server.close();
      proxy.close();
      await backup.close();
    }
  });
});

describe('CONFIG SET hz: how often the periodic work runs', () => {
  const fixture = serveFixture('hz.kv');

  test("taken into 1..500 as Redis takes it, with Redis's checks; INFO shows it", async () => {
    const c = await fixture.client();
    expect(text(await c.call('CONFIG', 'GET', 'hz'))).toEqual(['hz', '10']);
    for (const [v, got] of [['1000', '500'], ['0', '1'], ['100', '100']]) {
      expect(text(await c.call('CONFIG', 'SET', 'hz', v))).toBe('OK');
      expect(text(await c.call('CONFIG', 'GET', 'hz'))).toEqual(['hz', got]);
    }
    expect(text(await c.call('CONFIG', 'SET', 'hz', '-1'))).toBe(failed('hz', 'argument must be between 0 and 2147483647 inclusive'));
    expect(text(await c.call('CONFIG', 'SET', 'hz', 'often'))).toBe(failed('hz', "argument couldn't be parsed into an integer"));
    expect(text(await c.call('CONFIG', 'GET', 'hz'))).toEqual(['hz', '100']);
    expect(String(text(await c.call('INFO', 'server')))).toContain('hz:100\r\n');
  });
});

describe('CONFIG SET hz: active expiry cycles', () => {
  let file: string;
  let server: RespServer;

  afterEach(async () => {
    await server.close();
    fs.rmSync(file, { force: true });
  });

  test('run hz times a second, each with its share of the work of a second', async () => {
    file = tmpFile('hz-cycles.kv');
    server = createServer({ file });
    const port = await server.listen(0);
    const c = new RawClient(port);
    await c.ready;
    expect(text(await c.call('CONFIG', 'SET', 'hz', '200'))).toBe('OK');
    c.close();
    const shares: number[] = [];
    const cycle = server.expiry.cycle.bind(server.expiry);
    server.expiry.cycle = (share?: number): number => {
      shares.push(share ?? 1);
      return cycle(share);
    };
    await sleep(2000);
    // At the default 10 a second, 2 s would be about 20 cycles.
    expect(shares.length).toBeGreaterThan(40);
    expect(new Set(shares)).toEqual(new Set([10 / 200]));
  });
});
