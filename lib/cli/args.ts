// The `pmem` command's arguments and help texts.
import * as fs from 'node:fs';

import { MAX_FILE } from '../kv/format';
import { usage } from './exit';
import { REPLICA_HELP, SERVE_HELP, SORT_HELP } from './help';
import { escapeText } from './text';

export const USAGE = `usage: pmem <command> [options] [--] <arguments>

commands:
  pmem kv <file> put <key> <value>     store a value; creates the store if missing
  pmem kv <file> get <key>             print a value (exit 1 if the key is missing)
  pmem kv <file> del <key>             delete a key; print true, or false (exit 1) if it was missing
  pmem kv <file> has <key>             print true, or false (exit 1)
  pmem kv <file> scan                  key<TAB>value per line, in key order, escaped
  pmem kv <file> export                {"key": ..., "value": ...} per line, in key order
  pmem kv <file> import <jsonl | ->    lines as export writes them; creates the store if missing
  pmem kv <file> count | stats | compact
  pmem serve [options]                 a Redis-protocol server (pmem help serve)
  pmem replica --listen PORT --file F  a backup of a replicated journal (pmem help replica)
  pmem replica promote --file F        make a stopped backup's journal a primary's
  pmem info <file>                     what the file is, its format, its mount's durability
  pmem check <file>                    full check of a KV store, a WAL or a libpmemobj pool
  pmem sort [options] <input> [-o out] sort a file larger than memory, resumably
                                       (pmem help sort: -k, -t, -n, -r, -u, -s, ...)
  pmem help [command]                  this text, or one command's

options:
  --json               machine output: one JSON object per line
  --prefix P           scan, export: only keys that start with P
  --limit N            scan, export: at most N entries
  --size SIZE          put, import: bytes of a new store (default 64M); an
                       existing store keeps its size
  --max-size SIZE      put, del, import, compact: let the store grow up to SIZE
                       (default: its current size; at most 4G)
  --                   what follows is not an option (a key that starts with -)
  --version, --help
  A SIZE is a whole number of bytes, or of KiB, MiB or GiB with K, M or G
  (either case): 64M, 1g; at most 4G.

exit codes:
  0   done; check: the file is intact
  1   the key was not found (get, has, del)
  2   usage: a bad command, option or argument, or a bad import line
  3   the file is not what the command needs: missing, not a KV store, a
      directory, locked by another process, no permission, no space;
      also when stdout cannot be written (a full disk), and when the
      native addon does not load (a missing libndctl6), for any command
  4   the file is damaged
  70  a defect in pmem (reported with a stack trace)
  130, 143  import stopped by SIGINT or SIGTERM (it says how many records it imported)
A closed stdout (pmem ... | head) ends the command quietly with the code it
would have had; a closed stderr changes nothing.`;

const KV_HELP: Record<string, string> = {
  put: `pmem kv <file> put <key> <value> [--size SIZE] [--max-size SIZE]
  Stores value under key, durable when the command returns. Creates the
  store if the file is missing or empty (--size bytes, default 64M). A store
  grows online up to --max-size (default: its current size), else a full
  store exits 3.`,
  get: `pmem kv <file> get <key> [--json]
  Prints the value's bytes as they are, then a newline, or exits 1 if there
  is no such key (saying so on stderr, the key escaped as scan prints it).`,
  del: `pmem kv <file> del <key> [--json] [--max-size SIZE]
  Deletes key, durable when the command returns. Prints true, or false and
  exits 1 if the key was not there.`,
  has: `pmem kv <file> has <key> [--json]
  Prints true, or false and exits 1.`,
  scan: `pmem kv <file> scan [--prefix P] [--limit N] [--json]
  Prints key<TAB>value per line, in key order (with --json, one object per
  line as export writes it). A backslash, tab, newline and carriage return
  print as \\\\, \\t, \\n and \\r, other control characters and bytes that are
  not UTF-8 as \\xHH: one line per entry, and no two entries alike. A prefix
  that is not UTF-8 is refused (exit 2): the command line cannot carry its
  bytes.`,
  export: `pmem kv <file> export [--prefix P] [--limit N]
  Prints {"key": ..., "value": ...} per line in key order; a key or value that
  is not valid UTF-8 is written as "keyBase64" or "valueBase64". import reads
  these lines back to the same bytes.`,
  import: `pmem kv <file> import <jsonl | -> [--size SIZE] [--max-size SIZE] [--json]
  Reads {"key": "...", "value": "..."} (or "keyBase64", "valueBase64") per line from a file,
  a pipe, or stdin (-), streaming: memory does not grow with the input. Base64
  is as encoders write it, padded or not; one that names no bytes exactly (a
  lone "A", bits set past the last byte) is a bad line. Blank
  lines are skipped. Records are written in atomic batches, each durable when
  written. The input is checked (it exists, is a file or a pipe, is readable,
  is not the store itself) before the store is created. A bad line is
  reported with its number and exits 2:
  - from a regular file, every line is checked before anything is written, so
    a bad line leaves the store as it was (and creates none); the bytes
    checked are the bytes imported (lines appended to the file meanwhile, or
    a file renamed over its name, are not);
  - from a pipe or stdin, the store is created first and lines are imported
    as they arrive: every record before the bad line is imported and durable,
    none from it on.
  A store that fills up (exit 3) keeps every record before the line named.
  SIGINT or SIGTERM stops it: the records read before the signal are
  imported and durable, it says how many, and exits 130 or 143.`,
  count: `pmem kv <file> count [--json]
  Prints the number of keys.`,
  stats: `pmem kv <file> stats [--json]
  Prints the store's statistics: keys, segments, live and dead bytes, recovery.`,
  compact: `pmem kv <file> compact [--json] [--max-size SIZE]
  Rewrites live records out of mostly dead segments and frees those segments.`,
};

const HELP: Record<string, string> = {
  kv: `pmem kv <file> <put|get|del|has|scan|export|import|count|stats|compact> ...
  A KV store. Reads open the store read-only; writes take the store's writer
  lock, so they exit 3 (ERR_PMEM_LOCKED) while another process writes it.
  A file that is not a KV store exits 3 and is left as it is.

${Object.values(KV_HELP).join('\n\n')}`,
  ...KV_HELP,
  info: `pmem info <file> [--json]
  Says what the file is (kv, wal, objpool, a device-DAX device, or a plain
  file), its format version, its mount and how stores to it become durable.
  For a KV store, also the file length it records and whether the file has
  it (lengthCheck: ok, short, not recorded, unreadable); a short store is
  refused by every open. Exits 3 for a missing file or a directory.`,
  check: `pmem check <file> [--json]
  Reads every record of a KV store or a WAL, or runs pmemobj_check on a
  libpmemobj pool. Exits 0 if intact (a torn tail left by an interrupted
  write is noted, not an error), 4 if damaged, 3 for any other file.`,
  sort: SORT_HELP,
  serve: SERVE_HELP,
  replica: REPLICA_HELP,
  help: `pmem help [command]
  The usage, or one command's: pmem help import.`,
};

/** Help for `topic`, or undefined for an unknown one. */
export function helpFor(topic: string | undefined): string | undefined {
  return topic === undefined ? USAGE : HELP[topic];
}

export interface Parsed {
  args: string[];
  json: boolean;
  help: boolean;
  version: boolean;
  prefix?: string;
  limit?: number;
  size?: number;
  maxSize?: number;
}

const TAKES_VALUE = new Set(['--prefix', '--limit', '--size', '--max-size']);

/** Options anywhere before `--`; `--name=value` or `--name value`. */
export function parse(argv: string[]): Parsed {
  const p: Parsed = { args: [], json: false, help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      p.args.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h' || a === '--help') {
      p.help = true;
      continue;
    }
    if (!a.startsWith('--')) {
      p.args.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    let v: string | undefined;
    if (TAKES_VALUE.has(name)) {
      if (eq >= 0) v = a.slice(eq + 1);
      else if (++i < argv.length) v = argv[i];
      else throw usage(`${name} needs a value`);
    } else if (eq >= 0) throw usage(`${name} takes no value`);
    switch (name) {
      case '--json': p.json = true; break;
      case '--version': p.version = true; break;
      case '--prefix': p.prefix = v; break;
      case '--limit': p.limit = wholeNumber(v as string, name); break;
      case '--size': p.size = bytes(v as string, name); break;
      case '--max-size': p.maxSize = bytes(v as string, name); break;
      default: throw usage(`unknown option ${name}`);
    }
  }
  return p;
}

/** A whole number from `lo` to `hi`, as the commands' numeric options take them (ports, counts, milliseconds). @throws a usage Fail */
export function wholeNumberIn(s: string, name: string, lo: number, hi: number, what = 'a whole number'): number {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!(n >= lo && n <= hi)) throw usage(`${name} takes ${what} from ${lo} to ${hi}, got '${s}'`);
  return n;
}

/**
 * A whole number of digits only, up to 2^53 - 1 (past it a number no
 * longer counts by one), as `--limit` and sort's counts take them.
 * @throws a usage Fail that says the bound when the digits pass it
 */
export function wholeNumber(s: string, name: string): number {
  if (!/^\d+$/.test(s)) throw usage(`${name} takes a whole number, got '${s}'`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw usage(`${name} takes a whole number up to ${Number.MAX_SAFE_INTEGER}, got '${s}'`);
  return n;
}

const UNIT: Record<string, number> = { '': 1, K: 1024, M: 1024 * 1024, G: 1024 * 1024 * 1024 };

/** A positive size: digits with an optional K, M or G (KiB, MiB, GiB); at most 4G. */
export function bytes(s: string, name: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (m === null) throw usage(`${name} takes a size like 67108864, 64M or 1G, got '${s}'`);
  const n = Number(m[1]) * UNIT[m[2].toUpperCase()];
  if (!(n > 0)) throw usage(`${name} must be more than 0, got '${s}'`);
  if (n > MAX_FILE) throw usage(`${name} must be at most 4G, got '${s}'`);
  return n;
}

/** The command line's arguments that were not valid UTF-8, as Node decoded them, to their bytes as typed; null where /proc cannot tell. Read once. */
let lostArgs: Map<string, Buffer> | null | undefined;

/**
 * Whether `a`, an argument or an option's value, lost bytes on the way in.
 * Node decodes the command line as UTF-8, and bytes that are not UTF-8
 * become U+FFFD, so that two different names would become one. `a` lost
 * bytes when it holds U+FFFD and the argument it came from (as a whole, or
 * after `-o` or `--name=`) was not UTF-8 as typed: its raw bytes are read
 * from /proc/self/cmdline, where Linux has it; without it, any U+FFFD may
 * have been bytes. U+FFFD typed as UTF-8 is a character like any other.
 */
export function lostBytes(a: string): boolean {
  return a.includes('\uFFFD') && (typedBytes(a) !== undefined || lostArgs === null);
}

/** The bytes `a` was typed as, when it lost some (lostBytes) and /proc/self/cmdline tells them. */
export function typedBytes(a: string): Buffer | undefined {
  if (lostArgs === undefined) {
    try {
      lostArgs = new Map();
      for (const raw of fs.readFileSync('/proc/self/cmdline').toString('latin1').split('\0')) {
        const b = Buffer.from(raw, 'latin1');
        const text = b.toString('utf8');
        if (!Buffer.from(text, 'utf8').equals(b)) lostArgs.set(text, b);
      }
    } catch {
      lostArgs = null;
    }
  }
  if (lostArgs === null) return undefined;
  for (const [t, b] of lostArgs) {
    if (t === a) return b;
    // After `-o` or `--name=`, which are ASCII: the bytes past them.
    const opt = t.slice(0, t.length - a.length);
    if (t.endsWith(a) && /^(-[A-Za-z]|--[a-z-]+=)$/.test(opt)) return b.subarray(opt.length);
  }
  return undefined;
}

/**
 * Refuses a path that lost bytes on the command line (lostBytes): it would
 * name another file, which a command could create, read or overwrite. Every
 * path a command takes is checked before anything is opened or made.
 * @throws a usage Fail
 */
export function refuseLostPath(what: string, p: string | undefined): void {
  if (p !== undefined && lostBytes(p)) {
    // Named by its bytes as typed (\xHH for those that are not UTF-8), where /proc tells them.
    const typed = typedBytes(p);
    throw usage(`${what} ${escapeText(typed ?? Buffer.from(p, 'utf8'))} is not valid UTF-8 as typed: the command line cannot carry its bytes (they became U+FFFD, which would name another file)`);
  }
}
