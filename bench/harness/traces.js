'use strict';
// Seeded request traces for bench/cache.js, generated here (no downloads):
// key ids in an Int32Array, one per request.

// mulberry32, the generator pmem/testing uses for crash images and kills.
const { seededRandom: rng } = require('../../dist/testing');

/** A seeded permutation of 0..n-1: which key id has popularity rank r. */
function permutation(n, seed) {
  const next = rng(seed);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/**
 * `requests` draws of Zipf(alpha) over `keys` keys: rank r (from 1) with
 * probability proportional to r^-alpha, by binary search in the CDF; ranks
 * are mapped to key ids by a seeded permutation.
 */
function zipf(keys, requests, alpha, seed) {
  const cdf = new Float64Array(keys);
  let sum = 0;
  for (let r = 0; r < keys; r++) {
    sum += (r + 1) ** -alpha;
    cdf[r] = sum;
  }
  for (let r = 0; r < keys; r++) cdf[r] /= sum;
  const perm = permutation(keys, seed ^ 0x5bd1e995);
  const next = rng(seed);
  const out = new Int32Array(requests);
  for (let i = 0; i < requests; i++) {
    const u = next();
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = perm[lo];
  }
  return out;
}

/** `requests` requests cycling over keys 0..span-1 in order. */
function loop(span, requests) {
  const out = new Int32Array(requests);
  for (let i = 0; i < requests; i++) out[i] = i % span;
  return out;
}

/**
 * A Zipf trace with one full scan of every key, in order, inserted at
 * `at` (a fraction of the Zipf requests). Returns the trace and where the
 * scan begins and ends.
 */
function scanPolluted(keys, requests, alpha, seed, at = 0.5) {
  const z = zipf(keys, requests, alpha, seed);
  const start = Math.floor(requests * at);
  const out = new Int32Array(requests + keys);
  out.set(z.subarray(0, start), 0);
  for (let i = 0; i < keys; i++) out[start + i] = i;
  out.set(z.subarray(start), start + keys);
  return { trace: out, scanStart: start, scanEnd: start + keys };
}

module.exports = { rng, zipf, loop, scanPolluted };
