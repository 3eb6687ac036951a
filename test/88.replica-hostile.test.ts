// A backup (startReplica) against clients that are not its primary: a
// HELLO it refuses leaves its file byte for byte as it was (the real
// primary is then taken); a frame sent a byte per segment costs the reader
// about its size, not a Buffer per byte; a connection without a HELLO holds
// no more than a HELLO's bytes, and its slot only until helloTimeoutMs or
// until MAX_PENDING newer ones wait; a DATA frame of more records than the
// log can hold is refused before they are made into objects; one whose
// records overlap those the backup holds, with other bytes, is refused as a
// divergence and changes nothing; a primary that reads no acknowledgements
// is not read from until it reads them. And a primary against a replica's REFUSE
// of 100 KB: its error quotes 1 KiB.
// A peer that can reach a backup's port but read neither journal file
// learns nothing of the journal from its refusals (not its id, not its
// epochs), and cannot guess epoch 1's tag to forge a newer epoch.
// A replica that cannot listen leaves no file it created behind (with
// --store, neither the store nor the journal), and every other as it was;
// nor does a primary whose journal a backup holds.
import { spawn, spawnSync } from 'node:child_process';
import * as readline from 'node:readline';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { openServer, ReplicatedStore, ReplicatedWal, readJournal, startReplica, startStoreReplica, type ReplicaHandle } from '../lib';
import { RESEED } from '../lib/replicate/backup-log';
import { ACK_PERSISTED, decodeAck, decodeRefuse, decodeWelcome, encodeAck, encodeData, encodeHello, encodeRefuse, encodeWelcome, FRAME_HELLO, FRAME_REFUSE, FrameReader, MAX_FRAME, MAX_HELLO, MAX_REFUSAL_TEXT, PROTOCOL_VERSION, readData, WANT_RECEIVED } from '../lib/replicate/frames';
import { MAX_PENDING } from '../lib/replicate/replica';
import { seededRandom } from '../lib/testing/random';
import type { EpochEntry } from '../lib/replicate/state';
import { dataFrame, describeFrame, RawPrimary, resealData } from './fixtures/replicate/fake';
import { readControlBlock, startPmem, stopPmem, testFiles } from './replicate-helpers';

const SIZE = 1024 * 1024;
const file = testFiles();

const E1: EpochEntry = { epoch: 1, startLsn: 1, tag: 0 };
const hello = (epoch: number, history: EpochEntry[], journalId = 777): Buffer => encodeHello({ journalId, epoch, committedLsn: 0, history });

/** Sends `frames` on a connection of its own and returns what the backup answered before it closed the connection. */
async function exchange(port: number, frames: Buffer[]): Promise<string[]> {
  const c = new RawPrimary(port);
  for (const f of frames) c.write(f);
  await c.closedByPeer();
  return c.frames.map(describeFrame);
}

describe('a refused HELLO writes nothing', () => {
  const huge = (): Buffer => {
    // Epoch 2^64 - 1 in the HELLO and at the end of its history: both words of each all ones.
    const h = hello(2 ** 40, [E1, { epoch: 9, startLsn: 1, tag: 1 }, { epoch: 2 ** 40, startLsn: 1, tag: 1 }]);
    for (const at of [5 + 16, 5 + 32 + 48]) h.fill(0xff, at, at + 8);
    return h;
  };
  const many = (): Buffer => {
    const history = Array.from({ length: 200 }, (_, i): EpochEntry => ({ epoch: i + 1, startLsn: 1, tag: i === 0 ? 0 : i + 1 }));
    return hello(200, history);
  };
  const cases: Array<[string, () => Buffer, RegExp]> = [
    ['epochs out of order', () => hello(6, [E1, { epoch: 5, startLsn: 10, tag: 0 }, { epoch: 6, startLsn: 5, tag: 0 }]),
      /^a HELLO whose epoch history is out of order at entry 2: epoch 6 from LSN 5 after epoch 5 from LSN 10$/],
    // Refused at its header: a HELLO of more epochs than a journal holds is over the largest first frame.
    ['more epochs than the file holds', many, /^a first frame of 4832 bytes; the most is 4064 \(a connection opens with a HELLO\)$/],
    ['an epoch of 2^64 - 1', huge, /^a HELLO whose epoch is 18446744073709551615; the most a journal stores is 2\^53 - 1$/],
    ['an epoch of 0', () => hello(0, [{ epoch: 0, startLsn: 1, tag: 0 }]), /out of order at entry 0: epoch 0 from LSN 1$/],
  ];

  test.each(cases)('%s: ERR_PMEM_REPLICA_PROTOCOL, the file unchanged, the real primary taken after it', async (_name, frame, message) => {
    const f = file('refused-hello');
    const b = await startReplica({ file: f, port: 0, create: true, size: SIZE });
    try {
      const before = fs.readFileSync(f);
      expect(await exchange(b.port, [frame()])).toEqual(['REFUSE ERR_PMEM_REPLICA_PROTOCOL']);
      expect(fs.readFileSync(f).equals(before)).toBe(true);
      expect(b.stats.lastRefusal!.message).toMatch(message);
      // A primary of a new journal: a file that had taken the refused HELLO's id or epochs would refuse it.
      const p = await ReplicatedWal.open(file('refused-hello-p'), { replicas: [`127.0.0.1:${b.port}`], create: true, size: SIZE, timeoutMs: 5000 });
      try {
        expect(await p.append('x')).toBe(1);
        expect([b.epoch, b.lastDurableLsn]).toEqual([1, 1]);
      } finally {
        await p.close();
      }
    } finally {
      await b.close();
    }
  });
});

describe('a peer that does not hold the journal\'s id and tags', () => {
  const ANOTHER = `the replica belongs to another journal: give this journal a backup of its own; only if that journal's copy is no longer needed, ${RESEED}`;
  const DIFFERS = `the replica has diverged from the primary: its epoch history differs from the primary's; ${RESEED}`;

  /** A backup following a live primary that has committed 'a' and 'b'. */
  async function following(name: string, log?: (line: string) => void): Promise<{ b: ReplicaHandle; fb: string; p: ReplicatedWal; fp: string }> {
    const fb = file(`${name}-b`);
    const b = await startReplica({ file: fb, port: 0, create: true, size: SIZE, log });
    const fp = file(`${name}-p`);
    const p = await ReplicatedWal.open(fp, { replicas: [`127.0.0.1:${b.port}`], create: true, size: SIZE, timeoutMs: 5000 });
    expect(await p.appendBatch(['a', 'b'])).toEqual([1, 2]);
    return { b, fb, p, fp };
  }

  /** What the backup tells a connection that sends `frame`: one REFUSE, then it closes. */
  async function refusal(port: number, frame: Buffer): Promise<{ code: string; message: string }> {
    const c = new RawPrimary(port);
    c.write(frame);
    const [first] = await c.next(1);
    // A HELLO taken is answered with a WELCOME and kept open: not waited on.
    if (first?.type === FRAME_REFUSE) await c.closedByPeer();
    else c.destroy();
    expect(c.frames.map(describeFrame)).toEqual([expect.stringMatching(/^REFUSE /)]);
    return decodeRefuse(c.frames[0].body);
  }

  test('a HELLO of another journal id: the REFUSE names no id, the backup\'s log and stats name both; the primary goes on', async () => {
    const lines: string[] = [];
    const { b, p, fp } = await following('stranger-id', (line) => lines.push(line));
    try {
      const { journalId } = readControlBlock(fp);
      const r = await refusal(b.port, hello(1, [E1], 12345));
      expect(r).toEqual({ code: 'ERR_PMEM_REPLICA_DIVERGED', message: ANOTHER });
      expect(r.message).not.toContain(String(journalId));
      const local = `the replica belongs to another journal (id ${journalId}, this primary's 12345)`;
      expect(b.stats.lastRefusal!.message).toContain(local);
      expect(lines.filter((l) => l.includes(local))).toHaveLength(1);
      expect(await p.append('c')).toBe(3);
    } finally {
      await p.close();
      await b.close();
    }
  });

  test('a new journal\'s epoch 1 tag is drawn at random; a fresh backup takes its primary\'s at the handshake', async () => {
    const fresh = file('tag-fresh');
    const r = await startReplica({ file: fresh, port: 0, create: true, size: SIZE });
    await r.close();
    const tags = [readControlBlock(fresh).history[0].tag];
    for (const name of ['tag-1', 'tag-2']) {
      const { b, fb, p, fp } = await following(name);
      await p.close();
      await b.close();
      const [primary, backup] = [readControlBlock(fp), readControlBlock(fb)];
      expect(primary.history).toHaveLength(1);
      expect(backup).toEqual(primary);
      tags.push(primary.history[0].tag);
    }
    expect(tags.every((t) => t > 0)).toBe(true);
    expect(new Set(tags).size).toBe(tags.length);
  });

  test('a newer epoch forged with the journal id known, on a guess of epoch 1\'s tag, is refused and changes nothing; with the tag it would be taken', async () => {
    const { b, fb, p, fp } = await following('forged-epoch');
    try {
      // Read from the file: a peer on the network could not.
      const { journalId, history } = readControlBlock(fp);
      const forged = (tag: number): Buffer => hello(2, [{ epoch: 1, startLsn: 1, tag }, { epoch: 2, startLsn: 2 ** 40, tag: 1 }], journalId);
      for (const guess of [0, 1, history[0].tag + 1]) {
        const r = await refusal(b.port, forged(guess));
        expect(r).toEqual({ code: 'ERR_PMEM_REPLICA_DIVERGED', message: DIFFERS });
        expect(b.stats.lastRefusal!.message).toMatch(/differs from the primary's at epoch 1 \(from LSN 1\)/);
      }
      expect([b.epoch, b.lastDurableLsn]).toEqual([1, 2]);
      expect(readControlBlock(fb)).toEqual({ journalId, history });
      expect(await p.append('c')).toBe(3);
      expect([...b.read()].map((x) => x.data.toString())).toEqual(['a', 'b', 'c']);

      // The control: the same HELLO with the true tag is a newer epoch of
      // this journal, taken, and the primary is fenced. It is the tag alone
      // that kept the forgeries out.
      const c = new RawPrimary(b.port);
      c.write(forged(history[0].tag));
      expect((await c.next(1)).map(describeFrame)).toEqual(['WELCOME 2 3']);
      c.destroy();
      const fenced = await p.append('d').catch((e: unknown) => e);
      expect((fenced as { code?: string }).code).toBe('ERR_PMEM_REPLICA_FENCED');
    } finally {
      await p.close();
      await b.close();
    }
  });
});

describe('u64 fields past 2^53 - 1', () => {
  // Not a number a journal holds: refused, and named exactly, not as a
  // rounded double. `field` sets one field (at its offset in the frame's
  // body) to all ones; the frame's body is what the decoder reads.
  const field = (frame: Buffer, at: number): Buffer => frame.fill(0xff, 5 + at, 5 + at + 8);
  const body = (frame: Buffer): Buffer => frame.subarray(5);
  const data = (): Buffer => encodeData(1, 0, 0, 1, [Buffer.from('x')]);
  test.each([
    ['WELCOME, last LSN', () => decodeWelcome(body(field(encodeWelcome(1, 5, Buffer.alloc(16)), 8))), /^a WELCOME whose last LSN is 18446744073709551615; the most a journal stores is 2\^53 - 1$/],
    ['WELCOME, epoch', () => decodeWelcome(body(field(encodeWelcome(1, 5, Buffer.alloc(16)), 0))), /^a WELCOME whose epoch is 18446744073709551615;/],
    ['ACK, LSN', () => decodeAck(body(field(encodeAck(ACK_PERSISTED, 1, 1), 16))), /^an ACK whose LSN is 18446744073709551615;/],
    ['ACK, epoch', () => decodeAck(body(field(encodeAck(ACK_PERSISTED, 1, 1), 8))), /^an ACK whose epoch is 18446744073709551615;/],
    ['DATA, first LSN', () => readData(body(resealData(field(data(), 32)))), /^a DATA frame whose first LSN is 18446744073709551615;/],
    ['DATA, commit point', () => readData(body(resealData(field(data(), 24)))), /^a DATA frame whose commit point is 18446744073709551615;/],
    ['DATA, epoch', () => readData(body(resealData(field(data(), 16)))), /^a DATA frame whose epoch is 18446744073709551615;/],
  ])('%s', (_name, decode, message) => {
    expect(decode).toThrow(expect.objectContaining({ code: 'ERR_PMEM_REPLICA_PROTOCOL', message: expect.stringMatching(message) as string }));
  });

  test('a WELCOME or ACK cut short is named as such', () => {
    expect(() => decodeWelcome(Buffer.alloc(3))).toThrow(expect.objectContaining({ code: 'ERR_PMEM_REPLICA_PROTOCOL', message: 'a WELCOME frame of 3 bytes; it needs 32' }));
    expect(() => decodeAck(Buffer.alloc(3))).toThrow(expect.objectContaining({ code: 'ERR_PMEM_REPLICA_PROTOCOL', message: 'an ACK frame of 3 bytes; it needs 24' }));
  });
});

describe('FrameReader', () => {
  test('frames cut at every kind of boundary come out whole and in order', () => {
    const frames = [
      encodeHello({ journalId: 5, epoch: 1, committedLsn: 0, history: [E1] }),
      encodeData(1, 0, 0, 1, [Buffer.from('a'), Buffer.alloc(3000, 7), Buffer.alloc(0)]),
      encodeAck(2, 1, 3),
      encodeRefuse('ERR_PMEM_REPLICA_PROTOCOL', 'why'),
      encodeData(1, 0, 0, 4, []),
    ];
    const stream = Buffer.concat(frames);
    const random = seededRandom(88);
    for (const cut of ['bytes', 'random', 'whole'] as const) {
      const reader = new FrameReader();
      const got: Buffer[] = [];
      for (let at = 0; at < stream.length;) {
        const n = cut === 'bytes' ? 1 : cut === 'whole' ? stream.length : 1 + Math.floor(random() * 700);
        for (const f of reader.push(stream.subarray(at, at + n))) got.push(Buffer.concat([Buffer.from([0, 0, 0, 0, f.type]), f.body]));
        at += n;
      }
      expect(reader.buffered).toBe(0);
      expect(got.map((g, i) => g.subarray(4).equals(frames[i].subarray(4)))).toEqual(frames.map(() => true));
    }
  });

  test('a frame sent one byte per chunk holds about its bytes, not a Buffer per byte', () => {
    const n = 1_000_000;
    const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'replicate', 'reader-memory.js'), String(n)], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { growth, right } = JSON.parse(r.stdout) as { growth: number; right: boolean };
    expect(right).toBe(true);
    // Its buffer grows by doubling: at most twice the bytes received, with room for the heap's own noise.
    expect(growth).toBeLessThan(4 * n);
  });
});

describe('connections that have not completed a HELLO', () => {
  /** Waits until the backup has accepted `n` connections in all. */
  async function accepted(b: ReplicaHandle, n: number): Promise<void> {
    while (b.stats.connections < n) await new Promise((r) => setTimeout(r, 5));
  }

  test('one silent, or part way into its HELLO, is closed after helloTimeoutMs, with no REFUSE; the primary\'s is not', async () => {
    const b = await startReplica({ file: file('hello-timeout'), port: 0, create: true, size: SIZE, helloTimeoutMs: 50 });
    try {
      const p = await ReplicatedWal.open(file('hello-timeout-p'), { replicas: [`127.0.0.1:${b.port}`], create: true, size: SIZE });
      try {
        // (On a loaded machine its first connection may itself take longer
        // than 50 ms to send its HELLO, and be made again: counted from here.)
        expect(await p.append('x')).toBe(1);
        const { connections, dropped } = b.stats;
        const { connects } = p.stats.replicas[0];
        const silent = new RawPrimary(b.port);
        const partial = new RawPrimary(b.port);
        partial.write(hello(1, [E1]).subarray(0, 20));
        await silent.closedByPeer();
        await partial.closedByPeer();
        expect([silent.frames, partial.frames]).toEqual([[], []]);
        expect(b.stats).toMatchObject({ connections: connections + 2, dropped: dropped + 2, refusals: 0 });
        // The primary's connection is older than those two and still the one
        // it had: a HELLO taken stops its clock.
        expect(await p.append('y')).toBe(2);
        expect(p.stats.replicas[0].connects).toBe(connects);
      } finally {
        await p.close();
      }
    } finally {
      await b.close();
    }
  });

  test('helloTimeoutMs is checked as timeoutMs is', async () => {
    for (const [v, name] of [[0, 'RangeError'], [2 ** 31, 'RangeError'], [1.5, 'RangeError'], ['5', 'TypeError']] as const) {
      const e = await startReplica({ file: file('bad-timeout'), port: 0, create: true, size: SIZE, helloTimeoutMs: v as number }).catch((x: Error) => x);
      expect([v, (e as Error).name]).toEqual([v, name]);
    }
  });

  test('pmem replica --hello-timeout: a bad value exits 2; a good one closes a silent connection after it, with or without --store', async () => {
    const pmem = path.join(__dirname, '..', 'bin', 'pmem');
    for (const v of ['0', '-5', '1.5', '2147483648', '1e3', 'soon', '']) {
      const f = file('hello-timeout-cli-bad');
      const r = spawnSync(process.execPath, [pmem, 'replica', '--listen', '0', '--file', f, '--create', `--hello-timeout=${v}`], { encoding: 'utf8' });
      expect([v, r.status, r.stderr]).toEqual([v, 2, `pmem: --hello-timeout takes a whole number from 1 to 2147483647, got '${v}'\n`]);
      expect(fs.existsSync(f)).toBe(false);
    }
    for (const store of [[], ['--store', file('hello-timeout-cli.kv')]]) {
      const { child, port } = await startPmem(['replica', '--listen', '0', '--file', file('hello-timeout-cli'), '--create', '--size', '1M', '--hello-timeout', '300', ...store]);
      try {
        const silent = new RawPrimary(port);
        const t0 = Date.now();
        await silent.closedByPeer();
        const waited = Date.now() - t0;
        expect(silent.frames).toEqual([]);
        // Closed by its timer: not before 300 ms, and before the default
        // 5000 ms (a timer of 5000 ms, started once the replica accepted the
        // connection, after t0, could not close it sooner).
        expect([store.length, waited >= 290, waited < 5000]).toEqual([store.length, true, true]);
      } finally {
        expect(await stopPmem(child)).toBe(0);
      }
    }
  });

  test('a first frame over a HELLO\'s largest is refused at its header', async () => {
    const b = await startReplica({ file: file('first-frame'), port: 0, create: true, size: SIZE, helloTimeoutMs: 60_000 });
    try {
      for (const len of [MAX_FRAME, MAX_HELLO + 1]) {
        const c = new RawPrimary(b.port);
        const head = Buffer.alloc(5);
        head.writeUInt32LE(len, 0);
        head[4] = FRAME_HELLO;
        c.write(head); // and never the body: the refusal cannot wait for it
        await c.closedByPeer();
        expect(c.frames.map((f) => decodeRefuse(f.body))).toEqual([{
          code: 'ERR_PMEM_REPLICA_PROTOCOL', message: `a first frame of ${len} bytes; the most is ${MAX_HELLO} (a connection opens with a HELLO)`,
        }]);
      }
    } finally {
      await b.close();
    }
  });

  test(`past ${MAX_PENDING} of them the oldest is closed; the primary gets in, and the rest are closed by its HELLO`, async () => {
    const b = await startReplica({ file: file('pending'), port: 0, create: true, size: SIZE, helloTimeoutMs: 60_000 });
    try {
      const idle: RawPrimary[] = [];
      for (let i = 0; i < MAX_PENDING; i++) idle.push(new RawPrimary(b.port));
      await accepted(b, MAX_PENDING);
      expect(b.stats.dropped).toBe(0);
      idle.push(new RawPrimary(b.port));
      await idle[0].closedByPeer();
      expect(b.stats).toMatchObject({ connections: MAX_PENDING + 1, dropped: 1 });
      const p = await ReplicatedWal.open(file('pending-p'), { replicas: [`127.0.0.1:${b.port}`], create: true, size: SIZE });
      try {
        expect(await p.append('x')).toBe(1);
        for (const c of idle) await c.closedByPeer();
        // The primary's connection was the newest: it closed the oldest idle one, its HELLO all the others.
        expect(b.stats).toMatchObject({ connections: MAX_PENDING + 2, dropped: 2, refusals: 0 });
        expect(await p.append('y')).toBe(2);
      } finally {
        await p.close();
      }
    } finally {
      await b.close();
    }
  });
});

describe('a connection to a backup\'s free port that comes back to itself', () => {
  // A connect to a port nothing listens on, inside the ephemeral range, may
  // be given that port as its own local one: TCP's simultaneous open then
  // connects the socket to itself, and the primary reads its own HELLO.
  // Made certain here by binding the first connect to the port it calls.
  test('is dropped and made again, not taken as a replica that does not speak the protocol; the backup started later is taken', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const netModule: typeof net = require('node:net');
    const real = netModule.connect;
    let selfConnects = 0;
    const spy = jest.spyOn(netModule, 'connect').mockImplementation(((opts: net.NetConnectOpts) => {
      if (selfConnects > 0 || (opts as net.TcpNetConnectOpts).port !== port) return real(opts);
      selfConnects++;
      const s = real({ ...(opts as net.TcpNetConnectOpts), localAddress: '127.0.0.1', localPort: port });
      s.once('connect', () => { if (s.localPort !== port) selfConnects = -1; });
      return s;
    }) as typeof net.connect);
    let b: ReplicaHandle | null = null;
    const p = await ReplicatedWal.open(file('self-connect-p'), { replicas: [`127.0.0.1:${port}`], create: true, size: SIZE, timeoutMs: 20_000 });
    try {
      let settled: unknown = null;
      const first = p.append('x');
      first.then(() => { settled = 'resolved'; }, (e: Error) => { settled = e; });
      // Until the self-connection has ended, one way or the other.
      while (p.stats.replicas[0].lastError === null && settled === null) await new Promise((r) => setTimeout(r, 5));
      expect(settled).toBe(null);
      expect(selfConnects).toBe(1);
      expect(p.stats.replicas[0].lastError).toMatch(/connected to itself/);
      b = await startReplica({ file: file('self-connect'), port, create: true, size: SIZE });
      expect(await first).toBe(1);
      expect(await p.append('y')).toBe(2);
    } finally {
      spy.mockRestore();
      await p.close();
      await b?.close();
    }
  });
});

describe('a DATA frame of more records than the log can hold', () => {
  test('16 MiB of 4M empty records: ERR_PMEM_NO_SPACE from their length fields, at about the frame\'s size in memory', async () => {
    const f = file('many-records');
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'replicate', 'replica-child.js'), JSON.stringify({ file: f, size: SIZE })], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const ask = async (command: string | null, prefix: string): Promise<number> => {
      if (command !== null) child.stdin!.write(`${command}\n`);
      const line = (await lines.next()).value as string;
      expect(line.startsWith(`${prefix} `)).toBe(true);
      return Number(line.slice(prefix.length + 1));
    };
    try {
      const port = await ask(null, 'port');
      const n = 4 * 1024 * 1024;
      // The frame by hand, zero-filled: every record's length is 0 (no array of 4M records here either).
      const frame = Buffer.alloc(5 + 40 + 4 * n);
      frame.writeUInt32LE(frame.length - 5, 0);
      frame[4] = 4; // DATA
      frame.writeUInt32LE(n, 9); // count
      frame.writeUInt32LE(1, 5 + 16); // epoch 1
      frame.writeUInt32LE(1, 5 + 32); // first LSN 1
      resealData(frame);
      const c = new RawPrimary(port);
      c.write(hello(1, [E1]));
      expect((await c.next(1)).map(describeFrame)).toEqual(['WELCOME 1 0']);
      const before = await ask('rss', 'rss');
      c.write(frame);
      await c.closedByPeer();
      expect(c.frames.slice(1).map((x) => decodeRefuse(x.body))).toEqual([{
        code: 'ERR_PMEM_NO_SPACE', message: expect.stringMatching(new RegExp(`^the replica's log has no room for ${n} records of 0 bytes from LSN 1: `)) as string,
      }]);
      const grew = (await ask('rss', 'rss')) * 1024 - before * 1024;
      // The frame (16 MiB) is read into one buffer grown by doubling, from
      // socket chunks not yet collected; 4M views of it would take 700 MiB more.
      expect(grew).toBeLessThan(6 * frame.length);
      // And the backup goes on: the same primary's records are taken.
      const d = new RawPrimary(port);
      d.write(hello(1, [E1]));
      d.write(dataFrame(1, 1, ['a']));
      expect((await d.next(2)).map(describeFrame)).toEqual(['WELCOME 1 0', 'ACK 2 1']);
      d.destroy();
    } finally {
      child.stdin!.write('exit\n');
      await new Promise((r) => child.once('exit', r));
    }
  });
});

describe('a primary that reads no acknowledgements', () => {
  test('is not read from while they wait unread: the backup\'s queue of them stays under 1 MiB, and it reads on once they are read', async () => {
    const b = await startReplica({ file: file('unread-acks'), port: 0, create: true, size: SIZE });
    // The backup's end of the connection (its local port is the backup's),
    // and the most it held unsent.
    let backupSide: net.Socket | undefined;
    let most = 0;
    // Wrapped by hand: a jest spy would keep every call's arguments.
    const write = net.Socket.prototype.write;
    net.Socket.prototype.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
      const r = write.apply(this, args);
      if (this.localPort === b.port) {
        backupSide = this;
        most = Math.max(most, this.writableLength);
      }
      return r;
    } as typeof write;
    const unwrap = (): void => { net.Socket.prototype.write = write; };
    const c = net.connect(b.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => c.once('connect', resolve).once('error', reject));
      c.pause(); // reads nothing
      c.write(hello(1, [E1]));
      // 32 MiB of empty DATA frames of 45 bytes, each acknowledged with 29:
      // 20 MiB of ACKs, past what a machine's socket buffers hold.
      const empty = encodeData(1, 0, 0, 1, []);
      const total = Math.floor((32 * 1024 * 1024) / empty.length);
      c.write(Buffer.concat(Array.from({ length: total }, () => empty)));
      // Turns of the event loop until the backup stopped reading, or took every frame.
      const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
      while (backupSide?.isPaused() !== true && b.stats.frames < total) await turn();
      expect(backupSide?.isPaused()).toBe(true);
      expect(b.stats.pauses).toBeGreaterThan(0);
      expect(b.stats.frames).toBeLessThan(total);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThan(1024 * 1024);
      // The primary reads its acknowledgements: the backup takes the rest.
      unwrap();
      c.resume();
      while (b.stats.frames < total) await turn();
      expect(b.stats.frames).toBe(total);
    } finally {
      unwrap();
      c.destroy();
      await b.close();
    }
  });
});

describe('a refused connection whose REFUSE cannot leave', () => {
  // A peer that reads nothing, with the backup's socket buffers full: the
  // REFUSE stays queued, the connection's end never finishes, and the
  // refused socket is no longer the server's to close. Here the backup's
  // end() of it is held, as such a peer would hold it.
  let c: net.Socket | undefined;
  // Should close() wait on it after all, the test fails on its timeout, and its peer goes here.
  afterAll(() => c?.destroy());

  test('does not hold close(): the backup ends it too', async () => {
    const b = await startReplica({ file: file('refused-held'), port: 0, create: true, size: SIZE });
    const end = net.Socket.prototype.end;
    let held = 0;
    net.Socket.prototype.end = function (this: net.Socket, ...args: Parameters<net.Socket['end']>) {
      if (this.localPort !== b.port) return end.apply(this, args);
      held++;
      return this;
    } as typeof end;
    const peer = net.connect(b.port, '127.0.0.1');
    c = peer;
    const closed = new Promise<void>((resolve) => peer.once('close', () => resolve()));
    peer.on('error', () => {});
    peer.resume(); // its end is seen once the backup's is
    try {
      await new Promise<void>((resolve, reject) => peer.once('connect', resolve).once('error', reject));
      // After its HELLO (whose timer would end it otherwise), a gap: refused.
      peer.write(Buffer.concat([hello(1, [E1]), dataFrame(1, 5, ['a'])]));
      const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
      while (b.stats.refusals === 0) await turn();
    } finally {
      net.Socket.prototype.end = end;
    }
    expect(b.stats.lastRefusal?.code).toBe('ERR_PMEM_REPLICA_PROTOCOL');
    expect(held).toBeGreaterThan(0);
    await b.close();
    await closed;
    expect(peer.destroyed).toBe(true);
  });
});

describe('a DATA frame that overlaps the records a backup holds', () => {
  /** Sends a HELLO and `frame` on a connection of its own; returns the backup's first two answers. */
  async function answers(port: number, frame: Buffer): Promise<string[]> {
    const c = new RawPrimary(port);
    c.write(hello(1, [E1]));
    c.write(frame);
    const got = (await c.next(2)).slice(0, 2).map(describeFrame);
    c.destroy();
    return got;
  }

  test('with other bytes under an LSN it holds: ERR_PMEM_REPLICA_DIVERGED, nothing acknowledged, the file unchanged', async () => {
    const f = file('overlap');
    const b = await startReplica({ file: f, port: 0, create: true, size: SIZE });
    try {
      expect(await answers(b.port, dataFrame(1, 1, ['a', 'b', 'c']))).toEqual(['WELCOME 1 0', 'ACK 2 3']);
      const before = fs.readFileSync(f);
      const cases: Array<[Buffer, RegExp]> = [
        // The same length at LSN 2, and new records after it that must not be taken either.
        [dataFrame(1, 2, ['B', 'c', 'd']), /at LSN 2 \(1 bytes\) than the primary sent \(1 bytes\)/],
        // Only the last record it holds differs (in length), and the frame asks for a 'received' ack first.
        [encodeData(1, 0, WANT_RECEIVED, 1, ['a', 'b', 'cc'].map((r) => Buffer.from(r))), /at LSN 3 \(1 bytes\) than the primary sent \(2 bytes\)/],
        // Every record of the frame held, one differing.
        [dataFrame(1, 1, ['', 'b']), /at LSN 1 \(1 bytes\) than the primary sent \(0 bytes\)/],
      ];
      for (const [frame, message] of cases) {
        expect(await answers(b.port, frame)).toEqual(['WELCOME 1 3', 'REFUSE ERR_PMEM_REPLICA_DIVERGED']);
        expect(b.stats.lastRefusal!.message).toMatch(message);
        expect(fs.readFileSync(f).equals(before)).toBe(true);
        expect(b.lastDurableLsn).toBe(3);
      }
      // The same records with the same bytes are skipped, and the new one after them taken.
      expect(await answers(b.port, dataFrame(1, 2, ['b', 'c', 'd']))).toEqual(['WELCOME 1 3', 'ACK 2 4']);
      expect([...b.read()].map((r) => r.data.toString())).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      await b.close();
    }
  });
});

describe('a replica\'s REFUSE', () => {
  /** A server that answers every connection's first bytes with one REFUSE of `message`. */
  async function refuser(message: string): Promise<net.Server> {
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.end(encodeRefuse('ERR_PMEM_REPLICA_PROTOCOL', message)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return server;
  }

  test.each([['ASCII', 'x'], ['three-byte characters', '\u20ac']])('of 100 KB (%s): the primary\'s error quotes its first KiB and says it was cut', async (_name, unit) => {
    const text = unit.repeat(Math.ceil(100_000 / Buffer.byteLength(unit)));
    const server = await refuser(text);
    const port = (server.address() as net.AddressInfo).port;
    try {
      const p = await ReplicatedWal.open(file('refused-long'), { replicas: [`127.0.0.1:${port}`], create: true, size: SIZE });
      const e = (await p.append('x').catch((x: unknown) => x)) as Error & { code: string };
      await p.close();
      expect(e.code).toBe('ERR_PMEM_REPLICA_PROTOCOL');
      const quoted = new RegExp(`refused the handshake of this primary \\(protocol version ${PROTOCOL_VERSION}\\): ([^]*?)\\.\\.\\. \\(cut: (\\d+) more bytes\\)`).exec(e.message);
      expect(quoted).not.toBeNull();
      const kept = Buffer.byteLength(quoted![1]);
      expect(kept).toBeLessThanOrEqual(MAX_REFUSAL_TEXT);
      expect(kept).toBeGreaterThan(MAX_REFUSAL_TEXT - 4);
      expect(quoted![1]).toBe(unit.repeat(quoted![1].length / unit.length)); // whole characters only
      expect(kept + Number(quoted![2])).toBe(Buffer.byteLength(text));
      expect(e.message.length).toBeLessThan(MAX_REFUSAL_TEXT + 400);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('a replica that cannot listen', () => {
  test('startReplica removes a file it created, empties one it formatted, and keeps a journal it opened', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const failure = async (f: string): Promise<string> => {
        const e = (await startReplica({ file: f, port, create: true, size: SIZE }).catch((x: unknown) => x)) as Error & { code: string };
        expect(e.message).toMatch(/EADDRINUSE/);
        return e.code;
      };
      const missing = file('listen-missing');
      expect(await failure(missing)).toBe('ERR_PMEM_IO');
      expect(fs.existsSync(missing)).toBe(false);
      const empty = file('listen-empty');
      fs.writeFileSync(empty, '');
      expect(await failure(empty)).toBe('ERR_PMEM_IO');
      expect(fs.statSync(empty).size).toBe(0);
      const journal = file('listen-journal');
      await (await startReplica({ file: journal, port: 0, create: true, size: SIZE })).close();
      const before = readJournal(journal);
      expect(await failure(journal)).toBe('ERR_PMEM_IO');
      expect(readJournal(journal)).toEqual(before);
      // A primary's journal, given by mistake: a replica that listened would
      // make it a backup's; one that cannot leaves it byte for byte.
      const primary = file('listen-primary');
      await (await ReplicatedWal.open(primary, { replicas: ['127.0.0.1:1'], create: true, size: SIZE })).close();
      const bytes = fs.readFileSync(primary);
      expect(await failure(primary)).toBe('ERR_PMEM_IO');
      expect(fs.readFileSync(primary).equals(bytes)).toBe(true);
      expect(readJournal(primary).role).toBe('primary');
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  /** Runs `pmem replica --listen PORT ... --create --size 1M` on a port another server holds; expects exit 3 naming EADDRINUSE. */
  async function cliOnTakenPort(args: string[]): Promise<void> {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'pmem'), 'replica', '--listen', String(port), ...args, '--create', '--size', '1M'], { encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([3, expect.stringMatching(/^pmem: .*EADDRINUSE/) as string]);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  }

  test('pmem replica --create exits 3 naming the error, and leaves no file', async () => {
    const f = file('listen-cli');
    await cliOnTakenPort(['--file', f]);
    expect(fs.existsSync(f)).toBe(false);
  });

  test('pmem replica --store --create removes the store and journal it made, and leaves those that were there', async () => {
    const [journal, store] = [file('listen-cli-journal'), file('listen-cli-store')];
    await cliOnTakenPort(['--file', journal, '--store', store]);
    expect([fs.existsSync(journal), fs.existsSync(store)]).toEqual([false, false]);
    // An empty store file is formatted, then emptied again; the journal it made goes.
    fs.writeFileSync(store, '');
    await cliOnTakenPort(['--file', journal, '--store', store]);
    expect([fs.existsSync(journal), fs.statSync(store).size]).toEqual([false, 0]);
    // A store and a journal that were there stay: the store byte for byte,
    // the journal with what it holds (opening a Wal raises its epoch).
    fs.rmSync(store);
    await (await startStoreReplica({ store, journal, port: 0, create: true, journalSize: SIZE })).close();
    const before = { journal: readJournal(journal), store: fs.readFileSync(store) };
    await cliOnTakenPort(['--file', journal, '--store', store]);
    expect(readJournal(journal)).toEqual(before.journal);
    expect(fs.readFileSync(store).equals(before.store)).toBe(true);
  });
});

describe('a primary whose journal a backup holds', () => {
  test('is ERR_PMEM_LOCKED and leaves no store it made: ReplicatedStore.open, openServer, pmem serve --replica; the journal as it was', async () => {
    const journal = file('held-journal');
    const { child, port } = await startPmem(['replica', '--listen', '0', '--file', journal, '--create', '--size', '1M']);
    try {
      const before = fs.readFileSync(journal);
      const replicas = [`127.0.0.1:${port}`];
      const [a, b, c] = [file('held-a.kv'), file('held-b.kv'), file('held-c.kv')];
      // An empty file is formatted by the open, and emptied again.
      fs.writeFileSync(b, '');
      const locked = { code: 'ERR_PMEM_LOCKED', path: journal };
      await expect(ReplicatedStore.open(a, { replicas, journal, create: true })).rejects.toMatchObject(locked);
      await expect(openServer({ file: b, replicas, journal })).rejects.toMatchObject(locked);
      const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'pmem'), 'serve', '--port', '0', '--file', c, '--replica', replicas[0], '--journal', journal],
        { encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([3, `pmem: ERR_PMEM_LOCKED: '${journal}' is open in another process or handle\n`]);
      expect([fs.existsSync(a), fs.statSync(b).size, fs.existsSync(c)]).toEqual([false, 0, false]);
      expect(fs.readFileSync(journal).equals(before)).toBe(true);
      // A store that was there stays as it was.
      await (await ReplicatedStore.open(a, { replicas: ['127.0.0.1:1'], journal: file('held-a.journal'), create: true })).close();
      const store = fs.readFileSync(a);
      await expect(ReplicatedStore.open(a, { replicas, journal, create: true })).rejects.toMatchObject(locked);
      expect(fs.readFileSync(a).equals(store)).toBe(true);
    } finally {
      expect(await stopPmem(child)).toBe(0);
    }
  });
});

describe('one file for a store and its journal', () => {
  test('is ERR_PMEM_INVALID before anything is opened or made, by any name: ReplicatedStore.open, openServer, startStoreReplica', async () => {
    const replicas = ['127.0.0.1:1']; // never reached: the refusal comes first
    const one = file('one.kv');
    const link = file('one-link.kv');
    const hard = file('one-hard.kv');
    const dangling = file('dangling.kv');
    fs.symlinkSync(one, dangling); // a link to a file not made yet
    const invalid = { code: 'ERR_PMEM_INVALID', message: expect.stringContaining('are one file') };
    const opens = (store: string, journal: string): Array<Promise<unknown>> => [
      ReplicatedStore.open(store, { replicas, journal, create: true }),
      openServer({ file: store, replicas, journal }),
      startStoreReplica({ store, journal, port: 0, create: true, journalSize: SIZE }),
    ];
    // Missing: the same name, and a link to it.
    for (const [store, journal] of [[one, one], [one, dangling], [dangling, one], [one, path.join(path.dirname(one), '.', path.basename(one))]]) {
      for (const p of opens(store, journal)) await expect(p).rejects.toMatchObject(invalid);
      expect(fs.existsSync(one)).toBe(false);
    }
    // There: a store, then a symbolic and a hard link to it.
    await (await ReplicatedStore.open(one, { replicas, journal: file('one.journal'), create: true })).close();
    fs.symlinkSync(one, link);
    fs.linkSync(one, hard);
    const before = fs.readFileSync(one);
    for (const [store, journal] of [[one, link], [link, one], [hard, one], [one, dangling]]) {
      for (const p of opens(store, journal)) await expect(p).rejects.toMatchObject(invalid);
    }
    expect(fs.readFileSync(one).equals(before)).toBe(true);
  });
});
