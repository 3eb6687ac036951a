// The memory of KVStore's DRAM index (lib/kv/hash-index.ts): its table asked
// to be backed by transparent huge pages, so that a probe into a table of
// millions of slots does not miss the TLB as well as the cache; and the
// prefetch of a batch of its slots, for compaction's lookups.
#pragma once

#include <napi.h>

namespace pmem {

void InitKvTable(Napi::Env env, Napi::Object exports);

}  // namespace pmem
