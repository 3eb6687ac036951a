// The `pmem` command. See `pmem --help` and docs/cli.md.
import * as fs from 'node:fs';

import { PmemError } from './errors';
import { KVStore } from './kv';
import { Progress } from './progress';
import { Wal } from './wal';
import { inspect, type FileInfo } from './inspect';

/** Exit codes; documented in docs/cli.md. */
export const EXIT = {
  OK: 0,
  /** `get` of a missing key; `check` found damage. */
  NOT_FOUND_OR_CORRUPT: 1,
  USAGE: 2,
  /** The file could not be opened or is not of a kind the command handles. */
  CANNOT_OPEN: 3,
} as const;

const USAGE = `usage:
  pmem kv <file> put <key> <value>      store a value (creates the file if missing)
  pmem kv <file> get <key>              print a value (exit 1 if missing)
  pmem kv <file> del <key>              delete a key
  pmem kv <file> has <key>              print true or false
  pmem kv <file> scan [--prefix P] [--limit N]
  pmem kv <file> count | stats | compact | export
  pmem kv <file> import <jsonl>         {"key": ..., "value": ...} per line
  pmem info <file>                      what the file is, its format, its mount's durability
  pmem check <file>                     full integrity check of a KV store or a WAL
options: --json (machine output), --help`;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

class UsageError extends Error {}

interface Parsed {
  args: string[];
  json: boolean;
  prefix?: string;
  limit?: number;
}

function parse(argv: string[]): Parsed {
  const p: Parsed = { args: [], json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') p.json = true;
    else if (a === '--prefix') p.prefix = value(argv, ++i, a);
    else if (a === '--limit') {
      const n = Number(value(argv, ++i, a));
      if (!Number.isSafeInteger(n) || n < 0) throw new UsageError('--limit takes a whole number');
      p.limit = n;
    } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else p.args.push(a);
  }
  return p;
}

function value(argv: string[], i: number, name: string): string {
  if (i >= argv.length) throw new UsageError(`${name} needs a value`);
  return argv[i];
}

/** A value as JSON: a string when it is valid UTF-8, else base64. */
function jsonValue(b: Buffer): { value: string } | { valueBase64: string } {
  const s = b.toString('utf8');
  return Buffer.from(s, 'utf8').equals(b) ? { value: s } : { valueBase64: b.toString('base64') };
}

/** Runs the command; returns the exit code. */
export function main(argv: string[], io: Io = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') }): number {
  let p: Parsed;
  try {
    if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
      io.out(USAGE);
      return argv.length === 0 ? EXIT.USAGE : EXIT.OK;
    }
    p = parse(argv);
  } catch (e) {
    io.err(`pmem: ${(e as Error).message}\n${USAGE}`);
    return EXIT.USAGE;
  }
  try {
    const [cmd, file, ...rest] = p.args;
    if (file === undefined) throw new UsageError(`${cmd} needs a file`);
    if (cmd === 'kv') return kv(file, rest, p, io);
    if (cmd === 'info') return info(file, p, io);
    if (cmd === 'check') return check(file, p, io);
    throw new UsageError(`unknown command '${cmd}'`);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`pmem: ${e.message}\n${USAGE}`);
      return EXIT.USAGE;
    }
    if (e instanceof PmemError) {
      io.err(`pmem: ${e.code}: ${e.message}`);
      return e.code === 'ERR_PMEM_CORRUPT' ? EXIT.NOT_FOUND_OR_CORRUPT : EXIT.CANNOT_OPEN;
    }
    if (e instanceof RangeError || e instanceof TypeError) {
      io.err(`pmem: ${e.message}`);
      return EXIT.USAGE;
    }
    throw e;
  }
}

const READS = new Set(['get', 'has', 'scan', 'count', 'stats', 'export']);
const WRITES = new Set(['put', 'del', 'compact', 'import']);

function kv(file: string, rest: string[], p: Parsed, io: Io): number {
  const [op, ...args] = rest;
  if (!READS.has(op) && !WRITES.has(op)) throw new UsageError(`unknown kv command '${op ?? ''}'`);
  const need = { put: 2, get: 1, del: 1, has: 1, import: 1 }[op as string] ?? 0;
  if (args.length !== need) throw new UsageError(`kv ${op} takes ${need} argument${need === 1 ? '' : 's'}`);
  const creates = op === 'put' || op === 'import';
  const store = KVStore.open(file, creates ? { create: true } : { readOnly: READS.has(op) });
  try {
    switch (op) {
      case 'put':
        store.put(args[0], args[1]);
        io.out(p.json ? JSON.stringify({ ok: true }) : 'ok');
        return EXIT.OK;
      case 'get': {
        const v = store.get(args[0]);
        if (p.json) io.out(JSON.stringify(v === undefined ? { key: args[0], found: false } : { key: args[0], found: true, ...jsonValue(v) }));
        else if (v !== undefined) io.out(v.toString('utf8'));
        else io.err(`pmem: no key '${args[0]}'`);
        return v === undefined ? EXIT.NOT_FOUND_OR_CORRUPT : EXIT.OK;
      }
      case 'del': {
        const deleted = store.delete(args[0]);
        io.out(p.json ? JSON.stringify({ deleted }) : String(deleted));
        return EXIT.OK;
      }
      case 'has': {
        const has = store.has(args[0]);
        io.out(p.json ? JSON.stringify({ has }) : String(has));
        return EXIT.OK;
      }
      case 'scan':
      case 'export': {
        const range = op === 'scan' ? { prefix: p.prefix, limit: p.limit } : {};
        for (const [k, v] of store.entries(range) as Iterable<[Buffer, Buffer]>) {
          if (op === 'export' || p.json) io.out(JSON.stringify({ key: k.toString('utf8'), ...jsonValue(v) }));
          else io.out(`${k.toString('utf8')}\t${v.toString('utf8')}`);
        }
        return EXIT.OK;
      }
      case 'count':
        io.out(p.json ? JSON.stringify({ count: store.count }) : String(store.count));
        return EXIT.OK;
      case 'stats': {
        const s = store.stats();
        if (p.json) io.out(JSON.stringify(s));
        else for (const [k, v] of Object.entries(s)) io.out(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
        return EXIT.OK;
      }
      case 'compact': {
        const before = store.stats().deadBytes;
        const bar = new Progress('compact', 1);
        const freed = store.compact();
        bar.finish();
        const after = store.stats().deadBytes;
        io.out(p.json ? JSON.stringify({ segmentsFreed: freed, deadBytesBefore: before, deadBytesAfter: after })
          : `freed ${freed} segments; dead bytes ${before} -> ${after}`);
        return EXIT.OK;
      }
      default:
        return importJsonl(store, args[0], p, io);
    }
  } finally {
    store.close();
  }
}

/** Imports {"key", "value" | "valueBase64"} lines in atomic batches of 1000. */
function importJsonl(store: KVStore, source: string, p: Parsed, io: Io): number {
  const lines = fs.readFileSync(source, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const bar = new Progress('import', lines.length);
  let batch: Array<{ type: 'put'; key: string; value: Buffer | string }> = [];
  const flush = () => {
    store.batch(batch);
    bar.tick(batch.length);
    batch = [];
  };
  lines.forEach((line, i) => {
    let r: { key?: unknown; value?: unknown; valueBase64?: unknown };
    try {
      r = JSON.parse(line);
    } catch {
      throw new UsageError(`${source}:${i + 1}: not JSON`);
    }
    if (typeof r.key !== 'string') throw new UsageError(`${source}:${i + 1}: "key" must be a string`);
    let v: Buffer | string;
    if (typeof r.value === 'string') v = r.value;
    else if (typeof r.valueBase64 === 'string') v = Buffer.from(r.valueBase64, 'base64');
    else throw new UsageError(`${source}:${i + 1}: needs "value" or "valueBase64" as a string`);
    batch.push({ type: 'put', key: r.key, value: v });
    if (batch.length === 1000) flush();
  });
  if (batch.length > 0) flush();
  bar.finish();
  io.out(p.json ? JSON.stringify({ imported: lines.length }) : `imported ${lines.length} records`);
  return EXIT.OK;
}

function info(file: string, p: Parsed, io: Io): number {
  const i: FileInfo = inspect(file);
  if (p.json) io.out(JSON.stringify(i));
  else for (const [k, v] of Object.entries(i)) io.out(`${k}: ${v}`);
  return i.kind === 'missing' || i.kind === 'not a file' ? EXIT.CANNOT_OPEN : EXIT.OK;
}

function check(file: string, p: Parsed, io: Io): number {
  const { kind } = inspect(file);
  const report: Record<string, unknown> = { file, kind };
  if (kind === 'kv') {
    const store = KVStore.open(file, { readOnly: true });
    try {
      const bar = new Progress('check', store.count);
      let n = 0;
      for (const [, v] of store.entries() as Iterable<[Buffer, Buffer]>) {
        if (!(v instanceof Buffer)) throw new PmemError('ERR_PMEM_CORRUPT', 'unreadable value');
        n++;
        if (n % 1024 === 0) bar.tick(1024);
      }
      bar.finish();
      if (n !== store.count) throw new PmemError('ERR_PMEM_CORRUPT', `the index holds ${store.count} keys, a scan ${n}`);
      Object.assign(report, { keys: n, recovery: store.stats().recovery });
    } finally {
      store.close();
    }
  } else if (kind === 'wal') {
    const wal = Wal.open(file, { readOnly: true });
    try {
      const bar = new Progress('check', wal.stats.records);
      let n = 0;
      for (const _ of wal.read()) {
        n++;
        bar.tick();
      }
      bar.finish();
      Object.assign(report, { records: n, headLsn: wal.headLsn, nextLsn: wal.nextLsn, recovery: wal.stats.lastRecovery });
    } finally {
      wal.close();
    }
  } else {
    const what = kind === 'mapping' ? 'a plain file (no known format)' : kind === 'missing' || kind === 'not a file' ? kind : `a ${kind}`;
    io.err(`pmem: ${file} is ${what}; check reads KV stores and WALs`);
    return EXIT.CANNOT_OPEN;
  }
  report.ok = true;
  if (p.json) io.out(JSON.stringify(report));
  else {
    io.out(`${file}: ok (${kind}, ${kind === 'kv' ? `${report.keys} keys` : `${report.records} records`})`);
    const rec = report.recovery as { discardedTail?: boolean; discardedBytes?: number } | undefined;
    if (rec?.discardedTail || (rec?.discardedBytes ?? 0) > 0) {
      io.out('  note: recovery discarded a torn tail (an interrupted write, or damage after the last intact record)');
    }
  }
  return EXIT.OK;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
