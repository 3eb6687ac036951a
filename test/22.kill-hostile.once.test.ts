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

  test('a workload that only ever notes is reported as not starting its work, not waited on for ever', async () => {
    // Notes every 20 ms, no ack, no ctx.started(), no return: 'random' mode's
    // kill clock waits for the work, and notes used to restart the silence
    // clock, so the test never ended.
    const workload = child('notes-only', `
      exports.run = async (ctx) => {
        for (;;) {
          ctx.note('tick');
          await new Promise((r) => setTimeout(r, 20));
        }
      };`);
    const report = await killTest({ child: workload, kills: 1, timeoutMs: 1000, verify() {} });
    expect(report.kills).toBe(0);
    expect(report.violations.length).toBeGreaterThan(0);
    // A run whose first note came before its timeout is named for it (one whose start-up took the whole second sent nothing).
    expect(report.violations.some((v) => /sent only notes for 1000 ms: it did not start its work/.test(v.message))).toBe(true);
    expect(report.violations.at(-1)!.message).toMatch(/failed in 5 runs in a row/);
  }, 60000);

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

  test("in 'persist' mode, a SIGKILL the child did not send at its crash point is no kill that landed either", async () => {
    // The child makes no ordering point, so it never reaches its crash
    // point: every SIGKILL is someone else's. These used to count as kills,
    // all of them during the work, with no violation.
    const stray = child('persist-stray-kill', `exports.run = (ctx) => {
      ctx.started();
      ctx.ack(1);
      process.kill(process.pid, 'SIGKILL');
      return new Promise(() => {});
    };`);
    const r = await killTest({ child: stray, kills: 3, crashAt: 'persist', maxCrashAt: 10, verify() {} });
    expect([r.kills, r.killsDuringWork, r.killsAfterStart]).toEqual([0, 0, 0]);
    expect(r.violations[0].message).toMatch(/^the workload was killed by SIGKILL, not at its crash point/);
    expect(r.violations.at(-1)!.message).toBe('the workload failed in 5 runs in a row: stopped');
    // One that reaches its crash point is killed there, and that kill counts.
    const reaches = child('persist-reaches', `exports.run = (ctx) => {
      ctx.started();
      for (let i = 0; i < 20; i++) { ctx.point(); ctx.ack(i); }
    };`);
    const ok = await killTest({ child: reaches, kills: 3, crashAt: 'persist', maxCrashAt: 10, verify() {} });
    expect(ok.violations).toEqual([]);
    expect([ok.kills, ok.killsAfterStart]).toEqual([3, 3]);
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

/**
 * Whether process `pid` can run another instruction of its own: false once
 * it is gone, a zombie, or exiting (PF_EXITING, set when a fatal signal is
 * taken, before the process closes its files). A read of /proc, not a wait.
 */
function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return false;
  }
  // pid (comm) state ppid pgrp session tty tpgid flags ...
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const PF_EXITING = 0x4;
  return !'ZXx'.includes(fields[0]) && (Number(fields[6]) & PF_EXITING) === 0;
}

/** SIGKILLs the processes this test's workloads started and recorded in `dir`, whatever the harness did. */
function killRecorded(dir: string): void {
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (!name.endsWith('.pid')) continue;
    try {
      process.kill(Number(fs.readFileSync(path.join(dir, name), 'utf8')), 'SIGKILL');
    } catch {
      // ESRCH: gone already.
    }
  }
}

describe('killTest, a workload that starts processes of its own', () => {
  test('a kill takes down the processes the workload started: none writes the directory while verify reads it', async () => {
    // The helper is what a workload's server or writer process would be: it
    // inherits the channel (fd 3), appends to a file in the directory and
    // acknowledges, on and on. A crash that left it running would let it
    // write during verify and into the next run.
    const workload = child('helper', `const cp = require('child_process');
      exports.run = async (ctx) => {
        cp.spawn(process.execPath, ['-e', \`
          const fs = require('fs');
          fs.writeFileSync(process.argv[1] + '/run-' + process.argv[2] + '.pid', String(process.pid));
          for (let i = 0; ; i++) fs.appendFileSync(process.argv[1] + '/data.log', 'run ' + process.argv[2] + ' write ' + i + ';');
        \`, ctx.dir, String(ctx.run)], { stdio: ['ignore', 'ignore', 'ignore', 3] });
        // The helper is running (its pid is written) before the clock starts.
        while (!require('fs').existsSync(ctx.dir + '/run-' + ctx.run + '.pid')) await new Promise((r) => setTimeout(r, 1));
        ctx.started();
        for (let i = 0; ; i++) { ctx.ack(i); await new Promise((r) => setTimeout(r, 1)); }
      };`);
    const dir = path.join(testDir(), `${process.pid}-helper-dir`);
    fs.rmSync(dir, { recursive: true, force: true });
    const living: string[] = [];
    try {
      const report = await killTest({
        child: workload, kills: 3, maxDelayMs: 50, dir, timeoutMs: 10_000,
        verify(d) {
          for (const name of fs.readdirSync(d)) {
            if (name.endsWith('.pid') && alive(Number(fs.readFileSync(path.join(d, name), 'utf8')))) living.push(name);
          }
        },
      });
      expect(report.violations).toEqual([]);
      expect(report.kills).toBe(3);
      expect(living).toEqual([]);
    } finally {
      killRecorded(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a process that leaves the group escapes the kill, and its hold on the pipes does not turn the kill into a hang', async () => {
    // Started detached (in a session of its own), with the workload's
    // stdio: it outlives the kill and keeps the stderr pipe open.
    const dir = path.join(testDir(), `${process.pid}-escape-dir`);
    fs.rmSync(dir, { recursive: true, force: true });
    const workload = child('escape', `exports.run = async (ctx) => {
      const p = require('child_process').spawn('sleep', ['20'], { stdio: 'inherit', detached: true });
      require('fs').writeFileSync(ctx.dir + '/sleep-' + ctx.run + '.pid', String(p.pid));
      p.unref();
      for (let i = 0; ; i++) { ctx.ack(i); await new Promise((r) => setImmediate(r)); }
    };`);
    try {
      const report = await killTest({ child: workload, kills: 2, maxDelayMs: 50, timeoutMs: 10_000, dir, verify() {} });
      expect(report.violations).toEqual([]);
      expect(report.kills).toBe(2);
      expect(report.killsAfterStart).toBe(2);
    } finally {
      killRecorded(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('killTest, when the workload returned', () => {
  test('done is sent at the return, before any work the workload queued runs: a kill after an ack sent later is not during the work', async () => {
    // run() returns at once; the microtask it queued acknowledges, then
    // holds the child for a while. `done` is sent before that microtask
    // runs, and so before its ack: the parent reads `done` first and does
    // not start the kill clock at the ack, and a kill that would land
    // before `done` was written would land before the ack too. No kill can
    // count as landing during the work, however the two processes are
    // scheduled. (Sent after an \`await\` of the return, \`done\` would
    // come after the ack and the hold, and every kill in the hold would
    // count.)
    const workload = child('queued', `exports.run = (ctx) => {
      queueMicrotask(() => {
        ctx.ack(1);
        const until = Date.now() + 300;
        while (Date.now() < until);
      });
    };`);
    const report = await killTest({ child: workload, kills: 1, maxDelayMs: 0, verify() {} });
    expect(report.killsDuringWork).toBe(0);
    expect(report.kills).toBe(0);
    expect(report.completed).toBe(report.runs);
    expect(report.acked).toBe(report.runs);
    // No run was killed: the one violation says so.
    expect(report.violations.map((v) => v.message)).toEqual([
      `only 0 of the 1 kills asked for landed in ${report.runs} runs (${report.runs} returned before their crash point): ` +
        'lower maxDelayMs (0), or give each run more work',
    ]);
  });

  test('fewer kills than asked for is a violation that names the option to lower; with it lowered, every kill lands', async () => {
    // Three ordering points per run, against crash points drawn from
    // 1..200: nearly every run returns before its crash point, and the 16
    // runs (3 * kills + 10) end with fewer kills than the 2 asked for.
    const workload = child('few-points', 'exports.run = (ctx) => { for (let i = 0; i < 3; i++) { ctx.ack(i); ctx.point(); } };');
    const base = { child: workload, kills: 2, crashAt: 'persist' as const, verify() {} };
    const short = await killTest({ ...base, maxCrashAt: 200 });
    expect(short.runs).toBe(16);
    expect(short.kills).toBeLessThan(2);
    expect(short.completed).toBe(16 - short.kills);
    expect(short.violations.map((v) => v.message)).toEqual([
      `only ${short.kills} of the 2 kills asked for landed in 16 runs (${short.completed} returned before their crash point): ` +
        'lower maxCrashAt (200) toward the persists a run makes, or give each run more work',
    ]);
    // Crash points inside the three: every run is killed, and no violation.
    const full = await killTest({ ...base, maxCrashAt: 3 });
    expect([full.runs, full.kills, full.completed]).toEqual([2, 2, 0]);
    expect(full.violations).toEqual([]);
  }, 60_000);

  test('a verify written as a predicate: false, returned or resolved, is a violation; any other value is not', async () => {
    const workload = child('predicate', 'exports.run = (ctx) => { for (let i = 0; i < 3; i++) { ctx.ack(i); ctx.point(); } };');
    const base = { child: workload, kills: 2, crashAt: 'persist' as const, maxCrashAt: 3 };
    const verify = (v: unknown) => v as unknown as void;
    const sync = await killTest({ ...base, verify: () => verify(false) });
    expect([sync.runs, sync.kills]).toEqual([2, 2]);
    expect(sync.violations.map((v) => v.message)).toEqual(['verify returned false', 'verify returned false']);
    const resolved = await killTest({ ...base, verify: async () => verify(false) });
    expect(resolved.violations.map((v) => v.message)).toEqual(['verify returned false', 'verify returned false']);
    for (const other of [true, 0, null, '']) {
      expect((await killTest({ ...base, verify: () => verify(other) })).violations).toEqual([]);
    }
  }, 60_000);
});

describe('killTest, hostile options', () => {
  const quiet = () => child('quiet', 'exports.run = (ctx) => { ctx.ack(1); };');
  // Whether a kill lands before this workload returns depends on the
  // machine's speed and load: the violation that says none did is not
  // what these tests are about.
  const otherThanShortfall = (vs: Array<{ message: string }>) => vs.filter((v) => !/^only \d+ of the \d+ kills asked for landed/.test(v.message));

  test('a timeout or delay the timers cannot keep (past 2^31 - 1 ms, 0 ms, a busy wait past 1 s) is a RangeError', async () => {
    const base = { child: quiet(), kills: 1, verify() {} };
    await expect(killTest({ ...base, timeoutMs: 2 ** 31 })).rejects.toThrow(RangeError);
    await expect(killTest({ ...base, timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(killTest({ ...base, maxDelayMs: 2 ** 31 })).rejects.toThrow(RangeError);
    await expect(killTest({ ...base, maxDelayUs: 1_000_001 })).rejects.toThrow(RangeError);
    const report = await killTest({ ...base, timeoutMs: 2 ** 31 - 1, maxDelayMs: 0 });
    expect(otherThanShortfall(report.violations)).toEqual([]);
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
    expect(otherThanShortfall(report.violations).length).toBe(report.runs);
    expect(typeof report.violations[0].message).toBe('string');
  });
});
