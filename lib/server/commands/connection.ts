// Connection commands: PING, ECHO, HELLO, AUTH, CLIENT, SELECT, QUIT, RESET.
import { timingSafeEqual } from 'node:crypto';

import { ReplyError, type Client } from '../client';
import { pauseArgs } from '../pause';
import type { RespServer } from '../server';
import { cString, i32Arg, intArg, nameWord, toI64, word } from './args';
import type { Def } from './types';

function ping(_s: RespServer, c: Client, argv: Buffer[]): void {
  if (argv.length > 2) throw new ReplyError("ERR wrong number of arguments for 'ping' command");
  if (c.subscriptions > 0 && c.out.proto === 2) {
    c.out.array(2);
    c.out.bulk('pong');
    c.out.bulk(argv[1] ?? '');
    return;
  }
  if (argv.length === 2) c.out.bulk(argv[1]);
  else c.out.status('PONG');
}

function passwordMatches(s: RespServer, given: Buffer): boolean {
  const want = Buffer.from(s.requirepass ?? '', 'utf8');
  return want.length === given.length && timingSafeEqual(want, given);
}

/** AUTH [username] password: only the default user. */
function auth(s: RespServer, c: Client, argv: Buffer[]): void {
  if (argv.length > 3) throw new ReplyError('ERR syntax error');
  const user = argv.length === 3 ? argv[1].toString('latin1') : 'default';
  const pass = argv[argv.length - 1];
  if (s.requirepass === undefined && argv.length === 2) {
    throw new ReplyError('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
  }
  if (user !== 'default' || (s.requirepass !== undefined && !passwordMatches(s, pass)) || (s.requirepass === undefined && user !== 'default')) {
    throw new ReplyError('WRONGPASS invalid username-password pair or user is disabled.');
  }
  c.authenticated = true;
  c.out.ok();
}

/** HELLO [protover [AUTH user pass] [SETNAME name]] */
function hello(s: RespServer, c: Client, argv: Buffer[]): void {
  let proto = c.out.proto;
  let i = 1;
  if (argv.length > 1) {
    const v = toI64(argv[1]);
    if (v === null) throw new ReplyError('ERR Protocol version is not an integer or out of range');
    if (v !== 2n && v !== 3n) throw new ReplyError('NOPROTO unsupported protocol version');
    proto = Number(v);
    i = 2;
  }
  let name: string | null = null;
  for (; i < argv.length; i++) {
    const w = word(argv[i]);
    if (w === 'auth' && i + 2 < argv.length) {
      const user = argv[i + 1].toString('latin1');
      if (user !== 'default' || (s.requirepass !== undefined && !passwordMatches(s, argv[i + 2]))) {
        throw new ReplyError('WRONGPASS invalid username-password pair or user is disabled.');
      }
      c.authenticated = true;
      i += 2;
    } else if (w === 'setname' && i + 1 < argv.length) {
      name = checkName(argv[++i]);
    } else throw new ReplyError(`ERR Syntax error in HELLO option '${argv[i].toString('latin1')}'`);
  }
  if (!c.authenticated) throw new ReplyError('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time');
  if (name !== null) c.name = name;
  c.out.proto = proto;
  c.out.map(7);
  c.out.bulk('server');
  c.out.bulk('redis');
  c.out.bulk('version');
  c.out.bulk('7.0.15');
  c.out.bulk('proto');
  c.out.int(proto);
  c.out.bulk('id');
  c.out.int(c.id);
  c.out.bulk('mode');
  c.out.bulk('standalone');
  c.out.bulk('role');
  c.out.bulk('master');
  c.out.bulk('modules');
  c.out.array(0);
}

function checkName(b: Buffer): string {
  for (const ch of b) {
    if (ch < 0x21 || ch > 0x7e) throw new ReplyError('ERR Client names cannot contain spaces, newlines or special characters.');
  }
  return b.toString('latin1');
}

function client(s: RespServer, c: Client, argv: Buffer[]): void {
  const sub = nameWord(argv[1]);
  c.lastCommand = `client|${sub}`;
  const arity = (n: number): void => {
    if (argv.length !== n) throw new ReplyError(`ERR wrong number of arguments for 'client|${sub}' command`);
  };
  switch (sub) {
    case 'setname':
      arity(3);
      c.name = checkName(argv[2]);
      c.out.ok();
      return;
    case 'getname':
      arity(2);
      if (c.name === '') c.out.nil();
      else c.out.bulk(c.name);
      return;
    case 'setinfo': {
      arity(4);
      const attr = word(argv[2]);
      if (attr === 'lib-name') c.libName = checkName(argv[3]);
      else if (attr === 'lib-ver') c.libVersion = checkName(argv[3]);
      else throw new ReplyError(`ERR Unrecognized option '${argv[2].toString('latin1')}'`);
      c.out.ok();
      return;
    }
    case 'id':
      arity(2);
      c.out.int(c.id);
      return;
    case 'info':
      arity(2);
      c.out.verbatim(`${c.info()}\n`);
      return;
    case 'list': {
      const now = Date.now();
      let list = [...s.clients.values()];
      // As Redis 7.0 reads them: TYPE takes one type, ID one or more ids.
      if (argv.length === 4 && word(argv[2]) === 'type') {
        const t = clientTypeArg(argv[3]);
        list = list.filter((x) => clientType(x) === t);
      } else if (argv.length >= 4 && word(argv[2]) === 'id') {
        const ids = new Set(argv.slice(3).map((a) => {
          const id = toI64(a);
          if (id === null) throw new ReplyError('ERR Invalid client ID');
          return Number(id);
        }));
        list = list.filter((x) => ids.has(x.id));
      } else if (argv.length !== 2) throw new ReplyError('ERR syntax error');
      c.out.verbatim(list.map((x) => `${x.info(now)}\n`).join(''));
      return;
    }
    case 'no-evict':
    case 'no-touch': {
      arity(3);
      const w = word(argv[2]);
      if (w !== 'on' && w !== 'off') throw new ReplyError('ERR syntax error');
      c.out.ok();
      return;
    }
    case 'reply': {
      arity(3);
      const w = word(argv[2]);
      c.lastCommand = 'client|reply';
      if (w === 'on') {
        c.replyMode = 'on';
        c.out.muted = false;
        c.out.ok();
      } else if (w === 'off') c.replyMode = 'off';
      else if (w === 'skip') {
        if (c.replyMode === 'on') c.replyMode = 'skip';
      } else throw new ReplyError('ERR syntax error');
      return;
    }
    case 'kill': {
      clientKill(s, c, argv);
      return;
    }
    case 'unblock': {
      // CLIENT UNBLOCK id [TIMEOUT | ERROR]
      if (argv.length !== 3 && argv.length !== 4) throw new ReplyError(`ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.`);
      let error = false;
      if (argv.length === 4) {
        const how = word(argv[3]);
        if (how === 'error') error = true;
        else if (how !== 'timeout') throw new ReplyError('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
      }
      const x = s.clients.get(intArg(argv[2]));
      c.out.int(x !== undefined && s.blocking.unblock(x, error ? 'UNBLOCKED client unblocked via CLIENT UNBLOCK' : null) ? 1 : 0);
      return;
    }
    case 'pause': {
      // CLIENT PAUSE timeout [WRITE | ALL] (pause.ts)
      if (argv.length < 3) arity(3);
      if (argv.length > 4) throw new ReplyError(`ERR unknown subcommand or wrong number of arguments for '${cString(argv[1]).slice(0, 128)}'. Try CLIENT HELP.`);
      const { ms, type } = pauseArgs(argv, Date.now(), toI64);
      s.pause.pause(ms, type);
      c.out.ok();
      return;
    }
    case 'unpause':
      arity(2);
      s.pause.unpause();
      c.out.ok();
      return;
    case 'help':
      c.out.bulks(['CLIENT <subcommand>', 'ID', 'INFO', 'LIST', 'GETNAME', 'SETNAME <name>', 'SETINFO <attr> <value>', 'KILL', 'NO-EVICT',
        'PAUSE <timeout> [WRITE|ALL]', 'UNPAUSE', 'REPLY ON|OFF|SKIP']);
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${cString(argv[1]).slice(0, 128)}'. Try CLIENT HELP.`);
  }
}

function select(s: RespServer, c: Client, argv: Buffer[]): void {
  const n = i32Arg(argv[1]);
  if (n < 0 || n >= s.databases) throw new ReplyError('ERR DB index is out of range');
  c.db = Number(n);
  c.out.ok();
}

/**
 * A client type as CLIENT LIST TYPE and CLIENT KILL TYPE take it ('slave'
 * is 'replica'). @throws ReplyError for one Redis does not know
 */
function clientTypeArg(v: Buffer): string {
  const t = word(v);
  if (!['normal', 'pubsub', 'master', 'replica', 'slave'].includes(t)) throw new ReplyError(`ERR Unknown client type '${v.toString('latin1')}'`);
  return t === 'slave' ? 'replica' : t;
}

/** A client's type: no client is a master or a replica here; pubsub is one subscribed to a channel or pattern. */
function clientType(x: Client): string {
  return x.subscriptions > 0 ? 'pubsub' : 'normal';
}

/**
 * CLIENT KILL addr, or CLIENT KILL with filters (ID, TYPE, ADDR, LADDR,
 * USER, SKIPME), as Redis 7.0 reads them: each filter given narrows the
 * match, the last of a kind wins, and the caller is skipped unless SKIPME
 * no (the old form kills it too). The caller is not cut off: its reply,
 * and every reply queued before it (acknowledgements of writes among
 * them), is sent first, then its connection closes, as after QUIT.
 */
function clientKill(s: RespServer, c: Client, argv: Buffer[]): void {
  let addr: string | null = null;
  let laddr: string | null = null;
  let id = 0;
  let type: string | null = null;
  let skipme = true;
  const old = argv.length === 3;
  if (old) {
    addr = argv[2].toString('latin1');
    skipme = false;
  } else if (argv.length > 3 && argv.length % 2 === 0) {
    for (let i = 2; i < argv.length; i += 2) {
      const f = word(argv[i]);
      const v = argv[i + 1];
      if (f === 'id') {
        const n = toI64(v);
        if (n === null || n < 1n) throw new ReplyError('ERR client-id should be greater than 0');
        id = Number(n);
      } else if (f === 'type') {
        type = clientTypeArg(v);
      } else if (f === 'addr') addr = v.toString('latin1');
      else if (f === 'laddr') laddr = v.toString('latin1');
      else if (f === 'user') {
        // One user, Redis's 'default': there is no ACL here.
        if (v.toString('latin1') !== 'default') throw new ReplyError(`ERR No such user '${v.toString('latin1')}'`);
      } else if (f === 'skipme') {
        const w = word(v);
        if (w === 'yes') skipme = true;
        else if (w === 'no') skipme = false;
        else throw new ReplyError('ERR syntax error');
      } else throw new ReplyError('ERR syntax error');
    }
  } else throw new ReplyError('ERR syntax error');
  let killed = 0;
  let self = false;
  for (const x of [...s.clients.values()]) {
    if (addr !== null && x.addr !== addr) continue;
    if (laddr !== null && x.laddr !== laddr) continue;
    if (type !== null && clientType(x) !== type) continue;
    if (id !== 0 && x.id !== id) continue;
    if (x === c && skipme) continue;
    if (x === c) self = true;
    else s.kill(x);
    killed++;
  }
  if (old) {
    if (killed === 0) throw new ReplyError('ERR No such client');
    c.out.ok();
  } else c.out.int(killed);
  // After its reply is queued: closed once what is queued is sent.
  if (self) c.closing = true;
}

function quit(_s: RespServer, c: Client): void {
  c.out.ok();
  c.closing = true;
}

function reset(s: RespServer, c: Client): void {
  c.multi = null;
  c.multiError = false;
  s.watches.unwatchAll(c);
  s.pubsub.drop(c);
  c.db = 0;
  c.out.proto = 2;
  c.name = '';
  c.replyMode = 'on';
  c.authenticated = s.requirepass === undefined;
  c.out.status('RESET');
}

export const CONNECTION_COMMANDS: Record<string, Def> = {
  ping: [-1, 'fast pubsub', 0, 0, 0, ping],
  echo: [2, 'fast', 0, 0, 0, (_s, c, a) => c.out.bulk(a[1])],
  auth: [-2, 'noauth fast', 0, 0, 0, auth],
  hello: [-1, 'noauth fast', 0, 0, 0, hello],
  client: [-2, 'admin', 0, 0, 0, client],
  select: [2, 'fast', 0, 0, 0, select],
  quit: [-1, 'noauth fast pubsub nomulti', 0, 0, 0, quit],
  reset: [1, 'noauth fast pubsub nomulti', 0, 0, 0, reset],
};
