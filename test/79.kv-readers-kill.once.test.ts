// Readers beside a KVStore writer under SIGKILL (fixtures/kv/readers-kill.js
// and readers-stress.js, whose checks every read goes through):
// - readers killed during their reads: the writer goes on unaffected, and
//   readers keep opening (a reader holds no lock and no slot to leave behind);
// - the writer killed during its calls: the readers keep serving, with no
//   torn, stale or uncommitted read, and the next writer opens and recovers.
// PMEM_READERS_KILLS sets the kills of each (default 20; the full run,
// scripts/kv-readers-stress.js, does 100 of each).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { KVStore } from '../lib';
import { killTest } from '../lib/testing';
import { expectKillsLanded } from './fixtures/kill-report';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const stress = require('./fixtures/kv/readers-stress') as {
  prepare(file: string): void;
  progress(file: string, maxCalls: number, create: boolean): { m: { close(): void }; i32: Int32Array };
  child(role: string, cfg: object): Promise<Record<string, number | string>>;
  worker(role: string, cfg: object): Promise<Record<string, number | string>>;
  single(k: number): string;
  parse(b: Buffer): { seq: number; key: number } | null;
  SINGLES: number;
  W_STOP: number;
  W_END: number;
  W_ISSUED: number;
  KEYS_AT: number;
};
// eslint-disable-next-line @typescript-eslint/no-var-requires
const killChild = require('./fixtures/kv/readers-kill') as { config(dir: string): string };

const KILLS = Number(process.env.PMEM_READERS_KILLS ?? 20);
const MAX_CALLS = 2_000_000;
const CHILD = path.join(__dirname, 'fixtures', 'kv', 'readers-kill.js');

type Report = Record<string, number | string>;

function setUp(dir: string): { file: string; prog: string; p: ReturnType<typeof stress.progress> } {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'store.kv');
  const prog = path.join(dir, 'progress');
  stress.prepare(file);
  return { file, prog, p: stress.progress(prog, MAX_CALLS, true) };
}

function expectClean(r: Report): void {
  expect({ torn: r.torn, stale: r.stale, uncommitted: r.uncommitted, halfBatch: r.halfBatch, errors: r.errors, first: r.firstError })
    .toEqual({ torn: 0, stale: 0, uncommitted: 0, halfBatch: 0, errors: 0, first: '' });
}

test(`${KILLS} SIGKILLs of readers during their reads: the writer goes on unaffected`, async () => {
  const dir = path.join(testDir(), `kv-readers-kill-r-${process.pid}`);
  const { file, prog, p } = setUp(dir);
  let writer: Promise<Report> | undefined;
  let survivor: Promise<Report> | undefined;
  try {
    const report = await killTest({
      child: CHILD,
      kills: KILLS,
      seed: 3,
      crashAt: 'random',
      maxAcks: 2000,
      maxDelayUs: 2000,
      dir,
      prepare(d) {
        fs.writeFileSync(killChild.config(d), JSON.stringify({ role: 'reader', file, progress: prog, maxCalls: MAX_CALLS, reads: 0, seed: 5, maxReads: 0 }));
        // The writer (a process) runs through every kill; a reader in a
        // worker reads beside it all along.
        writer = stress.child('writer', { file, progress: prog, maxCalls: MAX_CALLS, calls: MAX_CALLS, seed: 9, compactEvery: 2000, readers: 0 });
        survivor = stress.worker('reader', { file, progress: prog, maxCalls: MAX_CALLS, reads: 0, seed: 11, maxReads: 0, untilEnd: true });
      },
      verify() {
        // A new reader opens beside the writer after every kill.
        KVStore.open(file, { readOnly: true }).close();
      },
    });
    Atomics.store(p.i32, stress.W_STOP, 1);
    Atomics.store(p.i32, stress.W_END, 1);
    const w = await writer!;
    const s = await survivor!;
    expect(report.violations).toEqual([]);
    expect(report.kills).toBe(KILLS);
    expectKillsLanded('79 readers killed beside a writer', report);
    // The writer ran through every kill to its stop, and its store reopens
    // with every key it wrote.
    expect(Number(w.compactions)).toBeGreaterThan(0);
    expectClean(s);
    expect(Number(s.reads)).toBeGreaterThan(0);
    const store = KVStore.open(file);
    expect(store.count).toBe(Number(w.count));
    store.close();
  } finally {
    Atomics.store(p.i32, stress.W_STOP, 1);
    Atomics.store(p.i32, stress.W_END, 1);
    await Promise.allSettled([writer, survivor]);
    p.m.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 600_000);

test(`${KILLS} SIGKILLs of the writer during its calls: readers keep serving, the next writer recovers`, async () => {
  const dir = path.join(testDir(), `kv-readers-kill-w-${process.pid}`);
  const { file, prog, p } = setUp(dir);
  let readers: Promise<Report>[] = [];
  let checked = 0;
  try {
    const report = await killTest({
      child: CHILD,
      kills: KILLS,
      seed: 4,
      crashAt: 'random',
      maxAcks: 1000,
      maxDelayUs: 1000,
      dir,
      prepare(d) {
        fs.writeFileSync(killChild.config(d), JSON.stringify({
          role: 'writer', file, progress: prog, maxCalls: MAX_CALLS, calls: 3000, seed: 13, compactEvery: 700, readers: 0,
        }));
        const cfg = { file, progress: prog, maxCalls: MAX_CALLS, reads: 0, maxReads: 0, untilEnd: true };
        readers = [stress.worker('reader', { ...cfg, seed: 21 }), stress.child('reader', { ...cfg, seed: 22 })];
      },
      verify() {
        // The next writer opens and recovers; every call that returned is there.
        const store = KVStore.open(file);
        try {
          for (let k = 0; k < stress.SINGLES; k++) {
            const r = Atomics.load(p.i32, stress.KEYS_AT + 2 * k);
            const v = store.get(stress.single(k));
            const got = v === undefined ? null : stress.parse(v);
            if (v !== undefined && got === null) throw new Error(`key ${k} torn`);
            if (r > 0 && (got === null || got.seq < r) && Atomics.load(p.i32, stress.KEYS_AT + 2 * k + 1) < r) {
              throw new Error(`key ${k}: call ${r} returned, the store holds ${got?.seq}`);
            }
            checked++;
          }
        } finally {
          store.close();
        }
      },
    });
    Atomics.store(p.i32, stress.W_END, 1);
    const rr = await Promise.all(readers);
    expect(report.violations).toEqual([]);
    expect(report.kills).toBe(KILLS);
    expectKillsLanded('79 the writer killed beside readers', report);
    expect(checked).toBeGreaterThan(0);
    for (const r of rr) {
      expectClean(r);
      // They read while the writers ran, and followed each new writer.
      expect(Number(r.readsDuringWrites)).toBeGreaterThan(0);
      expect(Number(r.catchUps)).toBeGreaterThan(KILLS);
    }
  } finally {
    Atomics.store(p.i32, stress.W_END, 1);
    await Promise.allSettled(readers);
    p.m.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 600_000);
