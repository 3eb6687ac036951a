// pmem serve's pipelined path: replies encoded into buffers (the same bytes
// as RESP spells them, in order, never overwritten once handed to the
// socket), length headers parsed digit by digit, and over TCP a pipeline
// whose middle command fails, replies in order across a commit inside one
// turn, replies bigger than the socket's buffer, and keys of any bytes
// written to and read from the store under the same bytes.
import * as fs from 'node:fs';

import { createServer, type KVStore, type RespServer } from '../lib';
import { formatScore } from '../lib/server/commands/zset-store';
import { ReplyWriter } from '../lib/server/reply';
import { ProtocolError, RespParser } from '../lib/server/resp';
import { seededRandom } from '../lib/testing/random';
import { frame, RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

const MB = 1024 * 1024;

/** RESP as the protocol spells it: what a ReplyWriter's calls must produce. */
class Reference {
  proto = 2;
  out = '';
  int(n: number): void {
    this.out += `:${n}\r\n`;
  }
  bulk(v: Buffer | string): void {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.out += `$${b.length}\r\n${b.toString('latin1')}\r\n`;
  }
  bulkLatin1(s: string): void {
    this.out += `$${s.length}\r\n${s}\r\n`;
  }
  array(n: number): void {
    this.out += `*${n}\r\n`;
  }
  map(n: number): void {
    this.out += this.proto === 3 ? `%${n}\r\n` : `*${2 * n}\r\n`;
  }
  double(t: string): void {
    if (this.proto === 3) this.out += `,${t}\r\n`;
    else this.bulkLatin1(t);
  }
  status(s: string): void {
    this.out += `+${s}\r\n`;
  }
  error(s: string): void {
    this.out += `-${s.replace(/^[\r\n]+|[\r\n]+$/g, '').replace(/[\r\n]/g, ' ')}\r\n`;
  }
  nil(): void {
    this.out += this.proto === 3 ? '_\r\n' : '$-1\r\n';
  }
  verbatim(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.out += this.proto === 3 ? `=${b.length + 4}\r\ntxt:${b.toString('latin1')}\r\n` : `$${b.length}\r\n${b.toString('latin1')}\r\n`;
  }
}

type Call = (w: ReplyWriter | Reference) => void;

/** A random reply call: every encoder, with sizes from empty to past a chunk and past the by-reference size. */
function randomCall(rand: () => number): Call {
  const pick = Math.floor(rand() * 11);
  const size = [0, 1, 9, 10, 100, 1000, 5000, 20000][Math.floor(rand() * 8)];
  const bytes = Buffer.alloc(size);
  const seed = Math.floor(rand() * 256);
  for (let i = 0; i < size; i++) bytes[i] = (seed + i * 31) % 256;
  const n = [0, 7, 9, 10, 99, 100, 387, 999, 1000, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1][Math.floor(rand() * 14)] * (rand() < 0.3 ? -1 : 1);
  switch (pick) {
    case 0: return (w) => w.int(n);
    case 1: return (w) => w.bulk(bytes);
    case 2: return (w) => w.bulk('é€ unicode '.repeat(size % 7));
    case 3: return (w) => w.bulkLatin1(bytes.toString('latin1'));
    case 4: return (w) => w.array(Math.abs(n));
    case 5: return (w) => w.map(size);
    case 6: return (w) => w.double(formatScore(n / 7));
    case 7: return (w) => w.status('x'.repeat(size % 100));
    case 8: return (w) => w.error(`ERR a\r\nb ${'y'.repeat(size % 50)}`);
    case 9: return (w) => w.nil();
    default: return (w) => w.verbatim(`info ${'z'.repeat(size % 300)}`);
  }
}

describe('ReplyWriter', () => {
  test.each([2, 3])('RESP%i: the bytes of every encoder, across chunks, taken at random points, never overwritten once taken', (proto) => {
    const rand = seededRandom(proto);
    const w = new ReplyWriter();
    const ref = new Reference();
    w.proto = ref.proto = proto;
    const taken: Buffer[] = [];
    let takes = 0;
    let spanning = 0;
    for (let i = 0; i < 3000; i++) {
      const call = randomCall(rand);
      call(w);
      call(ref);
      if (rand() < 0.05) {
        const parts = w.take();
        expect(w.empty).toBe(true);
        expect(w.bytes).toBe(0);
        // Copies kept aside are compared at the end with the buffers themselves: later writes must not touch them.
        for (const p of parts) taken.push(p, Buffer.from(p));
        takes++;
        if (parts.length > 1) spanning++;
      }
    }
    expect(w.bytes).toBe(Buffer.byteLength(ref.out, 'latin1') - taken.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b.length, 0));
    for (const p of w.take()) taken.push(p, Buffer.from(p));
    for (let i = 0; i < taken.length; i += 2) expect(taken[i].equals(taken[i + 1])).toBe(true);
    const wire = Buffer.concat(taken.filter((_, i) => i % 2 === 0));
    expect(wire.toString('latin1')).toBe(ref.out);
    expect(takes).toBeGreaterThan(50);
    expect(spanning).toBeGreaterThan(20); // turns whose replies filled a chunk and went on in the next
  });

  test('muted, a reply is dropped; a push while muted is written', () => {
    const w = new ReplyWriter();
    w.muted = true;
    w.ok();
    w.int(5);
    w.bulk(Buffer.alloc(20000));
    expect(w.empty).toBe(true);
    w.pushing = true;
    w.push(1);
    w.bulk('m');
    w.pushing = false;
    expect(Buffer.concat(w.take()).toString()).toBe('*1\r\n$1\r\nm\r\n');
  });

  test('a value past the by-reference size is queued as it is, between the bytes around it', () => {
    const w = new ReplyWriter();
    const big = Buffer.alloc(64 * 1024, 0x62);
    w.array(2);
    w.bulk(big);
    w.int(1);
    const parts = w.take();
    expect(parts).toHaveLength(3);
    expect(parts[1]).toBe(big);
    expect(Buffer.concat(parts).toString('latin1')).toBe(`*2\r\n$${big.length}\r\n${big.toString('latin1')}\r\n:1\r\n`);
  });
});

describe('RESP parser: length headers', () => {
  const parse = (wire: string): unknown => {
    const p = new RespParser();
    p.push(Buffer.from(wire, 'latin1'));
    try {
      return p.next()?.map((b) => b.toString());
    } catch (e) {
      return e instanceof ProtocolError ? `ProtocolError: ${e.message}` : e;
    }
  };

  test.each([
    ['*1\r\n$3\r\nfoo\r\n', ['foo']],
    // An LF alone ends no header: Redis 7.0 reads up to the first CR, and then finds an LF in the integer.
    ['*1\n$3\nfoo\r\n', 'ProtocolError: invalid multibulk length'],
    ['*2\r\n$0\r\n\r\n$10\r\n0123456789\r\n', ['', '0123456789']],
    ['*01\r\n$3\r\nfoo\r\n', 'ProtocolError: invalid multibulk length'], // string2ll: no leading zero
    ['*1\r\n$003\r\nfoo\r\n', 'ProtocolError: invalid bulk length'],
    ['*1\r\n$+3\r\nfoo\r\n', 'ProtocolError: invalid bulk length'],
    ['*1\r\n$\r\n', 'ProtocolError: invalid bulk length'],
    ['*1\r\n$-\r\n', 'ProtocolError: invalid bulk length'],
    ['*1\r\n$3 \r\nfoo\r\n', 'ProtocolError: invalid bulk length'],
    ['*1\r\n$12345678901234567890\r\n', 'ProtocolError: invalid bulk length'],
    ['*-\r\n', 'ProtocolError: invalid multibulk length'],
    [`*${'1'.repeat(30)}\r\n`, 'ProtocolError: invalid multibulk length'], // longer than the first look for the line's end
    ['*-1\r\n*1\r\n$1\r\nx\r\n', ['x']],
  ])('%j', (wire, want) => {
    expect(parse(wire)).toEqual(want);
  });
});

// Requests that wait unparsed (a blocked client's, which go on arriving)
// were joined to every chunk that came after them: each 64 KiB read copied
// the whole backlog, and a client that kept sending while blocked stalled
// the server for seconds. Arguments already handed out stay as they were.
describe('RESP parser: requests that wait unparsed', () => {
  test('chunks that arrive while nothing is parsed are copied O(their bytes) in all, not once per chunk', () => {
    const p = new RespParser();
    const get = Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\na\r\n');
    p.push(Buffer.concat([get, get.subarray(0, 5)]));
    const first = p.next();
    expect(first?.map(String)).toEqual(['GET', 'a']);
    const chunk = Buffer.concat(Array.from({ length: 712 }, () => get)); // 16,376 bytes
    const tail = Buffer.concat([get.subarray(5), chunk]);
    const allocated: number[] = [];
    const allocUnsafe = Buffer.allocUnsafe;
    const spy = jest.spyOn(Buffer, 'allocUnsafe').mockImplementation((n: number) => {
      allocated.push(n);
      return allocUnsafe(n);
    });
    try {
      // 400 chunks, none parsed: 6.5 MB waiting. Joined to each chunk, they were 1.3 GB of copies.
      for (let i = 0; i < 400; i++) p.push(i === 0 ? tail : chunk);
    } finally {
      spy.mockRestore();
    }
    const waiting = 5 + tail.length + 399 * chunk.length;
    expect(p.buffered).toBe(waiting);
    expect(allocated.reduce((a, b) => a + b, 0)).toBeLessThan(8 * waiting);
    // The argument handed out before stays whole, and every request parses.
    expect(first?.map(String)).toEqual(['GET', 'a']);
    let n = 0;
    let other = 0;
    for (let r = p.next(); r !== null; r = p.next()) {
      if (r.length !== 2 || r[0].toString() !== 'GET' || r[1].toString() !== 'a') other++;
      n++;
    }
    expect([n, other]).toEqual([1 + 400 * 712, 0]);
  });
});

describe('RESP parser: a pipeline whose reads end inside requests', () => {
  test('the buffer it keeps stays the size of what is unread and one read, however long the pipeline runs', () => {
    const p = new RespParser();
    const get = Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\na\r\n');
    // 2,000 reads, each the rest of a request, 712 whole ones and the first
    // 5 bytes of the next: every read ends inside a request, so bytes are
    // always left unread, and each read is parsed as far as it goes.
    const reads = Array.from({ length: 2000 }, (_, i) => Buffer.concat([
      i === 0 ? get : get.subarray(5), ...Array.from({ length: 712 }, () => get), get.subarray(0, 5),
    ]));
    const allocated: number[] = [];
    const allocUnsafe = Buffer.allocUnsafe;
    const spy = jest.spyOn(Buffer, 'allocUnsafe').mockImplementation((n: number) => {
      allocated.push(n);
      return allocUnsafe(n);
    });
    let n = 0;
    try {
      for (const r of reads) {
        p.push(r);
        while (p.next() !== null) n++;
      }
    } finally {
      spy.mockRestore();
    }
    expect(n).toBe(2000 * 713);
    expect(p.buffered).toBeGreaterThan(0); // the last read, too, ended inside a request
    expect(Math.max(...allocated)).toBeLessThanOrEqual(4 * reads[1].length);
  });
});

describe('pmem serve: pipelines', () => {
  let file: string;
  let server: RespServer;
  let port: number;
  const batches: number[] = [];

  beforeAll(async () => {
    file = tmpFile('serve-pipeline.kv');
    server = createServer({ file, size: 32 * MB, maxSize: 256 * MB });
    port = await server.listen(0);
    const store = server.store as unknown as { writeDistinct: KVStore['writeDistinct'] };
    const real = store.writeDistinct.bind(server.store);
    store.writeDistinct = (writes) => {
      batches.push(writes.size);
      return real(writes);
    };
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

  test('a pipeline whose middle command fails: every reply in order, the writes around it in one batch', async () => {
    const c = await client();
    batches.length = 0;
    c.send(Buffer.concat([
      frame('SET', 'p:a', 'one'), frame('INCR', 'p:a'), frame('NOSUCHCOMMAND'), frame('SET', 'p:b', 'two'),
      frame('LPUSH', 'p:a', 'x'), frame('GET', 'p:a'), frame('GET', 'p:b'),
    ]));
    const got = [];
    for (let i = 0; i < 7; i++) got.push(text(await c.read()));
    expect(got).toEqual([
      'OK', '-ERR value is not an integer or out of range',
      "-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: ", 'OK',
      '-WRONGTYPE Operation against a key holding the wrong kind of value', 'one', 'two',
    ]);
    expect(batches).toEqual([2]);
    c.close();
  });

  test('replies stay in order across a commit inside one turn (a batch past its size limit)', async () => {
    const c = await client();
    batches.length = 0;
    const values = Array.from({ length: 6 }, (_, i) => Buffer.alloc(MB, 0x41 + i));
    const wire: Buffer[] = [];
    for (let i = 0; i < values.length; i++) wire.push(frame('SET', `o:${i}`, values[i]), frame('GET', `o:${i}`), frame('INCR', `o:n${i}`));
    c.send(Buffer.concat(wire));
    for (let i = 0; i < values.length; i++) {
      expect(text(await c.read())).toBe('OK');
      expect((await c.read() as Buffer).equals(values[i])).toBe(true);
      expect(await c.read()).toBe(1);
    }
    // The pipeline crossed the 4 MiB batch limit: committed in more than one batch, every write (SET and INCR) in one of them.
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(2 * values.length);
    c.close();
  });

  test('replies bigger than the socket buffer arrive whole and in order, to a client that reads late', async () => {
    const c = await client();
    const big = Buffer.alloc(8 * MB);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    expect(text(await c.call('SET', 'big', big))).toBe('OK');
    const items = Array.from({ length: 20000 }, (_, i) => `item-${i}-${'v'.repeat(i % 200)}`);
    for (let i = 0; i < items.length; i += 1000) expect(await c.call('RPUSH', 'biglist', ...items.slice(i, i + 1000))).toBe(i + 1000);
    c.socket.pause();
    c.send(Buffer.concat([frame('GET', 'big'), frame('LRANGE', 'biglist', '0', '-1'), frame('PING'), frame('GET', 'big')]));
    // The server's socket holds what the kernel did not take: the replies wait there, unread.
    const sock = [...server.clients.values()].find((x) => x.socket.remotePort === c.socket.localPort);
    while ((sock?.socket.writableLength ?? 0) === 0) await new Promise((r) => setTimeout(r, 5));
    c.socket.resume();
    expect((await c.read() as Buffer).equals(big)).toBe(true);
    expect(text(await c.read())).toEqual(items);
    expect(text(await c.read())).toBe('PONG');
    expect((await c.read() as Buffer).equals(big)).toBe(true);
    c.close();
  });
});

describe('pmem serve: store keys', () => {
  test('keys of any bytes (ASCII, latin1, invalid UTF-8) are the same keys after a restart', async () => {
    const file = tmpFile('serve-keys.kv');
    const keys = [Buffer.from('plain'), Buffer.from([0x80, 0xff, 0x00, 0x41]), Buffer.from('é€'), Buffer.from([0xc3])];
    let server = createServer({ file, size: 32 * MB });
    let c = new RawClient(await server.listen(0));
    await c.ready;
    for (const [i, k] of keys.entries()) expect(text(await c.call('SET', k, `v${i}`))).toBe('OK');
    for (const [i, k] of keys.entries()) expect(text(await c.call('GET', k))).toBe(`v${i}`);
    c.close();
    await server.close();
    server = createServer({ file, size: 32 * MB });
    c = new RawClient(await server.listen(0));
    await c.ready;
    try {
      for (const [i, k] of keys.entries()) expect(text(await c.call('GET', k))).toBe(`v${i}`);
      const all = (await c.call('KEYS', '*')) as Buffer[];
      expect(all.map((k) => k.toString('hex')).sort()).toEqual(keys.map((k) => k.toString('hex')).sort());
    } finally {
      c.close();
      await server.close();
      fs.rmSync(file, { force: true });
    }
  });
});
