// pmem serve with real clients: ioredis, node-redis and redis-cli, each
// through connect, pipeline, MULTI, pub/sub and reconnect (the server
// closed and started again on the same port and store).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import Redis from 'ioredis';
import { createClient } from 'redis';

import { createServer, type RespServer } from '../lib';
import { listenOutsideEphemeral, relisten } from './fixtures/serve/relisten';
import { tmpFile } from './helpers';

let file: string;
let server: RespServer;
let port: number;

async function restart(): Promise<void> {
  await server.close();
  server = createServer({ file });
  await relisten(server, port);
}

beforeAll(async () => {
  file = tmpFile('clients.kv');
  server = createServer({ file });
  port = await listenOutsideEphemeral(server);
});

afterAll(async () => {
  await server.close();
  fs.rmSync(file, { force: true });
});

describe('ioredis', () => {
  test('connect, pipeline, MULTI, pub/sub, reconnect', async () => {
    const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 50, retryStrategy: () => 20 });
    const sub = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 20 });
    try {
      expect(await r.ping()).toBe('PONG');
      const res = await r.pipeline().set('io:a', '1').incr('io:a').get('io:a').mset('io:b', 'x', 'io:c', 'y').mget('io:b', 'io:c').exec();
      expect(res?.map(([e, v]) => (e === null ? v : e))).toEqual(['OK', 2, '2', 'OK', ['x', 'y']]);
      const t0 = Date.now();
      expect(await r.multi().set('io:t', 'v').incrby('io:n', 5).expire('io:t', 100).exec()).toEqual([[null, 'OK'], [null, 5], [null, 1]]);
      const got = new Promise<[string, string]>((resolve) => sub.on('message', (ch: string, m: string) => resolve([ch, m])));
      // ioredis writes SUBSCRIBE at once while its connection is between
      // connect and ready; a SUBSCRIBE reply read before its ready check's
      // INFO is sent fails that check ("Connection in subscriber mode"), and
      // the client drops the connection. redis-server 7.0.15 does the same to
      // it. A client subscribes once ready, or before connecting.
      if (sub.status !== 'ready') await new Promise((resolve) => sub.once('ready', resolve));
      await sub.subscribe('io:ch');
      expect(await r.publish('io:ch', 'hello')).toBe(1);
      expect(await got).toEqual(['io:ch', 'hello']);
      await restart();
      // The client reconnects by itself; what was acknowledged is there.
      expect(await r.get('io:a')).toBe('2');
      // TTL rounds the time left as Redis does; the restart's wait for its
      // port (relisten) may take seconds on a loaded machine.
      const ttl = await r.ttl('io:t');
      expect(ttl).toBeLessThanOrEqual(100);
      expect(ttl).toBeGreaterThanOrEqual(Math.round((100_000 - (Date.now() - t0)) / 1000));
    } finally {
      r.disconnect();
      sub.disconnect();
    }
  });
});

describe('node-redis', () => {
  test('connect, pipeline, MULTI, pub/sub, reconnect', async () => {
    const url = `redis://127.0.0.1:${port}`;
    const r = createClient({ url, socket: { reconnectStrategy: () => 20 } });
    const sub = r.duplicate();
    r.on('error', () => {});
    sub.on('error', () => {});
    await r.connect();
    await sub.connect();
    try {
      expect(await r.ping()).toBe('PONG');
      const [a, b, c] = await Promise.all([r.set('nr:a', '1'), r.incr('nr:a'), r.get('nr:a')]); // one pipelined write
      expect([a, b, c]).toEqual(['OK', 2, '2']);
      expect(await r.multi().set('nr:t', 'v').incrBy('nr:n', 3).get('nr:t').exec()).toEqual(['OK', 3, 'v']);
      const got = new Promise<string>((resolve) => void sub.subscribe('nr:ch', (m) => resolve(m)));
      await new Promise((resolve) => setImmediate(resolve));
      while ((await r.publish('nr:ch', 'hi')) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(await got).toBe('hi');
      const ready = new Promise((resolve) => r.once('ready', resolve));
      await restart();
      await ready; // node-redis fails what was in flight on the closed socket, then reconnects
      expect(await r.get('nr:a')).toBe('2');
    } finally {
      await r.disconnect().catch(() => {});
      await sub.disconnect().catch(() => {});
    }
  });
});

/** redis-cli: installed by scripts/redis-suite.sh (Debian's redis-tools) when missing and root may install it. */
function redisCli(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v redis-cli']).stdout.toString().trim();
  if (found !== '') return found;
  if (process.getuid?.() === 0) {
    spawnSync('bash', [path.join(__dirname, '..', 'scripts', 'redis-suite.sh')], { stdio: 'ignore' });
    const again = spawnSync('sh', ['-c', 'command -v redis-cli']).stdout.toString().trim();
    if (again !== '') return again;
  }
  return null;
}

describe('redis-cli', () => {
  const cli = redisCli();
  // Asynchronous: the server runs in this process and must go on serving meanwhile.
  const run = (args: string[], input?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const p = spawn(cli as string, ['-p', String(port), ...args]);
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli exited with ${code}: ${out}`))));
      p.stdin.end(input ?? '');
    });
  const maybe = cli === null ? test.skip : test;
  if (cli === null) {
    // eslint-disable-next-line no-console
    console.warn('redis-cli not found and not installable here (apt-get install redis-tools): its scenario is skipped');
  }

  maybe('connect, pipeline (--pipe), MULTI, pub/sub, reconnect', async () => {
    expect((await run(['ping'])).trim()).toBe('PONG');
    const pipe = Array.from({ length: 1000 }, (_, i) => `SET cli:${i} v${i}\r\n`).join('');
    expect(await run(['--pipe'], pipe)).toMatch(/errors: 0, replies: 1000/);
    expect((await run(['get', 'cli:999'])).trim()).toBe('v999');
    expect((await run([], 'MULTI\nSET cli:t 1\nINCR cli:t\nEXEC\n')).trim().split('\n')).toEqual(['OK', 'QUEUED', 'QUEUED', 'OK', '2']);
    const sub = spawn(cli as string, ['-p', String(port), 'subscribe', 'cli:ch']);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    while (!out.includes('cli:ch')) await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await run(['publish', 'cli:ch', 'hey'])).trim()).toBe('1');
    while (!out.includes('hey')) await new Promise((resolve) => setTimeout(resolve, 5));
    sub.kill();
    await restart();
    expect((await run(['get', 'cli:500'])).trim()).toBe('v500');
  });
});
