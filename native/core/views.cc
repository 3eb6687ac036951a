#include "core/views.h"

#include <atomic>
#include <string>

#include "core/args.h"

namespace pmem {

// A view's hint: one owner of its range, and its length, taken off the
// count when the view is detached (V8 stops counting it then) or freed,
// whichever comes first.
struct ViewHint {
  std::shared_ptr<MappedRange> owner;
  uint64_t length;
  bool detached = false;
};

namespace {

// Shared by every environment (worker_threads): views of one process.
std::atomic<uint64_t> g_viewBytes{0};

void DeleteViewHint(napi_env /*env*/, void* /*data*/, void* hint) {
  auto* h = static_cast<ViewHint*>(hint);
  if (!h->detached) g_viewBytes.fetch_sub(h->length, std::memory_order_relaxed);
  delete h;
}

Napi::Value MappedViewBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(g_viewBytes.load(std::memory_order_relaxed)));
}

}  // namespace

void InitViews(Napi::Env env, Napi::Object exports) {
  exports.Set("mappedViewBytes", Napi::Function::New(env, MappedViewBytes, "mappedViewBytes"));
}

MappedRange::~MappedRange() {
  if (hookActive_) {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    for (auto& [ref, hint] : views_) napi_delete_reference(env_, ref);
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
  for (auto& [ref, hint] : views_) {
    napi_value v;
    if (napi_get_reference_value(env, ref, &v) == napi_ok && v != nullptr) {
      napi_detach_arraybuffer(env, v);
      // The view is alive (its reference still reaches it), so its
      // finalizer has not run and its hint is valid.
      hint->detached = true;
      g_viewBytes.fetch_sub(hint->length, std::memory_order_relaxed);
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
  auto* hint = new ViewHint{owner, len};
  napi_value ab;
  if (napi_create_external_arraybuffer(env, base + off, len, DeleteViewHint, hint, &ab) != napi_ok) {
    delete hint;
    throw Napi::Error::New(env, std::string("cannot create a view of the ") + what);
  }
  g_viewBytes.fetch_add(len, std::memory_order_relaxed);
  napi_ref ref;
  if (napi_create_reference(env, ab, 0, &ref) == napi_ok) owner->views_.emplace_back(ref, hint);
  return Napi::Value(env, ab);
}

}  // namespace pmem
