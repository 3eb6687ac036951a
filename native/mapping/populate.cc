// Page-table population of a mapping, so that the stores of a hot path do
// not take a page fault each time they reach a fresh page, and its
// inverse, release, for pages a reader is done with (on /dev/shm and
// on fs-dax a fault costs microseconds, about a hundred small records'
// worth of persists).
//
// MADV_POPULATE_WRITE (Linux 5.14) faults a range in writable without
// storing anything, so it is safe on a live mapping, beside stores of the
// JavaScript thread to the same pages. Then each page's first byte is
// accessed from this thread (Touch): under a hypervisor with shadow page
// tables the madvise alone leaves the first access to every page trapping
// into the hypervisor. Where the kernel lacks the madvise (EINVAL) the
// fallback reads one byte per page after MADV_WILLNEED: also without a
// store. A read fault maps a page writable on tmpfs; on fs-dax it maps it
// read-only and the first store still takes a (cheaper) write fault. A
// plain read-modify-write of a byte would map it writable everywhere, but
// on a live mapping it can undo a store the JavaScript thread made in
// between, so it is never used (Touch's add is atomic, and only follows a
// successful MADV_POPULATE_WRITE).
#include "mapping/populate.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/args.h"
#include "core/errors.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace pmem {

// The background thread of one mapping. Requests are ranges; a request
// replaces one that has not started yet (the newest range is the one the
// caller will reach first). Created at the first prefault(), stopped and
// joined by State::Unmap before the range is unmapped.
struct Prefaulter {
  std::mutex mu;
  std::condition_variable wake;  // a request, or stop
  std::condition_variable idle;  // no request pending or running
  std::atomic<bool> stop{false};
  bool pending = false;
  bool busy = false;
  uint64_t off = 0;
  uint64_t len = 0;
  double done = 0;    // requests finished
  double failed = 0;  // requests that ended with an error
  int lastError = 0;  // errno of the last failed request
  std::thread thread;
};

namespace {

constexpr uint64_t kChunk = 1 << 20;  // between two looks at `stop`

uint64_t PageSize() {
  static const uint64_t size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// Accesses one byte of each page of [at, at + n) from the calling thread.
// Under a hypervisor that keeps shadow page tables (PVM, for one), the
// madvise calls fill the guest's page tables but not the hypervisor's: the
// first access to each page from user space still traps into it (about
// 7 µs a page measured, 13 µs for a first store, where a page already
// accessed costs nothing). A writable page is accessed with a locked add of
// 0: it changes no byte, and being atomic it cannot undo a store another
// thread makes to the same byte at the same moment (a plain read and write
// back could), so it is safe on a live mapping; and it is a store, so the
// page is then mapped writable. A read-only page is read.
void Touch(char* at, size_t n, bool write) {
  const uint64_t page = PageSize();
  for (size_t i = 0; i < n; i += page) {
    if (write) {
      __atomic_fetch_add(at + i, static_cast<char>(0), __ATOMIC_RELAXED);
    } else {
      (void)*static_cast<volatile char*>(at + i);
    }
  }
}

// Faults [addr + off, addr + off + len) in (rounded out to whole pages):
// writable, or readable for a read-only mapping, where a write populate
// would copy every page (private) or fail (shared, PROT_READ). Returns 0 or an errno.
int PopulateRange(const State* s, uint64_t off, uint64_t len) {
  if (len == 0) return 0;
  const uint64_t page = PageSize();
  const uint64_t begin = off / page * page;
  const uint64_t end = std::min<uint64_t>((off + len + page - 1) / page * page, s->length);
  char* at = s->addr + begin;
  const size_t n = static_cast<size_t>(end - begin);
  const int advice = s->readOnly ? MADV_POPULATE_READ : MADV_POPULATE_WRITE;
  for (;;) {
    if (madvise(at, n, advice) == 0) {
      // Every page of the range is now in the file (the madvise fails
      // with EFAULT past its end), so touching it cannot raise SIGBUS.
      Touch(at, n, !s->readOnly);
      return 0;
    }
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno != EINVAL) return errno;
    break;
  }
  // No MADV_POPULATE_*: read one byte per page, never past the file's end
  // (a read there is a SIGBUS; the populate calls report EFAULT instead).
  struct stat st;
  if (s->fd >= 0 && fstat(s->fd, &st) == 0 && static_cast<uint64_t>(st.st_size) < end) return EFAULT;
  madvise(at, n, MADV_WILLNEED);  // a hint: its failure changes nothing
  const volatile char* p = at;
  for (size_t i = 0; i < n; i += page) (void)p[i];
  return 0;
}

void Run(const State* s, Prefaulter* w) {
  std::unique_lock<std::mutex> lock(w->mu);
  for (;;) {
    w->wake.wait(lock, [w] { return w->stop.load() || w->pending; });
    if (w->stop.load()) return;
    const uint64_t off = w->off;
    const uint64_t len = w->len;
    w->pending = false;
    w->busy = true;
    lock.unlock();
    int err = 0;
    for (uint64_t at = 0; at < len && err == 0 && !w->stop.load(); at += kChunk) {
      err = PopulateRange(s, off + at, std::min(kChunk, len - at));
    }
    lock.lock();
    w->busy = false;
    w->done++;
    if (err != 0) {
      w->failed++;
      w->lastError = err;
    }
    if (!w->pending) w->idle.notify_all();
  }
}

State* LiveState(const Napi::CallbackInfo& info) {
  State* s = static_cast<StatePtr*>(info.Data())->get();
  if (!s->mapped()) {
    throw MakePmemError(info.Env(), "ERR_PMEM_CLOSED", "mapping of '" + s->path + "' is closed", 0, nullptr,
                        &s->path);
  }
  return s;
}

void RangeOf(const Napi::CallbackInfo& info, const State* s, uint64_t* off, uint64_t* len) {
  *off = ArgIndex(info, 0, "offset");
  *len = ArgIndex(info, 1, "length");
  CheckRange(info.Env(), *off, *len, s->length);
}

// populate(off, len): the range is faulted in when it returns.
Napi::Value Populate(const Napi::CallbackInfo& info) {
  State* s = LiveState(info);
  uint64_t off, len;
  RangeOf(info, s, &off, &len);
  for (uint64_t at = 0; at < len; at += kChunk) {
    int err = PopulateRange(s, off + at, std::min(kChunk, len - at));
    if (err != 0) ThrowErrno(info.Env(), err, "madvise", s->path, nullptr);
  }
  return info.Env().Undefined();
}

// prefault(off, len): queues the range for the mapping's thread and returns.
Napi::Value Prefault(const Napi::CallbackInfo& info) {
  State* s = LiveState(info);
  uint64_t off, len;
  RangeOf(info, s, &off, &len);
  if (len == 0) return info.Env().Undefined();
  if (s->prefaulter == nullptr) {
    auto* w = new Prefaulter();
    try {
      w->thread = std::thread(Run, s, w);
    } catch (const std::system_error& e) {
      delete w;
      ThrowErrno(info.Env(), e.code().value(), "pthread_create", s->path, nullptr);
    }
    s->prefaulter = w;
  }
  Prefaulter* w = s->prefaulter;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    w->off = off;
    w->len = len;
    w->pending = true;
  }
  w->wake.notify_one();
  return info.Env().Undefined();
}

// release(off, len): the whole pages inside the range leave this process's
// page tables (MADV_DONTNEED), so that they no longer count in its RSS; a
// later access maps them in again from the file. No byte of the file
// changes: a writable mapping is shared, and its stores are in the file's
// pages (or, on fs-dax, in the medium and the CPU caches, which a later
// flush by address still reaches); a store through a read-only (private)
// mapping was never the file's, and is dropped. Pages the range shares with
// bytes outside it are kept.
Napi::Value Release(const Napi::CallbackInfo& info) {
  State* s = LiveState(info);
  uint64_t off, len;
  RangeOf(info, s, &off, &len);
  const uint64_t page = PageSize();
  const uint64_t begin = (off + page - 1) / page * page;
  const uint64_t end = (off + len) / page * page;
  if (end <= begin) return info.Env().Undefined();
  if (madvise(s->addr + begin, static_cast<size_t>(end - begin), MADV_DONTNEED) != 0) {
    ThrowErrno(info.Env(), errno, "madvise", s->path, nullptr);
  }
  return info.Env().Undefined();
}

// prefaultWait() -> { done, failed, lastError }: waits until the thread has
// nothing pending or running.
Napi::Value PrefaultWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* s = LiveState(info);
  Napi::Object out = Napi::Object::New(env);
  double done = 0, failed = 0;
  int lastError = 0;
  if (Prefaulter* w = s->prefaulter) {
    std::unique_lock<std::mutex> lock(w->mu);
    w->idle.wait(lock, [w] { return !w->pending && !w->busy; });
    done = w->done;
    failed = w->failed;
    lastError = w->lastError;
  }
  out.Set("done", Napi::Number::New(env, done));
  out.Set("failed", Napi::Number::New(env, failed));
  out.Set("lastError", Napi::Number::New(env, lastError));
  return out;
}

}  // namespace

void StopPrefault(State* s) {
  Prefaulter* w = s->prefaulter;
  if (w == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    w->stop.store(true);
  }
  w->wake.notify_one();
  // The thread reads the range: it must be gone before the range is unmapped.
  w->thread.join();
  delete w;
  s->prefaulter = nullptr;
}

void AddPopulate(napi_env env, const StatePtr& state, Napi::Object handle) {
  Napi::Env e(env);
  BindMethod(e, handle, "populate", Populate, state);
  BindMethod(e, handle, "prefault", Prefault, state);
  BindMethod(e, handle, "prefaultWait", PrefaultWait, state);
  BindMethod(e, handle, "release", Release, state);
}

}  // namespace pmem
