#include "mapping/mapping.h"

#include <fcntl.h>
#include <libpmem.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/args.h"
#include "core/errors.h"
#include "mapping/granularity.h"
#include "mapping/gather.h"
#include "mapping/populate.h"
#include "mapping/space.h"
#include "mapping/state.h"

namespace pmem {
namespace {

// The flags of mapOpen. This is their only definition: they are exported as
// mapFlags, and lib/core/mapping.ts builds its flags from that object.
constexpr uint32_t kCreate = 1;
constexpr uint32_t kExclusive = 2;
constexpr uint32_t kSparse = 4;
constexpr uint32_t kReadOnly = 8;
// With kReadOnly: map the file MAP_SHARED and PROT_READ (see OpenReadOnly).
constexpr uint32_t kShared = 16;

State* StateOf(const Napi::CallbackInfo& info) {
  return static_cast<StatePtr*>(info.Data())->get();
}

[[noreturn]] void ThrowClosed(Napi::Env env, const State* s) {
  throw MakePmemError(env, "ERR_PMEM_CLOSED", "mapping of '" + s->path + "' is closed", 0,
                      nullptr, &s->path);
}

State* Live(const Napi::CallbackInfo& info) {
  State* s = StateOf(info);
  if (!s->mapped()) ThrowClosed(info.Env(), s);
  return s;
}

State* Writable(const Napi::CallbackInfo& info) {
  State* s = StateOf(info);
  CheckWritable(info.Env(), s);
  return s;
}

// Reads (offset, length) at argument positions i, i+1 and checks them
// against the mapping.
void RangeArgs(const Napi::CallbackInfo& info, const State* s, size_t i, uint64_t* off,
               uint64_t* len) {
  *off = ArgIndex(info, i, "offset");
  *len = ArgIndex(info, i + 1, "length");
  CheckRange(info.Env(), *off, *len, s->length);
}

// A read-only mapping is private by default, and writable in the process: a
// store from JavaScript into a read-only view then changes only this
// process's copy and can never fault. Nothing is ever written back to the
// file. Its pages are not reserved up front (MAP_NORESERVE): a store takes
// a page of memory when it is made, as any allocation does, so a file larger
// than memory and swap opens, and the process can still fork.
//
// Its holes are not mapped from the file: on tmpfs even a read fault of a
// hole allocates a page, which is a SIGBUS on a full filesystem. A read-only
// open cannot reserve blocks, so each whole page of a hole is mapped from
// anonymous memory instead; it reads as zeros, as the hole does.
//
// With kShared the file is mapped MAP_SHARED and PROT_READ, holes included:
// the mapping is the page cache (or DAX media) itself, so it sees every store
// another process makes to the file, also into a range that was a hole when
// this mapping was made, and it is not charged to commit. A store into it
// from JavaScript is a SIGSEGV: it is for code that never writes its views
// (a KVStore reader following a writer). A read fault of a hole allocates a
// page on tmpfs (a SIGBUS when it is full) and maps the zero page on fs-dax.
void OpenReadOnly(Napi::Env env, State* s, bool shared) {
  // O_NONBLOCK: an open of a FIFO for reading would otherwise wait for a
  // writer, forever; it returns at once, and the check below refuses it.
  // On a regular file it changes nothing (reads of the page cache and
  // mmap do not block on it).
  int fd = open(s->path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) ThrowErrno(env, errno, "open", s->path, nullptr);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "fstat", s->path, nullptr);
  }
  if (!S_ISREG(st.st_mode) || st.st_size == 0) {
    close(fd);
    throw MakePmemError(env, "ERR_PMEM_INVALID",
                        "cannot map '" + s->path + "' read-only: not a non-empty regular file",
                        0, "mmap", &s->path);
  }
  const size_t len = static_cast<size_t>(st.st_size);
  void* addr = shared ? mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0)
                      // MAP_NORESERVE: see above (test/10.mapping, "larger
                      // than memory and swap").
                      : mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
  if (addr == MAP_FAILED) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "mmap", s->path, nullptr);
  }
  char* base = static_cast<char*>(addr);
  if (!shared) {
    for (const Span64& h : PageHoles(fd, len, static_cast<uint64_t>(sysconf(_SC_PAGESIZE)))) {
      if (mmap(base + h.begin, h.end - h.begin, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
        int err = errno;  // ENOMEM: more holes than the process may have mappings
        munmap(addr, len);
        close(fd);
        ThrowErrno(env, err, "mmap", s->path, nullptr);
      }
    }
  }
  s->addr = base;
  s->length = len;
  s->mmapped = true;
  s->fd = fd;
}

// Opens the file for writing. With kCreate a missing file is created with
// O_EXCL, so that this call knows it made the file and may remove it again.
int OpenReadWrite(Napi::Env env, const std::string& path, uint32_t flags, bool* created) {
  const bool create = (flags & kCreate) != 0;
  const bool exclusive = create && (flags & kExclusive) != 0;
  *created = false;
  constexpr int kCreateRounds = 1000;
  int rounds = 0;
  for (;;) {
    if (!exclusive) {
      int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd >= 0) return fd;
      if (errno != ENOENT || !create) ThrowErrno(env, errno, "open", path, nullptr);
    }
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0666);
    if (fd >= 0) {
      *created = true;
      return fd;
    }
    if (errno != EEXIST || exclusive) ThrowErrno(env, errno, "open", path, nullptr);
    // EEXIST without exclusive, after the open above found nothing: either
    // another process created the file just now (open that), or the path
    // is a symbolic link to nothing, which O_EXCL never follows: every
    // round would end here again.
    char to[PATH_MAX];
    const ssize_t n = readlink(path.c_str(), to, sizeof to - 1);
    if (n >= 0) {
      to[n] = '\0';
      struct stat target;
      if (stat(path.c_str(), &target) != 0 && errno == ENOENT) {
        throw MakePmemError(env, "ERR_PMEM_NOT_FOUND",
                            "cannot create '" + path + "': it is a symbolic link to '" + to +
                                "', which does not exist; nothing was created",
                            ENOENT, "open", &path);
      }
    }
    // A file created and removed again by another process over and over:
    // give up after a bounded number of rounds rather than spin.
    if (++rounds == kCreateRounds) ThrowErrno(env, EEXIST, "open", path, nullptr);
  }
}

// Reserve before extend: blocks for the new range (unless kSparse) and for
// every hole are reserved before the size is set and before anything is
// mapped, so that no mapped page of a regular file is without blocks. On
// any failure the file is put back as it was (or removed, when this call
// created it) and nothing is mapped.
void OpenWritable(Napi::Env env, State* s, uint64_t size, uint32_t flags) {
  bool created = false;
  int fd = OpenReadWrite(env, s->path, flags, &created);
  struct stat before;
  if (fstat(fd, &before) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "fstat", s->path, nullptr);
  }
  const bool regular = S_ISREG(before.st_mode);
  uint64_t want = regular ? static_cast<uint64_t>(before.st_size) : 0;
  if ((flags & kCreate) && size > want) want = size;
  auto fail = [&](int err, const char* call, const char* lib) {
    if (regular) Restore(fd, before, want);
    if (created) unlink(s->path.c_str());
    close(fd);
    ThrowErrno(env, err, call, s->path, lib);
  };
  if (regular) {
    if (want == 0) {
      if (created) unlink(s->path.c_str());
      close(fd);
      throw MakePmemError(env, "ERR_PMEM_INVALID", "cannot map '" + s->path + "': the file is empty", 0,
                          "mmap", &s->path);
    }
    const char* call = "fallocate";
    int err = ExtendReserved(fd, before, want, (flags & kSparse) != 0, &call);
    // A file created sparse, or opened with kSparse, keeps its holes: the
    // caller accepts that a store there may fault on a full filesystem.
    if (err == 0 && !(flags & kSparse)) err = ReserveHoles(fd, before, want, &call);
    if (err != 0) fail(err, call, nullptr);
  }
  // pmem_map_file on the prepared file (no PMEM_FILE_CREATE: it would
  // extend the file before reserving it). It maps the whole file, Device
  // DAX included, and decides is_pmem (MAP_SYNC, PMEM_IS_PMEM_FORCE).
  // It opens the file again by name: through /proc/self/fd, the name opens
  // the file `fd` is, the one sized and reserved above, whatever the path
  // names by now (renamed or replaced meanwhile). Without /proc, the path.
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  const char* mapPath = access(self.c_str(), F_OK) == 0 ? self.c_str() : s->path.c_str();
  size_t mappedLen = 0;
  int isPmem = 0;
  void* addr = pmem_map_file(mapPath, 0, 0, 0, &mappedLen, &isPmem);
  if (addr == nullptr) fail(errno, "pmem_map_file", pmem_errormsg());
  s->addr = static_cast<char*>(addr);
  s->length = mappedLen;
  s->isPmem = isPmem != 0;
  s->fd = fd;
}

// --- functions bound to one mapping (data = StatePtr*) -----------------

// flush, persist and sealRecord are in hotpath.cc (AddHotPath).

// deepFlush: persist, and also drain the memory controller's write-pending
// queues (the region's deep_flush); on non-pmem it is an msync.
Napi::Value DeepFlush(const Napi::CallbackInfo& info) {
  State* s = Writable(info);
  uint64_t off, len;
  RangeArgs(info, s, 0, &off, &len);
  // Flush, fence, then the deep flush: the range has left the memory
  // controller's write-pending queues when this returns, so it survives even
  // a failure of ADR, on which pmem_persist alone relies.
  if (len > 0 && pmem_deep_persist(s->addr + off, len) != 0) {
    ThrowErrno(info.Env(), errno, "pmem_deep_persist", s->path, pmem_errormsg());
  }
  return info.Env().Undefined();
}

// copy(off, src): the bytes are durable when it returns. Uses memmove
// semantics, since src may itself be a view of this mapping. src may be
// any typed array, or an ArrayBuffer, over an ArrayBuffer or a
// SharedArrayBuffer (napi_get_typedarray_info gives the data pointer of
// either; node-addon-api's ArrayBuffer().Data() refuses a shared one).
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* s = Writable(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  const char* src = nullptr;
  size_t len = 0;
  if (info[1].IsTypedArray()) {
    napi_typedarray_type type;
    size_t count = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, info[1], &type, &count, &data, nullptr, nullptr) != napi_ok) {
      throw Napi::TypeError::New(env, "source must be a Buffer or Uint8Array");
    }
    src = static_cast<const char*>(data);
    len = info[1].As<Napi::TypedArray>().ByteLength();
  } else if (info[1].IsArrayBuffer()) {
    Napi::ArrayBuffer ab = info[1].As<Napi::ArrayBuffer>();
    src = static_cast<const char*>(ab.Data());
    len = ab.ByteLength();
  } else {
    throw Napi::TypeError::New(env, "source must be a Buffer or Uint8Array");
  }
  CheckRange(env, off, len, s->length);
  if (len == 0) return env.Undefined();
  // Copy, flush and fence (on memory that is not pmem, copy and msync): the
  // bytes are durable before copy() returns, so the caller may publish them.
  if (s->isPmem) {
    pmem_memmove_persist(s->addr + off, src, len);
  } else {
    std::memmove(s->addr + off, src, len);
    if (pmem_msync(s->addr + off, len) != 0) ThrowMsync(env, s);
  }
  return env.Undefined();
}

// fill(off, byte, len): durable when it returns.
Napi::Value Fill(const Napi::CallbackInfo& info) {
  State* s = Writable(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  uint64_t byte = ArgIndex(info, 1, "byte");
  uint64_t len = ArgIndex(info, 2, "length");
  if (byte > 255) throw Napi::RangeError::New(info.Env(), "byte must be 0..255");
  CheckRange(info.Env(), off, len, s->length);
  if (len == 0) return info.Env().Undefined();
  // As copy(): the range is durable before fill() returns.
  if (s->isPmem) {
    pmem_memset_persist(s->addr + off, static_cast<int>(byte), len);
  } else {
    std::memset(s->addr + off, static_cast<int>(byte), len);
    if (pmem_msync(s->addr + off, len) != 0) ThrowMsync(info.Env(), s);
  }
  return info.Env().Undefined();
}

// view(off, len) -> ArrayBuffer over [off, off+len) (MappedRange::NewView).
Napi::Value View(const Napi::CallbackInfo& info) {
  State* s = Live(info);
  return MappedRange::NewView(info, *static_cast<StatePtr*>(info.Data()), s->addr, s->length, "mapping");
}

// close(): detach every view, then unmap. Closing twice does nothing.
Napi::Value Close(const Napi::CallbackInfo& info) {
  StateOf(info)->DetachAndRelease(info.Env());
  return info.Env().Undefined();
}

// fileSize() -> the file's size now (fstat). A file that another process
// truncated under the mapping is smaller than `length`: any access past its
// end faults, so callers check before they trust or grow the mapping.
Napi::Value FileSize(const Napi::CallbackInfo& info) {
  State* s = Live(info);
  struct stat st;
  if (fstat(s->fd, &st) != 0) ThrowErrno(info.Env(), errno, "fstat", s->path, nullptr);
  return Napi::Number::New(info.Env(), static_cast<double>(st.st_size));
}

// rename(path): the name errors give from now on. A new file is mapped
// under a temporary name and then published under its own; the mapping
// and its descriptor stay the same.
Napi::Value Rename(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "path must be a string");
  StateOf(info)->path = info[0].As<Napi::String>().Utf8Value();
  return info.Env().Undefined();
}

// drain(): the SFENCE that makes every earlier flush of this thread durable
// before any later store; lib/core/mapping.ts calls it only on pmem (an
// msync is durable at once).
Napi::Value Drain(const Napi::CallbackInfo& info) {
  pmem_drain();
  return info.Env().Undefined();
}

// open(path, size, flags) -> handle
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "path must be a string");
  uint64_t size = ArgIndex(info, 1, "size");
  uint32_t flags = static_cast<uint32_t>(ArgIndex(info, 2, "flags"));

  auto state = std::make_shared<State>();
  State* s = state.get();
  s->path = info[0].As<Napi::String>().Utf8Value();
  s->readOnly = (flags & kReadOnly) != 0;

  if ((flags & kShared) != 0 && !s->readOnly) {
    throw Napi::TypeError::New(env, "shared applies only with readOnly");
  }
  if (s->readOnly) {
    OpenReadOnly(env, s, (flags & kShared) != 0);
  } else {
    OpenWritable(env, s, size, flags);
  }
  s->AddCleanupHook(env);

  Granularity probed = kPage;
  bool known = ProbeGranularity(s->path, &probed);
  if (s->readOnly) {
    // Nothing is persisted through a read-only mapping; report what the
    // file's medium would need.
    s->isPmem = known ? probed != kPage : false;
    s->granularity = known ? probed : kPage;
  } else if (!s->isPmem) {
    s->granularity = kPage;
  } else {
    // libpmem flushes with CLWB/CLFLUSHOPT here. With PMEM_IS_PMEM_FORCE on
    // a non-DAX file libpmem2 reports page; report what this mapping's
    // persist actually does instead.
    s->granularity = (known && probed == kByte) ? kByte : kCacheLine;
  }

  Napi::Object h = Napi::Object::New(env);
  h.Set("length", Napi::Number::New(env, static_cast<double>(s->length)));
  h.Set("isPmem", Napi::Boolean::New(env, s->isPmem));
  h.Set("granularity", GranularityName(s->granularity));
  // Whether libpmem2 sees a DAX medium (not just PMEM_IS_PMEM_FORCE).
  h.Set("dax", Napi::Boolean::New(env, known && probed != kPage));
  struct Entry {
    const char* name;
    Napi::Function::Callback fn;
  };
  const Entry entries[] = {{"deepFlush", DeepFlush}, {"copy", Copy}, {"fill", Fill},
                           {"view", View},           {"close", Close},
                           {"fileSize", FileSize}, {"rename", Rename}};
  for (const Entry& e : entries) BindMethod(env, h, e.name, e.fn, state);
  AddHotPath(env, state, h);
  AddPopulate(env, state, h);
  AddGather(env, state, h);
  return h;
}

}  // namespace

void InitMapping(Napi::Env env, Napi::Object exports) {
  exports.Set("mapOpen", Napi::Function::New(env, Open, "mapOpen"));
  exports.Set("drain", Napi::Function::New(env, Drain, "drain"));
  exports.Set("punchHole", Napi::Function::New(env, PunchHole, "punchHole"));
  exports.Set("mapFlags", [&] {
    Napi::Object f = Napi::Object::New(env);
    f.Set("create", kCreate);
    f.Set("exclusive", kExclusive);
    f.Set("sparse", kSparse);
    f.Set("readOnly", kReadOnly);
    f.Set("shared", kShared);
    return f;
  }());
}

// Throws ERR_PMEM_CLOSED or ERR_PMEM_READONLY unless s can be written.
void CheckMapped(Napi::Env env, const State* s) {
  if (!s->mapped()) ThrowClosed(env, s);
}

void CheckWritable(Napi::Env env, const State* s) {
  if (!s->mapped()) ThrowClosed(env, s);
  if (s->readOnly) {
    throw MakePmemError(env, "ERR_PMEM_READONLY", "mapping of '" + s->path + "' is read-only", 0, nullptr,
                        &s->path);
  }
}

[[noreturn]] void ThrowMsync(Napi::Env env, const State* s) {
  ThrowErrno(env, errno, "pmem_msync", s->path, pmem_errormsg());
}

}  // namespace pmem
