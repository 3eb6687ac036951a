#include "kvlock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <set>
#include <string>

#include "args.h"
#include "errors.h"

namespace pmem {
namespace {

// The descriptors kvLock handed out: kvUnlock closes only these, so no
// number from JavaScript can close a descriptor this addon did not open.
// Descriptors are process-wide, so the set is too.
std::mutex lockedMutex;
std::set<int> lockedFds;

// kvLock(path, exclusive, create) -> fd. Opens the file (creating an empty
// one with `create`) and takes LOCK_EX or LOCK_SH without waiting.
Napi::Value Lock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsBoolean() || !info[2].IsBoolean()) {
    throw Napi::TypeError::New(env, "kvLock(path: string, exclusive: boolean, create: boolean)");
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const bool exclusive = info[1].As<Napi::Boolean>().Value();
  const bool create = info[2].As<Napi::Boolean>().Value();
  int flags = (exclusive ? O_RDWR : O_RDONLY) | O_CLOEXEC | (create ? O_CREAT : 0);
  int fd = open(path.c_str(), flags, 0644);
  if (fd < 0) ThrowErrno(env, errno, "open", path, nullptr);
  if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      throw MakePmemError(env, "ERR_PMEM_LOCKED",
                          std::string("'") + path + "' is open " +
                              (exclusive ? "in another process or handle" : "for writing elsewhere"),
                          err, "flock", &path);
    }
    ThrowErrno(env, err, "flock", path, nullptr);
  }
  {
    std::lock_guard<std::mutex> guard(lockedMutex);
    lockedFds.insert(fd);
  }
  return Napi::Number::New(env, fd);
}

// kvUnlock(fd): closing the descriptor releases the lock.
Napi::Value Unlock(const Napi::CallbackInfo& info) {
  uint64_t fd = ArgIndex(info, 0, "fd");
  {
    std::lock_guard<std::mutex> guard(lockedMutex);
    if (fd > 0x7fffffff || lockedFds.erase(static_cast<int>(fd)) == 0) {
      throw Napi::RangeError::New(info.Env(), "not a descriptor kvLock returned");
    }
  }
  close(static_cast<int>(fd));
  return info.Env().Undefined();
}

}  // namespace

void InitKvLock(Napi::Env env, Napi::Object exports) {
  exports.Set("kvLock", Napi::Function::New(env, Lock, "kvLock"));
  exports.Set("kvUnlock", Napi::Function::New(env, Unlock, "kvUnlock"));
}

}  // namespace pmem
