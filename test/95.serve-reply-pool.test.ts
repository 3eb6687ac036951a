// pmem serve's reply chunks between turns: a writer keeps no chunk once its
// replies are taken; the room left goes to a shared pool that other writers
// continue in, never over bytes already handed to a socket, and the pool
// stays bounded. Over TCP: idle connections hold no reply memory.
import * as fs from 'node:fs';

import { createServer, type RespServer } from '../lib';
import { CHUNKS, ChunkPool, ReplyWriter } from '../lib/server/reply';
import { seededRandom } from '../lib/testing/random';
import { RawClient } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

const MB = 1024 * 1024;

describe('ReplyWriter: chunks between turns', () => {
  test('a writer holds no chunk after take(); the next writer continues in its room', () => {
    const a = new ReplyWriter();
    a.bulk('a'.repeat(100));
    expect(a.held).toBeGreaterThan(0);
    const [sent] = a.take();
    expect(a.held).toBe(0);
    const b = new ReplyWriter();
    b.int(7);
    const [next] = b.take();
    // The same memory, after the bytes handed out: no new chunk for b.
    expect(next.buffer).toBe(sent.buffer);
    expect(next.byteOffset).toBe(sent.byteOffset + sent.length);
    expect(sent.toString()).toBe(`$100\r\n${'a'.repeat(100)}\r\n`);
    expect(next.toString()).toBe(':7\r\n');
  });

  test('interleaved writers sharing the pool: every taken byte stays as it was, every writer\'s wire is its own', () => {
    const rand = seededRandom(7);
    const writers = [new ReplyWriter(), new ReplyWriter(), new ReplyWriter()];
    const expected = ['', '', ''];
    const taken: Buffer[][] = [[], [], []];
    const copies: Buffer[][] = [[], [], []];
    const owners = new Map<ArrayBufferLike, Set<number>>();
    for (let i = 0; i < 5000; i++) {
      const w = Math.floor(rand() * 3);
      const len = [1, 10, 200, 3000, 9000][Math.floor(rand() * 5)];
      const s = String.fromCharCode(0x61 + (i % 26)).repeat(len);
      writers[w].bulk(s);
      expected[w] += `$${len}\r\n${s}\r\n`;
      if (rand() < 0.2) {
        for (const p of writers[w].take()) {
          taken[w].push(p);
          copies[w].push(Buffer.from(p));
          let set = owners.get(p.buffer);
          if (set === undefined) owners.set(p.buffer, (set = new Set()));
          set.add(w);
        }
      }
    }
    for (let w = 0; w < 3; w++) {
      for (const p of writers[w].take()) {
        taken[w].push(p);
        copies[w].push(Buffer.from(p));
      }
      taken[w].forEach((p, i) => expect(p.equals(copies[w][i])).toBe(true));
      expect(Buffer.concat(taken[w]).toString('latin1')).toBe(expected[w]);
    }
    // Chunks did pass from one writer to another.
    expect([...owners.values()].filter((s) => s.size > 1).length).toBeGreaterThan(50);
  });

  test('the pool keeps at most 64 chunks, none short of room or big', () => {
    const pool = new ChunkPool();
    for (let i = 0; i < 200; i++) pool.give(Buffer.allocUnsafe(4096), 0);
    expect(pool.size).toBe(64);
    const small = new ChunkPool();
    small.give(Buffer.allocUnsafe(4096), 4096 - 100); // 100 bytes of room
    small.give(Buffer.allocUnsafe(1024 * 1024), 0); // a big chunk of a long reply
    expect(small.size).toBe(0);
    for (let i = 0; i < 1000; i++) {
      const w = new ReplyWriter();
      w.bulk('x'.repeat(5000));
      w.take();
    }
    expect(CHUNKS.size).toBeLessThanOrEqual(64);
  });
});

describe('pmem serve: idle connections', () => {
  let file: string;
  let server: RespServer;
  let port: number;

  beforeAll(async () => {
    file = tmpFile('serve-reply-pool.kv');
    server = createServer({ file, size: 16 * MB });
    port = await server.listen(0);
  });

  afterAll(async () => {
    await server.close();
    fs.rmSync(file, { force: true });
  });

  test('after their replies went out, 50 connections hold no reply chunk', async () => {
    const clients: RawClient[] = [];
    for (let i = 0; i < 50; i++) {
      const c = new RawClient(port);
      await c.ready;
      clients.push(c);
    }
    await Promise.all(clients.map(async (c, i) => {
      expect(await c.call('SET', `k${i}`, 'v'.repeat(100))).toBe('OK');
      expect((await c.call('GET', `k${i}`) as Buffer).toString()).toBe('v'.repeat(100));
    }));
    expect(server.clients.size).toBe(50);
    for (const c of server.clients.values()) {
      expect(c.out.empty).toBe(true);
      expect(c.out.held).toBe(0);
    }
    for (const c of clients) c.close();
  });
});
