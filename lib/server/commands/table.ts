// Every command of the server, by lower-case name.
import { ADMIN_COMMANDS, registry } from './admin';
import { BIT_COMMANDS } from './bits';
import { CONFIG_COMMANDS } from './config';
import { CONNECTION_COMMANDS } from './connection';
import { GEO_COMMANDS } from './geo';
import { HASH_COMMANDS } from './hashes';
import { HLL_COMMANDS } from './hll';
import { INTROSPECTION_COMMANDS } from './introspection';
import { KEY_COMMANDS } from './keys';
import { LIST_COMMANDS } from './lists';
import { PUBSUB_COMMANDS } from './pubsub';
import { SET_COMMANDS } from './sets';
import { SORT_COMMANDS } from './sort';
import { STRING_COMMANDS } from './strings';
import { TRANSACTION_COMMANDS } from './transactions';
import type { Command, Def } from './types';
import { ZSET_COMMANDS } from './zsets';

export type { Command } from './types';

function build(...groups: Record<string, Def>[]): Map<string, Command> {
  const out = new Map<string, Command>();
  for (const g of groups) {
    for (const [name, [arity, flags, firstKey, lastKey, step, run]] of Object.entries(g)) {
      out.set(name, { name, arity, flags: flags.split(' ').filter((f) => f.length > 0), firstKey, lastKey, step, run });
    }
  }
  return out;
}

export const COMMANDS = build(
  CONNECTION_COMMANDS, ADMIN_COMMANDS, CONFIG_COMMANDS, KEY_COMMANDS, STRING_COMMANDS, TRANSACTION_COMMANDS, PUBSUB_COMMANDS,
  HASH_COMMANDS, SET_COMMANDS, LIST_COMMANDS, ZSET_COMMANDS, SORT_COMMANDS, BIT_COMMANDS, INTROSPECTION_COMMANDS, GEO_COMMANDS, HLL_COMMANDS,
);
registry.commands = COMMANDS;
