#!/usr/bin/env node
// The full reliability counts of readers beside a KVStore writer, which
// npm test runs on fewer (test/78, test/79):
// - 10M checksummed reads (two readers: a worker and a process) while a
//   writer process runs puts, deletes, batches, renames, refused batches,
//   compaction and growth: 0 torn, stale, uncommitted or half-batch reads;
// - 100 SIGKILLs of readers and 100 of the writer (test/79 with
//   PMEM_READERS_KILLS=100).
// Usage: node scripts/kv-readers-stress.js [--reads N] [--kills N]
// (npm run build first). Files go under $PMEM_TEST_DIR or /dev/shm.
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const stress = require('../test/fixtures/kv/readers-stress');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}

async function main() {
  const reads = arg('--reads', 10_000_000);
  const kills = arg('--kills', 100);
  const dir = path.join(process.env.PMEM_TEST_DIR || '/dev/shm', `kv-readers-stress-${process.pid}`);
  const t0 = Date.now();
  // Calls enough to outlast the reads; the writer stops once they are done.
  const r = await stress.run({ dir, calls: 50_000_000, reads: 1, stopAfterReads: reads, compactEvery: 5000 });
  require('node:fs').rmSync(dir, { recursive: true, force: true });
  const total = r.readers.reduce((n, x) => n + x.reads, 0);
  const bad = r.readers.reduce((n, x) => n + x.torn + x.stale + x.uncommitted + x.halfBatch + x.errors, 0);
  console.log(`${total} checked reads (${r.readers.map((x) => `${x.reads}: ${x.readsDuringWrites} during writes, ` +
    `${x.torn} torn, ${x.stale} stale, ${x.uncommitted} uncommitted, ${x.halfBatch} half batches, ${x.errors} errors, ` +
    `${x.retries} retries, ${x.resyncs} rebuilds, ${x.remaps} remaps`).join('; ')}) beside ${r.writer.calls} writer calls ` +
    `(${r.writer.compactions} compactions, file ${r.writer.fileBytes} bytes) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (bad > 0 || total < reads) {
    console.log(`FAILED: ${bad} bad reads${r.readers.map((x) => x.firstError).filter(Boolean).map((e) => `\n${e}`).join('')}`);
    process.exitCode = 1;
  }
  if (kills > 0) {
    const j = spawnSync(path.join(__dirname, '..', 'node_modules', '.bin', 'jest'), ['test/79.kv-readers-kill.once.test.ts'], {
      cwd: path.join(__dirname, '..'), stdio: 'inherit', env: { ...process.env, PMEM_READERS_KILLS: String(kills) },
    });
    if (j.status !== 0) process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
