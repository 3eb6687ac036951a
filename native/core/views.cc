#include "core/views.h"

#include <string>

#include "core/args.h"

namespace pmem {

MappedRange::~MappedRange() {
  if (hookActive_) {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    for (napi_ref ref : views_) napi_delete_reference(env_, ref);
  }
}

void MappedRange::AddCleanupHook(napi_env env) {
  env_ = env;
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  hookActive_ = true;
}

void MappedRange::CleanupHook(void* arg) {
  // The environment is going away (worker exit, process exit): JavaScript
  // will not run again, so the views need no detaching; only the range must
  // be released.
  MappedRange* self = static_cast<MappedRange*>(arg);
  self->hookActive_ = false;
  self->views_.clear();
  self->Release();
}

void MappedRange::DetachAndRelease(napi_env env) {
  if (!Held()) return;
  for (napi_ref ref : views_) {
    napi_value v;
    if (napi_get_reference_value(env, ref, &v) == napi_ok && v != nullptr) {
      napi_detach_arraybuffer(env, v);
    }
    napi_delete_reference(env, ref);
  }
  views_.clear();
  Release();
}

Napi::Value MappedRange::NewView(const Napi::CallbackInfo& info, const std::shared_ptr<MappedRange>& owner,
                                 char* base, uint64_t size, const char* what) {
  Napi::Env env = info.Env();
  uint64_t off = ArgIndex(info, 0, "offset");
  uint64_t len = ArgIndex(info, 1, "length");
  CheckRange(env, off, len, size);
  if (len == 0 || len > (uint64_t{1} << 32)) {
    throw Napi::RangeError::New(env, "a view must be 1 byte to 4 GiB long");
  }
  auto* hint = new std::shared_ptr<MappedRange>(owner);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, base + off, len, DeleteSharedHint<MappedRange>, hint, &ab) !=
      napi_ok) {
    delete hint;
    throw Napi::Error::New(env, std::string("cannot create a view of the ") + what);
  }
  napi_ref ref;
  if (napi_create_reference(env, ab, 0, &ref) == napi_ok) owner->views_.push_back(ref);
  return Napi::Value(env, ab);
}

}  // namespace pmem
