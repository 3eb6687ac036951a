#include "obj/pool.h"

#include <fcntl.h>
#include <libpmem2.h>
#include <libpmemobj.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/args.h"
#include "core/errors.h"

namespace pmem {
namespace obj {

namespace {

// Whether the file at `path` starts with `sig` (a pool header's signature).
bool HasSignature(const std::string& path, const char* sig, size_t n) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[16] = {0};
  ssize_t got = pread(fd, buf, n, 0);
  close(fd);
  return got == static_cast<ssize_t>(n) && std::memcmp(buf, sig, n) == 0;
}

// "PMEMOBJ\0": the signature of every libpmemobj pool header.
bool LooksLikeObjPool(const std::string& path) { return HasSignature(path, "PMEMOBJ", 8); }

}  // namespace

// libpmemobj reports most open failures as EINVAL with a message (PMDK
// 1.12.1, checked on /dev/shm with and without PMEM_IS_PMEM_FORCE):
//   missing file                 ENOENT  'open "...": No such file or directory'
//   wrong layout                 EINVAL  'wrong layout ("x"), pool created with layout "y"'
//   not a pool (random bytes)    EINVAL  'wrong pool type: "..."'
//   not a pool (zeros)           EINVAL  'invalid major version (0)'
//   file under 2 MiB             EINVAL  'size N smaller than 2097152'
//   truncated pool               -1      'heap: invalid heap size'
//   header byte flipped          EINVAL  'invalid checksum of pool header',
//                                        'pool version N', 'unknown incompat features'
//   opened twice                 EAGAIN  'flock "...": Resource temporarily unavailable'
//   SDS count unreadable         ?       'Cannot read unsafe shutdown count. ...' (not seen
//                                        here; from PMDK's shutdown_state.c)
//   unsafe shutdown while open   ?       'an ADR failure was detected, ...' (likewise)
//   allocation too large/no room ENOMEM  'out of memory', 'requested size too large'
// The messages are not a stable interface, so apart from the layout and
// unsafe-shutdown cases the code of a format failure (EINVAL or no errno)
// is decided from the file itself: a failed open of a file that starts with
// a libpmemobj signature is a damaged pool (ERR_PMEM_CORRUPT), of any other
// file is not a pool (ERR_PMEM_NOT_POOL). Any other errno is the system's
// and is mapped by CodeForErrno (native/core/errors.cc): a read-only filesystem
// (EROFS) is ERR_PMEM_ACCESS, not a damaged pool.
void ThrowObjError(Napi::Env env, Op op, const char* call, const std::string& path, int err) {
  const char* raw = pmemobj_errormsg();
  std::string lib = raw != nullptr ? raw : "";
  bool opening = op == Op::kOpen || op == Op::kCreate || op == Op::kCheck;
  const char* code;
  std::string hint;
  if (opening && err == ENOENT) {
    code = "ERR_PMEM_NOT_FOUND";
  } else if (lib.find("wrong layout") != std::string::npos) {
    code = "ERR_PMEM_LAYOUT";
  } else if (opening && lib.find("annot read unsafe shutdown count") != std::string::npos) {
    // PMDK's shutdown_state_add_part: the device has an unsafe-shutdown
    // count but it cannot be read (emulated pmem, no access to ndctl; see
    // pmem/issues#1039). Pools created with SDS need it at create and open.
    // (libpmemobj also leaves "Unsafe shutdown count is not supported for
    // this source" behind on every success on /dev/shm: that is not this.)
    code = "ERR_PMEM_SDS";
    hint = " (this device cannot report its unsafe-shutdown count; create the pool with "
           "{ sds: false } to skip the check, at the cost of not detecting unsafe shutdowns)";
  } else if (opening && lib.find("ADR failure") != std::string::npos) {
    // The pool was open during an unsafe shutdown: data may be lost.
    code = "ERR_PMEM_CORRUPT";
    hint = " (an unsafe shutdown happened while the pool was open; check it with pmempool)";
  } else if ((op == Op::kOpen || op == Op::kCheck) && (err <= 0 || err == EINVAL)) {
    // A format failure (EINVAL, or no errno at all): decided from the file.
    // Every other errno is the system's (EROFS, EACCES, EAGAIN, ENOSPC,
    // ENOMEM, EIO, ...) and goes through the one errno table below.
    code = LooksLikeObjPool(path) ? "ERR_PMEM_CORRUPT" : "ERR_PMEM_NOT_POOL";
  } else if ((op == Op::kAlloc || op == Op::kTx) && err == ENOMEM) {
    code = "ERR_PMEM_NO_SPACE";
  } else {
    code = CodeForErrno(err > 0 ? err : EIO);
  }
  std::string message = std::string(call) + " failed for '" + path + "': ";
  message += !lib.empty() ? lib : std::string(std::strerror(err > 0 ? err : EIO));
  message += hint;
  throw MakePmemError(env, code, message, err > 0 ? err : 0, call, &path);
}

Pool::~Pool() {
  if (hookActive) {
    napi_remove_env_cleanup_hook(env, CleanupHook, this);
    for (napi_ref ref : views) napi_delete_reference(env, ref);
  }
  Close();
}

void Pool::AbortOpenTx() {
  if (!inTx) return;
  // Every path out of a transaction ends it with pmemobj_tx_end, so no
  // transaction outlives the JavaScript call that began it.
  if (pmemobj_tx_stage() == TX_STAGE_WORK) pmemobj_tx_abort(ECANCELED);
  pmemobj_tx_end();
  inTx = false;
  for (auto& r : txRemoved) objects[r.first] = r.second;
  for (uint64_t off : txAdded) objects.erase(off);
  txAdded.clear();
  txRemoved.clear();
}

void Pool::Close() {
  if (pop == nullptr) return;
  AbortOpenTx();
  pmemobj_close(pop);
  pop = nullptr;
  objects.clear();
}

void Pool::CleanupHook(void* arg) {
  // The environment is going away (worker exit, process exit): JavaScript
  // will not run again, so views need no detaching. A transaction left open
  // by a terminated worker is rolled back here, on the worker's own thread.
  Pool* self = static_cast<Pool*>(arg);
  self->hookActive = false;
  self->views.clear();
  self->Close();
}

Pool* Live(const Napi::CallbackInfo& info) {
  Pool* p = PoolOf(info);
  if (!p->open()) {
    throw MakePmemError(info.Env(), "ERR_PMEM_CLOSED", "pool '" + p->path + "' is closed", 0,
                        nullptr, &p->path);
  }
  return p;
}

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

void DeletePoolPtr(napi_env /*env*/, void* data, void* /*hint*/) {
  delete static_cast<PoolPtr*>(data);
}

void BindMethod(Napi::Env env, Napi::Object handle, const char* name, Napi::Function::Callback fn,
                const PoolPtr& pool) {
  auto* data = new PoolPtr(pool);
  Napi::Function f = Napi::Function::New(env, fn, name, data);
  napi_add_finalizer(env, f, data, DeletePoolPtr, nullptr, nullptr);
  handle.Set(name, f);
}

namespace {

void RefuseInTx(Napi::Env env, const Pool* p, const char* what) {
  if (p->inTx) {
    throw MakePmemError(env, "ERR_PMEM_INVALID",
                        std::string(what) + " is not allowed inside a transaction" +
                            " (use the transaction's own methods)");
  }
}

PMEMoid Oid(const Pool* p, uint64_t off) {
  PMEMoid oid = pmemobj_oid(p->pop);  // {pool uuid, 0}
  oid.off = off;
  return oid;
}

// --- functions bound to one pool (data = PoolPtr*) ---------------------

void ViewFinalizer(napi_env /*env*/, void* /*data*/, void* hint) {
  delete static_cast<PoolPtr*>(hint);
}

// view(off, len) -> ArrayBuffer over [off, off+len) of the pool. lib/
// objpool.ts asks for each window once and slices it. The view keeps the
// pool state alive and is detached on close.
Napi::Value View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = Live(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  uint64_t len = ArgIndex(info, 1, "length");
  CheckRange(env, off, len, p->size);
  if (len == 0 || len > (uint64_t{1} << 32)) {
    throw Napi::RangeError::New(env, "a view must be 1 byte to 4 GiB long");
  }
  auto* hint = new PoolPtr(*static_cast<PoolPtr*>(info.Data()));
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p->base() + off, len, ViewFinalizer, hint, &ab) !=
      napi_ok) {
    delete hint;
    throw Napi::Error::New(env, "cannot create a view of the pool");
  }
  napi_ref ref;
  if (napi_create_reference(env, ab, 0, &ref) == napi_ok) p->views.push_back(ref);
  return Napi::Value(env, ab);
}

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
  if (OID_IS_NULL(oid)) ThrowObjError(env, Op::kAlloc, "pmemobj_root", p->path, errno);
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
  if (r != 0) ThrowObjError(env, Op::kAlloc, zero ? "pmemobj_zalloc" : "pmemobj_alloc", p->path,
                            errno);
  p->objects[oid.off] = pmemobj_alloc_usable_size(oid);
  return Napi::Number::New(env, static_cast<double>(oid.off));
}

// free(off) -> false when off is not a live object start. pmemobj_free is atomic. Only live object starts are accepted;
// anything else (an interior offset, a freed object, the root) is refused
// before libpmemobj sees it, since libpmemobj would trust it.
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

// write(off, data) -> false when the range is not inside an object. Copies into an object and persist it
// (pmemobj_memcpy_persist: durable when it returns). Not atomic beyond
// 8 aligned bytes; use a transaction for that.
Napi::Value Write(const Napi::CallbackInfo& info) {
  Pool* p = Live(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  const char* data;
  size_t len;
  BytesArg(info, 1, &data, &len);
  char* dst = InObject(p, off, len);
  if (dst == nullptr) return Napi::Boolean::New(info.Env(), false);
  if (len > 0) pmemobj_memcpy_persist(p->pop, dst, data, len);
  return Napi::Boolean::New(info.Env(), true);
}

// persist(off, len) -> false when the range is not inside an object. Flush + fence (or msync) of bytes stored through a view.
Napi::Value Persist(const Napi::CallbackInfo& info) {
  Pool* p = Live(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  uint64_t len = ArgIndex(info, 1, "length");
  char* dst = InObject(p, off, len);
  if (dst == nullptr) return Napi::Boolean::New(info.Env(), false);
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
      ThrowObjError(env, Op::kOther, "pmemobj_ctl_get", p->path, errno);
    }
    out.Set(n[1], Napi::Number::New(env, static_cast<double>(v)));
  }
  return out;
}

// close(): roll back an open transaction, detach every view, close the pool.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool* p = PoolOf(info);
  if (!p->open()) return env.Undefined();
  for (napi_ref ref : p->views) {
    napi_value v;
    if (napi_get_reference_value(env, ref, &v) == napi_ok && v != nullptr) {
      napi_detach_arraybuffer(env, v);
    }
    napi_delete_reference(env, ref);
  }
  p->views.clear();
  p->Close();
  return env.Undefined();
}

// The pool's mapped length: the file's (or device's) size, from libpmem2.
bool SourceSize(const std::string& path, size_t* size) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  pmem2_source* src = nullptr;
  bool ok = pmem2_source_from_fd(&src, fd) == 0 && pmem2_source_size(src, size) == 0;
  if (src != nullptr) pmem2_source_delete(&src);
  close(fd);
  return ok;
}

Napi::Object MakeHandle(Napi::Env env, PMEMobjpool* pop, const std::string& path, bool stats) {
  auto pool = std::make_shared<Pool>();
  Pool* p = pool.get();
  p->env = env;
  p->path = path;
  p->pop = pop;
  if (!SourceSize(path, &p->size)) {
    pmemobj_close(pop);
    p->pop = nullptr;
    throw MakePmemError(env, "ERR_PMEM_IO", "cannot read the size of pool '" + path + "'", 0,
                        nullptr, &path);
  }
  // libpmemobj 1.12 counts transient statistics by default; `stats`
  // chooses between all of them and none.
  int enabled = stats ? POBJ_STATS_ENABLED_BOTH : POBJ_STATS_DISABLED;
  pmemobj_ctl_set(pop, "stats.enabled", &enabled);
  // The object table: every live object, then the root (pmemobj_first and
  // pmemobj_next skip it).
  for (PMEMoid oid = pmemobj_first(pop); !OID_IS_NULL(oid); oid = pmemobj_next(oid)) {
    p->objects[oid.off] = pmemobj_alloc_usable_size(oid);
  }
  size_t rootSize = pmemobj_root_size(pop);
  if (rootSize > 0) {
    PMEMoid root = pmemobj_root(pop, rootSize);
    p->rootOff = root.off;
    p->objects[root.off] = rootSize;
  }
  napi_add_env_cleanup_hook(env, Pool::CleanupHook, p);
  p->hookActive = true;

  Napi::Object h = Napi::Object::New(env);
  h.Set("size", Napi::Number::New(env, static_cast<double>(p->size)));
  struct Entry {
    const char* name;
    Napi::Function::Callback fn;
  };
  const Entry entries[] = {{"view", View},         {"check", Check},   {"usableSize", UsableSize},
                           {"root", Root},         {"rootSize", RootSize}, {"alloc", Alloc},
                           {"free", Free},         {"write", Write},   {"persist", Persist},
                           {"stats", Stats},       {"close", Close}};
  for (const Entry& e : entries) BindMethod(env, h, e.name, e.fn, pool);
  InitObjTx(env, h, pool);
  return h;
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

void RefusePoolSet(Napi::Env env, const std::string& path) {
  if (HasSignature(path, "PMEMPOOLSET", 11)) {
    throw MakePmemError(env, "ERR_PMEM_INVALID", "'" + path + "' is a pool set; only single-file "
                        "pools are supported", 0, nullptr, &path);
  }
}

// Refuses a regular file smaller than any pool libpmemobj makes before
// libpmemobj sees it: pmemobj_open and pmemobj_check fault with SIGBUS on an
// empty file (PMDK 1.12.1), and a shorter file cannot be a whole pool.
void RefuseShortFile(Napi::Env env, const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;  // libpmemobj reports these
  if (static_cast<uint64_t>(st.st_size) < PMEMOBJ_MIN_POOL) {
    const char* code = LooksLikeObjPool(path) ? "ERR_PMEM_CORRUPT" : "ERR_PMEM_NOT_POOL";
    throw MakePmemError(env, code, "'" + path + "' is " + std::to_string(st.st_size) +
                        " bytes, smaller than any pool (" + std::to_string(PMEMOBJ_MIN_POOL) + ")",
                        0, nullptr, &path);
  }
}

// objCreate(path, layout, size, mode, sds, stats) -> handle
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  std::string layout = StringArg(info, 1, "layout");
  uint64_t size = ArgIndex(info, 2, "size");
  uint64_t mode = ArgIndex(info, 3, "mode");
  bool sds = info[4].ToBoolean().Value();
  bool stats = info[5].ToBoolean().Value();
  if (size < PMEMOBJ_MIN_POOL) throw Napi::RangeError::New(env, "size is below PMEMOBJ_MIN_POOL");
  if (mode > 07777) throw Napi::RangeError::New(env, "mode must be 0..0o7777");
  // sds.at_create is process-wide: set it around this one create and put
  // the old value back. Pools created without SDS never read the
  // unsafe-shutdown count, at create or at any later open.
  int oldSds = 1;
  if (!sds) {
    pmemobj_ctl_get(nullptr, "sds.at_create", &oldSds);
    int off = 0;
    pmemobj_ctl_set(nullptr, "sds.at_create", &off);
  }
  PMEMobjpool* pop = pmemobj_create(path.c_str(), layout.c_str(), size, static_cast<mode_t>(mode));
  int err = errno;
  if (!sds) pmemobj_ctl_set(nullptr, "sds.at_create", &oldSds);
  if (pop == nullptr) ThrowObjError(env, Op::kCreate, "pmemobj_create", path, err);
  return MakeHandle(env, pop, path, stats);
}

// objOpen(path, layout|null, stats) -> handle
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  bool anyLayout = info[1].IsNull() || info[1].IsUndefined();
  std::string layout = anyLayout ? "" : StringArg(info, 1, "layout");
  bool stats = info[2].ToBoolean().Value();
  RefusePoolSet(env, path);
  RefuseShortFile(env, path);
  PMEMobjpool* pop = pmemobj_open(path.c_str(), anyLayout ? nullptr : layout.c_str());
  if (pop == nullptr) ThrowObjError(env, Op::kOpen, "pmemobj_open", path, errno);
  return MakeHandle(env, pop, path, stats);
}

// objCheck(path, layout|null) -> boolean (pmemobj_check: 1 consistent,
// 0 not consistent, -1 could not be checked, which is thrown).
Napi::Value CheckPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  bool anyLayout = info[1].IsNull() || info[1].IsUndefined();
  std::string layout = anyLayout ? "" : StringArg(info, 1, "layout");
  RefusePoolSet(env, path);
  RefuseShortFile(env, path);
  int r = pmemobj_check(path.c_str(), anyLayout ? nullptr : layout.c_str());
  if (r < 0) ThrowObjError(env, Op::kCheck, "pmemobj_check", path, errno);
  return Napi::Boolean::New(env, r == 1);
}

}  // namespace
}  // namespace obj

void InitObjPool(Napi::Env env, Napi::Object exports) {
  exports.Set("objCreate", Napi::Function::New(env, obj::Create, "objCreate"));
  exports.Set("objOpen", Napi::Function::New(env, obj::Open, "objOpen"));
  exports.Set("objCheck", Napi::Function::New(env, obj::CheckPool, "objCheck"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("minPool", Napi::Number::New(env, static_cast<double>(PMEMOBJ_MIN_POOL)));
  c.Set("maxAlloc", Napi::Number::New(env, static_cast<double>(PMEMOBJ_MAX_ALLOC_SIZE)));
  c.Set("maxLayout", Napi::Number::New(env, static_cast<double>(PMEMOBJ_MAX_LAYOUT)));
  exports.Set("objConstants", c);
}

}  // namespace pmem
