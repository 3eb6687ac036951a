// The hot loops of KVStore over its records, in native code: the reopen
// scan (kvScan validates a segment's records in one call; kvEntries lists
// their entries with each key's index hash). A write seals its record with
// sealRecord (lib/core/region.ts). The record format and its checks are those of
// lib/kv/format.ts (validRecord), and the hash that of lib/kv/hash-index.ts,
// which stay the reference; these are the same loops in C++ so that
// reopening a large store does not pay one N-API call per record nor hash
// every key in JavaScript.
#pragma once

#include <napi.h>

namespace pmem {

void InitKvScan(Napi::Env env, Napi::Object exports);

}  // namespace pmem
