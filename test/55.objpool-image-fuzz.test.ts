// Seeded damage of whole pool files holding a PersistentList (in the style
// of test/45 and test/fuzz-helpers.ts): every damaged image either opens,
// and its list then walks, mutates and allocates or is ERR_PMEM_CORRUPT, or
// is refused at open with ERR_PMEM_CORRUPT (ERR_PMEM_NOT_POOL once the
// signature is gone) and left byte-identical. Never a hang, a crash, or a
// read outside the pool. Each image runs in a child process, so that a
// regression kills or hangs only the child: its time limit is a safety net,
// far above a run's time, and a pass is decided by the child's answer alone.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ObjPool, PersistentList } from '../lib';
import { damage, imageCount, Ranges } from './fuzz-helpers';
import { tmpFile } from './helpers';

const MiB = 1024 * 1024;
const IMAGES = imageCount(40);
const SAFETY_NET_MS = 60_000;
const child = path.join(__dirname, 'fixtures', 'obj', 'damaged-child.js');

interface Outcome {
  stage: string;
  code?: string;
  message?: string;
}

function run(file: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [child, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), SAFETY_NET_MS);
    c.on('error', reject);
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== null || out === '') resolve({ stage: 'killed', message: `exit ${code} ${signal} ${err.slice(0, 500)}` });
      else resolve(JSON.parse(out) as Outcome);
    });
  });
}

function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x / 2 ** 31;
  };
}

test(`${IMAGES} damaged pool images open to a usable list or are refused, byte-identical`, async () => {
  const base = tmpFile('image-base');
  const pool = ObjPool.create(base, { layout: 'fuzz', size: 16 * MiB, sds: false });
  const list = PersistentList.inRoot(pool);
  const nodes: number[] = [];
  for (let i = 0; i < 30; i++) nodes.push(list.push(`value-${i}`));
  list.remove(nodes[5]);
  const big = pool.alloc(300_000);
  pool.transaction((tx) => {
    tx.write(big, Buffer.alloc(1000, 3));
    list.push('in a transaction');
  });
  pool.close();
  const image = fs.readFileSync(base);
  fs.rmSync(base);

  // Where damage matters most: the pool header and descriptor, the first
  // lanes, the heap and zone headers with the first chunk headers, the
  // first chunk (a run: its header and bitmap), and the list's nodes.
  const lanes = Number(image.readBigUInt64LE(4096 + 1024));
  const heap = Number(image.readBigUInt64LE(4096 + 1040));
  const chunks = heap + 1024 + 64 + 8 * (65535 - 7);
  const hot: Ranges = [
    [0, 8192],
    [lanes, lanes + 4 * 3072],
    [heap, heap + 1024 + 64 + 8 * 64],
    [chunks, chunks + 4096],
    [Math.min(...nodes) - 64, Math.max(...nodes) + 64],
  ];

  const random = rng(55);
  const file = tmpFile('image');
  const counts = new Map<string, number>();
  for (let i = 0; i < IMAGES; i++) {
    const d = damage(image, random, hot, 8 * MiB);
    fs.writeFileSync(file, d.image);
    const r = await run(file);
    const what = `image ${i} (${d.kind} at ${JSON.stringify(d.ranges)}): ${r.stage} ${r.code ?? ''} ${r.message ?? ''}`;
    if (r.stage === 'killed') throw new Error(what);
    if (r.stage !== 'done') {
      const allowed = r.stage === 'open' ? ['ERR_PMEM_CORRUPT', 'ERR_PMEM_NOT_POOL'] : ['ERR_PMEM_CORRUPT'];
      if (!allowed.includes(r.code ?? '')) throw new Error(what);
      if (r.stage === 'open' && !fs.readFileSync(file).equals(d.image)) throw new Error(`refused but written: ${what}`);
    }
    const key = r.stage === 'done' ? 'done' : `${r.stage} ${r.code}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  fs.rmSync(file);
  // The damage reached both outcomes.
  expect(counts.get('done') ?? 0).toBeGreaterThan(0);
  expect(counts.get('open ERR_PMEM_CORRUPT') ?? 0).toBeGreaterThan(0);
}, IMAGES * SAFETY_NET_MS);
