// Advisory whole-file locks for KVStore (flock(2)): one writer, or any
// number of read-only opens. The kernel drops a lock when its descriptor is
// closed, so a SIGKILLed holder never leaves a stale lock behind.
#pragma once

#include <napi.h>

namespace pmem {

void InitKvLock(Napi::Env env, Napi::Object exports);

}  // namespace pmem
