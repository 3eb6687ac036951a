#include "mapping.h"

#include <fcntl.h>
#include <libpmem.h>
#include <libpmem2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <immintrin.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "crc32c.h"
#include "errors.h"

namespace pmem {
namespace {

// Flags from lib/mapping.ts; keep in step with MapFlags there.
constexpr uint32_t kCreate = 1;
constexpr uint32_t kExclusive = 2;
constexpr uint32_t kSparse = 4;
constexpr uint32_t kReadOnly = 8;

enum Granularity { kByte, kCacheLine, kPage };

const char* GranularityName(Granularity g) {
  switch (g) {
    case kByte: return "byte";
    case kCacheLine: return "cache-line";
    default: return "page";
  }
}

// The mapped range and everything that may still point into it.
//
// Lifetime: shared by the handle's functions and by every ArrayBuffer view.
// The range is unmapped by close() (after every view is detached), by the
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
  Granularity granularity = kPage;
  bool hookActive = false;
  std::vector<napi_ref> views;  // weak references, detached on close

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

State* StateOf(const Napi::CallbackInfo& info) {
  return static_cast<StatePtr*>(info.Data())->get();
}

void DeleteStatePtr(napi_env /*env*/, void* data, void* /*hint*/) {
  delete static_cast<StatePtr*>(data);
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

// Throws ERR_PMEM_CLOSED or ERR_PMEM_READONLY unless s can be written.
void CheckWritable(Napi::Env env, const State* s) {
  if (!s->mapped()) ThrowClosed(env, s);
  if (s->readOnly) {
    throw MakePmemError(env, "ERR_PMEM_READONLY", "mapping of '" + s->path + "' is read-only", 0, nullptr,
                        &s->path);
  }
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

[[noreturn]] void ThrowMsync(Napi::Env env, const State* s) {
  ThrowErrno(env, errno, "pmem_msync", s->path, pmem_errormsg());
}

// Asks libpmem2 what a store to this file needs to become persistent. It
// maps one alignment unit read-only, reads the granularity and unmaps it.
// Returns false when libpmem2 cannot tell (a file smaller than its
// alignment, say); the caller then falls back to libpmem's is_pmem.
bool ProbeGranularity(const std::string& path, Granularity* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = false;
  pmem2_source* src = nullptr;
  pmem2_config* cfg = nullptr;
  pmem2_map* map = nullptr;
  size_t align = 0, size = 0;
  if (pmem2_source_from_fd(&src, fd) == 0 && pmem2_source_alignment(src, &align) == 0 &&
      pmem2_source_size(src, &size) == 0 && align > 0 && size >= align &&
      pmem2_config_new(&cfg) == 0 &&
      pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE) == 0 &&
      pmem2_config_set_length(cfg, align) == 0 &&
      pmem2_config_set_protection(cfg, PMEM2_PROT_READ) == 0 &&
      pmem2_map_new(&map, cfg, src) == 0) {
    switch (pmem2_map_get_store_granularity(map)) {
      case PMEM2_GRANULARITY_BYTE: *out = kByte; break;
      case PMEM2_GRANULARITY_CACHE_LINE: *out = kCacheLine; break;
      default: *out = kPage; break;
    }
    pmem2_map_delete(&map);
    ok = true;
  }
  if (cfg != nullptr) pmem2_config_delete(&cfg);
  if (src != nullptr) pmem2_source_delete(&src);
  close(fd);
  return ok;
}

// Read-only mappings are private and writable in the process: a store from
// JavaScript into a read-only view then changes only this process's copy and
// can never fault. Nothing is ever written back to the file.
void OpenReadOnly(Napi::Env env, State* s) {
  int fd = open(s->path.c_str(), O_RDONLY | O_CLOEXEC);
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
  void* addr = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (addr == MAP_FAILED) ThrowErrno(env, err, "mmap", s->path, nullptr);
  s->addr = static_cast<char*>(addr);
  s->length = static_cast<size_t>(st.st_size);
  s->privateMap = true;
}

void OpenWritable(Napi::Env env, State* s, uint64_t size, uint32_t flags) {
  int pmemFlags = 0;
  size_t len = 0;
  if (flags & kCreate) {
    struct stat st;
    bool exists = stat(s->path.c_str(), &st) == 0;
    // An existing file is never truncated: create only makes a missing file,
    // or grows a smaller one to `size`.
    if (!exists || (flags & kExclusive) ||
        (S_ISREG(st.st_mode) && size > static_cast<uint64_t>(st.st_size))) {
      pmemFlags = PMEM_FILE_CREATE;
      if (flags & kExclusive) pmemFlags |= PMEM_FILE_EXCL;
      if (flags & kSparse) pmemFlags |= PMEM_FILE_SPARSE;
      len = static_cast<size_t>(size);
    }
  }
  size_t mappedLen = 0;
  int isPmem = 0;
  void* addr = pmem_map_file(s->path.c_str(), len, pmemFlags, 0666, &mappedLen, &isPmem);
  if (addr == nullptr) ThrowErrno(env, errno, "pmem_map_file", s->path, pmem_errormsg());
  s->addr = static_cast<char*>(addr);
  s->length = mappedLen;
  s->isPmem = isPmem != 0;
}

// --- functions bound to one mapping (data = StatePtr*) -----------------

// flush(off, len): start writing back [off, off+len); persist(off, len):
// flush and fence. On memory that is not pmem there is no cache-line
// write-back that reaches the media, so both are an msync, which is already
// durable; drain then has nothing left to wait for. (RawFlushOrPersist.)

// deepFlush: persist, and also drain the memory controller's write-pending
// queues (the region's deep_flush); on non-pmem it is an msync.
Napi::Value DeepFlush(const Napi::CallbackInfo& info) {
  State* s = Writable(info);
  uint64_t off, len;
  RangeArgs(info, s, 0, &off, &len);
  if (len > 0 && pmem_deep_persist(s->addr + off, len) != 0) {
    ThrowErrno(info.Env(), errno, "pmem_deep_persist", s->path, pmem_errormsg());
  }
  return info.Env().Undefined();
}

// copy(off, src): the bytes are durable when it returns. Uses memmove
// semantics, since src may itself be a view of this mapping.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  State* s = Writable(info);
  uint64_t off = ArgIndex(info, 0, "offset");
  if (!info[1].IsTypedArray() && !info[1].IsArrayBuffer()) {
    throw Napi::TypeError::New(info.Env(), "source must be a Buffer or Uint8Array");
  }
  const char* src;
  size_t len;
  if (info[1].IsArrayBuffer()) {
    Napi::ArrayBuffer ab = info[1].As<Napi::ArrayBuffer>();
    src = static_cast<const char*>(ab.Data());
    len = ab.ByteLength();
  } else {
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    src = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    len = ta.ByteLength();
  }
  CheckRange(info.Env(), off, len, s->length);
  if (len == 0) return info.Env().Undefined();
  if (s->isPmem) {
    pmem_memmove_persist(s->addr + off, src, len);
  } else {
    std::memmove(s->addr + off, src, len);
    if (pmem_msync(s->addr + off, len) != 0) ThrowMsync(info.Env(), s);
  }
  return info.Env().Undefined();
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
  if (s->isPmem) {
    pmem_memset_persist(s->addr + off, static_cast<int>(byte), len);
  } else {
    std::memset(s->addr + off, static_cast<int>(byte), len);
    if (pmem_msync(s->addr + off, len) != 0) ThrowMsync(info.Env(), s);
  }
  return info.Env().Undefined();
}

// --- flush and persist: the hot path, in plain N-API ----------------------
//
// These two run once per durable store, so they skip node-addon-api's
// wrappers: one napi_get_cb_info and one napi_get_value_double per argument
// (RawIndex, args.h). The checks are the same as everywhere else.

template <bool kPersist>
napi_value RawFlushOrPersist(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2] = {nullptr, nullptr};
  void* data = nullptr;
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  State* s = static_cast<StatePtr*>(data)->get();
  uint64_t off, len;
  if (argc < 2) {
    napi_throw_type_error(env, nullptr, "offset and length are required");
    return nullptr;
  }
  try {
    CheckWritable(Napi::Env(env), s);
    if (!RawIndex(env, argv[0], "offset", &off) || !RawIndex(env, argv[1], "length", &len)) return nullptr;
    CheckRange(Napi::Env(env), off, len, s->length);
    if (s->isPmem) {
      // CLWB of every line in the range; persist adds the SFENCE.
      if (kPersist) pmem_persist(s->addr + off, len); else pmem_flush(s->addr + off, len);
    } else if (len > 0 && pmem_msync(s->addr + off, len) != 0) {
      // Not pmem: msync is the flush and is durable at once.
      ThrowMsync(Napi::Env(env), s);
    }
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
  return nullptr;
}

constexpr size_t kMsyncStreamMin = 4096;

// sealRecord(crcAt, end, seed, persist, src?) -> crc: finishes a
// checksummed record in [crcAt, end) in one call. src, if given, is copied to
// the record's tail [end - src.length, end) first. The crc32c of
// [crcAt + 4, end), seeded with seed, is stored at crcAt (u32 LE), the record
// is flushed, and with persist it is drained. It computes what
// sealRecord() in lib/region.ts does through bytes, flush and drain,
// reading src once: the copy, the checksum and the streaming stores for the
// whole lines (on pmem always, before an msync from 4 KiB) are one pass.
napi_value RawSealRecord(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 5;
  napi_value argv[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
  void* data = nullptr;
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  State* s = static_cast<StatePtr*>(data)->get();
  if (argc < 4) {
    napi_throw_type_error(env, nullptr, "crcAt, end, seed and persist are required");
    return nullptr;
  }
  try {
    CheckWritable(Napi::Env(env), s);
    uint64_t crcAt, end, seed;
    if (!RawIndex(env, argv[0], "crcAt", &crcAt) || !RawIndex(env, argv[1], "end", &end) ||
        !RawIndex(env, argv[2], "seed", &seed)) {
      return nullptr;
    }
    if (seed > 0xffffffffu) throw Napi::RangeError::New(env, "seed must be a uint32");
    bool persist;
    if (napi_get_value_bool(env, argv[3], &persist) != napi_ok) {
      throw Napi::TypeError::New(env, "persist must be a boolean");
    }
    CheckRange(Napi::Env(env), crcAt, end < crcAt ? 0 : end - crcAt, s->length);
    if (end < crcAt + 4) throw Napi::RangeError::New(env, "a record needs 4 bytes for its checksum");
    const char* src = nullptr;
    size_t n = 0;
    napi_valuetype t = napi_undefined;
    if (argc >= 5) napi_typeof(env, argv[4], &t);
    if (t != napi_undefined) {
      bool isTyped = false;
      napi_typedarray_type type;
      void* base = nullptr;
      napi_is_typedarray(env, argv[4], &isTyped);
      if (isTyped) napi_get_typedarray_info(env, argv[4], &type, &n, &base, nullptr, nullptr);
      if (!isTyped || type != napi_uint8_array) throw Napi::TypeError::New(env, "src must be a Buffer or Uint8Array");
      src = static_cast<const char*>(base);
      if (n > end - crcAt - 4) {
        throw Napi::RangeError::New(env, "a " + std::to_string(n) + "-byte src does not fit the record's " +
                                             std::to_string(end - crcAt - 4) + " bytes after the checksum");
      }
    }
    char* rec = s->addr + crcAt;
    char* dst = s->addr + end - n;
    uint32_t reg = Crc32cRaw(rec + 4, static_cast<size_t>(dst - rec - 4), ~static_cast<uint32_t>(seed));
    Span streamed;
    const uintptr_t srcAddr = reinterpret_cast<uintptr_t>(src), dstAddr = reinterpret_cast<uintptr_t>(dst);
    if (src != nullptr && srcAddr < dstAddr + n && dstAddr < srcAddr + n) {
      // src is (part of) this record: copy as memmove, then checksum in place.
      std::memmove(dst, src, n);
      reg = Crc32cRaw(dst, n, reg);
    } else if (n > 0) {
      // Whole lines go out with streaming stores, which skip reading the
      // lines first. On pmem they need no flush, and the fence below (or
      // the caller's drain) orders them like flushed lines. Before an msync
      // they pay off only for long copies (measured: slower at 1 KiB).
      reg = CopyCrc32cRaw(dst, src, n, reg, s->isPmem || n >= kMsyncStreamMin, &streamed);
    } else {
      reg = Crc32cRaw(dst, 0, reg);
    }
    uint32_t crc = ~reg;
    // The checksum is stored last; it only validates the bytes it covers,
    // and they are all in place. Nothing here orders it before them: a
    // crash before the fence may leave any subset, which the checksum rejects.
    std::memcpy(rec, &crc, 4);
    if (s->isPmem) {
      // CLWB of every line written with ordinary stores: the header and
      // whatever of the payload was not streamed.
      if (streamed.begin == streamed.end) {
        pmem_flush(rec, end - crcAt);
      } else {
        pmem_flush(rec, streamed.begin - reinterpret_cast<uintptr_t>(rec));
        pmem_flush(reinterpret_cast<char*>(streamed.end), reinterpret_cast<uintptr_t>(s->addr + end) - streamed.end);
      }
      // With persist, the SFENCE: the whole record is durable on return.
      // Without it the caller's drain is the ordering point.
      if (persist) pmem_drain();
    } else {
      // Not pmem: msync writes the pages back and is durable at once. The
      // streaming stores must be globally visible first: SFENCE.
      if (streamed.begin != streamed.end) _mm_sfence();
      if (pmem_msync(rec, end - crcAt) != 0) ThrowMsync(Napi::Env(env), s);
    }
    napi_value r;
    napi_create_uint32(env, crc, &r);
    return r;
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

void ViewFinalizer(napi_env /*env*/, void* /*data*/, void* hint) {
  delete static_cast<StatePtr*>(hint);
}

// view(off, len) -> ArrayBuffer over [off, off+len). lib/mapping.ts creates
// each window once and slices it; one ArrayBuffer per address keeps V8's
// backing-store bookkeeping simple. The view keeps the state alive and is
// detached on close.
Napi::Value View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* s = Live(info);
  uint64_t off, len;
  RangeArgs(info, s, 0, &off, &len);
  if (len == 0 || len > (uint64_t{1} << 32)) {
    throw Napi::RangeError::New(env, "a view must be 1 byte to 4 GiB long");
  }
  auto* hint = new StatePtr(*static_cast<StatePtr*>(info.Data()));
  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(env, s->addr + off, len, ViewFinalizer,
                                                    hint, &ab);
  if (st != napi_ok) {
    delete hint;
    throw Napi::Error::New(env, "cannot create a view of the mapping");
  }
  napi_ref ref;
  if (napi_create_reference(env, ab, 0, &ref) == napi_ok) s->views.push_back(ref);
  return Napi::Value(env, ab);
}

// close(): detach every view, then unmap. Closing twice does nothing.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* s = StateOf(info);
  if (!s->mapped()) return env.Undefined();
  for (napi_ref ref : s->views) {
    napi_value v;
    if (napi_get_reference_value(env, ref, &v) == napi_ok && v != nullptr) {
      napi_detach_arraybuffer(env, v);
    }
    napi_delete_reference(env, ref);
  }
  s->views.clear();
  s->Unmap();
  return env.Undefined();
}

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
  s->env = env;
  s->path = info[0].As<Napi::String>().Utf8Value();
  s->readOnly = (flags & kReadOnly) != 0;

  if (s->readOnly) {
    OpenReadOnly(env, s);
  } else {
    OpenWritable(env, s, size, flags);
  }
  napi_add_env_cleanup_hook(env, State::CleanupHook, s);
  s->hookActive = true;

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
                           {"view", View},           {"close", Close}};
  for (const Entry& e : entries) {
    auto* data = new StatePtr(state);
    Napi::Function fn = Napi::Function::New(env, e.fn, e.name, data);
    napi_add_finalizer(env, fn, data, DeleteStatePtr, nullptr, nullptr);
    h.Set(e.name, fn);
  }
  struct RawEntry {
    const char* name;
    napi_callback fn;
  };
  const RawEntry raw[] = {
      {"flush", RawFlushOrPersist<false>}, {"persist", RawFlushOrPersist<true>}, {"sealRecord", RawSealRecord}};
  for (const RawEntry& e : raw) {
    auto* data = new StatePtr(state);
    napi_value fn;
    NAPI_THROW_IF_FAILED(env, napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, data, &fn), Napi::Value());
    napi_add_finalizer(env, fn, data, DeleteStatePtr, nullptr, nullptr);
    h.Set(e.name, fn);
  }
  return h;
}

}  // namespace

void InitMapping(Napi::Env env, Napi::Object exports) {
  exports.Set("mapOpen", Napi::Function::New(env, Open, "mapOpen"));
  exports.Set("drain", Napi::Function::New(env, Drain, "drain"));
  exports.Set("mapFlags", [&] {
    Napi::Object f = Napi::Object::New(env);
    f.Set("create", kCreate);
    f.Set("exclusive", kExclusive);
    f.Set("sparse", kSparse);
    f.Set("readOnly", kReadOnly);
    return f;
  }());
}

}  // namespace pmem
