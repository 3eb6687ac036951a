// KVStore under SIGKILL: a child runs a mixed workload (puts, deletes,
// renames, batches, compactions, growth) and is killed at a random moment,
// during open and recovery too. After each kill the store must hold exactly
// the state after the last acknowledged call, or after the call in flight:
// never a partial batch or rename, never a lost acknowledged write.
// PMEM_KV_KILLS sets the number of kills (default 200; the crash sweep
// runs 1000 or more).
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { KVStore } from '../lib';
import { killTest } from '../lib/testing';
import { testDir, tmpFile } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const workload = require('./fixtures/kv/workload') as {
  op(seed: number, i: number): unknown;
  apply(model: Map<string, string>, op: unknown): void;
};

// eslint-disable-next-line @typescript-eslint/no-var-requires
const persistChild = require('./fixtures/kv/kill-persist') as { SEED: number; file(dir: string): string; base(run: number): number };

const KILLS = Number(process.env.PMEM_KV_KILLS ?? 200);
const PERSIST_KILLS = Math.max(50, Math.floor(KILLS / 2));
const child = path.join(__dirname, 'fixtures', 'kv', 'kill-child.js');

function snapshot(store: KVStore): string {
  let out = '';
  for (const [k, v] of store.range({ encoding: 'utf8' })) out += `${k}=${v}\n`;
  return out;
}

function modelText(model: Map<string, string>): string {
  return [...model.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k}=${v}\n`).join('');
}

/** Runs the child from op `start` and kills it after `delayMs` (from spawn, or from "ready"). */
function runAndKill(file: string, seed: number, start: number, delayMs: number, afterReady: boolean): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, file, String(seed), String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      timer = setTimeout(() => p.kill('SIGKILL'), delayMs);
    };
    p.stdout.on('data', (d: Buffer) => {
      const first = out === '';
      out += d.toString();
      if (afterReady && first) kill();
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    if (!afterReady) kill();
    p.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code}: ${err}`));
      else resolve(out.split('\n').filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4))));
    });
  });
}

test(`${KILLS} SIGKILLs during a mixed workload lose no acknowledged call and tear none`, async () => {
  const file = tmpFile('kv-kill');
  const seed = 7;
  const model = new Map<string, string>();
  let next = 0; // first call not yet known to be applied
  let inFlightApplied = 0;
  let acks = 0;
  const t0 = performance.now();
  for (let kill = 0; kill < KILLS; kill++) {
    const afterReady = kill % 5 !== 0;
    const delay = afterReady ? (kill * 7) % 8 : 5 + ((kill * 13) % 30);
    const acked = await runAndKill(file, seed, next, delay, afterReady);
    for (let i = 0; i < acked.length; i++) expect(acked[i]).toBe(next + i);
    for (const i of acked) workload.apply(model, workload.op(seed, i));
    next += acked.length;
    acks += acked.length;
    // The child's own options: a kill before the first format completed
    // leaves a file that create formats (nothing was acknowledged yet).
    const store = KVStore.open(file, { create: true, size: 64 * 1024, maxSize: 1 << 20, segmentSize: 4096 });
    try {
      const got = snapshot(store);
      expect(store.count).toBe(got === '' ? 0 : got.split('\n').length - 1);
      if (got !== modelText(model)) {
        // Only the call in flight may have taken effect, and all of it.
        workload.apply(model, workload.op(seed, next));
        expect(got).toBe(modelText(model));
        next++;
        inFlightApplied++;
      }
    } finally {
      store.close();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  // eslint-disable-next-line no-console
  console.log(`KVStore kill harness: ${KILLS} kills, ${acks} acknowledged calls, ` +
    `${inFlightApplied} calls in flight found applied, ${(seconds * 1000 / KILLS).toFixed(0)} ms per kill cycle`);
  expect(acks).toBeGreaterThan(KILLS);
}, 600_000);

test(`${PERSIST_KILLS} SIGKILLs just before the Nth drain or persist (killTest) tear no call`, async () => {
  const model = new Map<string, string>();
  let seen = 0; // acknowledgements already applied to the model
  let run = 0;
  let inFlightApplied = 0;
  const report = await killTest({
    child: path.join(__dirname, 'fixtures', 'kv', 'kill-persist.js'),
    kills: PERSIST_KILLS,
    crashAt: 'persist',
    maxCrashAt: 150,
    dir: path.join(testDir(), `kv-kill-persist-${process.pid}`),
    verify(dir, acked) {
      const fresh = acked.slice(seen) as number[];
      seen = acked.length;
      const base = persistChild.base(run++);
      fresh.forEach((i, n) => {
        if (i !== base + n) throw new Error(`acknowledgement ${i} out of order`);
        workload.apply(model, workload.op(persistChild.SEED, i));
      });
      let store: KVStore;
      try {
        store = KVStore.open(persistChild.file(dir), { readOnly: true });
      } catch (e) {
        // Killed before the first format was durable: nothing was acknowledged.
        if ((e as { code?: string }).code === 'ERR_PMEM_CORRUPT' && acked.length === 0) return;
        throw e;
      }
      try {
        const got = snapshot(store);
        if (got !== modelText(model)) {
          workload.apply(model, workload.op(persistChild.SEED, base + fresh.length));
          if (got !== modelText(model)) throw new Error(`run ${run - 1}: the store holds neither the acknowledged state nor the one after the call in flight`);
          inFlightApplied++;
        }
      } finally {
        store.close();
      }
    },
  });
  // eslint-disable-next-line no-console
  console.log(`KVStore killTest (persist): ${report.kills} kills in ${report.runs} runs, ${report.acked} acks, ` +
    `${inFlightApplied} in-flight calls applied, ${report.seconds.toFixed(1)} s`);
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(PERSIST_KILLS);
}, 600_000);
