// The kill harness: a correct workload loses no acknowledged write over
// many SIGKILLs in both crash modes, and a broken one is caught.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32c, openMapping } from '../lib';
import { killTest, KillTestOptions } from '../lib/testing';
import { expectKillsLanded } from './fixtures/kill-report';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const table = require('./fixtures/sim/kill-table.js') as {
  recover(bytes: Buffer, variant?: string): { versions: bigint[]; damaged: number[] };
  file(dir: string): string;
  SIZE: number;
  OPS: number;
};
// eslint-disable-next-line @typescript-eslint/no-var-requires
const seal = require('./fixtures/sim/kill-seal.js') as {
  file(dir: string): string;
  SIZE: number;
  SLOTS: number;
  RECORD: number;
  SALT: number;
};
const CHILD = path.resolve(__dirname, 'fixtures/sim/kill-table.js');
const KILLS = Number(process.env.PMEM_KILLS ?? 30);
// 'random': the kill comes 0..500 us after the run's Nth ack, N in 1..2000,
// well inside the table's OPS updates.
const MAX_ACKS = 2000;

let n = 0;
function options(variant: string, crashAt: 'random' | 'persist'): KillTestOptions {
  return {
    child: CHILD,
    kills: KILLS,
    crashAt,
    ...(crashAt === 'random' ? { maxAcks: MAX_ACKS, maxDelayUs: 500 } : {}),
    dir: path.join(testDir(), `kill-${process.pid}-${n++}`),
    env: { PMEM_KILL_VARIANT: variant },
    prepare(dir) {
      openMapping(table.file(dir), { create: true, size: table.SIZE }).close();
    },
    verify(dir, acked) {
      const m = openMapping(table.file(dir), { readOnly: true });
      try {
        const { versions, damaged } = table.recover(m.bytes, variant);
        if (damaged.length > 0) throw new Error(`keys ${damaged.join(',')} recovered damaged`);
        for (const a of acked) {
          const [k, v] = a as [number, number];
          if (versions[k] < BigInt(v)) throw new Error(`key ${k}: acknowledged version ${v}, recovered ${versions[k]}`);
        }
      } finally {
        m.close();
      }
    },
  };
}

describe('killTest', () => {
  test.each(['random', 'persist'] as const)('a correct workload loses no acknowledged write (%s)', async (crashAt) => {
    const report = await killTest(options('correct', crashAt));
    expect(report.violations).toEqual([]);
    expect(report.kills).toBe(KILLS);
    expect(report.acked).toBeGreaterThan(KILLS);
    expectKillsLanded(`22 kill-table, ${crashAt}`, report);
  });

  test('the kill clock starts at the first ack, not at process start: a slow start-up is not what gets killed', async () => {
    // The workload waits 300 ms before it opens the table; kills 0..2 ms
    // after the first ack still land in its updates.
    const report = await killTest({
      ...options('correct', 'random'),
      maxAcks: undefined,
      maxDelayUs: undefined,
      maxDelayMs: 2,
      kills: 5,
      env: { PMEM_KILL_VARIANT: 'correct', PMEM_KILL_STARTUP_MS: '300' },
    });
    expect(report.violations).toEqual([]);
    expect(report.kills).toBe(5);
    expect(report.acked).toBeGreaterThan(0);
    expect(report.killsDuringWork).toBe(5);
  });

  test('a run that finishes its work before the kill is reported as completed, not as a kill during the work', async () => {
    // kill-seal.js makes 2000 records; N is drawn from 1..1,000,000.
    const report = await killTest({
      child: path.resolve(__dirname, 'fixtures/sim/kill-seal.js'),
      kills: 1,
      maxAcks: 1_000_000,
      maxDelayUs: 0,
      dir: path.join(testDir(), `kill-complete-${process.pid}`),
      prepare(dir) {
        openMapping(seal.file(dir), { create: true, size: seal.SIZE }).close();
      },
      verify() {},
    });
    // Nearly every run completes: the one violation, if the 13 runs
    // ended without the kill asked for, says so.
    expect(report.violations.map((v) => v.message)).toEqual(report.kills < 1
      ? [`only 0 of the 1 kills asked for landed in ${report.runs} runs (${report.completed} returned before their crash point): ` +
          'lower maxDelayUs (0) or maxAcks (1000000), or give each run more work']
      : []);
    expect(report.completed).toBeGreaterThan(0);
    expect(report.runs).toBe(report.kills + report.completed);
    expect(report.killsDuringWork).toBe(report.kills);
  });

  test.each(['random', 'persist'] as const)(
    "ctx.region forwards the Mapping's native sealRecord; each persisting seal is one ordering point (%s)",
    async (crashAt) => {
      let seen = 0;
      let runsChecked = 0;
      const report = await killTest({
        child: path.resolve(__dirname, 'fixtures/sim/kill-seal.js'),
        kills: 10,
        crashAt,
        ...(crashAt === 'random' ? { maxAcks: 500, maxDelayUs: 200 } : { maxCrashAt: 500 }),
        dir: path.join(testDir(), `kill-seal-${process.pid}-${crashAt}`),
        prepare(dir) {
          openMapping(seal.file(dir), { create: true, size: seal.SIZE }).close();
        },
        verify(dir, acked) {
          const fresh = acked.slice(seen) as { n: number; native: number; crashAt: number }[];
          seen = acked.length;
          fresh.forEach((a, i) => {
            if (a.n !== i) throw new Error(`ack ${i} is for record ${a.n}`);
            if (a.native !== i + 1) throw new Error(`after ${i + 1} seals the Mapping's own sealRecord ran ${a.native} times`);
          });
          if (fresh.length === 0) return;
          // Killed just before the Nth ordering point, with one seal per record.
          if (fresh[0].crashAt > 0 && fresh.length !== fresh[0].crashAt - 1) {
            throw new Error(`killed before ordering point ${fresh[0].crashAt}, but ${fresh.length} seals were acknowledged`);
          }
          const m = openMapping(seal.file(dir), { readOnly: true });
          try {
            const last = fresh.length - 1;
            for (let n = Math.max(0, last - seal.SLOTS + 2); n <= last; n++) {
              const at = (n % seal.SLOTS) * seal.RECORD;
              if (m.bytes.readBigUInt64LE(at + 8) !== BigInt(n + 1)) throw new Error(`record ${n} lost`);
              if (crc32c(m.bytes, at + 4, seal.RECORD - 4, seal.SALT) !== m.bytes.readUInt32LE(at)) {
                throw new Error(`record ${n}: checksum does not match`);
              }
            }
          } finally {
            m.close();
          }
          runsChecked++;
        },
      });
      expect(report.violations).toEqual([]);
      expect(report.kills).toBe(10);
      expect(runsChecked).toBeGreaterThan(0);
      expectKillsLanded(`22 kill-seal, ${crashAt}`, report);
    },
  );

  test('a record written in two persisted halves, recovered unchecked, is caught (persist)', async () => {
    const report = await killTest({ ...options('one-slot', 'persist'), kills: 10 });
    expect(report.violations.length).toBeGreaterThan(0);
    expect(report.violations[0].message).toMatch(/recovered damaged/);
  });

  test('the default directory is made on /dev/shm and removed', async () => {
    let seen = '';
    const report = await killTest({
      ...options('correct', 'persist'),
      dir: undefined,
      kills: 1,
      prepare(dir) {
        seen = dir;
        openMapping(table.file(dir), { create: true, size: table.SIZE }).close();
      },
    });
    expect(report.kills).toBe(1);
    expect(seen.startsWith('/dev/shm/pmem-kill-')).toBe(true);
    expect(fs.existsSync(seen)).toBe(false);
  });

  test('a workload that fails or does not export run is reported', async () => {
    const report = await killTest({ ...options('correct', 'random'), kills: 1, prepare: undefined });
    expect(report.violations.length).toBeGreaterThan(0);
    expect(report.violations[0].message).toMatch(/workload failed \(exit 1\)/);
    const bad = path.join(testDir(), `no-run-${process.pid}.js`);
    fs.writeFileSync(bad, 'module.exports = {};\n');
    const r2 = await killTest({ ...options('correct', 'random'), child: bad, kills: 1 });
    expect(r2.violations[0].message).toMatch(/does not export run/);
    expect(r2.kills).toBe(0);
    // Gives up after 5 failed runs in a row (not 3 * kills + 10 runs), and says so.
    expect(r2.runs).toBe(5);
    expect(r2.violations.at(-1)!.message).toBe('the workload failed in 5 runs in a row: stopped');
  });

  test('a workload that sends nothing for the timeout is reported as hung', async () => {
    const slow = path.join(testDir(), `slow-${process.pid}.js`);
    fs.writeFileSync(slow, 'exports.run = () => new Promise((r) => setTimeout(r, 5000));\n');
    const report = await killTest({ ...options('correct', 'persist'), child: slow, kills: 1, timeoutMs: 200 });
    expect(report.violations[0].message).toMatch(/sent nothing for 200 ms/);
  });

  test('a workload slower than the timeout in all, but acknowledging along the way, is not: the clock restarts at each message', async () => {
    // 300 acks 20 ms apart, then an ordering point, where PMEM_CRASH_AT=1
    // kills it: a run of 6 s or more, against a timeout of 4 s (which also
    // covers Node's start-up before the first ack, on a slow machine too).
    const steady = path.join(testDir(), `steady-${process.pid}.js`);
    fs.writeFileSync(steady, [
      'exports.run = async (ctx) => {',
      '  for (let i = 0; i < 300; i++) { await new Promise((r) => setTimeout(r, 20)); ctx.ack(i); }',
      '  ctx.point();',
      '};',
      '',
    ].join('\n'));
    const report = await killTest({
      ...options('correct', 'persist'), child: steady, kills: 1, maxCrashAt: 1, timeoutMs: 4000, prepare: undefined, verify: () => {},
    });
    expect(report.violations).toEqual([]);
    expect(report.runs).toBe(1);
    expect(report.kills).toBe(1);
    expect(report.acked).toBe(300);
    expect(report.seconds).toBeGreaterThan(6);
  });

  test('argument errors', async () => {
    const ok = options('correct', 'random');
    const bad = (o: Record<string, unknown>) => killTest({ ...ok, ...o } as KillTestOptions);
    await expect(killTest(null as unknown as KillTestOptions)).rejects.toThrow(TypeError);
    await expect(bad({ bogus: 1 })).rejects.toThrow(TypeError);
    await expect(bad({ child: 'relative.js' })).rejects.toThrow(TypeError);
    await expect(bad({ child: '/nonexistent/x.js' })).rejects.toThrow(RangeError);
    await expect(bad({ verify: undefined })).rejects.toThrow(TypeError);
    await expect(bad({ prepare: 5 })).rejects.toThrow(TypeError);
    await expect(bad({ crashAt: 'sometimes' })).rejects.toThrow(RangeError);
    await expect(bad({ kills: 0 })).rejects.toThrow(RangeError);
    await expect(bad({ kills: '3' })).rejects.toThrow(TypeError);
    await expect(bad({ seed: -1 })).rejects.toThrow(RangeError);
    await expect(bad({ maxCrashAt: 0 })).rejects.toThrow(RangeError);
    await expect(bad({ maxDelayMs: 1.5, maxDelayUs: undefined })).rejects.toThrow(RangeError);
    await expect(bad({ maxAcks: 0 })).rejects.toThrow(RangeError);
    await expect(bad({ maxAcks: '9' })).rejects.toThrow(TypeError);
    await expect(bad({ maxDelayUs: -1 })).rejects.toThrow(RangeError);
    await expect(bad({ maxDelayMs: 5 })).rejects.toThrow(TypeError); // with maxDelayUs
    await expect(bad({ crashAt: 'persist', maxDelayUs: undefined })).rejects.toThrow(RangeError); // maxAcks
    await expect(bad({ crashAt: 'persist', maxAcks: undefined })).rejects.toThrow(RangeError); // maxDelayUs
    await expect(bad({ timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(bad({ env: 'x' })).rejects.toThrow(TypeError);
    await expect(bad({ dir: 3 })).rejects.toThrow(TypeError);
    // '' would be the working directory, where verify would look and the workload write.
    await expect(bad({ dir: '' })).rejects.toThrow(new RangeError('dir is an empty string; leave it out for a directory of the harness\'s own'));
    // A delay applies to 'random' kills; 'persist' kills at a persist, not after a delay.
    await expect(bad({ crashAt: 'persist', maxAcks: undefined, maxDelayUs: undefined, maxDelayMs: 5 }))
      .rejects.toThrow(new RangeError("maxAcks, maxDelayMs and maxDelayUs apply to crashAt 'random'"));
  });

  // null is a value, not an option left out: seed, maxDelayMs, maxCrashAt
  // and timeoutMs took it as their default, and crashAt was a RangeError.
  test('options or an option given as null is a TypeError naming it; an option left out takes its default', async () => {
    await expect(killTest(null as never)).rejects.toThrow(new TypeError('options must be an object'));
    const base = { child: CHILD, kills: 1, verify: () => {} };
    const names = ['child', 'kills', 'seed', 'crashAt', 'maxAcks', 'maxDelayMs', 'maxDelayUs', 'maxCrashAt', 'dir', 'env', 'timeoutMs', 'prepare', 'verify'];
    for (const name of names) {
      const err = await killTest({ ...base, [name]: null } as never).then(() => undefined, (e: unknown) => e);
      expect([name, err]).toEqual([name, expect.any(TypeError)]);
      expect((err as Error).message.startsWith(`${name} `)).toBe(true);
    }

    let seen = '';
    const left = Object.fromEntries(['seed', 'crashAt', 'maxAcks', 'maxDelayMs', 'maxDelayUs', 'maxCrashAt', 'dir', 'env', 'timeoutMs'].map((k) => [k, undefined]));
    const report = await killTest({
      ...options('correct', 'random'),
      ...left,
      kills: 1,
      prepare(dir) {
        seen = dir;
        openMapping(table.file(dir), { create: true, size: table.SIZE }).close();
      },
    });
    expect(report.violations).toEqual([]);
    expect(report.runs).toBeGreaterThan(0);
    expect(seen.startsWith('/dev/shm/pmem-kill-')).toBe(true);
    expect(fs.existsSync(seen)).toBe(false);
  });
});
