/**
 * A progress bar on stderr for long work (import, compact, check, the demo's
 * load). On a terminal it redraws one line; otherwise it prints a line at
 * every quarter, so logs stay readable.
 */
export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #tty: boolean;
  readonly #out: NodeJS.WriteStream;
  #done = 0;
  #lastDraw = 0;
  #lastQuarter = -1;
  #finished = false;

  constructor(label: string, total: number, out: NodeJS.WriteStream = process.stderr) {
    this.#label = label;
    this.#total = Math.max(0, total);
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  /** Adds `n` units of work done. */
  tick(n = 1): void {
    this.#done = Math.min(this.#total, this.#done + n);
    const now = Date.now();
    if (this.#tty) {
      if (now - this.#lastDraw >= 100 || this.#done === this.#total) {
        this.#lastDraw = now;
        this.#out.write(`\r${this.#line()}`);
      }
    } else {
      const quarter = this.#total === 0 ? 4 : Math.floor((this.#done / this.#total) * 4);
      if (quarter > this.#lastQuarter) {
        this.#lastQuarter = quarter;
        this.#out.write(`${this.#line()}\n`);
      }
    }
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#done = this.#total;
    if (this.#tty) this.#out.write(`\r${this.#line()}\n`);
    else if (this.#lastQuarter < 4) this.#out.write(`${this.#line()}\n`);
  }

  #line(): string {
    const width = 30;
    const frac = this.#total === 0 ? 1 : this.#done / this.#total;
    const filled = Math.round(frac * width);
    const pct = String(Math.floor(frac * 100)).padStart(3);
    return `${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct}% ${this.#done}/${this.#total}`;
  }
}
