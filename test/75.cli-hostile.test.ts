// The `pmem` command given what a careless or hostile user gives it: an
// input that is the store itself, a stdin that cannot be read, a signal in
// the middle of an import, sort options that do not go together. Run as the
// installed bin/pmem in child processes (it loads dist/: `npm run build:ts`
// after a change).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { EXIT, Fail, Out } from '../lib/cli/exit';
import { importLines } from '../lib/cli/import';
import { main } from '../lib/cli/main';
import { Progress } from '../lib/cli/progress';
import { KVStore } from '../lib';
import { tmpFile } from './helpers';
import { BIN, expectBuilt, fails, lines, pmem, ROOT, type Result } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main', 'cli/args', 'cli/exit', 'cli/import', 'cli/sort', 'cli/demo', 'cli/serve', 'cli/replica']));

function jsonl(n: number, from = 0): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ key: `k${from + i}`, value: `v${from + i}` })).join('\n') + '\n';
}

function count(file: string): number {
  const s = KVStore.open(file, { readOnly: true });
  try {
    return s.count;
  } finally {
    s.close();
  }
}

describe('pmem kv import: its input', () => {
  test('a stdin open only for writing exits 3 with one line, and makes no store', () => {
    const f = tmpFile('wronly-stdin.kv');
    const sink = tmpFile('wronly-stdin.txt');
    const fd = fs.openSync(sink, 'w');
    try {
      fails(pmem(['kv', f, 'import', '-'], { stdio: [fd, 'pipe', 'pipe'] }), EXIT.CANNOT_USE, 'cannot read stdin: bad file descriptor (EBADF)');
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.existsSync(f)).toBe(false);
    // Into an existing store: it is left as it was.
    expect(pmem(['kv', f, 'put', 'a', '1']).code).toBe(0);
    const before = fs.readFileSync(f);
    const again = fs.openSync(sink, 'w');
    try {
      fails(pmem(['kv', f, 'import', '-'], { stdio: [again, 'pipe', 'pipe'] }), EXIT.CANNOT_USE, 'cannot read stdin');
    } finally {
      fs.closeSync(again);
    }
    expect(fs.readFileSync(f).equals(before)).toBe(true);
  });

  test('the store itself, named or as stdin, is refused (exit 3) and left as it was', () => {
    // An empty file is a store to be made: it was made, then read as the input.
    const empty = tmpFile('self-empty.kv');
    fs.writeFileSync(empty, '');
    fails(pmem(['kv', empty, 'import', empty]), EXIT.CANNOT_USE, `${empty} is the store itself`);
    expect(fs.statSync(empty).size).toBe(0);
    const fd = fs.openSync(empty, 'r');
    try {
      fails(pmem(['kv', empty, 'import', '-'], { stdio: [fd, 'pipe', 'pipe'] }), EXIT.CANNOT_USE, 'stdin is the store itself');
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.statSync(empty).size).toBe(0);
    // A store, by another name for the same file.
    const f = tmpFile('self.kv');
    expect(pmem(['kv', f, 'put', 'a', '1']).code).toBe(0);
    const link = `${f}.link`;
    fs.linkSync(f, link);
    const before = fs.readFileSync(f);
    fails(pmem(['kv', f, 'import', link]), EXIT.CANNOT_USE, `${link} is the store itself`);
    const in2 = fs.openSync(f, 'r');
    try {
      fails(pmem(['kv', f, 'import', '-'], { stdio: [in2, 'pipe', 'pipe'] }), EXIT.CANNOT_USE, 'stdin is the store itself');
    } finally {
      fs.closeSync(in2);
    }
    expect(fs.readFileSync(f).equals(before)).toBe(true);
    fs.rmSync(link);
  });
});

/**
 * Runs the command in this process (lib/cli/main.ts, not dist/), so that a
 * test can act between its steps; resolves to its exit code and stderr.
 */
async function inProcess(argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  try {
    const code = await main(argv, new Out({ write: () => true, errored: null } as unknown as NodeJS.WriteStream));
    return { code, err };
  } finally {
    spy.mockRestore();
  }
}

describe('pmem kv put that fails: only a store it created itself is undone', () => {
  afterEach(() => jest.restoreAllMocks());

  test('a store another writer made and wrote after the put looked at the file stays, with its acknowledged key', async () => {
    for (const found of ['missing', 'empty'] as const) {
      const f = tmpFile(`raced-${found}.kv`);
      if (found === 'empty') fs.writeFileSync(f, '');
      const real = KVStore.open.bind(KVStore);
      let raced = 0;
      // The other writer runs between the command's look at the file (which
      // found it missing or empty) and its open: it makes a small store and
      // has a put acknowledged. The command then opens that store, and its
      // put fails (the value does not fit: ERR_PMEM_NO_SPACE).
      jest.spyOn(KVStore, 'open').mockImplementation((file, o) => {
        if (raced++ === 0) {
          const other = real(file, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
          other.put('important', 'data');
          other.close();
        }
        return real(file, o);
      });
      const r = await inProcess(['kv', f, 'put', 'k', 'x'.repeat(2 << 20)]);
      jest.restoreAllMocks();
      expect(raced).toBe(1);
      expect(r).toEqual({ code: EXIT.CANNOT_USE, err: expect.stringMatching(/^pmem: .*ERR_PMEM_NO_SPACE.*\n$/) });
      expect(fs.statSync(f).size).toBe(1 << 20);
      expect(pmem(['kv', f, 'get', 'important'])).toEqual({ code: 0, out: ['data'], err: [] });
    }
  });

  test('a store the put created itself goes when the put fails: the path is missing, or empty, again', async () => {
    for (const found of ['missing', 'empty'] as const) {
      const f = tmpFile(`own-${found}.kv`);
      if (found === 'empty') fs.writeFileSync(f, '');
      // 15 MiB into a new 16 MiB store that keeps two 4 MiB segments free.
      const r = await inProcess(['kv', f, 'put', 'k', 'x'.repeat(15 << 20), '--size', '16M']);
      expect(r).toEqual({ code: EXIT.CANNOT_USE, err: expect.stringMatching(/^pmem: .*ERR_PMEM_NO_SPACE.*\n$/) });
      if (found === 'missing') expect(fs.existsSync(f)).toBe(false);
      else expect(fs.statSync(f).size).toBe(0);
    }
  });

  test('abandon() of a store this open did not create only closes it', () => {
    const f = tmpFile('abandon-found.kv');
    const made = KVStore.open(f, { create: true, size: 1 << 20, segmentSize: 64 * 1024 });
    made.put('important', 'data');
    made.close();
    const found = KVStore.open(f, { create: true });
    expect(found.abandon()).toBe(false);
    expect(found.closed).toBe(true);
    expect(count(f)).toBe(1);
  });

  test('a key or value no store can take is refused before the file is looked at: nothing is created, an empty file keeps its inode', async () => {
    const dir = tmpFile('put-too-long');
    fs.mkdirSync(dir);
    const missing = path.join(dir, 'missing.kv');
    const empty = path.join(dir, 'empty.kv');
    fs.writeFileSync(empty, '');
    const ino = fs.statSync(empty).ino;
    for (const f of [missing, empty]) {
      fails(pmem(['kv', f, 'put', 'k'.repeat(4097), 'v']), EXIT.USAGE, 'kv put: the key is 4097 bytes; the limit is 4096');
      // Four bytes a character: 1025 of them are 4100 bytes.
      fails(pmem(['kv', f, 'put', '\u{1F600}'.repeat(1025), 'v']), EXIT.USAGE, 'the key is 4100 bytes');
      // A value past 64 MiB cannot be on a command line (an argument is at
      // most 128 KiB): given in this process.
      expect(await inProcess(['kv', f, 'put', 'k', 'x'.repeat(64 * 1024 * 1024 + 1)]))
        .toEqual({ code: EXIT.USAGE, err: 'pmem: kv put: the value is 67108865 bytes; the limit is 67108864\n' });
    }
    expect(fs.readdirSync(dir)).toEqual(['empty.kv']);
    // The same file, never replaced by a store that was then emptied again.
    expect(fs.statSync(empty)).toMatchObject({ ino, size: 0 });
  });
});

describe('pmem kv import: SIGINT and SIGTERM', () => {
  let cleanup: (() => void) | null = null;
  afterEach(() => {
    cleanup?.();
    cleanup = null;
  });

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    test(`${signal} during an import from a pipe: every record read before it is imported and durable, said in one line, exit ${code}`, async () => {
      const f = tmpFile(`signal-${signal}.kv`);
      const child = spawn(BIN, ['kv', f, 'import', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
      cleanup = () => child.kill('SIGKILL');
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // 1500 records: a batch of 1000 is written at once, 500 wait for more.
      child.stdin.write(jsonl(1500));
      // The first batch is in the store, and the pipe is still open: the
      // import is under way, waiting for more lines, when the signal lands.
      for (;;) {
        let n = 0;
        try {
          n = count(f);
        } catch {
          // not made yet
        }
        if (n > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill(signal);
      const [exit, killedBy] = await once(child, 'close');
      child.stdin.destroy();
      expect({ exit, killedBy, out, err }).toEqual({ exit: code, killedBy: null, out: '', err: `pmem: interrupted by ${signal}; 1500 records were imported\n` });
      expect(count(f)).toBe(1500);
      expect(pmem(['check', f]).code).toBe(EXIT.OK);
      expect(pmem(['kv', f, 'get', 'k1499']).out).toEqual(['v1499']);
    });
  }
});

test('SIGINT while a regular file is checked, before the import: nothing imported, the store not opened, exit 130', async () => {
  // In this process: the handler the import installs is called as the
  // signal would call it, the other listeners (jest's) left out.
  const stream = new PassThrough();
  stream.write(jsonl(10));
  const before = process.listeners('SIGINT');
  let opened = false;
  const done = importLines({ name: 'in.jsonl', regular: true, size: 0, open: () => stream, close: () => {} }, () => {
    opened = true;
    throw new Error('the store was opened');
  }).then(() => null, (e: unknown) => e);
  const ours = process.listeners('SIGINT').filter((l) => !before.includes(l));
  expect(ours).toHaveLength(1);
  // The check has read what was written, and waits for more.
  while (stream.readableLength > 0) await new Promise((r) => setImmediate(r));
  (ours[0] as () => void)();
  const e = await done;
  expect(e).toBeInstanceOf(Fail);
  expect({ exit: (e as Fail).exit, message: (e as Fail).message, opened }).toEqual({ exit: 130, message: 'interrupted by SIGINT; nothing was imported', opened: false });
  // The handlers are gone with the import.
  expect(process.listeners('SIGINT')).toEqual(before);
});

describe('options of kv commands given to info, check, help and --version', () => {
  test('are a usage error (exit 2) naming them, and nothing is read or checked', () => {
    const f = tmpFile('options-elsewhere.kv');
    expect(pmem(['kv', f, 'put', 'user:1', 'a']).code).toBe(EXIT.OK);
    const before = fs.readFileSync(f);
    fails(pmem(['check', f, '--prefix', 'user:']), EXIT.USAGE, 'pmem: --prefix applies only to kv commands, not to check');
    fails(pmem(['check', f, '--limit', '1']), EXIT.USAGE, 'pmem: --limit applies only to kv commands, not to check');
    fails(pmem(['info', f, '--size', '1M', '--max-size', '4G']), EXIT.USAGE, 'pmem: --size, --max-size apply only to kv commands, not to info');
    fails(pmem(['--version', '--size', '1M']), EXIT.USAGE, 'pmem: --size applies only to kv commands, not to --version');
    fails(pmem(['help', '--limit', '5']), EXIT.USAGE, 'pmem: --limit applies only to kv commands, not to help');
    fails(pmem(['kv', '--help', '--max-size', '1G']), EXIT.USAGE, 'pmem: --max-size applies only to kv commands, not to help');
    expect(fs.readFileSync(f).equals(before)).toBe(true);
    // Without them, as before.
    expect(pmem(['check', f]).code).toBe(EXIT.OK);
    expect(pmem(['--version']).code).toBe(EXIT.OK);
  });
});

describe('pmem sort: options that do not go together', () => {
  let cleanup: (() => void) | null = null;
  afterEach(() => {
    cleanup?.();
    cleanup = null;
  });

  test('text options with --record-size, binary ones without: exit 2, one line naming the options, nothing made', () => {
    const dir = tmpFile('sort-combos');
    fs.mkdirSync(dir);
    const input = path.join(dir, 'in.txt');
    fs.writeFileSync(input, 'b\na\n');
    const output = path.join(dir, 'out.txt');
    for (const [args, text] of [
      [['-k', '1', '--record-size', '2'], '-k, -t and -n apply to text records, not to --record-size'],
      [['-n', '--record-size', '2'], '-k, -t and -n apply to text records, not to --record-size'],
      [['-t', ':', '--record-size', '2'], '-k, -t and -n apply to text records, not to --record-size'],
      [['--key-offset', '1'], '--key-offset and --key-length apply to binary records (--record-size)'],
      [['--key-length', '1'], '--key-offset and --key-length apply to binary records (--record-size)'],
      [['--record-size', '2', '--key-length', '0'], '--key-length must be at least 1'],
      [['--parallel', '0'], '--parallel must be at least 1, got 0'],
      [['--record-size', '0'], '--record-size must be at least 1, got 0'],
      [['-k', '0'], "-k: field and character numbers start at 1, got '0'"],
      [['-k2.0'], "-k: field and character numbers start at 1, got '2.0'"],
      [['-k', '1.1.1'], "-k: a key is F[.C][,F[.C]] (fields and characters from 1), got '1.1.1'"],
      [['-k', ''], "-k: a key is F[.C][,F[.C]] (fields and characters from 1), got ''"],
      [['--parallel', '9'], '--parallel must be 1..8, got 9'],
      [['-S', '1K'], '-S must be 65536..4294967296 bytes, got 1024'],
      [['--memory', '1K'], '--memory must be 65536..4294967296 bytes, got 1024'],
      [['--parallel', '9007199254740993'], "--parallel takes a whole number up to 9007199254740991, got '9007199254740993'"],
      [['--record-size', '99999999999999999999'], "--record-size takes a whole number up to 9007199254740991, got '99999999999999999999'"],
    ] as const) {
      fails(pmem(['sort', input, '-o', output, ...args]), EXIT.USAGE, text);
      expect(fs.readdirSync(dir)).toEqual(['in.txt']);
    }
  });

  test('from stdin: refused before stdin is read (a writer that never closes it is not waited for)', async () => {
    const dir = tmpFile('sort-combos-stdin');
    fs.mkdirSync(dir);
    const child = spawn(BIN, ['sort', '-', '-o', path.join(dir, 'out.txt'), '-k', '1', '--record-size', '2'], { stdio: ['pipe', 'pipe', 'pipe'] });
    cleanup = () => child.kill('SIGKILL');
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.write('b\na\n'); // and never ended
    const [code] = await once(child, 'close');
    child.stdin.destroy();
    expect({ code, err }).toEqual({ code: EXIT.USAGE, err: 'pmem: -k, -t and -n apply to text records, not to --record-size\n' });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('--pmem naming the output: exit 2, and no directory nor partial output made there', () => {
    const dir = tmpFile('sort-pmem-output');
    fs.mkdirSync(dir);
    const input = path.join(dir, 'in.txt');
    fs.writeFileSync(input, 'b\na\n');
    const output = path.join(dir, 'out.txt');
    for (const pmemDir of [output, path.join(dir, '.', 'out.txt'), path.relative(process.cwd(), output)]) {
      fails(pmem(['sort', input, '-o', output, '--pmem', pmemDir]), EXIT.USAGE, `--pmem ${pmemDir} is the output`);
      expect(fs.readdirSync(dir)).toEqual(['in.txt']);
    }
  });
});

describe('pmem serve and pmem replica: one file given for two', () => {
  test('--journal naming the store, --store naming the journal: exit 2, and nothing made', () => {
    const dir = tmpFile('one-file-two');
    fs.mkdirSync(dir);
    const f = path.join(dir, 's.kv');
    // A timeout: a server that did start would never exit on its own.
    const opts = { timeout: 60_000 };
    for (const journal of [f, path.join(dir, '.', 's.kv')]) {
      fails(pmem(['serve', '--port', '0', '--file', f, '--journal', journal, '--replica', '127.0.0.1:1'], opts), EXIT.USAGE, `--journal ${journal} is the store's file`);
    }
    const sub = path.join(dir, 'sub');
    fails(pmem(['serve', '--port', '0', '--dir', sub, '--journal', path.join(sub, 'serve.kv'), '--replica', '127.0.0.1:1'], opts), EXIT.USAGE, "is the store's file");
    fails(pmem(['replica', '--listen', '0', '--file', f, '--store', f, '--create'], opts), EXIT.USAGE, `--store ${f} is the journal`);
    // A symbolic link to a file not made yet names that file.
    const ahead = path.join(dir, 'ahead.kv');
    fs.symlinkSync(f, ahead);
    fails(pmem(['replica', '--listen', '0', '--file', f, '--store', ahead, '--create'], opts), EXIT.USAGE, `--store ${ahead} is the journal`);
    fails(pmem(['serve', '--port', '0', '--file', ahead, '--journal', f, '--replica', '127.0.0.1:1'], opts), EXIT.USAGE, `--journal ${f} is the store's file`);
    fs.rmSync(ahead);
    expect(fs.readdirSync(dir)).toEqual([]);
    // The same file by two names: a hard link to a store.
    expect(pmem(['kv', f, 'put', 'a', '1']).code).toBe(0);
    const link = path.join(dir, 'link.kv');
    fs.linkSync(f, link);
    const before = fs.readFileSync(f);
    fails(pmem(['replica', '--listen', '0', '--file', link, '--store', f], opts), EXIT.USAGE, 'is the journal');
    fails(pmem(['serve', '--port', '0', '--file', f, '--journal', link, '--replica', '127.0.0.1:1'], opts), EXIT.USAGE, "is the store's file");
    expect(fs.readdirSync(dir).sort()).toEqual(['link.kv', 's.kv']);
    expect(fs.readFileSync(f).equals(before)).toBe(true);
  });
});

describe('pmem serve --replica and pmem replica --size: numbers out of range', () => {
  test('a --replica address without a port in 1..65535, or given twice: exit 2 naming --replica, and no store made', () => {
    const dir = tmpFile('replica-address');
    fs.mkdirSync(dir);
    const f = path.join(dir, 's.kv');
    const opts = { timeout: 60_000 };
    const serve = (...replicas: string[]): Result =>
      pmem(['serve', '--port', '0', '--file', f, ...replicas.flatMap((r) => ['--replica', r])], opts);
    fails(serve('127.0.0.1:0'), EXIT.USAGE, '--replica: port 0 is outside 1..65535');
    fails(serve('127.0.0.1:65536'), EXIT.USAGE, '--replica: port 65536 is outside 1..65535');
    // Six digits, no port, no host: not host:port at all (it was exit 70, a TypeError's stack).
    fails(serve('127.0.0.1:099999'), EXIT.USAGE, "--replica must be 'host:port', got '127.0.0.1:099999'");
    fails(serve('localhost'), EXIT.USAGE, "--replica must be 'host:port', got 'localhost'");
    fails(serve(''), EXIT.USAGE, "--replica must be 'host:port', got ''");
    fails(serve('127.0.0.1:7000', '127.0.0.1:7000'), EXIT.USAGE, '--replica 127.0.0.1:7000 is given twice');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('replica --size below a journal\'s least: exit 2 naming --size, and no journal made', () => {
    const dir = tmpFile('replica-size');
    fs.mkdirSync(dir);
    const j = path.join(dir, 'b.journal');
    for (const size of ['1', '4K']) {
      fails(pmem(['replica', '--listen', '0', '--file', j, '--create', '--size', size], { timeout: 60_000 }), EXIT.USAGE, '--size must be ');
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('--help beside the options of serve, replica and sort', () => {
  test("prints the command's help (exit 0), not an unknown option of the common parser", () => {
    for (const [args, first] of [
      [['serve', '--file', 'x.kv', '--help'], 'pmem serve '],
      [['serve', '--port', '0', '-h'], 'pmem serve '],
      [['replica', 'promote', '--file', 'x.journal', '-h'], 'pmem replica '],
      [['replica', '--listen', '0', '--help'], 'pmem replica '],
      [['sort', 'in.txt', '--pmem', 'dir', '--help'], 'pmem sort '],
    ] as const) {
      const r = pmem([...args]);
      expect({ code: r.code, err: r.err }).toEqual({ code: EXIT.OK, err: [] });
      expect(r.out[0].startsWith(first)).toBe(true);
    }
    // After --, sort takes -h as a file name.
    fails(pmem(['sort', '--', '-h']), EXIT.CANNOT_USE, 'cannot read -h');
  });

  test('sort -k with a number past 2^53: exit 2, naming -k', () => {
    const input = tmpFile('k-huge.txt');
    fs.writeFileSync(input, 'b\na\n');
    fails(pmem(['sort', input, '-o', tmpFile('k-huge.out'), '-k', '1.99999999999999999999']), EXIT.USAGE, "-k: field and character numbers are at most 9007199254740991, got '1.99999999999999999999'");
  });
});

test('a progress bar of work that stopped short ends its line where it stopped, not at 100%', () => {
  const writes: string[] = [];
  const tty = { isTTY: true, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream;
  const bar = new Progress('work', 8, tty);
  bar.tick(4);
  bar.stop();
  expect(writes[writes.length - 1]).toBe(`\rwork [${'#'.repeat(15)}${'-'.repeat(15)}]  50% 4/8\n`);
  const n = writes.length;
  bar.finish(); // the failure's path may reach it too: nothing more is drawn
  bar.stop();
  expect(writes.length).toBe(n);
  const done = new Progress('work', 8, tty);
  done.tick(8);
  done.finish();
  const m = writes.length;
  done.stop();
  expect(writes.length).toBe(m);
});

describe('npm start (the demo) where it cannot run', () => {
  /** Runs dist/cli/demo.js, as `npm start` does, with PMEM_DIR set to `dir`. */
  const demo = (dir: string): Result => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'demo.js')], { encoding: 'utf8', env: { ...process.env, PMEM_DIR: dir } });
    return { code: r.status, out: lines(r.stdout), err: lines(r.stderr) };
  };

  test('a demo.kv that is no store: exit 3 with one line, and the file left as it was', () => {
    const dir = tmpFile('demo-foreign');
    fs.mkdirSync(dir);
    const f = path.join(dir, 'demo.kv');
    fs.writeFileSync(f, 'my notes\n');
    fails(demo(dir), EXIT.CANNOT_USE, `ERR_PMEM_NOT_A_STORE: '${f}' is not a KV store: it holds text`);
    expect(fs.readFileSync(f, 'utf8')).toBe('my notes\n');
    expect(fs.readdirSync(dir)).toEqual(['demo.kv']);
  });

  test('PMEM_DIR naming a regular file, or a path below one: exit 3 with one line, and the file left as it was', () => {
    const file = tmpFile('demo-dir-is-a-file');
    fs.writeFileSync(file, 'x');
    fails(demo(file), EXIT.CANNOT_USE, `${file} is not a directory`);
    fails(demo(path.join(file, 'sub')), EXIT.CANNOT_USE, 'a part of its path is not a directory');
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  test('a store another process holds: exit 3 (ERR_PMEM_LOCKED) with one line, and the store left as it was', () => {
    const dir = tmpFile('demo-locked');
    fs.mkdirSync(dir);
    const f = path.join(dir, 'demo.kv');
    // This process is the other writer: it holds the store's lock while the demo runs.
    const held = KVStore.open(f, { create: true, size: 16 << 20 });
    try {
      held.put('mine', '1');
      fails(demo(dir), EXIT.CANNOT_USE, 'ERR_PMEM_LOCKED');
      expect(held.count).toBe(1);
    } finally {
      held.close();
    }
    expect(count(f)).toBe(1);
  });
});
