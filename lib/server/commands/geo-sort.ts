// The two sorts of Redis's geo searches, ported so that points at equal
// distances come out in Redis's order: glibc's qsort (a merge sort, stable:
// Debian's redis-server sorts every result this way when it returns all of
// them) and Redis's pqsort (Bentley & McIlroy's quicksort that sorts only
// the part a COUNT returns; not stable). A NaN distance compares as
// "less" both ways, as Redis's comparator answers it.

/** sort_gp_asc's answer for distances a and b (sort_gp_desc negates it). */
function compare(a: number, b: number): number {
  if (a > b) return 1;
  if (a === b) return 0;
  return -1;
}

/** An element's sort key. */
interface Point {
  dist: number;
}

/** glibc's msort_with_tmp: top-down merge sort, the left run's element first on a tie. */
export function mergeSort<T extends Point>(a: T[], desc: boolean): void {
  const tmp = new Array<T>(a.length);
  const cmp = (x: T, y: T): number => (desc ? -compare(x.dist, y.dist) : compare(x.dist, y.dist));
  const sort = (lo: number, n: number): void => {
    if (n <= 1) return;
    const n1 = Math.floor(n / 2);
    let n2 = n - n1;
    sort(lo, n1);
    sort(lo + n1, n2);
    let i = lo;
    let j = lo + n1;
    let k = 0;
    let left = n1;
    while (left > 0 && n2 > 0) {
      if (cmp(a[i], a[j]) <= 0) {
        tmp[k++] = a[i++];
        left--;
      } else {
        tmp[k++] = a[j++];
        n2--;
      }
    }
    while (left-- > 0) tmp[k++] = a[i++];
    // What is left of the right run is in place already.
    for (let t = 0; t < k; t++) a[lo + t] = tmp[t];
  };
  sort(0, a.length);
}

/**
 * Redis's pqsort: sorts `a` so that its elements from `left` to `right`
 * (inclusive) are those a full sort puts there, in order; a part of the
 * array wholly outside that range is left unsorted.
 */
export function partialSort<T extends Point>(a: T[], desc: boolean, left: number, right: number): void {
  const cmp = (x: number, y: number): number => (desc ? -compare(a[x].dist, a[y].dist) : compare(a[x].dist, a[y].dist));
  const swap = (x: number, y: number): void => {
    const t = a[x];
    a[x] = a[y];
    a[y] = t;
  };
  const vecswap = (x: number, y: number, n: number): void => {
    for (let k = 0; k < n; k++) swap(x + k, y + k);
  };
  const med3 = (x: number, y: number, z: number): number =>
    cmp(x, y) < 0 ? (cmp(y, z) < 0 ? y : cmp(x, z) < 0 ? z : x) : cmp(y, z) > 0 ? y : cmp(x, z) < 0 ? x : z;
  // Whether the range [lo, lo + n) holds any of the wanted positions.
  const wanted = (lo: number, n: number): boolean => !((left < lo && right < lo) || (left >= lo + n && right >= lo + n));
  const sort = (base: number, n: number): void => {
    for (;;) {
      if (n < 7) {
        for (let m = base + 1; m < base + n; m++) for (let l = m; l > base && cmp(l - 1, l) > 0; l--) swap(l, l - 1);
        return;
      }
      let pm = base + Math.floor(n / 2);
      if (n > 7) {
        let pl = base;
        let pn = base + n - 1;
        if (n > 40) {
          const d = Math.floor(n / 8);
          pl = med3(pl, pl + d, pl + 2 * d);
          pm = med3(pm - d, pm, pm + d);
          pn = med3(pn - 2 * d, pn - d, pn);
        }
        pm = med3(pl, pm, pn);
      }
      swap(base, pm);
      let pa = base + 1;
      let pb = pa;
      let pc = base + n - 1;
      let pd = pc;
      for (;;) {
        let r: number;
        while (pb <= pc && (r = cmp(pb, base)) <= 0) {
          if (r === 0) swap(pa++, pb);
          pb++;
        }
        while (pb <= pc && (r = cmp(pc, base)) >= 0) {
          if (r === 0) swap(pc, pd--);
          pc--;
        }
        if (pb > pc) break;
        swap(pb++, pc--);
      }
      const pn = base + n;
      let r = Math.min(pa - base, pb - pa);
      vecswap(base, pb - r, r);
      r = Math.min(pd - pc, pn - pd - 1);
      vecswap(pb, pn - r, r);
      if ((r = pb - pa) > 1 && wanted(base, r)) sort(base, r);
      if ((r = pd - pc) > 1) {
        base = pn - r;
        n = r;
        if (wanted(base, n)) continue;
      }
      return;
    }
  };
  sort(0, a.length);
}
