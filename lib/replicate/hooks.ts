// Deliberately broken variants of the backup, for the crash tests and the
// fault harness to prove they catch them. Not API: index.ts does not
// export this file (pmem/testing re-exports nothing of it either); tests
// import it by path. Production code reads three booleans here.

/** @internal */
export interface ReplicateHooks {
  /** Broken variant: the backup acks 'persisted' before its records are fenced. */
  ackOnReceipt: boolean;
  /** Broken variant: the backup accepts records and primaries of a lower epoch than it has seen. */
  noEpochCheck: boolean;
  /** Broken variant: a backup adopts a newer epoch before it drops the old epoch's divergent tail. */
  adoptBeforeCut: boolean;
}

/** @internal */
export const replicateHooks: ReplicateHooks = { ackOnReceipt: false, noEpochCheck: false, adoptBeforeCut: false };
