// A backup on a TCP server: startReplica. Each connection's frames go to
// the backup's journal (backup-log.ts) one at a time; a frame it cannot
// take is answered with a REFUSE naming the error code, and the connection
// is closed (the primary connects again and catches up from what this
// backup holds).
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';

import { closedError, isPmemError, PmemError } from '../core/errors';
import type { WalRecord } from '../log/wal';
import { BackupLog, refusalText } from './backup-log';
import { BACKUP_ID_BYTES, decodeHello, encodeAck, encodeRefuse, encodeWelcome, FRAME_DATA, FRAME_HELLO, FrameReader, MAX_HELLO, protocolError, readData } from './frames';
import { type JournalFile, openJournalFile } from './journal';
import { checkReplicaOptions, type ReplicaOptions } from './options';

export interface ReplicaServerStats {
  /** Connections accepted, and those closed after a refusal. */
  connections: number;
  refusals: number;
  /** Connections closed because they had not completed a HELLO: in helloTimeoutMs, or before MAX_PENDING newer ones. */
  dropped: number;
  /** The last refusal's code and message. */
  lastRefusal?: { code: string; message: string };
  /** Records persisted and DATA frames taken. */
  records: number;
  frames: number;
  /**
   * Times reading from the primary stopped because it had not read the
   * acknowledgements sent to it (a socket's high-water mark of them);
   * reading goes on once they drain.
   */
  pauses: number;
}

/**
 * Connections that have not completed a HELLO, at most: a new one past it
 * closes the oldest. Each holds at most a HELLO's bytes (MAX_HELLO), so
 * with the one connection that completed the newest HELLO (a frame of
 * MAX_FRAME at most) they bound what a backup buffers, and they cannot use
 * up its descriptors and keep the primary out.
 */
export const MAX_PENDING = 64;

/**
 * What a store following a backup's journal (startStoreReplica) asks of it,
 * beside the options: `beforeFree(upto)` is called before the backup frees
 * records, and returns the last LSN it may free (the store applies them
 * first). Not part of the options a user gives.
 */
export interface ReplicaInternals {
  beforeFree?: (upto: number) => number;
}

export interface ReplicaHandle {
  /** The port it listens on (the one chosen, with port 0). */
  readonly port: number;
  /** The LSN of the last record it holds durably. */
  readonly lastDurableLsn: number;
  /**
   * The LSN of the last record it knows to be committed (a primary's
   * announced commit point, or its own from when it was a primary); records
   * after it may still be cut by a new primary's handshake.
   */
  readonly committedLsn: number;
  /** The newest epoch it has seen. */
  readonly epoch: number;
  readonly stats: ReplicaServerStats;
  /**
   * Raises this backup's epoch durably and makes its file a primary's:
   * from then on it refuses the old primary (whose appends can no longer
   * commit). Close it, then open the file with ReplicatedWal.open.
   * @returns the new epoch
   */
  promote(): number;
  /** Records from `fromLsn` on. */
  read(fromLsn?: number): IterableIterator<WalRecord>;
  /** Stops listening, closes the connections and the file. */
  close(): Promise<void>;
}

/**
 * Starts a backup: opens (with `create`, makes) its journal file and
 * listens on `host:port`. A primary's records are appended with the same
 * LSNs, fenced, and only then acknowledged 'persisted'.
 * @throws (rejects) TypeError, RangeError (options); PmemError ERR_PMEM_LOCKED
 *   and what opening a journal file throws; ERR_PMEM_IO when it cannot
 *   listen (its message names the system's error: EADDRINUSE, ENOTFOUND, ...),
 *   after removing the file if this call created it
 */
export async function startReplica(options: ReplicaOptions, internal?: ReplicaInternals): Promise<ReplicaHandle> {
  const o = checkReplicaOptions(options);
  const file = openJournalFile(o.file, { create: o.create, size: o.size, role: 'backup' });
  try {
    return await listen(file, o.host, o.port, o.helloTimeoutMs, o.log, internal?.beforeFree ?? null);
  } catch (e) {
    // A file this call created holds nothing but its format: it goes, so
    // a replica that cannot listen leaves no new file behind.
    file.abandon();
    throw e;
  }
}

/** A connection's peer as 'host:port' (an IPv6 host in brackets), read once when it is accepted. */
function peerName(s: net.Socket): string {
  const a = s.remoteAddress;
  if (a === undefined) return 'an address already gone';
  return `${net.isIPv6(a) ? `[${a}]` : a}:${s.remotePort}`;
}

async function listen(
  file: JournalFile, host: string, port: number, helloTimeoutMs: number, log: (line: string) => void, beforeFree: ((upto: number) => number) | null,
): Promise<ReplicaHandle> {
  const backup = new BackupLog(file);
  backup.beforeFree = beforeFree;
  const sockets = new Set<net.Socket>();
  // Refused connections whose REFUSE is still leaving: a peer that reads
  // nothing keeps one open, and close() ends them too.
  const refused = new Set<net.Socket>();
  // The connections of `sockets` that have not completed a HELLO, oldest
  // first, with their peer's name.
  const pending = new Map<net.Socket, string>();
  const stats: ReplicaServerStats = { connections: 0, refusals: 0, dropped: 0, records: 0, frames: 0, pauses: 0 };
  // This server's identity, sent in every WELCOME: a primary that gets the
  // same one on two of its connections has named this backup twice.
  const backupId = randomBytes(BACKUP_ID_BYTES);
  let closed = false;
  // Closed without a REFUSE: a primary whose HELLO was slow connects again,
  // where a REFUSE before its handshake would stop its journal.
  const drop = (c: net.Socket, why: string): void => {
    const who = pending.get(c);
    if (who === undefined) return;
    pending.delete(c);
    stats.dropped++;
    sockets.delete(c);
    c.destroy();
    log(`connection from ${who} closed: ${why}`);
  };
  const server = net.createServer((s) => {
    if (closed) {
      s.destroy();
      return;
    }
    stats.connections++;
    const who = peerName(s);
    if (pending.size >= MAX_PENDING) drop(pending.keys().next().value as net.Socket, `the oldest of ${MAX_PENDING} connections without a HELLO`);
    sockets.add(s);
    pending.set(s, who);
    s.setNoDelay(true);
    const timer = setTimeout(() => {
      drop(s, `no HELLO within ${helloTimeoutMs} ms`);
      s.destroy(); // one refused before its HELLO, and still sending its REFUSE, goes too
    }, helloTimeoutMs);
    timer.unref();
    // The first frame must be a HELLO: until it is taken, a connection holds at most MAX_HELLO bytes.
    const reader = new FrameReader(MAX_HELLO);
    let hello = false;
    const refuse = (e: unknown): void => {
      const code = isPmemError(e) ? e.code : 'ERR_PMEM_REPLICA_PROTOCOL';
      const message = e instanceof Error ? e.message : String(e);
      stats.refusals++;
      stats.lastRefusal = { code, message };
      // The peer may be anyone who reaches the port: until it has shown the
      // journal's id and tags, it is told less than the log line below.
      s.end(encodeRefuse(code, refusalText(e)));
      s.destroySoon();
      sockets.delete(s);
      refused.add(s);
      s.once('close', () => refused.delete(s));
      pending.delete(s);
      log(`connection from ${who} refused: ${code}: ${message}`);
    };
    s.on('data', (chunk: Buffer) => {
      if (!sockets.has(s)) return;
      // The replies to a chunk's frames leave in one write, when it has been
      // taken, not in a system call each (end() in refuse uncorks too).
      s.cork();
      try {
        // The file whole and still at its path before anything of the chunk is written to it.
        file.check();
        for (const f of reader.push(chunk)) {
          if (f.type === FRAME_HELLO) {
            const w = backup.hello(decodeHello(f.body));
            hello = true;
            clearTimeout(timer);
            // The newest primary connection wins: an older one of the same
            // primary is stale, and another primary's was fenced above. The
            // connections still without a HELLO go too.
            let others = 0;
            for (const other of sockets) {
              if (other === s) continue;
              other.destroy();
              others++;
            }
            sockets.clear();
            sockets.add(s);
            pending.clear();
            s.write(encodeWelcome(w.epoch, w.lastLsn, backupId));
            log(`primary from ${who}: journal ${backup.journal.state.journalId}, epoch ${w.epoch}; this backup holds up to LSN ${w.lastLsn}`
              + (others > 0 ? `; ${others} other connection${others === 1 ? '' : 's'} closed` : ''));
          } else if (f.type === FRAME_DATA) {
            if (!hello) throw protocolError('records before a handshake');
            const d = readData(f.body);
            stats.frames++;
            const before = backup.lastLsn;
            backup.accept(d, (level, lsn, beforeWrite) => {
              // One made before the frame's records are written ('received')
              // leaves at once, with what was queued before it: the primary
              // that asked for it waits for no persist of this backup's.
              if (beforeWrite) s.uncork();
              s.write(encodeAck(level, backup.epoch, lsn));
              if (beforeWrite) s.cork();
            });
            stats.records += backup.lastLsn - before;
          } else {
            throw protocolError(`a primary sent a frame of type ${f.type}`);
          }
        }
      } catch (e) {
        refuse(e);
        return;
      } finally {
        s.uncork();
      }
      // Every DATA frame is acknowledged, an empty one too: a primary that
      // reads no acknowledgements would have this backup queue them without
      // end (many times the bytes it sends, in memory). Once the
      // queue passes the socket's high-water mark, reading stops until it
      // drains; a primary that reads its acknowledgements is held only as
      // long as they take to leave.
      if (s.writableNeedDrain && !s.isPaused()) {
        stats.pauses++;
        s.pause();
        s.once('drain', () => s.resume());
      }
    });
    let error: string | undefined;
    s.on('error', (e) => { error = e.message; /* 'close' follows */ });
    s.on('close', () => {
      clearTimeout(timer);
      // Closed by its peer (or lost): one this backup closed itself has left `sockets` already, and said why.
      const ours = sockets.delete(s);
      pending.delete(s);
      if (!ours || closed) return;
      const part = reader.buffered > 0 ? ` inside a frame (${reader.buffered} bytes of it received; nothing of it was written)` : '';
      if (hello || part !== '') log(`${hello ? 'primary' : 'connection'} from ${who} closed the connection${part}${error === undefined ? '' : `: ${error}`}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException): void => {
      reject(new PmemError('ERR_PMEM_IO', `the replica of '${file.path}' cannot listen on ${host}:${port}: ${e.message}`, {
        errno: typeof e.errno === 'number' ? e.errno : undefined, syscall: e.syscall ?? 'listen', path: file.path,
      }));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      // A former primary's file serves as a backup from here on; what it
      // holds past the new primary's history is refused at the handshake.
      // Written only once listening, so that a replica that cannot listen
      // leaves the file as it was; 'listening' comes before any connection.
      try {
        if (file.state.role === 'primary') file.state.setRole('backup');
      } catch (e) {
        server.close();
        reject(e);
        return;
      }
      resolve();
    });
  });
  const live = (): void => {
    if (closed) throw closedError('replica', file.path);
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    get lastDurableLsn() {
      live();
      return backup.lastLsn;
    },
    get committedLsn() {
      live();
      return backup.committedLsn;
    },
    get epoch() {
      live();
      return backup.epoch;
    },
    get stats() {
      return { ...stats };
    },
    promote() {
      live();
      const epoch = backup.promote();
      // The old primary's connections go: it connects again and is refused.
      for (const s of sockets) s.destroy();
      sockets.clear();
      pending.clear();
      return epoch;
    },
    read(fromLsn?: number) {
      live();
      return file.wal.read(fromLsn);
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const s of sockets) s.destroy();
      for (const s of refused) s.destroy();
      sockets.clear();
      refused.clear();
      pending.clear();
      return new Promise<void>((resolve) => {
        server.close(() => {
          file.close();
          resolve();
        });
      });
    },
  };
}

/**
 * Promotes the backup whose journal file is `file`, offline (no replica
 * running on it): raises its epoch durably and makes it a primary's.
 * @returns the new epoch
 * @throws PmemError ERR_PMEM_LOCKED (a replica or primary has it open),
 *   ERR_PMEM_REPLICA_ROLE (it is a primary already), and what opening a journal file throws
 */
export function promoteReplicaFile(file: string): number {
  const j = openJournalFile(file, { create: false, role: 'backup' });
  try {
    refusePrimary(j.state, file);
    return new BackupLog(j).promote();
  } finally {
    j.close();
  }
}

/**
 * Refuses a journal that is a primary's already, changing nothing: a
 * promotion by way of a running backup (startStoreReplica's promote) would
 * otherwise make it a backup's first and promote it again.
 * @throws PmemError ERR_PMEM_REPLICA_ROLE; what opening the journal throws
 */
export function refusePromoted(file: string): void {
  const j = openJournalFile(file, { create: false, role: 'backup' });
  try {
    refusePrimary(j.state, file);
  } finally {
    j.close();
  }
}

function refusePrimary(state: { role: string; epoch: number }, file: string): void {
  if (state.role === 'primary') {
    throw new PmemError('ERR_PMEM_REPLICA_ROLE', `'${file}' is a primary's journal already (epoch ${state.epoch})`, { path: file });
  }
}
