// Pub/sub: channels and patterns, shard channels (SSUBSCRIBE, SPUBLISH: a
// namespace of their own, as Redis 7.0 has them outside a cluster), and who
// listens. Not persistent, as in Redis.
import type { Client } from './client';
import { globMatch } from './glob';

export class PubSub {
  readonly channels = new Map<string, Set<Client>>();
  readonly patterns = new Map<string, Set<Client>>();
  readonly shardChannels = new Map<string, Set<Client>>();

  subscribe(c: Client, ch: string): void {
    c.channels.add(ch);
    let s = this.channels.get(ch);
    if (s === undefined) this.channels.set(ch, (s = new Set()));
    s.add(c);
  }

  unsubscribe(c: Client, ch: string): boolean {
    const had = c.channels.delete(ch);
    const s = this.channels.get(ch);
    s?.delete(c);
    if (s?.size === 0) this.channels.delete(ch);
    return had;
  }

  ssubscribe(c: Client, ch: string): void {
    c.shardChannels.add(ch);
    let s = this.shardChannels.get(ch);
    if (s === undefined) this.shardChannels.set(ch, (s = new Set()));
    s.add(c);
  }

  sunsubscribe(c: Client, ch: string): boolean {
    const had = c.shardChannels.delete(ch);
    const s = this.shardChannels.get(ch);
    s?.delete(c);
    if (s?.size === 0) this.shardChannels.delete(ch);
    return had;
  }

  psubscribe(c: Client, p: string): void {
    c.patterns.add(p);
    let s = this.patterns.get(p);
    if (s === undefined) this.patterns.set(p, (s = new Set()));
    s.add(c);
  }

  punsubscribe(c: Client, p: string): boolean {
    const had = c.patterns.delete(p);
    const s = this.patterns.get(p);
    s?.delete(c);
    if (s?.size === 0) this.patterns.delete(p);
    return had;
  }

  /** Forgets a closed client. */
  drop(c: Client): void {
    for (const ch of [...c.channels]) this.unsubscribe(c, ch);
    for (const p of [...c.patterns]) this.punsubscribe(c, p);
    for (const ch of [...c.shardChannels]) this.sunsubscribe(c, ch);
  }

  /** How many subscribers a message on `channel` reaches now (channel and pattern subscriptions, or `sharded`: the shard channel's). */
  receivers(channel: Buffer, sharded = false): number {
    if (sharded) return this.shardChannels.get(channel.toString('latin1'))?.size ?? 0;
    let n = this.channels.get(channel.toString('latin1'))?.size ?? 0;
    for (const [p, set] of this.patterns) if (globMatch(Buffer.from(p, 'latin1'), channel)) n += set.size;
    return n;
  }

  /**
   * Queues `message` on `channel` to every subscriber (`sharded`: of the
   * shard channel, as 'smessage'); `deliver` is told which clients got
   * output. @returns receivers
   */
  publish(channel: Buffer, message: Buffer, deliver: (c: Client) => void, sharded = false): number {
    const ch = channel.toString('latin1');
    let n = 0;
    const subs = (sharded ? this.shardChannels : this.channels).get(ch);
    if (subs !== undefined) {
      for (const c of subs) {
        c.out.pushing = true;
        c.out.push(3);
        c.out.bulk(sharded ? 'smessage' : 'message');
        c.out.bulk(channel);
        c.out.bulk(message);
        c.out.pushing = false;
        deliver(c);
        n++;
      }
    }
    if (sharded) return n;
    for (const [p, set] of this.patterns) {
      if (!globMatch(Buffer.from(p, 'latin1'), channel)) continue;
      for (const c of set) {
        c.out.pushing = true;
        c.out.push(4);
        c.out.bulk('pmessage');
        c.out.bulk(Buffer.from(p, 'latin1'));
        c.out.bulk(channel);
        c.out.bulk(message);
        c.out.pushing = false;
        deliver(c);
        n++;
      }
    }
    return n;
  }
}
