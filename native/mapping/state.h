// The state behind one mapping, shared by native/mapping/mapping.cc (open, views,
// copy, close) and native/mapping/hotpath.cc (flush, persist, sealRecord).
#pragma once

#include <libpmem.h>
#include <napi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

namespace pmem {

enum Granularity { kByte, kCacheLine, kPage };

// The mapped range and everything that may still point into it.
//
// Lifetime: shared by the handle's functions and by every ArrayBuffer view.
// The range is unmapped, and the descriptor closed, by close() (after every view is detached), by the
// environment's cleanup hook (worker exit, process exit), or when the last
// owner is collected, whichever comes first. A view therefore never outlives
// the memory it points to: either it is detached, or it keeps the state alive.
struct State {
  napi_env env = nullptr;
  std::string path;
  char* addr = nullptr;
  size_t length = 0;
  bool isPmem = false;
  bool readOnly = false;
  bool privateMap = false;  // read-only mappings are MAP_PRIVATE (see Open)
  // The descriptor the file was opened with, kept for fstat (fileSize):
  // closed with the mapping.
  int fd = -1;
  Granularity granularity = kPage;
  bool hookActive = false;
  std::vector<napi_ref> views;  // weak references, detached on close
  // The call block: the numeric arguments of the hot-path calls
  // (native/mapping/hotpath.cc), written by lib/core/mapping.ts before each call.
  double call[4] = {0, 0, 0, 0};

  ~State() {
    if (hookActive) {
      napi_remove_env_cleanup_hook(env, CleanupHook, this);
      for (napi_ref ref : views) napi_delete_reference(env, ref);
    }
    Unmap();
  }

  bool mapped() const { return addr != nullptr; }

  void Unmap() {
    if (addr == nullptr) return;
    if (privateMap) {
      munmap(addr, length);
    } else {
      pmem_unmap(addr, length);
    }
    addr = nullptr;
    if (fd >= 0) close(fd);
    fd = -1;
  }

  static void CleanupHook(void* arg) {
    // The environment is going away: JavaScript will not run again, so the
    // views need no detaching; only the address range must be released.
    State* self = static_cast<State*>(arg);
    self->hookActive = false;
    self->views.clear();
    self->Unmap();
  }
};

using StatePtr = std::shared_ptr<State>;

// Finalizers that drop one owner of a State: held as a function's data, or
// as the hint of an external ArrayBuffer (a view, the call block).
inline void DeleteStatePtrData(napi_env /*env*/, void* data, void* /*hint*/) {
  delete static_cast<StatePtr*>(data);
}
inline void DeleteStatePtrHint(napi_env /*env*/, void* /*data*/, void* hint) {
  delete static_cast<StatePtr*>(hint);
}

// Throws ERR_PMEM_CLOSED or ERR_PMEM_READONLY unless s can be written.
void CheckWritable(Napi::Env env, const State* s);

// Throws the PmemError for a failed pmem_msync (errno).
[[noreturn]] void ThrowMsync(Napi::Env env, const State* s);

// Adds flush, persist and sealRecord to a mapping's handle, with the call
// block they read their numeric arguments from (handle.call).
void AddHotPath(napi_env env, const StatePtr& state, Napi::Object handle);

}  // namespace pmem
