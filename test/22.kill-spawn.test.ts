// spawnRetrying (lib/testing/spawn.ts): the kill harness's forks, tried
// again while the kernel refuses them (ENOMEM, EAGAIN), and no other error.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';

import { seededRandom, spawnRetrying } from '../lib/testing';

/** A spawn that throws `codes` in turn, then forks for real. */
function refusing(codes: string[]): { fn: typeof spawn; calls: () => number } {
  let calls = 0;
  const fn = ((command: string, args: readonly string[], options: object) => {
    const code = codes[calls++];
    if (code !== undefined) throw Object.assign(new Error(`spawn ${code}`), { code, syscall: 'spawn' });
    return spawn(command, args, options);
  }) as typeof spawn;
  return { fn, calls: () => calls };
}

/** A spawn that, as node:child_process does for EAGAIN, returns a child with no pid and emits the refusal on the next tick, `times` times; then forks for real. */
function emitting(code: string, times: number): { fn: typeof spawn; calls: () => number } {
  let calls = 0;
  const fn = ((command: string, args: readonly string[], options: object) => {
    if (calls++ < times) {
      const child = new EventEmitter() as ChildProcess;
      process.nextTick(() => child.emit('error', Object.assign(new Error(`spawn ${command} ${code}`), { code, syscall: `spawn ${command}` })));
      return child;
    }
    return spawn(command, args, options);
  }) as typeof spawn;
  return { fn, calls: () => calls };
}

function exitCode(cp: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => cp.once('exit', resolve));
}

test('a fork refused for ENOMEM, then EAGAIN, is tried again and the child runs', async () => {
  const r = refusing(['ENOMEM', 'EAGAIN', 'ENOMEM']);
  const cp = await spawnRetrying(process.execPath, ['-e', 'process.exit(7)'], { stdio: 'ignore' }, { spawn: r.fn });
  expect(r.calls()).toBe(4);
  expect(await exitCode(cp)).toBe(7);
});

test('a fork refused past the patience is thrown, with the tries and what the process held', async () => {
  const r = refusing(Array(1000).fill('ENOMEM'));
  const err = await spawnRetrying(process.execPath, ['-e', '0'], {}, { spawn: r.fn, patienceMs: 350 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as NodeJS.ErrnoException).code).toBe('ENOMEM');
  // The first pause (100 ms) fits the patience, so at least two tries.
  expect(r.calls()).toBeGreaterThanOrEqual(2);
  const message = (err as Error).message;
  expect(message).toContain(`after ${r.calls()} tries in `);
  expect(message).toMatch(/\d+ mappings, VmSize \d+ kB, threads \d+; largest: \d+ kB /);
  expect(message).toMatch(/charged \d+ kB/);
  expect(message).toMatch(/stack limit \S+\/\S+, address space limit \S+\/\S+/);
  expect(message).toMatch(/MemAvailable \d+ kB, Committed_AS \d+ kB, CommitLimit \d+ kB, overcommit_memory [0-2]/);
});

test('a refusal emitted as an error event (EAGAIN, as node:child_process gives it) is tried again too', async () => {
  const r = emitting('EAGAIN', 2);
  const cp = await spawnRetrying(process.execPath, ['-e', 'process.exit(5)'], { stdio: 'ignore' }, { spawn: r.fn });
  expect(r.calls()).toBe(3);
  expect(await exitCode(cp)).toBe(5);
});

test('another error emitted (ENOENT) is thrown at once, not left on a child that never started', async () => {
  const err = await spawnRetrying('/nonexistent/command', [], { stdio: 'ignore' }).catch((e: unknown) => e);
  expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
});

(process.getuid?.() === 0 ? test : test.skip)('the kernel\'s EAGAIN (a process limit reached) is tried again until the patience runs out, then thrown', () => {
  // As an unprivileged user (the limit does not bind root), with its own
  // limit lowered to 1 once it runs: every fork it then makes is refused.
  const dist = path.join(__dirname, '..', 'dist', 'testing');
  const script = `
    require('child_process').execFileSync('prlimit', ['--pid', String(process.pid), '--nproc=1:']);
    const { spawnRetrying } = require(${JSON.stringify(dist)});
    spawnRetrying('/bin/true', [], { stdio: 'ignore' }, { patienceMs: 400 })
      .then((c) => console.log('started ' + c.pid), (e) => console.log('refused ' + e.code + ' ' + e.message));`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/^refused EAGAIN spawn \/bin\/true EAGAIN \(after [2-9]\d* tries in \d+ ms; /);
});

test('any other error is thrown at once, untouched', async () => {
  const r = refusing(['EPERM', 'ENOMEM']);
  const err = await spawnRetrying(process.execPath, ['-e', '0'], {}, { spawn: r.fn }).catch((e: unknown) => e);
  expect((err as NodeJS.ErrnoException).code).toBe('EPERM');
  expect((err as Error).message).toBe('spawn EPERM');
  expect(r.calls()).toBe(1);
});

test('the default spawn is node:child_process', async () => {
  const cp = await spawnRetrying(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });
  expect(await exitCode(cp)).toBe(3);
});

test('bad retrying options are refused before any fork', async () => {
  const r = refusing([]);
  const call = (o: unknown) => spawnRetrying(process.execPath, ['-e', '0'], {}, o as object);
  await expect(call({ patienceMs: -1, spawn: r.fn })).rejects.toThrow(RangeError);
  await expect(call({ patienceMs: 1.5, spawn: r.fn })).rejects.toThrow(RangeError);
  await expect(call({ patienceMs: '10', spawn: r.fn })).rejects.toThrow(TypeError);
  await expect(call({ spawn: 'fork' })).rejects.toThrow('spawn must be a function');
  await expect(call({ patience: 10, spawn: r.fn })).rejects.toThrow("unknown option 'patience'");
  await expect(call(null)).rejects.toThrow('options must be an object');
  expect(r.calls()).toBe(0);
});

test("the kill schedule's generator takes every bit of a seed up to 2^53: seeds that differ past 2^32 give other moments", () => {
  const first = (seed: number): number[] => {
    const r = seededRandom(seed);
    return Array.from({ length: 4 }, () => r());
  };
  expect(first(5 + 2 ** 32)).not.toEqual(first(5));
  expect(first(2 ** 53 - 1)).not.toEqual(first(2 ** 32 - 1));
  // Below 2^32 the sequences are mulberry32's, as before: seeds already in use keep their schedules.
  let a = 7;
  const mulberry = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  expect(first(7)).toEqual([mulberry(), mulberry(), mulberry(), mulberry()]);
});
