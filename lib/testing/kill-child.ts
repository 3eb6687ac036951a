// The child side of the kill harness (kill.ts): loads a workload module and
// runs it with a KillContext. Started as `node kill-child.js <workload>`.
//
// Acknowledgements go to the parent over file descriptor 3 with a
// synchronous write: when ctx.ack() returns, the message is in the kernel's
// socket buffer and reaches the parent even if this process is killed on
// the next instruction.
import * as fs from 'node:fs';
import type { Granularity, Region } from '../region';

const ACK_FD = 3;

/** What a workload's `run(ctx)` receives. */
export interface KillContext {
  /** The directory the workload keeps its files in; the same on every run. */
  readonly dir: string;
  /** This run's number, from 0. */
  readonly run: number;
  /** A seed for this run's own choices. */
  readonly seed: number;
  /** Sends `value` (JSON) to the parent. Call it only once the write it acknowledges is durable. */
  ack(value: unknown): void;
  /**
   * Wraps a Region (a Mapping, say) so that each drain and persist counts as
   * an ordering point; with PMEM_CRASH_AT=N the process SIGKILLs itself
   * just before the Nth one.
   */
  region<T extends Region>(inner: T): Region;
  /** Counts an ordering point of a workload that persists by other means (libpmemobj, say). */
  point(): void;
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

function point(): void {
  points++;
  if (crashAt > 0 && points === crashAt) process.kill(process.pid, 'SIGKILL');
}

/** A Region whose ordering points may be the last thing this process does. */
class KillRegion implements Region {
  readonly #inner: Region;

  constructor(inner: Region) {
    this.#inner = inner;
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
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const mod = require(workload) as { run?: (ctx: KillContext) => unknown };
  if (typeof mod.run !== 'function') throw new TypeError(`${workload} does not export run(ctx)`);
  const ctx: KillContext = {
    dir: process.env.PMEM_KILL_DIR ?? '',
    run: Number(process.env.PMEM_KILL_RUN ?? 0),
    seed: Number(process.env.PMEM_KILL_SEED ?? 0),
    ack: (value) => send({ ack: value }),
    region: (inner) => new KillRegion(inner),
    point,
  };
  send({ ready: true });
  await mod.run(ctx);
  send({ done: points });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
