// The space of the runs' merged bytes, given back as the merge goes: each
// run's bytes before its cursor punched out of its file once a checkpoint
// past them is durable (docs/durability.md, "Space given back behind the
// cursors").
import * as fs from 'node:fs';

import { punchHole } from '../core/space';
import type { SortState } from './checkpoint';
import type { Job } from './job';
import { runPath } from './merge-phase';

/** The granule of the run space given back where the filesystem does not say its block size. */
const DEFAULT_BLOCK = 4096;

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
  /**
   * The granule given back: the filesystem's block, the unit it frees
   * (a page on tmpfs). A larger one (the 64 KiB this once was) gave a run
   * of a few blocks, as a small budget forms, nothing back until its end.
   */
  #block = 0;

  constructor(job: Job) {
    this.#job = job;
  }

  giveBack(runs: SortState['runs']): void {
    for (const r of runs) {
      if (!this.#can) return;
      const block = this.#blockOf(r.id);
      const from = this.#done.get(r.id) ?? 0;
      // A run merged to its end is given back whole, its last partial
      // block too: nothing reads it again.
      const to = r.cursor >= r.length ? Math.ceil(r.length / block) * block : r.cursor - (r.cursor % block);
      if (to <= from) continue;
      this.#can = punchHole(runPath(this.#job, r.id), from, to - from);
      this.#done.set(r.id, to);
    }
  }

  #blockOf(id: number): number {
    if (this.#block === 0) {
      try {
        const bsize = fs.statfsSync(runPath(this.#job, id)).bsize;
        this.#block = Number.isSafeInteger(bsize) && bsize > 0 ? bsize : DEFAULT_BLOCK;
      } catch {
        this.#block = DEFAULT_BLOCK;
      }
    }
    return this.#block;
  }
}
