// killTest against workloads that do not keep to the protocol: a line on
// the channel that is not a harness message, acknowledgements split across
// reads in the middle of a character, a child that exits 0 before its run
// returns, and options its timers cannot keep.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { killTest } from '../lib/testing';
import { testDir } from './helpers';

/** A workload module written into the test directory. */
function child(name: string, source: string): string {
  const file = path.join(testDir(), `${process.pid}-${name}.js`);
  fs.writeFileSync(file, source);
  return file;
}

describe('killTest, hostile workloads', () => {
  test.each([
    ['not JSON', "'not json\\n'"],
    ['JSON null', "'null\\n'"],
    ['a JSON number', "'5\\n'"],
    ['a line without end', "'x'.repeat(1 << 20)"],
  ])('a child that writes %s on the channel is a violation, not an uncaught exception in the parent', async (_what, line) => {
    const workload = child(`garbage-${line.length}`, `
      const fs = require('fs');
      exports.run = async (ctx) => {
        const line = ${line};
        for (let i = 0; i < (line.endsWith('\\n') ? 1 : 17); i++) fs.writeSync(3, line);
        // Would start the kill clock, were the garbage taken for nothing.
        ctx.ack(1);
        await new Promise((r) => setTimeout(r, 60000));
      };`);
    const report = await killTest({ child: workload, kills: 1, maxDelayMs: 10000, timeoutMs: 20000, verify() {} });
    expect(report.violations.length).toBeGreaterThan(0);
    expect(report.violations[0].message).toMatch(/not a harness message/);
    // A run the harness ended for its garbage is not a kill, and the test
    // ends there: the workload does not speak the protocol.
    expect(report.kills).toBe(0);
    expect(report.runs).toBe(1);
    expect(report.violations.length).toBe(1);
  });

  test('an acknowledgement split across reads inside a character reaches verify whole', async () => {
    const value = 'é'.repeat(100001);
    const workload = child('utf8', `exports.run = (ctx) => { for (let i = 0; i < 20; i++) ctx.ack('é'.repeat(100001)); };`);
    const seen: unknown[] = [];
    const report = await killTest({
      child: workload,
      kills: 1,
      maxDelayMs: 5000,
      verify(_dir, acked) {
        seen.push(...acked);
      },
    });
    expect(report.acked).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(0);
    for (const a of seen) expect(a === value).toBe(true);
  });

  test('a child that exits 0 before its run returns is a violation, not a completed run', async () => {
    const workload = child('exit0', 'exports.run = () => process.exit(0);');
    const report = await killTest({ child: workload, kills: 1, maxDelayMs: 1000, verify() {} });
    expect(report.completed).toBe(0);
    // One a run, and the stop after five in a row.
    expect(report.runs).toBe(5);
    expect(report.violations.length).toBe(report.runs + 1);
    expect(report.violations[0].message).toMatch(/exited \(code 0\) before its run returned/);
    expect(report.violations[5].message).toBe('the workload failed in 5 runs in a row: stopped');
  });

  test('a workload that fails every run is stopped after 5 runs in a row, not run 3 * kills + 10 times', async () => {
    const workload = child('throws', "exports.run = () => { throw new Error('workload bug'); };");
    const report = await killTest({ child: workload, kills: 100, maxDelayMs: 1000, verify() {} });
    expect([report.runs, report.kills]).toEqual([5, 0]);
    expect(report.violations[0].message).toMatch(/^the workload failed \(exit \d+\): .*workload bug/s);
    expect(report.violations.at(-1)!.message).toBe('the workload failed in 5 runs in a row: stopped');
  });

  test('a workload ended by a signal is named by it; a SIGKILL this harness did not send is no kill that landed', async () => {
    const segv = child('segv', "exports.run = (ctx) => { ctx.ack(1); process.kill(process.pid, 'SIGSEGV'); return new Promise(() => {}); };");
    const r1 = await killTest({ child: segv, kills: 1, maxDelayMs: 60000, verify() {} });
    expect(r1.kills).toBe(0);
    expect(r1.violations[0].message).toMatch(/^the workload was killed by SIGSEGV: /);
    // The OOM killer, or a stray kill -9: in 'random' mode only the harness's own count.
    const self = child('self-kill', "exports.run = (ctx) => { ctx.started(); process.kill(process.pid, 'SIGKILL'); return new Promise(() => {}); };");
    const r2 = await killTest({ child: self, kills: 3, maxDelayMs: 60000, verify() {} });
    expect([r2.kills, r2.killsAfterStart]).toEqual([0, 0]);
    expect(r2.violations[0].message).toMatch(/^the workload was killed by SIGKILL, not by this harness/);
  });

  test("ctx.ack and ctx.note of a value JSON does not carry (undefined, a function, a symbol, NaN or an infinity in it, a toJSON that returns nothing) is a TypeError in the workload, not garbage on the channel", async () => {
    // Notes do not start the kill clock: all of them are sent before the one ack, which does.
    const workload = child('ack-undefined', `exports.run = (ctx) => {
      for (const v of [undefined, () => 1, Symbol('s'), NaN, [1, -Infinity], { toJSON() { return undefined; } }]) {
        for (const f of ['ack', 'note']) {
          try { ctx[f](v); } catch (e) { ctx.note(e.constructor.name + ': ' + e.message); continue; }
          ctx.note('taken');
        }
      }
      ctx.ack(null);
      return new Promise((r) => setTimeout(r, 600000));
    };`);
    const seen: unknown[] = [];
    const report = await killTest({ child: workload, kills: 1, maxDelayMs: 10, verify(_dir, acked) { seen.splice(0, seen.length, ...acked); } });
    expect(report.violations).toEqual([]);
    expect(report.kills).toBe(1);
    expect(seen).toEqual([
      'TypeError: ctx.ack takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got undefined',
      'TypeError: ctx.note takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got undefined',
      'TypeError: ctx.ack takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got function',
      'TypeError: ctx.note takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got function',
      'TypeError: ctx.ack takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got symbol',
      'TypeError: ctx.note takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got symbol',
      'TypeError: ctx.ack takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got NaN in it, which JSON carries as null',
      'TypeError: ctx.note takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got NaN in it, which JSON carries as null',
      'TypeError: ctx.ack takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got -Infinity in it, which JSON carries as null',
      'TypeError: ctx.note takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got -Infinity in it, which JSON carries as null',
      'TypeError: ctx.ack takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got a value with no JSON form (its toJSON returned undefined)',
      'TypeError: ctx.note takes a value JSON carries (null, a boolean, a number, a string, an array or an object), got a value with no JSON form (its toJSON returned undefined)',
      null,
    ]);
  });
});

describe('killTest, a workload that starts processes of its own', () => {
  test('a process holding the workload\'s stderr after the kill does not turn the kill into a hang', async () => {
    // The workload starts a process with its stdio (a server, a shell
    // command), which outlives the kill and keeps the stderr pipe open.
    const workload = child('grandchild', `exports.run = async (ctx) => {
      require('child_process').spawn('sleep', ['20'], { stdio: 'inherit' }).unref();
      for (let i = 0; ; i++) { ctx.ack(i); await new Promise((r) => setImmediate(r)); }
    };`);
    const report = await killTest({ child: workload, kills: 2, maxDelayMs: 50, timeoutMs: 10_000, verify() {} });
    expect(report.violations).toEqual([]);
    expect(report.kills).toBe(2);
    expect(report.killsAfterStart).toBe(2);
    spawnSync('pkill', ['-f', '^sleep 20$']);
  });
});

describe('killTest, hostile options', () => {
  const quiet = () => child('quiet', 'exports.run = (ctx) => { ctx.ack(1); };');

  test('a timeout or delay the timers cannot keep (past 2^31 - 1 ms, 0 ms, a busy wait past 1 s) is a RangeError', async () => {
    const base = { child: quiet(), kills: 1, verify() {} };
    await expect(killTest({ ...base, timeoutMs: 2 ** 31 })).rejects.toThrow(RangeError);
    await expect(killTest({ ...base, timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(killTest({ ...base, maxDelayMs: 2 ** 31 })).rejects.toThrow(RangeError);
    await expect(killTest({ ...base, maxDelayUs: 1_000_001 })).rejects.toThrow(RangeError);
    const report = await killTest({ ...base, timeoutMs: 2 ** 31 - 1, maxDelayMs: 0 });
    expect(report.violations).toEqual([]);
  });

  test('dir is read once: a getter that names a directory and then undefined does not get it removed', async () => {
    const keep = path.join(testDir(), `${process.pid}-keep`);
    fs.mkdirSync(keep, { recursive: true });
    fs.writeFileSync(path.join(keep, 'precious'), 'x');
    let reads = 0;
    const options = { child: quiet(), kills: 1, verify() {} };
    Object.defineProperty(options, 'dir', { enumerable: true, get: () => (reads++ < 3 ? keep : undefined) });
    await killTest(options as never);
    expect(fs.existsSync(path.join(keep, 'precious'))).toBe(true);
  });

  test('a large seed still gives each run its own seed', async () => {
    const workload = child('seed', 'exports.run = (ctx) => { ctx.note(String(ctx.seed)); };');
    const seeds: unknown[] = [];
    await killTest({ child: workload, kills: 1, seed: 1_700_000_000_000, verify(_dir, acked) { seeds.splice(0, seeds.length, ...acked); } });
    expect(seeds.length).toBeGreaterThan(1);
    expect(new Set(seeds).size).toBe(seeds.length);
  });

  test('a dir that cannot be made is refused with mkdir\'s error, not waited on forever', async () => {
    // /proc refuses a new name with ENOENT although its parent exists:
    // Node's recursive mkdir retries that forever. Run in a child, so that
    // a hang is a failure here and not a stuck test.
    const testing = path.join(__dirname, '..', 'dist', 'testing');
    const script = `
      require(${JSON.stringify(testing)})
        .killTest({ child: ${JSON.stringify(quiet())}, kills: 1, dir: '/proc/pmem-no-such/run', verify() {} })
        .then(() => console.log('resolved'), (e) => console.log(e.code + ' ' + e.message));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toBe("ENOENT ENOENT: no such file or directory, mkdir '/proc/pmem-no-such'");
    // An existing file: mkdir's EEXIST, as before.
    const file = quiet();
    await expect(killTest({ child: file, kills: 1, dir: file, verify() {} })).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(killTest({ child: file, kills: 1, dir: path.join(file, 'x'), verify() {} })).rejects.toMatchObject({ code: 'ENOTDIR' });
    // Missing levels are made, as the recursive form makes them.
    const deep = path.join(testDir(), `${process.pid}-deep`, 'a', 'b');
    const report = await killTest({ child: file, kills: 1, dir: deep, verify() {} });
    expect(report.runs).toBeGreaterThan(0);
    expect(fs.statSync(deep).isDirectory()).toBe(true);
  }, 60000);

  test('a verify that throws a value with no string form is a violation', async () => {
    const report = await killTest({ child: quiet(), kills: 1, verify() { throw Object.create(null); } });
    expect(report.violations.length).toBe(report.runs);
    expect(typeof report.violations[0].message).toBe('string');
  });
});
