// A reader's pin: what a KVStore reader holds while it reads again because
// the writer's cleaning freed segments under it, and what the writer's
// paced cleaning looks at before each free (compact.ts). A shared lock of
// one byte far past the file's end, on the reader's own descriptor (an
// open file description lock: native/core/filelock.cc), so it needs no slot
// in the file: the kernel drops it when the reader's descriptor closes or
// its process dies, and any number of readers hold it at once. The
// protocol is in docs/durability.md ("A reader that keeps meeting frees").
import { binding } from '../core/binding';

/**
 * Takes the pin on the reader's descriptor `fd`, without waiting.
 * @returns whether it is held: false where the filesystem has no such
 *   locks, or one conflicts (the reader then reads again unpinned, as
 *   before)
 */
export function holdPin(fd: number): boolean {
  return binding.holdPin(fd, true);
}

/** Drops the pin `holdPin` took on `fd`. */
export function dropPin(fd: number): void {
  binding.holdPin(fd, false);
}

/** Whether any reader of the file open as the writer's `fd` holds the pin. */
export function readersPinned(fd: number): boolean {
  return binding.pinHeld(fd);
}
