// SharedAppendList under SIGKILL with several writer processes: each run
// starts three producers on one list (the harness's child and two
// siblings, which die with it), kills them during their appends, and then
// checks that every acknowledged append of every run is in the list once,
// each producer's values in order, and nothing from stale bytes.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { openMapping, SharedAppendList } from '../lib';
import { killTest } from '../lib/testing';
import { expectKillsLanded } from './fixtures/kill-report';
import { testDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const mp = require('./fixtures/log/mp-producer.js') as {
  LIST_AT: number;
  SIZE: number;
  SIBLINGS: number;
  KILL_OPS: number;
  file(dir: string): string;
  byTag(values: Buffer[]): Map<string, number>;
};
const CHILD = path.resolve(__dirname, 'fixtures/log/mp-producer.js');
const KILLS = Number(process.env.PMEM_KILLS ?? 20);

function verifyList(dir: string, acked: unknown[]): { producers: number; runsWithEveryProducer: number } {
  const m = openMapping(mp.file(dir));
  try {
    // Throws on a value from stale bytes, a repeat, or one out of its producer's order.
    const counts = mp.byTag(SharedAppendList.open(m, mp.LIST_AT).toArray());
    for (const a of acked) {
      const [tag, i] = a as [string, number];
      if ((counts.get(tag) ?? 0) <= i) throw new Error(`acknowledged append ${tag}#${i} lost`);
    }
    const runs = new Map<string, number>();
    for (const tag of counts.keys()) {
      const run = tag.split('.')[0];
      runs.set(run, (runs.get(run) ?? 0) + 1);
    }
    return { producers: counts.size, runsWithEveryProducer: [...runs.values()].filter((n) => n === mp.SIBLINGS).length };
  } finally {
    m.close();
  }
}

afterAll(() => {
  for (const name of [`mp-kill-${process.pid}`, `mp-kill-plain-${process.pid}`]) {
    fs.rmSync(path.join(testDir(), name), { recursive: true, force: true });
  }
});

function prepare(dir: string): void {
  const m = openMapping(mp.file(dir), { create: true, size: mp.SIZE });
  SharedAppendList.format(m, mp.LIST_AT);
  m.close();
}

test('several writer processes killed mid-append lose no acknowledged append', async () => {
  let producersSeen = 0;
  let runsWithEveryProducer = 0;
  const report = await killTest({
    child: CHILD,
    kills: KILLS,
    // The kill comes 0..300 us after the run's Nth acknowledgement (from
    // any of its producers), N in 1..1500: inside the 3 x KILL_OPS appends.
    maxAcks: 1500,
    maxDelayUs: 300,
    dir: path.join(testDir(), `mp-kill-${process.pid}`), // removed in afterAll: a 24 MiB list
    prepare,
    verify(dir, acked) {
      ({ producers: producersSeen, runsWithEveryProducer } = verifyList(dir, acked));
    },
  });
  expect(report.violations).toEqual([]);
  expect(report.kills).toBe(KILLS);
  expectKillsLanded('44 shared append-list, 3 writer processes', report);
  // No producer acknowledges before all of its run's have a value in the
  // list, so a run killed during the work had all of them writing.
  console.log(`${producersSeen} producers over ${report.runs} runs; ${runsWithEveryProducer} runs with all ${mp.SIBLINGS} in the list`);
  expect(runsWithEveryProducer).toBeGreaterThanOrEqual(report.killsDuringWork);
}, 600_000);

test('broken: a link CAS that is a load and a store loses acknowledged appends', async () => {
  const report = await killTest({
    child: CHILD,
    kills: 3,
    maxAcks: 300,
    maxDelayUs: 300,
    dir: path.join(testDir(), `mp-kill-plain-${process.pid}`), // removed in afterAll
    env: { PMEM_MP_VARIANT: 'plain-cas' },
    prepare,
    verify: (dir, acked) => void verifyList(dir, acked),
  });
  console.log(`plain CAS: ${report.violations.length} violations in ${report.runs} runs:\n${report.violations.map((v) => v.message.slice(0, 200)).join('\n')}`);
  expect(report.violations.some((v) => v.message.includes('lost'))).toBe(true);
}, 600_000);
