import { checkIndex, checkOptions, checkRange, typeName } from '../core/args';
import { binding, type NativeSim } from '../core/binding';
import { closedError, type PmemError } from '../core/errors';
import type { Granularity, Region } from '../core/region';

export type { NativeSim } from '../core/binding';

/**
 * What the simulated machine keeps across a power failure:
 * - `'adr'`: x86 ADR. Caches are volatile; a store is durable only after a
 *   flush of its line and a fence. Any dirty line may also reach the media
 *   on its own at any time. Granularity 'cache-line' (64 bytes).
 * - `'eadr'`: caches are in the persistence domain; a crash keeps the view
 *   as it is. Granularity 'byte'.
 * - `'page'`: no DAX; msync writes whole 4096-byte pages. A flush is the
 *   msync and is durable when it returns; any subset of the other dirty
 *   pages may have been written back. Granularity 'page'.
 */
export type SimMode = 'adr' | 'eadr' | 'page';

export interface CrashSimOptions {
  mode?: SimMode;
}

/** The native half of a CrashSim (native/sim/sim.cc). Not API. */

/** The kinds of crash image, indexed by the native ImageKind. */
export const IMAGE_KINDS = ['exhaustive', 'persisted', 'full', 'single', 'pair', 'random', 'view'] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];

const MODES: Record<SimMode, { code: number; granularity: Granularity }> = {
  adr: { code: 0, granularity: 'cache-line' },
  eadr: { code: 1, granularity: 'byte' },
  page: { code: 2, granularity: 'page' },
};

/** Largest simulated region (the simulator keeps several copies of it). */
export const MAX_SIM_SIZE = 2 ** 30;

/** Receives each crash point while a CrashSim records. @internal */
export type PointSink = (label: string) => void;

const natives = new WeakMap<CrashSim, NativeSim>();
const sinks = new WeakMap<CrashSim, PointSink>();
/** Simulators whose recording is over (closeRecorded). */
const closed = new WeakSet<CrashSim>();

/** @internal */
export function checkMode(mode: unknown): SimMode {
  if (typeof mode !== 'string') throw new TypeError(`mode must be a string, got ${typeName(mode)}`);
  if (!Object.prototype.hasOwnProperty.call(MODES, mode)) {
    throw new RangeError(`mode must be 'adr', 'eadr' or 'page', got '${mode}'`);
  }
  return mode as SimMode;
}

/** @internal */
export function checkSize(size: unknown): number {
  checkIndex(size, 'size');
  if ((size as number) === 0 || (size as number) > MAX_SIM_SIZE) {
    throw new RangeError(`size must be 1..${MAX_SIM_SIZE}, got ${size}`);
  }
  return size as number;
}

/**
 * A Region over ordinary memory that models the persistence domain. Stores
 * go straight into `bytes`; the simulator keeps the persisted image beside
 * them and finds what is dirty by comparing the two, 8 bytes at a time, in
 * native code. Nothing a CrashSim holds survives anything: it is for
 * `crashTest`, which records crash points while an operation runs and then
 * replays every crash image through the structure's recovery.
 */
export class CrashSim implements Region {
  readonly bytes: Buffer;
  readonly length: number;
  readonly granularity: Granularity;
  readonly mode: SimMode;

  constructor(size: number, options: CrashSimOptions = {}) {
    this.length = checkSize(size);
    checkOptions(options, ['mode']);
    this.mode = checkMode(options.mode === undefined ? 'adr' : options.mode);
    this.granularity = MODES[this.mode].granularity;
    const native = new binding.Sim(size, MODES[this.mode].code, !untracked);
    natives.set(this, native);
    this.bytes = Buffer.from(native.buffer, 0, size);
  }

  /**
   * True once crashTest (or replayCrash) has recorded its operation on this
   * simulator: its bytes are detached, and its ordering points throw.
   */
  get closed(): boolean {
    return closed.has(this);
  }

  /**
   * 'adr': CLWB. Takes a snapshot of every dirty line in the range; the next
   * drain makes the snapshot (not any later store) durable. 'page': msync,
   * durable when it returns (a crash point comes first). 'eadr': nothing.
   */
  flush(offset: number, length: number): void {
    this.#live();
    checkRange(offset, length, this.length);
    if (this.mode === 'page') this.#point('drain');
    natives.get(this)!.flush(offset, length);
  }

  /** SFENCE: every snapshot taken by an earlier flush is durable (a crash point comes first). */
  drain(): void {
    this.#live();
    if (this.mode !== 'page') this.#point('drain');
    natives.get(this)!.drain();
  }

  /** flush + drain: [offset, offset + length) is durable when it returns. */
  persist(offset: number, length: number): void {
    this.flush(offset, length);
    this.drain();
  }

  /** A crash point with a label of the caller's (recorded only inside crashTest). */
  mark(label = 'mark'): void {
    if (typeof label !== 'string') throw new TypeError('label must be a string');
    this.#live();
    this.#point(label);
  }

  /** Units (lines, or pages) that are not durable as they stand. */
  dirtyUnits(): number {
    this.#live();
    return natives.get(this)!.dirty();
  }

  /** A copy of the persisted image: what a crash would keep if no dirty unit were written back. */
  persisted(): Buffer {
    this.#live();
    return natives.get(this)!.persisted();
  }

  #live(): void {
    if (closed.has(this)) throw lateWork();
  }

  #point(label: string): void {
    const sink = sinks.get(this);
    if (sink !== undefined) sink(label);
  }
}

let untracked = false;

/** A CrashSim that only checks its arguments: the target crash images are built into. @internal */
export function replayTarget(size: number, mode: SimMode): CrashSim {
  untracked = true;
  try {
    return new CrashSim(size, { mode });
  } finally {
    untracked = false;
  }
}

/** @internal */
export function nativeOf(sim: CrashSim): NativeSim {
  return natives.get(sim)!;
}

/**
 * The error for work on a recording that is over: crashTest runs its
 * operation synchronously, so what the operation left to run later (a
 * timer, a callback, a promise it did not return) is not in any crash
 * image, and its acknowledgements reach no check. Thrown rather than
 * ignored, which would pass a structure that was never tested.
 * @internal
 */
export function lateWork(): PmemError {
  const e = closedError('this CrashSim');
  e.message += ': crashTest closes the region it recorded when the operation returns, and work done after that ' +
    '(in a timer, a callback, or a promise the operation did not return) is not tested';
  return e;
}

/**
 * Ends a recorded simulator's life as a Region: its ordering points throw
 * (lateWork), and its bytes are detached, so that a late store reaches
 * nothing and a recover that reads this region (through a structure opened
 * in setup, say) instead of the image it is given fails on every image
 * instead of passing them all. The native model keeps its own share of the
 * memory and goes on building images. @internal
 */
export function closeRecorded(sim: CrashSim): void {
  closed.add(sim);
  natives.get(sim)!.detach();
}

/**
 * Frees what a simulator holds once a crash test is done with it: the
 * recorded one's model and images, and the bytes of any whose buffer is
 * detached (closeRecorded, or detachTarget). Without it they would wait for
 * finalizers, which run only when the event loop turns. @internal
 */
export function releaseSim(sim: CrashSim): void {
  natives.get(sim)!.release();
}

/** Cuts JavaScript off a recovery target's bytes (then releaseSim frees them). @internal */
export function detachTarget(sim: CrashSim): void {
  natives.get(sim)!.detach();
}

/** Routes the crash points of `sim` to `sink` (or stops, with null). @internal */
export function setPointSink(sim: CrashSim, sink: PointSink | null): void {
  if (sink === null) sinks.delete(sim);
  else sinks.set(sim, sink);
}
