// SLOWLOG and ROLE, as Redis 7.0 answers them. The log itself is
// slowlog.ts; ROLE reads the replication state INFO replication reads.
import { ReplyError, type Client } from '../client';
import type { RespServer } from '../server';
import { parseAddress } from '../../replicate/options';
import { cString, nameWord, toI64 } from './args';
import type { Def } from './types';

const SLOWLOG_ARITY = new Map([['get', -2], ['len', 2], ['reset', 2], ['help', 2]]);

const SLOWLOG_HELP = [
  'SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'GET [<count>]',
  '    Return top <count> entries from the slowlog (default: 10, -1 mean all).',
  '    Entries are made of:',
  '    id, timestamp, time in microseconds, arguments array, client IP and port,',
  '    client name',
  'LEN',
  '    Return the length of the slowlog.',
  'RESET',
  '    Reset the slowlog.',
  'HELP',
  '    Prints this help.',
];

/** SLOWLOG GET [count] | LEN | RESET | HELP */
function slowlog(s: RespServer, c: Client, argv: Buffer[]): void {
  const sub = nameWord(argv[1]);
  // Redis 7.0's subcommand table: an unknown name, then each one's arity.
  const arity = SLOWLOG_ARITY.get(sub);
  if (arity === undefined) throw new ReplyError(`ERR unknown subcommand '${cString(argv[1]).slice(0, 128)}'. Try SLOWLOG HELP.`);
  if ((arity > 0 && argv.length !== arity) || argv.length < -arity) throw new ReplyError(`ERR wrong number of arguments for 'slowlog|${sub}' command`);
  const log = s.slowlog;
  switch (sub) {
    case 'help':
      c.out.array(SLOWLOG_HELP.length);
      for (const line of SLOWLOG_HELP) c.out.status(line);
      return;
    case 'len':
      c.out.int(log.entries.length);
      return;
    case 'reset':
      log.reset();
      c.out.ok();
      return;
    default: {
      if (argv.length > 3) throw new ReplyError(`ERR unknown subcommand or wrong number of arguments for '${cString(argv[1]).slice(0, 128)}'. Try SLOWLOG HELP.`);
      let count = 10;
      if (argv.length === 3) {
        const n = toI64(argv[2]);
        if (n === null || n < -1n) throw new ReplyError('ERR count should be greater than or equal to -1');
        count = n === -1n ? log.entries.length : Number(n > 1_000_000_000n ? 1_000_000_000n : n);
      }
      const sent = log.entries.slice(0, count);
      c.out.array(sent.length);
      for (const e of sent) {
        c.out.array(6);
        c.out.int(e.id);
        c.out.int(e.time);
        c.out.int(e.duration);
        c.out.bulks(e.args);
        c.out.bulk(e.peer);
        c.out.bulk(e.name);
      }
    }
  }
}

/**
 * ROLE: always a master (pmem serve is no Redis replica). With backups
 * (`--replica`), each connected one with the LSN it has persisted, as INFO
 * replication lists them; the offset is the journal's last LSN.
 */
function role(s: RespServer, c: Client): void {
  const j = s.replication?.journal;
  const online = j === undefined ? [] : j.links.filter((l) => l.connected);
  c.out.array(3);
  c.out.bulk('master');
  c.out.int(j === undefined ? 0 : j.lastLsn);
  c.out.array(online.length);
  for (const l of online) {
    const { host, port } = parseAddress(l.address, 'replica');
    c.out.array(3);
    c.out.bulk(host);
    c.out.bulk(String(port));
    c.out.bulk(String(l.persistedLsn));
  }
}

export const INTROSPECTION_COMMANDS: Record<string, Def> = {
  slowlog: [-2, 'admin loading stale', 0, 0, 0, slowlog],
  role: [1, 'loading stale fast', 0, 0, 0, (s, c) => role(s, c)],
};
