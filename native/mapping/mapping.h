// A file mapped with libpmem (pmem_map_file), plus libpmem2's view of the
// store granularity. JavaScript sees it only through lib/core/mapping.ts.
#pragma once

#include <napi.h>

namespace pmem {

void InitMapping(Napi::Env env, Napi::Object exports);

}  // namespace pmem
