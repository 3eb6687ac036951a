/** Largest ArrayBuffer Node 20 can hold, and so the largest single view. */
export const MAX_VIEW = 2 ** 32;
/**
 * Ranges larger than MAX_VIEW are seen through windows that start every
 * WINDOW_STRIDE bytes and span two strides, so that any range of at most one
 * stride lies wholly inside the window where it starts.
 */
export const WINDOW_STRIDE = 2 ** 30;

/**
 * Buffers over a native range (a mapping, a pool), each window created once
 * by `make` and sliced afterwards: never one ArrayBuffer per view. Callers
 * check ranges first; native code checks them again.
 */
export class Windows {
  readonly #length: number;
  readonly #noun: string;
  readonly #make: (start: number, span: number) => ArrayBuffer;
  #windows: Buffer[] = [];

  /** `noun` names the range in errors: 'mapping', 'pool'. */
  constructor(length: number, noun: string, make: (start: number, span: number) => ArrayBuffer) {
    this.#length = length;
    this.#noun = noun;
    this.#make = make;
  }

  /** The whole range as one Buffer; a RangeError over 4 GiB. */
  whole(): Buffer {
    if (this.#length > MAX_VIEW) {
      throw new RangeError(`a ${this.#length}-byte ${this.#noun} is larger than one Buffer can be (4 GiB); use view()`);
    }
    return this.#window(0);
  }

  /** A Buffer over [offset, offset + length); at most 1 GiB long over 4 GiB. */
  view(offset: number, length: number): Buffer {
    if (this.#length <= MAX_VIEW) return this.#window(0).subarray(offset, offset + length);
    if (length > WINDOW_STRIDE) {
      throw new RangeError(`views of ${this.#noun}s over 4 GiB are at most 1 GiB long, got ${length}`);
    }
    // The window the range starts in; at the very end of a range that is a
    // whole number of strides no window starts, and the last one ends there.
    const k = Math.min(Math.floor(offset / WINDOW_STRIDE), Math.floor((this.#length - 1) / WINDOW_STRIDE));
    const start = k * WINDOW_STRIDE;
    return this.#window(k).subarray(offset - start, offset - start + length);
  }

  /** Forgets every window (after the native side detached them). */
  clear(): void {
    this.#windows = [];
  }

  #window(k: number): Buffer {
    let w = this.#windows[k];
    if (w === undefined) {
      const start = k * WINDOW_STRIDE;
      const span = this.#length <= MAX_VIEW ? this.#length : Math.min(2 * WINDOW_STRIDE, this.#length - start);
      w = Buffer.from(this.#make(start, span));
      this.#windows[k] = w;
    }
    return w;
  }
}
