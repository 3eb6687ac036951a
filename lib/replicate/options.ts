// The options of ReplicatedWal.open, startReplica and an append, checked
// once: TypeError for a wrong type or an unknown option, RangeError for a
// bad number.
import { checkBoolean, checkIndex, checkOptions, checkPath } from '../core/args';
import { Wal } from '../log/wal';
import { STATE_BYTES } from './state';

export type AckLevel = 'local' | 'received' | 'persisted';
const LEVELS: readonly AckLevel[] = ['local', 'received', 'persisted'];

export interface ReplicatedWalOptions {
  /** The backups, as 'host:port' (an IPv6 host in brackets: '[::1]:7000'). Every one must acknowledge. */
  replicas: string[];
  /** Create and format the file if missing (with `size`). */
  create?: boolean;
  /** With `create`: bytes of the file. */
  size?: number;
  /** When an append's promise resolves (default 'persisted'). */
  ack?: AckLevel;
  /** How long a round trip may wait for every replica before the journal stops (default 5000 ms). */
  timeoutMs?: number;
  /** Bytes of committed records the log keeps for catch-up before freeing the oldest (default: half the log). */
  resendBytes?: number;
}

export interface ReplicaAddress {
  host: string;
  port: number;
  address: string;
}

export interface PrimaryFlags {
  path: string;
  replicas: ReplicaAddress[];
  create: boolean;
  size?: number;
  ack: AckLevel;
  timeoutMs: number;
  resendBytes?: number;
}

const OPEN_KEYS = ['replicas', 'create', 'size', 'ack', 'timeoutMs', 'resendBytes'];
/** The smallest journal file: its control block and a log with room for a few records. */
export const MIN_JOURNAL_SIZE = STATE_BYTES + Wal.regionSize(4096);
/** The largest: what one Buffer over a log file's mapping sees (log/wal-open.ts). */
export const MAX_JOURNAL_SIZE = 2 ** 32;
/** The longest timeout: what a Node timer takes. */
export const MAX_TIMEOUT = 2 ** 31 - 1;

/** @throws TypeError, RangeError */
export function checkPrimaryOptions(path: unknown, options: unknown): PrimaryFlags {
  checkPath(path);
  const o = checkOptions(options, OPEN_KEYS) as Partial<ReplicatedWalOptions>;
  const replicas = checkReplicas(o.replicas, 'replicas');
  const timeoutMs = checkTimeout(o.timeoutMs, 'timeoutMs', 5000);
  return {
    path: path as string,
    replicas,
    create: o.create === undefined ? false : checkBoolean(o.create, 'create'),
    size: checkJournalSize(o.size),
    ack: o.ack === undefined ? 'persisted' : checkAck(o.ack),
    timeoutMs,
    resendBytes: o.resendBytes === undefined ? undefined : checkIndex(o.resendBytes, 'resendBytes'),
  };
}

/**
 * The backups of a primary, given as the option `name`: a non-empty array
 * of distinct 'host:port' strings.
 * @throws TypeError, RangeError
 */
export function checkReplicas(v: unknown, name: string): ReplicaAddress[] {
  if (!Array.isArray(v)) throw new TypeError(`${name} must be an array of 'host:port' strings`);
  if (v.length === 0) throw new RangeError(`${name} must name at least one backup`);
  const replicas = v.map((r, i) => parseAddress(r, `${name}[${i}]`));
  // Compared as the host and port they name, not as written: a backup named
  // twice ('h:7000', 'H:07000') would get two connections from this
  // primary, and each HELLO it takes closes the other.
  const seen = new Map<string, string>();
  for (const r of replicas) {
    const key = `${r.host.toLowerCase()}:${r.port}`;
    const first = seen.get(key);
    if (first !== undefined) {
      throw new RangeError(first === r.address ? `replica ${r.address} is named twice` : `replica ${r.address} is named twice (as ${first})`);
    }
    seen.set(key, r.address);
  }
  return replicas;
}

/**
 * A timeout in ms, 1..MAX_TIMEOUT, or `dflt` when undefined: a Node timer
 * of more than 2^31 - 1 ms fires at once.
 * @throws TypeError, RangeError
 */
export function checkTimeout(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const ms = checkIndex(v, name);
  if (ms < 1 || ms > MAX_TIMEOUT) throw new RangeError(`${name} must be 1..${MAX_TIMEOUT}, got ${ms}`);
  return ms;
}

/** The size of a journal file to create, given as the option `name`. @throws TypeError, RangeError */
export function checkJournalSize(v: unknown, name = 'size'): number | undefined {
  if (v === undefined) return undefined;
  const size = checkIndex(v, name);
  if (size < MIN_JOURNAL_SIZE || size > MAX_JOURNAL_SIZE) throw new RangeError(`${name} must be ${MIN_JOURNAL_SIZE}..${MAX_JOURNAL_SIZE} bytes, got ${size}`);
  return size;
}

/** @throws TypeError unless `v` is an ack level */
export function checkAck(v: unknown, name = 'ack'): AckLevel {
  if (typeof v !== 'string' || !LEVELS.includes(v as AckLevel)) throw new TypeError(`${name} must be one of ${LEVELS.join(', ')}`);
  return v as AckLevel;
}

/** The options of one append: `{ ack }` or nothing. */
export function checkAppendOptions(options: unknown, dflt: AckLevel): AckLevel {
  if (options === undefined) return dflt;
  const o = checkOptions(options, ['ack']) as { ack?: unknown };
  return o.ack === undefined ? dflt : checkAck(o.ack);
}

/** 'host:port' → its parts. @throws TypeError for anything else, RangeError for a port out of range */
export function parseAddress(v: unknown, name: string): ReplicaAddress {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a 'host:port' string`);
  // No white space in a host: ' h' is not h, and would only fail to resolve.
  const m = /^(?:\[([^\]\s]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(v);
  if (m === null) throw new TypeError(`${name} must be 'host:port', got '${v}'`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new RangeError(`${name}: port ${port} is outside 1..65535`);
  return { host: m[1] ?? m[2], port, address: v };
}

export interface ReplicaOptions {
  /** The journal file of this backup. */
  file: string;
  /** Port to listen on (0: any free one; the handle says which). */
  port: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Create and format the file if missing (with `size`). */
  create?: boolean;
  size?: number;
  /** How long a connection may take to complete its HELLO before it is closed (default 5000 ms). */
  helloTimeoutMs?: number;
  /** Called with one line for each connection refused, dropped, taken as the primary's, or closed inside a frame (default: nothing). */
  log?: (line: string) => void;
}

/** @throws TypeError, RangeError */
export function checkReplicaOptions(options: unknown): Required<Omit<ReplicaOptions, 'size'>> & { size?: number } {
  const o = checkOptions(options, ['file', 'port', 'host', 'create', 'size', 'helloTimeoutMs', 'log']) as Partial<ReplicaOptions>;
  checkPath(o.file, 'file');
  const port = checkIndex(o.port, 'port');
  if (port > 65535) throw new RangeError(`port must be 0..65535, got ${port}`);
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host.length === 0)) throw new TypeError('host must be a non-empty string');
  return {
    file: o.file as string,
    port,
    host: o.host ?? '127.0.0.1',
    create: o.create === undefined ? false : checkBoolean(o.create, 'create'),
    size: checkJournalSize(o.size),
    helloTimeoutMs: checkTimeout(o.helloTimeoutMs, 'helloTimeoutMs', 5000),
    log: checkLog(o.log),
  };
}

/**
 * A `log` option: a function, or nothing (then lines go nowhere). What it
 * returns never throws: lines are logged from socket events and timers,
 * and a log that throws loses its line, not the backup.
 * @throws TypeError
 */
export function checkLog(v: unknown): (line: string) => void {
  if (v === undefined) return () => {};
  if (typeof v !== 'function') throw new TypeError('log must be a function');
  const logLine = v as (line: string) => void;
  return (line: string): void => {
    try {
      logLine(line);
    } catch {
      // the line is lost
    }
  };
}
