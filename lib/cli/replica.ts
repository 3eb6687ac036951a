// `pmem replica`: a backup of a replicated journal, in the foreground until
// SIGTERM or SIGINT; and `pmem replica promote`, which makes a stopped
// backup's file a primary's under a new epoch.
import * as net from 'node:net';
import * as path from 'node:path';

import { checkJournalSize, MAX_TIMEOUT } from '../replicate/options';
import { promoteReplicaFile, refusePromoted, startReplica } from '../replicate/replica';
import { startStoreReplica } from '../replicated/follower';
import { refuseLostPath, wholeNumberIn } from './args';
import { sameFile } from '../core/same-file';
import { cannotUse, usage } from './exit';
import { escapeText, pathText } from './text';
import { inspect, refuseKernelViews } from './inspect';
import { MAX_FILE } from '../kv/format';

export interface ReplicaArgs {
  promote: boolean;
  file: string;
  port: number;
  bind: string;
  create: boolean;
  size: number;
  store?: string;
  /** --max-size: the bytes the backup's store may grow to. */
  maxSize?: number;
  helloTimeoutMs?: number;
}

/** The options of `pmem replica`. @throws a usage Fail */
export function parseReplica(argv: string[], bytes: (s: string, name: string) => number): ReplicaArgs {
  const promote = argv[0] === 'promote';
  const a: Partial<ReplicaArgs> = { promote, bind: '127.0.0.1', create: false, size: 64 * 1024 * 1024 };
  for (let i = promote ? 1 : 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (name === '--create' && eq < 0 && !promote) {
      a.create = true;
      continue;
    }
    const takes = promote ? ['--file', '--store'] : ['--listen', '--file', '--bind', '--size', '--store', '--max-size', '--hello-timeout'];
    if (!takes.includes(name)) throw usage(`replica${promote ? ' promote' : ''}: unknown argument '${arg}'`);
    let v: string;
    if (eq >= 0) v = arg.slice(eq + 1);
    else if (++i < argv.length) v = argv[i];
    else throw usage(`${name} needs a value`);
    // A path or an address of no characters names nothing: a usage error, as the other commands' are.
    if (v === '' && (name === '--file' || name === '--store' || name === '--bind')) throw usage(`${name} is an empty string`);
    if (name === '--listen') a.port = wholeNumberIn(v, name, 0, 65535, 'a port');
    else if (name === '--file') a.file = v;
    else if (name === '--bind') a.bind = v;
    else if (name === '--store') a.store = v;
    else if (name === '--hello-timeout') a.helloTimeoutMs = wholeNumberIn(v, name, 1, MAX_TIMEOUT);
    else if (name === '--max-size') {
      a.maxSize = bytes(v, name);
      if (a.maxSize > MAX_FILE) throw usage(`--max-size must be at most ${MAX_FILE} (4G), got ${a.maxSize}`);
    } else {
      a.size = bytes(v, name);
      // The journal's own bounds, named as typed: a usage error before anything is made.
      try {
        checkJournalSize(a.size, name);
      } catch (e) {
        throw usage((e as Error).message);
      }
    }
  }
  if (a.file === undefined) throw usage(`replica${promote ? ' promote' : ''} needs --file`);
  refuseLostPath('--file', a.file);
  refuseLostPath('--store', a.store);
  if (!promote && a.port === undefined) throw usage('replica needs --listen PORT');
  if (a.maxSize !== undefined && a.store === undefined) throw usage('--max-size bounds the backup\'s store: it needs --store');
  if (a.maxSize !== undefined && a.store !== undefined) {
    const i = inspect(a.store);
    if (i.kind === 'kv' && i.size !== undefined && a.maxSize < i.size) {
      throw usage(`--max-size ${a.maxSize} is below the store's size, ${i.size} bytes: a store never shrinks (it grows up to --max-size)`);
    }
  }
  if (a.store !== undefined && sameFile(a.store, a.file)) throw usage(`--store ${pathText(a.store)} is the journal --file ${pathText(a.file)}: the store needs a file of its own`);
  return a as ReplicaArgs;
}

/** Runs the backup until it is told to stop, or promotes a file. Resolves to the exit code. */
export async function replica(a: ReplicaArgs): Promise<number> {
  refuseKernelViews([a.file, a.store], cannotUse);
  if (a.promote && a.store === undefined) {
    const epoch = promoteReplicaFile(a.file);
    console.log(`promoted:    ${pathText(path.resolve(a.file))} is a primary's journal at epoch ${epoch}`);
    return 0;
  }
  if (a.promote && a.store !== undefined) {
    // The backup's store applied only what it knew was committed when it
    // stopped: a primary that died before announcing its last commit point
    // leaves acknowledged records in the journal that the store lacks.
    // Promoted as startStoreReplica's handle promotes (the journal, then
    // every record it holds into the store), on a loopback port of its own
    // for the moment it takes.
    refusePromoted(a.file);
    const h = await startStoreReplica({ store: a.store, journal: a.file, port: 0, host: '127.0.0.1' });
    let epoch: number;
    try {
      epoch = h.promote();
    } finally {
      await h.close();
    }
    console.log(`promoted:    ${pathText(path.resolve(a.file))} is a primary's journal at epoch ${epoch}`);
    console.log(`store:       ${pathText(path.resolve(a.store))} holds every record of it (applied up to LSN ${h.appliedLsn})`);
    return 0;
  }
  // One line each, escaped as a path is (a message may quote one), so that it stays one line.
  const log = (line: string): void => console.log(`pmem replica: ${escapeText(Buffer.from(line, 'utf8'))}`);
  // Taken from before the start: making a journal of some GiB takes seconds,
  // and a SIGINT then would kill the process with the file half made, under
  // a temporary name that nothing removes. The signal is handled once the
  // start returns (its work is synchronous): the file is whole, and closed.
  let signalled: string | null = null;
  let stop = (why: string): void => { signalled ??= why; };
  const onTerm = (): void => stop('SIGTERM');
  const onInt = (): void => stop('SIGINT');
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  let r: { port: number; lastDurableLsn: number; epoch: number; close(): Promise<void> };
  try {
    r = a.store === undefined
      ? await startReplica({ file: a.file, port: a.port, host: a.bind, create: a.create, size: a.size, helloTimeoutMs: a.helloTimeoutMs, log })
      : await startStoreReplica({
        store: a.store, journal: a.file, port: a.port, host: a.bind, create: a.create, journalSize: a.size, maxSize: a.maxSize, helloTimeoutMs: a.helloTimeoutMs, log,
      });
  } catch (e) {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    throw e;
  }
  // An IPv6 host in brackets, as a primary's --replica takes it: '::1:7000' names no port.
  console.log(`address:     ${net.isIPv6(a.bind) ? `[${a.bind}]` : a.bind}:${r.port}`);
  console.log(`journal:     ${pathText(path.resolve(a.file))} (last durable LSN ${r.lastDurableLsn}, epoch ${r.epoch})`);
  if (a.store !== undefined) console.log(`store:       ${pathText(path.resolve(a.store))} (follows the journal)`);
  console.log('ready to accept a primary');
  const started = r;
  return new Promise((resolve) => {
    stop = (why: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      console.log(`pmem replica: ${why}, closing`);
      void started.close().then(() => resolve(0));
    };
    if (signalled !== null) stop(signalled);
  });
}
