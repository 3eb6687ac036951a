// A read-only KVStore beside a live writer (in another process, a worker,
// or the same thread): it keeps its own index and follows the writer's log.
// The writer publishes its tail after each record's fence (published.ts);
// a reader loads it at the start of every call and, when it moved, replays
// the new records into its index. The protocol, and why a reader never
// returns a torn, uncommitted or freed-and-reused value, is in
// docs/durability.md ("Readers beside the writer").
import * as fs from 'node:fs';

import { type Mapping, openMappingOf } from '../core/mapping';
import { hasHoles } from '../core/space';
import { isPmemError, PmemError } from '../core/errors';
import {
  DATA_START, DEFAULT_SEGMENT, ENTRY_HEADER_BYTES, ENTRY_PUT, MIN_SEGMENT, readSegmentHeader, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, SEQ_FLOOR_AT,
  segmentSeed, SUPERBLOCK_PAYLOAD_BYTES, validRecord,
} from './format';
import { writerHolds, writerMarked } from '../core/held-lock';
import { KvLog } from './log';
import { refuseTooSmall } from './log-open';
import { found, readValue } from './follow-reads';
import { PublishedWords, readWord, tailEnd, tailSeqLow } from './published';
import { dropPin, holdPin } from './pin';
import type { RecoverStop } from './recover';
import { inRange, type IndexRange } from './hash-index';
import type { KVReaderStats, KVStats } from './types';
import { Superblock } from '../log/superblock';

const TWO_32 = 0x100000000;
/** Bytes of the store's superblock, both replicas (at offset 0). */
const SUPERBLOCK_BYTES = Superblock.size(SUPERBLOCK_PAYLOAD_BYTES);

/**
 * Reads of the superblock in a row that may each have been torn by a
 * writer's rewrite of it (it changed while it was read) before a reader
 * gives up. A writer rewrites it at an open and when the file grows: a few
 * stores each time, rarely, so one retry almost always reads it whole.
 */
const SUPERBLOCK_READS = 8;

/**
 * Full scans of the log that compaction's frees started again, in one
 * rebuild, before the reader builds its index by following the log
 * instead (#rebuild).
 */
const FULL_SCANS = 1;

/**
 * Attempts of a read (or rounds of a range's copy of its keys) that frees
 * of the writer's cleaning sent round again before the reader takes its
 * pin (pin.ts) for the next: the writer's paced cleaning frees nothing
 * while it is held, so a reader slower than the writer's frees still gets
 * through. One attempt in vain is common beside a busy writer and costs
 * less than the pin's two system calls; two in a row is the start of a
 * reader falling behind.
 */
const PIN_AFTER = 2;

/**
 * Segments a catch-up may be behind the tail before it first drops what
 * its index holds in every segment freed or reused since (#follow): one
 * look at every segment's number, cheap next to the replay of that many.
 */
const FAR_BEHIND = 16;

/**
 * Full scans in a row, with no writer live when each began, that found a
 * segment header damaged under intact records, before a reader reports
 * it. A writer that opens during such a scan writes headers the scan may
 * read half-written, and records after them (one that comes and goes
 * within it leaves no other trace); damage is still there on the next scan.
 */
const DAMAGE_SCANS = 3;

/**
 * Looks in a row that find a writer's flock without its mark before a
 * reader takes the writer for one of an earlier version (#rebuild), and
 * the pause between two. A writer of this version drops its mark just
 * before its flock: the kernel removes a descriptor's open file
 * description locks, then its flock, when it closes it (a close, an exit,
 * a SIGKILL); and a writer may die between the reader's two questions.
 * An earlier writer's flock stays without a mark.
 */
const UNMARKED_LOOKS = 3;
const UNMARKED_PAUSE_MS = 1;
const pauseWord = new Int32Array(new SharedArrayBuffer(4));

/** A recovery stop before every segment: the log starts empty. */
const NOTHING: RecoverStop = { seq: 0, used: 0 };

/** The refusal of a read-only open beside a writer of an earlier version (#rebuild). */
function olderWriter(path: string): PmemError {
  return new PmemError('ERR_PMEM_LOCKED',
    `'${path}' is open for writing by an earlier version of pmem, whose writer publishes nothing a reader can follow; ` +
    'open it read-only once that writer has closed, or after it runs this version', { path });
}

/** A segment was reused while the reader replayed it: the index must be rebuilt. */
class Reused extends Error {}

/** How #follow got to the tail: reading every record, or past segments freed before the reader read them. */
const FOLLOWED = 0;
const SKIPPED = 1;

export class KvFollower {
  readonly #path: string;
  readonly #fd: number;
  #mapping: Mapping;
  /**
   * For a mapping made while the file had holes (private, its holes from
   * anonymous memory, #remap): the file's blocks then. -1 for a shared one.
   */
  #blocks = -1;
  #words: PublishedWords;
  #log!: KvLog;
  /** The last tail word followed, and its halves (PublishedWords.sameTail). */
  #w = 0n;
  #wSeqLow = 0;
  #wUsed = 0;
  /** The low half of the freed-segment count, loaded before `#w`. */
  #frees = 0;
  /** The head segment the reader has read up to, its sequence number, and the region offset reached in it. */
  #cur = -1;
  #curSeq = 0;
  #pos = 0;
  /** While set (by #rangeKeys), #replay adds the offset of each put it applies. */
  #applied: number[] | null = null;
  /** Whether the reader holds its pin (#pin): only inside one call of its, dropped before the call returns. */
  #pinned = false;
  readonly stats: KVReaderStats = { catchUps: 0, replayed: 0, retries: 0, resyncs: 0, followed: 0, dropped: 0, remaps: 0, pins: 0 };

  /**
   * Follows the store at `path`, open as `fd` (a plain descriptor: the
   * caller's, kept until close) and mapped read-only as `mapping` (the
   * reader's own from here on). It is mapped again through `fd`: a store
   * renamed or replaced at its path is followed where its writer writes.
   */
  constructor(path: string, fd: number, mapping: Mapping) {
    this.#path = path;
    this.#fd = fd;
    this.#mapping = mapping;
    // As KvLog checks a writer's region: the published words need the page below DATA_START.
    if (mapping.length < DATA_START + MIN_SEGMENT) refuseTooSmall(mapping, path);
    this.#words = new PublishedWords(mapping.bytes);
    // Counted after the file was mapped: blocks a writer reserved in
    // between may be counted already, but a writer reserves every hole,
    // and a file with none is mapped again all the same (#remap).
    if (!mapping.shared) this.#blocks = blocksOf(fd);
    this.#rebuild();
  }

  /** The reader's log: its index and segment table (replaced by a resync: read it per call). */
  get log(): KvLog {
    return this.#log;
  }

  close(): void {
    this.#mapping.close();
  }

  /**
   * Runs `read` on the log with `a` and `b`, caught up with everything the
   * writer had published when the call began, and runs it again if a
   * segment was freed meanwhile: its bytes may then be reused under the
   * read. `read` copies what it returns out of the mapping. A plain
   * function and its arguments, not a closure per call: a get allocates
   * nothing here (follow-reads.ts).
   */
  read<T, A = undefined, B = undefined>(read: (log: KvLog, a: A, b: B) => T, a?: A, b?: B): T {
    // Held by the caller already (#rangeKeys): kept for it.
    const held = this.#pinned;
    try {
      return this.#read(read, a as A, b as B);
    } finally {
      if (!held) this.#unpin();
    }
  }

  #read<T, A, B>(read: (log: KvLog, a: A, b: B) => T, a: A, b: B): T {
    this.catchUp();
    for (let tries = 1; ; tries++) {
      const frees = this.#frees;
      let out: T;
      found.offset = -1;
      try {
        out = read(this.#log, a, b);
      } catch (e) {
        // Lengths read from reused bytes can be anything.
        if (this.#words.frees() === frees) throw e;
        this.#again(tries);
        continue;
      }
      // No free since the count was loaded, before the tail this index
      // follows: every byte read belongs to a segment still in use, and
      // every segment freed before holds nothing the index points at.
      if (this.#words.frees() === frees) return out;
      // Segments were freed during the read. One that found its entry read
      // that entry's segment: still under the number the reader knows, it
      // was not freed (a free zeroes the number first, and numbers are
      // never handed out twice), and every byte read there is as written.
      // The frees elsewhere in the file do not touch it: a large value's
      // copy beside a busy writer is not done again for each of them.
      // (A different key of the same hash that the lookup compared with
      // lies in another segment; reused bytes there can only make it look
      // like this key, and then the entry found is that one, checked here.)
      if (found.offset >= 0 && this.#inUse(found.offset)) return out;
      this.#again(tries);
    }
  }

  /**
   * Before attempt `tries` + 1 of a read that frees sent round again:
   * the pin once PIN_AFTER attempts were in vain, then a catch-up from a
   * free count loaded afresh.
   */
  #again(tries: number): void {
    this.stats.retries++;
    if (tries >= PIN_AFTER) this.#pin();
    this.#refresh();
  }

  /**
   * Takes the reader's pin, unless held: from here until the call that took
   * it returns, the writer's paced cleaning frees no segment (compact.ts).
   * Taken before the free count is loaded again, so that a free the writer
   * began before it saw the pin is one this reader sees move the count:
   * one more attempt at most, and the next runs with no paced free. Where
   * the filesystem has no such locks, the reader goes on without it.
   */
  #pin(): void {
    if (this.#pinned || !holdPin(this.#fd)) return;
    this.#pinned = true;
    this.stats.pins++;
  }

  /** Drops the pin, when held. */
  #unpin(): void {
    if (!this.#pinned) return;
    this.#pinned = false;
    dropPin(this.#fd);
  }

  /** Whether the segment run holding region offset `off` still carries the number the reader's table knows. */
  #inUse(off: number): boolean {
    const t = this.#log.table;
    const s = t.head[t.segOf(off)];
    return s >= 0 && t.seq[s] !== 0 && readWord(this.#log.bytes, t.start(s) + 8) === t.seq[s];
  }

  /**
   * KVStore.range on a reader: the keys as of the start (copied out as
   * strings; see #rangeKeys), each value as of when it is yielded. `assertOpen` runs before
   * each step.
   */
  *range(range: IndexRange, limit: number, encoding: 'buffer' | 'utf8', assertOpen: () => void): IterableIterator<[Buffer, Buffer] | [string, string]> {
    const keys = this.#rangeKeys(range);
    let n = 0;
    for (const k of keys) {
      assertOpen();
      if (n >= limit) return;
      const v = this.read(readValue, k);
      if (v === undefined) continue;
      n++;
      if (encoding === 'utf8') yield [Buffer.from(k, 'latin1').toString('utf8'), v.toString('utf8')];
      else yield [Buffer.from(k, 'latin1'), v];
    }
  }

  /**
   * The keys of `range` in the reader's key order, for range(). Not run
   * again whole when a segment was freed meanwhile, as read() runs a read:
   * copying the keys of a large store takes long enough for a busy
   * writer's compaction to free a segment during every copy, and range()
   * would never begin. A free during the copy may have left keys out
   * (bytes reused under their comparison) and put strings of reused bytes
   * in, which range() never yields: it yields a key only with the value it
   * then reads. Every entry the reader's index held in a segment freed
   * after the tail it followed was copied, if still live, to the log's end
   * after that tail (docs/durability.md, "Skipped segments"): the reader
   * catches up, and the keys of the puts it applies (those copies, and
   * puts made meanwhile) join the list, round after round until one ran
   * with no free. Each round applies what the writer appended during the
   * one before.
   */
  #rangeKeys(range: IndexRange): string[] {
    try {
      return this.#rangeKeysOnce(range);
    } finally {
      this.#unpin();
    }
  }

  #rangeKeysOnce(range: IndexRange): string[] {
    for (let tries = 1; ; tries++) {
      this.catchUp();
      const resyncs = this.stats.resyncs;
      let frees = this.#frees;
      let keys: string[];
      try {
        keys = [...this.#log.index.rangeCandidates(range)];
      } catch {
        // Lengths read from reused bytes: copied again whole.
        this.#again(tries);
        continue;
      }
      const added: string[] = [];
      for (let round = 1; this.#words.frees() !== frees && this.stats.resyncs === resyncs; round++) {
        const applied: number[] = (this.#applied = []);
        try {
          this.#again(round);
        } finally {
          this.#applied = null;
        }
        const index = this.#log.index;
        for (const p of applied) {
          const k = index.keyAt(p);
          if (inRange(k, range)) added.push(k);
        }
        frees = this.#frees;
      }
      // A rebuild replaced the index the keys were copied from: copy them again.
      if (this.stats.resyncs !== resyncs) continue;
      if (added.length === 0) return keys;
      this.#log.index.addToOrder(added);
      // One-byte strings: code unit order is byte order, the index's.
      const all = [...new Set([...keys, ...added])].sort();
      return range.reverse ? all.reverse() : all;
    }
  }

  /** KVStore.stats on a reader. */
  storeStats(): KVStats {
    return this.read((log) => ({
      count: log.index.size, ...log.stats(), indexBytes: log.index.memoryBytes, recovery: log.recovery, reader: { ...this.stats },
    }));
  }

  /** Replays what the writer published since the last call: one load when nothing changed. */
  catchUp(): void {
    if (this.#words.sameTail(this.#wSeqLow, this.#wUsed)) return;
    const held = this.#pinned;
    try {
      this.#refresh();
    } finally {
      if (!held) this.#unpin();
    }
  }

  /**
   * Loads the free count, then the tail, and follows the log to it. Also
   * when the tail has not moved: compaction may free segments without
   * writing a record (every entry in them dead), and a read that saw the
   * count move starts again from a count loaded afresh.
   */
  #refresh(): void {
    // The free count before the tail: see read().
    const frees = this.#words.frees();
    const w = this.#words.tail();
    if (w === this.#w) {
      this.#frees = frees;
      return;
    }
    // The tail moved: a writer is (or was) open, and it reserved every hole
    // before its first record. Loaded before the file is looked at here, so
    // that this sees those blocks.
    this.#remap();
    try {
      this.#followTo(frees, w);
    } catch (e) {
      if (!(e instanceof Reused)) throw e;
      this.stats.resyncs++;
      this.#rebuild();
    }
  }

  /**
   * Follows the log to the tail word `w`, loaded after the free count
   * `frees`, and records both as followed.
   * Compaction may have freed the segment the reader was in before it
   * had read all of it. Every live entry of that segment, and of every
   * other segment freed with it, was copied to the log's end before the
   * free (and a segment with tombstones goes only as the oldest with dead
   * entries, compact.ts victim()): follow on to a tail loaded
   * after the free was seen, which includes those copies. What the
   * skipped records deleted lives only in freed segments: those entries
   * go (#dropFreed). Entries of a segment freed after the count before
   * that tail was loaded go too, and their copies may lie past it: when
   * the count has moved since, follow and drop again. (A free is counted
   * before its segment's number changes, so a drop that saw a number
   * change and a count that did not move mean a free counted before the
   * tail was loaded, whose copies the tail includes.) Each round replays
   * only what the writer appended during the last one.
   * @throws Reused when a segment was reused while it was replayed
   */
  #followTo(frees: number, w: bigint): void {
    let again = this.#follow(w) === SKIPPED;
    while (again) {
      frees = this.#words.frees();
      w = this.#words.tail();
      if (this.#follow(w) === SKIPPED) continue;
      this.#dropFreed();
      again = this.#words.frees() !== frees;
    }
    this.#followed(w);
    this.#frees = frees;
  }

  /** Records `w` as the tail word followed. */
  #followed(w: bigint): void {
    this.#w = w;
    this.#wSeqLow = tailSeqLow(w);
    this.#wUsed = tailEnd(w);
  }

  /** Removes the index's entries in segments that no longer carry the sequence number the reader read them under. */
  #dropFreed(): void {
    const log = this.#log;
    const t = log.table;
    const b = log.bytes;
    const gone: number[] = [];
    for (let s = 0; s < t.count; s++) if (t.seq[s] !== 0 && readWord(b, t.start(s) + 8) !== t.seq[s]) gone.push(s);
    if (gone.length === 0) return;
    if (gone.length === 1) {
      this.#forget(gone[0]);
      return;
    }
    // One pass over the index for all of them: a pass per segment cost a
    // reader that fell behind a compaction of thousands of small segments
    // seconds here, long enough for the writer to reuse one under it.
    const dropped = new Uint8Array(t.count);
    for (const s of gone) dropped[s] = 1;
    this.stats.dropped += this.#dropRuns(dropped);
    for (const s of gone) t.release(s);
  }

  /**
   * Builds the index from the log: up to the published tail when a writer
   * is live (what lies past it is not yet durable, or not yet written),
   * else the whole log. Done again when a segment was freed during the
   * scan, or a writer arrived. Beside a live writer whose compaction frees
   * a segment during every scan (a large log, a busy writer: a scan takes
   * seconds, a free comes every few milliseconds), scans would start
   * again without end: after FULL_SCANS of them the index is built by
   * following the log from its oldest segment instead, as a catch-up
   * does, which checks each segment as it replays it and so is not
   * started again by frees elsewhere in the file.
   */
  #rebuild(): void {
    // A build by following replays the whole log: no round of #rangeKeys,
    // which starts again after a rebuild; its puts are not collected.
    this.#applied = null;
    let freed = 0;
    let damaged = 0;
    let unmarked = 0;
    for (let torn = 0; ; ) {
      const frees = this.#words.frees();
      const live = writerHolds(this.#path, this.#fd);
      // A writer of an earlier version holds the flock without the mark:
      // it publishes no tail and counts no frees, so a reader beside it
      // would read records as they are rewritten and never see the tail
      // move. It is refused, as that version refused a read-only open
      // beside its writer. A writer of this version that was closing or
      // dying at the look shows the same for a moment (UNMARKED_LOOKS):
      // refused at once, a reader's get threw ERR_PMEM_LOCKED beside a
      // writer that was killed (test/79).
      if (live && !writerMarked(this.#fd)) {
        if (++unmarked >= UNMARKED_LOOKS) throw olderWriter(this.#path);
        Atomics.wait(pauseWord, 0, 0, UNMARKED_PAUSE_MS);
        continue;
      }
      unmarked = 0;
      const w = this.#words.tail();
      // After the tail is loaded: the mapping then holds every record up
      // to it, also in a segment that was a hole (see #refresh).
      this.#remap();
      const stop = live && w !== 0n ? this.#stopAt(w) : undefined;
      const following = stop !== undefined && freed >= FULL_SCANS;
      const mapping = this.#mapping;
      // The superblock as it is before the log reads it: a writer rewrites
      // it when it grows the file (or records its length at open).
      const sb = Buffer.from(mapping.bytes.subarray(0, SUPERBLOCK_BYTES));
      let log: KvLog;
      try {
        log = new KvLog(mapping, {
          // Following, the log starts empty: a stop before every segment.
          create: false, readOnly: true, segmentSize: DEFAULT_SEGMENT, path: this.#path, stop: following ? NOTHING : stop,
          // Mapped before a writer grew the file and recorded its new length,
          // the mapping is shorter than the store: the file is not. Read
          // after the superblock, whose length the file had reached first.
          fileLength: () => mapping.fileSize(),
        }, mapping.length, null);
      } catch (e) {
        // A scan that read a reused segment may find anything.
        if (this.#words.frees() !== frees) {
          freed++;
          continue;
        }
        // The writer rewrote the superblock while it was read: the replicas
        // read at two moments may fail to agree (neither flag set, say).
        // Each write is durable in a few stores: read it again, a bounded
        // number of times. A superblock that changes under every read is
        // not one a writer's rare rewrites leave: give up rather than spin.
        if (!sb.equals(mapping.bytes.subarray(0, SUPERBLOCK_BYTES))) {
          if (++torn < SUPERBLOCK_READS) continue;
          throw new PmemError('ERR_PMEM_CORRUPT',
            `the store's superblock changed while it was read, ${torn} times in a row; the last read found: ${(e as Error).message}`,
            { path: this.#path });
        }
        // A scan without a stop, as a writer's open scans, refuses a damaged
        // header under intact records: a writer that came during it may
        // have been writing that header (see DAMAGE_SCANS). Scanned again,
        // bounded by its tail if it is still there.
        if (stop === undefined && isPmemError(e, 'ERR_PMEM_CORRUPT') && ++damaged < DAMAGE_SCANS) continue;
        throw e;
      }
      if (following) {
        // An empty index that follows the log from before its oldest
        // segment up to the tail (#followTo): segments freed meanwhile are
        // skipped and dropped as in a catch-up; one reused while it was
        // replayed starts it again.
        this.#log = log;
        this.#cur = -1;
        this.#curSeq = this.#oldestSeq(stop.seq) - 1;
        this.#pos = 0;
        try {
          this.#followTo(frees, w);
        } catch (e) {
          if (!(e instanceof Reused)) throw e;
          this.stats.resyncs++;
          continue;
        }
        this.stats.followed++;
        return;
      }
      if (this.#words.frees() !== frees) {
        freed++;
        continue;
      }
      // A writer that came during an unbounded scan may have had a record
      // sealed but not yet fenced: scan again, bounded by its tail.
      if (!live && writerHolds(this.#path, this.#fd)) continue;
      this.#log = log;
      const t = log.table;
      let newest = -1;
      for (let s = 0; s < t.count; s++) if (t.seq[s] !== 0 && (newest < 0 || t.seq[s] > t.seq[newest])) newest = s;
      this.#cur = newest;
      this.#curSeq = newest >= 0 ? t.seq[newest] : Math.max(readWord(this.#mapping.bytes, SEQ_FLOOR_AT), stop?.seq ?? 0);
      this.#pos = newest >= 0 ? t.start(newest) + t.used[newest] : 0;
      this.#followed(w);
      this.#frees = frees;
      return;
    }
  }

  /**
   * The lowest sequence number a valid segment header carries, up to
   * `upTo`; `upTo + 1` when none does (every segment up to the tail's was
   * freed: the log holds nothing).
   */
  #oldestSeq(upTo: number): number {
    const t = this.#log.table;
    const b = this.#log.bytes;
    let low = upTo + 1;
    for (let i = 0; i < t.count; i++) {
      const n = readWord(b, t.start(i) + 8);
      if (n === 0 || n >= low) continue;
      const h = readSegmentHeader(b, t.start(i), t.salt);
      if (h !== undefined && h.seq === n && h.span <= t.count - i) low = n;
    }
    return low;
  }

  /** The full sequence number and end a tail word names (the word holds the number mod 2^32). */
  #stopAt(w: bigint): RecoverStop {
    const seqLow = tailSeqLow(w);
    const used = tailEnd(w);
    const floor = readWord(this.#mapping.bytes, SEQ_FLOOR_AT);
    return { seq: floor - (((floor - seqLow) % TWO_32) + TWO_32) % TWO_32, used };
  }

  /**
   * How many segment numbers the tail word `w` is past the reader's
   * segment: negative for a tail behind it. The word holds the number mod
   * 2^32; the floor, the highest number a segment was opened with (stored
   * before any tail in that segment, and loaded after `w`), gives the rest,
   * however far behind the reader fell. Without a floor (a store of an
   * earlier version), a tail 2^31 or more ahead is taken as one behind.
   */
  #ahead(w: bigint): number {
    if (readWord(this.#mapping.bytes, SEQ_FLOOR_AT) > 0) return this.#stopAt(w).seq - this.#curSeq;
    const ahead = (((tailSeqLow(w) - this.#curSeq) % TWO_32) + TWO_32) % TWO_32;
    return ahead >= TWO_32 / 2 ? -1 : ahead;
  }

  /**
   * Replays the log from the reader's position to the tail word `w`:
   * segments in sequence order, each one's records until the first invalid
   * one, and in the tail's segment exactly up to the tail.
   * @returns SKIPPED when a segment was freed (or reused) before the
   *   reader had read all of it, else FOLLOWED
   */
  #follow(w: bigint): number {
    const used = tailEnd(w);
    const ahead = this.#ahead(w);
    // A tail in a segment older than the reader's: a writer that recovered
    // no further than the reader had read, or one of a version that
    // published no floor. Nothing new to follow.
    if (ahead < 0) return FOLLOWED;
    const target = this.#curSeq + ahead;
    this.stats.catchUps++;
    // Far behind, most segments the reader knew may have been freed or
    // reused since: drop what it holds in all of them in one pass over the
    // index, rather than one pass for each as the replay reaches it
    // (#findNext). Those entries point at bytes that are no longer theirs
    // either way; what was live in them the replay brings back from its
    // copies.
    if (ahead > FAR_BEHIND) this.#dropFreed();
    let skipped = false;
    for (;;) {
      const t = this.#log.table;
      // The reader dropped its own segment as freed (#dropFreed, after it
      // had read to the tail there; the writer may have appended more
      // before the free): the rest of it is skipped like any freed
      // segment's. Records applied from it now would stay in the index
      // for good, since nothing drops entries of a segment the table no
      // longer holds, among them a put whose delete lies in a segment the
      // reader skips.
      if (this.#cur >= 0 && t.seq[this.#cur] !== this.#curSeq) {
        this.#cur = -1;
        skipped = true;
      }
      // The tail's segment was freed (below): nothing more to read there.
      if (this.#cur < 0 && this.#curSeq === target) return skipped ? SKIPPED : FOLLOWED;
      if (this.#cur >= 0 && this.#curSeq === target) {
        const end = t.start(this.#cur) + used;
        // A tail behind the reader: published again by a writer that
        // recovered no further (the reader may have read the whole log).
        if (end <= this.#pos) return skipped ? SKIPPED : FOLLOWED;
        if (end > this.#mapping.length) this.#remap();
        if (this.#replay(end, true)) return skipped ? SKIPPED : FOLLOWED;
        // Freed under the reader: a skip, like any other (see catchUp).
        this.#cur = -1;
        return SKIPPED;
      }
      // A segment the writer left is complete; freed before the reader
      // finished it, its records may be gone (see catchUp).
      if (this.#cur >= 0 && !this.#replay(t.start(this.#cur) + t.span[this.#cur] * t.size, false)) skipped = true;
      // Sequence numbers are handed out one by one: a missing one is a
      // segment compaction freed before the reader read any of it (or one
      // a crash left with nothing committed), handled as a skip.
      const next = this.#findNext(this.#curSeq, target);
      if (next < 0) {
        // Every segment up to the tail's was freed before the reader got
        // there: a skip to the tail.
        this.#cur = -1;
        this.#curSeq = target;
        return SKIPPED;
      }
      const seq = this.#log.table.seq[next];
      if (seq !== this.#curSeq + 1) skipped = true;
      this.#cur = next;
      this.#curSeq = seq;
      this.#pos = t.start(next) + SEGMENT_HEADER_BYTES;
    }
  }

  /**
   * Applies the records of the current segment from the reader's position
   * up to `end` (`exact`: they must reach it; else up to the first invalid
   * one), then checks that the segment still carries its sequence number:
   * a reused segment gets a new one (one 8-byte store) before anything
   * else in it changes, and a freed one gets zero.
   */
  #replay(end: number, exact: boolean): boolean {
    const log = this.#log;
    const t = log.table;
    const s = this.#cur;
    const b = log.bytes;
    const seed = t.seed[s];
    const frees = this.#words.frees();
    // The header as the replay starts. A free stores only the zero number;
    // a reuse rewrites the header (zeroed, then a new number, span and
    // checksum) before any record: a header whose checksum and span are
    // as they were has not been rewritten, nor any record after it.
    const head = t.start(s);
    const seqBefore = readWord(b, head + 8);
    const sumBefore = b.readUInt32LE(head + 4);
    const spanBefore = b.readUInt32LE(head + 16);
    let at = this.#pos;
    let threw = false;
    try {
      while (at < end) {
        const size = validRecord(b, at, end, seed);
        if (size === 0) break;
        const count = b.readUInt32LE(at + 8);
        let p = at + RECORD_HEADER_BYTES;
        for (let i = 0; i < count; i++) {
          const esize = ENTRY_HEADER_BYTES + b.readUInt16LE(p + 2) + b.readUInt32LE(p + 4);
          const type = b[p];
          t.applyEntry(log.index, b, s, p, null, type, esize);
          if (type === ENTRY_PUT && this.#applied !== null) this.#applied.push(p);
          p += esize;
        }
        this.stats.replayed++;
        at += size;
      }
    } catch {
      threw = true; // lengths read from reused bytes
    }
    this.#pos = at;
    if (at > t.start(s) + t.used[s]) t.used[s] = at - t.start(s);
    const seq = readWord(b, head + 8);
    if (seq === this.#curSeq && !threw) return !exact || at === end;
    // Freed and not reused: every record applied was whole, and the reader
    // skips the rest. Either freed before these reads and no free during
    // them (a reuse gives the segment a new number first, and only a free
    // takes it back to zero), or freed during them: the header carried the
    // reader's number when they began, and after the zero number was seen
    // its checksum and span are still that header's. A reuse, even one
    // freed again since, would have rewritten them first: its checksum
    // covers the new number, and differs from the old one's when the span
    // is the same and both numbers are below 2^32 (they then differ in at
    // most 32 bits, which CRC-32C always detects). A segment freed while it was
    // replayed is a compaction catching up with a reader behind it, and
    // common beside a busy writer; taking it for a reuse cost a rebuild.
    if (seq === 0 && !threw) {
      if (this.#words.frees() === frees) return false;
      if (seqBefore === this.#curSeq && b.readUInt32LE(head + 4) === sumBefore && b.readUInt32LE(head + 16) === spanBefore) return false;
    }
    // Reused while the reader read it: what it applied may be anything.
    throw new Reused();
  }

  /**
   * The head segment with the lowest sequence number in (after, upTo],
   * entered into the table; -1 when there is none.
   */
  #findNext(after: number, upTo: number): number {
    // The writer may have grown the file: the segment may lie past this mapping.
    this.#remap();
    {
      const t = this.#log.table;
      const b = this.#log.bytes;
      let s = -1;
      let seq = Infinity;
      let span = 0;
      for (let i = 0; i < t.count; i++) {
        const n = readWord(b, t.start(i) + 8);
        if (n <= after || n > upTo || n >= seq) continue;
        const h = readSegmentHeader(b, t.start(i), t.salt);
        if (h === undefined || h.seq !== n || h.span > t.count - i) continue;
        s = i;
        seq = n;
        span = h.span;
      }
      if (s >= 0) {
        // Segments the reader knew under another number were freed and
        // reused: what the index holds in them goes (see catchUp).
        for (let j = s; j < s + span; j++) if (t.head[j] !== -1) this.#forget(t.head[j]);
        for (let j = s; j < s + span; j++) t.head[j] = s;
        t.free -= span;
        t.seq[s] = seq;
        t.span[s] = span;
        t.used[s] = SEGMENT_HEADER_BYTES;
        t.liveBytes[s] = 0;
        t.deadEntries[s] = 0;
        t.tombstones[s] = 0;
        t.seed[s] = segmentSeed(seq, t.salt);
        return s;
      }
    }
    return -1;
  }

  /** Drops the index's entries in the run headed by `s` and marks it free in the reader's table. */
  #forget(s: number): void {
    const heads = new Uint8Array(this.#log.table.count);
    heads[s] = 1;
    this.stats.dropped += this.#dropRuns(heads);
    this.#log.table.release(s);
  }

  /** Removes the index's entries in the runs of the head segments marked 1 in `heads`, in one pass. @returns entries removed */
  #dropRuns(heads: Uint8Array): number {
    const t = this.#log.table;
    const marked = new Uint8Array(t.count);
    for (let j = 0; j < t.count; j++) {
      const h = t.head[j];
      if (h >= 0 && heads[h] === 1) marked[j] = 1;
    }
    return this.#log.index.dropInBlocks(marked, t.start(0), t.size);
  }

  /**
   * Maps the file again when the writer has grown it, or when this mapping
   * was made while the file had holes and a writer may have stored into
   * them since: the file has none now, or other blocks than then. Those
   * holes are mapped from anonymous memory, which never sees the file's
   * bytes. The new mapping is shared when the file has no holes; else it
   * maps them from anonymous memory again, so that reading one never
   * allocates (tmpfs allocates a page on a read fault of a hole, and
   * raises SIGBUS when it is full).
   * @returns whether it did
   */
  #remap(): boolean {
    let st = this.#mapping.shared ? undefined : statOf(this.#fd);
    const grown = this.#mapping.fileSize() > this.#mapping.length;
    const filled = st !== undefined && (!hasHoles(st) || st.blocks !== this.#blocks);
    if (!grown && !filled) return false;
    // Counted before the file is mapped: blocks reserved after this are
    // seen by the next call.
    st ??= statOf(this.#fd);
    const holes = st === undefined || hasHoles(st);
    const m = openMappingOf(this.#fd, this.#path, { readOnly: true, shared: !holes });
    this.#blocks = holes ? (st?.blocks ?? -1) : -1;
    const old = this.#mapping;
    this.#mapping = m;
    this.#words = new PublishedWords(m.bytes);
    this.#log?.adopt(m);
    old.close();
    this.stats.remaps++;
    return true;
  }
}

/** The file's stat, or undefined when it cannot be had (the mapping's open then says why). */
function statOf(fd: number): fs.Stats | undefined {
  try {
    return fs.fstatSync(fd);
  } catch {
    return undefined;
  }
}

/** The file's blocks, or -1 when they cannot be counted. */
function blocksOf(fd: number): number {
  return statOf(fd)?.blocks ?? -1;
}
