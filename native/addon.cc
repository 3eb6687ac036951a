// Registers each native concept; nothing else lives here.
#include <napi.h>

#include "core/crc32c.h"
#include "core/errors.h"
#include "core/filelock.h"
#include "core/libm.h"
#include "core/views.h"
#include "kv/scan.h"
#include "kv/table.h"
#include "mapping/mapping.h"
#include "sim/sim.h"
#include "obj/pool.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Per-environment data, so the addon works in worker_threads.
  env.SetInstanceData<pmem::AddonData>(new pmem::AddonData());
  pmem::InitErrors(env, exports);
  pmem::InitMapping(env, exports);
  pmem::InitCrc32c(env, exports);
  pmem::InitSim(env, exports);
  pmem::InitObjPool(env, exports);
  pmem::InitFileLock(env, exports);
  pmem::InitViews(env, exports);
  pmem::InitKvScan(env, exports);
  pmem::InitKvTable(env, exports);
  pmem::InitLibm(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(pmem, Init)
