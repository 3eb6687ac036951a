// SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB, and the
// shard channels' SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH.
import { ReplyError, type Client } from '../client';
import { globMatch } from '../glob';
import type { RespServer } from '../server';
import { cString, nameWord, word } from './args';
import type { Def } from './types';

/**
 * A (un)subscribe confirmation: a push, written also under CLIENT REPLY
 * OFF, with the client's count of that kind: channels and patterns
 * together, or shard channels alone, as Redis 7.0 counts them.
 */
function confirm(c: Client, kind: string, name: Buffer | null): void {
  c.out.pushing = true;
  c.out.push(3);
  c.out.bulk(kind);
  if (name === null) c.out.nil();
  else c.out.bulk(name);
  c.out.int(kind === 'ssubscribe' || kind === 'sunsubscribe' ? c.shardChannels.size : c.channels.size + c.patterns.size);
  c.out.pushing = false;
}

/** SSUBSCRIBE shardchannel... */
function ssubscribe(s: RespServer, c: Client, argv: Buffer[]): void {
  for (const a of argv.slice(1)) {
    s.pubsub.ssubscribe(c, a.toString('latin1'));
    confirm(c, 'ssubscribe', a);
  }
}

/** SUNSUBSCRIBE [shardchannel...]: each named one is confirmed, subscribed or not; none named, every one (or a nil when there is none). */
function sunsubscribe(s: RespServer, c: Client, argv: Buffer[]): void {
  const names = argv.length > 1 ? argv.slice(1).map((a) => a.toString('latin1')) : [...c.shardChannels];
  if (names.length === 0) {
    confirm(c, 'sunsubscribe', null);
    return;
  }
  for (const n of names) {
    s.pubsub.sunsubscribe(c, n);
    confirm(c, 'sunsubscribe', Buffer.from(n, 'latin1'));
  }
}

function subscribe(pattern: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    for (const a of argv.slice(1)) {
      const n = a.toString('latin1');
      if (pattern) s.pubsub.psubscribe(c, n);
      else s.pubsub.subscribe(c, n);
      confirm(c, pattern ? 'psubscribe' : 'subscribe', a);
    }
  };
}

function unsubscribe(pattern: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const kind = pattern ? 'punsubscribe' : 'unsubscribe';
    const names = argv.length > 1 ? argv.slice(1).map((a) => a.toString('latin1')) : [...(pattern ? c.patterns : c.channels)];
    if (names.length === 0) {
      confirm(c, kind, null);
      return;
    }
    for (const n of names) {
      if (pattern) s.pubsub.punsubscribe(c, n);
      else s.pubsub.unsubscribe(c, n);
      confirm(c, kind, Buffer.from(n, 'latin1'));
    }
  };
}

/** PUBLISH, or SPUBLISH (`sharded`: to the shard channel's subscribers, as 'smessage'). */
function publishTo(sharded: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const notify = s.keyspace.notify;
    if (notify.queued === 0) {
      c.out.int(s.pubsub.publish(argv[1], argv[2], (x) => s.deliver(x), sharded));
      return;
    }
    // Keyspace events of this turn wait for their commit: the message goes out behind them, in command order.
    notify.enqueueMessage(argv[1], argv[2], sharded);
    c.out.int(s.pubsub.receivers(argv[1], sharded));
  };
}

function pubsub(s: RespServer, c: Client, argv: Buffer[]): void {
  const sub = nameWord(argv[1]);
  switch (sub) {
    case 'channels': {
      if (argv.length > 3) throw new ReplyError("ERR wrong number of arguments for 'pubsub|channels' command");
      const p = argv[2];
      const out = [...s.pubsub.channels.keys()].map((k) => Buffer.from(k, 'latin1')).filter((k) => p === undefined || globMatch(p, k));
      c.out.bulks(out);
      return;
    }
    case 'numsub':
      // An array of channel, count pairs in RESP3 too, as Redis 7.0 answers.
      c.out.array(2 * (argv.length - 2));
      for (const a of argv.slice(2)) {
        c.out.bulk(a);
        c.out.int(s.pubsub.channels.get(a.toString('latin1'))?.size ?? 0);
      }
      return;
    case 'numpat':
      if (argv.length !== 2) throw new ReplyError("ERR wrong number of arguments for 'pubsub|numpat' command");
      c.out.int(s.pubsub.patterns.size);
      return;
    case 'shardchannels': {
      if (argv.length > 3) throw new ReplyError("ERR wrong number of arguments for 'pubsub|shardchannels' command");
      const p = argv[2];
      c.out.bulks([...s.pubsub.shardChannels.keys()].map((k) => Buffer.from(k, 'latin1')).filter((k) => p === undefined || globMatch(p, k)));
      return;
    }
    case 'shardnumsub':
      // An array of pairs in RESP3 too, as NUMSUB.
      c.out.array(2 * (argv.length - 2));
      for (const a of argv.slice(2)) {
        c.out.bulk(a);
        c.out.int(s.pubsub.shardChannels.get(a.toString('latin1'))?.size ?? 0);
      }
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${cString(argv[1]).slice(0, 128)}'. Try PUBSUB HELP.`);
  }
}

// 'pubsub': allowed while a RESP2 client is subscribed; PUBLISH, SPUBLISH
// and PUBSUB are not, as in Redis 7.0. A shard channel is no key (Redis's
// key specs mark it not-key: COMMAND GETKEYS finds none).
export const PUBSUB_COMMANDS: Record<string, Def> = {
  subscribe: [-2, 'pubsub', 0, 0, 0, subscribe(false)],
  unsubscribe: [-1, 'pubsub', 0, 0, 0, unsubscribe(false)],
  psubscribe: [-2, 'pubsub', 0, 0, 0, subscribe(true)],
  punsubscribe: [-1, 'pubsub', 0, 0, 0, unsubscribe(true)],
  ssubscribe: [-2, 'pubsub', 0, 0, 0, ssubscribe],
  sunsubscribe: [-1, 'pubsub', 0, 0, 0, sunsubscribe],
  publish: [3, 'fast', 0, 0, 0, publishTo(false)],
  spublish: [3, 'fast', 0, 0, 0, publishTo(true)],
  pubsub: [-2, '', 0, 0, 0, pubsub],
};
