// pmem serve's limits on clients (docs/server.md, "Limits on clients"): the
// input all clients may hold, the connection limit that CONFIG SET may not
// make 0, blocked clients that have gone, and DEBUG, refused unless allowed;
// then arguments at their limits, read as Redis 7.0 reads them (64-bit
// counts, database numbers, cursors, expiry times, timeouts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';

import { parseServe } from '../lib/cli/serve';
import { createServer, type RespServer } from '../lib';
import { openFiles } from '../lib/core/descriptors';
import { Blocking, type Waiter } from '../lib/server/blocking';
import type { Client } from '../lib/server/client';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { BIN } from './cli-helpers';
import { tmpFile } from './helpers';

const MiB = 1024 * 1024;

/** Waits for `cond`, which the server's own state decides (no time does). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 2));
}

describe('maxInput: incomplete requests of all clients together', () => {
  let file: string;
  let server: RespServer;
  let port: number;
  const logged: string[] = [];

  beforeAll(async () => {
    file = tmpFile('limits.kv');
    server = createServer({ file, maxInput: 5 * MiB, log: (l) => logged.push(l) });
    port = await server.listen(0);
  });

  afterAll(async () => {
    await server.close();
    fs.rmSync(file, { force: true });
  });

  test('past the limit the client holding the most is disconnected, its arguments already read counted; the other goes on', async () => {
    const a = new RawClient(port);
    const b = new RawClient(port);
    await Promise.all([a.ready, b.ready]);
    try {
      // a: 1.5 MB of a 2,000,000-byte value, held in the parser as one bulk.
      const value = Buffer.alloc(2_000_000, 0x61);
      a.send(Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n'), value.subarray(0, 1_500_000)]));
      // b: a request of 1000 arguments of which four of 1 MiB arrive: each is
      // complete and parsed, the request is not. Neither client alone passes
      // 5 MiB; together they do, and whichever arrives last, b holds more
      // once they do.
      const arg = Buffer.concat([Buffer.from(`$${MiB}\r\n`), Buffer.alloc(MiB, 0x62), Buffer.from('\r\n')]);
      b.send(Buffer.concat([Buffer.from('*1000\r\n$4\r\nSADD\r\n$1\r\ns\r\n'), arg, arg, arg, arg]));
      await b.closedByServer();
      expect(a.closed).toBe(false);
      a.send(Buffer.concat([value.subarray(1_500_000), Buffer.from('\r\n')]));
      expect(text(await a.read())).toBe('OK');
      expect(text(await a.call('STRLEN', 'k'))).toBe(2_000_000);
      expect(logged.some((l) => l.includes('requests not yet run of all clients over 5242880 bytes'))).toBe(true);
    } finally {
      a.socket.destroy();
      b.socket.destroy();
    }
  });

  test('arguments read of an incomplete request count their heap cost, not only their bytes: a million empty ones are not free', async () => {
    // 100,000 empty arguments are 600 KB on the wire and over 11 MB in the
    // heap. Counted by their bytes (0 each) the request stayed under the
    // limit, and many such clients ran the server out of heap.
    const b = new RawClient(port);
    await b.ready;
    try {
      b.send(Buffer.concat([Buffer.from('*100001\r\n$4\r\nPING\r\n'), Buffer.from('$0\r\n\r\n'.repeat(100_000))]));
      // Read 64 KiB at a time, the request's arguments are parsed as they
      // arrive: the limit is passed long before its last read completes it.
      expect(await b.read()).toBeNull();
      expect(logged.some((l) => /requests not yet run of all clients over 5242880 bytes, \d+ of them its own/.test(l))).toBe(true);
    } finally {
      b.socket.destroy();
    }
  });

  test('many clients each under 1 MiB are counted together: past the limit the holders of the most go', async () => {
    // Eight clients, each 900,000 bytes into a 1,000,000-byte value: none
    // alone is large, five fit in 5 MiB, eight are 7.2 MB. The total is
    // counted at least once per 1 MiB read from all clients, so the last
    // count saw at least 6.15 MB and left at most 5 MiB: two or more go.
    const before = logged.length;
    const clients: Array<[RawClient, Client]> = [];
    try {
      const head = Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n');
      const part = Buffer.concat([head, Buffer.alloc(900_000, 0x61)]);
      for (let i = 0; i < 8; i++) {
        const ids = new Set(server.clients.keys());
        const c = new RawClient(port);
        await c.ready;
        await until(() => [...server.clients.keys()].some((id) => !ids.has(id)));
        const sc = [...server.clients.values()].find((x) => !ids.has(x.id))!;
        clients.push([c, sc]);
        c.send(part);
        await until(() => sc.closed || sc.heldInput >= 900_000);
      }
      const closed = clients.filter(([, sc]) => sc.closed).length;
      expect(closed).toBeGreaterThanOrEqual(2);
      const held = clients.reduce((n, [, sc]) => n + (sc.closed ? 0 : sc.heldInput), 0);
      expect(held).toBeLessThanOrEqual(5 * MiB + MiB);
      expect(logged.slice(before).filter((l) => /requests not yet run of all clients over 5242880 bytes/.test(l))).toHaveLength(closed);
    } finally {
      for (const [c] of clients) c.socket.destroy();
    }
  });

  test("MULTI's queue counts as the client's input until EXEC: a client that queues past the limit is disconnected", async () => {
    const c = new RawClient(port);
    await c.ready;
    const before = logged.length;
    try {
      expect(text(await c.call('MULTI'))).toBe('OK');
      const id = [...server.clients.values()].find((x) => x.multi !== null)!.id;
      // 20,000 complete SETs, each three arguments held at their heap cost: over 5 MiB queued.
      c.send(Buffer.concat(Array.from({ length: 20_000 }, (_, i) => frame('SET', `k${i}`, 'v'))));
      await c.closedByServer();
      expect(server.clients.has(id)).toBe(false);
      expect(logged.slice(before).some((l) => /requests not yet run of all clients over 5242880 bytes/.test(l))).toBe(true);
      // Nothing of it ran.
      const d = new RawClient(port);
      await d.ready;
      expect(text(await d.call('EXISTS', 'k0', 'k19999'))).toBe(0);
      d.socket.destroy();
    } finally {
      c.socket.destroy();
    }
  });

  test('createServer checks maxInput and maxClients', () => {
    expect(() => createServer({ file: tmpFile('opts.kv'), maxInput: -1 })).toThrow(RangeError);
    expect(() => createServer({ file: tmpFile('opts.kv'), maxInput: 1.5 })).toThrow(RangeError);
    expect(() => createServer({ file: tmpFile('opts.kv'), maxClients: 0 })).toThrow(RangeError);
  });

  test('CONFIG SET maxclients takes 1 to 2^32 - 1, so it cannot shut every client out', async () => {
    const c = new RawClient(port);
    await c.ready;
    try {
      for (const v of ['0', '-1', '4294967296']) {
        expect(text(await c.call('CONFIG', 'SET', 'maxclients', v))).toBe(
          "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive",
        );
      }
      expect(text(await c.call('CONFIG', 'SET', 'maxclients', 'x'))).toBe(
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer",
      );
      expect(text(await c.call('CONFIG', 'SET', 'maxclients', '1'))).toBe('OK');
      const refused = new RawClient(port);
      await refused.ready;
      expect(text(await refused.read())).toBe('-ERR max number of clients reached');
      expect(text(await c.call('CONFIG', 'SET', 'maxclients', '10000'))).toBe('OK');
      const again = new RawClient(port);
      await again.ready;
      expect(text(await again.call('PING'))).toBe('PONG');
      again.socket.destroy();
    } finally {
      c.socket.destroy();
    }
  });
});

describe('maxclients: clients refused, and the open-files limit', () => {
  test('a refused client that resets does not stop the server, and one that never reads does not keep its descriptor', async () => {
    const server = createServer({ file: tmpFile('refused.kv'), maxClients: 1 });
    const port = await server.listen(0);
    const held: net.Socket[] = [];
    try {
      const c = new RawClient(port);
      await c.ready;
      expect(text(await c.call('PING'))).toBe('PONG');
      const base = openFiles();
      // Refused peers that reset at once: each 'error' used to be uncaught.
      for (let i = 0; i < 20; i++) {
        const r = net.connect(port, '127.0.0.1');
        r.on('error', () => {});
        await once(r, 'connect');
        r.write('PING\r\n'.repeat(100));
        r.resetAndDestroy();
      }
      // Refused peers that never read: the server closes its end.
      for (let i = 0; i < 20; i++) {
        const r = net.connect(port, '127.0.0.1');
        r.on('error', () => {});
        r.pause();
        held.push(r);
        await once(r, 'connect');
      }
      // This process's descriptors: the server's end of each held client
      // is closed, so only the held clients' own ends stay. Polled, as the
      // closes follow each refusal's write; without them the count stays
      // 20 higher and the test times out.
      while (openFiles() > base + held.length) await new Promise((r) => setTimeout(r, 20));
      expect(text(await c.call('PING'))).toBe('PONG');
      c.socket.destroy();
    } finally {
      for (const r of held) r.destroy();
      await server.close();
    }
  });

  test('maxclients past what the open-files limit leaves is lowered at start, with a log line, and CONFIG SET refuses it as Redis does', async () => {
    const dir = tmpFile('nofile');
    const child = spawn('prlimit', ['--nofile=160:160', process.execPath, BIN, 'serve', '--port', '0', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const held: net.Socket[] = [];
    try {
      while (!out.includes('ready to accept connections')) {
        if (child.exitCode !== null) throw new Error(`pmem serve exited ${child.exitCode}: ${out}`);
        await once(child.stdout, 'data');
      }
      const m = /maxclients 10000 needs more descriptors than the open-files limit \(160\) leaves: reduced to (\d+);/.exec(out);
      expect(m).not.toBeNull();
      const capacity = Number(m![1]);
      expect(capacity).toBeGreaterThan(1);
      expect(capacity).toBeLessThanOrEqual(160 - 32);
      const port = Number(/address:\s+127\.0\.0\.1:(\d+)/.exec(out)![1]);
      const c = new RawClient(port);
      await c.ready;
      const info = String(await c.call('INFO', 'clients'));
      expect(info).toContain(`maxclients:${capacity}\r\n`);
      expect(text(await c.call('CONFIG', 'SET', 'maxclients', '10000'))).toBe(
        `-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with ${capacity}`,
      );
      expect(text(await c.call('CONFIG', 'GET', 'maxclients'))).toEqual(['maxclients', String(capacity)]);
      // Every client up to maxclients, then more that never read: each
      // one past it is refused with the error, not reset for want of a
      // descriptor.
      for (let i = 1; i < capacity + 10; i++) {
        const r = net.connect(port, '127.0.0.1');
        r.on('error', () => {});
        r.pause();
        held.push(r);
        await once(r, 'connect');
      }
      const last = new RawClient(port);
      await last.ready;
      expect(text(await last.read())).toBe('-ERR max number of clients reached');
      // Refused peers that reset: each one's 'error' used to be uncaught,
      // and the first stopped the server.
      for (let i = 0; i < 10; i++) {
        const r = net.connect(port, '127.0.0.1');
        r.on('error', () => {});
        await once(r, 'connect');
        r.write('PING\r\n'.repeat(100));
        r.resetAndDestroy();
      }
      expect(text(await c.call('PING'))).toBe('PONG');
      expect(child.exitCode).toBeNull();
      c.socket.destroy();
    } finally {
      for (const r of held) r.destroy();
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createServer\'s port and host', () => {
  test('are where listen() listens when called without them', async () => {
    const server = createServer({ file: tmpFile('listen-opts.kv'), port: 0, host: '127.0.0.1' });
    try {
      const port = await server.listen();
      // port 0: a free port, not the default 6379.
      expect(port).not.toBe(6379);
      expect(port).toBeGreaterThan(0);
      expect(server.host).toBe('127.0.0.1');
      const c = new RawClient(port);
      await c.ready;
      expect(text(await c.call('PING'))).toBe('PONG');
      c.socket.destroy();
    } finally {
      await server.close();
      fs.rmSync(tmpFile('listen-opts.kv'), { force: true });
    }
  });

  test('a port past 65535 is a RangeError before the store is created', () => {
    const f = tmpFile('port-opts.kv');
    for (const port of [65536, 2 ** 32, 2 ** 53 - 1]) {
      expect(() => createServer({ file: f, port })).toThrow(new RangeError(`options.port must be 0 to 65535, got ${port}`));
    }
    for (const port of [-1, 1.5, NaN]) expect(() => createServer({ file: f, port })).toThrow(RangeError);
    expect(() => createServer({ file: f, port: '6379' as never })).toThrow(TypeError);
    expect(fs.existsSync(f)).toBe(false);
  });
});

describe('blocked clients that have gone', () => {
  function fakeClient(state: { closed?: boolean; readableEnded?: boolean; destroyed?: boolean }): Client {
    return { closed: state.closed ?? false, socket: { readableEnded: state.readableEnded ?? false, destroyed: state.destroyed ?? false } } as unknown as Client;
  }
  function waiter(client: Client, served: string[], name: string): Waiter {
    return { client, db: 0, keys: ['q'], serve: () => (served.push(name), true), timedOut: () => {} };
  }

  test('a waiter whose connection has ended, been destroyed or dropped is not served, and stops waiting; the next one is served', () => {
    const b = new Blocking();
    const served: string[] = [];
    b.block(waiter(fakeClient({ readableEnded: true }), served, 'ended'), 0);
    b.block(waiter(fakeClient({ destroyed: true }), served, 'destroyed'), 0);
    b.block(waiter(fakeClient({ closed: true }), served, 'dropped'), 0);
    b.block(waiter(fakeClient({}), served, 'live'), 0);
    b.signal(0, 'q');
    b.serveReady();
    expect(served).toEqual(['live']);
    expect(b.blockedClients).toBe(0);
    expect(b.blockingKeys).toBe(0);
  });

  test('over the network: clients that closed while blocked leave every pushed element in the list', async () => {
    const file = tmpFile('blocked-gone.kv');
    const server = createServer({ file });
    const port = await server.listen(0);
    const blocked = await Promise.all(Array.from({ length: 5 }, async () => {
      const c = new RawClient(port);
      await c.ready;
      c.send('*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n');
      return c;
    }));
    const p = new RawClient(port);
    await p.ready;
    try {
      while (server.blocking.blockedClients < 5) expect(text(await p.call('PING'))).toBe('PONG');
      for (const c of blocked) c.socket.end();
      while (server.blocking.blockedClients > 0) expect(text(await p.call('PING'))).toBe('PONG');
      expect(text(await p.call('RPUSH', 'q', 'a', 'b', 'c', 'd', 'e'))).toBe(5);
      expect(text(await p.call('LLEN', 'q'))).toBe(5);
    } finally {
      p.socket.destroy();
      await server.close();
      fs.rmSync(file, { force: true });
    }
  });
});

describe('DEBUG, refused unless the server allows it', () => {
  /** A non-loopback IPv4 address of this host, if it has one. */
  const outside = Object.values(os.networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
  const servers: RespServer[] = [];
  const clients: RawClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.socket.destroy();
    for (const s of servers) await s.close();
  });

  async function serverWith(enableDebugCommand: 'no' | 'yes' | 'local' | undefined): Promise<number> {
    const s = createServer({ file: tmpFile(`debug-${enableDebugCommand}.kv`), ...(enableDebugCommand === undefined ? {} : { enableDebugCommand }) });
    servers.push(s);
    return s.listen(0, '0.0.0.0');
  }
  async function client(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const c = new RawClient(port, host);
    clients.push(c);
    await c.ready;
    return c;
  }

  test('by default (no) DEBUG is refused as Redis 7 refuses it, in MULTI too, and the server goes on', async () => {
    const port = await serverWith(undefined);
    const c = await client(port);
    expect(text(await c.call('DEBUG', 'SLEEP', '0'))).toMatch(/^-ERR DEBUG command not allowed\. If the enable-debug-command option is set to "local"/);
    expect(text(await c.call('DEBUG', 'RELOAD'))).toMatch(/^-ERR DEBUG command not allowed/);
    expect(text(await c.call('MULTI'))).toBe('OK');
    expect(text(await c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0'))).toMatch(/^-ERR DEBUG command not allowed/);
    expect(text(await c.call('EXEC'))).toMatch(/^-EXECABORT/);
    expect(text(await c.call('PING'))).toBe('PONG');
    expect(() => createServer({ file: tmpFile('debug-bad.kv'), enableDebugCommand: 'always' as never })).toThrow(TypeError);
    const bytes = (v: string): number => Number(v);
    expect(parseServe([], bytes).enableDebugCommand).toBe('no');
    expect(parseServe(['--enable-debug-command', 'local'], bytes).enableDebugCommand).toBe('local');
    expect(parseServe(['--enable-debug-command=yes'], bytes).enableDebugCommand).toBe('yes');
    expect(() => parseServe(['--enable-debug-command', 'on'], bytes)).toThrow(/takes no, yes or local/);
  });

  test('yes allows it from anywhere; local from a loopback address only', async () => {
    const yes = await serverWith('yes');
    expect(text(await (await client(yes)).call('DEBUG', 'SET-ACTIVE-EXPIRE', '1'))).toBe('OK');
    const local = await serverWith('local');
    expect(text(await (await client(local)).call('DEBUG', 'SET-ACTIVE-EXPIRE', '1'))).toBe('OK');
    if (outside === undefined) {
      console.warn('96.serve-limits: no non-loopback IPv4 address here; DEBUG from one is not tried');
      return;
    }
    const far = await client(local, outside);
    expect(text(await far.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1'))).toMatch(/^-ERR DEBUG command not allowed/);
    expect(text(await far.call('PING'))).toBe('PONG');
    expect(text(await (await client(yes, outside)).call('DEBUG', 'SET-ACTIVE-EXPIRE', '1'))).toBe('OK');
  });
});

describe('64-bit arguments: counts up to 2^63 - 1 (LONG_MAX) and expiry times, as Redis takes them', () => {
  let server: RespServer;
  let c: RawClient;
  let port: number;
  beforeAll(async () => {
    server = createServer({ file: tmpFile('counts.kv') });
    port = await server.listen(0);
    c = new RawClient(port);
    await c.ready;
  });

  /** One command's reply as the bytes the server sent (one line). */
  async function rawReply(at: number, ...args: string[]): Promise<string> {
    const sock = net.connect(at, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.write(frame(...args));
    while (!got.endsWith('\r\n')) await once(sock, 'data');
    sock.destroy();
    return got;
  }
  afterAll(async () => {
    c.socket.destroy();
    await server.close();
  });

  const MAX = '9223372036854775807';
  test('LPOP, RPOP, LMPOP, LPOS and ZPOPMIN take a count past 2^53 and stop at the collection\'s end', async () => {
    await c.call('RPUSH', 'l', 'a', 'b', 'a', 'c');
    expect(text(await c.call('LPOS', 'l', 'a', 'COUNT', MAX, 'MAXLEN', MAX))).toEqual([0, 2]);
    expect(text(await c.call('LPOP', 'l', MAX))).toEqual(['a', 'b', 'a', 'c']);
    await c.call('RPUSH', 'l', 'x', 'y');
    expect(text(await c.call('RPOP', 'l', '9007199254740993'))).toEqual(['y', 'x']);
    await c.call('RPUSH', 'm', 'p', 'q');
    expect(text(await c.call('LMPOP', '1', 'm', 'LEFT', 'COUNT', MAX))).toEqual(['m', ['p', 'q']]);
    await c.call('ZADD', 'z', '1', 'u', '2', 'v');
    expect(text(await c.call('ZPOPMIN', 'z', MAX))).toEqual(['u', '1', 'v', '2']);
    // Past 2^63 - 1 a count is not an integer Redis reads.
    await c.call('RPUSH', 'l', 'x');
    expect(text(await c.call('LPOP', 'l', '9223372036854775808'))).toBe('-ERR value is out of range, must be positive');
    expect(text(await c.call('LPOP', 'l', '-1'))).toBe('-ERR value is out of range, must be positive');
    expect(text(await c.call('LMPOP', MAX, 'l', 'LEFT'))).toBe('-ERR syntax error');
  });

  test('database numbers, SPOP and CLIENT KILL ID counts, and SCAN cursors are read as Redis 7.0 reads them, with its texts', async () => {
    const I32 = '-ERR value is out of range, value must between -2147483648 and 2147483647';
    await c.call('SET', 'str', 'v');
    await c.call('SADD', 's', 'm');
    for (const n of [MAX, '-9223372036854775808', '2147483648', '-2147483649']) {
      expect(text(await c.call('SELECT', n))).toBe(I32);
      expect(text(await c.call('MOVE', 'str', n))).toBe(I32);
      expect(text(await c.call('COPY', 'str', 'dst', 'DB', n))).toBe(I32);
      expect(text(await c.call('SWAPDB', n, '0'))).toBe('-ERR invalid first DB index');
      expect(text(await c.call('SWAPDB', '0', n))).toBe('-ERR invalid second DB index');
    }
    expect(text(await c.call('SELECT', '9223372036854775808'))).toBe('-ERR value is not an integer or out of range');
    expect(text(await c.call('SELECT', '2147483647'))).toBe('-ERR DB index is out of range');
    expect(text(await c.call('SELECT', '0'))).toBe('OK');
    for (const n of ['9223372036854775808', '-1', 'x']) expect(text(await c.call('SPOP', 's', n))).toBe('-ERR value is out of range, must be positive');
    for (const n of ['0', '-1', '9223372036854775808', 'x']) {
      expect(text(await c.call('CLIENT', 'KILL', 'ID', n))).toBe('-ERR client-id should be greater than 0');
    }
    // strtoul: any 64-bit cursor, '-' modulo 2^64, '' as 0; a blank, a sign alone or 2^64 is refused.
    for (const cur of ['-1', '18446744073709551615', '9223372036854775808', '-9223372036854775808', '+0', '', '0'.repeat(10000)]) {
      const r = text(await c.call('SCAN', cur)) as [string, string[]];
      expect(r[0]).toBe('0');
      for (const scan of [['HSCAN', 'noh', cur], ['SSCAN', 's', cur], ['ZSCAN', 'noz', cur]]) expect((text(await c.call(...scan)) as unknown[])[0]).toBe('0');
    }
    expect((text(await c.call('SCAN', '')) as [string, string[]])[1]).toEqual(expect.arrayContaining(['s', 'str']));
    for (const cur of ['18446744073709551616', '9'.repeat(10000), ' 1', '1 ', '-', '+', '0x1', '1.0']) {
      expect(text(await c.call('SCAN', cur))).toBe('-ERR invalid cursor');
      expect(text(await c.call('SSCAN', 's', cur))).toBe('-ERR invalid cursor');
    }
  });

  test('OBJECT, WAIT, GETEX and blocking timeouts check their arguments in Redis 7.0\'s order, with its texts', async () => {
    await c.call('SET', 'str', 'v');
    expect(text(await c.call('OBJECT', 'NX', 'nokey'))).toBe("-ERR unknown subcommand 'NX'. Try OBJECT HELP.");
    // Names an object has of its own are not subcommands either.
    for (const sub of ['constructor', '__proto__', 'toString']) {
      expect(text(await c.call('OBJECT', sub, 'str'))).toBe(`-ERR unknown subcommand '${sub}'. Try OBJECT HELP.`);
    }
    expect(text(await c.call('OBJECT', 'ENCODING'))).toBe("-ERR wrong number of arguments for 'object|encoding' command");
    expect(text(await c.call('OBJECT', 'HELP', 'x'))).toBe("-ERR wrong number of arguments for 'object|help' command");
    expect(text(await c.call('OBJECT', 'encoding', 'str'))).toBe('embstr');
    expect(text(await c.call('WAIT', '0', '1.5'))).toBe('-ERR timeout is not an integer or out of range');
    expect(text(await c.call('WAIT', '0', '-1'))).toBe('-ERR timeout is negative');
    expect(text(await c.call('WAIT', 'x', '0'))).toBe('-ERR value is not an integer or out of range');
    expect(text(await c.call('WAIT', '0', '0'))).toBe(0);
    // The options' syntax before the time's value.
    expect(text(await c.call('GETEX', 'str', 'EX', 'NX', '10'))).toBe('-ERR syntax error');
    expect(text(await c.call('GETEX', 'str', 'EX', 'NX'))).toBe("-ERR value is not an integer or out of range");
    // Timeouts as strtold reads them: hexadecimal; one that underflows a double is the least wait, not forever.
    expect(text(await c.call('BLPOP', 'nol', '0x0.1'))).toBeNull();
    expect(text(await c.call('BLPOP', 'nol', '1e-400'))).toBeNull();
    expect(text(await c.call('BLPOP', 'nol', '-1e-400'))).toBe('-ERR timeout is negative');
    expect(text(await c.call('BLPOP', 'nol', ' 1'))).toBe('-ERR timeout is not a float or out of range');
  });

  test('expiry times as Redis checks them: any negative time deletes, only an overflow is refused, and no reply passes 2^63 - 1', async () => {
    for (const k of ['j', 'i', 'h']) await c.call('SET', k, 'v');
    expect(text(await c.call('PEXPIRE', 'j', '-9223372036854775808'))).toBe(1);
    expect(text(await c.call('EXISTS', 'j'))).toBe(0);
    expect(text(await c.call('EXPIRE', 'i', '-9223372036854776'))).toBe("-ERR invalid expire time in 'expire' command");
    expect(text(await c.call('EXPIRE', 'i', '-9223372036854775'))).toBe(1);
    expect(text(await c.call('EXISTS', 'i'))).toBe(0);
    expect(text(await c.call('PEXPIRE', 'h', MAX))).toBe("-ERR invalid expire time in 'pexpire' command");
    expect(text(await c.call('SET', 'h', 'v', 'PX', MAX))).toBe("-ERR invalid expire time in 'set' command");
    // The latest time there is: its replies are 64-bit integers (a double
    // of 2^63 - 1 would be 2^63), in the raw protocol.
    for (const [cmd, at] of [['PEXPIREAT', MAX], ['EXPIREAT', '9223372036854775']]) {
      expect(text(await c.call(cmd, 'h', at))).toBe(1);
      for (const ask of ['PEXPIRETIME', 'PTTL']) {
        const reply = await rawReply(port, ask, 'h');
        const n = BigInt(/^:(\d+)\r\n$/.exec(reply)?.[1] ?? '-1');
        expect(n).toBeGreaterThan(2n ** 62n);
        expect(n).toBeLessThanOrEqual(2n ** 63n - 1n);
      }
    }
  });
});
