// pmem serve's output limits by class of client, as Redis's
// client-output-buffer-limit: a subscriber that does not read is closed at
// the pubsub class's limits (32 MiB, or 8 MiB for 60 s, by default), far
// below maxOutput; CONFIG SET takes new limits, checked as Redis checks
// them, and they are kept; the soft limit closes a client that nobody
// writes to once its seconds pass.
import * as fs from 'node:fs';

import { createServer, type RespServer } from '../lib';
import { RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

const MB = 1024 * 1024;

let server: RespServer;
let port: number;
let file: string;
const logged: string[] = [];

beforeAll(async () => {
  file = tmpFile('output-limits.kv');
  server = createServer({ file, log: (line) => logged.push(line) });
  port = await server.listen(0);
});

afterAll(async () => {
  await server.close();
  fs.rmSync(file, { force: true });
});

async function client(): Promise<RawClient> {
  const c = new RawClient(port);
  await c.ready;
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A subscriber to `channel` that reads nothing after its SUBSCRIBE reply, and its id on the server. */
async function stalledSubscriber(channel: string): Promise<{ sub: RawClient; id: number }> {
  const sub = await client();
  expect(text(await sub.call('SUBSCRIBE', channel))).toEqual(['subscribe', channel, 1]);
  const id = [...server.clients.values()].find((x) => x.channels.has(channel))?.id as number;
  sub.socket.pause();
  return { sub, id };
}

const config = async (c: RawClient, value: string): Promise<unknown> => text(await c.call('CONFIG', 'SET', 'client-output-buffer-limit', value));
const current = async (c: RawClient): Promise<unknown> => (text(await c.call('CONFIG', 'GET', 'client-output-buffer-limit')) as string[])[1];

const DEFAULT = 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60';

afterEach(async () => {
  const c = await client();
  await config(c, DEFAULT);
  c.close();
});

test("CONFIG SET client-output-buffer-limit is checked as Redis checks it, all or nothing, and read back in bytes", async () => {
  const c = await client();
  try {
    expect(await current(c)).toBe(DEFAULT);
    const failed = (why: string) => `ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - ${why}`;
    for (const [value, why] of [
      ['wrong number', 'Wrong number of arguments in buffer limit configuration.'],
      ['invalid_class 10mb 10mb 60', 'Invalid client class specified in buffer limit configuration.'],
      ['master 10mb 10mb 60', 'Invalid client class specified in buffer limit configuration.'],
      ['normal 10mbs 10mb 60', 'Error in hard, soft or soft_seconds setting in buffer limit configuration.'],
      ['replica 10mb 10mbs 60', 'Error in hard, soft or soft_seconds setting in buffer limit configuration.'],
      ['pubsub 10mb 10mb 60s', 'Error in hard, soft or soft_seconds setting in buffer limit configuration.'],
      ['pubsub 10mb 10mb -1', 'Error in hard, soft or soft_seconds setting in buffer limit configuration.'],
      // A bad triple after a good one: neither is taken.
      ['normal 1mb 1mb 1 pubsub x 1mb 1', 'Error in hard, soft or soft_seconds setting in buffer limit configuration.'],
    ]) {
      expect([value, text(await c.call('CONFIG', 'SET', 'client-output-buffer-limit', value))]).toEqual([value, `-${failed(why)}`]);
    }
    expect(await current(c)).toBe(DEFAULT);
    expect(await config(c, 'normal 1mb 2mb 60 replica 3mb 4mb 70 PUBSUB 5mb 6mb 80')).toBe('OK');
    expect(await current(c)).toBe('normal 1048576 2097152 60 slave 3145728 4194304 70 pubsub 5242880 6291456 80');
    expect(await config(c, 'pubsub 18446744073709551615 0 0')).toBe('OK');
    expect(await current(c)).toBe('normal 1048576 2097152 60 slave 3145728 4194304 70 pubsub 18446744073709551615 0 0');
  } finally {
    c.close();
  }
});

// The only limit was maxOutput, 256 MiB a client: each subscriber that did
// not read held that much, and ten of them 2.5 GiB, where Redis closes each
// at 32 MiB.
test("a subscriber that does not read is closed at the pubsub class's 32 MiB by default, far below maxOutput", async () => {
  expect(server.maxOutput).toBe(256 * MB);
  const { sub, id } = await stalledSubscriber('flood');
  const pub = await client();
  const msg = Buffer.alloc(64 * 1024, 0x6d);
  let sent = 0;
  let omemSeen = 0;
  try {
    while (server.clients.has(id)) {
      // 128 MiB: the limit, and what the kernel's socket buffers hold besides.
      expect(sent).toBeLessThan(2048);
      await pub.call('PUBLISH', 'flood', msg);
      sent++;
      if (sent === 480) {
        // 30 MiB published: past what the kernel holds. CLIENT LIST counts the rest, in omem and in tot-mem (which read 0).
        const line = (text(await pub.call('CLIENT', 'LIST')) as string).split('\n').find((l) => l.startsWith(`id=${id} `)) as string;
        const [omem, tot] = [/ omem=(\d+) /, / tot-mem=(\d+) /].map((re) => Number(re.exec(line)?.[1]));
        expect(tot).toBeGreaterThanOrEqual(omem);
        omemSeen = omem;
      }
    }
    expect(sent * msg.length).toBeGreaterThanOrEqual(32 * MB);
    expect(omemSeen).toBeGreaterThan(0);
    expect(logged.filter((l) => l.startsWith(`client ${id} `))).toEqual([
      expect.stringMatching(/closed: \d+ bytes of replies unread \(client-output-buffer-limit pubsub hard limit 33554432\)$/),
    ]);
    expect(text(await pub.call('PING'))).toBe('PONG');
  } finally {
    sub.close();
    pub.close();
  }
});

test('a hard limit set by CONFIG SET is kept: the subscriber is closed past it; a normal client is not a subscriber', async () => {
  const c = await client();
  expect(await config(c, 'pubsub 100000 0 0')).toBe('OK');
  const { sub, id } = await stalledSubscriber('small');
  const normal = await client();
  normal.socket.pause();
  const normalId = Math.max(...server.clients.keys());
  try {
    let sent = 0;
    while (server.clients.has(id)) {
      expect(sent).toBeLessThan(20000); // 20 MB: past 100 kB and the socket buffers
      await c.call('PUBLISH', 'small', 'x'.repeat(1000));
      // The same bytes as replies to a normal client that does not read: under maxOutput, so kept.
      normal.send(`*2\r\n$4\r\nECHO\r\n$1000\r\n${'y'.repeat(1000)}\r\n`);
      sent++;
    }
    expect(logged.filter((l) => l.startsWith(`client ${id} `))).toEqual([
      expect.stringMatching(/closed: \d+ bytes of replies unread \(client-output-buffer-limit pubsub hard limit 100000\)$/),
    ]);
    expect(server.clients.has(normalId)).toBe(true);
  } finally {
    sub.close();
    normal.close();
    c.close();
  }
});

test('a soft limit closes a subscriber held past it for its seconds, also with nothing more published', async () => {
  const c = await client();
  expect(await config(c, 'pubsub 0 100000 2')).toBe('OK');
  const { sub, id } = await stalledSubscriber('soft');
  try {
    // Published until the subscriber's unread output reaches the soft limit.
    let sent = 0;
    while (server.clients.get(id)?.softLimitSince === 0) {
      expect(sent).toBeLessThan(20000);
      await c.call('PUBLISH', 'soft', 'x'.repeat(1000));
      sent++;
    }
    const since = server.clients.get(id)?.softLimitSince as number;
    // Held, not closed, as the limit was reached: its 2 s start then.
    expect(server.clients.has(id)).toBe(true);
    // Nothing more is published: the cron closes it once 2 s have passed.
    while (server.clients.has(id)) await sleep(50);
    expect(Date.now() - since).toBeGreaterThan(2000);
    expect(logged.filter((l) => l.startsWith(`client ${id} `))).toEqual([
      expect.stringMatching(/closed: \d+ bytes of replies unread for \d+ s \(client-output-buffer-limit pubsub soft limit 100000 for 2 s\)$/),
    ]);
  } finally {
    sub.close();
    c.close();
  }
});

test('a client that has not given the password is closed once 1 KiB of its replies is unread, as in Redis', async () => {
  const f = tmpFile('output-limits-auth.kv');
  const lines: string[] = [];
  const s = createServer({ file: f, requirepass: 'secret', log: (line) => lines.push(line) });
  const p = await s.listen(0);
  const peer = new RawClient(p);
  await peer.ready;
  const id = Math.max(...s.clients.keys());
  peer.socket.pause();
  try {
    let sent = 0;
    // Each PING is refused (-NOAUTH); the refusals fill the kernel's buffers, then the server's.
    while (s.clients.has(id)) {
      expect(sent).toBeLessThan(2_000_000);
      peer.send('PING\r\n'.repeat(10_000));
      sent += 10_000;
      await sleep(5);
    }
    expect(lines.filter((l) => l.startsWith(`client ${id} `))).toEqual([
      expect.stringMatching(/closed: \d+ bytes of replies unread before AUTH \(limit 1024\)$/),
    ]);
    // One that gave it is not held to that.
    const ok = new RawClient(p);
    await ok.ready;
    expect(text(await ok.call('AUTH', 'secret'))).toBe('OK');
    ok.close();
  } finally {
    peer.close();
    await s.close();
    fs.rmSync(f, { force: true });
  }
});
