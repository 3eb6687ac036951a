// Registers each native concept; nothing else lives here.
#include <napi.h>

#include "crc32c.h"
#include "errors.h"
#include "filelock.h"
#include "kvscan.h"
#include "mapping.h"
#include "sim.h"
#include "objpool.h"

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
  pmem::InitKvScan(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(pmem, Init)
