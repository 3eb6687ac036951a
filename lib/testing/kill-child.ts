// The child side of the kill harness (kill.ts): loads a workload module and
// runs it with a KillContext. Started as `node kill-child.js <workload>`.
//
// Messages go to the parent over file descriptor 3 with a synchronous
// write: when ctx.ack() returns, the message is in the kernel's socket
// buffer and reaches the parent even if this process is killed on the next
// instruction. When the parent reads slower than the workload acknowledges,
// the buffer fills and ack() waits, so the workload can run ahead of the
// parent's kill clock by at most one socket buffer of messages.
//
// The parent starts this process as the leader of a process group of its
// own and kills the whole group: a process the workload starts dies with it,
// as it would in a power cut (one that calls setsid, or is started detached,
// leaves the group and is not killed).
import * as fs from 'node:fs';
import type { Granularity, Region } from '../core/region';

const ACK_FD = 3;

/** What a workload's `run(ctx)` receives. */
export interface KillContext {
  /** The directory the workload keeps its files in; the same on every run. */
  readonly dir: string;
  /** This run's number, from 0. */
  readonly run: number;
  /** A seed for this run's own choices. */
  readonly seed: number;
  /**
   * Sends `value` (JSON) to the parent. Call it only once the write it
   * acknowledges is durable. The first ack of a run starts the parent's kill
   * clock unless `started()` did; a kill after it counts in
   * `KillReport.killsDuringWork`.
   */
  ack(value: unknown): void;
  /**
   * Sends `value` (JSON) to the parent, in order with the acknowledgements:
   * `verify` receives it among them, but it acknowledges no write. It neither
   * starts the kill clock nor counts in `KillReport.acked` (a record of the
   * state a run starts from, say).
   */
  note(value: unknown): void;
  /**
   * Marks where the work under test begins (before the workload opens its
   * files, say, when the open and its recovery are to be killed too). With
   * `crashAt: 'random'` and no `maxAcks`, the kill clock starts here; a kill
   * after it counts in `KillReport.killsAfterStart`. Only the first call
   * counts. Workloads that do not call it start the clock with their first ack.
   */
  started(): void;
  /**
   * Wraps a Region (a Mapping, say) so that each drain and persist counts as
   * an ordering point (a `sealRecord` that persists counts as one too); with
   * PMEM_CRASH_AT=N the process SIGKILLs itself just before the Nth one.
   * The wrapper has the inner Region's own `sealRecord` when it has one.
   */
  region<T extends Region>(inner: T): Region;
  /** Counts an ordering point of a workload that persists by other means (libpmemobj, say). */
  point(): void;
}

const CARRIES = 'a value JSON carries (null, a boolean, a number, a string, an array or an object)';

/**
 * A value for the channel, which carries JSON, as its JSON form gives it
 * back: what the parent's verify will get. Undefined, a function or a
 * symbol has no JSON form (it would vanish from the message, and the
 * parent could not tell what was acknowledged), nor has a value whose
 * toJSON returns nothing; NaN and the infinities, anywhere in it, would
 * reach verify as null.
 * @throws TypeError
 */
function json(value: unknown, name: string): unknown {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`ctx.${name} takes ${CARRIES}, got ${value === undefined ? 'undefined' : typeof value}`);
  }
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError(`ctx.${name} takes ${CARRIES}, got ${v} in it, which JSON carries as null`);
    return v;
  }) as string | undefined;
  if (text === undefined) throw new TypeError(`ctx.${name} takes ${CARRIES}, got a value with no JSON form (its toJSON returned undefined)`);
  return JSON.parse(text);
}

function send(message: unknown): void {
  const line = Buffer.from(JSON.stringify(message) + '\n');
  let off = 0;
  while (off < line.length) {
    try {
      off += fs.writeSync(ACK_FD, line, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

const crashAt = Number(process.env.PMEM_CRASH_AT ?? 0);
let points = 0;

/**
 * SIGKILLs this process and every process of its group, at once: the
 * workload's helpers stop at the same instant it does. A process that is
 * not its group's leader (run by hand, not by killTest) kills only itself:
 * its group is its parent's.
 */
function crash(): void {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    // ESRCH: no group of this process's own.
  }
  process.kill(process.pid, 'SIGKILL');
}

function point(): void {
  points++;
  if (crashAt > 0 && points === crashAt) {
    // The harness counts a SIGKILL as its crash point's only after this
    // message: any other (the kernel's OOM killer, say) is a failure of the
    // workload, not a kill that landed. Written before the kill, so it is
    // in the pipe when the parent reads what the group left.
    try {
      send({ crash: points });
    } catch {
      // The channel is gone, and the harness with it: nothing to tell.
    }
    crash();
  }
}

/**
 * How often the child checks that the harness is still its parent. The
 * child is in a process group of its own, so a terminal's Ctrl-C or a
 * harness killed outright no longer reaches it: once the harness is gone
 * (the child has a new parent), it kills its group rather than write on
 * into the directory with no one to verify it.
 */
const ORPHAN_CHECK_MS = 250;

/** A Region whose ordering points may be the last thing this process does. */
class KillRegion implements Region {
  readonly #inner: Region;
  declare sealRecord?: (crcAt: number, end: number, seed: number, persist: boolean, src?: Uint8Array, srcLength?: number) => number;

  constructor(inner: Region) {
    this.#inner = inner;
    // Forwarded only when the inner Region has its own: sealRecord() in
    // region.ts takes the generic path for a Region without one, and that
    // path reaches the ordering point through persist() below.
    const own = inner.sealRecord;
    if (typeof own === 'function') {
      this.sealRecord = (crcAt, end, seed, persist, src, srcLength) => {
        // A sealRecord that persists ends in a drain: the same ordering point
        // as the generic form's persist(), so PMEM_CRASH_AT=N stops at the same place.
        if (persist) point();
        return own.call(inner, crcAt, end, seed, persist, src, srcLength);
      };
    }
  }

  get bytes(): Buffer {
    return this.#inner.bytes;
  }

  get length(): number {
    return this.#inner.length;
  }

  get granularity(): Granularity {
    return this.#inner.granularity;
  }

  flush(offset: number, length: number): void {
    this.#inner.flush(offset, length);
  }

  drain(): void {
    point();
    this.#inner.drain();
  }

  persist(offset: number, length: number): void {
    point();
    this.#inner.persist(offset, length);
  }
}

async function main(): Promise<void> {
  const workload = process.argv[2];
  // The workload module loads its own dependencies (the addon, say) at its
  // top, here, before it can signal anything: start-up is never under the
  // kill clock.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const mod = require(workload) as { run?: (ctx: KillContext) => unknown };
  if (typeof mod.run !== 'function') throw new TypeError(`${workload} does not export run(ctx)`);
  let started = false;
  const ctx: KillContext = {
    dir: process.env.PMEM_KILL_DIR ?? '',
    run: Number(process.env.PMEM_KILL_RUN ?? 0),
    seed: Number(process.env.PMEM_KILL_SEED ?? 0),
    ack: (value) => send({ ack: json(value, 'ack') }),
    note: (value) => send({ note: json(value, 'note') }),
    started: () => {
      if (started) return;
      started = true;
      send({ started: true });
    },
    region: (inner) => new KillRegion(inner),
    point,
  };
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) crash();
  }, ORPHAN_CHECK_MS).unref();
  // `done` tells the parent that the workload returned: a kill after it is
  // not a kill during the work (KillReport.killsDuringWork). It is written
  // in the same synchronous step as a plain return, and in the reaction to
  // a promise's fulfilment, not after a further `await`: each tick between
  // the return and this write is a moment in which a kill would be counted
  // as landing during the work. A kill between the return and the write
  // (a few microseconds) still is: no child can close that window.
  const returned = mod.run(ctx);
  const then = (typeof returned === 'object' && returned !== null) || typeof returned === 'function'
    ? (returned as { then?: unknown }).then
    : undefined;
  if (typeof then !== 'function') {
    send({ done: points });
    return;
  }
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    then.call(
      returned,
      () => {
        if (settled) return;
        settled = true;
        send({ done: points });
        resolve();
      },
      (e: unknown) => {
        if (settled) return;
        settled = true;
        reject(e);
      },
    );
  });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
