// The heap's part of the pre-check in lib/obj/media.ts: zones, their chunk
// headers, and the runs (the chunks that hold small objects), walked as
// PMDK 1.12.1 walks them when pmemobj_open boots the heap and when
// pmemobj_first and pmemobj_next list the objects (heap_foreach_object):
// zone by zone, chunk header by chunk header, and in a run, bitmap bit by
// bit and object by object (run_iterate_used).
//
// libpmemobj trusts all of it. A chunk header of size 0, a run's block size
// of 0 (memblock_run_bitmap divides by it: SIGFPE), or an allocation header
// of size 0 (run_iterate_used steps by the object's size in blocks, so it
// never advances) stops the open forever or kills the process. Every check
// below is an invariant libpmemobj keeps on a healthy pool and across a
// crash at any point, as written on the media: run metadata (block size,
// bitmap) is written while the chunk is still free, before one 8-byte store
// makes it a run; an allocation header is written and persisted before the
// redo log that sets the object's bits commits; and the bits of one object
// are set, or cleared, by one 8-byte OR, or AND, of one bitmap word. A redo
// log that recovery still has to apply only sets or clears whole objects'
// bits, whose headers are already in place, so the pool as it lies (before
// recovery) satisfies them too.
import { Damage, Reader } from './media-read';

// --- PMDK 1.12.1's heap layout (src/libpmemobj/heap_layout.h) ----------
export const HEAP_HEADER = 1024; // struct heap_header
const ZONE_HEADER_MAGIC = 0xc3f0a2d2;
const MAX_CHUNK = 65535 - 7;
const CHUNKSIZE = 256 * 1024;
const ZONE_HEADER = 64;
export const ZONE_METADATA = ZONE_HEADER + 8 * MAX_CHUNK; // header and chunk_headers[MAX_CHUNK]
const ZONE_MIN_SIZE = ZONE_METADATA + CHUNKSIZE;
const ZONE_MAX_SIZE = ZONE_METADATA + CHUNKSIZE * MAX_CHUNK;

// enum chunk_type: 0 is CHUNK_TYPE_UNKNOWN, 1 CHUNK_TYPE_FOOTER, 2 CHUNK_TYPE_FREE.
const CHUNK_TYPE_USED = 3; // a huge object: its chunks hold one allocation
const CHUNK_TYPE_RUN = 4;
const CHUNK_TYPE_RUN_DATA = 5;
const MAX_CHUNK_TYPE = 6;
// enum chunk_flags (bits of a chunk header's flags).
const FLAG_COMPACT_HEADER = 1;
const FLAG_HEADER_NONE = 2;
const FLAG_ALIGNED = 4;
const FLAG_FLEX_BITMAP = 8;

// struct chunk_run: a header (block_size, alignment), then the bitmap, then
// the blocks.
const RUN_HEADER = 16n;
const RUN_CONTENT_SIZE = BigInt(CHUNKSIZE) - RUN_HEADER;
const RUN_BITS_PER_VALUE = 64;
// The fixed bitmap of runs without CHUNK_FLAG_FLEX_BITMAP: 38 words.
const RUN_DEFAULT_BITMAP_VALUES = 40n - 2n;
const RUN_DEFAULT_BITMAP_SIZE = 8n * RUN_DEFAULT_BITMAP_VALUES;
const RUN_DEFAULT_BITMAP_NBITS = 64n * RUN_DEFAULT_BITMAP_VALUES;
const RUN_DEFAULT_SIZE = RUN_CONTENT_SIZE - RUN_DEFAULT_BITMAP_SIZE;
// The largest alignment an allocation class may ask for (pmalloc.c).
const MAX_ALIGNMENT = 2n * 1024n * 1024n;
// struct allocation_header_compact keeps flags in the top 16 bits of size.
const ALLOC_HDR_SIZE_MASK = (1n << 48n) - 1n;

/** heap_max_zone: how many zones a heap of this size has. */
function zoneCount(heapSize: number): number {
  let zones = 0;
  for (let left = heapSize - HEAP_HEADER; left >= ZONE_MIN_SIZE; zones++) {
    left -= Math.min(left, ZONE_MAX_SIZE);
  }
  return zones;
}

/**
 * The zones from `heapOffset` to the end of the file, as heap_verify_zone
 * and heap_zone_foreach_object walk them.
 *
 * Invariants: a zone header's magic is 0 (never used) or ZONE_HEADER_MAGIC,
 * written with the zone's size in one 8-byte store (heap_zone_init;
 * heap_zone_foreach_object walks any zone whose magic is not 0). A zone's
 * chunks lie in the file, and its chunk headers tile it exactly, each
 * covering at least one chunk (heap_verify_zone refuses a pool whose headers
 * do not add up, but loops forever on a size of 0 first). The header at each
 * step of that walk has a known type (memblock_detect_type aborts the
 * process on another), and a run there passes RunReader.check.
 *
 * Returns the usable size of the allocated object whose data starts at
 * `root` (the descriptor's root offset), or undefined when no allocated
 * object starts there: the walk visits every allocated object (a used chunk,
 * or an object whose first bit is set in a run, as pmemobj_first and
 * pmemobj_next do, the root and libpmemobj's own objects included), and
 * comparing each with `root` costs nothing beyond it.
 */
export function checkHeap(r: Reader, heapOffset: number, root: bigint): number | undefined {
  const zones = zoneCount(r.size - heapOffset);
  const runs = new RunReader(r);
  // A root past the file is no object's start; -1 matches none.
  const rootAt = root < BigInt(r.size) ? Number(root) : -1;
  let rootUsable: number | undefined;
  for (let z = 0; z < zones; z++) {
    const zoneAt = heapOffset + HEAP_HEADER + z * ZONE_MAX_SIZE;
    const header = r.read(zoneAt, ZONE_HEADER);
    const magic = header.readUInt32LE(0);
    if (magic === 0) continue; // never used: libpmemobj initializes it when it needs it
    if (magic !== ZONE_HEADER_MAGIC) throw new Damage(`zone ${z} has a bad magic ${magic.toString(16)}`);
    const chunks = header.readUInt32LE(4);
    if (chunks > MAX_CHUNK || !r.holds(zoneAt + ZONE_METADATA, chunks * CHUNKSIZE)) {
      throw new Damage(`zone ${z} claims ${chunks} chunks, more than the file holds`);
    }
    const headers = r.read(zoneAt + ZONE_HEADER, 8 * chunks);
    for (let c = 0; c < chunks; ) {
      const type = headers.readUInt16LE(8 * c);
      const flags = headers.readUInt16LE(8 * c + 2);
      const size = headers.readUInt32LE(8 * c + 4);
      if (size === 0 || c + size > chunks) {
        throw new Damage(`zone ${z} chunk ${c} has size ${size}, which does not fit the zone's ${chunks} chunks`);
      }
      if (type === 0 || type >= MAX_CHUNK_TYPE) throw new Damage(`zone ${z} chunk ${c} has an unknown type ${type}`);
      // memblock_detect_type takes both for a run.
      const chunkAt = zoneAt + ZONE_METADATA + c * CHUNKSIZE;
      if (type === CHUNK_TYPE_RUN || type === CHUNK_TYPE_RUN_DATA) {
        const usable = runs.check(`zone ${z} chunk ${c}`, chunkAt, size, flags, rootAt);
        if (usable !== undefined) rootUsable = usable;
      } else if (type === CHUNK_TYPE_USED) {
        // A huge object's header is at the start of its first chunk, and its
        // real size is its chunks (huge_get_real_size).
        const hsize = headerSize(flags);
        if (chunkAt + hsize === rootAt) rootUsable = size * CHUNKSIZE - hsize;
      }
      c += size;
    }
  }
  return rootUsable;
}

/** The allocation header's size before each object, from its chunk's flags (enum header_type). */
function headerSize(flags: number): number {
  if ((flags & FLAG_COMPACT_HEADER) !== 0) return 16;
  return (flags & FLAG_HEADER_NONE) !== 0 ? 0 : 64;
}

/** What memblock_run_bitmap computes for a run: its bitmap's words and bits, and the bitmap's size with padding. */
interface RunBitmap {
  nvalues: bigint;
  nbits: bigint;
  size: bigint;
  sizeIdx: bigint; // the chunks the run's blocks lie in (the fixed bitmap may use fewer)
}

const U32 = 0xffffffffn;
const U64 = (1n << 64n) - 1n;

/**
 * memblock_run_bitmap, in the same unsigned 32- and 64-bit arithmetic (so a
 * damaged block size gives the same, wrapped, numbers libpmemobj would use).
 */
function runBitmap(sizeIdx: bigint, flags: number, unit: bigint, alignment: bigint): RunBitmap {
  const aligned = alignment !== 0n ? 1n : 0n; // not the flag: memblock_run_bitmap tests the field
  if ((flags & FLAG_FLEX_BITMAP) !== 0) {
    const content = RUN_CONTENT_SIZE + (sizeIdx - 1n) * BigInt(CHUNKSIZE);
    let nbits = (content / unit) & U32;
    let nvalues = ((nbits + 63n) & U32) / 64n;
    // Aligned up so that the blocks start on a cache line.
    nvalues = ((((nvalues + 2n + 7n) & U32) / 8n) * 8n - 2n) & U32;
    const size = nvalues * 8n;
    nbits = (((content - size) & U64) / unit - aligned) & U32;
    const unusedValues = ((nvalues * 64n - nbits) & U32) / 64n;
    nvalues = (nvalues - unusedValues) & U32;
    return { nvalues, nbits, size, sizeIdx };
  }
  // memblock_run_default_nallocs: fewer chunks until the blocks fit the
  // fixed bitmap (at most sizeIdx steps, and the zone's runs hold at most
  // its chunks).
  let idx = sizeIdx;
  let nallocs = ((RUN_DEFAULT_SIZE + (idx - 1n) * BigInt(CHUNKSIZE)) / unit) & U32;
  while (nallocs > RUN_DEFAULT_BITMAP_NBITS) {
    if (idx > 1n) {
      idx--;
      nallocs = ((RUN_DEFAULT_SIZE + (idx - 1n) * BigInt(CHUNKSIZE)) / unit) & U32;
    } else {
      nallocs = RUN_DEFAULT_BITMAP_NBITS;
    }
  }
  const nbits = (nallocs - aligned) & U32;
  const unusedValues = ((RUN_DEFAULT_BITMAP_NBITS - nbits) & U32) / 64n;
  return { nvalues: (RUN_DEFAULT_BITMAP_VALUES - unusedValues) & U32, nbits, size: RUN_DEFAULT_BITMAP_SIZE, sizeIdx: idx };
}

/** Whether bit j of the 64-bit bitmap word (lo, hi) is set. */
function bitSet(lo: number, hi: number, j: number): boolean {
  return ((j < 32 ? lo >>> j : hi >>> (j - 32)) & 1) === 1;
}

/**
 * A window over the file, refilled in file order: one reused buffer that
 * holds up to its size of the file at a time.
 */
class Window {
  private readonly buf: Buffer;
  from = 0;
  private to = 0;

  constructor(
    private readonly r: Reader,
    size: number,
  ) {
    this.buf = Buffer.allocUnsafeSlow(size); // every byte used is read first
  }

  /** The buffer, refilled so that it holds [off, off + len) (len at most its size); `from` is its offset. */
  at(off: number, len: number): Buffer {
    if (off < this.from || off + len > this.to) {
      const n = Math.min(this.buf.length, this.r.size - off);
      this.r.readInto(this.buf, off, n);
      this.from = off;
      this.to = off + n;
    }
    return this.buf;
  }
}

/**
 * Checks runs, reading their bitmaps and their objects' headers through two
 * windows, so that each run is read once, in order, however large it is.
 */
class RunReader {
  private readonly bits: Window;
  private readonly objects: Window;

  constructor(private readonly r: Reader) {
    this.bits = new Window(r, 64 * 1024);
    this.objects = new Window(r, 4 * 1024 * 1024);
  }

  /**
   * One run: `what` names it, `at` is its first chunk's offset in the file,
   * `sizeIdx` its chunks and `flags` its chunk header's flags.
   *
   * Invariants: a run's block size is its allocation class's unit size,
   * nonzero; memblock_run_bitmap then places its bitmap and its blocks
   * inside the run (the class was built from the same numbers), and an
   * aligned class's alignment is nonzero and at most 2 MiB. Every object
   * whose first bit is set has an allocation header that gives its size as
   * a whole number of blocks (block_write_header writes block size times
   * blocks), from 1 to what is left of its bitmap word (an allocation never
   * crosses one), with all of its bits set (one OR sets them).
   *
   * Returns the usable size of the object whose data starts at `rootAt`
   * (its real size less its header), if one of this run's does.
   */
  check(what: string, at: number, sizeIdx: number, flags: number, rootAt: number): number | undefined {
    const head = this.r.read(at, Number(RUN_HEADER));
    const unit = head.readBigUInt64LE(0);
    const alignment = head.readBigUInt64LE(8);
    if (unit === 0n) throw new Damage(`${what} is a run of block size 0`);
    const b = runBitmap(BigInt(sizeIdx), flags, unit, alignment);
    const content = BigInt(at) + RUN_HEADER;
    const end = BigInt(at) + b.sizeIdx * BigInt(CHUNKSIZE);
    // The header's size before the object (enum header_type, from the chunk's flags).
    const compact = (flags & FLAG_COMPACT_HEADER) !== 0;
    const none = !compact && (flags & FLAG_HEADER_NONE) !== 0;
    const hsize = BigInt(headerSize(flags));
    let rootUsable: number | undefined;
    let data = content + b.size;
    if ((flags & FLAG_ALIGNED) !== 0) {
      if (alignment === 0n || alignment > MAX_ALIGNMENT) {
        throw new Damage(`${what} is an aligned run of alignment ${alignment}`);
      }
      // ALIGN_UP on the address; the pool is mapped at a 2 MiB boundary,
      // so the file offset aligns the same way.
      data = ((data + hsize + alignment - 1n) & ~(alignment - 1n)) - hsize;
    }
    if (content + b.nvalues * 8n > data || b.nbits > b.nvalues * 64n || data + b.nbits * unit > end) {
      throw new Damage(`${what} is a run whose block size ${unit} does not fit its bitmap and blocks in its ${sizeIdx} chunks`);
    }
    const nvalues = Number(b.nvalues);
    const nbits = Number(b.nbits);
    const size = Number(unit);
    const first = Number(data);
    const bitmapAt = Number(content);
    const hsizeN = Number(hsize);
    // run_iterate_used: each word, each bit from the last object's end.
    for (let i = 0; i < nvalues; i++) {
      const wordAt = bitmapAt + 8 * i;
      const words = this.bits.at(wordAt, 8);
      const lo = words.readUInt32LE(wordAt - this.bits.from);
      const hi = words.readUInt32LE(wordAt + 4 - this.bits.from);
      if (lo === 0 && hi === 0) continue;
      for (let j = 0; j < RUN_BITS_PER_VALUE && RUN_BITS_PER_VALUE * i + j < nbits; ) {
        if (!bitSet(lo, hi, j)) {
          j++;
          continue;
        }
        const block = RUN_BITS_PER_VALUE * i + j;
        const hdrAt = first + size * block;
        // The object's size in bytes, as a Number while it is below 2^53.
        let bytes: number;
        if (none) {
          bytes = size;
        } else {
          if (hdrAt + hsizeN > this.r.size) throw new Damage(`${what} has an object at ${hdrAt} past the end of the file`);
          const w = this.objects.at(hdrAt, hsizeN);
          const sizeAt = hdrAt + (compact ? 0 : 8) - this.objects.from;
          // The compact header keeps flags in the size's top 16 bits.
          const high = compact ? w.readUInt16LE(sizeAt + 4) : w.readUInt32LE(sizeAt + 4);
          bytes = high < 2 ** 21 ? high * 2 ** 32 + w.readUInt32LE(sizeAt) : Infinity;
        }
        // CALC_SIZE_IDX: how many blocks run_iterate_used steps over (0 for
        // a size of 0, on which it never moves). At most 64 blocks of a
        // block size below 2^34 (its blocks fit the run), so a size past
        // 2^53 is refused as too large.
        const blocks = bytes === 0 ? 0 : Math.floor((bytes - 1) / size) + 1;
        if (blocks === 0 || blocks * size !== bytes) {
          throw new Damage(`${what} has an object at ${hdrAt} whose header gives ${bytes} bytes, not a whole number of its ${unit}-byte blocks`);
        }
        if (j + blocks > RUN_BITS_PER_VALUE || block + blocks > nbits) {
          throw new Damage(`${what} has an object at ${hdrAt} of ${blocks} blocks, past its bitmap word or its run`);
        }
        for (let k = j + 1; k < j + blocks; k++) {
          if (!bitSet(lo, hi, k)) throw new Damage(`${what} has an object at ${hdrAt} of ${blocks} blocks whose bits are not all set`);
        }
        if (hdrAt + hsizeN === rootAt) rootUsable = bytes - hsizeN;
        j += blocks;
      }
    }
    return rootUsable;
  }
}
