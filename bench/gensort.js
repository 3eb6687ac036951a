'use strict';
// A seeded generator of sort benchmark inputs, in the layout of gensort
// (the Sort Benchmark's generator: 100-byte records with 10-byte keys), and
// a text corpus of words and numbers. The same seed gives the same bytes.
//
//   ascii:  10 printable key bytes, 2 spaces, the record number as 32 hex
//           digits, 2 spaces, 52 filler letters, "\r\n" (gensort -a)
//   binary: 10 random key bytes, 00 11, the record number as 32 hex
//           digits, 88 99 AA BB, 48 filler letters, CC DD EE FF (gensort)
//   text:   lines of 1..8 words and numbers, separated by spaces
//
//   node bench/gensort.js <ascii|binary|text> <bytes> <file> [seed]

const fs = require('node:fs');

const RECORD = 100;

/** xorshift32 over a seed: a byte stream that is fast and reproducible. */
function bytesFrom(seed) {
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const HEX = '0123456789ABCDEF';

function record(buf, at, row, next, binary) {
  for (let i = 0; i < 10; i++) buf[at + i] = binary ? next() & 0xff : 32 + (next() % 95);
  let p = at + 10;
  if (binary) {
    buf[p++] = 0x00;
    buf[p++] = 0x11;
  } else {
    buf[p++] = 32;
    buf[p++] = 32;
  }
  let r = row;
  for (let i = 31; i >= 0; i--) {
    buf[p + i] = HEX.charCodeAt(r % 16);
    r = Math.floor(r / 16);
  }
  p += 32;
  if (binary) {
    for (const b of [0x88, 0x99, 0xaa, 0xbb]) buf[p++] = b;
  } else {
    buf[p++] = 32;
    buf[p++] = 32;
  }
  const filler = binary ? 48 : 52;
  for (let i = 0; i < filler; i++) buf[p++] = 65 + ((row + Math.floor(i / 4)) % 26);
  if (binary) for (const b of [0xcc, 0xdd, 0xee, 0xff]) buf[p++] = b;
  else {
    buf[p++] = 13;
    buf[p++] = 10;
  }
}

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'pmem', 'sort', 'merge', 'run', 'Zeta', 'omega', 'x', 'café', 'naïve', '-', 'tab\there'];

/** Writes `bytes` bytes of `kind` to `file` (text: whole lines, about `bytes`). */
function generate(kind, bytes, file, seed = 1) {
  const next = bytesFrom(seed);
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
  try {
    if (kind === 'ascii' || kind === 'binary') {
      const records = Math.floor(bytes / RECORD);
      const perChunk = Math.floor(chunk.length / RECORD);
      for (let row = 0; row < records; row += perChunk) {
        const n = Math.min(perChunk, records - row);
        for (let i = 0; i < n; i++) record(chunk, i * RECORD, row + i, next, kind === 'binary');
        fs.writeSync(fd, chunk, 0, n * RECORD);
      }
    } else if (kind === 'text') {
      let written = 0;
      while (written < bytes) {
        const lines = [];
        let len = 0;
        while (len < 1024 * 1024 && written + len < bytes) {
          const words = 1 + (next() % 8);
          const parts = [];
          for (let w = 0; w < words; w++) {
            const r = next();
            parts.push(r % 3 === 0 ? String((r >>> 8) % 100000 - 20000) : WORDS[(r >>> 4) % WORDS.length] + ((r >>> 12) % 1000));
          }
          const line = parts.join(' ');
          lines.push(line);
          len += Buffer.byteLength(line) + 1;
        }
        const b = Buffer.from(lines.join('\n') + '\n');
        fs.writeSync(fd, b);
        written += b.length;
      }
    } else {
      throw new Error(`kind must be ascii, binary or text, got ${kind}`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

module.exports = { generate, bytesFrom, RECORD };

if (require.main === module) {
  const [kind, bytes, file, seed] = process.argv.slice(2);
  if (!kind || !bytes || !file) {
    process.stderr.write('usage: node bench/gensort.js <ascii|binary|text> <bytes> <file> [seed]\n');
    process.exit(2);
  }
  generate(kind, Number(bytes), file, seed === undefined ? 1 : Number(seed));
}
