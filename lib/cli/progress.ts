/**
 * A progress bar on stderr for long work (import, compact, check, the demo's
 * load). It draws only on a terminal, redrawing one line; a log file or a
 * pipe gets nothing, so output captured by scripts holds only results.
 * Writes to a closed terminal are dropped: drawing never fails the work.
 */
export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #out: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>;
  readonly #draw: boolean;
  readonly #bytes: boolean;
  readonly #start = Date.now();
  #done = 0;
  #lastDraw = 0;
  #finished = false;

  /** With `bytes`, the counts are shown in MiB and followed by an estimate of the time left. */
  constructor(label: string, total: number, out: Pick<NodeJS.WriteStream, 'write' | 'isTTY'> = process.stderr, bytes = false) {
    this.#label = label;
    this.#bytes = bytes;
    this.#total = Math.max(0, total);
    this.#out = out;
    this.#draw = out.isTTY === true;
  }

  /** Adds `n` units of work done. */
  tick(n = 1): void {
    this.#done = Math.min(this.#total, this.#done + n);
    if (!this.#draw) return;
    const now = Date.now();
    if (now - this.#lastDraw >= 100 || this.#done === this.#total) {
      this.#lastDraw = now;
      this.#write(`\r${this.#line()}`);
    }
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#done = this.#total;
    if (this.#draw) this.#write(`\r${this.#line()}\n`);
  }

  /**
   * Ends the line where the work stopped short (a failure, a signal), so
   * that the message after it starts on a line of its own and the bar does
   * not say 100%. Nothing after finish().
   */
  stop(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#draw) this.#write(`\r${this.#line()}\n`);
  }

  #write(s: string): void {
    try {
      this.#out.write(s);
    } catch {
      // A terminal that went away: the bar is decoration, the work goes on.
    }
  }

  #line(): string {
    const width = 30;
    const frac = this.#total === 0 ? 1 : this.#done / this.#total;
    const filled = Math.round(frac * width);
    const pct = String(Math.floor(frac * 100)).padStart(3);
    const bar = `${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct}%`;
    if (!this.#bytes) return `${bar} ${this.#done}/${this.#total}`;
    const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
    const elapsed = (Date.now() - this.#start) / 1000;
    const eta = frac > 0 && frac < 1 ? `, ETA ${Math.ceil((elapsed * (1 - frac)) / frac)}s` : '';
    return `${bar} ${mib(this.#done)}/${mib(this.#total)} MiB${eta}`;
  }
}
