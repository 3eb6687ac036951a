// The kill harness: a correct workload loses no acknowledged write over
// many SIGKILLs in both crash modes, and a broken one is caught.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openMapping } from '../lib';
import { killTest, KillTestOptions } from '../lib/testing';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const table = require('./fixtures/sim/kill-table.js') as {
  recover(bytes: Buffer, variant?: string): { versions: bigint[]; damaged: number[] };
  file(dir: string): string;
  SIZE: number;
};
const CHILD = path.resolve(__dirname, 'fixtures/sim/kill-table.js');
const KILLS = Number(process.env.PMEM_KILLS ?? 30);

let n = 0;
function options(variant: string, crashAt: 'random' | 'persist'): KillTestOptions {
  return {
    child: CHILD,
    kills: KILLS,
    crashAt,
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

function summary(name: string, r: { runs: number; kills: number; acked: number; seconds: number }): void {
  // eslint-disable-next-line no-console
  console.log(`${name}: ${r.kills} kills in ${r.runs} runs, ${r.acked} acks checked, ${r.seconds.toFixed(1)} s`);
}

describe('killTest', () => {
  test.each(['random', 'persist'] as const)('a correct workload loses no acknowledged write (%s)', async (crashAt) => {
    const report = await killTest(options('correct', crashAt));
    summary(`correct, ${crashAt}`, report);
    expect(report.violations).toEqual([]);
    expect(report.kills).toBe(KILLS);
    expect(report.acked).toBeGreaterThan(KILLS);
  });

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
    expect(r2.runs).toBe(13); // gives up after 3 * kills + 10 runs
  });

  test('a workload that outlives the timeout is reported', async () => {
    const slow = path.join(testDir(), `slow-${process.pid}.js`);
    fs.writeFileSync(slow, 'exports.run = () => new Promise((r) => setTimeout(r, 5000));\n');
    const report = await killTest({ ...options('correct', 'persist'), child: slow, kills: 1, timeoutMs: 200 });
    expect(report.violations[0].message).toMatch(/ran past 200 ms/);
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
    await expect(bad({ maxDelayMs: 1.5 })).rejects.toThrow(RangeError);
    await expect(bad({ timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(bad({ env: 'x' })).rejects.toThrow(TypeError);
    await expect(bad({ dir: 3 })).rejects.toThrow(TypeError);
  });
});
