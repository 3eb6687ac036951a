// LCS: the longest common subsequence of two strings (Redis 7.0's, with
// LEN, IDX, MINMATCHLEN and WITHMATCHLEN).
import { ReplyError, SYNTAX, type Client } from '../client';
import { TYPE_STRING } from '../records';
import type { RespServer } from '../server';
import { intArg, keyArg, word } from './args';

/** LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN] */
export function lcs(s: RespServer, c: Client, argv: Buffer[]): void {
  // The keys' types before the options, as Redis reads them.
  const get1 = (k: Buffer): Buffer => {
    const v = s.keyspace.get(c.db, keyArg(k));
    if (v === undefined) return Buffer.alloc(0);
    if (v.type !== TYPE_STRING) throw new ReplyError('ERR The specified keys must contain string values');
    return v.value;
  };
  const a = get1(argv[1]);
  const b = get1(argv[2]);
  let len = false;
  let idx = false;
  let withLen = false;
  let minLen = 0;
  for (let i = 3; i < argv.length; i++) {
    const w = word(argv[i]);
    if (w === 'len') len = true;
    else if (w === 'idx') idx = true;
    else if (w === 'withmatchlen') withLen = true;
    else if (w === 'minmatchlen' && i + 1 < argv.length) {
      minLen = Math.max(0, intArg(argv[++i]));
    } else throw new ReplyError(SYNTAX);
  }
  if (len && idx) throw new ReplyError('ERR If you want both the length and indexes, please just use IDX.');
  const alen = a.length;
  const blen = b.length;
  if ((alen + 1) * (blen + 1) > 64 * 1024 * 1024) throw new ReplyError('ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len');
  const w = blen + 1;
  const t = new Uint32Array((alen + 1) * w);
  for (let i = 1; i <= alen; i++) {
    for (let j = 1; j <= blen; j++) {
      t[i * w + j] = a[i - 1] === b[j - 1] ? t[(i - 1) * w + j - 1] + 1 : Math.max(t[(i - 1) * w + j], t[i * w + j - 1]);
    }
  }
  const total = t[alen * w + blen];
  if (len) {
    c.out.int(total);
    return;
  }
  // Walk back from the end, as Redis does, collecting the string and the ranges.
  const out = Buffer.alloc(total);
  let k = total;
  let i = alen;
  let j = blen;
  const matches: [number, number, number, number][] = [];
  let cur: [number, number, number, number] | null = null;
  while (i > 0 && j > 0) {
    if (a[i - 1] === b[j - 1]) {
      out[--k] = a[i - 1];
      if (cur !== null && cur[0] === i && cur[2] === j) {
        cur[0] = i - 1;
        cur[2] = j - 1;
      } else {
        if (cur !== null) matches.push(cur);
        cur = [i - 1, i - 1, j - 1, j - 1];
      }
      i--;
      j--;
    } else if (t[(i - 1) * w + j] > t[i * w + j - 1]) i--;
    else j--;
  }
  if (cur !== null) matches.push(cur);
  if (!idx) {
    c.out.bulk(out);
    return;
  }
  const kept = matches.filter((m) => m[1] - m[0] + 1 >= minLen);
  c.out.map(2);
  c.out.bulk('matches');
  c.out.array(kept.length);
  for (const m of kept) {
    c.out.array(withLen ? 3 : 2);
    c.out.array(2);
    c.out.int(m[0]);
    c.out.int(m[1]);
    c.out.array(2);
    c.out.int(m[2]);
    c.out.int(m[3]);
    if (withLen) c.out.int(m[1] - m[0] + 1);
  }
  c.out.bulk('len');
  c.out.int(total);
}
