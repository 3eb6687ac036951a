// What a command is: its name, arity (negative: at least), flags, key
// positions (for COMMAND INFO and the key length check), and its handler.
import type { Client } from '../client';
import type { RespServer } from '../server';

/**
 * Flags: 'write', 'readonly', 'admin', 'fast'; 'noauth' (runs before AUTH),
 * 'pubsub' (allowed in a RESP2 subscribed connection), 'nomulti' (runs at
 * once inside MULTI instead of being queued), 'nomultiqueue' (refused
 * inside MULTI).
 */
export interface Command {
  name: string;
  arity: number;
  flags: string[];
  firstKey: number;
  lastKey: number;
  step: number;
  /** The name in error messages, when not `name` (e.g. 'config|get'). */
  fullName?: string;
  run(server: RespServer, client: Client, argv: Buffer[]): void;
}

export type Handler = Command['run'];

/** A command's definition in a group's table: [arity, flags, firstKey, lastKey, step, handler]. */
export type Def = [number, string, number, number, number, Handler];
