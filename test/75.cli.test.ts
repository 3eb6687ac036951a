// The `pmem` command, run as the installed bin/pmem in child processes (it
// loads dist/: scripts/setup.sh, or `npm run build:ts` after a change).
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { EXIT, exitCodeOf, Fail, OutputError } from '../lib/cli/exit';
import { KVStore, ObjPool, openMapping, PmemError, startReplica, TieredCache, Wal } from '../lib';
import { Progress } from '../lib/cli/progress';
import { BIN, expectBuilt, fails, lines, pmem, ROOT, type Result } from './cli-helpers';
import { readAfterWait, tmpFile } from './helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/args', 'cli/exit', 'cli/import', 'cli/progress', 'cli/serve']));

/**
 * Runs the command with stdout or stderr a pipe whose reader is already
 * closed: `sh` waits for a line on stdin, sent only after the test closed
 * its end of the pipe, and then becomes pmem. Resolves to the exit code.
 */
async function withClosed(stream: 'stdout' | 'stderr', args: string[]): Promise<number | null> {
  const child = spawn('sh', ['-c', 'read go; exec "$0" "$@"', BIN, ...args], {
    stdio: ['pipe', stream === 'stdout' ? 'pipe' : 'ignore', stream === 'stderr' ? 'pipe' : 'ignore'],
  });
  child[stream]!.destroy();
  child.stdin!.end('go\n');
  const [code] = await once(child, 'exit');
  return code as number | null;
}

function jsonl(n: number, value = (i: number) => `v${i}`): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ key: `k${i}`, value: value(i) })).join('\n') + '\n';
}

function store(name: string, n = 3): string {
  const f = tmpFile(name);
  const src = tmpFile(`${name}.jsonl`);
  fs.writeFileSync(src, jsonl(n));
  expect(pmem(['kv', f, 'import', src]).code).toBe(0);
  return f;
}

describe('pmem kv', () => {
  test('a scan larger than a pipe holds, to a reader slower than pmem: every line arrives, then pmem exits; it waits for the reader, not holding the output', async () => {
    const f = tmpFile('slow-reader.kv');
    const s = KVStore.open(f, { create: true, size: 160 << 20 });
    const value = 'v'.repeat(1000);
    const N = 80000;
    for (let i = 0; i < N; i += 1000) s.batch(Array.from({ length: 1000 }, (_, j) => ({ type: 'put' as const, key: `key:${String(i + j).padStart(6, '0')}`, value })));
    s.close();
    for (const op of ['scan', 'export']) {
      const r = await readAfterWait(BIN, ['kv', f, op]);
      // pmem was still there, waiting for the reader, when it began to read.
      expect(r.waited).toBe(true);
      expect([r.code, r.err]).toEqual([0, '']);
      const got = r.out.toString('latin1').split('\n');
      expect(got.length).toBe(N + 1);
      expect(got[N - 1]).toBe(op === 'scan' ? `key:0${N - 1}\t${value}` : JSON.stringify({ key: `key:0${N - 1}`, value }));
      // 80 MB of output, of which it held no more than a part while the reader was away.
      expect(r.out.length).toBeGreaterThan(80e6);
      expect(r.rssAnon).toBeGreaterThan(0);
      expect(r.rssAnon).toBeLessThan(r.out.length / 2);
    }
  });

  test('put, get, has, del, count, scan, export, stats, compact', () => {
    const f = tmpFile('cli.kv');
    expect(pmem(['kv', f, 'put', 'user:1', 'ada'])).toMatchObject({ code: 0, out: ['ok'], err: [] });
    pmem(['kv', f, 'put', 'user:2', 'grace']);
    pmem(['kv', f, 'put', 'other', 'x']);
    expect(pmem(['kv', f, 'get', 'user:1'])).toMatchObject({ code: 0, out: ['ada'] });
    expect(pmem(['kv', f, 'get', 'user:1', '--json']).out).toEqual([JSON.stringify({ key: 'user:1', found: true, value: 'ada' })]);
    expect(pmem(['kv', f, 'has', 'user:2'])).toMatchObject({ code: 0, out: ['true'] });
    expect(pmem(['kv', f, 'count', '--json'])).toMatchObject({ code: 0, out: ['{"count":3}'] });
    expect(pmem(['kv', f, 'scan', '--prefix', 'user:'])).toMatchObject({ code: 0, out: ['user:1\tada', 'user:2\tgrace'] });
    expect(pmem(['kv', f, 'scan', '--limit', '1', '--json']).out).toEqual(['{"key":"other","value":"x"}']);
    expect(pmem(['kv', f, 'scan', '--limit=1']).out).toEqual(['other\tx']);
    expect(pmem(['kv', f, 'export'])).toMatchObject({ code: 0 });
    expect(pmem(['kv', f, 'export']).out).toHaveLength(3);
    expect(pmem(['kv', f, 'del', 'other'])).toMatchObject({ code: 0, out: ['true'] });
    const stats = pmem(['kv', f, 'stats', '--json']);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.out[0]).count).toBe(2);
    expect(pmem(['kv', f, 'stats']).out.some((l) => l.startsWith('count: 2'))).toBe(true);
    expect(pmem(['kv', f, 'compact', '--json'])).toMatchObject({ code: EXIT.OK, err: [] });
  });

  test('export honours --limit and --prefix', () => {
    const f = store('cli-export.kv', 20);
    expect(pmem(['kv', f, 'export', '--limit', '2']).out).toEqual(['{"key":"k0","value":"v0"}', '{"key":"k1","value":"v1"}']);
    expect(pmem(['kv', f, 'export', '--prefix', 'k1', '--limit', '3']).out.map((l) => JSON.parse(l).key)).toEqual(['k1', 'k10', 'k11']);
    expect(pmem(['kv', f, 'export', '--limit', '0']).out).toEqual([]);
  });

  test('a missing key exits 1 for get, has and del, and only that', () => {
    const f = tmpFile('cli-miss.kv');
    pmem(['kv', f, 'put', 'a', '1']);
    fails(pmem(['kv', f, 'get', 'b']), EXIT.NOT_FOUND, "no key 'b'");
    expect(pmem(['kv', f, 'get', 'b', '--json'])).toMatchObject({ code: 1, out: ['{"key":"b","found":false}'] });
    expect(pmem(['kv', f, 'has', 'b'])).toMatchObject({ code: 1, out: ['false'], err: [] });
    expect(pmem(['kv', f, 'del', 'b', '--json'])).toMatchObject({ code: 1, out: ['{"deleted":false}'], err: [] });
    expect(pmem(['kv', f, 'get', 'a']).code).toBe(0);
  });

  test('-- ends the options: keys and values that start with -', () => {
    const f = tmpFile('cli-dashdash.kv');
    expect(pmem(['kv', f, 'put', '--', '--json', '-h']).code).toBe(0);
    expect(pmem(['kv', f, 'get', '--', '--json'])).toMatchObject({ code: 0, out: ['-h'] });
    expect(pmem(['kv', f, 'get', '--json', '--', '--json']).out).toEqual(['{"key":"--json","found":true,"value":"-h"}']);
    fails(pmem(['kv', f, 'get', '--json']), EXIT.USAGE, 'takes 1 argument');
  });

  test('--size and --max-size: a new store of that size, growing up to the maximum', () => {
    const f = tmpFile('cli-size.kv');
    expect(pmem(['kv', f, 'put', 'a', '1', '--size', '16M']).code).toBe(0);
    expect(fs.statSync(f).size).toBe(16 * 1024 * 1024);
    const src = tmpFile('cli-size.jsonl');
    fs.writeFileSync(src, jsonl(100, () => 'x'.repeat(200 * 1024))); // 20 MiB of values
    const full = pmem(['kv', f, 'import', src]);
    fails(full, EXIT.CANNOT_USE, 'ERR_PMEM_NO_SPACE');
    expect(full.err[0]).toMatch(/\d+ records were imported before it/);
    expect(fs.statSync(f).size).toBe(16 * 1024 * 1024);
    expect(pmem(['kv', f, 'import', src, '--max-size=64M'])).toMatchObject({ code: 0, out: ['imported 100 records'] });
    expect(fs.statSync(f).size).toBeGreaterThan(16 * 1024 * 1024);
    expect(fs.statSync(f).size).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(pmem(['kv', f, 'count']).out).toEqual(['101']);
    for (const bad of ['0', '-1', '1.5G', '12X', '5G', '']) fails(pmem(['kv', tmpFile('s.kv'), 'put', 'a', '1', '--size', bad]), EXIT.USAGE, '--size');
    fails(pmem(['kv', tmpFile('s.kv'), 'put', 'a', '1', '--max-size', '8G']), EXIT.USAGE, '--max-size must be at most 4G');
    // A new store never larger than its maximum.
    const small = tmpFile('max-below-size.kv');
    fails(pmem(['kv', small, 'put', 'a', '1', '--size', '1G', '--max-size', '64M']), EXIT.USAGE, `--max-size ${64 << 20} is below --size ${1 << 30}`);
    fails(pmem(['kv', small, 'put', 'a', '1', '--max-size', '8M']), EXIT.USAGE, `--max-size ${8 << 20} makes a new store too small to take a put`);
    expect(fs.existsSync(small)).toBe(false);
    expect(pmem(['kv', small, 'put', 'a', '1', '--max-size', '32M']).code).toBe(0);
    expect(fs.statSync(small).size).toBe(32 << 20);
    // An existing store is never shrunk: a maximum below its size is refused, not taken and ignored.
    for (const op of [['put', 'b', '2'], ['del', 'a'], ['compact']]) {
      fails(pmem(['kv', small, ...op, '--max-size', '16M']), EXIT.USAGE, `--max-size ${16 << 20} is below the store's size, ${32 << 20} bytes: a store never shrinks`);
    }
    expect(pmem(['kv', small, 'get', 'a']).out).toEqual(['1']);
    expect(pmem(['kv', small, 'put', 'b', '2', '--max-size', '32M']).code).toBe(0);
    fails(pmem(['kv', tmpFile('s.kv'), 'put', 'a', '1', '--size', '4K']), EXIT.USAGE, 'needs a size of at least');
    // The least size a put accepts makes a store that takes a put (one
    // segment besides the two a put keeps free); one less is refused.
    const least = 4096 + 3 * 4 * 1024 * 1024;
    fails(pmem(['kv', tmpFile('least.kv'), 'put', 'a', '1', '--size', String(least - 1)]), EXIT.USAGE, `of at least ${least}`);
    expect(fs.existsSync(tmpFile('least.kv'))).toBe(false);
    expect(pmem(['kv', tmpFile('least.kv'), 'put', 'a', '1', '--size', String(least)]).code).toBe(0);
    // A first put that fails leaves the file as it was: missing, or empty.
    const made = tmpFile('failed-first.kv');
    fails(pmem(['kv', made, 'put', 'k'.repeat(5000), 'v']), EXIT.USAGE, 'the limit is 4096');
    expect(fs.existsSync(made)).toBe(false);
    fs.writeFileSync(made, '');
    fails(pmem(['kv', made, 'put', 'k'.repeat(5000), 'v']), EXIT.USAGE, 'the limit is 4096');
    expect(fs.statSync(made).size).toBe(0);
    fails(pmem(['kv', f, 'get', 'a', '--size', '1G']), EXIT.USAGE, '--size applies to put and import');
    fails(pmem(['kv', f, 'count', '--max-size', '1G']), EXIT.USAGE, '--max-size applies to');
    fails(pmem(['kv', f, 'get', 'a', '--limit', '1']), EXIT.USAGE, '--limit apply to scan and export');
  });

  test('usage errors exit 2 for every command, with one line', () => {
    const f = store('cli-usage.kv');
    const bare = pmem([]);
    expect(bare.code).toBe(EXIT.USAGE);
    expect(bare.err.join('\n')).toContain('exit codes:');
    for (const args of [
      ['frobnicate', f], ['kv'], ['info'], ['check'], ['kv', f], ['kv', f, 'twiddle'],
      ['kv', f, 'put', 'only-key'], ['kv', f, 'get'], ['kv', f, 'get', 'a', 'b'], ['kv', f, 'del'], ['kv', f, 'has'],
      ['kv', f, 'import'], ['kv', f, 'count', 'x'], ['kv', f, 'stats', 'x'], ['kv', f, 'compact', 'x'],
      ['kv', f, 'scan', 'x'], ['kv', f, 'export', 'x'], ['info', f, 'x'], ['check', f, 'x'],
      ['kv', f, 'scan', '--limit', 'many'], ['kv', f, 'scan', '--limit', '-1'], ['kv', f, 'scan', '--limit'],
      ['kv', f, 'scan', '--verbose'], ['kv', f, 'count', '--json=yes'], ['help', 'nope'],
    ]) {
      fails(pmem(args), EXIT.USAGE);
    }
  });

  test('--version, --help and pmem help', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pmem(['--version'])).toEqual({ code: 0, out: [version], err: [] });
    expect(pmem(['--version', '--json'])).toEqual({ code: 0, out: [JSON.stringify({ version })], err: [] });
    const help = pmem(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['0 ', '1 ', '2 ', '3 ', '4 ']) expect(help.out.some((l) => l.startsWith(`  ${c}`))).toBe(true);
    expect(pmem(['help'])).toEqual(help);
    expect(pmem(['-h']).out).toEqual(help.out);
    const imp = pmem(['help', 'import']);
    expect(imp.code).toBe(0);
    expect(imp.out[0]).toMatch(/^pmem kv <file> import/);
    expect(imp.out.join(' ').replace(/\s+/g, ' ')).toContain('every record before the bad line is imported and durable');
    expect(pmem(['kv', 'f.kv', 'put', '--help']).out[0]).toMatch(/^pmem kv <file> put/);
    expect(pmem(['help', 'kv']).out.join('\n')).toContain('pmem kv <file> compact');
    expect(pmem(['help', 'check']).out[0]).toMatch(/^pmem check/);
  });
});

describe('pmem kv import', () => {
  // Ends a child and a pipe that a failed (timed out) test left open.
  let cleanup: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await cleanup?.();
    cleanup = null;
  });

  test('JSON lines with text and base64 values; export round-trips', () => {
    const f = tmpFile('cli-import.kv');
    const src = tmpFile('in.jsonl');
    const input = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ key: `k${i}`, value: `v${i}` }));
    input.push('', '   ', JSON.stringify({ key: 'bin', valueBase64: Buffer.from([0xff, 0xfe]).toString('base64') }));
    fs.writeFileSync(src, input.join('\n')); // no newline at the end
    expect(pmem(['kv', f, 'import', src])).toEqual({ code: 0, out: ['imported 2501 records'], err: [] });
    const s = KVStore.open(f, { readOnly: true });
    expect(s.count).toBe(2501);
    expect(s.get('bin')).toEqual(Buffer.from([0xff, 0xfe]));
    s.close();
    const exported = pmem(['kv', f, 'export']).out;
    expect(exported.map((l) => JSON.parse(l)).find((r) => r.key === 'bin')).toEqual({ key: 'bin', valueBase64: '//4=' });
    const again = tmpFile('cli-import2.kv');
    expect(pmem(['kv', again, 'import', '-', '--json'], { input: exported.join('\n') })).toMatchObject({ code: 0, out: ['{"imported":2501}'] });
    expect(pmem(['kv', again, 'export']).out).toEqual(exported);
  });

  test('keys and values of any bytes: export and import give back the same bytes; scan escapes; get prints the bytes', () => {
    const f = tmpFile('cli-bytes.kv');
    const s = KVStore.open(f, { create: true, size: 16 << 20 });
    const entries: Array<[Buffer, Buffer]> = [
      [Buffer.from([0xff, 0x00, 0x41]), Buffer.from([0xc3, 0x28])], // neither is UTF-8
      [Buffer.from([0xfe]), Buffer.from('x')],
      [Buffer.from([0xfd]), Buffer.from('y')], // decoded as UTF-8, 0xfe and 0xfd were one key
      [Buffer.from('tab\there\nnl\\'), Buffer.from('v\r1')],
      [Buffer.from('plain'), Buffer.from('ünïcödé \uFFFD')],
      [Buffer.from('ctl'), Buffer.from([0x01, 0x7f, 0x41])],
    ];
    for (const [k, v] of entries) s.put(k, v);
    s.close();
    const exported = pmem(['kv', f, 'export']).out;
    expect(exported.map((l) => JSON.parse(l))).toEqual([
      { key: 'ctl', value: '\u0001\u007fA' },
      { key: 'plain', value: 'ünïcödé \uFFFD' },
      { key: 'tab\there\nnl\\', value: 'v\r1' },
      { keyBase64: '/Q==', value: 'y' },
      { keyBase64: '/g==', value: 'x' },
      { keyBase64: '/wBB', valueBase64: 'wyg=' },
    ]);
    const again = tmpFile('cli-bytes2.kv');
    expect(pmem(['kv', again, 'import', '-'], { input: exported.join('\n') }).code).toBe(0);
    const t = KVStore.open(again, { readOnly: true });
    const hex = (e: Iterable<[Buffer, Buffer]>) => [...e].map(([k, v]) => `${k.toString('hex')}:${v.toString('hex')}`);
    expect(hex(t.entries() as Iterable<[Buffer, Buffer]>)).toEqual(hex([...entries].sort((a, b) => Buffer.compare(a[0], b[0]))));
    t.close();
    // scan: one line an entry, and no two entries alike.
    expect(pmem(['kv', f, 'scan']).out).toEqual([
      'ctl\t\\x01\\x7fA',
      'plain\tünïcödé \uFFFD',
      'tab\\there\\nnl\\\\\tv\\r1',
      '\\xfd\ty',
      '\\xfe\tx',
      '\\xff\\x00A\t\\xc3(',
    ]);
    // get: the value's bytes as they are, then a line feed.
    const got = spawnSync(BIN, ['kv', f, 'get', 'plain']);
    expect(got.status).toBe(0);
    expect(got.stdout).toEqual(Buffer.concat([Buffer.from('ünïcödé \uFFFD'), Buffer.from('\n')]));
    const g = KVStore.open(f);
    g.put('bin', Buffer.from([0x80, 0x81, 0x0a]));
    g.close();
    expect(spawnSync(BIN, ['kv', f, 'get', 'bin']).stdout).toEqual(Buffer.from([0x80, 0x81, 0x0a, 0x0a]));
  });

  test('a bad line in a regular file: named by number, exit 2, nothing written, no store created', () => {
    const f = tmpFile('cli-badimport.kv');
    const src = tmpFile('bad.jsonl');
    const cases: Array<[string, string]> = [
      ['{"key":"a","value":"1"}\nnot json\n', 'line 2: not JSON'],
      ['{"key":1,"value":"1"}\n', 'line 1: needs "key" as a string, or "keyBase64" as base64'],
      ['{"keyBase64":"!!","value":"1"}\n', 'line 1: needs "key" as a string, or "keyBase64" as base64'],
      ['{"key":"a","keyBase64":"YQ==","value":"1"}\n', 'line 1: has both "key" and "keyBase64"'],
      [`{"keyBase64":"${Buffer.alloc(5000, 0xff).toString('base64')}","value":"1"}\n`, 'line 1: key is 5000 bytes'],
      ['\n{"key":"a"}\n', 'line 2: needs "value"'],
      ['{"key":"a","valueBase64":"!!"}\n', 'line 1: needs "value"'],
      ['{"key":"a","value":"x","valueBase64":"eQ=="}\n', 'line 1: has both "value" and "valueBase64"'],
      ['{"key":"a","value":null,"valueBase64":"eQ=="}\n', 'line 1: has both "value" and "valueBase64"'],
      ['[1]\n', 'line 1: not a JSON object'],
      [`${jsonl(1500)}{"key":"${'k'.repeat(5000)}","value":"1"}\n`, 'line 1501: key is 5000 bytes'],
    ];
    for (const [text, msg] of cases) {
      fs.writeFileSync(src, text);
      fails(pmem(['kv', f, 'import', src]), EXIT.USAGE, msg);
      expect(fs.existsSync(f)).toBe(false);
    }
    // Into an existing store: it is left as it was.
    pmem(['kv', f, 'put', 'z', '1']);
    fs.writeFileSync(src, `${jsonl(1500)}not json\n`);
    const r = pmem(['kv', f, 'import', src]);
    fails(r, EXIT.USAGE, 'line 1501: not JSON; nothing was imported');
    expect(pmem(['kv', f, 'count']).out).toEqual(['1']);
  });

  test('a bad line from a pipe: every record before it is imported and durable', () => {
    const f = tmpFile('cli-badpipe.kv');
    const r = pmem(['kv', f, 'import', '-'], { input: `${jsonl(1500)}\nnot json\n${jsonl(3)}` });
    fails(r, EXIT.USAGE, 'stdin line 1502: not JSON; 1500 records were imported before it');
    expect(pmem(['kv', f, 'count']).out).toEqual(['1500']);
    expect(pmem(['kv', f, 'get', 'k1499']).out).toEqual(['v1499']);
  });

  test('a pipe that fails before its first batch is written leaves the path as it was: no store made, an empty file empty, a store unchanged', () => {
    const f = tmpFile('cli-badfirst.kv');
    fails(pmem(['kv', f, 'import', '-'], { input: 'not json\n' }), EXIT.USAGE, 'stdin line 1: not JSON; 0 records were imported before it');
    expect(fs.existsSync(f)).toBe(false);
    fs.writeFileSync(f, '');
    fails(pmem(['kv', f, 'import', '-'], { input: '\nnot json\n' }), EXIT.USAGE, 'stdin line 2: not JSON; 0 records were imported before it');
    expect(fs.statSync(f).size).toBe(0);
    fs.rmSync(f);
    expect(pmem(['kv', f, 'put', 'z', '1']).code).toBe(EXIT.OK);
    fails(pmem(['kv', f, 'import', '-'], { input: 'not json\n' }), EXIT.USAGE, 'stdin line 1: not JSON; 0 records were imported before it');
    expect(pmem(['kv', f, 'get', 'z']).out).toEqual(['1']);
  });

  test('the input is checked before the store is created: missing, a directory', () => {
    const f = tmpFile('cli-noinput.kv');
    fails(pmem(['kv', f, 'import', tmpFile('none.jsonl')]), EXIT.CANNOT_USE, 'no such file');
    fails(pmem(['kv', f, 'import', path.dirname(f)]), EXIT.CANNOT_USE, 'a directory');
    // Stdin a directory: Node streams it as empty, which imported nothing and
    // succeeded, creating the store.
    const dir = fs.openSync(path.dirname(f), 'r');
    try {
      fails(pmem(['kv', f, 'import', '-'], { stdio: [dir, 'pipe', 'pipe'] }), EXIT.CANNOT_USE, 'cannot read stdin: a directory');
    } finally {
      fs.closeSync(dir);
    }
    expect(fs.existsSync(f)).toBe(false);
  });

  test('a line longer than the longest record is refused, without reading on', () => {
    // /dev/zero never ends a line: the import stops at the limit (a 64 MiB
    // value in base64) instead of buffering without end.
    const f = tmpFile('cli-zero.kv');
    fails(pmem(['kv', f, 'import', '/dev/zero']), EXIT.USAGE, '/dev/zero line 1: longer than 89544024 bytes; 0 records were imported before it');
    expect(fs.existsSync(f)).toBe(false);
  });

  test('streams: a bad line is reported while the pipe is still open', async () => {
    // A named pipe whose writer stays open: a command that read its input
    // whole would wait here for an end of input that never comes.
    const f = tmpFile('cli-stream.kv');
    const fifo = tmpFile('cli-stream.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const child = spawn(BIN, ['kv', f, 'import', fifo], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const writer = await fs.promises.open(fifo, 'w'); // waits for the command to open it
    cleanup = () => {
      child.kill('SIGKILL');
      return writer.close();
    };
    await writer.write(`${jsonl(2000)}not json\n`);
    // 'close', not 'exit': only then has all of its stderr been read.
    const [code] = await once(child, 'close');
    expect(code).toBe(EXIT.USAGE);
    expect(err).toBe(`pmem: ${fifo} line 2001: not JSON; 2000 records were imported before it\n`);
    expect(pmem(['kv', f, 'count']).out).toEqual(['2000']);
  });

  test('memory does not grow with the input: 46 MB imported in a 24 MB heap', () => {
    const src = tmpFile('big.jsonl');
    const fd = fs.openSync(src, 'w');
    const v = 'x'.repeat(200);
    for (let i = 0; i < 200; i++) {
      let chunk = '';
      for (let j = 0; j < 1000; j++) chunk += JSON.stringify({ key: `k${String(i * 1000 + j).padStart(7, '0')}`, value: v }) + '\n';
      fs.writeSync(fd, chunk);
    }
    fs.closeSync(fd);
    expect(fs.statSync(src).size).toBe(46_000_000);
    const f = tmpFile('big.kv');
    const r = spawnSync(process.execPath, ['--max-old-space-size=24', BIN, 'kv', f, 'import', src, '--size', '128M'], { encoding: 'utf8' });
    fs.rmSync(src);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toBe('imported 200000 records\n');
    fs.rmSync(f);
  });
});

describe('files a command cannot use exit 3, and are left as they are', () => {
  test('a missing store: every reading and writing command but put and import', () => {
    const f = tmpFile('nope.kv');
    for (const op of [['get', 'a'], ['has', 'a'], ['del', 'a'], ['scan'], ['export'], ['count'], ['stats'], ['compact']]) {
      fails(pmem(['kv', f, ...op]), EXIT.CANNOT_USE, 'no such file');
    }
    fails(pmem(['check', f]), EXIT.CANNOT_USE);
    expect(pmem(['info', f]).code).toBe(EXIT.CANNOT_USE);
    expect(fs.existsSync(f)).toBe(false);
  });

  test('a store that cannot be read, or behind a directory that cannot be searched: said so, with why, by every command', () => {
    const dir = tmpFile('unreadable');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    const f = path.join(dir, 'store.kv');
    const readable = path.join(dir, 'readable.kv');
    for (const file of [f, readable]) expect(pmem(['kv', file, 'put', 'a', '1']).code).toBe(0);
    fs.chmodSync(readable, 0o644);
    fs.chmodSync(f, 0o200);
    // Root reads a file whatever its mode: the commands run as another user then.
    const as: SpawnSyncOptions = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    // That user reaches the directory: a store it may read is read.
    expect(pmem(['kv', readable, 'get', 'a'], as)).toMatchObject({ code: 0, out: ['1'] });
    const before = fs.readFileSync(f);
    for (const op of [['get', 'a'], ['put', 'a', '2'], ['del', 'a'], ['scan'], ['count'], ['compact'], ['import', readable]]) {
      fails(pmem(['kv', f, ...op], as), EXIT.CANNOT_USE, `${f} cannot be read (EACCES)`);
    }
    fails(pmem(['check', f], as), EXIT.CANNOT_USE, `${f} cannot be read (EACCES)`);
    fails(pmem(['info', f], as), EXIT.CANNOT_USE, `${f} cannot be read (EACCES)`);
    expect(fs.readFileSync(f).equals(before)).toBe(true);
    // Behind a directory that user cannot search: not "no such file".
    fs.chmodSync(f, 0o644);
    fs.chmodSync(dir, 0o700);
    try {
      if (process.getuid?.() === 0) {
        fails(pmem(['kv', f, 'get', 'a'], as), EXIT.CANNOT_USE, `${f} cannot be read (EACCES)`);
        fails(pmem(['kv', f, 'put', 'b', '1'], as), EXIT.CANNOT_USE, `${f} cannot be read (EACCES)`);
        fails(pmem(['info', f], as), EXIT.CANNOT_USE, `${f} cannot be read (EACCES)`);
      }
    } finally {
      fs.chmodSync(dir, 0o755);
    }
    expect(pmem(['kv', f, 'get', 'a'])).toMatchObject({ code: 0, out: ['1'] });
  });

  test('a text file, an empty file, a directory, a WAL', () => {
    const text = tmpFile('README.md');
    fs.writeFileSync(text, '# not a store\n'.repeat(400));
    const before = fs.readFileSync(text);
    for (const op of [['get', 'a'], ['put', 'a', '1'], ['del', 'a'], ['scan'], ['count'], ['compact'], ['import', text]]) {
      fails(pmem(['kv', text, ...op]), EXIT.CANNOT_USE, `${text} is not a KV store (no known format)`);
    }
    fails(pmem(['check', text]), EXIT.CANNOT_USE, `${text} is not a KV store, a WAL or a libpmemobj pool`);
    expect(fs.readFileSync(text).equals(before)).toBe(true);
    expect(pmem(['info', text, '--json'])).toMatchObject({ code: 0 });

    const empty = tmpFile('empty.kv');
    fs.writeFileSync(empty, '');
    fails(pmem(['kv', empty, 'get', 'a']), EXIT.CANNOT_USE, 'an empty file');
    fails(pmem(['check', empty]), EXIT.CANNOT_USE, 'an empty file');
    expect(pmem(['kv', empty, 'put', 'a', '1']).code).toBe(0); // an empty file is formatted, as KVStore.open does

    const dir = path.dirname(text);
    fails(pmem(['kv', dir, 'get', 'a']), EXIT.CANNOT_USE, 'not a regular file');
    fails(pmem(['kv', dir, 'put', 'a', '1']), EXIT.CANNOT_USE, 'not a regular file');
    fails(pmem(['check', dir]), EXIT.CANNOT_USE);
    expect(pmem(['info', dir]).code).toBe(EXIT.CANNOT_USE);

    const wal = tmpFile('x.wal');
    Wal.open(wal, { size: 65536, create: true }).close();
    fails(pmem(['kv', wal, 'put', 'a', '1']), EXIT.CANNOT_USE, 'is not a KV store (a WAL)');
  });

  test('a store held by a writer: writes are refused, reads see what the writer wrote', () => {
    const f = store('cli-locked.kv');
    const writer = KVStore.open(f);
    try {
      for (const op of [['put', 'a', '1'], ['del', 'k0'], ['compact'], ['import', '-']]) {
        fails(pmem(['kv', f, ...op], { input: '' }), EXIT.CANNOT_USE, 'ERR_PMEM_LOCKED');
      }
      writer.put('live', 'yes');
      writer.delete('k1');
      const count = writer.count;
      expect(pmem(['kv', f, 'get', 'live']).out).toEqual(['yes']);
      expect(pmem(['kv', f, 'get', 'k1']).code).toBe(EXIT.NOT_FOUND);
      expect(pmem(['kv', f, 'count']).out).toEqual([String(count)]);
      const scan = pmem(['kv', f, 'scan', '--prefix', 'live']);
      expect(scan).toMatchObject({ code: 0, out: ['live\tyes'] });
      const info = pmem(['info', f]);
      expect(info.code).toBe(0);
      expect(info.out.join('\n')).toContain('kv');
      expect(pmem(['check', f]).code).toBe(0);
    } finally {
      writer.close();
    }
    expect(pmem(['kv', f, 'get', 'k0']).out).toEqual(['v0']);
  });

  test('check beside a writer that writes throughout: exit 0, saying when the count could not be compared', async () => {
    const f = store('cli-live.kv', 20000);
    const writer = KVStore.open(f);
    let writing = true;
    let i = 0;
    // Puts and deletes between this process's event-loop turns, while the
    // check runs in its own process.
    const loop = (): void => {
      if (!writing) return;
      for (let k = 0; k < 20; k++, i++) {
        writer.put(`w${i % 5000}`, 'x'.repeat(100));
        if (i % 3 === 0) writer.delete(`k${i % 20000}`);
      }
      setImmediate(loop);
    };
    loop();
    const check = async (): Promise<{ code: number | null; out: string }> => {
      const child = spawn(BIN, ['check', f, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const [code] = (await once(child, 'close')) as [number | null];
      return { code, out };
    };
    try {
      let changed = 0;
      // Until one check has seen the writer write during its scan (the
      // case this tests), each of them exiting 0.
      for (let t = 0; t < 20 && changed === 0; t++) {
        const r = await check();
        expect(r.code).toBe(0);
        if ((JSON.parse(r.out) as { changedDuringCheck?: boolean }).changedDuringCheck === true) changed++;
      }
      expect(changed).toBe(1);
    } finally {
      writing = false;
      writer.close();
    }
    expect(i).toBeGreaterThan(0);
  });
});

describe('pmem serve', () => {
  test('a port in use exits 3 with one line, before any store or directory is made; a store given stays as it was', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    const f = tmpFile('serve-in-use.kv');
    const dir = path.join(tmpFile('serve-in-use-dir'), 'data');
    const kept = tmpFile('serve-in-use-kept.kv');
    const s = KVStore.open(kept, { create: true, size: 16 << 20 });
    s.put('k', 'v');
    s.close();
    const before = fs.readFileSync(kept);
    let r: Result;
    let inDir: Result;
    let onKept: Result;
    try {
      r = pmem(['serve', '--port', String(port), '--file', f], { timeout: 60_000 });
      fs.mkdirSync(path.dirname(dir));
      inDir = pmem(['serve', '--port', String(port), '--dir', dir], { timeout: 60_000 });
      onKept = pmem(['serve', '--port', String(port), '--file', kept], { timeout: 60_000 });
    } finally {
      await new Promise((done) => taken.close(done));
    }
    for (const x of [r, inDir, onKept]) {
      fails(x, EXIT.CANNOT_USE, `cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE)`);
      expect(x.out).toEqual([]);
    }
    expect(fs.existsSync(f)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.readFileSync(kept).equals(before)).toBe(true);
  });

  // With net.ipv4.ip_nonlocal_bind set, the kernel binds any address: a server would start.
  const nonlocalBind = (() => {
    try {
      return fs.readFileSync('/proc/sys/net/ipv4/ip_nonlocal_bind', 'utf8').trim() !== '0';
    } catch {
      return false;
    }
  })();
  (nonlocalBind ? test.skip : test)('an address the host does not have exits 3 with one line', () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a host's own address.
    const f = tmpFile('serve-no-addr.kv');
    const r = pmem(['serve', '--port', '0', '--bind', '192.0.2.1', '--file', f], { timeout: 60_000 });
    fails(r, EXIT.CANNOT_USE, 'cannot listen on 192.0.2.1:0: this host has no such address (EADDRNOTAVAIL)');
    expect(fs.existsSync(f)).toBe(false);
  });

  test('a host name that does not resolve exits 3 with one line', () => {
    // .invalid never resolves (RFC 6761); without a resolver at hand the lookup fails with EAI_AGAIN instead.
    const f = tmpFile('serve-no-name.kv');
    const r = pmem(['serve', '--port', '0', '--bind', 'no-such-host.invalid', '--file', f], { timeout: 60_000 });
    fails(r, EXIT.CANNOT_USE, 'cannot listen on no-such-host.invalid:0: the host name does not resolve');
    expect(r.err[0]).toMatch(/\((ENOTFOUND|EAI_AGAIN)\)$/);
    expect(fs.existsSync(f)).toBe(false);
  });

  test("--max-size below an existing store's size exits 2 before the store is opened", () => {
    const f = tmpFile('serve-max-below.kv');
    expect(pmem(['kv', f, 'put', 'a', '1', '--size', '16M']).code).toBe(0);
    const before = fs.readFileSync(f);
    fails(pmem(['serve', '--port', '0', '--file', f, '--max-size', '8M'], { timeout: 60_000 }), EXIT.USAGE,
      `--max-size ${8 << 20} is below the store's size, ${16 << 20} bytes: a store never shrinks`);
    expect(fs.readFileSync(f).equals(before)).toBe(true);
  });

  test('--dir: a missing directory is made, its missing parent is not; a file is refused', () => {
    const base = tmpFile('serve-dirs');
    fs.mkdirSync(base);
    const deep = path.join(base, 'missing', 'data');
    // A timeout: a server that did start would never exit on its own.
    const opts = { timeout: 60_000 };
    fails(pmem(['serve', '--port', '0', '--dir', deep], opts), EXIT.CANNOT_USE, `--dir ${deep}: its parent ${path.join(base, 'missing')} does not exist`);
    expect(fs.readdirSync(base)).toEqual([]);
    const plain = path.join(base, 'plain');
    fs.writeFileSync(plain, 'x');
    fails(pmem(['serve', '--port', '0', '--dir', plain], opts), EXIT.CANNOT_USE, `--dir ${plain}: not a directory`);
    expect(fs.readFileSync(plain, 'utf8')).toBe('x');
  });
});

describe('pmem info', () => {
  test('tells KV stores, WALs, pools, plain files, directories and missing files apart', () => {
    const kv = tmpFile('info.kv');
    pmem(['kv', kv, 'put', 'a', '1']);
    const wal = tmpFile('info.wal');
    Wal.open(wal, { size: 65536, create: true }).close();
    const pool = tmpFile('info.pool');
    ObjPool.create(pool, { layout: 'x' }).close();
    const plain = tmpFile('info.bin');
    openMapping(plain, { size: 4096, create: true }).close();
    const cache = tmpFile('info.cache');
    new TieredCache({ file: cache, dramEntries: 4, pmemBytes: 1 << 20 }).close();
    const info = (f: string) => JSON.parse(pmem(['info', f, '--json']).out[0]);
    expect(info(cache)).toMatchObject({ kind: 'cache' });
    expect(info(cache).format).toMatch(/^PCT1 v\d+$/);
    fails(pmem(['kv', cache, 'get', 'a']), EXIT.CANNOT_USE, 'is not a KV store (a tiered cache)');
    expect(info(kv)).toMatchObject({ kind: 'kv', format: 'PKV1 v1', fsType: 'tmpfs' });
    expect(info(wal)).toMatchObject({ kind: 'wal', format: 'PWAL v1' });
    expect(info(pool)).toMatchObject({ kind: 'objpool' });
    expect(info(pool).format).toMatch(/^PMEMOBJ v\d+$/);
    expect(info(plain)).toMatchObject({ kind: 'mapping', size: 4096 });
    // The durability the library gives the file in the command's environment.
    const durability = (env: string | undefined): string => {
      const e = { ...process.env };
      if (env === undefined) delete e.PMEM_IS_PMEM_FORCE;
      else e.PMEM_IS_PMEM_FORCE = env;
      return JSON.parse(pmem(['info', plain, '--json'], { env: e }).out[0]).durability;
    };
    expect(durability(undefined)).toBe('msync (tmpfs: DRAM, lost at power failure)');
    expect(durability('0')).toBe('msync (tmpfs: DRAM, lost at power failure)');
    expect(durability('1')).toBe('forced (PMEM_IS_PMEM_FORCE=1: CLWB+SFENCE, no msync; not power-fail safe)');
    expect(pmem(['info', path.dirname(plain)]).code).toBe(EXIT.CANNOT_USE);
    fails(pmem(['info', tmpFile('none'), '--json']), EXIT.CANNOT_USE, 'no such file');
    expect(pmem(['info', kv])).toMatchObject({ code: 0 });
    expect(pmem(['info', kv]).out).toContain('kind: kv');
  });

  test('a file of /proc is no storage: info, check, kv, serve and replica exit 3 and say so', () => {
    // /proc/self/status reads as text but stats as size 0; it has no blocks to map.
    const said = "is on proc, which holds the kernel's views, not storage";
    const journal = tmpFile('proc-store.journal');
    for (const args of [['info', '/proc/self/status'], ['info', '/proc/self/status', '--json'], ['check', '/proc/self/status'],
      ['kv', '/proc/self/status', 'get', 'a'], ['kv', '/proc/self/comm', 'put', 'a', '1'],
      ['serve', '--port', '0', '--file', '/proc/self/status'],
      ['replica', '--listen', '0', '--file', '/proc/self/status'], ['replica', 'promote', '--file', '/proc/self/status'],
      ['replica', '--listen', '0', '--file', journal, '--store', '/proc/self/status']]) {
      fails(pmem(args, { timeout: 60_000 }), EXIT.CANNOT_USE, said);
    }
    // Refused before anything was made.
    expect(fs.existsSync(journal)).toBe(false);
  });

  test('tells a replicated journal apart, and other commands refuse it by name', async () => {
    const journal = tmpFile('info.journal');
    await (await startReplica({ file: journal, port: 0, create: true, size: 1 << 20 })).close();
    expect(JSON.parse(pmem(['info', journal, '--json']).out[0])).toMatchObject({ kind: 'journal', format: 'PRJ1 v1' });
    fails(pmem(['kv', journal, 'get', 'a']), EXIT.CANNOT_USE, 'is not a KV store (a replicated journal)');
    fails(pmem(['check', journal]), EXIT.CANNOT_USE, '(a replicated journal)');
    expect(() => KVStore.open(journal)).toThrow(/holds a replicated journal; nothing was written to it/);
  });
});

describe('arguments that are not UTF-8', () => {
  test('a key or value of bytes that are not UTF-8 is refused (they would become U+FFFD); U+FFFD typed as UTF-8 is a key', () => {
    const f = store('bytes.kv');
    const sh = (cmd: string): Result => {
      const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
      return { code: r.status, out: lines(r.stdout), err: lines(r.stderr) };
    };
    fails(sh(`"${BIN}" kv "${f}" put "$(printf '\\377')" A`), EXIT.USAGE, 'not valid UTF-8');
    fails(sh(`"${BIN}" kv "${f}" put k "$(printf 'x\\376')"`), EXIT.USAGE, 'not valid UTF-8');
    fails(sh(`"${BIN}" kv "${f}" get "$(printf '\\376')"`), EXIT.USAGE, 'not valid UTF-8');
    expect(sh(`"${BIN}" kv "${f}" put "$(printf '\\357\\277\\275')" B`)).toEqual({ code: 0, out: ['ok'], err: [] });
    expect(pmem(['kv', f, 'get', '\uFFFD']).out).toEqual(['B']);
    expect(pmem(['kv', f, 'count']).out).toEqual(['4']);
  });

  test('a path of bytes that are not UTF-8 is refused by every command (exit 2, one line), before anything is made or read', () => {
    const dir = tmpFile('bytes-paths');
    fs.mkdirSync(dir);
    const input = path.join(dir, 'in.txt');
    fs.writeFileSync(input, 'b\na\n');
    const records = path.join(dir, 'in.jsonl');
    fs.writeFileSync(records, jsonl(1));
    const f = path.join(dir, 's.kv');
    expect(pmem(['kv', f, 'put', 'a', '1']).code).toBe(0);
    // The file that the bytes \xff\xfe would become: it is never read.
    const decoded = path.join(dir, 'x-\uFFFD\uFFFD');
    expect(pmem(['kv', decoded, 'put', 'z', 'other']).code).toBe(0);
    const before = fs.readdirSync(dir).sort();
    // bash's $'...' puts the bytes themselves on the command line.
    const bad = (name: string): string => `$'${dir}/${name}-\\xff\\xfe'`;
    const sh = (args: string): Result => {
      // A timeout: a server whose path were taken would never exit on its own.
      const r = spawnSync('bash', ['-c', `exec "${BIN}" ${args}`], { encoding: 'utf8', timeout: 20_000 });
      return { code: r.status, out: lines(r.stdout), err: lines(r.stderr) };
    };
    for (const args of [
      `kv ${bad('x')} get z`, `kv ${bad('x')} put z 9`, `kv ${bad('new')} put z 9`, `info ${bad('x')}`, `check ${bad('x')}`,
      `kv "${f}" import ${bad('in')}`, `kv ${bad('new')} import "${records}"`,
      `sort ${bad('in')} -o "${dir}/out"`, `sort "${input}" -o ${bad('out')}`, `sort "${input}" -o${bad('out')}`,
      `sort "${input}" -o "${dir}/out" --pmem ${bad('p')}`, `sort "${input}" -o "${dir}/out" --pmem=${bad('p')}`,
      `serve --port 0 --file ${bad('s')}`, `serve --port 0 --dir ${bad('d')}`,
      `serve --port 0 --file "${f}" --journal ${bad('j')} --replica 127.0.0.1:1`,
      `replica --listen 0 --file ${bad('r')} --create`, `replica --listen 0 --file=${bad('r')} --create`,
      `replica promote --file ${bad('r')}`, `replica --listen 0 --file "${dir}/r" --store ${bad('s')} --create`,
    ]) {
      const r = sh(args);
      try {
        fails(r, EXIT.USAGE, 'is not valid UTF-8 as typed');
      } catch (e) {
        throw new Error(`pmem ${args}: ${(e as Error).message}`);
      }
    }
    expect(fs.readdirSync(dir).sort()).toEqual(before);
    expect(pmem(['kv', decoded, 'get', 'z']).out).toEqual(['other']);
    expect(pmem(['kv', decoded, 'count']).out).toEqual(['1']);
    // U+FFFD typed as UTF-8 is a character of the name like any other.
    expect(sh(`kv "${dir}/typed-$(printf '\\357\\277\\275')" put k v`)).toEqual({ code: 0, out: ['ok'], err: [] });
    expect(fs.existsSync(path.join(dir, 'typed-\uFFFD'))).toBe(true);
  });
});

describe('empty strings for files, and a multi-byte -t', () => {
  test('a usage error (exit 2) with one line, no stack, and nothing made', () => {
    const input = tmpFile('empty-args.txt');
    fs.writeFileSync(input, 'b\na\n');
    for (const args of [['kv', '', 'put', 'k', 'v'], ['kv', '', 'get', 'k'], ['check', ''], ['info', ''],
      ['sort', '', '-o', tmpFile('e.out')], ['sort', input, '-o', ''], ['sort', input, '-o', tmpFile('e.out'), '--pmem', '']]) {
      fails(pmem(args), EXIT.USAGE);
    }
    fails(pmem(['sort', '-t', '\u00e9', '-k', '2', input, '-o', tmpFile('e.out')]), EXIT.USAGE, 'multi-character tab');
    expect(fs.existsSync(tmpFile('e.out'))).toBe(false);
  });

  test("-t '\\0' is the NUL byte, as GNU sort takes it", () => {
    const input = tmpFile('nul-sep.txt');
    fs.writeFileSync(input, 'b\x002\na\x003\nc\x001\n');
    const out = tmpFile('nul-sep.out');
    expect(pmem(['sort', '-t', '\\0', '-k', '2', input, '-o', out]).code).toBe(0);
    expect(fs.readFileSync(out, 'latin1')).toBe('c\x001\nb\x002\na\x003\n');
  });
});

describe('pmem check', () => {
  test('a store cut to a page or less: exit 4, saying it was cut short where its header is left, for check and for the reading commands', () => {
    for (const size of [4096, 4095, 100]) {
      const kv = store(`cut-${size}.kv`, 10);
      const length = fs.statSync(kv).size;
      fs.truncateSync(kv, size);
      // 100 bytes hold no store header (256 bytes): nothing tells what was lost.
      const message = size >= 256
        ? `'${kv}' is ${size} bytes, shorter than the ${length}-byte store it holds: it was cut short`
        : `'${kv}' is ${size} bytes, too small to hold a store`;
      for (const args of [['check', kv], ['kv', kv, 'get', 'k1'], ['kv', kv, 'count']]) {
        fails(pmem(args), EXIT.CORRUPT, message);
      }
      expect(fs.statSync(kv).size).toBe(size);
    }
  });

  test('a store cut short of the length it grew to: exit 4, saying so with both lengths, for check and for every kv command; the file is left as it was', () => {
    const kv = tmpFile('cut-short.kv');
    const seg = 64 * 1024;
    const s = KVStore.open(kv, { create: true, size: 4096 + 4 * seg, maxSize: 4096 + 64 * seg, segmentSize: seg });
    for (let i = 0; i < 400; i++) s.put(`k${i}`, `v${i}`.padEnd(1000, '.'));
    s.close();
    const full = fs.statSync(kv).size;
    expect(full).toBeGreaterThanOrEqual(4096 + 8 * seg); // grown
    const cut = 4096 + 4 * seg; // whole segments: what is left recovers as a valid prefix of the log
    fs.truncateSync(kv, cut);
    const image = fs.readFileSync(kv);
    const says = `is ${cut} bytes, shorter than the ${full}-byte store it holds`;
    fails(pmem(['check', kv]), EXIT.CORRUPT, says);
    fails(pmem(['check', kv, '--json']), EXIT.CORRUPT, 'ERR_PMEM_CORRUPT');
    for (const op of [['get', 'k1'], ['count'], ['scan'], ['put', 'a', '1'], ['del', 'k1'], ['compact']]) fails(pmem(['kv', kv, ...op]), EXIT.CORRUPT, says);
    expect(fs.readFileSync(kv).equals(image)).toBe(true);
  });

  test('an intact store, log and pool pass; damage exits 4; other files exit 3', () => {
    const kv = store('check.kv', 100);
    expect(pmem(['check', kv])).toEqual({ code: 0, out: [`${kv}: ok (kv, 100 keys)`], err: [] });
    const wal = tmpFile('check.wal');
    const w = Wal.open(wal, { size: 65536, create: true });
    for (const r of ['a', 'b', 'c']) w.append(r); // three appends: damage to the second is mid-log
    w.close();
    expect(JSON.parse(pmem(['check', wal, '--json']).out[0])).toMatchObject({ ok: true, kind: 'wal', records: 3 });
    // Damage the WAL's second record: an acknowledged record with intact ones after it.
    const bytes = fs.readFileSync(wal);
    bytes[256 + 40 + 32] ^= 0xff; // the payload byte of record 2
    fs.writeFileSync(wal, bytes);
    fails(pmem(['check', wal]), EXIT.CORRUPT, 'ERR_PMEM_CORRUPT');
    fails(pmem(['check', tmpFile('none')]), EXIT.CANNOT_USE);
    const plain = tmpFile('check.bin');
    fs.writeFileSync(plain, 'just bytes');
    fails(pmem(['check', plain]), EXIT.CANNOT_USE);
  });

  test('a damaged KV record or superblock exits 4 for check and for every kv command', () => {
    const kv = tmpFile('damage.kv');
    const s = KVStore.open(kv, { create: true, size: 16 * 1024 * 1024 });
    for (let i = 0; i < 3; i++) s.put(`k${i}`, `v${i}`); // three records
    s.close();
    const good = fs.readFileSync(kv);
    const record = Buffer.from(good);
    record[record.indexOf('v0')] ^= 0xff; // the first record's value; two intact records follow
    const superblock = Buffer.from(good);
    for (const at of [0, 128]) for (let i = 8; i < 60; i++) superblock[at + i] ^= 0xff; // both replicas, magic kept
    for (const [what, image] of [['record', record], ['superblock', superblock]] as const) {
      fs.writeFileSync(kv, image);
      fails(pmem(['check', kv]), EXIT.CORRUPT, 'ERR_PMEM_CORRUPT');
      for (const op of [['get', 'k1'], ['put', 'a', '1'], ['scan'], ['count']]) fails(pmem(['kv', kv, ...op]), EXIT.CORRUPT, what === 'record' ? 'damaged' : 'superblock');
      expect(fs.readFileSync(kv).equals(image)).toBe(true); // toEqual would walk 16M indices
    }
  });

  test('a libpmemobj pool: pmemobj_check passes, or the pool is damaged (exit 4)', () => {
    const pool = tmpFile('check.pool');
    const p = ObjPool.create(pool, { layout: 'app', size: 16 * 1024 * 1024 });
    p.root(64);
    p.close();
    expect(pmem(['check', pool])).toEqual({ code: 0, out: [`${pool}: ok (objpool, pmemobj_check passed)`], err: [] });
    expect(JSON.parse(pmem(['check', pool, '--json']).out[0])).toEqual({ file: pool, kind: 'objpool', ok: true });
    const bytes = fs.readFileSync(pool);
    fs.writeFileSync(pool, bytes.subarray(0, 9 * 1024 * 1024)); // past the minimum, short of its size
    fails(pmem(['check', pool]), EXIT.CORRUPT, 'pmemobj_check');
    fs.writeFileSync(pool, bytes.subarray(0, 4 * 1024 * 1024)); // shorter than any pool
    fails(pmem(['check', pool]), EXIT.CORRUPT, 'ERR_PMEM_CORRUPT');
  });
});

describe('stdout and stderr', () => {
  test('a closed stdout pipe ends quietly with the code the command would have had', async () => {
    const f = store('bin.kv', 20000);
    const piped = spawnSync('sh', ['-c', `"${BIN}" kv "${f}" export | head -1`], { encoding: 'utf8' });
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe('');
    expect(await withClosed('stdout', ['kv', f, 'export'])).toBe(EXIT.OK);
    expect(await withClosed('stdout', ['kv', f, 'has', 'nope'])).toBe(EXIT.NOT_FOUND);
    expect(await withClosed('stdout', ['kv', f, 'get', 'k1'])).toBe(EXIT.OK);
  });

  test('a closed stderr changes no exit code', async () => {
    const f = store('closed-stderr.kv', 5000);
    expect(await withClosed('stderr', ['check', f])).toBe(EXIT.OK);
    expect(await withClosed('stderr', ['kv', f, 'import', '-'])).toBe(EXIT.OK);
    expect(await withClosed('stderr', ['kv', tmpFile('none.kv'), 'get', 'a'])).toBe(EXIT.CANNOT_USE);
    expect(await withClosed('stderr', ['kv', f, 'get', 'nope'])).toBe(EXIT.NOT_FOUND);
    expect(await withClosed('stderr', ['kv', f, 'frob'])).toBe(EXIT.USAGE);
  });

  test('stdout on a full device: exit 3 with one line, for output of any size', () => {
    const f = store('full.kv', 5000);
    const full = fs.openSync('/dev/full', 'w');
    try {
      for (const args of [['kv', f, 'scan'], ['kv', f, 'export'], ['kv', f, 'get', 'k1'], ['check', f], ['--version']]) {
        fails(pmem(args, { stdio: ['ignore', full, 'pipe'] }), EXIT.CANNOT_USE, 'cannot write to stdout: ENOSPC');
      }
    } finally {
      fs.closeSync(full);
    }
  });

  test('progress bars are drawn only on a terminal, and a failed draw is ignored', () => {
    const writes: string[] = [];
    const pipe = { isTTY: false, write: (s: string) => writes.push(s) > 0 };
    const bar = new Progress('work', 8, pipe as unknown as NodeJS.WriteStream);
    for (let i = 0; i < 8; i++) bar.tick();
    bar.finish();
    expect(writes).toEqual([]);
    const tty = { isTTY: true, write: (s: string) => writes.push(s) > 0 };
    const drawn = new Progress('work', 8, tty as unknown as NodeJS.WriteStream);
    drawn.tick(8);
    drawn.finish();
    expect(writes[writes.length - 1]).toBe(`\rwork [${'#'.repeat(30)}] 100% 8/8\n`);
    const gone = new Progress('work', 8, { isTTY: true, write: () => { throw new Error('EIO'); } } as unknown as NodeJS.WriteStream);
    expect(() => { gone.tick(4); gone.finish(); }).not.toThrow();
  });
});

test('one function maps errors to exit codes, by code string', () => {
  const pe = (code: string): unknown => Object.assign(new Error('x'), { name: 'PmemError', code });
  expect(exitCodeOf(pe('ERR_PMEM_NOT_A_STORE'))).toBe(EXIT.CANNOT_USE);
  for (const c of ['ERR_PMEM_NOT_FOUND', 'ERR_PMEM_LOCKED', 'ERR_PMEM_ACCESS', 'ERR_PMEM_NO_SPACE', 'ERR_PMEM_INVALID', 'ERR_PMEM_NOT_POOL', 'ERR_PMEM_LAYOUT',
    // pmem serve --replica at start: a backup that does not answer, was promoted, is behind, belongs elsewhere, or is no replica (was 70, with a stack).
    'ERR_PMEM_REPLICA_ROLE', 'ERR_PMEM_REPLICA_TIMEOUT', 'ERR_PMEM_REPLICA_FENCED', 'ERR_PMEM_REPLICA_BEHIND', 'ERR_PMEM_REPLICA_DIVERGED', 'ERR_PMEM_REPLICA_PROTOCOL']) {
    expect([c, exitCodeOf(pe(c))]).toEqual([c, EXIT.CANNOT_USE]);
  }
  expect(exitCodeOf(new PmemError('ERR_PMEM_CORRUPT', 'x'))).toBe(EXIT.CORRUPT);
  expect(exitCodeOf(new PmemError('ERR_PMEM_CLOSED', 'x'))).toBe(EXIT.INTERNAL);
  for (const errno of ['ENOSPC', 'EACCES', 'EPERM', 'EROFS', 'ENOENT', 'EISDIR']) {
    expect([errno, exitCodeOf(Object.assign(new Error('x'), { code: errno }))]).toEqual([errno, EXIT.CANNOT_USE]);
  }
  expect(exitCodeOf(Object.assign(new RangeError('x'), { code: 'ERR_OUT_OF_RANGE' }))).toBe(EXIT.INTERNAL);
  expect(exitCodeOf(new OutputError(Object.assign(new Error('x'), { code: 'EPIPE' })))).toBe(EXIT.OK);
  expect(exitCodeOf(new OutputError(Object.assign(new Error('x'), { code: 'ENOSPC' })))).toBe(EXIT.CANNOT_USE);
  expect(exitCodeOf(new Fail(EXIT.NOT_FOUND, 'x'))).toBe(EXIT.NOT_FOUND);
  expect(exitCodeOf(new RangeError('key is 5000 bytes'))).toBe(EXIT.USAGE);
  expect(exitCodeOf(new TypeError('undefined is not a function'))).toBe(EXIT.INTERNAL);
});
