// The memory of KVStore's DRAM index (lib/kv/hash-index.ts): its table asked
// to be backed by transparent huge pages, so that a probe into a table of
// millions of slots does not miss the TLB as well as the cache.
#pragma once

#include <napi.h>

namespace pmem {

void InitKvTable(Napi::Env env, Napi::Object exports);

}  // namespace pmem
