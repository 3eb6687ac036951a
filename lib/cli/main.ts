// The `pmem` command. See `pmem help` and docs/api.md ("The pmem command").
import * as fs from 'node:fs';
import * as path from 'node:path';

import { bytes, helpFor, lostBytes, parse, refuseLostPath, USAGE, type Parsed } from './args';
import { cannotUse, EXIT, exitCodeOf, Fail, messageOf, Out, OutputError, usage } from './exit';
import { importLines, openInput } from './import';
import { PmemError } from '../core/errors';
import { inspect, notStorage, type FileInfo } from './inspect';
import { MAX_KEY, MAX_VALUE } from '../kv/format';
import { KVStore } from '../kv/store';
import { ObjPool } from '../obj/pool';
import { Progress } from './progress';
import { Wal } from '../log/wal';
import { escapeText, jsonKey, jsonValue, pathText } from './text';


const err = (s: string): void => {
  // A closed or full stderr is ignored (run() listens for its 'error'):
  // the exit code stays the command's own.
  process.stderr.write(`pmem: ${s}\n`);
};

/** The commands that read their own options (serve.ts, replica.ts, sort.ts). */
const OWN_PARSER = new Set(['serve', 'replica', 'sort']);

/** Whether `--help` or `-h` comes before any `--` (after which sort takes file names). */
function asksHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** Runs the command; resolves to its exit code. */
export async function main(argv: string[], out: Out = new Out()): Promise<number> {
  let file: string | undefined;
  try {
    // serve, replica and sort load the server, the replication and the sort
    // (most of the library) only when they run: the other commands start
    // without them.
    if (OWN_PARSER.has(argv[0]) && asksHelp(argv)) {
      // Their help, whatever their other options: the common parser does
      // not know them (`pmem serve --file f --help` is no unknown --file).
      out.line(helpFor(argv[0]) as string);
      out.flush();
      return EXIT.OK;
    }
    if (argv[0] === 'serve') {
      // serve has options of its own: they are read by its parser, not the common one.
      const { parseServe, serve } = await import('./serve');
      return await serve(parseServe(argv.slice(1), bytes));
    }
    if (argv[0] === 'replica') {
      const { parseReplica, replica } = await import('./replica');
      return await replica(parseReplica(argv.slice(1), bytes));
    }
    if (argv[0] === 'sort') {
      // Its own parser: GNU sort's single-letter options (-k2,2, -t:, -nr).
      const { sortCommand } = await import('./sort');
      const code = await sortCommand(argv.slice(1), out);
      out.flush();
      return code;
    }
    const p = parse(argv);
    const [cmd, ...rest] = p.args;
    // An option on a command it does not apply to is a usage error: `check
    // --prefix user:` would check the whole store while its caller believed
    // a part was. kv checks its own per command (kv()).
    if (cmd !== 'kv' || p.version || p.help) {
      const given = ([['--prefix', p.prefix], ['--limit', p.limit], ['--size', p.size], ['--max-size', p.maxSize]] as const)
        .filter(([, v]) => v !== undefined).map(([name]) => name);
      if (given.length > 0) {
        const what = p.version ? '--version' : p.help || cmd === 'help' || cmd === undefined ? 'help' : cmd;
        throw usage(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} only to kv commands, not to ${what}`);
      }
    }
    if (p.version) {
      out.line(p.json ? JSON.stringify({ version: version() }) : version());
      out.flush();
      return EXIT.OK;
    }
    if (cmd === 'help' || p.help || cmd === undefined) {
      const topic = cmd === 'help' ? rest[0] : cmd === 'kv' ? rest[1] ?? cmd : cmd;
      const text = helpFor(topic);
      if (text === undefined) throw usage(`no help for '${topic}'`);
      if (cmd === undefined && !p.help) {
        // A bare `pmem` is a usage error: the help goes to stderr.
        process.stderr.write(`${USAGE}\n`);
        return EXIT.USAGE;
      }
      out.line(text);
      out.flush();
      return EXIT.OK;
    }
    file = rest[0];
    if (!['kv', 'info', 'check'].includes(cmd)) throw usage(`unknown command '${cmd}'`);
    if (file === undefined) throw usage(`${cmd} needs a file`);
    if (file === '') throw usage(`${cmd}: the file is an empty string`);
    refuseLostPath(`${cmd}: the file`, file);
    const code = cmd === 'kv' ? await kv(file, rest.slice(1), p, out) : cmd === 'info' ? info(file, rest.slice(1), p, out) : check(file, rest.slice(1), p, out);
    try {
      out.flush();
    } catch (e) {
      // The reader went away after the work was done: the work's code stands.
      if (e instanceof OutputError && exitCodeOf(e) === EXIT.OK) return code;
      throw e;
    }
    return code;
  } catch (e) {
    const code = exitCodeOf(e);
    if (e instanceof OutputError && code === EXIT.OK) return EXIT.OK; // `pmem ... | head`: the reader has what it wanted
    if (code === EXIT.INTERNAL) {
      process.stderr.write(`pmem: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    } else {
      err(messageOf(e, file, argv));
    }
    return code;
  }
}

/** Runs the command in this process: the entry point of bin/pmem. */
export function run(argv: string[]): void {
  // Write errors on stdout are read from stdout.errored (see Out); the
  // 'error' events that follow them, and any on stderr, must not end the
  // process with an uncaught exception.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  // The process exits when the command is done, also while a read of the
  // import's pipe is still pending (a bad line before the writer closed it).
  main(argv).then(
    (code) => exitAfterOutput(code),
    (e) => {
      process.stderr.write(`pmem: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      exitAfterOutput(EXIT.INTERNAL);
    },
  );
}

/**
 * Exits once stdout and stderr have written what they hold. Node writes to
 * a file or a terminal at once, but to a pipe only what its buffer takes
 * (64 KiB): the rest waits for the reader, and process.exit would drop it.
 * A reader gone (EPIPE) ends the wait too.
 */
function exitAfterOutput(code: number): void {
  const streams = [process.stdout, process.stderr].filter((s) => s.writableLength > 0 && !s.destroyed);
  let waiting = streams.length;
  if (waiting === 0) process.exit(code);
  for (const s of streams) {
    s.write('', () => {
      if (--waiting === 0) process.exit(code);
    });
  }
}

function version(): string {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version;
}

/** What `file` is: the one classification info, check and kv use. */
function classify(file: string): FileInfo {
  return inspect(file);
}

const KIND_TEXT: Record<string, string> = {
  kv: 'a KV store',
  wal: 'a WAL',
  objpool: 'a libpmemobj pool',
  cache: 'a tiered cache',
  journal: 'a replicated journal',
  mapping: 'no known format',
  devdax: 'a device-DAX device',
  'not a file': 'not a regular file',
};

/** The file as the reason it cannot be used, e.g. "README.md is not a KV store (no known format)". */
function notA(what: string, i: FileInfo): Fail {
  const file = pathText(i.file);
  if (i.kind === 'missing') return cannotUse(`${file}: no such file`);
  if (i.kind === 'not a file') return cannotUse(`${file} is not a regular file`);
  if (i.kind === 'not storage') return cannotUse(notStorage(i));
  if (i.kind === 'unreadable') return cannotUse(`${file} cannot be read (${i.reason})`);
  const kind = i.size === 0 && i.kind === 'mapping' ? 'an empty file' : KIND_TEXT[i.kind as string] ?? String(i.kind);
  return cannotUse(`${file} is not ${what} (${kind})`);
}

const READS = new Set(['get', 'has', 'scan', 'count', 'stats', 'export']);
const WRITES = new Set(['put', 'del', 'compact', 'import']);
const ARGS: Record<string, number> = { put: 2, get: 1, del: 1, has: 1, import: 1 };

async function kv(file: string, rest: string[], p: Parsed, out: Out): Promise<number> {
  const [op, ...args] = rest;
  if (!READS.has(op) && !WRITES.has(op)) throw usage(`unknown kv command '${op ?? ''}'`);
  const need = ARGS[op] ?? 0;
  if (args.length !== need) throw usage(`kv ${op} takes ${need} argument${need === 1 ? '' : 's'}`);
  if (op !== 'import') refuseLostBytes(op, args);
  else refuseLostPath('kv import: the input', args[0]);
  // A prefix that lost bytes would select the keys that hold U+FFFD there.
  if (p.prefix !== undefined && lostBytes(p.prefix)) {
    throw usage(`kv ${op}: --prefix is not valid UTF-8, and the command line cannot carry its bytes (they would become U+FFFD, and select other keys)`);
  }
  // What no store can take is refused before the file is looked at, so
  // that a put that cannot succeed creates nothing.
  if (op !== 'import' && args.length > 0 && Buffer.byteLength(args[0], 'utf8') > MAX_KEY) {
    throw usage(`kv ${op}: the key is ${Buffer.byteLength(args[0], 'utf8')} bytes; the limit is ${MAX_KEY}`);
  }
  if (op === 'put' && Buffer.byteLength(args[1], 'utf8') > MAX_VALUE) {
    throw usage(`kv put: the value is ${Buffer.byteLength(args[1], 'utf8')} bytes; the limit is ${MAX_VALUE}`);
  }
  const creates = op === 'put' || op === 'import';
  if (p.size !== undefined && !creates) throw usage('--size applies to put and import');
  if (p.maxSize !== undefined && !WRITES.has(op)) throw usage('--max-size applies to put, del, import and compact');
  if ((p.prefix !== undefined || p.limit !== undefined) && op !== 'scan' && op !== 'export') throw usage('--prefix and --limit apply to scan and export');
  const i = classify(file);
  const empty = i.kind === 'mapping' && i.size === 0;
  if (!(i.kind === 'kv' || (creates && (i.kind === 'missing' || empty)))) throw notA('a KV store', i);
  // A store is never shrunk: a maximum below its size would be taken and do nothing.
  if (i.kind === 'kv' && p.maxSize !== undefined && i.size !== undefined && p.maxSize < i.size) {
    throw usage(`--max-size ${p.maxSize} is below the store's size, ${i.size} bytes: a store never shrinks (it grows up to --max-size, and not at all without it)`);
  }
  // The input is checked before the store is created (import); opening a
  // named pipe waits for its writer, so this comes after the cheap check above.
  const input = op === 'import' ? openInput(args[0], file) : undefined;
  // Only a missing or empty file is created (and sized); an existing store
  // keeps its size, which `size` with `create` would otherwise extend.
  const creating = creates && i.kind !== 'kv';
  // A put keeps two of the 4 MiB segments free, so a new store of fewer
  // than three would take none: refused before a file is made.
  const least = 4096 + 3 * 4 * 1024 * 1024;
  if (creating && p.size !== undefined && p.maxSize !== undefined && p.maxSize < p.size) {
    throw usage(`--max-size ${p.maxSize} is below --size ${p.size}: a store never grows past its maximum`);
  }
  if (creating && p.size !== undefined && p.size < least) {
    throw usage(`a store of ${p.size} bytes needs a size of at least ${least} to take a put (a put keeps two 4 MiB segments free)`);
  }
  // Without --size, a new store is 64M, or --max-size when that is less.
  if (creating && p.size === undefined && p.maxSize !== undefined && p.maxSize < least) {
    throw usage(`--max-size ${p.maxSize} makes a new store too small to take a put: it needs at least ${least} bytes (a put keeps two 4 MiB segments free)`);
  }
  const open = (): KVStore => KVStore.open(file, creating ? { create: true, size: p.size, maxSize: p.maxSize }
    : READS.has(op) ? { readOnly: true } : { maxSize: p.maxSize });
  if (input !== undefined) {
    const n = await importLines(input, open);
    out.line(p.json ? JSON.stringify({ imported: n }) : `imported ${n} records`);
    return EXIT.OK;
  }
  const store = open();
  let failed = true;
  try {
    const code = op === 'scan' || op === 'export' ? await scan(store, op, p, out) : kvOp(store, op, args, p, out);
    failed = false;
    return code;
  } finally {
    // A put that failed leaves the path as it found it. Whether the store
    // is this open's own is the open's to say, not what classify saw
    // before it: another process may have made the store in between, and
    // its acknowledged writes must not go with ours. abandon() removes or
    // empties only a file this very open created, under the lock it has
    // held since; any other store is only closed.
    if (failed && op === 'put') store.abandon();
    else store.close();
  }
}

/** Refuses a key or value that lost bytes on the command line (lostBytes): two different keys would name one. */
function refuseLostBytes(op: string, args: string[]): void {
  if (args.some((a) => lostBytes(a))) {
    throw usage(`kv ${op}: an argument is not valid UTF-8, and the command line cannot carry its bytes (they would become U+FFFD); import takes values in base64`);
  }
}

function kvOp(store: KVStore, op: string, args: string[], p: Parsed, out: Out): number {
  switch (op) {
    case 'put':
      store.put(args[0], args[1]);
      out.line(p.json ? JSON.stringify({ ok: true }) : 'ok');
      return EXIT.OK;
    case 'get': {
      const v = store.get(args[0]);
      if (p.json) out.line(JSON.stringify(v === undefined ? { key: args[0], found: false } : { key: args[0], found: true, ...jsonValue(v) }));
      else if (v !== undefined) {
        // The value's bytes as they are, then a line feed: a value that is
        // not UTF-8 is not changed into U+FFFD on the way out.
        out.bytes(v);
        out.line('');
      }
      // Escaped as scan prints keys: a key with a line feed or a terminal
      // control sequence stays one line of text.
      else err(`no key '${escapeText(Buffer.from(args[0], 'utf8'))}'`);
      return v === undefined ? EXIT.NOT_FOUND : EXIT.OK;
    }
    case 'del': {
      const deleted = store.delete(args[0]);
      out.line(p.json ? JSON.stringify({ deleted }) : String(deleted));
      return deleted ? EXIT.OK : EXIT.NOT_FOUND;
    }
    case 'has': {
      const has = store.has(args[0]);
      out.line(p.json ? JSON.stringify({ has }) : String(has));
      return has ? EXIT.OK : EXIT.NOT_FOUND;
    }
    case 'count':
      out.line(p.json ? JSON.stringify({ count: store.count }) : String(store.count));
      return EXIT.OK;
    case 'stats': {
      const s = store.stats();
      if (p.json) out.line(JSON.stringify(s));
      else for (const [k, v] of Object.entries(s)) out.line(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
      return EXIT.OK;
    }
    default: {
      const before = store.stats().deadBytes;
      const bar = new Progress('compact', 1);
      const freed = store.compact();
      bar.finish();
      const after = store.stats().deadBytes;
      out.line(p.json ? JSON.stringify({ segmentsFreed: freed, deadBytesBefore: before, deadBytesAfter: after })
        : `freed ${freed} segments; dead bytes ${before} -> ${after}`);
      return EXIT.OK;
    }
  }
}

/**
 * scan and export: a line per entry, waiting for a reader that is behind
 * (Out.drained) before the next, so that a store larger than memory goes
 * to a pipe at the reader's pace. Nothing else in this process uses the
 * store while it waits.
 */
async function scan(store: KVStore, op: string, p: Parsed, out: Out): Promise<number> {
  for (const [k, v] of store.entries({ prefix: p.prefix, limit: p.limit }) as Iterable<[Buffer, Buffer]>) {
    if (op === 'export' || p.json) out.line(JSON.stringify({ ...jsonKey(k), ...jsonValue(v) }));
    else out.line(`${escapeText(k)}\t${escapeText(v)}`);
    if (out.full) await out.drained();
  }
  return EXIT.OK;
}

function info(file: string, rest: string[], p: Parsed, out: Out): number {
  if (rest.length > 0) throw usage('info takes one file');
  const i = classify(file);
  // Nothing on stdout for what is no file to describe: the error says what it is.
  if (i.kind === 'missing' || i.kind === 'not a file' || i.kind === 'not storage' || i.kind === 'unreadable') throw notA('a file', i);
  if (p.json) out.line(JSON.stringify(i));
  // The paths escaped (file, mount), so that each field stays one line.
  else for (const [k, v] of Object.entries(i)) out.line(`${k}: ${k === 'file' || k === 'mount' ? pathText(v as string) : v}`);
  return EXIT.OK;
}

function check(file: string, rest: string[], p: Parsed, out: Out): number {
  if (rest.length > 0) throw usage('check takes one file');
  const i = classify(file);
  const { kind } = i;
  const report: Record<string, unknown> = { file, kind };
  let summary: string;
  let bar: Progress | undefined;
  if (kind === 'kv') {
    const store = KVStore.open(file, { readOnly: true });
    try {
      // A reader follows a live writer's records as it reads (KVReaderStats):
      // when it replayed any during the scan, the store changed under it,
      // and the scan and the index count are of different moments.
      const moved = (): number => {
        const r = store.stats().reader;
        return r === undefined ? 0 : r.replayed + r.resyncs + r.dropped;
      };
      const before = moved();
      bar = new Progress('check', store.count);
      let n = 0;
      for (const [, v] of store.entries() as Iterable<[Buffer, Buffer]>) {
        if (!(v instanceof Buffer)) throw new PmemError('ERR_PMEM_CORRUPT', 'unreadable value');
        n++;
        if (n % 1024 === 0) bar.tick(1024);
      }
      bar.finish();
      const count = store.count;
      const changed = moved() !== before;
      if (!changed && n !== count) throw new PmemError('ERR_PMEM_CORRUPT', `the index holds ${count} keys, a scan ${n}`);
      Object.assign(report, { keys: n, recovery: store.stats().recovery, ...(changed ? { changedDuringCheck: true } : {}) });
      summary = changed ? `${n} keys read; a writer wrote during the check, so the count (${count}) was not compared` : `${n} keys`;
    } finally {
      bar?.stop(); // damage found: the message starts on a line of its own
      store.close();
    }
  } else if (kind === 'wal') {
    const wal = Wal.open(file, { readOnly: true });
    try {
      bar = new Progress('check', wal.stats.records);
      let n = 0;
      for (const _ of wal.read()) {
        n++;
        bar.tick();
      }
      bar.finish();
      Object.assign(report, { records: n, headLsn: wal.headLsn, nextLsn: wal.nextLsn, recovery: wal.stats.lastRecovery });
      summary = `${n} records`;
    } finally {
      bar?.stop();
      wal.close();
    }
  } else if (kind === 'objpool') {
    // pmemobj_check on the closed pool; any layout is accepted.
    if (!ObjPool.check(file)) throw new Fail(EXIT.CORRUPT, `${pathText(file)}: damaged (pmemobj_check found the pool inconsistent)`);
    summary = 'pmemobj_check passed';
  } else {
    throw notA('a KV store, a WAL or a libpmemobj pool', i);
  }
  report.ok = true;
  if (p.json) out.line(JSON.stringify(report));
  else {
    out.line(`${pathText(file)}: ok (${kind}, ${summary})`);
    const rec = report.recovery as { discardedTail?: boolean; discardedBytes?: number } | undefined;
    if (rec?.discardedTail || (rec?.discardedBytes ?? 0) > 0) {
      out.line('  note: recovery discarded a torn tail (an interrupted write, or damage after the last intact record)');
    }
  }
  return EXIT.OK;
}
