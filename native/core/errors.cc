#include "core/errors.h"

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
    case ENOTSUP: return "ERR_PMEM_INVALID";
    default: return "ERR_PMEM_IO";
  }
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path,
                const char* libraryMessage) {
  std::string message = std::string(syscall) + " failed for '" + path + "': ";
  if (libraryMessage != nullptr && libraryMessage[0] != '\0') {
    message += libraryMessage;
  } else {
    message += std::strerror(err);
  }
  throw MakePmemError(env, CodeForErrno(err), message, err, syscall, &path);
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
