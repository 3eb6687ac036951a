// What libpmemobj walks when it opens a pool, checked first, by reading the
// file and never writing it.
//
// PMDK 1.12.1 trusts the on-media lane logs and heap it walks at
// pmemobj_open (and pmemobj_check): a damaged one can make it loop forever
// (ulog_entry_size returns 0 for an unknown entry type, so ulog_base_nbytes
// never advances; a cycle of ulog `next` links never ends lane_init; a chunk
// header of size 0, or an object's header of size 0 in a run, stops the
// heap's walks: see media-heap.ts), die (a run's block size of 0 divides by
// zero), or read and write outside the mapping. `refuseDamagedPool` walks the
// same structures, in the same order and with the same stopping rules, with
// every step bounded; where libpmemobj would not terminate, die, or leave the
// pool, the file is refused with ERR_PMEM_CORRUPT. So is a root offset
// (outside the descriptor's checksum) that names no allocated object of the
// root's size, which libpmemobj would hand out as the root (checkRoot).
// Every check below is an invariant libpmemobj itself
// keeps on a healthy pool and across a crash at any point, so no pool that
// libpmemobj opens is refused.
//
// Offsets and sizes read from the file are BigInt until they are known to lie
// inside the file (whose size is below 2^53).
import * as fs from 'node:fs';

import { binding } from '../core/binding';
import { PmemError, PmemErrorCode } from '../core/errors';
import { checkHeap, HEAP_HEADER, ZONE_METADATA } from './media-heap';
import { Damage, Reader } from './media-read';

// --- PMDK 1.12.1's on-media layout (src/libpmemobj/obj.h, lane.h, ulog.h,
// heap_layout.h) --------------------------------------------------------
const POOL_HDR_SIZE = 4096; // struct pool_hdr, one page
const DESC_LANES_OFFSET = POOL_HDR_SIZE + 1024; // after layout[PMEMOBJ_MAX_LAYOUT]
const DESC_NLANES = DESC_LANES_OFFSET + 8;
const DESC_HEAP_OFFSET = DESC_LANES_OFFSET + 16;
const DESC_ROOT_OFFSET = POOL_HDR_SIZE + 2048; // after the 2 KiB checksummed descriptor
const DESC_ROOT_SIZE = DESC_ROOT_OFFSET + 16; // after root_offset and run_id
const DESC_SIZE = 2048; // OBJ_DSC_P_SIZE: the checksummed descriptor, from the layout on
const DESC_CHECKSUM = DESC_SIZE - 8; // its checksum, relative to its start
const MAX_LAYOUT = 1024; // PMEMOBJ_MAX_LAYOUT, the descriptor's first field
const PAGESIZE = 4096n; // the heap starts on a page (obj_descr_check)
const HEAP_CHECKSUM = HEAP_HEADER - 8; // struct heap_header ends with its checksum
const HEAP_SIGNATURE = Buffer.from('MEMORY_HEAP_HDR\0', 'latin1');
const LANE_SIZE = 3072; // sizeof(struct lane_layout)
const CACHELINE = 64;
const ULOG_HDR = 64; // checksum, next, capacity, gen_num, flags, unused[3]
// Each lane holds three logs: the internal and external redo logs and the
// undo log, at these offsets inside struct lane_layout.
const LANE_LOGS = [
  { name: 'internal redo', at: 0 },
  { name: 'external redo', at: 256 },
  { name: 'undo', at: 960 },
] as const;
// ulog entry types: the top 3 bits of an entry's offset word.
const OP_SET = 0n;
const OP_AND = 1n;
const OP_OR = 2n;
const OP_BUF_SET = 5n;
const OP_BUF_CPY = 6n;
const ENTRY_VAL = 16; // struct ulog_entry_val: offset, value
const ENTRY_BUF = 32; // struct ulog_entry_buf header: offset, checksum, size
const OFFSET_MASK = (1n << 61n) - 1n;

/**
 * PMDK's util_checksum_compute (a Fletcher-64 over 32-bit words), with the
 * 8-byte checksum field at `skip` counted as zero, continued over `seq` as
 * util_checksum_seq does.
 */
function fletcher64(buf: Buffer, skip: number, seq?: Buffer): bigint {
  let lo = 0;
  let hi = 0;
  const add = (b: Buffer, from: number): void => {
    for (let i = from; i < b.length; i += 4) {
      lo = (lo + b.readUInt32LE(i)) >>> 0;
      hi = (hi + lo) >>> 0;
    }
  };
  for (let i = 0; i < buf.length; i += 4) {
    if (i === skip || i === skip + 4) {
      hi = (hi + lo) >>> 0;
      continue;
    }
    lo = (lo + buf.readUInt32LE(i)) >>> 0;
    hi = (hi + lo) >>> 0;
  }
  if (seq !== undefined) add(seq, 0);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function alignUp(n: bigint, to: bigint): bigint {
  return ((n + to - 1n) / to) * to;
}

interface Pool {
  r: Reader;
  lanesOffset: number;
  lanesEnd: number;
  heapOffset: number;
}

/** OBJ_OFF_IS_VALID: what a ulog entry may target (heap, lanes, root_offset, root_size). */
function validTarget(p: Pool, off: bigint): boolean {
  return (
    (off >= BigInt(p.heapOffset) && off < BigInt(p.r.size)) ||
    (off >= BigInt(p.lanesOffset) && off < BigInt(p.lanesEnd)) ||
    off === BigInt(DESC_ROOT_OFFSET) ||
    off === BigInt(DESC_ROOT_SIZE)
  );
}

interface Ulog {
  at: number; // the ulog's offset in the file
  next: bigint;
  capacity: bigint;
  genNum: Buffer; // 8 bytes, for the entries' checksums
}

function readUlog(p: Pool, at: number): Ulog {
  const h = p.r.read(at, ULOG_HDR);
  return { at, next: h.readBigUInt64LE(8), capacity: h.readBigUInt64LE(16), genNum: h.subarray(24, 32) };
}

/**
 * The ulogs chained from a lane's log through `next`, as ulog_capacity and
 * ulog_rebuild_next_vec walk them at lane_init, which loops forever on a
 * cycle. Invariant: every extension is an object that libpmemobj (or the
 * user, for pmemobj_tx_log_append_buffer) allocated from the heap, linked
 * once, after it was constructed with next = 0; so each link lies in the
 * heap, and the chain ends.
 */
function chain(p: Pool, head: number, what: string): Ulog[] {
  const logs = [readUlog(p, head)];
  const seen = new Set<number>([head]);
  for (let u = logs[0]; u.next !== 0n; ) {
    // ulog_by_offset aligns the link up to a cache line.
    const at = alignUp(u.next, BigInt(CACHELINE));
    if (at < BigInt(p.heapOffset) || !p.r.holds(at, ULOG_HDR)) {
      throw new Damage(`the ${what} log links to offset ${u.next}, outside the heap`);
    }
    const n = Number(at);
    if (seen.has(n)) throw new Damage(`the ${what} log's chain of extensions loops at offset ${n}`);
    seen.add(n);
    u = readUlog(p, n);
    logs.push(u);
  }
  return logs;
}

/** How a walk over entries treats one: stop there, or go on (after what it checked). */
type EntryRule = (target: bigint, length: bigint) => 'stop' | 'go';

/**
 * Walks the entries of one ulog `u` as ulog_base_nbytes and ulog_foreach_entry
 * do: from its data while the offset is below its capacity, stopping at the
 * first entry that is not valid (offset 0, or a buffer entry whose checksum,
 * salted with the first log's gen_num, does not match). Returns the bytes
 * walked, and whether the walk stopped at an invalid entry (or `rule`).
 *
 * Invariants: libpmemobj writes only the five entry types; an unknown type
 * has size 0 and the walk would never advance. A buffer entry lies inside the
 * pool, as it was written there; libpmemobj reads all of it to check its
 * checksum, and a size near 2^64 wraps its size to 0.
 */
function walk(p: Pool, u: Ulog, gen: Buffer, what: string, rule?: EntryRule): { bytes: bigint; stopped: boolean } {
  let off = 0n;
  const data = BigInt(u.at + ULOG_HDR);
  while (off < u.capacity) {
    const at = data + off;
    if (!p.r.holds(at, ENTRY_VAL)) throw new Damage(`the ${what} log's entry at ${at} lies outside the pool`);
    const head = p.r.read(Number(at), ENTRY_VAL);
    const word = head.readBigUInt64LE(0);
    if (word === 0n) return { bytes: off, stopped: true };
    const type = word >> 61n;
    const target = word & OFFSET_MASK;
    let size: bigint;
    let length: bigint;
    if (type === OP_SET || type === OP_AND || type === OP_OR) {
      size = BigInt(ENTRY_VAL);
      length = 8n;
    } else if (type === OP_BUF_SET || type === OP_BUF_CPY) {
      if (!p.r.holds(at, ENTRY_BUF)) throw new Damage(`the ${what} log's entry at ${at} lies outside the pool`);
      length = p.r.read(Number(at) + 16, 8).readBigUInt64LE(0);
      size = alignUp(BigInt(ENTRY_BUF) + length, BigInt(CACHELINE));
      if (!p.r.holds(at, size)) {
        throw new Damage(`the ${what} log's entry at ${at} of ${length} bytes runs past the end of the pool`);
      }
      const entry = p.r.read(Number(at), Number(size));
      if (entry.readBigUInt64LE(8) !== fletcher64(entry, 8, gen)) return { bytes: off, stopped: true };
    } else {
      throw new Damage(`the ${what} log's entry at ${at} has an unknown type ${type}`);
    }
    if (rule !== undefined && rule(target, length) === 'stop') return { bytes: off, stopped: true };
    off += size;
  }
  return { bytes: off, stopped: false };
}

/** ulog_foreach_entry: the entries of every ulog in the chain, until the first invalid one. */
function walkChain(p: Pool, logs: Ulog[], what: string, rule: EntryRule): void {
  for (const u of logs) {
    if (walk(p, u, logs[0].genNum, what, rule).stopped) return;
  }
}

/**
 * Recovery applies each entry at its target: a healthy log only targets what
 * OBJ_OFF_IS_VALID allows, so the write stays inside the pool.
 */
function applied(p: Pool, what: string): EntryRule {
  return (target, length) => {
    if (!validTarget(p, target) || !p.r.holds(target, length)) {
      throw new Damage(`the ${what} log would write ${length} bytes at offset ${target}, outside the pool's heap and lanes`);
    }
    return 'go';
  };
}

/**
 * The lanes, in the order pmemobj_open walks them. Returns whether recovery
 * will apply a log (a redo log whose checksum matches, or an undo log with
 * entries): then the pool as it lies is not yet the pool libpmemobj opens.
 */
function checkLanes(p: Pool, nlanes: number): boolean {
  let recovers = false;
  for (let lane = 0; lane < nlanes; lane++) {
    const base = p.lanesOffset + lane * LANE_SIZE;
    for (const log of LANE_LOGS) {
      const what = `lane ${lane} ${log.name}`;
      const logs = chain(p, base + log.at, what);
      const head = logs[0];
      if (log.name === 'internal redo') {
        // lane_check (obj_check_basic) walks the internal log's entries,
        // stopping at the first whose target is not OBJ_OFF_IS_VALID.
        walkChain(p, logs, what, (target) => (validTarget(p, target) ? 'go' : 'stop'));
      }
      // ulog_recover (redo) and operation_resume (undo) measure the first
      // log with ulog_base_nbytes.
      const nbytes = walk(p, head, head.genNum, what).bytes;
      if (nbytes === 0n) continue;
      if (log.name !== 'undo') {
        // A redo log is applied only when its checksum, over its header and
        // the bytes measured, matches (ulog_recovery_needed).
        const n = nbytes < head.capacity ? nbytes : head.capacity;
        const covered = p.r.read(head.at, ULOG_HDR + Number(n));
        if (covered.readBigUInt64LE(0) !== fletcher64(covered, 0)) continue;
      }
      walkChain(p, logs, what, applied(p, what));
      recovers = true;
    }
  }
  return recovers;
}

/**
 * The descriptor's root (root_offset, root_size; no checksum covers them)
 * against the heap walk's finding, `usable`: the usable size of the
 * allocated object whose data starts at root_offset, or undefined.
 *
 * Invariant: pmemobj_root sets both in one redo log, with the allocation
 * that makes root_offset an object of at least root_size usable bytes; a
 * pool without a root has both 0. Otherwise root() would hand out, and
 * writes would go to, bytes no allocation owns, or the pool's own header.
 */
function checkRoot(rootOffset: bigint, rootSize: bigint, usable: number | undefined): void {
  if (rootOffset === 0n && rootSize === 0n) return;
  if (rootSize === 0n) throw new Damage(`its root offset is ${rootOffset}, but its root size is 0`);
  if (usable === undefined) {
    throw new Damage(`its root offset ${rootOffset} (root size ${rootSize}) is not the start of an allocated object`);
  }
  if (BigInt(usable) < rootSize) {
    throw new Damage(`its root at ${rootOffset} has ${usable} usable bytes, fewer than its root size ${rootSize}`);
  }
}

/** poolDamage's finding: the damage, and whether the root waits for recovery. */
interface Finding {
  damage: string | undefined;
  /** Recovery will apply a log, which may move the root: check it after pmemobj_open. */
  rootAfterRecovery: boolean;
}

/**
 * What makes a pool file one on which pmemobj_open or pmemobj_check would
 * loop forever or leave the pool (see this file's head), or undefined.
 * Reads the file and never writes it. A file that is not a regular file
 * (a device DAX) is left to libpmemobj, as is damage libpmemobj refuses
 * itself (checksums, signatures).
 */
export function poolDamage(path: string): string | undefined {
  return examine(path, false).damage;
}

/**
 * poolDamage, and whether the root was left unchecked because recovery at
 * open will apply a log first (a crash inside pmemobj_root, or inside a
 * transaction that allocates, leaves root_offset, root_size and the bitmaps
 * as the log's entries find them, consistent only once it is applied).
 * `recovered`: the pool is open, and pmemobj_open has applied its logs; the
 * root is checked whatever the logs hold.
 */
function examine(path: string, recovered: boolean): Finding {
  const healthy: Finding = { damage: undefined, rootAfterRecovery: false };
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY);
  } catch {
    return healthy; // libpmemobj reports why it cannot open it
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return healthy;
    const r = new Reader(fd, st.size);
    // A file shorter than any pool is refused natively (RefuseShortFile).
    if (st.size < binding.objConstants.minPool) return healthy;
    const desc = r.read(DESC_LANES_OFFSET, 24);
    const lanesOffset = desc.readBigUInt64LE(0);
    const nlanes = desc.readBigUInt64LE(8);
    const heapOffset = desc.readBigUInt64LE(16);
    // Invariant: the lanes follow the descriptor, and the heap follows the
    // lanes, inside the file (obj_descr_create).
    if (
      lanesOffset < BigInt(DESC_ROOT_SIZE + 8) ||
      lanesOffset + nlanes * BigInt(LANE_SIZE) > heapOffset ||
      !r.holds(heapOffset, HEAP_HEADER + ZONE_METADATA)
    ) {
      return {
        damage: `its descriptor places the lanes (${lanesOffset}, ${nlanes} of them) and the heap (${heapOffset}) outside the file`,
        rootAfterRecovery: false,
      };
    }
    const root = r.read(DESC_ROOT_OFFSET, 24);
    const rootOffset = root.readBigUInt64LE(0);
    const rootSize = root.readBigUInt64LE(DESC_ROOT_SIZE - DESC_ROOT_OFFSET);
    const p: Pool = {
      r,
      lanesOffset: Number(lanesOffset),
      lanesEnd: Number(lanesOffset + nlanes * BigInt(LANE_SIZE)),
      heapOffset: Number(heapOffset),
    };
    const rootUsable = checkHeap(r, p.heapOffset, rootOffset);
    if (checkLanes(p, Number(nlanes)) && !recovered) return { damage: undefined, rootAfterRecovery: true };
    checkRoot(rootOffset, rootSize, rootUsable);
    return healthy;
  } catch (e) {
    if (e instanceof Damage) return { damage: e.message, rootAfterRecovery: false };
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Refuses, before libpmemobj maps the file, what pmemobj_open would refuse
 * only after it has mapped the pool and written its runtime state (the
 * part of the pool after the descriptor that holds pointers of the
 * process) into it: a descriptor whose checksum does not match, or that
 * names another layout, or places the heap off a page (obj_descr_check);
 * a heap header whose checksum or signature does not match
 * (heap_verify_header, in heap_boot). Reads the file and never writes it,
 * so a refused open leaves it byte-identical. Other refusals (a short
 * file, a pool header libpmemobj refuses before it writes) are left to
 * libpmemobj.
 * @throws PmemError ERR_PMEM_LAYOUT, ERR_PMEM_CORRUPT
 */
export function refuseBadDescriptor(path: string, layout: string | null): void {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY);
  } catch {
    return; // libpmemobj reports why it cannot open it
  }
  let problem: { code: PmemErrorCode; what: string } | undefined;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size < binding.objConstants.minPool) return;
    const r = new Reader(fd, st.size);
    const desc = r.read(POOL_HDR_SIZE, DESC_SIZE);
    const heapOffset = desc.readBigUInt64LE(DESC_HEAP_OFFSET - POOL_HDR_SIZE);
    const nul = desc.subarray(0, MAX_LAYOUT).indexOf(0);
    const stored = desc.subarray(0, nul < 0 ? MAX_LAYOUT : nul);
    if (desc.readBigUInt64LE(DESC_CHECKSUM) !== fletcher64(desc, DESC_CHECKSUM)) {
      problem = { code: 'ERR_PMEM_CORRUPT', what: "its pool descriptor's checksum does not match" };
    } else if (layout !== null && !stored.equals(Buffer.from(layout, 'utf8'))) {
      problem = {
        code: 'ERR_PMEM_LAYOUT',
        what: `its layout is ${JSON.stringify(stored.toString('utf8'))}, not ${JSON.stringify(layout)}`,
      };
    } else if (heapOffset % PAGESIZE !== 0n) {
      problem = { code: 'ERR_PMEM_CORRUPT', what: `its heap offset ${heapOffset} is not on a page` };
    } else if (r.holds(heapOffset, HEAP_HEADER)) {
      // A heap past the file's end is poolDamage's to report.
      const heap = r.read(Number(heapOffset), HEAP_HEADER);
      if (heap.readBigUInt64LE(HEAP_CHECKSUM) !== fletcher64(heap, HEAP_CHECKSUM)) {
        problem = { code: 'ERR_PMEM_CORRUPT', what: "its heap header's checksum does not match" };
      } else if (!heap.subarray(0, HEAP_SIGNATURE.length).equals(HEAP_SIGNATURE)) {
        problem = { code: 'ERR_PMEM_CORRUPT', what: "its heap header's signature is not libpmemobj's" };
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  if (problem !== undefined) {
    const what = problem.code === 'ERR_PMEM_LAYOUT' ? 'a pool of another layout' : 'a damaged pool';
    throw new PmemError(problem.code, `'${path}' is ${what}: ${problem.what}`, { path });
  }
}

/**
 * Refuses a pool file with poolDamage's damage. Returns true when the root
 * is left to be checked once pmemobj_open has recovered the pool (see
 * examine): call it again then, with `recovered`, on the open pool, whose
 * file holds what recovery made of it.
 * @throws PmemError ERR_PMEM_CORRUPT
 */
export function refuseDamagedPool(path: string, recovered = false): boolean {
  const { damage, rootAfterRecovery } = examine(path, recovered);
  if (damage !== undefined) {
    throw new PmemError('ERR_PMEM_CORRUPT', `'${path}' is a damaged pool: ${damage}`, { path });
  }
  return rootAfterRecovery;
}
