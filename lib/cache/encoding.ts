// How values are turned into bytes for the PMem tier and back.
import { isUtf8 } from 'node:buffer';

import { viewLength } from '../core/args';
import { PmemError } from '../core/errors';

/**
 * - `'buffer'`: values are Buffers or Uint8Arrays; `get` returns a Buffer;
 * - `'utf8'`: values are well-formed strings (no lone surrogate);
 * - `'json'`: values are anything `JSON.stringify` takes and gives back a
 *   string for (not `undefined`, functions or symbols at the top).
 */
export type CacheEncoding = 'buffer' | 'utf8' | 'json';

export const ENCODINGS: readonly CacheEncoding[] = ['buffer', 'utf8', 'json'];

/** The on-media tag of each encoding (formats.md, "Tiered cache"). */
export const ENCODING_TAG: Record<CacheEncoding, number> = { buffer: 0, utf8: 1, json: 2 };
/** The encoding of each tag. */
export const TAG_ENCODING: readonly CacheEncoding[] = ['buffer', 'utf8', 'json'];

// String.prototype.isWellFormed (Node 20's V8; ES2024, past the lib this package compiles against).
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

/**
 * @throws TypeError unless `key` is a well-formed string (the cache's keys
 *   are). A lone surrogate has no UTF-8 form: its bytes on PMem would read
 *   back as U+FFFD, another key, and two such keys as one.
 */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string') throw new TypeError(`key must be a string, got ${typeof key}`);
  if (!isWellFormed.call(key)) throw new TypeError('key must be a well-formed string: a lone surrogate has no UTF-8 form');
  return key;
}

/**
 * The bytes of `value` in `encoding`, read once: a Buffer is copied, so
 * that later changes by the caller do not reach the cache.
 * @throws TypeError for a value the encoding cannot take
 */
export function encodeValue(value: unknown, encoding: CacheEncoding): Buffer {
  switch (encoding) {
    case 'buffer':
      if (!(value instanceof Uint8Array)) throw new TypeError('value must be a Buffer or Uint8Array with the buffer encoding');
      // Empty, or a view of a detached buffer, which viewLength refuses.
      if (value.length === 0) viewLength(value, 'value');
      return Buffer.from(new Uint8Array(value));
    case 'utf8':
      if (typeof value !== 'string') throw new TypeError(`value must be a string with the utf8 encoding, got ${typeof value}`);
      // Its bytes would read back with U+FFFD in place of the surrogate.
      if (!isWellFormed.call(value)) throw new TypeError('value must be a well-formed string with the utf8 encoding: a lone surrogate has no UTF-8 form');
      return Buffer.from(value, 'utf8');
    case 'json': {
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch (e) {
        // JSON.stringify's own refusals (a cycle, a BigInt) are TypeErrors;
        // anything else was thrown by the caller's code (a toJSON, a
        // getter: an abort, a call into a closed cache) and is theirs, as
        // it was thrown.
        if (!(e instanceof TypeError)) throw e;
        throw new TypeError(`value cannot be stored as JSON: ${e.message}`, { cause: e });
      }
      if (typeof text !== 'string') throw new TypeError('value cannot be stored as JSON');
      return Buffer.from(text, 'utf8');
    }
  }
}

/**
 * The value that `encodeValue` gave `bytes` for; `bytes` is a view the caller may not keep.
 * @throws PmemError ERR_PMEM_CORRUPT for utf8 or json bytes that are not
 *   UTF-8, or json bytes that do not parse: encodeValue never writes such
 *   bytes, so their record was damaged under a checksum that holds
 */
export function decodeValue(bytes: Buffer, encoding: CacheEncoding): unknown {
  switch (encoding) {
    case 'buffer':
      return Buffer.from(bytes);
    case 'utf8':
      // encodeValue writes a well-formed string's UTF-8 only.
      if (!isUtf8(bytes)) throw new PmemError('ERR_PMEM_CORRUPT', 'a utf8 value on PMem is not UTF-8 (damaged media?)');
      return bytes.toString('utf8');
    case 'json':
      // JSON.stringify's text is well-formed (a lone surrogate escaped).
      if (!isUtf8(bytes)) throw new PmemError('ERR_PMEM_CORRUPT', 'a json value on PMem is not UTF-8 (damaged media?)');
      try {
        return JSON.parse(bytes.toString('utf8'));
      } catch (e) {
        throw new PmemError('ERR_PMEM_CORRUPT', `a json value on PMem does not parse (damaged media?): ${(e as Error).message}`);
      }
  }
}
