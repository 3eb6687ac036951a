// pmem serve's shard channels (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB
// SHARDCHANNELS and SHARDNUMSUB) through raw RESP, as Redis 7.0 has them
// outside a cluster: a namespace of their own beside channels and
// patterns, counted apart in the confirmations, messages as 'smessage',
// RESP3 pushes under CLIENT REPLY OFF; and a RESP2 subscriber refused
// PUBLISH, SPUBLISH and PUBSUB, as Redis refuses them. Redis's
// unit/pubsubshard is external:skip in its suite; these are its cases.
import * as fs from 'node:fs';

import { createServer, type RespServer } from '../lib';
import { RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

let file: string;
let server: RespServer;
let port: number;
const open: RawClient[] = [];

async function client(): Promise<RawClient> {
  const c = new RawClient(port);
  open.push(c);
  await c.ready;
  return c;
}

beforeAll(async () => {
  file = tmpFile('shard.kv');
  server = createServer({ file });
  port = await server.listen(0, '127.0.0.1');
});

afterAll(async () => {
  for (const c of open) c.close();
  await server.close();
  fs.rmSync(file, { force: true });
});

test('SSUBSCRIBE and SPUBLISH: two channels, two clients, counts of shard channels alone', async () => {
  const a = await client();
  const b = await client();
  const r = await client();
  expect(text(await a.call('SSUBSCRIBE', 'chan1', 'chan2'))).toEqual(['ssubscribe', 'chan1', 1]);
  expect(text(await a.read())).toEqual(['ssubscribe', 'chan2', 2]);
  expect(text(await b.call('SSUBSCRIBE', 'chan1'))).toEqual(['ssubscribe', 'chan1', 1]);
  expect(await r.call('SPUBLISH', 'chan1', 'hello')).toBe(2);
  expect(await r.call('SPUBLISH', 'chan2', 'world')).toBe(1);
  expect(text(await a.read())).toEqual(['smessage', 'chan1', 'hello']);
  expect(text(await a.read())).toEqual(['smessage', 'chan2', 'world']);
  expect(text(await b.read())).toEqual(['smessage', 'chan1', 'hello']);
  // Subscribed twice, counted once; a channel not subscribed is confirmed with the count as it is.
  expect(text(await b.call('SSUBSCRIBE', 'chan1'))).toEqual(['ssubscribe', 'chan1', 1]);
  expect(text(await b.call('SUNSUBSCRIBE', 'nope'))).toEqual(['sunsubscribe', 'nope', 1]);
  // SUNSUBSCRIBE with no name: every shard channel, then a nil when there is none.
  expect(text(await a.call('SUNSUBSCRIBE'))).toEqual(['sunsubscribe', 'chan1', 1]);
  expect(text(await a.read())).toEqual(['sunsubscribe', 'chan2', 0]);
  expect(text(await a.call('SUNSUBSCRIBE'))).toEqual(['sunsubscribe', null, 0]);
  expect(await r.call('SPUBLISH', 'chan2', 'none')).toBe(0);
  expect(text(await r.call('PUBSUB', 'SHARDCHANNELS'))).toEqual(['chan1']);
  expect(text(await r.call('PUBSUB', 'SHARDCHANNELS', 'x*'))).toEqual([]);
  expect(text(await r.call('PUBSUB', 'SHARDNUMSUB', 'chan1', 'chan2'))).toEqual(['chan1', 1, 'chan2', 0]);
  expect(text(await b.call('SUNSUBSCRIBE', 'chan1'))).toEqual(['sunsubscribe', 'chan1', 0]);
  expect(text(await r.call('PUBSUB', 'SHARDCHANNELS'))).toEqual([]);
});

test('shard channels and channels are apart: PUBLISH reaches only SUBSCRIBE, SPUBLISH only SSUBSCRIBE', async () => {
  const s = await client();
  const p = await client();
  const r = await client();
  expect(text(await s.call('SSUBSCRIBE', 'chan1'))).toEqual(['ssubscribe', 'chan1', 1]);
  expect(text(await p.call('SUBSCRIBE', 'chan1'))).toEqual(['subscribe', 'chan1', 1]);
  expect(text(await p.call('PSUBSCRIBE', 'chan*'))).toEqual(['psubscribe', 'chan*', 2]);
  expect(await r.call('SPUBLISH', 'chan1', 'to-shard')).toBe(1);
  expect(await r.call('PUBLISH', 'chan1', 'to-channel')).toBe(2);
  expect(text(await s.read())).toEqual(['smessage', 'chan1', 'to-shard']);
  expect(text(await p.read())).toEqual(['message', 'chan1', 'to-channel']);
  expect(text(await p.read())).toEqual(['pmessage', 'chan*', 'chan1', 'to-channel']);
  expect(text(await r.call('PUBSUB', 'NUMSUB', 'chan1'))).toEqual(['chan1', 1]);
  expect(text(await r.call('PUBSUB', 'SHARDNUMSUB', 'chan1'))).toEqual(['chan1', 1]);
  // A client with shard channels only is a subscriber (CLIENT LIST's ssub and flag P).
  expect(text(await r.call('CLIENT', 'LIST'))).toMatch(/flags=P db=0 sub=0 psub=0 ssub=1 /);
  // A RESP2 subscriber may not publish, as in Redis 7.0.
  const why = "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";
  expect(text(await s.call('SPUBLISH', 'chan1', 'x'))).toBe(`-ERR Can't execute 'spublish': ${why}`);
  expect(text(await s.call('PUBLISH', 'chan1', 'x'))).toBe(`-ERR Can't execute 'publish': ${why}`);
  expect(text(await s.call('PUBSUB', 'NUMSUB'))).toBe(`-ERR Can't execute 'pubsub|numsub': ${why}`);
  // RESET drops shard channels too.
  expect(text(await s.call('RESET'))).toBe('RESET');
  expect(await r.call('SPUBLISH', 'chan1', 'gone')).toBe(0);
});

test('RESP3 with CLIENT REPLY OFF: confirmations and messages are pushes, sent all the same', async () => {
  const c = await client();
  const r = await client();
  await c.call('HELLO', '3');
  c.send(Buffer.from('*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n*2\r\n$10\r\nSSUBSCRIBE\r\n$7\r\nchannel\r\n'));
  expect(text(await c.read())).toEqual({ push: ['ssubscribe', 'channel', 1] });
  expect(await r.call('SPUBLISH', 'channel', 'hello')).toBe(1);
  expect(text(await c.read())).toEqual({ push: ['smessage', 'channel', 'hello'] });
  c.send(Buffer.from('*2\r\n$12\r\nSUNSUBSCRIBE\r\n$7\r\nchannel\r\n'));
  expect(text(await c.read())).toEqual({ push: ['sunsubscribe', 'channel', 0] });
});

test('PUBSUB SHARDNUMSUB is an array of pairs in RESP3, as NUMSUB is (not a map)', async () => {
  const s = await client();
  const r = await client();
  expect(text(await s.call('SSUBSCRIBE', 'counted'))).toEqual(['ssubscribe', 'counted', 1]);
  await r.call('HELLO', '3');
  expect(text(await r.call('PUBSUB', 'SHARDNUMSUB', 'counted', 'none'))).toEqual(['counted', 1, 'none', 0]);
  expect(text(await r.call('PUBSUB', 'NUMSUB', 'none'))).toEqual(['none', 0]);
});
