// CONFIG GET, SET, RESETSTAT and REWRITE: the parameters pmem serve answers
// for, those that take effect, those CONFIG SET refuses as Redis does (and
// port and bind, which only take effect at start), the values it refuses
// because nothing here would keep them (a maxmemory other than 0, a
// min-replicas-to-write other than 0), and any other remembered as given.
import * as path from 'node:path';

import { ReplyError, SYNTAX, type Client } from '../client';
import { globMatch } from '../glob';
import { SPARSE_MAX_BYTES_DEFAULT } from '../hyperloglog';
import { formatNotifyFlags, NOTIFY_FLAGS_ERROR, parseNotifyFlags } from '../notify';
import type { RespServer } from '../server';
import { cString, I64_MAX, memoryValue, nameWord, strictDouble, toI64, word } from './args';
import type { Def } from './types';

/**
 * Parameters CONFIG GET answers with a value; unknown ones are remembered
 * as set (tolerant, as clients and harnesses need). dir and dbfilename are
 * the store file's directory and name; each other value is what is true of
 * pmem serve (FIXED for those it has no setting for).
 */
function configDefaults(s: RespServer): Record<string, string> {
  return {
    port: String(s.port), bind: s.host, databases: String(s.databases), requirepass: s.requirepass ?? '',
    appendonly: 'no', appendfsync: 'always', save: '', maxmemory: '0', 'maxmemory-policy': 'noeviction', 'min-replicas-to-write': '0',
    'proto-max-bulk-len': String(s.limits.maxBulk), maxclients: String(s.maxClients), 'client-query-buffer-limit': String(s.limits.maxBulk + 1024 * 1024),
    'client-output-buffer-limit': s.outputLimits.toString(),
    timeout: String(s.timeout), hz: String(s.cron.hz), 'lazyfree-lazy-user-del': 'no', 'lazyfree-lazy-user-flush': 'no', 'active-expire-effort': '1',
    dir: s.dir, dbfilename: path.basename(s.file), 'latency-tracking': 'no', 'latency-tracking-info-percentiles': '50 99 99.9', 'notify-keyspace-events': formatNotifyFlags(s.keyspace.notify.flags),
    'enable-debug-command': s.enableDebugCommand, 'slowlog-log-slower-than': String(s.slowlog.slowerThan), 'slowlog-max-len': String(s.slowlog.maxLen),
    'hll-sparse-max-bytes': String(SPARSE_MAX_BYTES_DEFAULT), ...FIXED,
  };
}

/**
 * Redis's parameters that pmem serve has no setting for (each one CONFIG
 * SET refuses as immutable), with the value that is true of it: no
 * daemon, pid file, syslog, unix socket, cluster, AOF, ACL file, Lua, CPU
 * affinity, socket mark, or io threads; the log goes to the `log` option
 * (pmem serve prints it on standard output, what Redis's empty logfile
 * means); a name of a file or an ident it does not have is empty. No
 * replica of another server. The store file's records carry checksums
 * that its open checks (rdbchecksum). Node listens with a backlog of 511.
 */
const FIXED: Record<string, string> = {
  daemonize: 'no', supervised: 'no', pidfile: '', logfile: '', 'syslog-enabled': 'no', 'syslog-ident': '', 'syslog-facility': '',
  'always-show-logo': 'no', 'set-proc-title': 'no', 'disable-thp': 'no', 'io-threads': '1', 'io-threads-do-reads': 'no',
  'cluster-enabled': 'no', 'cluster-config-file': '', 'cluster-port': '0', aclfile: '', unixsocket: '', unixsocketperm: '0',
  appendfilename: '', appenddirname: '', server_cpulist: '', bio_cpulist: '', aof_rewrite_cpulist: '', bgsave_cpulist: '',
  'enable-protected-configs': 'no', 'enable-module-command': 'no', 'lua-enable-deprecated-api': 'no', 'tcp-backlog': '511',
  'socket-mark-id': '0', rdbchecksum: 'yes', replicaof: '',
};

/** Redis 7.0's HIDDEN_CONFIG parameters: CONFIG GET lists them for their exact name only, never for a pattern. */
const HIDDEN = new Set([
  'lua-enable-deprecated-api', 'use-exit-on-panic', 'rdb-key-save-delay', 'key-load-delay', 'watchdog-period', 'loading-process-events-interval-bytes',
]);

/** Redis 7.0's IMMUTABLE_CONFIG parameters (config.c): set at start only, so CONFIG SET refuses them, as Redis does. */
const IMMUTABLE = new Set([
  'rdbchecksum', 'daemonize', 'io-threads-do-reads', 'always-show-logo', 'set-proc-title', 'syslog-enabled', 'cluster-enabled', 'disable-thp',
  'lua-enable-deprecated-api', 'aclfile', 'unixsocket', 'pidfile', 'cluster-config-file', 'syslog-ident', 'appendfilename', 'appenddirname',
  'server_cpulist', 'bio_cpulist', 'aof_rewrite_cpulist', 'bgsave_cpulist', 'logfile', 'supervised', 'syslog-facility', 'enable-protected-configs',
  'enable-debug-command', 'enable-module-command', 'databases', 'io-threads', 'tcp-backlog', 'cluster-port', 'unixsocketperm', 'socket-mark-id',
  'replicaof', 'slaveof',
]);

/**
 * Redis 7.0's PROTECTED_CONFIG parameters: refused as Redis refuses them
 * while enable-protected-configs is "no", its default (pmem serve has no
 * way to change it).
 */
const PROTECTED = new Set(['dir', 'dbfilename']);

/** Parameters Redis changes while running that pmem serve takes only at start: the option that sets them. */
const AT_START = new Map([['port', '--port'], ['bind', '--bind']]);

/**
 * Redis 7.0's aliases (config.c): each old name and its new one are one
 * parameter, which CONFIG SET of either changes and CONFIG GET of either
 * reads. (As in Redis 7.0, the old name and the new one in one CONFIG SET
 * are not a repeat: both are set, in the command's order.)
 */
const ALIASES = new Map([
  ['cluster-slave-no-failover', 'cluster-replica-no-failover'], ['slave-lazy-flush', 'replica-lazy-flush'],
  ['slave-serve-stale-data', 'replica-serve-stale-data'], ['slave-read-only', 'replica-read-only'],
  ['slave-ignore-maxmemory', 'replica-ignore-maxmemory'], ['slave-announce-ip', 'replica-announce-ip'],
  ['cluster-slave-validity-factor', 'cluster-replica-validity-factor'], ['list-max-ziplist-size', 'list-max-listpack-size'],
  ['slave-priority', 'replica-priority'], ['slave-announce-port', 'replica-announce-port'], ['repl-ping-slave-period', 'repl-ping-replica-period'],
  ['min-slaves-to-write', 'min-replicas-to-write'], ['min-slaves-max-lag', 'min-replicas-max-lag'], ['lua-time-limit', 'busy-reply-threshold'],
  ['hash-max-ziplist-entries', 'hash-max-listpack-entries'], ['zset-max-ziplist-entries', 'zset-max-listpack-entries'],
  ['hash-max-ziplist-value', 'hash-max-listpack-value'], ['zset-max-ziplist-value', 'zset-max-listpack-value'], ['slaveof', 'replicaof'],
]);
/** Each new name's old one. */
const OLD_NAMES = new Map([...ALIASES].map(([old, name]) => [name, old]));

/** The name a remembered parameter is kept under: an alias's new name. */
const canonical = (k: string): string => ALIASES.get(k) ?? k;

/**
 * Why CONFIG SET refuses parameter `k` whatever its value, with Redis's
 * words where Redis refuses it too; null when it does not.
 */
function refusedParam(k: string): string | null {
  if (IMMUTABLE.has(k)) return "can't set immutable config";
  if (PROTECTED.has(k)) return "can't set protected config";
  const option = AT_START.get(k);
  if (option !== undefined) return `can't change where a running pmem serve listens: restart it with ${option}`;
  return null;
}

/**
 * Parameters whose values are sizes: CONFIG SET checks them (the others are
 * taken as given). hll-sparse-max-bytes: the largest sparse HyperLogLog
 * (commands/hll.ts reads it), 0 to 2^63-1 as in Redis.
 */
const MEMORY_PARAMS = new Set(['maxmemory', 'proto-max-bulk-len', 'client-query-buffer-limit', 'hll-sparse-max-bytes']);

/**
 * Parameters that take one of Redis's words (any case; read back in lower
 * case). maxmemory-policy is remembered only: with maxmemory 0, the only
 * value taken, Redis evicts nothing under any policy either.
 */
const ENUM_PARAMS = new Map([
  ['maxmemory-policy', ['volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'noeviction']],
]);

/**
 * Integer parameters, with Redis's range (config.c): maxclients at least 1
 * here (a limit of 0 would refuse every connection, the one that could
 * raise it again too); timeout closes idle clients and hz sets how often
 * the server's periodic work runs (cron.ts); the slowlog ones set the
 * slow log (slowlog.ts). min-replicas-to-write takes only 0 (NO_REPLICAS).
 */
const INT_PARAMS = new Map<string, [bigint, bigint]>([
  ['maxclients', [1n, 4294967295n]], ['timeout', [0n, 2147483647n]], ['hz', [0n, 2147483647n]], ['min-replicas-to-write', [0n, 2147483647n]],
  ['slowlog-log-slower-than', [-1n, 9223372036854775807n]], ['slowlog-max-len', [0n, 9223372036854775807n]],
]);

/**
 * Redis refuses writes while fewer replicas than this are connected; pmem
 * serve has no Redis replicas, and acknowledging writes under a setting
 * that promised their refusal would mislead.
 */
const NO_REPLICAS = 'pmem serve has no Redis replicas, so only 0 is taken (with pmem serve --replica, every write waits for every backup)';

/**
 * One CONFIG SET pair checked as Redis checks its value, with Redis's error
 * text. Returns what applies it: nothing is changed until every pair of
 * the command has passed.
 */
function checkParam(s: RespServer, k: string, v: string): () => void {
  const failed = (why: string): ReplyError => new ReplyError(`ERR CONFIG SET failed (possibly related to argument '${k}') - ${why}`);
  if (k === 'notify-keyspace-events') {
    const flags = parseNotifyFlags(v);
    if (flags === -1) throw failed(NOTIFY_FLAGS_ERROR);
    // Not remembered as given: CONFIG GET prints the flags, as Redis does.
    return () => {
      s.keyspace.notify.flags = flags;
    };
  }
  if (k === 'client-output-buffer-limit') {
    // Taken and kept (output-limits.ts); CONFIG GET reads it back in bytes, as Redis prints it.
    try {
      return s.outputLimits.parse(v);
    } catch (e) {
      throw failed((e as Error).message);
    }
  }
  if (k === 'latency-tracking-info-percentiles') {
    // As Redis's: split at each space (two spaces make an empty one,
    // refused), each a number as string2d reads it, in [0, 100]; read back
    // as "%f" prints it, trailing zeros cut.
    const values = v === '' ? [] : v.split(' ').map(strictDouble);
    if (values.some((d) => d === null)) throw failed('Invalid latency-tracking-info-percentiles parameters');
    if (values.some((d) => (d as number) < 0 || (d as number) > 100)) throw failed('latency-tracking-info-percentiles parameters should sit between [0.0,100.0]');
    return () => s.config.set(k, values.map((d) => (Object.is(d, -0) ? '-' : '') + (d as number).toFixed(6).replace(/\.?0+$/, '')).join(' '));
  }
  if (MEMORY_PARAMS.has(k)) {
    // Sizes are read as Redis reads them (memtoull), then checked against the range it would use.
    const size = memoryValue(v);
    if (size === null) throw failed('argument must be a memory value');
    // Nothing evicts keys or refuses writes past a memory limit here: a limit taken would be one that is not kept.
    if (k === 'maxmemory' && size !== 0n) {
      throw failed("pmem serve does not evict: only 0 (no limit) is taken; the store file's size is bounded by its maximum size (--max-size)");
    }
    if (k === 'client-query-buffer-limit' && (size < 1024n * 1024n || size > I64_MAX)) {
      throw failed('argument must be between 1048576 and 9223372036854775807 inclusive');
    }
    if (k === 'hll-sparse-max-bytes' && size > I64_MAX) throw failed('argument must be between 0 and 9223372036854775807 inclusive');
    // Redis takes 1 MiB to 2^63-1; a value of the store stops at 64 MiB.
    if (k === 'proto-max-bulk-len' && (size < 1024n * 1024n || size > 64n * 1024n * 1024n)) {
      throw failed("argument must be between 1mb and 64mb (the store's largest value)");
    }
    return () => {
      if (k === 'proto-max-bulk-len') s.limits.maxBulk = Number(size);
      s.config.set(k, String(size)); // a size reads back in bytes, as Redis prints it
    };
  }
  const name = canonical(k);
  const words = ENUM_PARAMS.get(name);
  if (words !== undefined) {
    const w = v.toLowerCase();
    if (!words.includes(w)) throw failed(`argument(s) must be one of the following: ${words.join(', ')}`);
    return () => s.config.set(name, w);
  }
  const range = INT_PARAMS.get(name);
  if (range !== undefined) {
    // An integer as string2ll reads it, then checked against Redis's range: a negative one is out of range, not unparsed.
    const n = toI64(v);
    if (n === null) throw failed("argument couldn't be parsed into an integer");
    if (n < range[0] || n > range[1]) throw failed(`argument must be between ${range[0]} and ${range[1]} inclusive`);
    if (name === 'maxclients' && Number(n) > s.clientCapacity()) {
      // Redis's words (config.c, updateMaxclients), once it has failed to raise the limit.
      throw failed(`The operating system is not able to handle the specified number of clients, try with ${s.clientCapacity()}`);
    }
    if (name === 'min-replicas-to-write') {
      if (n !== 0n) throw failed(NO_REPLICAS);
      return () => {}; // 0, what it is (configDefaults)
    }
    return () => {
      // CONFIG GET reads each from the server (configDefaults): hz as it was taken into 1..500.
      if (name === 'maxclients') s.maxClients = Number(n);
      else if (name === 'timeout') s.timeout = Number(n);
      else if (name === 'slowlog-log-slower-than') s.slowlog.slowerThan = Number(n);
      else if (name === 'slowlog-max-len') s.slowlog.maxLen = Number(n);
      else s.cron.hz = Number(n);
    };
  }
  if (k === 'requirepass') {
    return () => {
      s.requirepass = v === '' ? undefined : v;
      s.config.set(k, v);
    };
  }
  return () => s.config.set(canonical(k), v);
}

/**
 * CONFIG SET param value [param value ...], all or nothing as in Redis 7.0:
 * the names are looked at first, in the command's order, and the first
 * one refused (immutable, protected, taken only at start, or named twice)
 * is the error; then every value is checked, and only then are they all
 * applied. An error leaves the configuration as it was (Redis sets the
 * values one by one and restores the ones it had set; here none is
 * applied before all have passed, and applying cannot fail). A parameter
 * pmem serve does not know is remembered as given, where Redis refuses it.
 */
function configSet(s: RespServer, c: Client, argv: Buffer[]): void {
  if (argv.length < 4) throw new ReplyError("ERR wrong number of arguments for 'config|set' command");
  if (argv.length % 2 !== 0) throw new ReplyError(SYNTAX);
  // Names are compared in any case; the error names one as the client spelt it.
  const seen = new Set<string>();
  for (let i = 2; i < argv.length; i += 2) {
    const k = word(argv[i]);
    const why = refusedParam(k) ?? (seen.has(k) ? 'duplicate parameter' : null);
    if (why !== null) throw new ReplyError(`ERR CONFIG SET failed (possibly related to argument '${argv[i].toString('latin1')}') - ${why}`);
    seen.add(k);
  }
  // The first pair whose value is refused is the one the error names.
  const apply: (() => void)[] = [];
  for (let i = 2; i < argv.length; i += 2) apply.push(checkParam(s, word(argv[i]), argv[i + 1].toString('latin1')));
  for (const f of apply) f();
  c.out.ok();
}

function config(s: RespServer, c: Client, argv: Buffer[]): void {
  const sub = nameWord(argv[1]);
  const defaults = configDefaults(s);
  const value = (k: string): string => s.config.get(canonical(k)) ?? defaults[canonical(k)];
  switch (sub) {
    case 'get': {
      if (argv.length < 3) throw new ReplyError("ERR wrong number of arguments for 'config|get' command");
      // Every name, with the old name of each that has one, as Redis's table holds them.
      const names = new Set([...Object.keys(defaults), ...s.config.keys()]);
      for (const k of [...names]) {
        const old = OLD_NAMES.get(k);
        if (old !== undefined) names.add(old);
      }
      // As Redis: a name without a pattern's characters is looked up (in
      // any case, hidden ones too) and replied as the client spelt it,
      // first spelling kept; a pattern lists the names it matches, but not
      // those already replied, nor the hidden ones.
      const found = new Map<string, [string, string]>();
      for (const p of argv.slice(2)) {
        const name = p.toString('latin1');
        if (!/[[*?]/.test(name)) {
          const k = name.toLowerCase();
          if (names.has(k) && !found.has(k)) found.set(k, [name, value(k)]);
          continue;
        }
        for (const k of names) if (!HIDDEN.has(k) && !found.has(k) && globMatch(p, Buffer.from(k), true)) found.set(k, [k, value(k)]);
      }
      c.out.map(found.size);
      for (const [k, v] of found.values()) {
        c.out.bulk(k);
        c.out.bulk(v);
      }
      return;
    }
    case 'set':
      configSet(s, c, argv);
      return;
    case 'resetstat':
      if (argv.length !== 2) throw new ReplyError("ERR wrong number of arguments for 'config|resetstat' command");
      // What Redis's resetServerStats clears of what INFO shows here.
      s.stats.errors.clear();
      s.stats.commands = 0;
      s.stats.connections = 0;
      s.stats.keyspaceHits = 0;
      s.stats.keyspaceMisses = 0;
      s.keyspace.expiredKeys = 0;
      c.out.ok();
      return;
    case 'rewrite':
      throw new ReplyError('ERR The server is running without a config file');
    default:
      throw new ReplyError(`ERR unknown subcommand '${cString(argv[1]).slice(0, 128)}'. Try CONFIG HELP.`);
  }
}

export const CONFIG_COMMANDS: Record<string, Def> = {
  config: [-2, 'admin', 0, 0, 0, config],
};
