// The C library's sin, cos and asin, for the geo commands of pmem serve: Redis
// computes its distances with them, and JavaScript's Math.sin, Math.cos and
// Math.asin (V8's fdlibm port) differ from glibc's in the last bit for a few
// percent of arguments, which shows in a stored distance (STOREDIST) and can
// move a point across a search's edge. The formulas stay in TypeScript
// (lib/server/geohash.ts); only these three functions are the C library's.
#pragma once

#include <napi.h>

namespace pmem {

void InitLibm(Napi::Env env, Napi::Object exports);

}  // namespace pmem
