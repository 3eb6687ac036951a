// Redis's glob-style pattern match (stringmatchlen): *, ?, [abc], [^a-z], \x.
// Used by KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET.

/**
 * Whether `s` matches pattern `p`, byte by byte; `nocase` folds ASCII case.
 * An empty string matches only the empty pattern, as in Redis, whose loop
 * runs while string bytes are left: not `*` nor `**`. (KEYS and the SCANs
 * take a MATCH of exactly `*` as no pattern at all, and so return an empty
 * key or element: their callers' part.)
 */
export function globMatch(p: Buffer, s: Buffer, nocase = false): boolean {
  if (s.length === 0) return p.length === 0;
  return match(p, 0, s, 0, nocase, 0, { skipLonger: false });
}

const lower = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c);

/**
 * `state.skipLonger`: a * that ran to the end of the string without a match
 * means no later start can match either (Redis's skipLongerMatches), which
 * keeps patterns like a*a*a*...b linear instead of exponential.
 */
function match(p: Buffer, pi: number, s: Buffer, si: number, nocase: boolean, depth: number, state: { skipLonger: boolean }): boolean {
  // Deep nesting of * is cut off, as Redis does, so a hostile pattern cannot take the server.
  if (depth > 1000) return false;
  while (pi < p.length && si <= s.length) {
    const c = p[pi];
    if (c === 0x2a /* * */) {
      while (pi + 1 < p.length && p[pi + 1] === 0x2a) pi++;
      if (pi + 1 === p.length) return true;
      for (let k = si; k < s.length; k++) {
        if (match(p, pi + 1, s, k, nocase, depth + 1, state)) return true;
        if (state.skipLonger) return false;
      }
      state.skipLonger = true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === 0x3f /* ? */) {
      si++;
      pi++;
      continue;
    }
    if (c === 0x5b /* [ */) {
      pi++;
      const not = p[pi] === 0x5e;
      if (not) pi++;
      let found = false;
      for (;;) {
        if (pi >= p.length) {
          pi--;
          break;
        }
        if (p[pi] === 0x5c && pi + 2 < p.length) {
          pi++;
          if (p[pi] === s[si]) found = true;
        } else if (p[pi] === 0x5d) break;
        else if (pi + 2 < p.length && p[pi + 1] === 0x2d) {
          let a = p[pi];
          let b = p[pi + 2];
          let x = s[si];
          if (a > b) [a, b] = [b, a];
          if (nocase) {
            a = lower(a);
            b = lower(b);
            x = lower(x);
          }
          pi += 2;
          if (x >= a && x <= b) found = true;
        } else if (nocase ? lower(p[pi]) === lower(s[si]) : p[pi] === s[si]) found = true;
        pi++;
      }
      if (not) found = !found;
      if (!found) return false;
      si++;
      pi++;
      continue;
    }
    let lit = c;
    if (c === 0x5c && pi + 1 < p.length) lit = p[++pi];
    if (nocase ? lower(lit) !== lower(s[si]) : lit !== s[si]) return false;
    si++;
    pi++;
  }
  while (pi < p.length && p[pi] === 0x2a) pi++;
  return pi === p.length && si === s.length;
}

/**
 * A SCAN's MATCH argument: exactly `*` is no pattern (null), as Redis's
 * scanGenericCommand reads it, so that an empty key or element is returned.
 */
export function matchArg(p: Buffer): Buffer | null {
  return p.length === 1 && p[0] === 0x2a ? null : p;
}
