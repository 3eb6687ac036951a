// Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, COMMAND, TIME,
// LASTSAVE, SAVE, BGSAVE, BGREWRITEAOF, SHUTDOWN, WAITAOF, WAIT, DEBUG,
// FUNCTION FLUSH (CONFIG is config.ts's).
import * as os from 'node:os';

import { ReplyError, type Client } from '../client';
import { typeOf } from '../collections';
import { globMatch } from '../glob';
import { parseAddress } from '../../replicate/options';
import { anonymousRss, human, usedMemory } from '../memory';
import { swapDbs } from '../moves';
import type { RespServer } from '../server';
import { cString, i32Arg, keyArg, keyBuf, nameWord, toI64, word } from './args';
import { georadiusKeys } from './geo';
import { encodingOf, refcountOf } from './keys';
import { sortKeys } from './sort';
import type { Command, Def } from './types';

/** Filled by the table, so COMMAND can list every command. */
export const registry: { commands: Map<string, Command> } = { commands: new Map() };

function info(s: RespServer, c: Client, argv: Buffer[]): void {
  const want = new Set(argv.slice(1).map((a) => nameWord(a)));
  const all = want.size === 0 || want.has('all') || want.has('everything') || want.has('default');
  const mem = usedMemory();
  const peak = s.memoryPeak.see(mem.used);
  const anon = anonymousRss(mem.rss);
  const st = s.store.stats();
  const uptime = Math.floor((Date.now() - s.started) / 1000);
  const sections: [string, [string, string | number][]][] = [
    ['Server', [
      ['redis_version', '7.0.15'], ['redis_mode', 'standalone'], ['server_name', 'pmem'], ['os', `${os.type()} ${os.release()} ${os.arch()}`],
      ['arch_bits', 64], ['process_id', process.pid], ['tcp_port', s.port], ['uptime_in_seconds', uptime],
      ['uptime_in_days', Math.floor(uptime / 86400)], ['hz', s.cron.hz], ['executable', process.argv[1] ?? ''],
    ]],
    ['Clients', [
      ['connected_clients', s.clients.size], ['maxclients', s.maxClients], ['blocked_clients', s.blocking.blockedClients + s.pause.postponedClients], ['tracking_clients', 0],
      ['pubsub_clients', [...s.clients.values()].filter((x) => x.subscriptions > 0).length],
    ]],
    ['Memory', [
      ['used_memory', mem.used], ['used_memory_human', human(mem.used)], ['used_memory_rss', mem.rss], ['used_memory_rss_human', human(mem.rss)],
      ['used_memory_peak', peak], ['used_memory_peak_human', human(peak)], ['used_memory_peak_perc', `${((mem.used / peak) * 100).toFixed(2)}%`],
      ['total_system_memory', os.totalmem()], ['total_system_memory_human', human(os.totalmem())],
      ['maxmemory', 0], ['maxmemory_human', '0B'], ['maxmemory_policy', s.config.get('maxmemory-policy') ?? 'noeviction'],
      // Of the process's own pages only: its RSS also holds the store file's pages it touched.
      ['mem_fragmentation_ratio', (anon / mem.used).toFixed(2)], ['mem_fragmentation_bytes', anon - mem.used],
      ['lazyfree_pending_objects', s.keyspace.garbage.pending], ['lazyfreed_objects', s.keyspace.garbage.freed],
      ['pmem_file_bytes', st.fileBytes], ['pmem_live_bytes', st.liveBytes], ['pmem_index_bytes', st.indexBytes], ['pmem_mapped_bytes', mem.mapped],
    ]],
    ['Persistence', [
      ['loading', 0], ['async_loading', 0], ['rdb_changes_since_last_save', 0], ['rdb_bgsave_in_progress', 0],
      ['rdb_last_save_time', Math.floor(s.keyspace.lastCommit / 1000)], ['rdb_last_bgsave_status', 'ok'],
      ['aof_enabled', 0], ['aof_rewrite_in_progress', 0], ['aof_rewrite_scheduled', 0], ['aof_last_bgrewrite_status', 'ok'],
      ['aof_last_write_status', 'ok'],
      // What "persisted" means here: every acknowledged write is on the store file when its reply is sent.
      ['pmem_durability', 'every write is durable before its reply (one fence per batch)'],
      ['pmem_batches', s.keyspace.commits], ['pmem_batch_entries', s.keyspace.committedEntries],
      ['pmem_recovery_ms', st.recovery.ms.toFixed(1)],
    ]],
    ['Stats', [
      ['total_connections_received', s.stats.connections], ['total_commands_processed', s.stats.commands],
      ['expired_keys', s.keyspace.expiredKeys], ['evicted_keys', 0], ['keyspace_hits', s.stats.keyspaceHits],
      ['keyspace_misses', s.stats.keyspaceMisses], ['pubsub_channels', s.pubsub.channels.size], ['pubsub_patterns', s.pubsub.patterns.size],
      ['total_forks', 0], ['rejected_connections', 0], ['total_error_replies', [...s.stats.errors.values()].reduce((a, b) => a + b, 0)],
    ]],
    ['Replication', replicationInfo(s)],
    ['CPU', [['used_cpu_sys', (process.cpuUsage().system / 1e6).toFixed(6)], ['used_cpu_user', (process.cpuUsage().user / 1e6).toFixed(6)]]],
    ['Errorstats', [...s.stats.errors].map(([k, v]) => [`errorstat_${k}`, `count=${v}`] as [string, string])],
    ['Keyspace', s.keyspace.dbs.map((d, i) => [i, d] as const).filter(([, d]) => d.size > 0)
      .map(([i, d]) => [`db${i}`, `keys=${d.size},expires=${d.expires.size},avg_ttl=${d.avgTtl}`] as [string, string])],
  ];
  let text = '';
  for (const [name, fields] of sections) {
    const n = name.toLowerCase();
    if (!all && !want.has(n)) continue;
    if (n === 'errorstats' && !all && !want.has(n)) continue;
    if (text.length > 0) text += '\r\n';
    text += `# ${name}\r\n`;
    for (const [k, v] of fields) text += `${k}:${v}\r\n`;
  }
  c.out.verbatim(text);
}

/**
 * INFO replication: the backups (`--replica`) whose handshake is done on a
 * live connection, as Redis lists its connected replicas. Offsets are
 * journal LSNs, not bytes of a replication stream: a backup's `offset` is
 * the last record it persisted, and `master_repl_offset` the journal's last
 * record. Redis's `lag` (seconds since the replica's last ack) is left out:
 * the journal does not keep the time of an ack.
 */
function replicationInfo(s: RespServer): [string, string | number][] {
  const j = s.replication?.journal;
  const online = j === undefined ? [] : j.links.filter((l) => l.connected);
  const fields: [string, string | number][] = [['role', 'master'], ['connected_slaves', online.length]];
  online.forEach((l, i) => {
    const { host, port } = parseAddress(l.address, 'replica');
    fields.push([`slave${i}`, `ip=${host},port=${port},state=online,offset=${l.persistedLsn}`]);
  });
  fields.push(['master_repl_offset', j === undefined ? 0 : j.lastLsn]);
  return fields;
}

/** FLUSHDB and FLUSHALL [ASYNC | SYNC], read as Redis 7.0 reads them: anything else is a syntax error. */
function flushArgs(argv: Buffer[]): void {
  if (argv.length === 2 && ['async', 'sync'].includes(word(argv[1]))) return;
  if (argv.length !== 1) throw new ReplyError('ERR syntax error');
}

function flushdb(s: RespServer, c: Client, argv: Buffer[]): void {
  flushArgs(argv);
  s.keyspace.flush(c.db);
  c.out.ok();
}

function flushall(s: RespServer, c: Client, argv: Buffer[]): void {
  flushArgs(argv);
  for (let db = 0; db < s.databases; db++) s.keyspace.flush(db);
  c.out.ok();
}

/** SWAPDB a b: every key of both databases rewritten under the other's number, in one batch. */
function swapdb(s: RespServer, c: Client, argv: Buffer[]): void {
  const a = i32Arg(argv[1], 'ERR invalid first DB index');
  const b = i32Arg(argv[2], 'ERR invalid second DB index');
  if (a < 0 || b < 0 || a >= s.databases || b >= s.databases) throw new ReplyError('ERR DB index is out of range');
  if (a !== b) swapDbs(s.keyspace, a, b);
  c.out.ok();
}

/**
 * The commands whose keys are counted by an argument (Redis's movablekeys):
 * where the count is, and where the keys after it start; a destination key
 * before them (the STORE forms) is the table's firstKey.
 */
const NUMKEYS: ReadonlyMap<string, { at: number }> = new Map<string, { at: number }>([
  ...['zunionstore', 'zinterstore', 'zdiffstore', 'blmpop', 'bzmpop'].map((n): [string, { at: number }] => [n, { at: 2 }]),
  ...['zunion', 'zinter', 'zdiff', 'zintercard', 'sintercard', 'lmpop', 'zmpop'].map((n): [string, { at: number }] => [n, { at: 1 }]),
]);

/** The other commands whose keys are found by reading their arguments (keysOf). */
const MOVABLE = new Set(['sort', 'georadius', 'georadiusbymember']);

/**
 * The keys of `args` (a command and its arguments) as Redis 7.0's COMMAND
 * GETKEYS finds them: the table's first, last and step, then for a command
 * of NUMKEYS the count of keys that follow it, which must be 1 or more and
 * fit the arguments; SORT's and GEORADIUS's their own way. Null when the
 * arguments name no keys they should.
 */
function keysOf(cmd: Command, args: Buffer[]): Buffer[] | null {
  if (cmd.name === 'sort') return sortKeys(args);
  if (cmd.name === 'georadius') return georadiusKeys(args, 6);
  if (cmd.name === 'georadiusbymember') return georadiusKeys(args, 5);
  const keys: Buffer[] = [];
  if (cmd.firstKey > 0) {
    const last = cmd.lastKey < 0 ? args.length + cmd.lastKey : cmd.lastKey;
    for (let i = cmd.firstKey; i <= last && i < args.length; i += cmd.step) keys.push(args[i]);
  }
  const m = NUMKEYS.get(cmd.name);
  if (m !== undefined) {
    const n = toI64(args[m.at]);
    if (n === null || n < 1n || BigInt(m.at + 1) + n > BigInt(args.length)) return null;
    for (let i = m.at + 1; i <= m.at + Number(n); i++) keys.push(args[i]);
  }
  return keys;
}

function commandInfo(c: Client, cmd: Command): void {
  const flags = NUMKEYS.has(cmd.name) || MOVABLE.has(cmd.name) ? [...cmd.flags, 'movablekeys'] : cmd.flags;
  c.out.array(10);
  c.out.bulk(cmd.name);
  c.out.int(cmd.arity);
  c.out.set(flags.length);
  for (const f of flags) c.out.status(f);
  c.out.int(cmd.firstKey);
  c.out.int(cmd.lastKey);
  c.out.int(cmd.step);
  c.out.set(0);
  c.out.set(0);
  c.out.set(0);
  c.out.array(0);
}

function command(_s: RespServer, c: Client, argv: Buffer[]): void {
  const all = registry.commands;
  const sub = nameWord(argv[1]);
  if (argv.length === 1) {
    c.out.array(all.size);
    for (const cmd of all.values()) commandInfo(c, cmd);
    return;
  }
  switch (sub) {
    case 'count':
      if (argv.length !== 2) throw new ReplyError("ERR wrong number of arguments for 'command|count' command");
      c.out.int(all.size);
      return;
    case 'list': {
      // COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob]: no modules, no ACL categories here.
      if (argv.length === 2) {
        c.out.bulks([...all.keys()]);
        return;
      }
      const by = argv.length === 5 && word(argv[2]) === 'filterby' ? word(argv[3]) : '';
      if (by === 'pattern') c.out.bulks([...all.keys()].filter((n) => globMatch(argv[4], Buffer.from(n, 'latin1'), true)));
      else if (by === 'module' || by === 'aclcat') c.out.array(0);
      else throw new ReplyError('ERR syntax error');
      return;
    }
    case 'info': {
      const names = argv.length === 2 ? [...all.keys()] : argv.slice(2).map((a) => nameWord(a));
      c.out.array(names.length);
      for (const n of names) {
        const cmd = all.get(n);
        if (cmd === undefined) c.out.nil();
        else commandInfo(c, cmd);
      }
      return;
    }
    case 'docs': {
      const names = argv.length === 2 ? [...all.keys()] : argv.slice(2).map((a) => nameWord(a)).filter((n) => all.has(n));
      c.out.map(names.length);
      for (const n of names) {
        c.out.bulk(n);
        c.out.map(2);
        c.out.bulk('summary');
        c.out.bulk(`the ${n} command`);
        c.out.bulk('group');
        c.out.bulk('pmem');
      }
      return;
    }
    case 'getkeys': {
      // COMMAND GETKEYS command arg...: checked in Redis 7.0's order.
      if (argv.length < 4) throw new ReplyError("ERR wrong number of arguments for 'command|getkeys' command");
      const cmd = all.get(nameWord(argv[2]));
      if (cmd === undefined) throw new ReplyError('ERR Invalid command specified');
      const args = argv.slice(2);
      if (cmd.firstKey === 0 && !NUMKEYS.has(cmd.name)) throw new ReplyError('ERR The command has no key arguments');
      if ((cmd.arity > 0 && cmd.arity !== args.length) || args.length < -cmd.arity) throw new ReplyError('ERR Invalid number of arguments specified for command');
      const keys = keysOf(cmd, args);
      if (keys === null) throw new ReplyError('ERR Invalid arguments specified for command');
      c.out.bulks(keys);
      return;
    }
    default:
      throw new ReplyError(`ERR unknown subcommand '${cString(argv[1]).slice(0, 128)}'. Try COMMAND HELP.`);
  }
}

function time(_s: RespServer, c: Client): void {
  const us = BigInt(Date.now()) * 1000n + BigInt(Number(process.hrtime.bigint() % 1000n));
  c.out.bulks([String(us / 1000000n), String(us % 1000000n)]);
}

/** SAVE and BGSAVE: everything acknowledged is already on the store file. */
function save(s: RespServer, c: Client, argv: Buffer[]): void {
  s.commitNow();
  if (nameWord(argv[0]) === 'save') c.out.ok();
  else c.out.status('Background saving started (pmem: nothing to do, every acknowledged write is already durable)');
}

/**
 * The replicas that hold every write acknowledged to a client: with
 * backups (`--replica`), each of them, since a write's reply waits until
 * every backup persisted it; without, none.
 */
function replicasHolding(s: RespServer): number {
  return s.replication?.journal.backups ?? 0;
}

/**
 * WAIT numreplicas timeout, once the arguments are checked as Redis checks
 * them: answered at once with replicasHolding, which no wait could raise
 * (Redis, with fewer replicas than asked, waits out the timeout, forever
 * for 0).
 */
function wait(s: RespServer, c: Client, argv: Buffer[]): void {
  const timeout = toI64(argv[2]);
  if (timeout === null) throw new ReplyError('ERR timeout is not an integer or out of range');
  if (timeout < 0n) throw new ReplyError('ERR timeout is negative');
  if (toI64(argv[1]) === null) throw new ReplyError('ERR value is not an integer or out of range');
  c.out.int(replicasHolding(s));
}

/** WAITAOF numlocal numreplicas timeout: every acknowledged write is local-durable, and on replicasHolding replicas. */
function waitaof(s: RespServer, c: Client, argv: Buffer[]): void {
  const local = toI64(argv[1]);
  const replicas = toI64(argv[2]);
  const timeout = toI64(argv[3]);
  if (local === null || replicas === null || timeout === null || timeout < 0n) throw new ReplyError('ERR value is out of range, must be positive');
  if (local > 1n) throw new ReplyError('ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.'.replace('appendonly is disabled', 'there is only one local store'));
  c.out.array(2);
  c.out.int(1);
  c.out.int(replicasHolding(s));
}

function debug(s: RespServer, c: Client, argv: Buffer[]): void {
  const sub = word(argv[1]);
  switch (sub) {
    case 'set-active-expire':
      s.expiry.enabled = argv[2]?.toString() !== '0';
      c.out.ok();
      return;
    case 'sleep': {
      const ms = Number(argv[2]?.toString() ?? '0') * 1000;
      const end = Date.now() + ms;
      while (Date.now() < end) { /* DEBUG SLEEP blocks the server, as Redis's does */ }
      c.out.ok();
      return;
    }
    case 'reload':
    case 'loadaof':
      // The store is the persistence: commit, then rebuild DRAM from it as a restart would.
      if (!s.commitNow()) throw new ReplyError('ERR commit failed');
      s.keyspace.load();
      c.out.ok();
      return;
    case 'object':
      debugObject(s, c, argv);
      return;
    case 'jmap':
    case 'quicklist-packed-threshold':
    case 'stringmatch-len':
      c.out.ok();
      return;
    case 'protocol':
      debugProtocol(c, word(argv[2]));
      return;
    case 'change-repl-id':
      c.out.ok();
      return;
    default:
      throw new ReplyError(`ERR DEBUG ${argv[1].toString('latin1')} is not supported by pmem serve`);
  }
}

/**
 * DEBUG OBJECT key, in Redis 7.0's format (debug.c), with the encoding and
 * reference count OBJECT ENCODING and OBJECT REFCOUNT give. Fields that
 * have no meaning here (docs/server.md): the address is 0x0, lru and
 * lru_seconds_idle are 0 (no access times are kept, as OBJECT IDLETIME's
 * 0), serializedlength counts the bytes the store holds for the value
 * (there is no RDB), and a list has no ql_ fields (no quicklist nodes).
 */
function debugObject(s: RespServer, c: Client, argv: Buffer[]): void {
  if (argv.length !== 3) {
    throw new ReplyError(`ERR unknown subcommand or wrong number of arguments for '${cString(argv[1]).slice(0, 128)}'. Try DEBUG HELP.`);
  }
  const key = keyArg(argv[2]);
  // As Redis's debug.c, which finds the key in the keyspace's dict: a key past its time that is still there is described, and stays.
  const v = s.keyspace.peek(c.db, key);
  if (v === undefined) throw new ReplyError('ERR no such key');
  const encoding = encodingOf(s, c.db, key, v);
  c.out.status(`Value at:0x0 refcount:${refcountOf(encoding, v)} encoding:${encoding} serializedlength:${storedLength(s, c.db, key, v)} lru:0 lru_seconds_idle:0`);
}

/**
 * Bytes the store holds for the value at `key`, past its key and record
 * headers: a string's bytes; for a collection, each element record's id
 * and payload (a list's 8-byte position and value, a hash's field and
 * value, a set's member, a sorted set's member and 8-byte score).
 */
function storedLength(s: RespServer, db: number, key: string, v: { type: number; value: Buffer }): number {
  const coll = s.keyspace.dbs[db].colls.get(key);
  if (coll === undefined) return v.value.length;
  let n = 0;
  for (const [id, payload] of typeOf(coll.type).elements(coll.data)) n += id.length + payload.length;
  return n;
}

function debugProtocol(c: Client, what: string): void {
  switch (what) {
    case 'string': c.out.bulk('Hello World'); return;
    case 'integer': c.out.int(12345); return;
    case 'double': c.out.double('3.141'); return;
    case 'bignum':
      if (c.out.proto === 3) c.out.raw('(1234567999999999999999999999999999999\r\n');
      else c.out.bulk('1234567999999999999999999999999999999');
      return;
    case 'null': c.out.nil(); return;
    case 'array': c.out.array(3); for (let i = 0; i < 3; i++) c.out.int(i); return;
    case 'set': c.out.set(3); for (let i = 0; i < 3; i++) c.out.int(i); return;
    case 'map': c.out.map(3); for (let i = 0; i < 3; i++) { c.out.int(i); c.out.bool(i === 1); } return;
    case 'attrib':
      if (c.out.proto === 3) {
        c.out.raw('|1\r\n');
        c.out.bulk('key-popularity');
        c.out.array(2);
        c.out.bulk('key:123');
        c.out.int(90);
      }
      c.out.bulk('Some real reply following the attribute');
      return;
    case 'push':
      if (c.out.proto !== 3) throw new ReplyError('ERR RESP2 is not supported by this command');
      c.out.push(2);
      c.out.bulk('server-cpu-usage');
      c.out.int(42);
      c.out.bulk('Some real reply following the push reply');
      return;
    case 'true': c.out.bool(true); return;
    case 'false': c.out.bool(false); return;
    case 'verbatim': c.out.verbatim('This is a verbatim\nstring'); return;
    default:
      throw new ReplyError('ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false');
  }
}

function shutdown(s: RespServer, c: Client, argv: Buffer[]): void {
  const flags = new Set<string>();
  for (const a of argv.slice(1)) {
    const w = word(a);
    if (!['nosave', 'save', 'now', 'force', 'abort'].includes(w)) throw new ReplyError('ERR syntax error');
    flags.add(w);
  }
  // Redis 7.0's illegal combinations: ABORT with any other flag, NOSAVE with SAVE.
  if ((flags.has('abort') && flags.size > 1) || (flags.has('nosave') && flags.has('save'))) throw new ReplyError('ERR syntax error');
  if (flags.has('abort')) throw new ReplyError('ERR No shutdown in progress.');
  s.log(`SHUTDOWN from client ${c.id}`);
  c.closing = true;
  s.shutdown();
}

function fn(_s: RespServer, c: Client, argv: Buffer[]): void {
  if (nameWord(argv[1]) === 'flush') {
    // FUNCTION FLUSH [ASYNC | SYNC], checked as Redis 7.0 checks it.
    if (argv.length > 3) throw new ReplyError("ERR unknown subcommand or wrong number of arguments for 'FLUSH'. Try FUNCTION HELP.");
    if (argv.length === 3 && !['async', 'sync'].includes(word(argv[2]))) throw new ReplyError('ERR FUNCTION FLUSH only supports SYNC|ASYNC option');
    c.out.ok();
    return;
  }
  throw new ReplyError('ERR FUNCTION is not supported by pmem serve (only FUNCTION FLUSH, which has nothing to flush)');
}

export const ADMIN_COMMANDS: Record<string, Def> = {
  info: [-1, 'loading stale', 0, 0, 0, info],
  dbsize: [1, 'readonly fast', 0, 0, 0, (s, c) => c.out.int(s.keyspace.size(c.db))],
  flushdb: [-1, 'write', 0, 0, 0, flushdb],
  flushall: [-1, 'write', 0, 0, 0, flushall],
  swapdb: [3, 'write fast', 0, 0, 0, swapdb],
  command: [-1, 'loading stale', 0, 0, 0, command],
  time: [1, 'fast', 0, 0, 0, time],
  lastsave: [1, 'fast', 0, 0, 0, (s, c) => c.out.int(Math.floor(s.keyspace.lastCommit / 1000))],
  save: [1, 'admin nomultiqueue', 0, 0, 0, save],
  bgsave: [-1, 'admin', 0, 0, 0, save],
  bgrewriteaof: [1, 'admin', 0, 0, 0, (_s, c) => c.out.status('Background append only file rewriting started (pmem: nothing to rewrite)')],
  shutdown: [-1, 'admin nomultiqueue', 0, 0, 0, shutdown],
  waitaof: [4, 'fast', 0, 0, 0, waitaof],
  wait: [3, 'fast', 0, 0, 0, wait],
  debug: [-2, 'admin', 0, 0, 0, debug],
  function: [-2, 'write', 0, 0, 0, fn],
  // MEMORY USAGE key [SAMPLES count]: its key at 2, for COMMAND GETKEYS.
  memory: [-2, 'readonly', 2, 2, 1, (s, c, a) => {
    if (nameWord(a[1]) !== 'usage' || a.length < 3) throw new ReplyError('ERR MEMORY supports only USAGE in pmem serve');
    for (let j = 3; j < a.length; j += 2) {
      // As Redis 7.0 reads them, though a value's size here is exact: no samples are taken.
      if (word(a[j]) !== 'samples' || j + 1 >= a.length) throw new ReplyError('ERR syntax error');
      const n = toI64(a[j + 1]);
      if (n === null) throw new ReplyError('ERR value is not an integer or out of range');
      if (n < 0n) throw new ReplyError('ERR syntax error');
    }
    const v = s.keyspace.get(c.db, keyBuf(a[2].toString('latin1')).toString('latin1'));
    if (v === undefined) c.out.nil();
    else c.out.int(v.value.length + a[2].length + 16);
  }],
};
