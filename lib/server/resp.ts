// RESP, the Redis serialization protocol: a request parser with limits (the
// replies are reply.ts's). The parser never holds more than one request's
// bytes plus one read's worth, and refuses sizes over its limits before it
// buffers them.

/** What a parser accepts; a request past a limit is a protocol error. */
export interface RespLimits {
  /** Largest bulk string of a request, in bytes. */
  maxBulk: number;
  /** Most arguments in one request. */
  maxArgs: number;
  /** Longest inline (telnet-style) request line, in bytes. */
  maxInline: number;
}

export const DEFAULT_LIMITS: RespLimits = { maxBulk: 64 * 1024 * 1024, maxArgs: 1024 * 1024, maxInline: 64 * 1024 };

/**
 * Redis 7.0's limits on a client that must still authenticate: a request of
 * at most 10 arguments, a bulk of at most 16384 bytes, so that a peer
 * without the password cannot make the server buffer more than that per
 * request. Inline requests are not limited so (nor in Redis): `maxInline`
 * bounds them for every client.
 */
export const UNAUTH_MAX_ARGS = 10;
export const UNAUTH_MAX_BULK = 16384;

/** Redis's own bound on a request's count (INT_MAX): a count past it is invalid, whether or not the client has authenticated. */
const INT_MAX = 2147483647;

/** A request that breaks the protocol: its reply is `-ERR Protocol error: <message>`, then the connection closes. */
export class ProtocolError extends Error {}

const CR = 13;
const LF = 10;
/** Bulks at least this long are copied into one buffer of their size as they arrive, not joined at the end. */
const BIG_BULK = 32 * 1024;
/**
 * What an argument read of an incomplete request costs in the heap beyond
 * its bytes (its Buffer view and its slot: 113 bytes measured on Node 20),
 * counted in `buffered`: a request of a million empty arguments holds over
 * 100 MB, not 0, and the server's input limit sees it.
 */
export const ARG_COST = 128;

/**
 * An incremental RESP request parser. `push` a chunk as it arrives, then
 * call `next()` until it returns null (more bytes needed). Each request is
 * an array of Buffers. @throws ProtocolError from `next()`
 */
export class RespParser {
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  /**
   * When not null, `#buf` is `#store.subarray(0, n)` and the rest of
   * `#store` is room for the next chunks: bytes are appended there, never
   * over ones already handed out as arguments.
   */
  #store: Buffer | null = null;
  /** Arguments still expected of the request being read (-1: between requests). */
  #remaining = -1;
  /** The request's arguments, allocated at its header's count, and how many are read. */
  #args: Buffer[] = [];
  #filled = 0;
  /** A big bulk being filled: its buffer (length + CRLF) and bytes so far. */
  #big: Buffer | null = null;
  #bigFilled = 0;
  /** The bulk length read from a header whose bytes have not all arrived yet (-1: none). */
  #bulkLen = -1;

  /**
   * Whether the client must still authenticate (Redis's authRequired()),
   * asked when a header is read. A request after an AUTH in the same
   * pipeline is read as from an authenticated client, since the server
   * calls `next()` for a request only once the one ahead of it has run.
   */
  readonly #authRequired: () => boolean;

  constructor(readonly limits: RespLimits = DEFAULT_LIMITS, authRequired: () => boolean = () => false) {
    this.#authRequired = authRequired;
  }

  /** Bytes of the arguments already read of the request not yet complete, ARG_COST more each. */
  #argBytes = 0;

  /** Bytes held for requests not yet complete: unparsed bytes, and the arguments read of an incomplete request (with their heap cost, ARG_COST each). */
  get buffered(): number {
    return this.#buf.length - this.#pos + this.#bigFilled + this.#argBytes;
  }

  push(chunk: Buffer): void {
    if (this.#big !== null) {
      const take = Math.min(chunk.length, this.#big.length - this.#bigFilled);
      chunk.copy(this.#big, this.#bigFilled, 0, take);
      this.#bigFilled += take;
      chunk = chunk.subarray(take);
      if (chunk.length === 0) return;
    }
    const used = this.#buf.length;
    if (this.#pos >= used) {
      this.#buf = chunk;
      this.#pos = 0;
      this.#store = null;
      return;
    }
    if (this.#store !== null && used + chunk.length <= this.#store.length) {
      chunk.copy(this.#store, used);
      this.#buf = this.#store.subarray(0, used + chunk.length);
      return;
    }
    // The unread bytes and the chunk into a new buffer: as large as they
    // are the first time (a request cut by a read's end, the common case,
    // is then parsed whole and the buffer dropped), with as much room again
    // after that, so that requests that wait unparsed (a blocked client's)
    // are copied O(their size) times in all, not once per chunk.
    const unread = used - this.#pos;
    const need = unread + chunk.length;
    const store = Buffer.allocUnsafe(this.#store === null ? need : 2 * need);
    this.#buf.copy(store, 0, this.#pos, used);
    chunk.copy(store, unread);
    this.#store = store;
    this.#buf = store.subarray(0, need);
    this.#pos = 0;
  }

  /** The next complete request, or null. Empty inline lines are skipped. */
  next(): Buffer[] | null {
    for (;;) {
      if (this.#remaining < 0) {
        if (this.#pos >= this.#buf.length) return null;
        if (this.#buf[this.#pos] !== 0x2a /* '*' */) {
          const inline = this.#inline();
          if (inline === null) return null;
          if (inline.length === 0) continue;
          return inline;
        }
        const n = this.#header(0x2a);
        if (n === null) return null;
        // In Redis's order: a count past INT_MAX is invalid, then one past 10
        // before AUTH is refused, then pmem's own (lower) maxArgs applies.
        if (n > INT_MAX) throw new ProtocolError('invalid multibulk length');
        if (n > UNAUTH_MAX_ARGS && this.#authRequired()) throw new ProtocolError('unauthenticated multibulk length');
        if (n > this.limits.maxArgs) throw new ProtocolError('invalid multibulk length');
        if (n <= 0) continue; // `*0` and `*-1` are empty requests, skipped as Redis does
        this.#remaining = n;
        // Sized at once for a usual request; a huge count is grown as its arguments arrive, not trusted up front.
        this.#args = n <= 64 ? new Array<Buffer>(n) : [];
        this.#filled = 0;
      }
      while (this.#remaining > 0) {
        const arg = this.#bulk();
        if (arg === null) return null;
        this.#args[this.#filled++] = arg;
        this.#argBytes += arg.length + ARG_COST;
        this.#remaining--;
      }
      this.#remaining = -1;
      this.#argBytes = 0;
      const out = this.#args;
      this.#args = [];
      return out;
    }
  }

  /**
   * A `<prefix><integer>\r\n` line's integer, or null until the line is
   * complete. Read as Redis 7.0 reads it: the line ends at its first CR
   * (an LF alone does not end it, and so is read as part of the integer),
   * and the byte after the CR is taken as its LF without a look. A line
   * that has no CR past 64 KiB (`maxInline`) is refused.
   */
  #header(prefix: number): number | null {
    const b = this.#buf;
    const pos = this.#pos;
    // A header is a few bytes: looked for here before asking indexOf to search the whole buffer.
    let end = -1;
    for (let j = pos, stop = Math.min(b.length, pos + 24); j < stop; j++) {
      if (b[j] === CR) {
        end = j;
        break;
      }
    }
    if (end < 0) end = b.indexOf(CR, pos);
    if (end < 0) {
      if (b.length - pos > this.limits.maxInline) {
        throw new ProtocolError(prefix === 0x2a ? 'too big mbulk count string' : 'too big bulk count string');
      }
      return null;
    }
    if (end + 1 >= b.length) return null; // the LF after the CR has not arrived
    if (b[pos] !== prefix) {
      throw new ProtocolError(`expected '${String.fromCharCode(prefix)}', got '${String.fromCharCode(b[pos])}'`);
    }
    this.#pos = end + 2;
    const n = string2ll(b, pos + 1, end);
    if (n === null) throw new ProtocolError(prefix === 0x2a ? 'invalid multibulk length' : 'invalid bulk length');
    return n;
  }

  /** The next bulk argument, or null until it is complete. */
  #bulk(): Buffer | null {
    if (this.#big !== null) {
      if (this.#bigFilled < this.#big.length) return null;
      const big = this.#big;
      this.#big = null;
      this.#bigFilled = 0;
      if (big[big.length - 2] !== CR || big[big.length - 1] !== LF) throw new ProtocolError('bulk not terminated by CRLF');
      return big.subarray(0, big.length - 2);
    }
    let len = this.#bulkLen;
    if (len < 0) {
      if (this.#pos >= this.#buf.length) return null;
      const n = this.#header(0x24 /* '$' */);
      if (n === null) return null;
      if (n < 0 || n > this.limits.maxBulk) throw new ProtocolError('invalid bulk length');
      if (n > UNAUTH_MAX_BULK && this.#authRequired()) throw new ProtocolError('unauthenticated bulk length');
      len = n;
      if (len >= BIG_BULK) {
        // Allocated once at its size: a bulk arriving in many reads is copied once.
        const big = Buffer.allocUnsafe(len + 2);
        const have = Math.min(this.#buf.length - this.#pos, big.length);
        this.#buf.copy(big, 0, this.#pos, this.#pos + have);
        this.#pos += have;
        this.#big = big;
        this.#bigFilled = have;
        return this.#bulk();
      }
    }
    if (this.#buf.length - this.#pos < len + 2) {
      this.#bulkLen = len;
      return null;
    }
    this.#bulkLen = -1;
    const b = this.#buf;
    if (b[this.#pos + len] !== CR || b[this.#pos + len + 1] !== LF) throw new ProtocolError('bulk not terminated by CRLF');
    const arg = b.subarray(this.#pos, this.#pos + len);
    this.#pos += len + 2;
    return arg;
  }

  /** An inline request: a line split into arguments as redis-cli and telnet send them. */
  #inline(): Buffer[] | null {
    const b = this.#buf;
    const end = b.indexOf(LF, this.#pos);
    if (end < 0) {
      if (b.length - this.#pos > this.limits.maxInline) throw new ProtocolError('too big inline request');
      return null;
    }
    if (end - this.#pos > this.limits.maxInline) throw new ProtocolError('too big inline request');
    const line = b.subarray(this.#pos, end > this.#pos && b[end - 1] === CR ? end - 1 : end);
    this.#pos = end + 1;
    const args = splitArgs(line);
    if (args === null) throw new ProtocolError('unbalanced quotes in request');
    return args;
  }
}

const I64_MAX = '9223372036854775807';
const I64_MIN = '9223372036854775808';

/**
 * The integer of `b[start, end)` as Redis's string2ll reads it, or null:
 * an optional '-', then 0 alone or a first digit 1-9 (no '+', no leading
 * zero, no "-0"), within a signed 64-bit integer. Past 2^53 the value is
 * rounded, which no limit it is compared with can tell apart.
 */
function string2ll(b: Buffer, start: number, end: number): number | null {
  if (end - start === 1 && b[start] === 0x30) return 0;
  const negative = b[start] === 0x2d;
  const first = negative ? start + 1 : start;
  const digits = end - first;
  if (digits < 1 || digits > 19 || b[first] < 0x31 || b[first] > 0x39) return null;
  let n = 0;
  for (let i = first; i < end; i++) {
    const d = b[i] - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  // 19 digits may be past the range: compared as text, which for equal lengths orders as the numbers do.
  if (digits === 19 && b.toString('latin1', first, end) > (negative ? I64_MIN : I64_MAX)) return null;
  return negative ? -n : n;
}

const HEX = /^[0-9a-fA-F]{2}$/;

/** C's isspace: what sdssplitargs skips between arguments, and what must follow a closing quote. */
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
/** What ends an unquoted argument in sdssplitargs: fewer bytes than isspace (a \v or \f is part of the argument). */
const endsWord = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * A line split as Redis's sdssplitargs does: blanks, "double quotes" with
 * escapes, 'single quotes'. Null when unbalanced. A NUL is a byte like
 * another (Redis never gives sdssplitargs a line holding one).
 */
export function splitArgs(line: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isSpace(line[i])) i++;
    if (i >= n) break;
    const cur: number[] = [];
    let inDq = false;
    let inSq = false;
    for (;;) {
      if (inDq) {
        if (i >= n) return null;
        const c = line[i];
        if (c === 0x5c && i + 3 < n && line[i + 1] === 0x78 && HEX.test(line.toString('latin1', i + 2, i + 4))) {
          cur.push(parseInt(line.toString('latin1', i + 2, i + 4), 16));
          i += 3;
        } else if (c === 0x5c && i + 1 < n) {
          i++;
          const e = line[i];
          cur.push(e === 0x6e ? 10 : e === 0x72 ? 13 : e === 0x74 ? 9 : e === 0x62 ? 8 : e === 0x61 ? 7 : e);
        } else if (c === 0x22) {
          if (i + 1 < n && !isSpace(line[i + 1])) return null;
          inDq = false;
          i++;
          break;
        } else cur.push(c);
        i++;
      } else if (inSq) {
        if (i >= n) return null;
        const c = line[i];
        if (c === 0x5c && i + 1 < n && line[i + 1] === 0x27) {
          cur.push(0x27);
          i += 2;
          continue;
        }
        if (c === 0x27) {
          if (i + 1 < n && !isSpace(line[i + 1])) return null;
          inSq = false;
          i++;
          break;
        }
        cur.push(c);
        i++;
      } else {
        if (i >= n || endsWord(line[i])) break;
        const c = line[i];
        if (c === 0x22) inDq = true;
        else if (c === 0x27) inSq = true;
        else cur.push(c);
        i++;
      }
    }
    out.push(Buffer.from(cur));
  }
  return out;
}
