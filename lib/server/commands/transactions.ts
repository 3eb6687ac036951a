// MULTI, EXEC, DISCARD, WATCH, UNWATCH. EXEC runs the queued commands one
// after another in the same turn: their writes are in the same batch, so
// the transaction is atomic and durable as one record.
import { ReplyError, type Client } from '../client';
import type { RespServer } from '../server';
import { keyArg } from './args';
import type { Def } from './types';

function multi(_s: RespServer, c: Client): void {
  if (c.multi !== null) throw new ReplyError('ERR MULTI calls can not be nested');
  c.multi = [];
  c.multiError = false;
  c.out.ok();
}

function exec(s: RespServer, c: Client): void {
  if (c.multi === null) throw new ReplyError('ERR EXEC without MULTI');
  const queued = c.multi;
  c.multi = null;
  if (c.multiError) {
    c.multiError = false;
    s.watches.unwatchAll(c);
    throw new ReplyError('EXECABORT Transaction discarded because of previous errors.');
  }
  // A watched key that expired since WATCH counts as changed only if it was live then; Redis 7.0 checks at EXEC.
  if (c.dirty || [...c.watched.keys()].some((id) => s.watches.expired(c, id))) {
    s.watches.unwatchAll(c);
    c.out.nilArray();
    return;
  }
  s.watches.unwatchAll(c);
  c.out.array(queued.length);
  for (const argv of queued) s.dispatch.execute(c, argv);
}

function discard(s: RespServer, c: Client): void {
  if (c.multi === null) throw new ReplyError('ERR DISCARD without MULTI');
  c.multi = null;
  c.multiError = false;
  s.watches.unwatchAll(c);
  c.out.ok();
}

function watch(s: RespServer, c: Client, argv: Buffer[]): void {
  if (c.multi !== null) throw new ReplyError('ERR WATCH inside MULTI is not allowed');
  for (let i = 1; i < argv.length; i++) s.watches.watch(c, c.db, keyArg(argv[i]));
  c.out.ok();
}

function unwatch(s: RespServer, c: Client): void {
  s.watches.unwatchAll(c);
  c.out.ok();
}

export const TRANSACTION_COMMANDS: Record<string, Def> = {
  multi: [1, 'fast nomulti', 0, 0, 0, multi],
  exec: [1, 'nomulti', 0, 0, 0, exec],
  discard: [1, 'fast nomulti', 0, 0, 0, discard],
  watch: [-2, 'fast nomulti', 1, -1, 1, watch],
  unwatch: [1, 'fast', 0, 0, 0, unwatch],
};
