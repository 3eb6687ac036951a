// The record checksums of KVStore in native code: the reopen scan, which
// validates a segment's records in one call, and kvSeal, which checksums
// the record a write appends. The record format and its checks are those of
// lib/kv-format.ts (validRecord), which stays the reference; the scan is the
// same loop in C++ so that reopening a large store does not pay one N-API
// call per record, and kvSeal is one plain N-API call per write.
#pragma once

#include <napi.h>

namespace pmem {

void InitKvScan(Napi::Env env, Napi::Object exports);

}  // namespace pmem
