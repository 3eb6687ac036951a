// A connection's replies, encoded as RESP2 or RESP3 straight into bytes.
// Replies are written into a chunk of memory as the commands run; at the end
// of the turn `take()` hands the bytes written since the last take to the
// socket, and later replies go after them in the same chunk (bytes handed
// out are never written again). A chunk that fills is followed by a bigger
// one, so a long reply (LRANGE, ZRANGE) costs a few chunks per turn, not a
// copy per element; the socket gets them in one writev.
//
// A connection holds no chunk between turns: `take()` gives the chunk's
// unused room to a pool that the next writer needing room continues in, so
// a thousand idle connections hold no reply memory, and busy ones do not
// allocate a chunk per turn.

/** A value at least this long is queued by reference instead of copied. */
const BY_REFERENCE = 16 * 1024;
/** The first chunk's size, and the most a chunk grows to (a bigger reply piece gets a chunk of its own size). */
const FIRST_CHUNK = 4096;
const LARGEST_CHUNK = 1024 * 1024;
/** Strings shorter than this are copied by a loop; longer ones by Buffer's write. */
const SHORT = 32;

const EMPTY = Buffer.alloc(0);
/** A chunk with less room than this is not worth keeping. */
const MIN_ROOM = 1024;
/** The pool holds at most this many chunks (and only chunks up to 4 × FIRST_CHUNK): 1 MiB at most. */
const POOL_CHUNKS = 64;

/**
 * Chunks with room left, handed back by writers at the end of their turn:
 * the bytes before `start` may still be waiting in a socket and are never
 * written again; the room after it is free.
 */
export class ChunkPool {
  readonly #bufs: Buffer[] = [];
  readonly #starts: number[] = [];

  /** Chunks held. */
  get size(): number {
    return this.#bufs.length;
  }

  /** Keeps `buf`'s room from `start` on, when it is worth keeping and the pool has space. */
  give(buf: Buffer, start: number): void {
    if (buf.length - start < MIN_ROOM || buf.length > 4 * FIRST_CHUNK || this.#bufs.length >= POOL_CHUNKS) return;
    this.#bufs.push(buf);
    this.#starts.push(start);
  }

  /** A chunk with at least `n` bytes of room (the most recently given), or undefined. */
  take(n: number): { buf: Buffer; start: number } | undefined {
    const last = this.#bufs.length - 1;
    if (last < 0 || this.#bufs[last].length - this.#starts[last] < n) return undefined;
    const buf = this.#bufs.pop() as Buffer;
    return { buf, start: this.#starts.pop() as number };
  }
}

/** The pool every writer of the process shares (one event loop: no two writers run at once). */
export const CHUNKS = new ChunkPool();

/** A reply under construction: bytes written at once, and sent once the batch they depend on is durable. */
export class ReplyWriter {
  /** 2 or 3. */
  proto = 2;
  /**
   * CLIENT REPLY OFF/SKIP: replies are dropped while muted, except
   * out-of-band pushes (pub/sub), which are written while `pushing`.
   */
  muted = false;
  pushing = false;
  /**
   * Bytes a turn's replies may queue (RespServer's maxOutput). Past them
   * the rest is dropped as it comes, `overflowed` is set, and the server
   * closes the connection at the turn's end instead of sending: one command
   * (an MGET of one large value many times, an EXEC of many) cannot build
   * gigabytes of reply before any limit is asked.
   */
  limit = Infinity;
  overflowed = false;
  /** The chunk being written: bytes before `#start` are handed out, `#start` to `#pos` are queued. */
  #buf: Buffer = EMPTY;
  #start = 0;
  #pos = 0;
  /** The size of the next chunk: doubles while a turn fills chunks, back to FIRST_CHUNK at `take()`. */
  #next = FIRST_CHUNK;
  /** Queued pieces before the current chunk's: filled chunks and values queued by reference. */
  #parts: Buffer[] = [];
  #partBytes = 0;

  /** Bytes queued. */
  get bytes(): number {
    return this.#partBytes + this.#pos - this.#start;
  }

  get empty(): boolean {
    return this.#parts.length === 0 && this.#pos === this.#start;
  }

  /** Bytes of the chunk this writer holds (0 between turns). */
  get held(): number {
    return this.#buf.length;
  }

  /**
   * Everything queued, in order, and a fresh start. The returned buffers
   * are never written again. The writer keeps no chunk: its room goes to
   * the pool, for whichever writer next needs room.
   */
  take(): Buffer[] {
    this.#close();
    const out = this.#parts;
    this.#parts = [];
    this.#partBytes = 0;
    this.#next = FIRST_CHUNK;
    if (this.#buf !== EMPTY) CHUNKS.give(this.#buf, this.#pos);
    this.#buf = EMPTY;
    this.#start = 0;
    this.#pos = 0;
    return out;
  }

  /** Bytes of a latin1 string, as they are (a reply the caller encoded). */
  raw(s: string): void {
    if (this.#off()) return;
    this.#latin1(s);
  }

  ok(): void {
    this.raw('+OK\r\n');
  }

  status(s: string): void {
    if (this.#off()) return;
    this.#room(s.length + 3);
    this.#byte(0x2b);
    this.#latin1(s);
    this.#crlf();
  }

  error(s: string): void {
    // One line: an error message never carries a newline onto the wire. As
    // Redis's addReplyErrorFormat: CRs and LFs at its ends are trimmed, and
    // each one inside becomes a blank.
    if (this.#off()) return;
    const line = s.includes('\r') || s.includes('\n') ? s.replace(/^[\r\n]+|[\r\n]+$/g, '').replace(/[\r\n]/g, ' ') : s;
    this.#room(line.length + 3);
    this.#byte(0x2d);
    this.#latin1(line);
    this.#crlf();
  }

  int(n: number | bigint): void {
    if (this.#off()) return;
    if (typeof n === 'bigint' || !Number.isSafeInteger(n)) {
      this.raw(`:${n}\r\n`);
      return;
    }
    this.#header(0x3a, n);
  }

  /** A bulk string; a JS string is sent as UTF-8. */
  bulk(v: Buffer | string): void {
    if (this.#off()) return;
    if (typeof v === 'string') {
      const n = Buffer.byteLength(v, 'utf8');
      this.#header(0x24, n);
      this.#room(n + 2);
      this.#pos += this.#buf.write(v, this.#pos, n, 'utf8');
      this.#crlf();
      return;
    }
    const n = v.length;
    this.#header(0x24, n);
    if (n >= BY_REFERENCE) this.#piece(v);
    else {
      this.#room(n + 2);
      this.#buf.set(v, this.#pos); // TypedArray set: no call into C++ for a short value, as Buffer's copy makes
      this.#pos += n;
    }
    this.#crlf();
  }

  /** A bulk string of a latin1 string's bytes (a key or element id as the keyspace holds it). */
  bulkLatin1(s: string): void {
    if (this.#off()) return;
    this.#header(0x24, s.length);
    this.#room(s.length + 2);
    this.#latin1(s);
    this.#crlf();
  }

  /** RESP2 `$-1`, RESP3 `_`. */
  nil(): void {
    this.raw(this.proto === 3 ? '_\r\n' : '$-1\r\n');
  }

  /** The null of an array reply: RESP2 `*-1`, RESP3 `_`. */
  nilArray(): void {
    this.raw(this.proto === 3 ? '_\r\n' : '*-1\r\n');
  }

  array(n: number): void {
    if (this.#off()) return;
    this.#header(0x2a, n);
  }

  /** A map of n pairs: RESP3 `%`, RESP2 a flat array of 2n. */
  map(n: number): void {
    if (this.#off()) return;
    if (this.proto === 3) this.#header(0x25, n);
    else this.#header(0x2a, 2 * n);
  }

  /** A set: RESP3 `~`, RESP2 an array. */
  set(n: number): void {
    if (this.#off()) return;
    this.#header(this.proto === 3 ? 0x7e : 0x2a, n);
  }

  /** An out-of-band message (pub/sub): RESP3 `>`, RESP2 an array. */
  push(n: number): void {
    if (this.#off()) return;
    this.#header(this.proto === 3 ? 0x3e : 0x2a, n);
  }

  /** A double, given as its ASCII text: RESP3 `,`, RESP2 a bulk string. */
  double(text: string): void {
    if (this.#off()) return;
    if (this.proto === 3) {
      this.#room(text.length + 3);
      this.#byte(0x2c);
      this.#latin1(text);
      this.#crlf();
    } else this.bulkLatin1(text);
  }

  /** A boolean: RESP3 `#t`/`#f`, RESP2 :1/:0. */
  bool(b: boolean): void {
    this.raw(this.proto === 3 ? (b ? '#t\r\n' : '#f\r\n') : b ? ':1\r\n' : ':0\r\n');
  }

  /** A verbatim string (INFO, CLIENT INFO): RESP3 `=`, RESP2 a bulk string. */
  verbatim(s: string): void {
    if (this.#off()) return;
    if (this.proto !== 3) {
      this.bulk(s);
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.#header(0x3d, n + 4);
    this.#room(n + 6);
    this.#latin1('txt:');
    this.#pos += this.#buf.write(s, this.#pos, n, 'utf8');
    this.#crlf();
  }

  bulks(items: (Buffer | string)[]): void {
    this.array(items.length);
    for (const v of items) this.bulk(v);
  }

  /** Whether writes are dropped now (CLIENT REPLY OFF/SKIP, outside a push; past `limit`, which sets `overflowed`). */
  #off(): boolean {
    if (this.muted && !this.pushing) return true;
    if (this.#partBytes + this.#pos - this.#start > this.limit) this.overflowed = true;
    return this.overflowed;
  }

  /** `<prefix><n>\r\n`, n a safe integer. */
  #header(prefix: number, n: number): void {
    this.#room(24);
    const b = this.#buf;
    let p = this.#pos;
    b[p++] = prefix;
    if (n < 0) {
      b[p++] = 0x2d;
      n = -n;
    }
    // Arithmetic, not bit operations: n may pass 2^31. Up to three digits (element counts, short values) without a loop.
    if (n < 10) b[p++] = 0x30 + n;
    else if (n < 100) {
      const t = Math.floor(n / 10);
      b[p++] = 0x30 + t;
      b[p++] = 0x30 + (n - t * 10);
    } else if (n < 1000) {
      const h = Math.floor(n / 100);
      const t = Math.floor((n - h * 100) / 10);
      b[p++] = 0x30 + h;
      b[p++] = 0x30 + t;
      b[p++] = 0x30 + (n - h * 100 - t * 10);
    } else {
      let digits = 1;
      for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
      p += digits;
      for (let i = 1, t = n; i <= digits; i++) {
        const q = Math.floor(t / 10);
        b[p - i] = 0x30 + (t - q * 10);
        t = q;
      }
    }
    b[p] = 0x0d;
    b[p + 1] = 0x0a;
    this.#pos = p + 2;
  }

  #crlf(): void {
    this.#room(2);
    const p = this.#pos;
    this.#buf[p] = 0x0d;
    this.#buf[p + 1] = 0x0a;
    this.#pos = p + 2;
  }

  #byte(v: number): void {
    this.#room(1);
    this.#buf[this.#pos++] = v;
  }

  /** A latin1 string's bytes (one byte per char). */
  #latin1(s: string): void {
    const n = s.length;
    this.#room(n);
    const b = this.#buf;
    let p = this.#pos;
    if (n < SHORT) {
      for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    } else p += b.write(s, p, n, 'latin1');
    this.#pos = p;
  }

  /** Makes room for `n` more bytes at `#pos`, in a new chunk when this one is short of it. */
  #room(n: number): void {
    if (this.#buf.length - this.#pos >= n) return;
    this.#close();
    if (this.#buf === EMPTY) {
      // The first room of a turn: the rest of a chunk some writer handed back.
      const pooled = CHUNKS.take(n);
      if (pooled !== undefined) {
        this.#buf = pooled.buf;
        this.#start = this.#pos = pooled.start;
        return;
      }
    } else CHUNKS.give(this.#buf, this.#pos); // filled for this reply, maybe not for a shorter one of another writer
    const size = Math.max(n, this.#next);
    this.#next = Math.min(this.#next * 2, LARGEST_CHUNK);
    this.#buf = Buffer.allocUnsafe(size);
    this.#start = 0;
    this.#pos = 0;
  }

  /** Moves the current chunk's queued bytes to the parts. */
  #close(): void {
    if (this.#pos === this.#start) return;
    this.#parts.push(this.#buf.subarray(this.#start, this.#pos));
    this.#partBytes += this.#pos - this.#start;
    this.#start = this.#pos;
  }

  /** Queues `b` as it is, after what is queued. */
  #piece(b: Buffer): void {
    this.#close();
    this.#parts.push(b);
    this.#partBytes += b.length;
  }
}
