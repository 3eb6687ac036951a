// A libpmemobj pool (pmemobj_create/open/check/close, native/obj/pool.cc;
// the check of a pool that is not writable here, native/obj/check.cc),
// its atomic allocator (native/obj/heap.cc), and its transactions
// (native/obj/tx.cc). JavaScript sees it only through
// lib/obj/pool.ts and lib/obj/tx.ts.
//
// Pointers cross the boundary as pool offsets (PMEMoid.off), never as
// addresses. Every offset from JavaScript is checked against a table of the
// pool's live objects (start -> usable size), built at open with
// pmemobj_first/pmemobj_next and kept in step by every allocation and free,
// including the rollback of an aborted transaction. libpmemobj itself cannot
// tell cheaply whether an offset is an object start, and
// pmemobj_alloc_usable_size on anything else reads garbage.
#pragma once

#include <libpmemobj.h>
#include <napi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/views.h"

namespace pmem {
namespace obj {

// One open pool. Its lifetime, views and cleanup hook are MappedRange's
// (native/core/views.h); releasing it rolls back an open transaction (on a
// terminated worker's own thread, from the cleanup hook) and closes the pool.
struct Pool : MappedRange {
  std::string path;
  PMEMobjpool* pop = nullptr;
  size_t size = 0;  // the pool's mapped length; offsets are checked against it
  std::map<uint64_t, uint64_t> objects;  // live object start -> usable size
  uint64_t rootOff = 0;                  // 0 while the pool has no root

  // The transaction this pool has begun on this thread, if any, and the
  // object-table changes to undo if it aborts.
  bool inTx = false;
  std::vector<uint64_t> txAdded;
  std::vector<std::pair<uint64_t, uint64_t>> txRemoved;

  ~Pool() override { Close(); }
  bool open() const { return pop != nullptr; }
  char* base() const { return reinterpret_cast<char*>(pop); }
  void Close();
  // Ends this pool's open transaction, if any, by aborting it.
  void AbortOpenTx();

 protected:
  bool Held() const override { return open(); }
  void Release() override { Close(); }
};

using PoolPtr = std::shared_ptr<Pool>;

inline Pool* PoolOf(const Napi::CallbackInfo& info) {
  return static_cast<PoolPtr*>(info.Data())->get();
}

// For pmemobj_check, which opens the file to write (PMDK 1.12.1) though it
// maps it privately: when this process may read the regular file at `path`
// but not write it, a private copy of it in memory (a memfd, the caller's
// to close; native/obj/check.cc), with `why` saying why the file itself
// cannot be given; -1 when it can (or cannot be read either, which
// pmemobj_check reports). Throws ERR_PMEM_LOCKED for an open pool, and
// when the copy fails.
int PrivateCopyForCheck(Napi::Env env, const std::string& path, std::string* why);

// The pool, or PmemError ERR_PMEM_CLOSED.
Pool* Live(const Napi::CallbackInfo& info);

// The usable size of the live object that starts at `off`, or 0.
uint64_t ObjectAt(const Pool* p, uint64_t off);

// The address of off when [off, off + len) lies inside one live object (the
// root included), else nullptr. Callers report nullptr as a `false` result
// and lib/ throws the RangeError, so that it is the caller's own RangeError
// class (a vm context, such as a test runner's, has its own).
char* InObject(const Pool* p, uint64_t off, uint64_t len);

// The PMEMoid of the object at `off` in this pool.
PMEMoid Oid(const Pool* p, uint64_t off);

// The arguments (offset, data) of write and txWrite: the data (a
// Buffer/Uint8Array), and the address of [offset, offset + its length) when
// that lies inside one live object, else nullptr (see InObject).
char* WriteArgs(const Napi::CallbackInfo& info, const Pool* p, const char** data, size_t* len);

// Adds the allocator's functions (native/obj/heap.cc) to a pool's handle.
void InitObjHeap(Napi::Env env, Napi::Object handle, const PoolPtr& pool);

// Adds the transaction functions (native/obj/tx.cc) to a pool's handle.
void InitObjTx(Napi::Env env, Napi::Object handle, const PoolPtr& pool);

}  // namespace obj

void InitObjPool(Napi::Env env, Napi::Object exports);

}  // namespace pmem
