// crashTest and replayCrash: every image class, determinism, replay, and the
// proof that the simulator fails broken structures and passes correct ones.
import type { Region } from '../lib';
import { crashTest, CrashTestOptions, MAX_VIOLATIONS, replayCrash, SimMode } from '../lib/testing';
import {
  batchAppend,
  batchRecover,
  publish,
  publishRecover,
  PublishVariant,
  slotRecover,
  slotUpdate,
  SlotVariant,
} from './fixtures/sim/toys';

const LINE = 64;

/** Three updates of the two-slot record, each acknowledged once durable. */
function slotTest(variant: SlotVariant, mode: SimMode = 'adr', extra: Partial<CrashTestOptions<number, number>> = {}) {
  return crashTest<number, number>({
    size: 4096,
    mode,
    setup(r) {
      slotUpdate(r, 1);
      return 1;
    },
    operation(r, before, ctx) {
      for (let v = before + 1; v <= before + 3; v++) {
        slotUpdate(r, v, variant);
        ctx.ack(v);
      }
      return before + 3;
    },
    recover: slotRecover,
    check(v, { before, after, acked }) {
      const floor = acked.length > 0 ? (acked[acked.length - 1] as number) : before;
      if (v < floor || v > after) throw new Error(`recovered ${v}, expected ${floor}..${after}`);
    },
    ...extra,
  });
}

function publishTest(variant: PublishVariant, torn: boolean) {
  return crashTest<number, number>({
    size: 4096,
    torn,
    randomImages: 64,
    setup(r) {
      publish(r, 1, 1, variant);
      return 1;
    },
    operation(r) {
      publish(r, 2, 2, variant);
      return 2;
    },
    recover: (r) => publishRecover(r, variant),
    check(v, { before, after }) {
      if (v !== before && v !== after) throw new Error(`recovered ${v}`);
    },
  });
}

describe('the simulator catches broken structures and passes correct ones', () => {
  test.each(['adr', 'eadr', 'page'] as const)('two-slot record, correct, %s: no violation', (mode) => {
    const report = slotTest('correct', mode);
    expect(report.violations).toEqual([]);
    expect(report.points).toBeGreaterThan(3);
    expect(report.images).toBeGreaterThanOrEqual(report.points);
  });

  test('two-slot record, correct, with torn words: no violation', () => {
    expect(slotTest('correct', 'adr', { torn: true, randomImages: 64 }).violationCount).toBe(0);
  });

  test.each([
    ['commit-first', 'adr'],
    ['no-flush', 'adr'],
    ['store-after-flush', 'adr'],
    ['commit-first', 'page'],
  ] as const)('two-slot record, %s, %s: violations', (variant, mode) => {
    const report = slotTest(variant, mode);
    expect(report.violationCount).toBeGreaterThan(0);
    expect(report.violations[0].key).toMatch(/^1:\d+:\d+$/);
  });

  test('caches that persist forgive a missing flush (eadr), not a wrong order', () => {
    expect(slotTest('no-flush', 'eadr').violationCount).toBe(0);
    expect(slotTest('store-after-flush', 'eadr').violationCount).toBe(0);
    expect(slotTest('commit-first', 'eadr').violationCount).toBeGreaterThan(0);
  });

  test('page: the msync of the commit word writes the slot on the same page', () => {
    expect(slotTest('no-flush', 'page').violationCount).toBe(0);
  });

  test('publish through a pointer: correct passes, pointer-first fails', () => {
    expect(publishTest('correct', true).violationCount).toBe(0);
    expect(publishTest('pointer-first', false).violationCount).toBeGreaterThan(0);
  });

  test('a 16-byte publish passes while lines are atomic and fails once words tear', () => {
    expect(publishTest('wide', false).violationCount).toBe(0);
    const torn = publishTest('wide', true);
    expect(torn.violationCount).toBeGreaterThan(0);
    expect(torn.violations[0].message).toMatch(/torn pointer pair/);
  });

  /** A store of 7 acknowledged before the persist that makes it durable, checked by `check`. */
  const ackedEarly = (check: (v: number, ctx: { acked: unknown[] }) => unknown) =>
    crashTest<number, number>({
      size: 4096,
      setup: () => 0,
      operation(r, _before, ctx) {
        r.bytes.writeBigUInt64LE(7n, 0);
        ctx.ack(7); // BROKEN: acknowledged before the persist below
        r.persist(0, 8);
        return 7;
      },
      recover: (r) => Number(r.bytes.readBigUInt64LE(0)),
      check: check as (v: number) => void,
    });

  test('acknowledging before the commit is durable is a violation', () => {
    const report = ackedEarly((v, { acked }) => {
      if (acked.includes(7) && v !== 7) throw new Error('lost an acknowledged write');
    });
    expect(report.violationCount).toBe(1); // the image without the store, at the fence
    expect(report.violations[0].label).toBe('drain');
  });

  test('a check written as a predicate: false is a violation, any other value is not', () => {
    const predicate = ackedEarly((v, { acked }) => !acked.includes(7) || v === 7);
    expect(predicate.violationCount).toBe(1);
    expect(predicate.violations[0]).toMatchObject({ label: 'drain', message: 'check returned false' });
    // The same images, with a check that returns anything but false: nothing.
    expect(ackedEarly(() => true).violationCount).toBe(0);
    expect(ackedEarly(() => 0).violationCount).toBe(0);
    const replayed = replayCrash({
      size: 4096,
      setup: () => 0,
      operation(r) {
        r.bytes.writeBigUInt64LE(7n, 0);
        r.persist(0, 8);
        return 7;
      },
      recover: (r) => Number(r.bytes.readBigUInt64LE(0)),
      check: ((v: number) => v === 7) as (v: number) => void,
    }, predicate.violations[0].key);
    expect(replayed.recovered).toBe(0);
    expect((replayed.error as Error).message).toBe('check returned false');
  });

  test('a batch of many lines: correct passes in every mode, with torn words too', () => {
    for (const mode of ['adr', 'eadr', 'page'] as const) {
      const report = crashTest<number, number>({
        size: 65536,
        mode,
        torn: true,
        setup: () => 0,
        operation(r) {
          batchAppend(r, 20, 1);
          batchAppend(r, 20, 2);
          return 40;
        },
        recover: batchRecover,
        check(n) {
          if (n !== 0 && n !== 20 && n !== 40) throw new Error(`count ${n}`);
        },
      });
      expect(report.violations).toEqual([]);
    }
  });
});

describe('crash images', () => {
  /** Writes one distinct byte into each of `lines` lines, then marks a crash point. */
  function scatter(lines: number[], extra: Partial<CrashTestOptions<null, Buffer>> = {}) {
    const images: Buffer[][] = [];
    const report = crashTest<null, Buffer>({
      size: 4096,
      randomImages: 5,
      setup: () => null,
      operation(r, _m, ctx) {
        for (const l of lines) r.bytes[l * LINE] = l;
        ctx.mark('scatter');
        return null;
      },
      recover: (r) => Buffer.from(r.bytes),
      check(image, { point }) {
        (images[point.index] ??= []).push(image);
      },
      ...extra,
    });
    /** Each image of point 0 as the lines that hold their new byte. */
    const sets = images[0].map((img) => lines.filter((l) => img[l * LINE] === l).join(','));
    return { report, images, sets };
  }

  test('exhaustive: every subset of the dirty lines, once each', () => {
    const { report, sets } = scatter([1, 2, 3]);
    expect(report.points).toBe(2); // 'scatter' and 'end'
    expect(sets.sort()).toEqual(['', '1', '1,2', '1,2,3', '1,3', '2', '2,3', '3'].sort());
    expect(report.images).toBe(16);
  });

  test('past the exhaustive limit: P, the full view, each line, each pair, then random', () => {
    const { report, sets } = scatter([1, 2, 3, 4], { exhaustiveLimit: 0 });
    expect(sets.slice(0, 2 + 4 + 6)).toEqual(['', '1,2,3,4', '1', '2', '3', '4', '1,2', '1,3', '1,4', '2,3', '2,4', '3,4']);
    expect(sets.length).toBe(2 + 4 + 6 + 5);
    expect(report.images).toBe(2 * sets.length);
  });

  test('pairs are capped by pairLimit', () => {
    const { sets } = scatter([1, 2, 3, 4], { exhaustiveLimit: 0, pairLimit: 2 });
    expect(sets.length).toBe(2 + 4 + 2 + 5);
    expect(sets.slice(6, 8)).toEqual(['1,2', '1,3']);
  });

  test('random images draw varied subsets, and the seed decides which', () => {
    const lines = Array.from({ length: 20 }, (_, i) => i + 1);
    const a = scatter(lines, { randomImages: 30 }).sets.slice(-30);
    const b = scatter(lines, { randomImages: 30 }).sets.slice(-30);
    const c = scatter(lines, { randomImages: 30, seed: 2 }).sets.slice(-30);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a).size).toBeGreaterThan(25);
  });

  test('a line stored after its flush offers its persisted, flushed and current contents', () => {
    const contents = (extra: Partial<CrashTestOptions<null, number>>) => {
      const seen: number[] = [];
      crashTest<null, number>({
        size: 4096,
        setup: () => null,
        operation(r) {
          r.bytes[0] = 1;
          r.flush(0, 1);
          r.bytes[0] = 2;
          r.drain();
          return null;
        },
        recover: (r) => r.bytes[0],
        check(b, { point }) {
          if (point.index === 0) seen.push(b);
        },
        ...extra,
      });
      return seen;
    };
    expect(contents({})).toEqual([0, 1, 2]);
    expect(contents({ exhaustiveLimit: 0, randomImages: 30 }).slice(0, 4)).toEqual([0, 2, 1, 2]);
    expect(new Set(contents({ exhaustiveLimit: 0, randomImages: 30 }).slice(4))).toEqual(new Set([0, 1, 2]));
  });

  test('after the fence only the later store is dirty', () => {
    const { images } = scatter([], {
      operation(r) {
        r.bytes[0] = 1;
        r.flush(0, 1);
        r.bytes[0] = 2;
        r.drain();
        return null;
      },
    });
    // point 0: before the fence; point 1: the end, where 1 is persisted.
    expect(images[1].map((img) => img[0])).toEqual([1, 2]);
  });

  test('torn images mix old and new 8-byte words inside a line, and never split a word', () => {
    const mixes = new Set<string>();
    crashTest<null, Buffer>({
      size: 4096,
      torn: true,
      randomImages: 64,
      setup: () => null,
      operation(r) {
        r.bytes.fill(0xff, 0, LINE);
        return null;
      },
      recover: (r) => Buffer.from(r.bytes.subarray(0, LINE)),
      check(line) {
        for (let w = 0; w < 8; w++) {
          const word = line.readBigUInt64LE(8 * w);
          if (word !== 0n && word !== 0xffffffffffffffffn) throw new Error('a word was split');
        }
        mixes.add(line.toString('hex'));
      },
    });
    expect(mixes.size).toBeGreaterThan(10);
  });

  test("eadr: one image per point, the current view", () => {
    const { report, images } = scatter([1, 2, 3], { mode: 'eadr' });
    expect(report.images).toBe(2);
    expect(images[0].map((img) => img[LINE])).toEqual([1]);
  });

  test('page: units are pages, and a flush is durable at once', () => {
    const seen: string[] = [];
    const report = crashTest<null, string>({
      size: 3 * 4096,
      mode: 'page',
      setup: () => null,
      operation(r) {
        r.bytes[10] = 1;
        r.bytes[4096 + 10] = 2;
        r.bytes[2 * 4096] = 3;
        r.flush(4096, 1); // crash point, then page 1 is durable
        return null;
      },
      recover: (r) => `${r.bytes[10]}${r.bytes[4096 + 10]}${r.bytes[2 * 4096]}`,
      check(s, { point }) {
        seen.push(`${point.label}:${s}`);
      },
    });
    expect(report.points).toBe(2);
    expect(seen.filter((s) => s.startsWith('drain')).length).toBe(8); // 2^3 subsets of pages
    expect(seen.filter((s) => s.startsWith('end')).sort()).toEqual(['end:020', 'end:023', 'end:120', 'end:123']);
  });

  test("setup's unpersisted stores stay dirty", () => {
    const report = crashTest<null, number>({
      size: 4096,
      setup(r) {
        r.bytes[0] = 1; // never persisted
        return null;
      },
      operation: () => null,
      recover: (r) => r.bytes[0],
      check(b) {
        if (b !== 1) throw new Error('setup state lost');
      },
    });
    expect(report.violationCount).toBe(1);
  });
});

describe('crashTest reports', () => {
  test('points: one per fence, per mark and the end, with labels and dirty counts', () => {
    const points: string[] = [];
    crashTest<null, null>({
      size: 4096,
      setup: () => null,
      operation(r, _m, ctx) {
        r.bytes[0] = 1;
        r.bytes[64] = 1;
        ctx.mark('two-dirty');
        r.persist(0, 1);
        ctx.mark();
        return null;
      },
      recover: () => null,
      check(_r, { point }) {
        points.push(`${point.index}:${point.label}:${point.dirtyLines}`);
      },
    });
    expect([...new Set(points)]).toEqual(['0:two-dirty:2', '1:drain:2', '2:mark:1', '3:end:1']);
  });

  test('acked holds what was acknowledged before each point', () => {
    const seen = new Map<string, unknown[]>();
    crashTest<null, null>({
      size: 4096,
      setup: () => null,
      operation(_r, _m, ctx) {
        ctx.mark('none');
        ctx.ack('a');
        ctx.mark('one');
        ctx.ack({ b: 2 });
        return null;
      },
      recover: () => null,
      check(_r, { point, acked }) {
        seen.set(point.label, [...acked]);
      },
    });
    expect(Object.fromEntries(seen)).toEqual({ none: [], one: ['a'], end: ['a', { b: 2 }] });
  });

  test('a recovery that throws is a violation; violations are capped and counted', () => {
    const report = crashTest<null, null>({
      size: 4096,
      exhaustiveLimit: 0,
      randomImages: 100,
      setup: () => null,
      operation(r) {
        r.bytes[0] = 1;
        r.drain();
        return null;
      },
      recover() {
        throw new Error('cannot open');
      },
      check: () => undefined,
    });
    expect(report.violationCount).toBe(report.images);
    expect(report.violations.length).toBe(MAX_VIOLATIONS);
    expect(report.violations[0]).toEqual({
      key: '1:0:0',
      point: 0,
      label: 'drain',
      image: 0,
      message: 'recover threw Error: cannot open',
    });
    expect(report.imagesPerSecond).toBeGreaterThan(0);
    expect(report.seconds).toBeGreaterThan(0);
  });

  test('recovery may write to its image; the next image is whole again', () => {
    const report = crashTest<null, number>({
      size: 4096,
      setup: () => null,
      operation(r) {
        r.bytes[100] = 1;
        return null;
      },
      recover(r) {
        const seen = r.bytes[0];
        r.bytes.fill(9); // a recovery that rewrites everything
        r.persist(0, r.length);
        return seen;
      },
      check(b) {
        if (b !== 0) throw new Error(`saw ${b}, left by the last recovery`);
      },
    });
    expect(report.images).toBe(2);
    expect(report.violationCount).toBe(0);
  });

  test('an operation that throws fails the test', () => {
    expect(() =>
      crashTest({
        size: 64,
        setup: () => null,
        operation() {
          throw new Error('boom');
        },
        recover: () => null,
        check: () => undefined,
      }),
    ).toThrow('boom');
  });
});

describe('replayCrash', () => {
  const broken: CrashTestOptions<number, number> = {
    size: 4096,
    setup(r) {
      slotUpdate(r, 1);
      return 1;
    },
    operation(r) {
      slotUpdate(r, 2, 'commit-first');
      return 2;
    },
    recover: slotRecover,
    check(v, { before, after }) {
      if (v !== before && v !== after) throw new Error(`recovered ${v}`);
    },
  };

  test('rebuilds the image of a violation from its key, deterministically', () => {
    const report = crashTest(broken);
    const again = crashTest(broken);
    expect(again.violations).toEqual(report.violations);
    for (const v of report.violations) {
      const replay = replayCrash(broken, v.key);
      expect(replay.error).toBeInstanceOf(Error);
      expect(replay.point.index).toBe(v.point);
      expect(replay.image.readBigUInt64LE(0)).toBe(2n); // the commit word is durable...
      expect(replay.image.readBigUInt64LE(2 * LINE)).not.toBe(2000n); // ...the slot is not
    }
  });

  test('a key of an image without a violation recovers cleanly', () => {
    const replay = replayCrash(broken, '1:0:0');
    expect(replay.kind).toBe('exhaustive');
    expect(replay.error).toBeUndefined();
    expect(replay.recovered).toBe(1);
  });

  test('bad keys', () => {
    expect(() => replayCrash(broken, 5 as unknown as string)).toThrow(TypeError);
    expect(() => replayCrash(broken, '1:0')).toThrow(RangeError);
    expect(() => replayCrash(broken, 'a:b:c')).toThrow(RangeError);
    expect(() => replayCrash(broken, '1:99:0')).toThrow(/no crash point 99/);
    expect(() => replayCrash(broken, '1:0:99')).toThrow(/has \d+ images/);
  });
});

describe('crashTest argument errors', () => {
  const ok: CrashTestOptions<null, null> = {
    size: 64,
    setup: () => null,
    operation: () => null,
    recover: () => null,
    check: () => undefined,
  };
  const run = (o: Partial<Record<keyof CrashTestOptions<null, null> | 'bogus', unknown>>) => () =>
    crashTest({ ...ok, ...o } as CrashTestOptions<null, null>);

  test('types and ranges', () => {
    expect(() => crashTest(null as unknown as CrashTestOptions<null, null>)).toThrow(TypeError);
    expect(run({ bogus: 1 })).toThrow(TypeError);
    expect(run({ size: '64' })).toThrow(TypeError);
    expect(run({ size: 0 })).toThrow(RangeError);
    expect(run({ size: 2 ** 31 })).toThrow(RangeError);
    expect(run({ mode: 'dax' })).toThrow(RangeError);
    expect(run({ mode: 0 })).toThrow(TypeError);
    expect(run({ seed: -1 })).toThrow(RangeError);
    expect(run({ randomImages: 1.5 })).toThrow(RangeError);
    expect(run({ exhaustiveLimit: 2 ** 31 })).toThrow(RangeError);
    expect(run({ pairLimit: '1' })).toThrow(TypeError);
    expect(run({ torn: 1 })).toThrow(TypeError);
    // Only random images tear: with none, torn would check no torn image.
    expect(run({ torn: true, randomImages: 0 })).toThrow(new RangeError('torn needs randomImages of at least 1: only random images are torn'));
    expect(run({ torn: false, randomImages: 0 })).not.toThrow();
    for (const name of ['setup', 'operation', 'recover', 'check']) {
      expect(run({ [name]: undefined })).toThrow(TypeError);
    }
    expect(run({})).not.toThrow();
  });

  // null is a value, not an option left out: mode took it as 'adr', and
  // replayCrash spread null options into none (a TypeError for setup).
  test('options or an option given as null is a TypeError naming it; an option left out takes its default', () => {
    expect(() => crashTest(null as never)).toThrow(new TypeError('options must be an object'));
    expect(() => replayCrash(null as never, '1:0:0')).toThrow(new TypeError('options must be an object'));
    for (const name of ['size', 'mode', 'seed', 'randomImages', 'torn', 'exhaustiveLimit', 'pairLimit', 'setup', 'operation', 'recover', 'check']) {
      // replayCrash takes its seed from the key, whatever the options say.
      const replay = () => replayCrash({ ...ok, [name]: null } as never, '1:0:0');
      for (const call of name === 'seed' ? [run({ seed: null })] : [run({ [name]: null }), replay]) {
        let err: unknown;
        try {
          call();
        } catch (e) {
          err = e;
        }
        expect([name, err]).toEqual([name, expect.any(TypeError)]);
        expect((err as Error).message.startsWith(`${name} `)).toBe(true);
      }
    }
    const left = { mode: undefined, seed: undefined, randomImages: undefined, torn: undefined, exhaustiveLimit: undefined, pairLimit: undefined };
    const stores = { ...ok, operation: (r: Region) => { r.bytes[0] = 1; r.persist(0, 1); return null; } };
    const plain = crashTest(stores);
    const given = crashTest({ ...stores, ...left });
    expect(given.points).toEqual(plain.points);
    expect(given.images).toBe(plain.images);
    expect(given.images).toBeGreaterThan(0);
    expect(replayCrash({ ...stores, ...left }, '1:0:0').kind).toBe(replayCrash(stores, '1:0:0').kind);
  });

  test('promises are refused: a crash test is synchronous', () => {
    const p = async () => null;
    expect(run({ setup: p })).toThrow(/setup returned a promise/);
    expect(run({ operation: p })).toThrow(/operation returned a promise/);
    expect(run({ recover: p })).toThrow(/recover returned a promise/);
    expect(run({ check: p })).toThrow(/check returned a promise/);
  });

  test('the operation context checks its label', () => {
    expect(run({ operation: (_r: Region, _m: null, ctx: { mark(l: unknown): void }) => ctx.mark(3) })).toThrow(TypeError);
  });
});
