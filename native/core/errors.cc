#include "core/errors.h"

#include <fcntl.h>
#include <libpmemobj.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pmem {

AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

Napi::Error MakePmemError(Napi::Env env, const char* code, const std::string& message, int err,
                          const char* syscall, const std::string* path) {
  AddonData* data = GetAddonData(env);
  Napi::Object obj;
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    obj = data->errorClass.New({Napi::String::New(env, code), Napi::String::New(env, message)});
  } else {
    // Only reachable if the addon is used without lib/core/errors.ts.
    obj = Napi::Error::New(env, message).Value();
    obj.Set("code", code);
  }
  if (err != 0) obj.Set("errno", Napi::Number::New(env, err));
  if (syscall != nullptr) obj.Set("syscall", syscall);
  if (path != nullptr) obj.Set("path", *path);
  return Napi::Error(env, obj);
}

const char* CodeForErrno(int err) {
  switch (err) {
    case ENOENT: return "ERR_PMEM_NOT_FOUND";
    case EEXIST: return "ERR_PMEM_EXISTS";
    case EACCES:
    case EPERM:
    case EROFS: return "ERR_PMEM_ACCESS";
    case ENOSPC:
    case EFBIG: return "ERR_PMEM_NO_SPACE";
    case ENOMEM: return "ERR_PMEM_NO_MEMORY";
    case EWOULDBLOCK: return "ERR_PMEM_LOCKED";
    case EINVAL:
    case EISDIR:
    case ENODEV:
    case ENOTSUP:
    // A symbolic link loop, or a path too long, names no file that could
    // ever be opened: a wrong path, as the path-opening stores report it
    // (lib/core/identify.ts).
    case ELOOP:
    case ENAMETOOLONG: return "ERR_PMEM_INVALID";
    default: return "ERR_PMEM_IO";
  }
}

namespace {

const char* FileType(mode_t mode) {
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  return "a special file";
}

}  // namespace

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path,
                const char* libraryMessage) {
  // open(2) fails with ENXIO ("No such device or address") for a special
  // file with nothing behind it: a UNIX socket (only connect() reaches
  // one), a FIFO opened for writing without a reader, a device without its
  // driver. That is a file of the wrong type, not an I/O error, and is said
  // so, as a FIFO or device that does open is refused for its type.
  if (err == ENXIO && std::strcmp(syscall, "open") == 0) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      throw MakePmemError(env, "ERR_PMEM_INVALID",
                          "'" + path + "' is " + FileType(st.st_mode) + ", not a regular file (open: " +
                              std::strerror(err) + ")",
                          err, syscall, &path);
    }
  }
  std::string message = std::string(syscall) + " failed for '" + path + "': ";
  if (libraryMessage != nullptr && libraryMessage[0] != '\0') {
    message += libraryMessage;
  } else {
    message += std::strerror(err);
  }
  throw MakePmemError(env, CodeForErrno(err), message, err, syscall, &path);
}

// --- libpmemobj ----------------------------------------------------------

bool HasSignature(const std::string& path, const char* sig, size_t n) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[16] = {0};
  ssize_t got = pread(fd, buf, n, 0);
  close(fd);
  return got == static_cast<ssize_t>(n) && std::memcmp(buf, sig, n) == 0;
}

// "PMEMOBJ\0" is the signature of every libpmemobj pool header.
const char* ObjFormatCode(const std::string& path) {
  return HasSignature(path, "PMEMOBJ", 8) ? "ERR_PMEM_CORRUPT" : "ERR_PMEM_NOT_POOL";
}

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
// and is mapped by CodeForErrno (above): a read-only filesystem
// (EROFS) is ERR_PMEM_ACCESS, not a damaged pool.
// libpmemobj keeps its last message per thread and never clears it: a
// success may leave one behind ("Unsafe shutdown count is not supported for
// this source" after every open on /dev/shm), and a later failure that sets
// none would be reported with it. The buffer is libpmemobj's own, writable
// memory (PMDK's out.c hands it out const only to callers).
void ClearObjErrorMessage() {
  const char* raw = pmemobj_errormsg();
  if (raw != nullptr) const_cast<char*>(raw)[0] = '\0';
}

void ThrowObjError(Napi::Env env, ObjOp op, const char* call, const std::string& path, int err,
                   const std::string& alias, const std::string& note) {
  const char* raw = pmemobj_errormsg();
  std::string lib = raw != nullptr ? raw : "";
  if (!alias.empty()) {
    for (size_t at = lib.find(alias); at != std::string::npos; at = lib.find(alias, at + path.size())) {
      lib.replace(at, alias.size(), path);
    }
  }
  bool opening = op == ObjOp::kOpen || op == ObjOp::kCreate || op == ObjOp::kCheck;
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
  } else if ((op == ObjOp::kOpen || op == ObjOp::kCheck) && (err <= 0 || err == EINVAL)) {
    // A format failure (EINVAL, or no errno at all): decided from the file.
    // Every other errno is the system's (EROFS, EACCES, EAGAIN, ENOSPC,
    // ENOMEM, EIO, ...) and goes through the one errno table (CodeForErrno).
    code = ObjFormatCode(path);
  } else if ((op == ObjOp::kAlloc || op == ObjOp::kTx) && err == ENOMEM) {
    code = "ERR_PMEM_NO_SPACE";
  } else {
    code = CodeForErrno(err > 0 ? err : EIO);
  }
  std::string message = std::string(call) + " failed for '" + path + "': ";
  if ((op == ObjOp::kAlloc || op == ObjOp::kTx) && err == ENOMEM &&
      lib.find("too large") == std::string::npos) {
    // libpmemobj's text for a full heap is whatever its last attempt to
    // grow it said ("extending the pool by appending parts with headers is
    // not supported!"), which does not tell the caller the pool is full.
    message += "no free block of that size is left in the pool (ENOMEM)";
  } else {
    message += !lib.empty() ? lib : std::string(std::strerror(err > 0 ? err : EIO));
  }
  message += hint + note;
  ClearObjErrorMessage();
  throw MakePmemError(env, code, message, err > 0 ? err : 0, call, &path);
}

void InitErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorClass", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsFunction()) {
      throw Napi::TypeError::New(info.Env(), "setErrorClass expects a class");
    }
    GetAddonData(info.Env())->errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  }));
}

}  // namespace pmem
