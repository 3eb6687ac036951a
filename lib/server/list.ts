// A list's DRAM image: its values in order, each with the position its
// element record is stored under (see docs/formats.md, "Collections").
// A ring buffer, so both ends push and pop in O(1) and any index reads in
// O(1). Positions only grow towards the tail; a push takes the head's
// position less one or the tail's plus one, and an insert between two
// neighbours whose positions touch renumbers the shorter run up to the
// nearest gap. The structure changes only DRAM; it tells its caller which
// positions it used and moved, and the caller writes the records.

/** An element moved by a renumbering: its record goes from `from` to `to`. */
export interface Move {
  from: number;
  to: number;
  value: Buffer;
}

export class ListValue {
  #vals: Buffer[] = new Array<Buffer>(8);
  #pos: number[] = new Array<number>(8);
  #head = 0;
  #len = 0;

  get length(): number {
    return this.#len;
  }

  #slot(i: number): number {
    return (this.#head + i) % this.#vals.length;
  }

  #grow(): void {
    if (this.#len < this.#vals.length) return;
    const cap = this.#vals.length * 2;
    const vals = new Array<Buffer>(cap);
    const pos = new Array<number>(cap);
    for (let i = 0; i < this.#len; i++) {
      vals[i] = this.#vals[this.#slot(i)];
      pos[i] = this.#pos[this.#slot(i)];
    }
    this.#vals = vals;
    this.#pos = pos;
    this.#head = 0;
  }

  /** The value at index `i` (0 is the head); callers check the range. */
  at(i: number): Buffer {
    return this.#vals[this.#slot(i)];
  }

  /** The record position of index `i`. */
  posAt(i: number): number {
    return this.#pos[this.#slot(i)];
  }

  /** Replaces the value at `i`, keeping its position. @returns the position */
  set(i: number, v: Buffer): number {
    this.#vals[this.#slot(i)] = v;
    return this.posAt(i);
  }

  /**
   * Whether `n` more elements fit at the head (or the tail). Positions are
   * numbers: past 2^53 - 1 two neighbours would share one, and one record.
   */
  roomAt(head: boolean, n: number): boolean {
    if (this.#len === 0) return true;
    return Number.isSafeInteger(head ? this.posAt(0) - n : this.posAt(this.#len - 1) + n);
  }

  /** Adds at the head (the caller checked roomAt). @returns the new element's position */
  pushFront(v: Buffer): number {
    const p = this.#len === 0 ? 0 : this.posAt(0) - 1;
    this.#grow();
    this.#head = (this.#head + this.#vals.length - 1) % this.#vals.length;
    this.#vals[this.#head] = v;
    this.#pos[this.#head] = p;
    this.#len++;
    return p;
  }

  /** Adds at the tail (the caller checked roomAt). @returns the new element's position */
  pushBack(v: Buffer): number {
    const p = this.#len === 0 ? 0 : this.posAt(this.#len - 1) + 1;
    this.#grow();
    const s = this.#slot(this.#len);
    this.#vals[s] = v;
    this.#pos[s] = p;
    this.#len++;
    return p;
  }

  /** Appends an element read back from the store; loading adds them in position order. */
  load(pos: number, v: Buffer): void {
    this.#grow();
    const s = this.#slot(this.#len);
    this.#vals[s] = v;
    this.#pos[s] = pos;
    this.#len++;
  }

  /** Removes the head. @returns its position and value */
  popFront(): [number, Buffer] {
    const s = this.#head;
    const out: [number, Buffer] = [this.#pos[s], this.#vals[s]];
    this.#vals[s] = undefined as unknown as Buffer;
    this.#head = (this.#head + 1) % this.#vals.length;
    this.#len--;
    return out;
  }

  /** Removes the tail. @returns its position and value */
  popBack(): [number, Buffer] {
    const s = this.#slot(this.#len - 1);
    const out: [number, Buffer] = [this.#pos[s], this.#vals[s]];
    this.#vals[s] = undefined as unknown as Buffer;
    this.#len--;
    return out;
  }

  /** Removes index `i`, shifting the shorter side. @returns its position */
  removeAt(i: number): number {
    const p = this.posAt(i);
    if (i < this.#len / 2) {
      for (let j = i; j > 0; j--) {
        this.#vals[this.#slot(j)] = this.#vals[this.#slot(j - 1)];
        this.#pos[this.#slot(j)] = this.#pos[this.#slot(j - 1)];
      }
      this.popFront();
    } else {
      for (let j = i; j < this.#len - 1; j++) {
        this.#vals[this.#slot(j)] = this.#vals[this.#slot(j + 1)];
        this.#pos[this.#slot(j)] = this.#pos[this.#slot(j + 1)];
      }
      this.popBack();
    }
    return p;
  }

  /**
   * Inserts `v` so that it becomes index `i` (0 < i < length). When the
   * neighbours' positions touch, the shorter side moves one step outwards
   * up to its nearest gap (or its end), and its moves are returned.
   * @returns null, with nothing changed, when that would take a position
   *   past 2^53 - 1 (see roomAt)
   */
  insertAt(i: number, v: Buffer): { pos: number; moves: Move[] } | null {
    if (i <= 0) return this.roomAt(true, 1) ? { pos: this.pushFront(v), moves: [] } : null;
    if (i >= this.#len) return this.roomAt(false, 1) ? { pos: this.pushBack(v), moves: [] } : null;
    const moves: Move[] = [];
    let p: number;
    const before = this.posAt(i - 1);
    const after = this.posAt(i);
    if (after - before > 1) p = before + Math.floor((after - before) / 2);
    else if (i <= this.#len - i) {
      // Indexes below i move one step towards the head, from the head side's nearest gap.
      let k = i - 1;
      while (k > 0 && this.posAt(k) - this.posAt(k - 1) === 1) k--;
      if (k === 0 && !this.roomAt(true, 1)) return null; // the run reaches the head, at the first position
      for (let j = k; j < i; j++) {
        const from = this.posAt(j);
        this.#pos[this.#slot(j)] = from - 1;
        moves.push({ from, to: from - 1, value: this.at(j) });
      }
      p = after - 1;
    } else {
      let k = i;
      while (k < this.#len - 1 && this.posAt(k + 1) - this.posAt(k) === 1) k++;
      if (k === this.#len - 1 && !this.roomAt(false, 1)) return null; // the run reaches the tail, at the last position
      for (let j = k; j >= i; j--) {
        const from = this.posAt(j);
        this.#pos[this.#slot(j)] = from + 1;
        moves.push({ from, to: from + 1, value: this.at(j) });
      }
      p = before + 1;
    }
    // Room at index i: shift the tail side one slot, then place.
    this.#grow();
    for (let j = this.#len; j > i; j--) {
      this.#vals[this.#slot(j)] = this.#vals[this.#slot(j - 1)];
      this.#pos[this.#slot(j)] = this.#pos[this.#slot(j - 1)];
    }
    this.#vals[this.#slot(i)] = v;
    this.#pos[this.#slot(i)] = p;
    this.#len++;
    return { pos: p, moves };
  }

  /** Values from index `start` to `end` inclusive (callers clamp). */
  slice(start: number, end: number): Buffer[] {
    const out: Buffer[] = [];
    for (let i = start; i <= end; i++) out.push(this.at(i));
    return out;
  }

  /** Every value, head first. */
  values(): Buffer[] {
    return this.#len === 0 ? [] : this.slice(0, this.#len - 1);
  }
}
