// The state behind one mapping, shared by native/mapping/mapping.cc (open, views,
// copy, close) and native/mapping/hotpath.cc (flush, persist, sealRecord).
#pragma once

#include <libpmem.h>
#include <napi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "core/views.h"
#include "mapping/granularity.h"

namespace pmem {

struct Prefaulter;  // native/mapping/populate.cc

// The call block's element that holds sealRecord's prefetch hint.
constexpr int kPrefetchHint = 7;

struct State;
// Stops and joins a mapping's prefault thread, if it has one.
void StopPrefault(State* s);

// The mapped range of one file. Its lifetime, views and cleanup hook are
// MappedRange's (native/core/views.h).
struct State : MappedRange {
  std::string path;
  char* addr = nullptr;
  size_t length = 0;
  bool isPmem = false;
  bool readOnly = false;
  // Mapped by mmap in OpenReadOnly (private, or shared and PROT_READ), not
  // by pmem_map_file.
  bool mmapped = false;
  // The descriptor the file was opened with, kept for fstat (fileSize):
  // closed with the mapping.
  int fd = -1;
  Granularity granularity = kPage;
  // The call block: the numeric arguments of the hot-path calls
  // (native/mapping/hotpath.cc), written by lib/core/mapping.ts before each call.
  // call[kPrefetchHint] is not an argument: an address sealRecord starts
  // loading into the cache, then clears (0: none).
  double call[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  // The thread of prefault() (native/mapping/populate.cc), once started.
  Prefaulter* prefaulter = nullptr;

  ~State() override { Unmap(); }

  bool mapped() const { return addr != nullptr; }

  void Unmap() {
    if (addr == nullptr) return;
    // The prefault thread reads the range: joined before it goes.
    StopPrefault(this);
    if (mmapped) {
      munmap(addr, length);
    } else {
      pmem_unmap(addr, length);
    }
    addr = nullptr;
    if (fd >= 0) close(fd);
    fd = -1;
  }

 protected:
  bool Held() const override { return mapped(); }
  void Release() override { Unmap(); }
};

using StatePtr = std::shared_ptr<State>;

// Throws ERR_PMEM_CLOSED unless s is mapped.
void CheckMapped(Napi::Env env, const State* s);

// Throws ERR_PMEM_CLOSED or ERR_PMEM_READONLY unless s can be written.
void CheckWritable(Napi::Env env, const State* s);

// Throws the PmemError for a failed pmem_msync (errno).
[[noreturn]] void ThrowMsync(Napi::Env env, const State* s);

// Adds flush, persist and sealRecord to a mapping's handle, with the call
// block they read their numeric arguments from (handle.call).
void AddHotPath(napi_env env, const StatePtr& state, Napi::Object handle);

}  // namespace pmem
