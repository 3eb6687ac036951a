// pmem serve's limits on clients (docs/server.md, "Limits on clients"): the
// input all clients may hold, the connection limit that CONFIG SET may not
// make 0, and blocked clients that have gone.
import * as fs from 'node:fs';

import { createServer, type RespServer } from '../lib';
import { Blocking, type Waiter } from '../lib/server/blocking';
import type { Client } from '../lib/server/client';
import { RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

const MiB = 1024 * 1024;

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
      expect(logged.some((l) => l.includes('incomplete requests of all clients over 5242880 bytes'))).toBe(true);
    } finally {
      a.socket.destroy();
      b.socket.destroy();
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
      for (const v of ['0', '-1', '4294967296', 'x']) {
        expect(text(await c.call('CONFIG', 'SET', 'maxclients', v))).toBe(
          "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive",
        );
      }
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
