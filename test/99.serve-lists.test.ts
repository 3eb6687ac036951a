// pmem serve's lists through a real client (ioredis): every command of the
// group with its errors, WRONGTYPE, LINSERT's renumbering, a restart that
// recovers every list in order, and the blocking commands across
// connections: served in the order clients blocked, woken by any command
// that gives the key elements (EXEC, RENAME, another blocked client's
// BLMOVE), non-blocking inside MULTI, timeouts, CLIENT UNBLOCK, and a
// blocked client's reply sent only once the batch that popped is durable.
// Blocking is observed through the server's count of blocked clients,
// never through timing.
import * as fs from 'node:fs';
import * as net from 'node:net';

import Redis from 'ioredis';

import { createServer, KVStore, type RespServer } from '../lib';
import { Blocking, timeoutMs } from '../lib/server/blocking';
import type { Client } from '../lib/server/client';
import { ListValue } from '../lib/server/list';
import { failNextBatch } from './fixtures/serve/batch';
import { frame, RawClient } from './fixtures/serve/raw';
import { listenOutsideEphemeral, relisten } from './fixtures/serve/relisten';
import { tmpFile } from './helpers';

let file: string;
let server: RespServer;
let port: number;
const conns: Redis[] = [];

function conn(): Redis {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 50, retryStrategy: () => 20 });
  conns.push(r);
  return r;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** Waits until `n` clients are blocked on the server. */
const blocked = (n: number): Promise<void> => until(() => server.blocking.blockedClients === n);

async function restart(): Promise<void> {
  await server.close();
  server = createServer({ file });
  await relisten(server, port);
}

beforeAll(async () => {
  file = tmpFile('lists.kv');
  server = createServer({ file });
  port = await listenOutsideEphemeral(server);
});

afterAll(async () => {
  for (const r of conns) r.disconnect();
  await server.close();
  fs.rmSync(file, { force: true });
});

describe('the DRAM list', () => {
  test('pushes at both ends take the neighbouring positions; an insert between touching positions renumbers the shorter side', () => {
    const l = new ListValue();
    const b = (s: string): Buffer => Buffer.from(s);
    expect(l.pushBack(b('c'))).toBe(0);
    expect(l.pushFront(b('b'))).toBe(-1);
    expect(l.pushFront(b('a'))).toBe(-2);
    expect(l.pushBack(b('d'))).toBe(1);
    // a b c d at -2 -1 0 1: an insert at index 1 moves 'a' (the shorter side) to -3.
    const r = l.insertAt(1, b('x'));
    if (r === null) throw new Error('no positions left');
    expect(r.moves.map((m) => [m.from, m.to, m.value.toString()])).toEqual([[-2, -3, 'a']]);
    expect(r.pos).toBe(-2);
    expect(l.values().map(String)).toEqual(['a', 'x', 'b', 'c', 'd']);
    const positions = Array.from({ length: l.length }, (_, i) => l.posAt(i));
    expect(positions).toEqual([-3, -2, -1, 0, 1]);
    // A gap left by a removal is used without moving anything.
    l.removeAt(3);
    expect(l.insertAt(3, b('y'))?.moves).toEqual([]);
    expect(l.values().map(String)).toEqual(['a', 'x', 'b', 'y', 'd']);
    // Growth past the ring's capacity keeps order, from either end.
    for (let i = 0; i < 40; i++) {
      if (i % 2 === 0) l.pushFront(b(`f${i}`));
      else l.pushBack(b(`t${i}`));
    }
    const all = l.values().map(String);
    expect(all).toHaveLength(45);
    expect(all[0]).toBe('f38');
    expect(all[all.length - 1]).toBe('t39');
    for (let i = 1; i < l.length; i++) expect(l.posAt(i)).toBeGreaterThan(l.posAt(i - 1));
  });
});

/** A client as Blocking sees one: connected, its socket open. */
function connected(): Client {
  return { closed: false, socket: { readableEnded: false, destroyed: false } } as unknown as Client;
}

describe('the blocked-client queues', () => {
  afterEach(() => jest.useRealTimers());

  test('a wait past setTimeout\'s 2^31 - 1 ms limit re-arms instead of firing early; timeouts parse as Redis does', () => {
    jest.useFakeTimers();
    const b = new Blocking();
    const events: string[] = [];
    const c = connected();
    b.onUnblock = () => events.push('unblocked');
    b.block({ client: c, db: 0, keys: ['k'], serve: () => true, timedOut: () => events.push('timeout') }, 2 ** 31 + 5000);
    jest.advanceTimersByTime(2 ** 31 - 1);
    expect(events).toEqual([]);
    expect(b.isBlocked(c)).toBe(true);
    jest.advanceTimersByTime(6000);
    expect(events).toEqual(['timeout', 'unblocked']);
    expect(b.isBlocked(c)).toBe(false);
    expect([timeoutMs('0'), timeoutMs('0.0011'), timeoutMs('1e3'), timeoutMs('inf'), timeoutMs('-0.5'), timeoutMs('1s'), timeoutMs('nan')])
      .toEqual([0, 2, 1000000, 'ERR timeout is out of range', 'ERR timeout is negative', 'ERR timeout is not a float or out of range', 'ERR timeout is not a float or out of range']);
    // Past 2^53 ms a wait is as long as a double counts; from 2^63 ms (Redis's long long) it is refused.
    expect([timeoutMs('1e15'), timeoutMs('9.2e15'), timeoutMs('9223372036854776'), timeoutMs('9.3e15'), timeoutMs('1e308')])
      .toEqual([2 ** 53, 2 ** 53, 'ERR timeout is out of range', 'ERR timeout is out of range', 'ERR timeout is out of range']);
  });

  test('a key signalled with several waiters serves them first blocked first; a waiter whose command does not apply stays blocked', () => {
    const b = new Blocking();
    const [x, y, z] = [connected(), connected(), connected()];
    const served: string[] = [];
    let items = 2;
    const take = (name: string) => () => {
      if (items === 0) return false;
      items--;
      served.push(name);
      return true;
    };
    b.block({ client: x, db: 0, keys: ['k', 'other'], serve: take('x'), timedOut: () => {} }, 0);
    b.block({ client: y, db: 0, keys: ['k'], serve: () => false, timedOut: () => {} }, 0);
    b.block({ client: z, db: 0, keys: ['k'], serve: take('z'), timedOut: () => {} }, 0);
    b.signal(1, 'k'); // another database: nobody waits there
    b.serveReady();
    expect(served).toEqual([]);
    b.signal(0, 'k');
    b.serveReady();
    expect(served).toEqual(['x', 'z']);
    expect([b.isBlocked(x), b.isBlocked(y), b.isBlocked(z)]).toEqual([false, true, false]);
    expect(b.blockingKeys).toBe(1); // 'other' went with x
    b.drop(y);
    expect(b.blockedClients).toBe(0);
    expect(b.blockingKeys).toBe(0);
  });
});

describe('list commands', () => {
  test('push, pop, range, index, set, len', async () => {
    const r = conn();
    expect(await r.rpush('l:a', 'b', 'c')).toBe(2);
    expect(await r.lpush('l:a', 'a', 'z')).toBe(4);
    expect(await r.lrange('l:a', 0, -1)).toEqual(['z', 'a', 'b', 'c']);
    expect(await r.lrange('l:a', -2, 100)).toEqual(['b', 'c']);
    expect(await r.lrange('l:a', 3, 1)).toEqual([]);
    expect(await r.llen('l:a')).toBe(4);
    expect(await r.lindex('l:a', -1)).toBe('c');
    expect(await r.lindex('l:a', 9)).toBeNull();
    expect(await r.lset('l:a', 0, 'Z')).toBe('OK');
    expect(await r.lpop('l:a')).toBe('Z');
    expect(await r.rpop('l:a', 2)).toEqual(['c', 'b']);
    expect(await r.lpushx('l:none', 'x')).toBe(0);
    expect(await r.rpushx('l:a', 'y')).toBe(2);
    expect(await r.lpop('l:a', 0)).toEqual([]);
    expect(await r.lpop('l:a', 5)).toEqual(['a', 'y']);
    expect(await r.exists('l:a')).toBe(0); // an emptied list is gone
    expect(await r.lpop('l:a')).toBeNull();
    expect(await r.call('LPOP', 'l:a', '3')).toBeNull();
  });

  test('LINSERT, LREM, LTRIM, LPOS, LMOVE, RPOPLPUSH, LMPOP', async () => {
    const r = conn();
    await r.rpush('l:b', 'a', 'b', 'c', 'b', 'a');
    expect(await r.linsert('l:b', 'BEFORE', 'c', 'x')).toBe(6);
    expect(await r.linsert('l:b', 'AFTER', 'c', 'y')).toBe(7);
    expect(await r.linsert('l:b', 'AFTER', 'nope', 'y')).toBe(-1);
    expect(await r.linsert('l:none', 'AFTER', 'a', 'y')).toBe(0);
    expect(await r.lrange('l:b', 0, -1)).toEqual(['a', 'b', 'x', 'c', 'y', 'b', 'a']);
    expect(await r.lpos('l:b', 'b')).toBe(1);
    expect(await r.lpos('l:b', 'b', 'RANK', -1)).toBe(5);
    expect(await r.call('LPOS', 'l:b', 'a', 'COUNT', '0')).toEqual([0, 6]);
    expect(await r.call('LPOS', 'l:b', 'a', 'COUNT', '0', 'MAXLEN', '3')).toEqual([0]);
    expect(await r.lrem('l:b', -1, 'a')).toBe(1);
    expect(await r.lrem('l:b', 0, 'b')).toBe(2);
    expect(await r.lrange('l:b', 0, -1)).toEqual(['a', 'x', 'c', 'y']);
    expect(await r.ltrim('l:b', 1, -2)).toBe('OK');
    expect(await r.lrange('l:b', 0, -1)).toEqual(['x', 'c']);
    expect(await r.lmove('l:b', 'l:c', 'LEFT', 'RIGHT')).toBe('x');
    expect(await r.rpoplpush('l:b', 'l:c')).toBe('c');
    expect(await r.exists('l:b')).toBe(0);
    expect(await r.lrange('l:c', 0, -1)).toEqual(['c', 'x']);
    expect(await r.lmove('l:c', 'l:c', 'LEFT', 'RIGHT')).toBe('c'); // a rotation
    expect(await r.lrange('l:c', 0, -1)).toEqual(['x', 'c']);
    expect(await r.call('LMPOP', '2', 'l:none', 'l:c', 'RIGHT', 'COUNT', '5')).toEqual(['l:c', ['c', 'x']]);
    expect(await r.call('LMPOP', '1', 'l:c', 'LEFT')).toBeNull();
    expect(await r.ltrim('l:none', 0, 1)).toBe('OK');
  });

  test('errors as Redis words them, and WRONGTYPE before any write', async () => {
    const r = conn();
    await r.set('l:str', 'v');
    await r.rpush('l:e', 'a');
    const err = (p: Promise<unknown>): Promise<string> => p.then(() => 'no error', (e: Error) => e.message);
    const wrong = 'WRONGTYPE Operation against a key holding the wrong kind of value';
    for (const cmd of [['LPUSH', 'l:str', 'x'], ['RPOP', 'l:str'], ['LRANGE', 'l:str', '0', '1'], ['LLEN', 'l:str'], ['LINSERT', 'l:str', 'BEFORE', 'a', 'b'],
      ['LMOVE', 'l:e', 'l:str', 'LEFT', 'LEFT'], ['BLPOP', 'l:str', '0'], ['LPOS', 'l:str', 'a']]) {
      expect(await err(r.call(cmd[0], ...cmd.slice(1)))).toBe(wrong);
    }
    expect(await r.lrange('l:e', 0, -1)).toEqual(['a']); // LMOVE onto a string moved nothing
    expect(await err(r.call('LSET', 'l:none', '0', 'x'))).toBe('ERR no such key');
    expect(await err(r.call('LSET', 'l:e', '5', 'x'))).toBe('ERR index out of range');
    expect(await err(r.call('LINSERT', 'l:e', 'MIDDLE', 'a', 'x'))).toBe('ERR syntax error');
    expect(await err(r.call('LPOS', 'l:e', 'a', 'RANK', '0'))).toMatch(/^ERR RANK can't be zero/);
    expect(await err(r.call('LPOS', 'l:e', 'a', 'COUNT', '-1'))).toBe("ERR COUNT can't be negative");
    expect(await err(r.call('LPOS', 'l:e', 'a', 'MAXLEN', '-1'))).toBe("ERR MAXLEN can't be negative");
    expect(await err(r.call('LPOP', 'l:e', '-1'))).toBe('ERR value is out of range, must be positive');
    expect(await err(r.call('LPOP', 'l:e', 'x'))).toBe('ERR value is out of range, must be positive');
    expect(await err(r.call('LPOP', 'l:e', '1', '2'))).toBe("ERR wrong number of arguments for 'lpop' command");
    expect(await err(r.call('LMOVE', 'l:e', 'l:f', 'UP', 'LEFT'))).toBe('ERR syntax error');
    expect(await err(r.call('LMPOP', '0', 'l:e', 'LEFT'))).toBe('ERR numkeys should be greater than 0');
    expect(await err(r.call('LMPOP', '1', 'l:e', 'LEFT', 'COUNT', '0'))).toBe('ERR count should be greater than 0');
    expect(await err(r.call('BLPOP', 'l:e', 'x'))).toBe('ERR timeout is not a float or out of range');
    expect(await err(r.call('BLPOP', 'l:e', '-1'))).toBe('ERR timeout is negative');
    expect(await err(r.call('LINDEX', 'l:e', 'x'))).toBe('ERR value is not an integer or out of range');
    expect(await err(r.call('BLPOP', 'l:e', 'inf'))).toBe('ERR timeout is out of range');
    expect(await err(r.call('CLIENT', 'UNBLOCK', '1', 'LATER'))).toBe('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
  });

  test('inserts in the middle renumber records, and a restart recovers every list in order', async () => {
    const r = conn();
    const model: string[] = [];
    await r.rpush('l:ins', 'm0');
    model.push('m0');
    for (let i = 1; i < 60; i++) {
      const pivot = model[Math.floor(model.length / 2)];
      const where = i % 2 === 0 ? 'BEFORE' : 'AFTER';
      await r.call('LINSERT', 'l:ins', where, pivot, `m${i}`);
      const at = model.indexOf(pivot) + (where === 'AFTER' ? 1 : 0);
      model.splice(at, 0, `m${i}`);
    }
    await r.lrem('l:ins', 0, 'm7');
    model.splice(model.indexOf('m7'), 1);
    await r.lpush('l:ins', 'head');
    await r.rpush('l:ins', 'tail');
    model.unshift('head');
    model.push('tail');
    expect(await r.lrange('l:ins', 0, -1)).toEqual(model);
    await r.rpush('l:bin', Buffer.from([0, 255, 13, 10]), '');
    await restart();
    const r2 = conn();
    expect(await r2.lrange('l:ins', 0, -1)).toEqual(model);
    expect(await r2.lrangeBuffer('l:bin', 0, -1)).toEqual([Buffer.from([0, 255, 13, 10]), Buffer.alloc(0)]);
    expect(await r2.type('l:ins')).toBe('list');
  });
});

describe('blocking commands', () => {
  test('clients are served in the order they blocked, one element each', async () => {
    const [a, b, p] = [conn(), conn(), conn()];
    const got: string[] = [];
    const ra = a.blpop('b:q', 0).then((v) => got.push(`a:${v?.[1]}`));
    await blocked(1);
    const rb = b.brpop('b:q', 'b:other', 0).then((v) => got.push(`b:${v?.[0]}:${v?.[1]}`));
    await blocked(2);
    expect(await p.rpush('b:q', 'one')).toBe(1);
    await ra;
    expect(got).toEqual(['a:one']);
    expect(server.blocking.blockedClients).toBe(1);
    expect(await p.rpush('b:q', 'two', 'three')).toBe(2);
    await rb;
    expect(got).toEqual(['a:one', 'b:b:q:three']);
    expect(await p.lrange('b:q', 0, -1)).toEqual(['two']);
    await p.del('b:q');
  });

  test('a timeout answers nil after blocking; CLIENT UNBLOCK ends a wait as a timeout or an error', async () => {
    const [a, p] = [conn(), conn()];
    const t = a.blpop('b:t', 0.05);
    await blocked(1); // it did block
    expect(await t).toBeNull();
    expect(server.blocking.blockedClients).toBe(0);
    const id = (await a.client('ID')) as number;
    const u = a.call('BLMOVE', 'b:t', 'b:u', 'LEFT', 'RIGHT', '0');
    await blocked(1);
    expect(await p.call('CLIENT', 'UNBLOCK', String(id))).toBe(1);
    expect(await u).toBeNull();
    const e = a.blpop('b:t', 0).then(() => 'no error', (x: Error) => x.message);
    await blocked(1);
    expect(await p.call('CLIENT', 'UNBLOCK', String(id), 'ERROR')).toBe(1);
    expect(await e).toBe('UNBLOCKED client unblocked via CLIENT UNBLOCK');
    expect(await p.call('CLIENT', 'UNBLOCK', String(id))).toBe(0);
  });

  test('BLMOVE and BRPOPLPUSH answer a wait that timed out with the null of an array (RESP2 *-1), and inside EXEC with a null bulk ($-1), as Redis does', async () => {
    const p = conn();
    for (const cmd of [['BLMOVE', 'b:none', 'b:d', 'LEFT', 'RIGHT', '0'], ['BRPOPLPUSH', 'b:none', 'b:d', '0'], ['BLPOP', 'b:none', '0']]) {
      const raw = net.connect(port, '127.0.0.1');
      let got = '';
      raw.on('data', (b: Buffer) => { got += b.toString('latin1'); });
      raw.write('CLIENT ID\r\n');
      await until(() => got.endsWith('\r\n'));
      const id = got.slice(1, -2);
      got = '';
      raw.write(frame(...cmd));
      await blocked(1);
      // CLIENT UNBLOCK ends the wait as its timeout would.
      expect(await p.call('CLIENT', 'UNBLOCK', id)).toBe(1);
      await until(() => got.length > 0);
      expect(got).toBe('*-1\r\n');
      got = '';
      raw.write(Buffer.concat([frame('MULTI'), frame(...cmd), frame('EXEC')]));
      await until(() => got.endsWith('\r\n') && got.includes('*1'));
      expect(got).toBe(`+OK\r\n+QUEUED\r\n*1\r\n${cmd[0] === 'BLPOP' ? '*-1' : '$-1'}\r\n`);
      raw.destroy();
    }
  });

  test('inside MULTI a blocking command does not block; EXEC and RENAME wake blocked clients', async () => {
    const [a, b, p] = [conn(), conn(), conn()];
    expect(await p.multi().blpop('b:m', 0).brpoplpush('b:m', 'b:n', 0).exec()).toEqual([[null, null], [null, null]]);
    const wa = a.blpop('b:m', 0);
    await blocked(1);
    expect(await p.multi().rpush('b:m', 'x').rpush('b:m', 'y').lpop('b:m').exec()).toEqual([[null, 1], [null, 2], [null, 'x']]);
    expect(await wa).toEqual(['b:m', 'y']);
    const wb = b.blpop('b:r', 0);
    await blocked(1);
    await p.rpush('b:src', 'moved');
    expect(await p.rename('b:src', 'b:r')).toBe('OK');
    expect(await wb).toEqual(['b:r', 'moved']);
  });

  test("a blocked BLMOVE's push wakes the clients blocked on its destination", async () => {
    const [a, b, p] = [conn(), conn(), conn()];
    const wa = a.blmove('b:c1', 'b:c2', 'LEFT', 'RIGHT', 0);
    await blocked(1);
    const wb = b.blpop('b:c2', 0);
    await blocked(2);
    await p.rpush('b:c1', 'chain');
    expect(await wa).toBe('chain');
    expect(await wb).toEqual(['b:c2', 'chain']);
    expect(await p.exists('b:c1', 'b:c2')).toBe(0);
  });

  test('BLMPOP pops up to COUNT from the first non-empty key; a wrong type on the served key is an error', async () => {
    const [a, b, p] = [conn(), conn(), conn()];
    const wa = a.call('BLMPOP', '0', '2', 'b:x', 'b:y', 'RIGHT', 'COUNT', '2');
    await blocked(1);
    await p.rpush('b:y', '1', '2', '3');
    expect(await wa).toEqual(['b:y', ['3', '2']]);
    await p.set('b:dst', 'string');
    const wb = b.blmove('b:z', 'b:dst', 'LEFT', 'LEFT', 0).then(() => 'no error', (e: Error) => e.message);
    await blocked(1);
    await p.rpush('b:z', 'v');
    expect(await wb).toMatch(/^WRONGTYPE/);
    expect(await p.lrange('b:z', 0, -1)).toEqual(['v']);
    await p.del('b:y', 'b:z', 'b:dst');
  });

  test("a blocked client's reply waits for the batch that popped: a failed commit acknowledges neither client", async () => {
    const a = new RawClient(port);
    const p = new RawClient(port);
    await Promise.all([a.ready, p.ready]);
    a.send(frame('BLPOP', 'b:d', '0'));
    await blocked(1);
    const failed = failNextBatch(server);
    p.send(frame('RPUSH', 'b:d', 'never'));
    // The push and the blocked pop were one batch; it failed, so neither connection gets a reply: both close.
    expect(await p.read()).toBeNull();
    expect(await a.read()).toBeNull();
    expect(failed()).toBe(1);
    expect(await conn().exists('b:d')).toBe(0);
  });
});

describe('positions', () => {
  // A list's positions are numbers, moved one per push at an end: a queue
  // that never empties runs out after 2^53 pushes. The tests move a list's
  // records to the last or first positions by hand, as such a queue leaves
  // them.

  /**
   * A store of its own holding the list 'q' of `values` (its only element
   * records), moved to the positions `from`, `from` + 1, ... by hand (its
   * element records: 'e', the generation, position + 2^63 big-endian, as
   * docs/formats.md, "Collections", has them), and a server on it again.
   */
  async function listAt(values: string[], from: bigint): Promise<{ own: string; r: Redis; p: number; srv: RespServer }> {
    const own = tmpFile('positions.kv');
    let srv = createServer({ file: own });
    const p = await listenOutsideEphemeral(srv);
    const r = new Redis({ port: p, host: '127.0.0.1', maxRetriesPerRequest: 50, retryStrategy: () => 20 });
    conns.push(r);
    expect(await r.rpush('q', ...values)).toBe(values.length);
    await srv.close();
    const st = KVStore.open(own);
    const elements = [...st.unordered(Buffer.from('e'))];
    expect(elements).toHaveLength(values.length);
    elements.sort(([x], [y]) => Buffer.compare(x, y)); // by position, as the ids are big-endian
    const at = (k: Buffer, pos: bigint): Buffer => {
      const id = Buffer.alloc(8);
      id.writeBigUInt64BE(pos + 2n ** 63n);
      return Buffer.concat([k.subarray(0, 9), id]);
    };
    st.batch(elements.flatMap(([k, v], i) => [{ type: 'del' as const, key: k }, { type: 'put' as const, key: at(k, from + BigInt(i)), value: v }]));
    st.close();
    srv = createServer({ file: own });
    await relisten(srv, p);
    return { own, r, p, srv };
  }

  test('a push past the last position is refused, and the list is unchanged, then and after a restart', async () => {
    const { own, r, p, srv: started } = await listAt(['a', 'b'], BigInt(Number.MAX_SAFE_INTEGER) - 1n);
    let srv = started;
    expect(await r.lrange('q', 0, -1)).toEqual(['a', 'b']);
    await expect(r.rpush('q', 'c')).rejects.toThrow(/ERR this end of the list has no positions left/);
    await expect(r.rpush('q', 'c', 'd', 'e')).rejects.toThrow(/no positions left/);
    expect(await r.lpush('q', 'z')).toBe(3); // the other end has room
    expect(await r.lrange('q', 0, -1)).toEqual(['z', 'a', 'b']);
    await srv.close();
    srv = createServer({ file: own });
    await relisten(srv, p);
    expect(await r.lrange('q', 0, -1)).toEqual(['z', 'a', 'b']);
    r.disconnect();
    await srv.close();
    fs.rmSync(own, { force: true });
  });

  test('at the first position: pushes, inserts that reach the head and moves into the list are refused, nothing is popped, and the list is unchanged', async () => {
    // a b c at the first three positions, -(2^53 - 1) and the next two.
    const { own, r, p, srv: started } = await listAt(['a', 'b', 'c'], -BigInt(Number.MAX_SAFE_INTEGER));
    let srv = started;
    expect(await r.rpush('src', 'm')).toBe(1);
    const refused = /ERR this end of the list has no positions left/;
    await expect(r.lpush('q', 'z')).rejects.toThrow(refused);
    await expect(r.lpushx('q', 'z')).rejects.toThrow(refused);
    await expect(r.linsert('q', 'BEFORE', 'a', 'z')).rejects.toThrow(refused);
    // Between a and b, whose positions touch: the head side (a) would move to before the first position.
    await expect(r.linsert('q', 'AFTER', 'a', 'z')).rejects.toThrow(refused);
    // Into the head from another list, and from this list's tail: the element stays where it was.
    await expect(r.lmove('src', 'q', 'RIGHT', 'LEFT')).rejects.toThrow(refused);
    await expect(r.rpoplpush('src', 'q')).rejects.toThrow(refused);
    await expect(r.lmove('q', 'q', 'RIGHT', 'LEFT')).rejects.toThrow(refused);
    expect(await r.lrange('src', 0, -1)).toEqual(['m']);
    expect(await r.lrange('q', 0, -1)).toEqual(['a', 'b', 'c']);
    // What takes no new position at the head goes on.
    expect(await r.lmove('q', 'q', 'LEFT', 'LEFT')).toBe('a');
    expect(await r.linsert('q', 'BEFORE', 'c', 'x')).toBe(4); // the tail side (c) moves
    expect(await r.lmove('src', 'q', 'LEFT', 'RIGHT')).toBe('m');
    expect(await r.rpush('q', 'n')).toBe(6);
    const after = ['a', 'b', 'x', 'c', 'm', 'n'];
    expect(await r.lrange('q', 0, -1)).toEqual(after);
    expect(await r.exists('src')).toBe(0);
    await srv.close();
    srv = createServer({ file: own });
    await relisten(srv, p);
    expect(await r.lrange('q', 0, -1)).toEqual(after);
    await expect(r.lpush('q', 'z')).rejects.toThrow(refused);
    r.disconnect();
    await srv.close();
    fs.rmSync(own, { force: true });
  });
});
