// `npm start`: opens the default key-value store (creating it), loads a demo
// dataset when it is empty, shows put, get, range, rename and batch, prints
// latency medians of a warm loop, and leaves the store for `pmem kv` to
// explore. `npm run bench` is where the real numbers come from.
import * as path from 'node:path';

import { KVStore } from '../kv/store';
import { defaultLocation, EMULATED_BANNER } from '../core/location';
import { makeDirs } from '../core/make-dirs';
import { openMapping } from '../core/mapping';
import { cannotUse, EXIT, exitCodeOf, messageOf, reasonOf } from './exit';
import { Progress } from './progress';
import { pathText, shellWord } from './text';

const DEMO_KEYS = 100_000;
/** Untimed calls of each operation before its timed ones: cold calls (JIT, caches, page faults) must not count in the medians. */
const WARMUP = 2000;
const SAMPLES = 2000;

const MODES = {
  dax: 'DAX: CLWB+SFENCE reach persistent media (power-fail safe)',
  forced: 'forced: CLWB+SFENCE on DRAM (PMEM_IS_PMEM_FORCE=1; not power-fail safe)',
  msync: 'msync: not pmem, persisted with msync (power-fail safe only on a disk-backed file)',
} as const;

const userKey = (i: number): string => `user:${String(i).padStart(6, '0')}`;
const userValue = (i: number): string => JSON.stringify({ id: i, name: `user ${i}`, score: (i * 7919) % 1000 });

/**
 * Median and 99th percentile, in microseconds, of `fn` timed call by call
 * `n` times, after `warm` untimed calls. Each call gets its own `i`
 * (0 .. warm + n - 1), so that no two calls write the same key.
 */
function measure(warm: number, n: number, fn: (i: number) => void): { median: number; p99: number } {
  for (let i = 0; i < warm; i++) fn(i);
  const t: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fn(warm + i);
    t[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  t.sort((a, b) => a - b);
  return { median: t[Math.floor(n / 2)], p99: t[Math.floor(n * 0.99)] };
}

function main(): void {
  const where = defaultLocation();
  if (where.emulated) console.log(EMULATED_BANNER + '\n');
  makeDir(where.dir);
  const file = path.join(where.dir, 'demo.kv');

  const store = KVStore.open(file, { create: true, size: 64 << 20, maxSize: 1 << 30 });
  // The store's own mapping does not expose its mode; a read-only look at
  // the same file tells how its mount persists.
  const probe = openMapping(file, { readOnly: true });
  const mode = process.env.PMEM_IS_PMEM_FORCE === '1' && probe.mode === 'msync' ? 'forced' : probe.mode;
  probe.close();
  console.log(`store:       ${pathText(path.resolve(file))} (${where.source})`);
  console.log(`durability:  ${MODES[mode]}`);
  console.log(`recovery:    ${store.stats().recovery.ms.toFixed(1)} ms on open, ${store.count} keys`);

  if (store.count === 0) {
    const bar = new Progress('loading demo data', DEMO_KEYS);
    for (let i = 0; i < DEMO_KEYS; i += 1000) {
      const ops = [];
      for (let j = i; j < Math.min(i + 1000, DEMO_KEYS); j++) ops.push({ type: 'put' as const, key: userKey(j), value: userValue(j) });
      store.batch(ops); // atomic and durable when it returns
      bar.tick(ops.length);
    }
    bar.finish();
  }

  console.log('\nput, get, range, rename, batch:');
  store.put('greeting', `hello from pid ${process.pid}`);
  console.log(`  get greeting          -> ${store.getString('greeting')}`);
  const first = [...store.range({ prefix: 'user:0420', limit: 3, encoding: 'utf8' })].map(([k]) => k);
  console.log(`  range user:0420*, 3   -> ${first.join(', ')}`);
  store.put('draft', 'a value that moves');
  store.rename('draft', 'published'); // atomic across a crash
  console.log(`  rename draft→published -> draft: ${store.has('draft')}, published: ${store.getString('published')}`);
  store.batch([
    { type: 'put', key: 'account:a', value: '90' },
    { type: 'put', key: 'account:b', value: '110' },
    { type: 'del', key: 'published' },
  ]);
  console.log(`  batch (2 puts, 1 del) -> a=${store.getString('account:a')} b=${store.getString('account:b')} published=${store.has('published')}`);

  console.log('\nlatency of a warm loop, median / p99 in µs (every write durable on return):');
  console.log(`each operation runs ${WARMUP} times untimed, then ${SAMPLES} timed calls (a batch: ${WARMUP / 10}, then ${SAMPLES / 10})`);
  const value = Buffer.alloc(100, 'v');
  const rows: Array<[string, { median: number; p99: number }]> = [
    ['put (16 B key, 100 B value)', measure(WARMUP, SAMPLES, (i) => store.put(`bench:${String(i).padStart(10, '0')}`, value))],
    ['get', measure(WARMUP, SAMPLES, (i) => store.get(userKey((i * 7919) % DEMO_KEYS)))],
    ['range, 10 keys', measure(WARMUP, SAMPLES, (i) => [...store.range({ gte: userKey((i * 31) % DEMO_KEYS), limit: 10 })])],
    ['rename', measure(WARMUP, SAMPLES, (i) => store.rename(`bench:${String(i).padStart(10, '0')}`, `moved:${i}`))],
    ['batch of 10 puts', measure(WARMUP / 10, SAMPLES / 10, (i) => store.batch(Array.from({ length: 10 }, (_, j) => ({ type: 'put' as const, key: `moved:${i * 10 + j}`, value }))))],
  ];
  for (const [name, r] of rows) console.log(`  ${name.padEnd(30)} ${r.median.toFixed(2).padStart(8)} / ${r.p99.toFixed(2)}`);
  console.log('One run of one process, for a first look. `npm run bench` measures in interleaved rounds, against');
  console.log('a C floor and lmdb-js, better-sqlite3 and classic-level in the same run (docs/bench.md).');
  for (let i = 0; i < WARMUP + SAMPLES; i++) store.delete(`moved:${i}`);

  const s = store.stats();
  console.log(`\n${s.count} keys, ${s.liveBytes} live bytes, ${s.deadBytes} dead bytes, index ~${Math.round(s.indexBytes / Math.max(1, s.count))} B/key`);
  store.close();
  // Absolute, so that a PMEM_DIR starting with '-' is not taken for an option; quoted for the shell.
  const arg = shellWord(path.resolve(file));
  console.log(`\nThe store stays at ${pathText(path.resolve(file))}. Explore it with:`);
  console.log(`  npx pmem kv ${arg} get greeting`);
  console.log(`  npx pmem kv ${arg} scan --prefix user:0001 --limit 5`);
  console.log(`  npx pmem info ${arg}`);
}

/**
 * The demo's directory, made with its parents when missing (one level at a
 * time: lib/core/make-dirs.ts). A path that is there but is no directory
 * (PMEM_DIR naming a file), or that cannot be made, is the user's to fix:
 * it fails as a file the command cannot use, with why, not as a defect.
 * @throws Fail (exit 3)
 */
function makeDir(dir: string): void {
  try {
    makeDirs(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw cannotUse(`${pathText(dir)} is not a directory (set PMEM_DIR to a directory)`);
    if (code === 'ENOTDIR') throw cannotUse(`${pathText(dir)} cannot be made: a part of its path is not a directory (set PMEM_DIR to a directory)`);
    // The level that failed, when it is not `dir` itself.
    const failed = (e as NodeJS.ErrnoException).path;
    const at = failed === undefined || failed === path.resolve(dir) ? '' : ` (its part ${pathText(failed)})`;
    throw cannotUse(`${pathText(dir)} cannot be made${at}: ${reasonOf(e)} (set PMEM_DIR to a directory)`);
  }
}

/**
 * Runs the demo and exits as the pmem command does (lib/cli/exit.ts): what
 * a user or the system causes (a demo.kv that is no store, a store another
 * process holds, a PMEM_DIR that is a file) is one line on stderr and exit
 * 2, 3 or 4; only a defect prints its stack (exit 70).
 */
function run(): void {
  try {
    main();
  } catch (e) {
    const code = exitCodeOf(e);
    if (code === EXIT.INTERNAL) process.stderr.write(`pmem: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    else process.stderr.write(`pmem: ${messageOf(e)}\n`);
    process.exitCode = code;
  }
}

run();
