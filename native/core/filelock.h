// Advisory whole-file locks (flock(2)): one writer, or any number of
// read-only opens. KVStore takes one per open file.
//
// lockFile(path, exclusive, create) -> { release() }: the lock is a handle
// that is released by release(), by its finalizer when the handle is
// collected, and by the environment's cleanup hook when a worker exits,
// whichever comes first. The kernel also drops it when the process dies, so
// a SIGKILLed holder never leaves a stale lock behind. `fd` is the locked
// descriptor (read-only), through which the opener reads the file's
// signature before anything maps it; release() closes it.
//
// openFile(path) -> { fd, release() }: the same handle over a read-only
// descriptor that holds no lock (a KVStore reader beside a writer), with the
// same three ways to be released.
//
// holdPin(fd, hold) -> boolean and pinHeld(fd) -> boolean: a KVStore
// reader's pin, a shared open-file-description lock on one byte far past
// the file's end, and the writer's look at it (lib/kv/follow.ts, compact.ts;
// docs/durability.md, "A reader that keeps meeting frees").
#pragma once

#include <napi.h>

namespace pmem {

void InitFileLock(Napi::Env env, Napi::Object exports);

}  // namespace pmem
