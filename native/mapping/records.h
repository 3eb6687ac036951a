// sealRecords and sealAndApply (native/mapping/records.cc), registered on a
// mapping's handle with the rest of the hot path (native/mapping/hotpath.cc).
#pragma once

#include <node_api.h>

#include <cstddef>

#include "mapping/state.h"

namespace pmem {

// Copies shorter than this are not streamed before an msync (docs/bench.md):
// shared by sealRecord and sealRecords.
constexpr size_t kMsyncStreamMin = 4096;

napi_value RawSealRecords(napi_env env, napi_callback_info cbinfo);
napi_value RawSealAndApply(napi_env env, napi_callback_info cbinfo);

}  // namespace pmem
