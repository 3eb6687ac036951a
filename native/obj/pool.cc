#include "obj/pool.h"

#include <fcntl.h>
#include <libpmem2.h>
#include <libpmemobj.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <string>

#include "core/args.h"
#include "core/errors.h"
#include "mapping/space.h"

namespace pmem {
namespace obj {

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

Pool* Live(const Napi::CallbackInfo& info) {
  Pool* p = PoolOf(info);
  if (!p->open()) {
    throw MakePmemError(info.Env(), "ERR_PMEM_CLOSED", "pool '" + p->path + "' is closed", 0,
                        nullptr, &p->path);
  }
  return p;
}

namespace {

// --- functions bound to one pool (data = PoolPtr*) ---------------------

// view(off, len) -> ArrayBuffer over [off, off+len) of the pool
// (MappedRange::NewView).
Napi::Value View(const Napi::CallbackInfo& info) {
  Pool* p = Live(info);
  return MappedRange::NewView(info, *static_cast<PoolPtr*>(info.Data()), p->base(), p->size, "pool");
}

// close(): roll back an open transaction, detach every view, close the pool.
Napi::Value Close(const Napi::CallbackInfo& info) {
  PoolOf(info)->DetachAndRelease(info.Env());
  return info.Env().Undefined();
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

// Where the descriptor keeps heap_offset: after the 4 KiB pool header, the
// layout name (1 KiB), lanes_offset and nlanes (see lib/obj/media.ts).
// pmemobj_open has checked the descriptor's checksum.
constexpr size_t kDescHeapOffset = 4096 + 1024 + 16;

// What is wrong with a root of `size` bytes at `off`, or "" when it lies
// in the heap, inside the pool, and clear of every object in the table.
//
// root_offset and root_size lie outside the descriptor's checksum, and
// libpmemobj returns root_offset as stored. lib/obj/media.ts checks, before
// open, that it is an allocated object of at least root_size usable bytes
// (a walk of the heap, which it makes anyway). This is the O(log objects)
// check of what JavaScript is not trusted with, and of a pool it does not
// read (a device DAX): a root in the pool's header, its lanes, past its end
// or over another object would let writes through it go there.
// pmemobj_alloc_usable_size is not asked: on an offset that is not an
// object's start it reads garbage.
std::string MisplacedRoot(const Pool* p, uint64_t off, uint64_t size) {
  uint64_t heap;
  memcpy(&heap, p->base() + kDescHeapOffset, sizeof heap);
  if (off <= heap || off > p->size || size > p->size - off) {
    return "at " + std::to_string(off) + " of " + std::to_string(size) +
           " bytes lies outside the heap (" + std::to_string(heap) + " to " +
           std::to_string(p->size) + ")";
  }
  auto after = p->objects.lower_bound(off);
  if (after != p->objects.begin()) {
    auto before = std::prev(after);
    if (off - before->first < before->second) {
      return "at " + std::to_string(off) + " lies inside the object at " +
             std::to_string(before->first);
    }
  }
  if (after != p->objects.end() && after->first < off + size) {
    return "at " + std::to_string(off) + " of " + std::to_string(size) +
           " bytes overlaps the object at " + std::to_string(after->first);
  }
  return "";
}

Napi::Object MakeHandle(Napi::Env env, PMEMobjpool* pop, const std::string& path, bool stats) {
  auto pool = std::make_shared<Pool>();
  Pool* p = pool.get();
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
  //
  // Invariant: pmemobj_next walks the heap zone by zone, chunk by chunk and
  // block by block, so on a healthy pool each object starts after the one
  // before it and inside the pool. A damaged heap (a run's block size or an
  // object's header) can send it back to an earlier object, and this loop
  // would never end: a step that does not move forward inside the pool is
  // refused. Moving forward bounds the walk by the pool's size.
  uint64_t last = 0;
  for (PMEMoid oid = pmemobj_first(pop); !OID_IS_NULL(oid); oid = pmemobj_next(oid)) {
    if (oid.off <= last || oid.off >= p->size) {
      pmemobj_close(pop);
      p->pop = nullptr;
      throw MakePmemError(env, "ERR_PMEM_CORRUPT", "'" + path + "' is a damaged pool: its heap "
                          "walk goes from offset " + std::to_string(last) + " to " +
                          std::to_string(oid.off), 0, nullptr, &path);
    }
    last = oid.off;
    p->objects[oid.off] = pmemobj_alloc_usable_size(oid);
  }
  size_t rootSize = pmemobj_root_size(pop);
  if (rootSize > 0) {
    PMEMoid root = pmemobj_root(pop, rootSize);  // root_offset as stored: no allocation
    std::string bad = MisplacedRoot(p, root.off, rootSize);
    if (!bad.empty()) {
      pmemobj_close(pop);
      p->pop = nullptr;
      p->objects.clear();
      throw MakePmemError(env, "ERR_PMEM_CORRUPT", "'" + path + "' is a damaged pool: its root " +
                          bad, 0, nullptr, &path);
    }
    p->rootOff = root.off;
    p->objects[root.off] = rootSize;
  }
  p->AddCleanupHook(env);

  Napi::Object h = Napi::Object::New(env);
  h.Set("size", Napi::Number::New(env, static_cast<double>(p->size)));
  BindMethod(env, h, "view", View, pool);
  InitObjHeap(env, h, pool);
  BindMethod(env, h, "close", Close, pool);
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
    const char* code = ObjFormatCode(path);
    throw MakePmemError(env, code, "'" + path + "' is " + std::to_string(st.st_size) +
                        " bytes, smaller than any pool (" + std::to_string(PMEMOBJ_MIN_POOL) + ")",
                        0, nullptr, &path);
  }
}

// objCreate(path, tmp, layout, size, mode, sds, stats) -> handle
//
// The pool is made whole under `tmp`, a new name in path's directory
// (lib/obj/pool.ts draws it as lib/core/create-file.ts does), made durable,
// and only then given `path` with link(), which never replaces a file: a
// kill at any point leaves `path` missing or a whole pool, never a file
// that is not yet a pool, which open would refuse and create would find in
// its way. tmp is unlinked before the call returns, whatever happens; a
// kill can leave it behind, under a name no open ever takes for the pool.
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  std::string tmp = StringArg(info, 1, "tmp");
  std::string layout = StringArg(info, 2, "layout");
  uint64_t size = ArgIndex(info, 3, "size");
  uint64_t mode = ArgIndex(info, 4, "mode");
  bool sds = info[5].ToBoolean().Value();
  bool stats = info[6].ToBoolean().Value();
  if (size < PMEMOBJ_MIN_POOL) throw Napi::RangeError::New(env, "size is below PMEMOBJ_MIN_POOL");
  // Permission bits only: a setuid, setgid or sticky bit on a data file is
  // never meant, and open(2) would take it as given.
  if (mode > 0777) throw Napi::RangeError::New(env, "mode must be 0..0o777");
  // A file already there is refused before a pool's worth of blocks is
  // reserved; link() below decides a race with another creator.
  struct stat there;
  if (lstat(path.c_str(), &there) == 0) ThrowErrno(env, EEXIST, "open", path, nullptr);
  // The file is made here, not by libpmemobj: pmemobj_create with a size
  // creates the file with mode 0 and, once the pool is laid out, chmods it
  // to `mode`, so the umask never applies (PMDK 1.12.1). open(O_CREAT |
  // O_EXCL, mode) lets the kernel apply the umask (or the directory's
  // default ACL) as for any new file, so the file never has wider
  // permissions than its final ones, not even for an instant; O_EXCL makes
  // it this call's own, to remove again.
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) ThrowErrno(env, errno, "open", tmp, nullptr);
  // Removes tmp, unless it names another file by now: that one is not ours.
  auto dropTmp = [&]() {
    struct stat mine, now;
    if (fstat(fd, &mine) == 0 && lstat(tmp.c_str(), &now) == 0 && mine.st_dev == now.st_dev &&
        mine.st_ino == now.st_ino) {
      unlink(tmp.c_str());
    }
    close(fd);
  };
  // Reserve before extend: the blocks of the whole pool exist before the
  // size is set and before libpmemobj maps and writes it, so a full
  // filesystem is ERR_PMEM_NO_SPACE here rather than a SIGBUS there.
  struct stat empty;
  const char* call = "fstat";
  int err = fstat(fd, &empty) == 0 ? ExtendReserved(fd, empty, size, false, &call) : errno;
  if (err != 0) {
    dropTmp();
    ThrowErrno(env, err, call, tmp, nullptr);
  }
  // sds.at_create is process-wide: set it around this one create and put
  // the old value back. Pools created without SDS never read the
  // unsafe-shutdown count, at create or at any later open.
  int oldSds = 1;
  if (!sds) {
    pmemobj_ctl_get(nullptr, "sds.at_create", &oldSds);
    int off = 0;
    pmemobj_ctl_set(nullptr, "sds.at_create", &off);
  }
  // poolsize 0: the pool takes the whole existing file, and libpmemobj
  // leaves its mode alone (it chmods only the files it created itself).
  PMEMobjpool* pop = pmemobj_create(tmp.c_str(), layout.c_str(), 0, static_cast<mode_t>(mode));
  err = errno;
  if (!sds) pmemobj_ctl_set(nullptr, "sds.at_create", &oldSds);
  if (pop == nullptr) {
    dropTmp();
    ThrowObjError(env, ObjOp::kCreate, "pmemobj_create", tmp, err);
  }
  // The pool's bytes, the file's size and its blocks are durable before
  // the name that publishes it: libpmemobj persisted what it wrote, and
  // fsync covers the metadata of the extension.
  call = "fsync";
  err = fsync(fd) == 0 ? 0 : errno;
  if (err == 0) {
    call = "link";
    err = link(tmp.c_str(), path.c_str()) == 0 ? 0 : errno;
  }
  if (err != 0) {
    pmemobj_close(pop);
    dropTmp();
    ThrowErrno(env, err, call, std::string(call) == "link" ? path : tmp, nullptr);
  }
  // The caller makes the new name durable in its directory (fsync of it).
  dropTmp();
  ClearObjErrorMessage();  // what a success left behind is no later failure's
  return MakeHandle(env, pop, path, stats);
}

// The (path, layout|null) arguments of objOpen and objCheck, read and
// checked before libpmemobj sees the file.
struct ExistingPool {
  std::string path;
  bool anyLayout;
  std::string layout;

  explicit ExistingPool(const Napi::CallbackInfo& info)
      : path(StringArg(info, 0, "path")),
        anyLayout(info[1].IsNull() || info[1].IsUndefined()),
        layout(anyLayout ? "" : StringArg(info, 1, "layout")) {}

  // Refuses what libpmemobj must not see (RefusePoolSet, RefuseShortFile).
  void Check(Napi::Env env) const {
    RefusePoolSet(env, path);
    RefuseShortFile(env, path);
  }
  const char* Layout() const { return anyLayout ? nullptr : layout.c_str(); }
};

// Reserves blocks for the holes of a regular pool file before libpmemobj
// maps it: a pool copied sparse (cp --sparse, rsync -S, a restored backup)
// on a full filesystem would otherwise take a SIGBUS at the first store into
// a hole, at open's recovery or at any later allocation, instead of
// ERR_PMEM_NO_SPACE here. Under LOCK_EX, libpmemobj's own lock: a failed
// reservation punches again the holes it filled, which must not be another
// opener's new data. A file this process may not write, or one that is not
// regular, is left to pmemobj_open to refuse or map.
void ReservePoolHoles(Napi::Env env, const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      throw MakePmemError(env, "ERR_PMEM_LOCKED", "'" + path + "' is open in another process or handle", err,
                          "flock", &path);
    }
    return;  // no flock here (some network filesystems): pmemobj_open decides
  }
  const char* call = "fallocate";
  int err = ReserveHoles(fd, st, static_cast<uint64_t>(st.st_size), &call);
  close(fd);  // drops the lock before pmemobj_open takes its own
  if (err != 0) ThrowErrno(env, err, call, path, nullptr);
}

// objOpen(path, layout|null, stats) -> handle
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExistingPool a(info);
  bool stats = info[2].ToBoolean().Value();
  a.Check(env);
  ReservePoolHoles(env, a.path);
  PMEMobjpool* pop = pmemobj_open(a.path.c_str(), a.Layout());
  if (pop == nullptr) ThrowObjError(env, ObjOp::kOpen, "pmemobj_open", a.path, errno);
  ClearObjErrorMessage();  // "Unsafe shutdown count is not supported ..." on /dev/shm
  return MakeHandle(env, pop, a.path, stats);
}

// objCheck(path, layout|null) -> boolean (pmemobj_check: 1 consistent,
// 0 not consistent, -1 could not be checked, which is thrown). A pool this
// process may read but not write is checked through a private copy
// (PrivateCopyForCheck, native/obj/check.cc), given to pmemobj_check by its
// /proc/self/fd name; errors name the user's path.
Napi::Value CheckPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExistingPool a(info);
  a.Check(env);
  std::string why;
  int copy = PrivateCopyForCheck(env, a.path, &why);
  std::string target = copy < 0 ? a.path : "/proc/self/fd/" + std::to_string(copy);
  int r = pmemobj_check(target.c_str(), a.Layout());
  int err = errno;
  if (copy >= 0) close(copy);
  if (r < 0) {
    std::string note = copy < 0 ? "" : " (checked through a private copy in memory: the file is not "
                                       "writable here, " + why + ")";
    ThrowObjError(env, ObjOp::kCheck, "pmemobj_check", a.path, err, copy < 0 ? "" : target, note);
  }
  ClearObjErrorMessage();
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
