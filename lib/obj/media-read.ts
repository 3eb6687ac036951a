// Reading a pool file for the pre-check of lib/obj/media.ts (and
// media-heap.ts): ranges that must lie inside the file, and the error that
// names the damage found.
import * as fs from 'node:fs';

/** Reads ranges of a file that must lie wholly inside it. */
export class Reader {
  constructor(
    readonly fd: number,
    readonly size: number,
  ) {}

  /** Whether [off, off + len) lies inside the file (off and len may be BigInt from the file). */
  holds(off: bigint | number, len: bigint | number): boolean {
    const o = BigInt(off);
    const l = BigInt(len);
    return o >= 0n && l >= 0n && o + l <= BigInt(this.size);
  }

  read(off: number, len: number): Buffer {
    return this.readInto(Buffer.alloc(len), off, len);
  }

  /** Reads [off, off + len) into the start of `buf`, which it returns. */
  readInto(buf: Buffer, off: number, len: number): Buffer {
    let n = 0;
    while (n < len) {
      const got = fs.readSync(this.fd, buf, n, len - n, off + n);
      if (got === 0) break;
      n += got;
    }
    if (n < len) throw new Error('short read');
    return buf;
  }
}

/** The damage found, as the message of the ERR_PMEM_CORRUPT that refuses the file. */
export class Damage extends Error {}
