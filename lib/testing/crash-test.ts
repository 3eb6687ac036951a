import { checkBoolean, checkIndex, checkOptions, isThenable, typeName } from '../core/args';
import type { Region } from '../core/region';
import {
  CrashSim,
  IMAGE_KINDS,
  ImageKind,
  SimMode,
  checkMode,
  checkSize,
  closeRecorded,
  detachTarget,
  lateWork,
  nativeOf,
  releaseSim,
  replayTarget,
  setPointSink,
} from './sim';

export interface CrashPointInfo {
  /** Crash points are numbered from 0 in the order the operation reached them. */
  index: number;
  /** 'drain' (before a fence, or before an msync in 'page' mode), 'end', or a label given to mark(). */
  label: string;
  /** Units (64-byte lines, or pages) not durable as they stood at this point. */
  dirtyLines: number;
}

export interface OperationContext {
  /** Adds a crash point here, labelled. */
  mark(label?: string): void;
  /** Records that `value` was acknowledged to a caller: check sees it at every later crash point. */
  ack(value: unknown): void;
}

export interface CheckContext<M> {
  before: M;
  after: M;
  /** Values acknowledged before the crash point. */
  acked: readonly unknown[];
  point: CrashPointInfo;
}

export interface CrashTestOptions<M, R> {
  /** Region size in bytes, 1..2^30. */
  size: number;
  /** Default 'adr'. */
  mode?: SimMode;
  /** Seeds the random images. Default 1. */
  seed?: number;
  /** Random images per crash point. Default 16. */
  randomImages?: number;
  /** Random images may tear dirty lines into old and new 8-byte words (so randomImages must be at least 1). Default false. */
  torn?: boolean;
  /** Enumerate every combination at a crash point when there are at most this many. Default 4096. */
  exhaustiveLimit?: number;
  /** At most this many pair images per crash point. Default 4096. */
  pairLimit?: number;
  /** Builds the starting state on a fresh CrashSim and returns a model of it. Unpersisted stores stay dirty. */
  setup(region: Region): M;
  /**
   * The operation under test, recorded. Returns the model after it. When it
   * returns (or throws) the region is closed: work it left for later throws
   * ERR_PMEM_CLOSED at its first ack, mark or ordering point.
   */
  operation(region: Region, before: M, ctx: OperationContext): M;
  /** The structure's real recovery, run on a region that holds one crash image. A throw is a violation. */
  recover(region: Region): R;
  /** Throws to report a violation; returning false is one too. */
  check(recovered: R, ctx: CheckContext<M>): void;
}

export interface Violation {
  /** Replays this image with replayCrash: "seed:point:image". */
  key: string;
  point: number;
  label: string;
  image: number;
  message: string;
}

export interface CrashReport {
  points: number;
  images: number;
  /** The first MAX_VIOLATIONS violations. */
  violations: Violation[];
  /** All violations, counted. */
  violationCount: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface ReplayResult<R> {
  /** A copy of the crash image, as it was before recovery ran. */
  image: Buffer;
  kind: ImageKind;
  point: CrashPointInfo;
  /** What recover returned, when it returned. */
  recovered?: R;
  /** What recover or check threw. */
  error?: unknown;
}

/** Violations kept in a report; the rest are only counted. */
export const MAX_VIOLATIONS = 20;

interface Checked<M, R> extends Required<Omit<CrashTestOptions<M, R>, 'mode'>> {
  mode: SimMode;
}

const OPTION_KEYS = new Set([
  'size', 'mode', 'seed', 'randomImages', 'torn', 'exhaustiveLimit', 'pairLimit',
  'setup', 'operation', 'recover', 'check',
]);
const MAX_COUNT = 2 ** 30;

function checkTestOptions<M, R>(given: CrashTestOptions<M, R>): Checked<M, R> {
  checkOptions(given, OPTION_KEYS);
  // Each option read once, then checked and used: a getter or a Proxy may
  // answer differently the second time (a function to the check, then not).
  const opts: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) opts[key] = (given as unknown as Record<string, unknown>)[key];
  for (const name of ['setup', 'operation', 'recover', 'check'] as const) {
    if (typeof opts[name] !== 'function') throw new TypeError(`${name} must be a function`);
  }
  const count = (name: 'randomImages' | 'exhaustiveLimit' | 'pairLimit', dflt: number): number => {
    const v = checkIndex(opts[name] === undefined ? dflt : opts[name], name);
    if (v > MAX_COUNT) throw new RangeError(`${name} must be at most ${MAX_COUNT}, got ${v}`);
    return v;
  };
  const torn = checkBoolean(opts.torn === undefined ? false : opts.torn, 'torn');
  const randomImages = count('randomImages', 16);
  // Only random images tear: torn with none of them would check no torn
  // image, and pass the wide publish it was asked to catch.
  if (torn && randomImages === 0) throw new RangeError('torn needs randomImages of at least 1: only random images are torn');
  return {
    setup: opts.setup as Checked<M, R>['setup'],
    operation: opts.operation as Checked<M, R>['operation'],
    recover: opts.recover as Checked<M, R>['recover'],
    check: opts.check as Checked<M, R>['check'],
    size: checkSize(opts.size),
    mode: checkMode(opts.mode === undefined ? 'adr' : opts.mode),
    // Any non-negative safe integer, as killTest's and seededRandom's (Date.now(), say): not a count.
    seed: checkIndex(opts.seed === undefined ? 1 : opts.seed, 'seed'),
    randomImages,
    torn,
    exhaustiveLimit: count('exhaustiveLimit', 4096),
    pairLimit: count('pairLimit', 4096),
  };
}

/**
 * Crash tests are synchronous, like the structures they test: a promise would hide every throw.
 * The refused promise's rejection is handled here: left unhandled, it would end the process.
 */
/**
 * The violation of a `check` that returned false: checks throw to report
 * one, and a predicate's false would otherwise pass every image.
 */
const CHECK_FALSE = 'check returned false';

function refuseThenable(value: unknown, name: string): void {
  if (isThenable(value)) {
    try {
      value.then(undefined, () => {});
    } catch {
      // A thenable whose then throws has no rejection to leave unhandled.
    }
    throw new TypeError(`${name} returned a promise; crash tests are synchronous`);
  }
}

interface Recording<M> {
  sim: CrashSim;
  before: M;
  after: M;
  points: CrashPointInfo[];
  ackCounts: number[];
  acked: unknown[];
}

/** Runs setup, then records the operation's crash points; leaves the schedule set. */
function record<M, R>(o: Checked<M, R>): Recording<M> {
  const sim = new CrashSim(o.size, { mode: o.mode });
  const native = nativeOf(sim);
  const points: CrashPointInfo[] = [];
  const ackCounts: number[] = [];
  const acked: unknown[] = [];
  let recording = false;
  let recorded = false;
  let before: M;
  let after: M;
  try {
    before = o.setup(sim);
    refuseThenable(before, 'setup');
    native.startRecording();
    recording = true;
    setPointSink(sim, (label) => {
      points.push({ index: points.length, label, dirtyLines: native.point() });
      ackCounts.push(acked.length);
    });
    after = o.operation(sim, before, {
      mark: (label = 'mark') => sim.mark(label),
      ack: (value) => {
        if (!recording) throw lateWork();
        acked.push(value);
      },
    });
    refuseThenable(after, 'operation');
    sim.mark('end');
    recorded = true;
  } finally {
    // Whatever ended it, the recording is over: work that setup or the
    // operation left to run later throws instead of going untested.
    if (recording) {
      recording = false;
      setPointSink(sim, null);
      native.stopRecording();
    }
    closeRecorded(sim);
    // A failed recording builds no image: its memory goes now.
    if (!recorded) releaseSim(sim);
  }
  native.schedule(o.seed, o.randomImages, o.torn, o.exhaustiveLimit, o.pairLimit);
  return { sim, before, after, points, ackCounts, acked };
}

/**
 * What a violation says about a thrown value, whatever it is: a value with
 * no string form (a null-prototype object, a revoked Proxy, a toString that
 * throws) is described by its type instead of throwing out of crashTest.
 */
function message(e: unknown): string {
  try {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  } catch {
    return `a thrown ${typeName(e)} with no string form`;
  }
}

function checkContext<M>(rec: Recording<M>, p: number): CheckContext<M> {
  const acked = Object.freeze(rec.acked.slice(0, rec.ackCounts[p]));
  return Object.freeze({ before: rec.before, after: rec.after, acked, point: rec.points[p] });
}

/**
 * Runs `operation` once on a CrashSim, recording a crash point before every
 * fence (every msync in 'page' mode), at every `ctx.mark()` and at the end;
 * then builds every crash image of every point (docs/durability.md lists
 * them), runs `recover` on each and `check` on what it returns. A throw from
 * either is a violation. Deterministic for a given seed; each violation's
 * key replays its image with `replayCrash`.
 * @throws TypeError, RangeError for bad options, or a promise from a callback;
 *   whatever setup or operation throws.
 */
export function crashTest<M, R>(opts: CrashTestOptions<M, R>): CrashReport {
  const o = checkTestOptions(opts);
  const t0 = performance.now();
  const rec = record(o);
  const native = nativeOf(rec.sim);
  const violations: Violation[] = [];
  let violationCount = 0;
  let images = 0;
  const violate = (p: number, i: number, msg: string): void => {
    if (violationCount++ < MAX_VIOLATIONS) {
      violations.push({ key: `${o.seed}:${p}:${i}`, point: p, label: rec.points[p].label, image: i, message: msg });
    }
  };
  let target: CrashSim | undefined;
  try {
    target = replayTarget(o.size, o.mode);
    const buffer = nativeOf(target).buffer;
    for (let p = 0; p < rec.points.length; p++) {
      const ctx = checkContext(rec, p);
      const count = native.imageCount(p);
      for (let i = 0; i < count; i++) {
        native.loadImage(p, i, buffer);
        images++;
        let recovered: R;
        try {
          recovered = o.recover(target);
        } catch (e) {
          violate(p, i, `recover threw ${message(e)}`);
          continue;
        }
        refuseThenable(recovered, 'recover');
        let result: unknown;
        try {
          result = o.check(recovered, ctx);
        } catch (e) {
          violate(p, i, message(e));
          continue;
        }
        refuseThenable(result, 'check');
        // A check written as a predicate: false is the violation it meant.
        if (result === false) violate(p, i, CHECK_FALSE);
      }
    }
  } finally {
    // Freed now, not when the event loop next turns: a synchronous loop of
    // crash tests would otherwise hold six copies of every run's region.
    // The target's bytes held the last image only; nothing after this reads them.
    releaseSim(rec.sim);
    if (target !== undefined) {
      detachTarget(target);
      releaseSim(target);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    points: rec.points.length,
    images,
    violations,
    violationCount,
    seconds,
    imagesPerSecond: seconds > 0 ? images / seconds : 0,
  };
}

/**
 * Rebuilds one crash image from its key ("seed:point:image", from a
 * Violation) by running setup and operation again, then runs recover and
 * check on it once. setup and operation must be deterministic.
 * @throws TypeError, RangeError for bad options or a bad key.
 */
export function replayCrash<M, R>(opts: CrashTestOptions<M, R>, key: string): ReplayResult<R> {
  if (typeof key !== 'string') throw new TypeError('key must be a string');
  const m = /^(\d+):(\d+):(\d+)$/.exec(key);
  if (m === null) throw new RangeError(`key must be "seed:point:image", got '${key}'`);
  const [seed, p, i] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Checked before the spread, which would take null for no options at all.
  checkOptions(opts, OPTION_KEYS);
  const o = checkTestOptions({ ...opts, seed });
  const rec = record(o);
  const native = nativeOf(rec.sim);
  let target: CrashSim;
  let kind: ImageKind;
  try {
    if (p >= rec.points.length) throw new RangeError(`no crash point ${p}: the operation has ${rec.points.length}`);
    const count = native.imageCount(p);
    if (i >= count) throw new RangeError(`crash point ${p} has ${count} images, not ${i + 1}`);
    target = replayTarget(o.size, o.mode);
    kind = IMAGE_KINDS[native.loadImage(p, i, nativeOf(target).buffer)];
  } finally {
    // The recording is done with once its image is built. The target is
    // not released: what recover returns may be a view of it.
    releaseSim(rec.sim);
  }
  const result: ReplayResult<R> = { image: Buffer.from(target.bytes), kind, point: rec.points[p] };
  let recovered: R;
  try {
    recovered = o.recover(target);
  } catch (e) {
    result.error = e;
    return result;
  }
  // Refused as crashTest refuses them, outside the catch: a bad callback, not the image's error.
  refuseThenable(recovered, 'recover');
  result.recovered = recovered;
  let checked: unknown;
  try {
    checked = o.check(recovered, checkContext(rec, p));
  } catch (e) {
    result.error = e;
    return result;
  }
  refuseThenable(checked, 'check');
  if (checked === false) result.error = new Error(CHECK_FALSE);
  return result;
}
