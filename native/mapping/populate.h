// Faulting a mapping's pages in ahead of the stores that would fault them:
// at once (populate) or on a thread of the mapping's own (prefault).
#pragma once

#include <napi.h>

#include "mapping/state.h"

namespace pmem {

// Adds populate(off, len), prefault(off, len), prefaultWait() and
// release(off, len) to a mapping's handle.
void AddPopulate(napi_env env, const StatePtr& state, Napi::Object handle);

}  // namespace pmem
