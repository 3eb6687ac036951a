// crashTest and replayCrash against hostile callbacks and options: promises
// (refused, and their rejections handled, so none is left to end the
// process), throws of values that are not Errors, and options that answer
// differently the second time they are read.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { type CrashTestOptions, crashTest, replayCrash, seededRandom } from '../lib/testing';

const dist = path.join(__dirname, '..', 'dist', 'testing');

function options(over: Partial<CrashTestOptions<number, number>> = {}): CrashTestOptions<number, number> {
  return {
    size: 4096,
    setup: () => 0,
    operation: (r, _before, ctx) => {
      r.bytes[0] = 1;
      r.persist(0, 1);
      ctx.ack(1);
      return 1;
    },
    recover: (r) => r.bytes[0],
    check: () => {},
    ...over,
  };
}

describe('crashTest, hostile callbacks', () => {
  test.each([
    ['crashTest', 'setup', 'crashTest'],
    ['crashTest', 'operation', 'crashTest'],
    ['crashTest', 'recover', 'crashTest'],
    ['crashTest', 'check', 'crashTest'],
    ['replayCrash', 'recover', 'replay'],
    ['replayCrash', 'check', 'replay'],
  ])('%s: an async %s that rejects is refused with a TypeError, and its rejection does not end the process', (_fn, name, how) => {
    const script = `
      const { crashTest, replayCrash } = require(${JSON.stringify(dist)});
      const o = {
        size: 4096, setup: () => 0, operation: (r) => { r.bytes[0] = 1; r.persist(0, 1); return 1; },
        recover: (r) => r.bytes[0], check: () => {},
        ${name}: async () => { throw new Error('late'); },
      };
      try { ${how === 'replay' ? "replayCrash(o, '1:0:0')" : 'crashTest(o)'}; console.log('returned'); }
      catch (e) { console.log(e.name + ': ' + e.message); }
      setTimeout(() => console.log('alive'), 50);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`TypeError: ${name} returned a promise; crash tests are synchronous\nalive\n`);
    expect(r.status).toBe(0);
  });

  test('a check or recover that throws a value without a string form is a violation, not a throw from crashTest', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const thrown: unknown[] = [Object.create(null), { toString: () => { throw new Error('no'); } }, proxy, Symbol('s'), null];
    for (const value of thrown) {
      const report = crashTest(options({ check: () => { throw value; } }));
      expect(report.violationCount).toBe(report.images);
      expect(typeof report.violations[0].message).toBe('string');
      const recovered = crashTest(options({ recover: () => { throw value; } }));
      expect(recovered.violations[0].message).toMatch(/^recover threw /);
    }
  });

  test('each option is read once', () => {
    const gets = new Map<PropertyKey, number>();
    const proxy = new Proxy(options(), {
      get(target, key, receiver) {
        gets.set(key, (gets.get(key) ?? 0) + 1);
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    expect(crashTest(proxy).images).toBeGreaterThan(0);
    for (const [key, n] of gets) expect([key, n]).toEqual([key, 1]);
    let reads = 0;
    const o = options();
    Object.defineProperty(o, 'check', { enumerable: true, get: () => (reads++ === 0 ? () => {} : 5) });
    expect(crashTest(o).violationCount).toBe(0);
    expect(replayCrash(options(), '1:0:0').error).toBeUndefined();
  });
});

describe('crashTest seeds', () => {
  test('any safe integer is a seed, as for killTest (Date.now(), say), and its violations replay', () => {
    const seed = 1796541917221;
    // A store never flushed, acknowledged, then a fence for other bytes: a
    // crash image after the acknowledgement may lack the store.
    const broken = options({
      operation: (r, _before, ctx) => {
        r.bytes[0] = 1;
        r.bytes[128] = 1;
        r.persist(128, 1);
        ctx.ack(1);
        r.bytes[256] = 1;
        r.persist(256, 1);
        return 1;
      },
      check: (got, ctx) => {
        if (ctx.acked.length > 0 && got !== 1) throw new Error(`acknowledged 1, recovered ${got}`);
      },
    });
    const report = crashTest({ ...broken, seed });
    expect(report.violations.length).toBeGreaterThan(0);
    expect(report.violations[0].key.startsWith(`${seed}:`)).toBe(true);
    expect(String(replayCrash(broken, report.violations[0].key).error)).toMatch(/acknowledged 1, recovered 0/);
    expect(crashTest({ ...options(), seed: 2 ** 53 - 1 }).violations).toEqual([]);
    for (const bad of [2 ** 53, -1, 1.5]) expect(() => crashTest({ ...options(), seed: bad })).toThrow(RangeError);
  });
});

describe('seededRandom', () => {
  test('a seed that is not a safe integer is refused, not folded into the sequence of another', () => {
    // Each of these gave seed 0's (or 1's) sequence.
    for (const seed of [NaN, 0.5, 1.5, -1, Infinity, 2 ** 53]) expect(() => seededRandom(seed)).toThrow(RangeError);
    for (const seed of ['1', null, 1n]) expect(() => seededRandom(seed as unknown as number)).toThrow(TypeError);
    const a = seededRandom(2 ** 53 - 1);
    const b = seededRandom(0);
    expect(a()).not.toBe(b());
    expect(seededRandom(7)()).toBe(seededRandom(7)());
  });
});

// A CrashSim's bytes are the model's: a transfer of its ArrayBuffer
// (structuredClone, postMessage), and the collection of whatever received
// it, must leave the simulator's memory where it is. Each case runs in a
// child, where a use of freed memory is a signal, not a failed expectation.
describe('a CrashSim whose buffer is transferred', () => {
  test.each(['structuredClone', 'postMessage'])('by %s: the simulator goes on over its own bytes, and nothing is freed under it', (how) => {
    const script = `
      const { CrashSim } = require(${JSON.stringify(dist)});
      const { MessageChannel } = require('node:worker_threads');
      const sim = new CrashSim(8 << 20);
      sim.bytes.fill(1, 0, 4096);
      const ab = sim.bytes.buffer;
      let moved;
      try {
        if (${JSON.stringify(how)} === 'structuredClone') moved = structuredClone(ab, { transfer: [ab] });
        else { const { port1, port2 } = new MessageChannel(); port1.postMessage(ab, [ab]); port1.close(); port2.close(); }
      } catch (e) { console.log('refused ' + e.name); }
      moved = null;
      for (let i = 0; i < 5; i++) { gc(); new ArrayBuffer(8 << 20); }
      setTimeout(() => {
        gc();
        sim.bytes[4096] = 7;
        sim.persist(0, 8192);
        console.log(sim.dirtyUnits(), sim.bytes[0], sim.bytes[4096]);
      }, 20);`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
    expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
    // Whether the transfer copied or detached, the simulator's own view still holds its bytes.
    expect(r.stdout).toMatch(/^(refused \w+\n)?0 1 7\n$/);
  });
});
