// What ReplicatedWal.stats reports: round trips and their records, and
// each replica's connection and acknowledged LSNs.

export interface ReplicaLinkStats {
  address: string;
  /** Whether the handshake is done on a live connection. */
  connected: boolean;
  persistedLsn: number;
  receivedLsn: number;
  connects: number;
  resets: number;
  /** Why its last connection ended or could not be made; null while none has. */
  lastError: string | null;
}

export interface ReplicatedWalStats {
  /** Round trips: record batches sent to the replicas (each a durable intent, then one DATA frame per replica, or more over 64 MiB). */
  roundTrips: number;
  /** Records those round trips carried. */
  records: number;
  recordsPerRoundTrip: number;
  /** Records resent to a replica after a (re)connect. */
  resent: number;
  replicas: ReplicaLinkStats[];
}
