// The reopen scan of KVStore: validates a segment's records in one call.
// The record format and its checks are those of lib/kv-format.ts
// (validRecord), which stays the reference; this is the same loop in C++ so
// that reopening a large store does not pay one N-API call per record.
#pragma once

#include <napi.h>

namespace pmem {

void InitKvScan(Napi::Env env, Napi::Object exports);

}  // namespace pmem
