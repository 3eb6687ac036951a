// `pmem replica` and startReplica at their edges: options of no characters
// (a usage error, not a defect's stack trace), and what the backup says
// about each connection it refuses or drops.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { KVStore, ReplicatedWal, readJournal, startReplica, startStoreReplica } from '../lib';
import { parseReplica } from '../lib/cli/replica';
import { EXIT } from '../lib/cli/exit';
import { encodeHello, MAX_DATA_RECORD } from '../lib/replicate/frames';
import { MAX_PENDING } from '../lib/replicate/replica';
import { expectBuilt, fails, pmem } from './cli-helpers';
import { dataFrame, describeFrame, RawPrimary } from './fixtures/replicate/fake';
import { startPmem, stopPmem, testFiles } from './replicate-helpers';

const SIZE = 1024 * 1024;
const hello = (journalId: number): Buffer => encodeHello({ journalId, epoch: 1, committedLsn: 0, history: [{ epoch: 1, startLsn: 1, tag: 0 }] });

/** Only to keep a line that never comes from stopping the suite: each waits for an event, not for this. */
const BOUND = 20_000;
jest.setTimeout(3 * BOUND);

/** Resolves with `p`, or rejects after BOUND ms saying what did not come. */
function bounded<T>(p: Promise<T>, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no ${what()} in ${BOUND} ms`)), BOUND); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A `log` option that keeps its lines, and a wait for the `n`th. */
function logLines(): { log: (line: string) => void; lines: string[]; until(n: number): Promise<string[]> } {
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  return {
    lines,
    log: (line) => {
      lines.push(line);
      wake?.();
    },
    until(n) {
      const wait = async (): Promise<string[]> => {
        while (lines.length < n) await new Promise<void>((r) => { wake = r; });
        return lines;
      };
      return bounded(wait(), () => `log line ${n} (got ${JSON.stringify(lines)})`);
    },
  };
}

const file = testFiles();

beforeAll(() => expectBuilt(['cli/replica', 'replicate/replica', 'replicated/follower']));

const PEER = '127\\.0\\.0\\.1:\\d+';

describe('what a backup logs: one line per connection it refuses, drops or takes', () => {
  test('garbage, a silent connection, one too many, a primary, a frame cut by its close: a line each, naming the peer', async () => {
    const out = logLines();
    const b = await startReplica({ file: file('log'), port: 0, create: true, size: SIZE, helloTimeoutMs: 60_000, log: out.log });
    try {
      const garbage = new RawPrimary(b.port);
      garbage.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      await garbage.closedByPeer();
      expect(await out.until(1)).toEqual([expect.stringMatching(new RegExp(
        `^connection from ${PEER} refused: ERR_PMEM_REPLICA_PROTOCOL: a first frame of \\d+ bytes; the most is 4064 \\(a connection opens with a HELLO\\)$`)) as string]);
      // MAX_PENDING silent ones, then one more: the oldest goes.
      const idle: RawPrimary[] = [];
      for (let i = 0; i <= MAX_PENDING; i++) idle.push(new RawPrimary(b.port));
      await idle[0].closedByPeer();
      expect((await out.until(2))[1]).toMatch(new RegExp(`^connection from ${PEER} closed: the oldest of ${MAX_PENDING} connections without a HELLO$`));
      // One more closes the next oldest; its HELLO, once taken, closes the others and says how many.
      while (b.stats.connections < MAX_PENDING + 2) await new Promise((r) => setTimeout(r, 5));
      const first = new RawPrimary(b.port);
      first.write(hello(777));
      expect((await first.next(1)).map(describeFrame)).toEqual(['WELCOME 1 0']);
      expect((await out.until(4)).slice(2)).toEqual([
        expect.stringMatching(new RegExp(`^connection from ${PEER} closed: the oldest of ${MAX_PENDING} connections without a HELLO$`)) as string,
        expect.stringMatching(new RegExp(`^primary from ${PEER}: journal 777, epoch 1; this backup holds up to LSN 0; ${MAX_PENDING - 1} other connections closed$`)) as string,
      ]);
      // Half a DATA frame, then the connection closed: nothing of it written.
      const frame = dataFrame(1, 1, ['half']);
      first.write(frame.subarray(0, 20));
      first.end();
      expect((await out.until(5))[4]).toMatch(new RegExp(`^primary from ${PEER} closed the connection inside a frame \\(\\d+ bytes of it received; nothing of it was written\\)$`));
      expect(b.lastDurableLsn).toBe(0);
      expect(out.lines).toHaveLength(5);
      expect(b.stats).toMatchObject({ refusals: 1, dropped: 2 });
    } finally {
      await b.close();
    }
  });

  test('a connection without a HELLO in helloTimeoutMs, and a real primary of another journal after one is taken', async () => {
    const out = logLines();
    const b = await startReplica({ file: file('log-timeout'), port: 0, create: true, size: SIZE, helloTimeoutMs: 50, log: out.log });
    try {
      const silent = new RawPrimary(b.port);
      await silent.closedByPeer();
      expect(await out.until(1)).toEqual([expect.stringMatching(new RegExp(`^connection from ${PEER} closed: no HELLO within 50 ms$`)) as string]);
      const p = await ReplicatedWal.open(file('log-timeout-p'), { replicas: [`127.0.0.1:${b.port}`], create: true, size: SIZE });
      try {
        expect(await p.append('x')).toBe(1);
      } finally {
        await p.close();
      }
      // A loaded machine may drop the primary's first connection too: its own line.
      const taken = out.lines.findIndex((l) => l.startsWith('primary from '));
      expect(out.lines[taken]).toMatch(new RegExp(`^primary from ${PEER}: journal \\d+, epoch 1; this backup holds up to LSN 0$`));
      const other = await ReplicatedWal.open(file('log-timeout-q'), { replicas: [`127.0.0.1:${b.port}`], create: true, size: SIZE });
      const e = (await other.append('y').catch((x: unknown) => x)) as { code: string };
      await other.close();
      expect(e.code).toBe('ERR_PMEM_REPLICA_DIVERGED');
      expect(out.lines.filter((l) => / refused: /.test(l))).toEqual([
        expect.stringMatching(new RegExp(`^connection from ${PEER} refused: ERR_PMEM_REPLICA_DIVERGED: the replica belongs to another journal \\(id \\d+, this primary's \\d+\\): give this journal a backup of its own; `)) as string,
      ]);
    } finally {
      await b.close();
    }
  });

  test('a log that throws loses its lines, and the backup goes on: it refuses, drops and serves its primary', async () => {
    let calls = 0;
    const log = (): void => {
      calls++;
      throw new Error('log full');
    };
    const b = await startReplica({ file: file('log-throws'), port: 0, create: true, size: SIZE, helloTimeoutMs: 50, log });
    try {
      const garbage = new RawPrimary(b.port);
      garbage.write(Buffer.from('garbage!'));
      await garbage.closedByPeer();
      const silent = new RawPrimary(b.port);
      await silent.closedByPeer();
      expect(b.stats).toMatchObject({ refusals: 1, dropped: 1 });
      const p = await ReplicatedWal.open(file('log-throws-p'), { replicas: [`127.0.0.1:${b.port}`], create: true, size: SIZE });
      try {
        expect(await p.append('x')).toBe(1);
      } finally {
        await p.close();
      }
      expect(calls).toBeGreaterThanOrEqual(3);
    } finally {
      await b.close();
    }
  });

  test('log must be a function', async () => {
    for (const log of ['yes', 1, {}]) {
      await expect(startReplica({ file: file('log-bad'), port: 0, create: true, size: SIZE, log: log as never })).rejects.toThrow(new TypeError('log must be a function'));
      await expect(startStoreReplica({ store: file('log-bad.kv'), port: 0, create: true, log: log as never })).rejects.toThrow(new TypeError('log must be a function'));
    }
    expect([fs.existsSync(file('log-bad')), fs.existsSync(file('log-bad.kv'))]).toEqual([false, false]);
  });

  test.each([[[]], [['--store']]])('pmem replica %j prints each refusal on one line', async (store) => {
    const args = ['replica', '--listen', '0', '--file', file('log-cli'), '--create', '--size', '1M'];
    if (store.length > 0) args.push('--store', file('log-cli.kv'));
    const { child, port } = await startPmem(args);
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    try {
      const c = new RawPrimary(port);
      c.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]));
      await c.closedByPeer();
      await bounded((async () => { while (!out.includes('\n')) await new Promise((r) => child.stdout!.once('data', r)); })(), () => `line on stdout (got ${JSON.stringify(out)})`);
    } finally {
      expect(await stopPmem(child)).toBe(0);
    }
    expect(out.split('\n')[0]).toMatch(new RegExp(
      `^pmem replica: connection from ${PEER} refused: ERR_PMEM_REPLICA_PROTOCOL: a first frame of 4294967295 bytes; the most is 4064 \\(a connection opens with a HELLO\\)$`));
  });
});

describe('pmem replica --bind an IPv6 address', () => {
  test('prints its address with the host in brackets, as a primary names it, and a primary there is served', async () => {
    // Whether this machine has an IPv6 loopback: without one there is nothing to print.
    const probe = net.createServer();
    const v6 = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => probe.close(() => resolve(true)));
    });
    if (!v6) {
      console.log('88.replica-edges: SKIPPED the IPv6 address (no ::1 here)');
      return;
    }
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'pmem'), 'replica', '--listen', '0', '--bind', '::1', '--file', file('v6'), '--create', '--size', '1M'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      await bounded((async () => { while (!out.includes('ready')) out += String(await new Promise((r) => child.stdout!.once('data', r))); })(), () => `ready line (got ${JSON.stringify(out)})`);
      const m = /^address: +(.*)$/m.exec(out);
      expect(m?.[1]).toMatch(/^\[::1\]:\d+$/);
      const p = await ReplicatedWal.open(file('v6-p'), { replicas: [m![1]], create: true, size: SIZE });
      try {
        expect(await p.append('x')).toBe(1);
      } finally {
        await p.close();
      }
    } finally {
      expect(await stopPmem(child)).toBe(0);
    }
  });
});

describe('pmem replica stopped while it makes its journal', () => {
  // strace(1) delivers the signal as the replica sizes its temporary file
  // (its first fallocate), whatever the machine's speed: the signal lands
  // while the journal is made, and the trace shows where it landed.
  test.each([['SIGTERM'], ['SIGINT']] as const)('by %s: it finishes the file, closes it and exits 0, leaving no temporary file', async (signal) => {
    const dir = path.dirname(file('stop-early'));
    const f = file(`stop-early-${signal}`);
    const trace = file(`stop-early-${signal}.strace`);
    const temporaries = (): string[] => fs.readdirSync(dir).filter((n) => n.startsWith(`.${path.basename(f)}.`) && n.endsWith('.creating'));
    // In a process group of its own, so that strace and the replica under it go together if the test fails.
    const child = spawn('strace', ['-f', '-qq', '-y', '-o', trace, '-e', 'trace=fallocate', '-e', `inject=fallocate:signal=${signal}:when=1`,
      process.execPath, path.join(__dirname, '..', 'bin', 'pmem'), 'replica', '--listen', '0', '--file', f, '--create', '--size', '64M'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    let left: string[] = [];
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { err += d; });
    const exited = new Promise<[number | null, string | null, Error | null]>((r) => {
      child.once('error', (e) => r([null, null, e]));
      child.once('exit', (code, sig) => r([code, sig, null]));
    });
    try {
      const [code, sig, e] = await bounded(exited, () => 'exit');
      if (e !== null) throw new Error(`strace could not run (scripts/setup.sh installs it): ${e.message}`);
      expect([code, sig, err]).toEqual([0, null, '']);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone: every process of it exited
      }
      // What a killed start leaves goes, once it is counted.
      left = temporaries();
      for (const t of left) fs.rmSync(path.join(dir, t));
    }
    // The signal came at the first fallocate, of the temporary file: before the journal had its name.
    // (strace pads a short pid with spaces.)
    const lines = fs.readFileSync(trace, 'utf8').split('\n');
    fs.rmSync(trace);
    expect(lines[0]).toMatch(new RegExp(`^\\d+\\s+fallocate\\(\\d+</.*/\\.${path.basename(f)}\\.[0-9a-f]+\\.creating>, `));
    expect(lines[1]).toMatch(new RegExp(`^\\d+\\s+--- ${signal} `));
    expect(left).toEqual([]);
    // It was ready only after the signal, and then closed for it.
    expect(out.split('\n').slice(-3)).toEqual(['ready to accept a primary', `pmem replica: ${signal}, closing`, '']);
    expect(readJournal(f)).toMatchObject({ role: 'backup', epoch: 1, nextLsn: 1 });
    fs.rmSync(f);
  });
});

describe('pmem replica: an option of no characters', () => {
  test.each([['--file'], ['--store'], ['--bind']])('%s \'\' exits 2 naming it, and makes nothing', (name) => {
    const f = file('empty-option');
    const args = ['replica', '--listen', '0', '--file', f, '--create', '--size', '1M', name, ''];
    fails(pmem(args), EXIT.USAGE, `pmem: ${name} is an empty string`);
    expect(fs.existsSync(f)).toBe(false);
  });

  test('promote --file \'\' exits 2 naming it', () => {
    fails(pmem(['replica', 'promote', '--file', '']), EXIT.USAGE, 'pmem: --file is an empty string');
  });
});

describe('pmem replica --max-size: its refusals make nothing and change nothing', () => {
  const STORE_BYTES = 16 << 20;
  // A refusal missed would start a backup that runs until it is stopped:
  // killed after BOUND, it fails as an exit code other than the one expected.
  const UNTIL = { timeout: BOUND };

  /** A store of STORE_BYTES with one record, and its bytes. */
  function storeOf(name: string): { store: string; before: Buffer } {
    const store = file(name);
    const kv = KVStore.open(store, { create: true, size: STORE_BYTES });
    kv.put('a', 'b');
    kv.close();
    return { store, before: fs.readFileSync(store) };
  }

  test("below the size of the store it names: exits 2 saying so, with the store as it was and no journal made; at the store's size it is taken", () => {
    const { store, before } = storeOf('max-size-below.kv');
    expect(fs.statSync(store).size).toBe(STORE_BYTES);
    const j = file('max-size-below.journal');
    const args = ['replica', '--listen', '0', '--file', j, '--create', '--size', '1M', '--store', store, '--max-size'];
    fails(pmem([...args, String(STORE_BYTES - 1)], UNTIL), EXIT.USAGE,
      `pmem: --max-size ${STORE_BYTES - 1} is below the store's size, ${STORE_BYTES} bytes: a store never shrinks (it grows up to --max-size)`);
    fails(pmem([...args, '1M'], UNTIL), EXIT.USAGE, `--max-size ${1 << 20} is below the store's size, ${STORE_BYTES} bytes`);
    expect(fs.existsSync(j)).toBe(false);
    expect(fs.readFileSync(store).equals(before)).toBe(true);
    const bytes = (v: string): number => Number(v);
    expect(parseReplica(['--listen', '0', '--file', j, '--store', store, '--max-size', String(STORE_BYTES)], bytes)).toMatchObject({ maxSize: STORE_BYTES });
  });

  test.each([
    ['abc', "pmem: --max-size takes a size like 67108864, 64M or 1G, got 'abc'"],
    ['0', "pmem: --max-size must be more than 0, got '0'"],
    ['5G', "pmem: --max-size must be at most 4G, got '5G'"],
  ])('--max-size %s exits 2 saying why, and makes nothing', (v, why) => {
    const store = file('max-size-bad.kv');
    const j = file('max-size-bad.journal');
    fails(pmem(['replica', '--listen', '0', '--file', j, '--create', '--size', '1M', '--store', store, '--max-size', v], UNTIL), EXIT.USAGE, why);
    expect([fs.existsSync(store), fs.existsSync(j)]).toEqual([false, false]);
  });

  test('below what a new store needs (--create): exits 2, and makes neither the store nor the journal', () => {
    const store = file('max-size-new.kv');
    const j = file('max-size-new.journal');
    fails(pmem(['replica', '--listen', '0', '--file', j, '--create', '--size', '1M', '--store', store, '--max-size', '1M'], UNTIL), EXIT.USAGE, 'needs a size of at least');
    expect([fs.existsSync(store), fs.existsSync(j)]).toEqual([false, false]);
  });

  test('a --store that is not a store (a text file): refused as not one (exit 3), unchanged, no journal made', () => {
    const text = file('max-size-text');
    fs.writeFileSync(text, 'hello\n');
    const j = file('max-size-text.journal');
    fails(pmem(['replica', '--listen', '0', '--file', j, '--create', '--size', '1M', '--store', text, '--max-size', '64M'], UNTIL), EXIT.CANNOT_USE, 'ERR_PMEM_NOT_A_STORE');
    expect(fs.readFileSync(text, 'utf8')).toBe('hello\n');
    expect(fs.existsSync(j)).toBe(false);
  });
});

// A replica takes frames of at most MAX_FRAME (64 MiB). The journal's own
// largest record (half of it) may be larger: a record the primary took
// past the frame would be in its log and never on a backup, and would stop
// every later append too. Rounds and catch-up of more than a frame's worth
// are sent in several frames.
describe('records at the frame limit', () => {
  const BIG = 160 * 1024 * 1024;

  test('append refuses a record over one frame, nothing written; records up to it commit, in one round or many, and in catch-up', async () => {
    const out = logLines();
    const journal = file('frame-b');
    let b = await startReplica({ file: journal, port: 0, create: true, size: BIG, log: out.log });
    const port = b.port;
    const p = await ReplicatedWal.open(file('frame-p'), { replicas: [`127.0.0.1:${port}`], create: true, size: BIG });
    try {
      expect(p.maxRecordSize).toBe(MAX_DATA_RECORD);
      expect(MAX_DATA_RECORD).toBeLessThan(BIG / 2 - 64); // the log alone would take more
      await p.append('first');
      await expect(p.append(Buffer.alloc(MAX_DATA_RECORD + 1))).rejects.toThrow(RangeError);
      await expect(p.appendBatch(['x', Buffer.alloc(MAX_DATA_RECORD + 1)])).rejects.toThrow(RangeError);
      expect(p.nextLsn).toBe(2);
      const whole = Buffer.alloc(MAX_DATA_RECORD, 7);
      expect(await p.append(whole)).toBe(2);
      // A round of a small record and a whole frame's: two frames.
      expect(await p.appendBatch([Buffer.alloc(1024, 1), whole])).toEqual([3, 4]);
      expect(b.lastDurableLsn).toBe(4);
      // Catch-up: the backup away, two records acknowledged locally, then back.
      await b.close();
      expect(await p.appendBatch([Buffer.alloc(1024, 2), whole], { ack: 'local' })).toEqual([5, 6]);
      b = await startReplica({ file: journal, port, log: out.log });
      expect(await bounded(p.append('after'), () => 'commit after the catch-up')).toBe(7);
      expect(b.lastDurableLsn).toBe(7);
      expect(p.stats.replicas[0]).toMatchObject({ connected: true, persistedLsn: 7 });
      expect(b.stats.refusals).toBe(0);
      // What the backup's log still holds (two such records fill most of it): the last ones, as sent.
      const got = [...b.read()].map((r) => [r.lsn, r.data.length, r.data[0], r.data[r.data.length - 1]]);
      const sent = [[1, 5, 102, 116], [2, MAX_DATA_RECORD, 7, 7], [3, 1024, 1, 1], [4, MAX_DATA_RECORD, 7, 7], [5, 1024, 2, 2], [6, MAX_DATA_RECORD, 7, 7], [7, 5, 97, 114]];
      expect(got.length).toBeGreaterThanOrEqual(2);
      expect(got).toEqual(sent.slice(-got.length));
    } finally {
      await p.close();
      await b.close();
    }
    expect(out.lines.filter((l) => /refused|frame of/.test(l))).toEqual([]);
  });
});
