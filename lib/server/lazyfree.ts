// Lazy free: the element records of deleted collections are deleted in the
// background, FREE_STEP records per event-loop turn, each step in the next
// batch. A DEL of a big collection writes only its META's delete, and the
// server keeps answering while the elements go.
import type { RespServer } from './server';

export class LazyFree {
  #scheduled = false;

  constructor(readonly server: RespServer) {}

  /** Schedules a step in the next turn when there is garbage. */
  kick(): void {
    if (this.#scheduled || this.server.closed || this.server.keyspace.garbage.pending === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.step();
    });
  }

  /** One step: deletes go into the batch, committed at the end of this turn (which kicks the next step). @returns records deleted */
  step(): number {
    if (this.server.closed) return 0;
    const n = this.server.keyspace.freeStep();
    if (n > 0) this.server.scheduleFlush();
    return n;
  }
}
