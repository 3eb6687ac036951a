// The crash simulator's N-API class, Sim: one simulated region over the
// model (model.h) and its image loader (loader.h). See lib/testing/sim.ts.
#pragma once

#include <napi.h>

namespace pmem {

// Registers the native Sim class (see lib/testing/sim.ts).
void InitSim(Napi::Env env, Napi::Object exports);

}  // namespace pmem
