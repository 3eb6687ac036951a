// The replicated journal under faults (test/fixtures/replicate-faults/):
// a primary process appending with a window in flight, a backup process in
// a network namespace of its own, and per iteration one fault while
// appends are in flight: kill -9 of the primary; kill -9 of the backup;
// SIGSTOP of the backup past the timeout; the veth link down and up; the
// backup's filesystem full when it starts again; a promotion of the backup
// with the old primary killed and coming back, or still running; and a
// failover after which the old primary's file serves the new primary as a
// backup. After each, the recovered journals hold every acknowledged
// record at its LSN, none twice, all in order, and no journal took records
// of a fenced-off primary.
//
// The broken variants (lib/replicate/hooks.ts) must be caught: a backup
// that acknowledges on receipt, before its fence, loses acknowledged
// records when it dies with them still in DRAM (its appends are made slow,
// as a slow device's, so that the kill finds them there; the control test
// runs the correct backup the same way); a backup that does not check
// epochs, and so not the history either, takes the new primary's records
// on top of the old primary's unacknowledged tail.
//
// PMEM_REPL_FAULTS sets the iteration count (default 20; npm run
// test:crash runs 500). Without root or `ip`, the backup runs on loopback
// and the link fault is skipped (a message says so); without mount, the
// full-filesystem fault is skipped.
import * as path from 'node:path';

import { seededRandom } from '../lib/testing/random';
import {
  availableKinds, type FaultKind, formatReport, type HarnessEnv, type Link, runHarness, type SmallTmpfs,
} from './fixtures/replicate-faults/harness';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { openLink, mountSmallTmpfs } = require('./fixtures/replicate-faults/net') as {
  openLink(tag: string, index?: number): Link;
  mountSmallTmpfs(dir: string, bytes: number, why?: { reason?: string }): SmallTmpfs | null;
};

const ITERATIONS = Number(process.env.PMEM_REPL_FAULTS ?? 20);
const SEED = Number(process.env.PMEM_REPL_FAULTS_SEED ?? 89);

let link: Link;
let tmpfs: SmallTmpfs | null;
const dir = path.join(testDir(), `repl-faults-${process.pid}`);

beforeAll(() => {
  link = openLink('rf');
  if (link.kind === 'loopback') {
    console.log(`89.replicate-faults: SKIPPED the network namespace (${link.reason}): the backup runs on loopback, and the link-down fault is not injected`);
  }
  const why: { reason?: string } = {};
  tmpfs = mountSmallTmpfs(path.join(dir, 'small-fs'), 8 * 1024 * 1024, why);
  if (tmpfs === null) console.log(`89.replicate-faults: SKIPPED the full-filesystem fault (${why.reason})`);
});

afterAll(() => {
  link?.close();
  tmpfs?.close();
  require('node:fs').rmSync(dir, { recursive: true, force: true });
});

function env(over: Partial<HarnessEnv> = {}): HarnessEnv {
  return {
    dir, link, tmpfs, timeoutMs: 300, journalBytes: 4 * 1024 * 1024, window: 16, stuckMs: 20000, ...over,
  };
}

test(`${ITERATIONS} faults while appends are in flight: nothing acknowledged lost, duplicated or reordered, nothing of a fenced-off epoch taken`, async () => {
  const kinds = availableKinds(env());
  const r = await runHarness(env(), ITERATIONS, kinds, seededRandom(SEED));
  console.log(formatReport('89.replicate-faults', r));
  expect(r.violations).toEqual([]);
  for (const k of kinds.slice(0, ITERATIONS)) {
    const c = r.byKind[k];
    expect(c.runs).toBeGreaterThan(0);
    // Every fault landed with appends in flight, and acknowledgements were checked.
    expect(c.landed).toBe(c.runs);
    expect(c.acksChecked).toBeGreaterThan(0);
  }
}, Math.max(600_000, ITERATIONS * 10_000));

test('the same faults with a slow backup persist: still nothing lost (the control for the ack-on-receipt variant)', async () => {
  const kinds: FaultKind[] = ['kill-backup', 'kill-backup'];
  const r = await runHarness(env({ slowPersistMs: 20, timeoutMs: 3000 }), kinds.length, kinds, seededRandom(SEED + 1));
  console.log(formatReport('89.replicate-faults, slow persist', r));
  expect(r.violations).toEqual([]);
  expect(r.byKind['kill-backup'].landed).toBe(kinds.length);
}, 300_000);

test("broken variant 'ack-on-receipt': a backup that acknowledges before its fence loses acknowledged records", async () => {
  const kinds: FaultKind[] = ['kill-backup', 'kill-backup'];
  const r = await runHarness(env({ hook: 'ack-on-receipt', slowPersistMs: 20, timeoutMs: 3000 }), kinds.length, kinds, seededRandom(SEED + 2));
  console.log(formatReport("89.replicate-faults, broken variant 'ack-on-receipt'", r));
  expect(r.found.lost).toBeGreaterThan(0);
}, 300_000);

test("broken variant 'no-epoch-check': the old primary's file, rejoining as a backup, keeps its fenced-off tail under the new primary's records", async () => {
  const kinds: FaultKind[] = ['rejoin', 'rejoin'];
  const r = await runHarness(env({ hook: 'no-epoch-check' }), kinds.length, kinds, seededRandom(SEED + 3));
  console.log(formatReport("89.replicate-faults, broken variant 'no-epoch-check'", r));
  expect(r.found.fenced).toBeGreaterThan(0);
}, 300_000);
