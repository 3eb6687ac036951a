// CrashSim as a Region: what a flush, a fence and a store do to the
// persisted image in each mode, and argument checking in TS and native code.
import { binding } from '../lib/core/binding';
import { CrashSim } from '../lib/testing';


// Errors thrown by the addon come from the main realm, not from the test's
// own, so they are told apart by name rather than by instanceof.
function throwsNative(fn: () => unknown, name: 'TypeError' | 'RangeError'): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect((thrown as Error | undefined)?.name).toBe(name);
}

describe('CrashSim', () => {
  test('is a Region of the given size, zeroed, with the mode granularity', () => {
    expect(new CrashSim(100).granularity).toBe('cache-line');
    expect(new CrashSim(100, { mode: 'eadr' }).granularity).toBe('byte');
    const page = new CrashSim(100, { mode: 'page' });
    expect(page.granularity).toBe('page');
    expect(page.mode).toBe('page');
    expect(page.length).toBe(100);
    expect(page.bytes.length).toBe(100);
    expect(page.bytes.every((b) => b === 0)).toBe(true);
    expect(new CrashSim(1).length).toBe(1);
  });

  describe('adr', () => {
    test('a store is dirty until flushed and fenced', () => {
      const sim = new CrashSim(4096);
      sim.bytes[70] = 1;
      expect(sim.dirtyUnits()).toBe(1);
      expect(sim.persisted()[70]).toBe(0);
      sim.flush(70, 1);
      expect(sim.persisted()[70]).toBe(0); // a flush alone is not durable
      sim.drain();
      expect(sim.persisted()[70]).toBe(1);
      expect(sim.dirtyUnits()).toBe(0);
    });

    test('a fence without a flush persists nothing', () => {
      const sim = new CrashSim(4096);
      sim.bytes[5] = 9;
      sim.drain();
      expect(sim.persisted()[5]).toBe(0);
      expect(sim.dirtyUnits()).toBe(1);
    });

    test('the fence makes the snapshot durable, not a later store to the same line', () => {
      const sim = new CrashSim(4096);
      sim.bytes[0] = 1;
      sim.flush(0, 1);
      sim.bytes[1] = 2; // same line, after the flush
      sim.drain();
      const p = sim.persisted();
      expect([p[0], p[1]]).toEqual([1, 0]);
      expect(sim.dirtyUnits()).toBe(1);
      sim.persist(1, 1);
      expect(sim.persisted()[1]).toBe(2);
      expect(sim.dirtyUnits()).toBe(0);
    });

    test('a second flush before the fence replaces the snapshot', () => {
      const sim = new CrashSim(4096);
      sim.bytes[0] = 1;
      sim.flush(0, 1);
      sim.bytes[0] = 2;
      sim.flush(0, 1);
      sim.drain();
      expect(sim.persisted()[0]).toBe(2);
    });

    test('a flush covers every line the range touches, and only those', () => {
      const sim = new CrashSim(4096);
      for (const off of [0, 63, 64, 127, 128, 200]) sim.bytes[off] = 1;
      sim.persist(63, 2); // lines 0 and 1
      const p = sim.persisted();
      expect([p[0], p[63], p[64], p[127], p[128], p[200]]).toEqual([1, 1, 1, 1, 0, 0]);
      expect(sim.dirtyUnits()).toBe(2);
    });

    test('a zero-length flush flushes nothing', () => {
      const sim = new CrashSim(4096);
      sim.bytes[0] = 1;
      sim.persist(0, 0);
      expect(sim.persisted()[0]).toBe(0);
    });

    test('the last partial line of an odd-sized region persists', () => {
      const sim = new CrashSim(100);
      sim.bytes[99] = 7;
      sim.persist(99, 1);
      expect(sim.persisted()[99]).toBe(7);
      expect(sim.persisted().length).toBe(100);
    });
  });

  test('eadr: a fence persists the whole view, no flush needed', () => {
    const sim = new CrashSim(4096, { mode: 'eadr' });
    sim.bytes[3000] = 4;
    sim.flush(3000, 1);
    expect(sim.persisted()[3000]).toBe(0);
    sim.drain();
    expect(sim.persisted()[3000]).toBe(4);
  });

  test('page: a flush is an msync of whole pages, durable at once', () => {
    const sim = new CrashSim(3 * 4096, { mode: 'page' });
    sim.bytes[10] = 1;
    sim.bytes[4095] = 2;
    sim.bytes[4096] = 3;
    expect(sim.dirtyUnits()).toBe(2);
    sim.flush(10, 1);
    const p = sim.persisted();
    expect([p[10], p[4095], p[4096]]).toEqual([1, 2, 0]);
    sim.drain();
    expect(sim.persisted()[4096]).toBe(0);
    expect(sim.dirtyUnits()).toBe(1);
  });

  test('mark outside crashTest records nothing and checks its label', () => {
    const sim = new CrashSim(64);
    expect(() => sim.mark('x')).not.toThrow();
    expect(() => sim.mark(5 as unknown as string)).toThrow(TypeError);
  });

  describe('argument errors', () => {
    test('sizes', () => {
      expect(() => new CrashSim('64' as unknown as number)).toThrow(TypeError);
      expect(() => new CrashSim(0)).toThrow(RangeError);
      expect(() => new CrashSim(-1)).toThrow(RangeError);
      expect(() => new CrashSim(1.5)).toThrow(RangeError);
      expect(() => new CrashSim(2 ** 30 + 1)).toThrow(RangeError);
    });

    test('options', () => {
      expect(() => new CrashSim(64, null as unknown as object)).toThrow(TypeError);
      expect(() => new CrashSim(64, { mode: 'dax' as 'adr' })).toThrow(RangeError);
      expect(() => new CrashSim(64, { mode: 1 as unknown as 'adr' })).toThrow(TypeError);
      expect(() => new CrashSim(64, { tracked: false } as object)).toThrow(TypeError);
    });

    // null is a value, not an option left out: mode took it as 'adr'.
    test('options or an option given as null is a TypeError naming it; an option left out takes its default', () => {
      expect(() => new CrashSim(64, null as never)).toThrow(new TypeError('options must be an object'));
      expect(() => new CrashSim(64, { mode: null as never })).toThrow(new TypeError('mode must be a string, got null'));
      for (const sim of [new CrashSim(64), new CrashSim(64, {}), new CrashSim(64, { mode: undefined })]) {
        expect([sim.mode, sim.granularity]).toEqual(['adr', 'cache-line']);
      }
    });

    test('flush and persist ranges', () => {
      const sim = new CrashSim(128);
      expect(() => sim.flush(0, 129)).toThrow(RangeError);
      expect(() => sim.flush(129, 0)).toThrow(RangeError);
      expect(() => sim.persist(64, 65)).toThrow(RangeError);
      expect(() => sim.persist(-1, 1)).toThrow(RangeError);
      expect(() => sim.flush('0' as unknown as number, 1)).toThrow(TypeError);
      expect(() => sim.flush(0, Number.MAX_SAFE_INTEGER)).toThrow(RangeError);
      expect(() => sim.flush(128, 0)).not.toThrow();
    });
  });

  describe('native checks, behind the TypeScript ones', () => {
    const raw = () => new binding.Sim(128, 0, true);

    test('constructor', () => {
      throwsNative(() => new binding.Sim(0, 0, true), 'RangeError');
      throwsNative(() => new binding.Sim(2 ** 31, 0, true), 'RangeError');
      throwsNative(() => new binding.Sim(-5, 0, true), 'RangeError');
      throwsNative(() => new binding.Sim('a' as unknown as number, 0, true), 'TypeError');
      throwsNative(() => new binding.Sim(64, 3, true), 'RangeError');
      throwsNative(() => new binding.Sim(64, 0, 1 as unknown as boolean), 'TypeError');
    });

    test('flush bounds, tracked or not', () => {
      for (const sim of [raw(), new binding.Sim(128, 0, false)]) {
        throwsNative(() => sim.flush(0, 129), 'RangeError');
        throwsNative(() => sim.flush(2 ** 53, 2 ** 53), 'RangeError');
        throwsNative(() => sim.flush(1e300, 1), 'RangeError');
        throwsNative(() => sim.flush(NaN, 1), 'RangeError');
        throwsNative(() => sim.flush(0, -1), 'RangeError');
        throwsNative(() => (sim.flush as (o: unknown) => void)(undefined), 'TypeError');
        expect(() => sim.flush(127, 1)).not.toThrow();
        expect(() => sim.drain()).not.toThrow();
      }
    });

    test('an untracked simulator refuses what needs tracking', () => {
      const sim = new binding.Sim(128, 0, false);
      expect(() => sim.dirty()).toThrow('does not track');
      expect(() => sim.persisted()).toThrow('does not track');
      expect(() => sim.startRecording()).toThrow('does not track');
    });

    test('recording and images', () => {
      const sim = raw();
      const target = new binding.Sim(128, 0, false);
      expect(() => sim.point()).toThrow('not recording');
      sim.startRecording();
      new Uint8Array(sim.buffer)[0] = 1;
      expect(sim.point()).toBe(1);
      expect(() => sim.schedule(1, 1, false, 4096, 4096)).toThrow('still recording');
      expect(() => sim.imageCount(0)).toThrow('still recording');
      sim.stopRecording();
      expect(() => sim.imageCount(0)).toThrow('no schedule');
      throwsNative(() => sim.schedule(1, 1, 0 as unknown as boolean, 1, 1), 'TypeError');
      throwsNative(() => sim.schedule(1, 2 ** 31, false, 1, 1), 'RangeError');
      sim.schedule(1, 1, false, 4096, 4096);
      expect(sim.pointCount()).toBe(1);
      expect(sim.imageCount(0)).toBe(2); // not persisted, persisted
      throwsNative(() => sim.imageCount(1), 'RangeError');
      throwsNative(() => sim.loadImage(0, 2, target.buffer), 'RangeError');
      throwsNative(() => sim.loadImage(1, 0, target.buffer), 'RangeError');
      throwsNative(() => sim.loadImage(0, 0, new Uint8Array(4096) as unknown as ArrayBuffer), 'TypeError');
      throwsNative(() => sim.loadImage(0, 0, new ArrayBuffer(64)), 'RangeError');
      throwsNative(() => sim.loadImage(0, 0, sim.buffer), 'RangeError');
      expect(sim.loadImage(0, 1, target.buffer)).toBe(0);
      expect(new Uint8Array(target.buffer)[0]).toBe(1);
      expect(sim.loadImage(0, 0, target.buffer)).toBe(0);
      expect(new Uint8Array(target.buffer)[0]).toBe(0);
    });

    test('images of any point, in any order, onto a target recovery wrote to', () => {
      const sim = raw();
      const view = new Uint8Array(sim.buffer);
      const target = new binding.Sim(128, 0, false);
      const t = new Uint8Array(target.buffer);
      sim.startRecording();
      for (let v = 1; v <= 3; v++) {
        view[0] = v; // line 0: persisted at each point but the last
        view[64] = v; // line 1: never flushed
        sim.point();
        sim.flush(0, 1);
        sim.drain();
      }
      sim.stopRecording();
      sim.schedule(1, 0, false, 4096, 4096);
      // Point p: line 0 persisted at p (0 at point 0), dirty with p + 1.
      for (const p of [2, 0, 1, 1, 2, 0]) {
        t.fill(0xee); // what a recovery might leave
        expect(sim.imageCount(p)).toBe(4);
        sim.loadImage(p, 3, target.buffer); // both lines at their current content
        expect([t[0], t[64]]).toEqual([p + 1, p + 1]);
        sim.loadImage(p, 0, target.buffer); // persisted only
        expect([t[0], t[64], t[127], t[128]]).toEqual([p, 0, 0, 0]);
      }
    });
  });
});
