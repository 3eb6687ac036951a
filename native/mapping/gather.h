// A table of byte ranges copied into a mapping in one call, with streaming
// stores (native/mapping/gather.cc).
#pragma once

#include <napi.h>

#include "mapping/state.h"

namespace pmem {

// Adds copyRanges(offset, src, table, count, stride, terminator) to a
// mapping's handle.
void AddGather(napi_env env, const StatePtr& state, Napi::Object handle);

}  // namespace pmem
