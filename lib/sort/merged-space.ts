// The space of the runs' merged bytes, given back as the merge goes: each
// run's bytes before its cursor punched out of its file once a checkpoint
// past them is durable (docs/durability.md, "Space given back behind the
// cursors").
import { punchHole } from '../core/space';
import type { SortState } from './checkpoint';
import type { Job } from './job';
import { runPath } from './merge-phase';

/** The granule of the run space given back: whole pages on any page size up to 64 KiB. */
const GIVE_BACK = 64 * 1024;

/**
 * The space of the runs' merged bytes, given back as the merge goes: after
 * each durable checkpoint, each run's bytes before its cursor are punched
 * out of its file (whole granules only), so that a sort needs temporary
 * space for what is left to merge and not for every run until the end,
 * and the output's new pages can be the ones just freed.
 */
export class MergedSpace {
  readonly #job: Job;
  /** Per run id, the bytes given back from its start. */
  readonly #done = new Map<number, number>();
  /** False once the filesystem said it cannot punch holes. */
  #can = true;

  constructor(job: Job) {
    this.#job = job;
  }

  giveBack(runs: SortState['runs']): void {
    for (const r of runs) {
      if (!this.#can) return;
      const from = this.#done.get(r.id) ?? 0;
      const to = r.cursor - (r.cursor % GIVE_BACK);
      if (to <= from) continue;
      this.#can = punchHole(runPath(this.#job, r.id), from, to - from);
      this.#done.set(r.id, to);
    }
  }
}
