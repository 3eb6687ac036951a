// `pmem serve`: the RESP server on a KVStore file, in the foreground until
// SIGTERM, SIGINT or SHUTDOWN.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { defaultLocation, EMULATED_BANNER } from '../core/location';
import { makeDirs } from '../core/make-dirs';
import { openMapping } from '../core/mapping';
import { parseAddress } from '../replicate/options';
import { openServer } from '../server/open';
import { refuseLostPath, wholeNumberIn } from './args';
import { sameFile } from '../core/same-file';
import { cannotUse, reasonOf, usage } from './exit';
import { pathText } from './text';
import { inspect, refuseKernelViews } from './inspect';

/** What listen meets on a host, said in one line (exit 3). */
const LISTEN_ERRORS = new Map([
  ['EADDRINUSE', 'the port is in use'],
  ['EADDRNOTAVAIL', 'this host has no such address'],
  ['EACCES', 'permission denied (a port below 1024 needs privileges)'],
  ['ENOTFOUND', 'the host name does not resolve'],
  ['EAI_AGAIN', 'the host name does not resolve now'],
]);

const MODES: Record<string, string> = {
  dax: 'DAX: CLWB+SFENCE reach persistent media (power-fail safe)',
  forced: 'forced: CLWB+SFENCE on DRAM (PMEM_IS_PMEM_FORCE=1; not power-fail safe)',
  msync: 'msync: not pmem, persisted with msync (power-fail safe only on a disk-backed file)',
};

export interface ServeArgs {
  port: number;
  bind: string;
  dir?: string;
  file?: string;
  requirepass?: string;
  databases: number;
  maxSize?: number;
  replicas: string[];
  journal?: string;
  replicaTimeoutMs?: number;
  /** Seconds a client may stay idle before it is closed (Redis's timeout); 0: never. */
  timeout: number;
  enableDebugCommand: 'no' | 'yes' | 'local';
}

const TAKES = new Set(['--port', '--bind', '--dir', '--file', '--requirepass', '--databases', '--max-size', '--replica', '--journal', '--replica-timeout',
  '--enable-debug-command', '--timeout']);

/** The options whose value may not be empty. */
const EMPTY_REFUSED = new Set(['--bind', '--dir', '--file', '--journal', '--requirepass']);

/** The options of `pmem serve`. @throws a usage Fail */
export function parseServe(argv: string[], bytes: (s: string, name: string) => number): ServeArgs {
  const a: ServeArgs = { port: 6379, bind: '127.0.0.1', databases: 16, replicas: [], timeout: 0, enableDebugCommand: 'no' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (!TAKES.has(name)) throw usage(`serve: unknown argument '${arg}'`);
    let v: string;
    if (eq >= 0) v = arg.slice(eq + 1);
    else if (++i < argv.length) v = argv[i];
    else throw usage(`${name} needs a value`);
    const whole = (lo: number, hi: number): number => wholeNumberIn(v, name, lo, hi);
    // An empty value is a mistake, most often a variable that was not set:
    // a path of nothing, an address of nothing (which would listen on every
    // interface), a password of nothing (which would ask for none).
    if (v === '' && EMPTY_REFUSED.has(name)) throw usage(`${name} is an empty string${name === '--requirepass' ? ': leave it out for no password' : ''}`);
    switch (name) {
      case '--port': a.port = whole(0, 65535); break;
      case '--bind': a.bind = v; break;
      case '--dir': a.dir = v; break;
      case '--file': a.file = v; break;
      case '--requirepass': a.requirepass = v; break;
      case '--databases': a.databases = whole(1, 256); break;
      case '--replica':
        // Checked here, not first by openServer: a bad address is a usage
        // error named as typed, found before the store is created.
        try {
          parseAddress(v, name);
        } catch (e) {
          throw usage((e as Error).message);
        }
        if (a.replicas.includes(v)) throw usage(`--replica ${v} is given twice`);
        a.replicas.push(v);
        break;
      case '--journal': a.journal = v; break;
      case '--replica-timeout': a.replicaTimeoutMs = whole(1, 2 ** 31 - 1); break;
      case '--timeout': a.timeout = whole(0, 2147483647); break; // Redis's range for its timeout
      case '--enable-debug-command':
        if (v !== 'no' && v !== 'yes' && v !== 'local') throw usage(`--enable-debug-command takes no, yes or local, got '${v}'`);
        a.enableDebugCommand = v;
        break;
      default: a.maxSize = bytes(v, name);
    }
  }
  if (a.dir !== undefined && a.file !== undefined) throw usage('--dir and --file cannot be combined');
  refuseLostPath('--dir', a.dir);
  refuseLostPath('--file', a.file);
  refuseLostPath('--journal', a.journal);
  if (a.replicas.length === 0 && (a.journal !== undefined || a.replicaTimeoutMs !== undefined)) throw usage('--journal and --replica-timeout need --replica');
  return a;
}

/**
 * The user's --dir, made when it is missing; its parents are not, so that
 * a mistyped path makes no tree of directories.
 * @throws Fail (exit 3) when its parent is missing or it is not a directory
 */
function makeDir(dir: string): void {
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && fs.statSync(dir).isDirectory()) return;
    if (code === 'EEXIST') throw cannotUse(`--dir ${pathText(dir)}: not a directory`);
    if (code === 'ENOENT') throw cannotUse(`--dir ${pathText(dir)}: its parent ${pathText(path.dirname(path.resolve(dir)))} does not exist`);
    throw e;
  }
}

/** Why the server cannot listen on `bind`:`port`, when it is the address (not the store): a port in use, an address this host does not have. */
function cannotListen(e: unknown, port: number, bind: string): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === undefined ? undefined : LISTEN_ERRORS.get(code);
  return why === undefined ? e : cannotUse(`cannot listen on ${bind}:${port}: ${why} (${code})`);
}

/** Listens on `bind`:`port` and closes again. @throws what cannotListen says */
async function tryListen(port: number, bind: string): Promise<void> {
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, bind, () => resolve());
    });
  } catch (e) {
    throw cannotListen(e, port, bind);
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/** Runs the server until it is told to stop. Resolves to the exit code. */
export async function serve(a: ServeArgs): Promise<number> {
  refuseKernelViews([a.file], cannotUse);
  const where = a.file === undefined && a.dir === undefined ? defaultLocation() : undefined;
  const dir = a.dir ?? where?.dir;
  const file = a.file ?? path.join(dir as string, 'serve.kv');
  // One file for both would be taken as the store, then refused as the
  // journal as if another process held it.
  if (a.journal !== undefined && sameFile(a.journal, file)) throw usage(`--journal ${pathText(a.journal)} is the store's file ${pathText(file)}: the journal needs a file of its own`);
  // The address is tried before any directory, store or journal is made,
  // so that a port in use or an address this host does not have leaves
  // none behind. (Taken by another process between this try and the
  // server's listen, it fails the same way below, after the store opened.)
  await tryListen(a.port, a.bind);
  if (where !== undefined) {
    if (where.emulated) console.log(EMULATED_BANNER + '\n');
    try {
      makeDirs(where.dir);
    } catch (e) {
      throw cannotUse(`${pathText(where.dir)} cannot be made: ${reasonOf(e)} (set PMEM_DIR to a directory)`);
    }
  } else if (a.dir !== undefined) {
    makeDir(a.dir);
  }
  // A store is never shrunk: a maximum below an existing store's size would be taken and do nothing.
  if (a.maxSize !== undefined) {
    const i = inspect(file);
    if (i.kind === 'kv' && i.size !== undefined && a.maxSize < i.size) {
      throw usage(`--max-size ${a.maxSize} is below the store's size, ${i.size} bytes: a store never shrinks (it grows up to --max-size, and not at all without it)`);
    }
  }
  const replicated = a.replicas.length > 0;
  const server = await openServer({
    file, requirepass: a.requirepass, databases: a.databases, maxSize: a.maxSize, timeout: a.timeout, enableDebugCommand: a.enableDebugCommand,
    log: (line) => console.log(`pmem serve: ${line}`),
    ...(replicated ? { replicas: a.replicas, journal: a.journal, replicaTimeoutMs: a.replicaTimeoutMs } : {}),
  });
  const probe = openMapping(file, { readOnly: true });
  const mode = process.env.PMEM_IS_PMEM_FORCE === '1' && probe.mode === 'msync' ? 'forced' : probe.mode;
  probe.close();
  let port: number;
  try {
    port = await server.listen(a.port, a.bind);
  } catch (e) {
    await server.close();
    throw cannotListen(e, a.port, a.bind);
  }
  const st = server.store.stats();
  console.log(`address:     ${a.bind}:${port}`);
  console.log(`store:       ${pathText(path.resolve(file))} (${server.store.count} records, recovered in ${st.recovery.ms.toFixed(1)} ms)`);
  console.log(`durability:  ${MODES[mode]}; a write's reply is sent after it is durable`);
  if (replicated) console.log(`replicas:    ${a.replicas.join(', ')}; a write's reply waits until every one persisted it (epoch ${server.replication!.journal.epoch})`);
  console.log('ready to accept connections');
  return new Promise((resolve) => {
    const stop = (why: string): void => {
      console.log(`pmem serve: ${why}, closing`);
      void server.close().then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    server.onShutdown = () => {
      console.log('pmem serve: SHUTDOWN, closed');
      resolve(0);
    };
  });
}
