// The kill harness against libpmemobj: a child runs list pushes, removes and
// transactions on a pool and is SIGKILLed at random moments. After every
// kill: pmemobj_check passes, the list is acyclic, its length is n or n ± 1,
// every acknowledged element is present, and every transaction was
// all-or-nothing (test/fixtures/obj/list-verify.js). Random moments only:
// libpmemobj persists on its own, not through a Region. Each kill comes
// 0..1000 us after the run's Nth acknowledged operation, N in 1..MAX_ACKS,
// of the OPS the run makes: after the pool is open, during the work.
import * as path from 'node:path';

import { killTest } from '../lib/testing';
import { expectKillsLanded } from './fixtures/kill-report';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { verify } = require('./fixtures/obj/list-verify.js') as { verify(dir: string, acked: unknown[]): unknown };
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { prepare } = require('./fixtures/obj/list-workload.js') as { prepare(dir: string): void };
const KILLS = Number(process.env.PMEM_OBJ_KILLS ?? 200);
const MAX_ACKS = 200;

test(`${KILLS} kills of a list and transaction workload lose nothing acknowledged`, async () => {
  const report = await killTest({
    child: path.resolve(__dirname, 'fixtures/obj/list-workload.js'),
    kills: KILLS,
    seed: 7,
    crashAt: 'random',
    maxAcks: MAX_ACKS,
    maxDelayUs: 1000,
    dir: path.join(testDir(), `obj-kill-${process.pid}`),
    prepare,
    verify: (dir, acked) => {
      verify(dir, acked);
    },
  });
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(KILLS);
  expect(report.acked).toBeGreaterThan(KILLS);
  expectKillsLanded('54 ObjPool list and transactions', report);
}, 600_000);
