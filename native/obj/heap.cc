// The pool's allocator and object table: root, alloc, free, write,
// persist and stats, bound to a pool's handle by InitObjHeap. Every offset
// from JavaScript is checked against the object table (see pool.h) before
// libpmemobj sees it.
#include <cerrno>
#include <string>

#include "core/args.h"
#include "core/errors.h"
#include "obj/pool.h"

namespace pmem {
namespace obj {

uint64_t ObjectAt(const Pool* p, uint64_t off) {
  auto it = p->objects.find(off);
  return it == p->objects.end() ? 0 : it->second;
}

char* InObject(const Pool* p, uint64_t off, uint64_t len) {
  if (off > p->size || len > p->size - off) return nullptr;
  auto it = p->objects.upper_bound(off);
  if (it == p->objects.begin()) return nullptr;
  --it;
  uint64_t start = it->first, usable = it->second;
  if (off - start <= usable && len <= usable - (off - start)) return p->base() + off;
  return nullptr;
}

namespace {

void BytesArg(const Napi::CallbackInfo& info, size_t i, const char** data, size_t* len) {
  if (!info[i].IsTypedArray()) {
    throw Napi::TypeError::New(info.Env(), "data must be a Buffer or Uint8Array");
  }
  // One napi_get_typedarray_info call: this is on every tx.write.
  napi_typedarray_type type;
  size_t length;
  void* base;
  if (napi_get_typedarray_info(info.Env(), info[i], &type, &length, &base, nullptr, nullptr) !=
          napi_ok ||
      type != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), "data must be a Buffer or Uint8Array");
  }
  *data = static_cast<const char*>(base);
  *len = length;
}

}  // namespace

char* WriteArgs(const Napi::CallbackInfo& info, const Pool* p, const char** data, size_t* len) {
  uint64_t off = ArgIndex(info, 0, "offset");
  BytesArg(info, 1, data, len);
  return InObject(p, off, *len);
}

PMEMoid Oid(const Pool* p, uint64_t off) {
  PMEMoid oid = pmemobj_oid(p->pop);  // {pool uuid, 0}
  oid.off = off;
  return oid;
}

namespace {

void RefuseInTx(Napi::Env env, const Pool* p, const char* what) {
  if (p->inTx) {
    throw MakePmemError(env, "ERR_PMEM_INVALID",
                        std::string(what) + " is not allowed inside a transaction" +
                            " (use the transaction's own methods)");
  }
}

// --- functions bound to one pool (data = PoolPtr*) ---------------------

// check(off, len) -> whether the range lies inside a live object.
Napi::Value Check(const Napi::CallbackInfo& info) {
  Pool* p = Live(info);
  char* at = InObject(p, ArgIndex(info, 0, "offset"), ArgIndex(info, 1, "length"));
  return Napi::Boolean::New(info.Env(), at != nullptr);
}

// usableSize(off) -> the usable size of the object starting at off, or 0.
Napi::Value UsableSize(const Napi::CallbackInfo& info) {
  Pool* p = Live(info);
  return Napi::Number::New(info.Env(),
                           static_cast<double>(ObjectAt(p, ArgIndex(info, 0, "offset"))));
}

// root(size) -> offset. Grows the root as pmemobj_root does (a larger root
// may move; its old bytes are copied and the rest zeroed, atomically).
Napi::Value Root(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  uint64_t size = ArgIndex(info, 0, "size");
  if (size == 0 || size <= pmemobj_root_size(p->pop)) {
    return Napi::Number::New(env, static_cast<double>(p->rootOff));
  }
  RefuseInTx(env, p, "growing the root");
  if (size > PMEMOBJ_MAX_ALLOC_SIZE) throw Napi::RangeError::New(env, "root size is too large");
  PMEMoid oid = pmemobj_root(p->pop, size);
  if (OID_IS_NULL(oid)) ThrowObjError(env, ObjOp::kAlloc, "pmemobj_root", p->path, errno);
  if (p->rootOff != 0) p->objects.erase(p->rootOff);
  p->rootOff = oid.off;
  p->objects[oid.off] = pmemobj_root_size(p->pop);
  return Napi::Number::New(env, static_cast<double>(oid.off));
}

Napi::Value RootSize(const Napi::CallbackInfo& info) {
  Pool* p = Live(info);
  return Napi::Number::New(info.Env(), static_cast<double>(pmemobj_root_size(p->pop)));
}

// alloc(size, zero) -> offset. pmemobj_alloc/pmemobj_zalloc are atomic:
// after a crash the object is either allocated (and, with zero, zeroed and
// persisted) or not allocated at all.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  uint64_t size = ArgIndex(info, 0, "size");
  bool zero = info[1].ToBoolean().Value();
  RefuseInTx(env, p, "pool.alloc");
  if (size == 0 || size > PMEMOBJ_MAX_ALLOC_SIZE) {
    throw Napi::RangeError::New(env, "size must be 1.." + std::to_string(PMEMOBJ_MAX_ALLOC_SIZE));
  }
  PMEMoid oid;
  int r = zero ? pmemobj_zalloc(p->pop, &oid, size, 0) : pmemobj_alloc(p->pop, &oid, size, 0,
                                                                       nullptr, nullptr);
  if (r != 0) ThrowObjError(env, ObjOp::kAlloc, zero ? "pmemobj_zalloc" : "pmemobj_alloc", p->path,
                            errno);
  p->objects[oid.off] = pmemobj_alloc_usable_size(oid);
  return Napi::Number::New(env, static_cast<double>(oid.off));
}

// free(off) -> false when off is not a live object start. Only live object
// starts are accepted; anything else (an interior offset, a freed object,
// the root) is refused before libpmemobj sees it, since libpmemobj would
// trust it. pmemobj_free is atomic: after a crash the object is either
// still allocated or free.
Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  RefuseInTx(env, p, "pool.free");
  if (ObjectAt(p, off) == 0 || off == p->rootOff) return Napi::Boolean::New(env, false);
  PMEMoid oid = Oid(p, off);
  pmemobj_free(&oid);
  p->objects.erase(off);
  return Napi::Boolean::New(env, true);
}

// write(off, data) -> false when the range is not inside an object. Copies
// the bytes into the object and persists them: durable when it returns. Not
// atomic beyond 8 aligned bytes; use a transaction for that.
Napi::Value Write(const Napi::CallbackInfo& info) {
  Pool* p = Live(info);
  const char* data;
  size_t len;
  char* dst = WriteArgs(info, p, &data, &len);
  if (dst == nullptr) return Napi::Boolean::New(info.Env(), false);
  // Copy, flush and fence in one call: the bytes are durable before this
  // returns, so the caller may publish a pointer to them next.
  if (len > 0) pmemobj_memcpy_persist(p->pop, dst, data, len);
  return Napi::Boolean::New(info.Env(), true);
}

// persist(off, len) -> false when the range is not inside an object.
// Persists bytes stored through a view.
Napi::Value Persist(const Napi::CallbackInfo& info) {
  Pool* p = Live(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  uint64_t len = ArgIndex(info, 1, "length");
  char* dst = InObject(p, off, len);
  if (dst == nullptr) return Napi::Boolean::New(info.Env(), false);
  // Flush and fence (an msync where the pool is not pmem): the stores made
  // through the view are durable before this returns, so the caller may
  // publish them next.
  if (len > 0) pmemobj_persist(p->pop, dst, len);
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  Napi::Object out = Napi::Object::New(env);
  const char* names[][2] = {{"stats.heap.curr_allocated", "currAllocated"},
                            {"stats.heap.run_allocated", "runAllocated"},
                            {"stats.heap.run_active", "runActive"}};
  for (auto& n : names) {
    uint64_t v = 0;
    if (pmemobj_ctl_get(p->pop, n[0], &v) != 0) {
      ThrowObjError(env, ObjOp::kOther, "pmemobj_ctl_get", p->path, errno);
    }
    out.Set(n[1], Napi::Number::New(env, static_cast<double>(v)));
  }
  return out;
}

}  // namespace

void InitObjHeap(Napi::Env env, Napi::Object handle, const PoolPtr& pool) {
  struct Entry {
    const char* name;
    Napi::Function::Callback fn;
  };
  const Entry entries[] = {{"check", Check}, {"usableSize", UsableSize}, {"root", Root},
                           {"rootSize", RootSize}, {"alloc", Alloc}, {"free", Free},
                           {"write", Write}, {"persist", Persist}, {"stats", Stats}};
  for (const Entry& e : entries) BindMethod(env, handle, e.name, e.fn, pool);
}

}  // namespace obj
}  // namespace pmem
