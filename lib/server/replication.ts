// pmem serve with `replicas`: the group commit goes through a replicated
// journal. Each turn's pending writes become one round of the store's
// journal (lib/replicated: sent to every backup, persisted there, then
// applied to the store), and the turn's replies wait in an outbox until
// that round, and every round before it, is acknowledged. Replies leave in
// the order their turns ran, so a read's reply never overtakes an earlier
// write's. A round that fails (a backup timed out) is not acknowledged:
// its clients, and those whose replies wait behind it, are disconnected,
// and its writes stay in the journal, to be committed when the journal is
// reopened by the next round (they stay readable here until then).
import { isPmemError } from '../core/errors';
import type { StoreJournal } from '../replicated/committer';
import type { Client } from './client';
import type { Keyspace } from './keyspace';

type Parts = Buffer[];

interface Entry {
  sends: Array<[Client, Parts]>;
  /** null until the rounds it waits for settled. */
  ok: boolean | null;
}

export interface ReplicationSink {
  send(c: Client, parts: Parts): void;
  kill(c: Client): void;
  log(line: string): void;
}

export class ReplicatedCommit {
  /** The outcome of the newest round: true once the store applied it. */
  #last: Promise<boolean> = Promise.resolve(true);
  #outbox: Entry[] = [];
  readonly stats = { rounds: 0, failedRounds: 0 };
  #fenced: string | null = null;

  constructor(readonly journal: StoreJournal, readonly keyspace: Keyspace, readonly sink: ReplicationSink) {}

  /**
   * Why this server is no longer the primary, once a backup refused it as
   * promoted (ERR_PMEM_REPLICA_FENCED): a round that met the refusal, or
   * the journal stopped by it at a backup's handshake, before any write;
   * null until then. For the rest of the process: the promoted backup
   * takes the writes from its promotion on, so the data here is stale, and
   * it holds the writes of failed rounds, which will never be committed.
   * The dispatcher refuses every command that reads or writes it.
   */
  get fenced(): string | null {
    if (this.#fenced === null) {
      const f = this.journal.failure;
      if (f !== null && f.code === 'ERR_PMEM_REPLICA_FENCED') this.#fenced = f.message;
    }
    return this.#fenced;
  }

  /**
   * Sends the pending writes as one round, if there are any.
   * @throws RangeError, with nothing taken or sent, when they are more than
   *   one journal record holds: the caller drops them (Keyspace.rollback),
   *   as a failed commit of an unreplicated server's
   */
  commit(): void {
    if (!this.keyspace.hasPending) return;
    const bytes = this.keyspace.pendingRecordBytes;
    if (bytes > this.journal.maxRecordSize) {
      throw new RangeError(`the turn's writes are ${bytes} bytes as one journal record, over the journal's largest record (${this.journal.maxRecordSize} bytes: half its size, at most 64 MiB less 44)`);
    }
    const { id, ops } = this.keyspace.takePending();
    this.stats.rounds++;
    const round: Promise<boolean> = this.journal.commit(ops).then(
      () => {
        this.keyspace.appliedThrough(id);
        return true;
      },
      (e: Error) => {
        this.stats.failedRounds++;
        if (isPmemError(e, 'ERR_PMEM_REPLICA_FENCED')) this.#fenced ??= e.message;
        this.sink.log(`replication failed, the round's clients are disconnected unacknowledged: ${e.message}`);
        // The turns queued behind it get false when this returns; a turn
        // that comes later, with no round of its own (reads only), waits
        // for none: it is answered, as with no round in flight.
        if (this.#last === round) this.#last = Promise.resolve(true);
        return false;
      },
    );
    this.#last = round;
  }

  /** Queues a turn's replies behind the rounds sent so far. */
  deliver(sends: Array<[Client, Parts]>): void {
    const entry: Entry = { sends, ok: null };
    this.#outbox.push(entry);
    void this.#last.then((ok) => {
      entry.ok = ok;
      this.#drain();
    });
  }

  #drain(): void {
    while (this.#outbox.length > 0 && this.#outbox[0].ok !== null) {
      const e = this.#outbox.shift()!;
      for (const [c, parts] of e.sends) {
        if (e.ok) this.sink.send(c, parts);
        else this.sink.kill(c);
      }
    }
  }

  /** Waits for the rounds sent so far, then closes the journal. */
  async close(): Promise<void> {
    await this.#last;
    await this.journal.close();
  }
}
