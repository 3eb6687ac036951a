// CONFIG GET, SET, RESETSTAT and REWRITE: the parameters pmem serve answers
// for, those that take effect, and any other remembered as given.
import { ReplyError, type Client } from '../client';
import { globMatch } from '../glob';
import { formatNotifyFlags, NOTIFY_FLAGS_ERROR, parseNotifyFlags } from '../notify';
import type { RespServer } from '../server';
import { I64_MAX, memoryValue, toI64, word } from './args';
import type { Def } from './types';

/** Parameters CONFIG GET answers with a value; unknown ones are remembered as set (tolerant, as clients and harnesses need). */
function configDefaults(s: RespServer): Record<string, string> {
  return {
    port: String(s.port), bind: s.host, databases: String(s.databases), requirepass: s.requirepass ?? '',
    appendonly: 'no', appendfsync: 'always', save: '', maxmemory: '0', 'maxmemory-policy': 'noeviction',
    'proto-max-bulk-len': String(s.limits.maxBulk), maxclients: String(s.maxClients), 'client-query-buffer-limit': String(s.limits.maxBulk + 1024 * 1024),
    'client-output-buffer-limit': `normal ${s.maxOutput} ${s.maxOutput} 0 slave 0 0 0 pubsub ${s.maxOutput} ${s.maxOutput} 0`,
    timeout: '0', hz: '10', 'lazyfree-lazy-user-del': 'no', 'lazyfree-lazy-user-flush': 'no', 'active-expire-effort': '1',
    dir: s.dir, dbfilename: s.file, 'latency-tracking': 'no', 'notify-keyspace-events': formatNotifyFlags(s.keyspace.notify.flags),
  };
}

/** Parameters whose values are sizes: CONFIG SET checks them (the others are taken as given). */
const MEMORY_PARAMS = new Set(['maxmemory', 'proto-max-bulk-len', 'client-query-buffer-limit']);

function config(s: RespServer, c: Client, argv: Buffer[]): void {
  const sub = word(argv[1]);
  const defaults = configDefaults(s);
  const value = (k: string): string => s.config.get(k) ?? defaults[k];
  switch (sub) {
    case 'get': {
      if (argv.length < 3) throw new ReplyError("ERR wrong number of arguments for 'config|get' command");
      const found = new Map<string, string>();
      const names = new Set([...Object.keys(defaults), ...s.config.keys()]);
      for (const p of argv.slice(2)) {
        for (const k of names) if (globMatch(p, Buffer.from(k), true)) found.set(k, value(k));
      }
      c.out.map(found.size);
      for (const [k, v] of found) {
        c.out.bulk(k);
        c.out.bulk(v);
      }
      return;
    }
    case 'set': {
      if (argv.length < 4 || argv.length % 2 !== 0) throw new ReplyError("ERR wrong number of arguments for 'config|set' command");
      for (let i = 2; i < argv.length; i += 2) {
        const k = word(argv[i]);
        const v = argv[i + 1].toString('latin1');
        // Sizes are read as Redis reads them (memtoull), then checked against the range it would use.
        const size = MEMORY_PARAMS.has(k) ? memoryValue(v) : null;
        if (MEMORY_PARAMS.has(k) && size === null) {
          throw new ReplyError(`ERR CONFIG SET failed (possibly related to argument '${k}') - argument must be a memory value`);
        }
        if (k === 'client-query-buffer-limit' && ((size as bigint) < 1024n * 1024n || (size as bigint) > I64_MAX)) {
          throw new ReplyError(`ERR CONFIG SET failed (possibly related to argument '${k}') - argument must be between 1048576 and 9223372036854775807 inclusive`);
        }
        if (k === 'notify-keyspace-events') {
          const flags = parseNotifyFlags(v);
          if (flags === -1) throw new ReplyError(`ERR CONFIG SET failed (possibly related to argument '${k}') - ${NOTIFY_FLAGS_ERROR}`);
          s.keyspace.notify.flags = flags;
          continue; // CONFIG GET prints the flags, as Redis does (not the string given)
        }
        if (k === 'requirepass') s.requirepass = v === '' ? undefined : v;
        else if (k === 'proto-max-bulk-len') {
          // Redis takes 1 MiB to 2^63-1; a value of the store stops at 64 MiB.
          const n = size as bigint;
          if (n < 1024n * 1024n || n > 64n * 1024n * 1024n) throw new ReplyError(`ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1mb and 64mb (the store's largest value)`);
          s.limits.maxBulk = Number(n);
        } else if (k === 'maxclients') {
          // At least 1: a limit of 0 would refuse every connection, the one that could raise it again too.
          // An integer as string2ll reads it, then checked as an unsigned int: a negative one is out of range, not unparsed.
          const n = toI64(v);
          if (n === null) throw new ReplyError(`ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer`);
          if (n < 1n || n > 4294967295n) throw new ReplyError(`ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive`);
          s.maxClients = Number(n);
        }
        s.config.set(k, size === null ? v : String(size)); // a size reads back in bytes, as Redis prints it
      }
      c.out.ok();
      return;
    }
    case 'resetstat':
      s.stats.errors.clear();
      s.stats.commands = 0;
      s.stats.keyspaceHits = 0;
      s.stats.keyspaceMisses = 0;
      c.out.ok();
      return;
    case 'rewrite':
      throw new ReplyError('ERR The server is running without a config file');
    default:
      throw new ReplyError(`ERR unknown subcommand '${argv[1].toString('latin1')}'. Try CONFIG HELP.`);
  }
}

export const CONFIG_COMMANDS: Record<string, Def> = {
  config: [-2, 'admin', 0, 0, 0, config],
};
