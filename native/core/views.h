// The defence against use after unmap, shared by every native object that
// maps memory JavaScript can see: a mapping (native/mapping/state.h) and a
// libpmemobj pool (native/obj/pool.h).
//
// Lifetime: the object is shared (std::shared_ptr) by the handle's functions
// and by every ArrayBuffer view of its range. The range is released (unmapped
// or closed) by close() after every view is detached, by the environment's
// cleanup hook (worker exit, process exit), or when the last owner is
// collected, whichever comes first. A view therefore never outlives the
// memory it points to: either it is detached, or it keeps the object alive.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace pmem {

struct ViewHint;  // views.cc

class MappedRange {
 public:
  MappedRange() = default;
  MappedRange(const MappedRange&) = delete;
  MappedRange& operator=(const MappedRange&) = delete;
  // Removes the cleanup hook and the views' references. A derived class
  // releases its range in its own destructor.
  virtual ~MappedRange();

  // Registers the environment's cleanup hook. Once, when the range is mapped.
  void AddCleanupHook(napi_env env);

  // close(): detaches every view, then releases the range. Does nothing once
  // it is released.
  void DetachAndRelease(napi_env env);

  // view(off, len) -> ArrayBuffer over [base + off, base + off + len), where
  // [base, base + size) is the owner's mapped range. The view keeps the
  // owner alive and is detached on close. lib/ creates each window once and
  // slices it; one ArrayBuffer per address keeps V8's backing-store
  // bookkeeping simple. `what` names the owner in the error for a failed
  // creation.
  static Napi::Value NewView(const Napi::CallbackInfo& info, const std::shared_ptr<MappedRange>& owner,
                             char* base, uint64_t size, const char* what);

 protected:
  // Whether the range is still mapped.
  virtual bool Held() const = 0;
  // Unmaps or closes the range; does nothing once it is released.
  virtual void Release() = 0;

 private:
  static void CleanupHook(void* arg);

  napi_env env_ = nullptr;
  bool hookActive_ = false;
  // Weak references to the views, detached on close, each with its hint
  // (views.cc), which is valid while the view is alive.
  std::vector<std::pair<napi_ref, ViewHint*>> views_;
};

// Bytes of mapped memory that live ArrayBuffer views cover, summed over
// every view this process made (each counted once, until V8 frees it). V8
// counts them as external memory, which they are not: INFO subtracts them
// (lib/server/commands/admin.ts). Registers mappedViewBytes() on `exports`.
void InitViews(Napi::Env env, Napi::Object exports);

// Finalizers that drop one owner of a T: held as a function's data, or as
// the hint of an external ArrayBuffer.
template <class T>
void DeleteSharedData(napi_env /*env*/, void* data, void* /*hint*/) {
  delete static_cast<std::shared_ptr<T>*>(data);
}
template <class T>
void DeleteSharedHint(napi_env /*env*/, void* /*data*/, void* hint) {
  delete static_cast<std::shared_ptr<T>*>(hint);
}

// Sets handle[name] to a function whose data is one owner of `owner` (it
// keeps the object alive until the function is collected).
template <class T>
void BindMethod(Napi::Env env, Napi::Object handle, const char* name, Napi::Function::Callback fn,
                const std::shared_ptr<T>& owner) {
  auto* data = new std::shared_ptr<T>(owner);
  Napi::Function f = Napi::Function::New(env, fn, name, data);
  napi_add_finalizer(env, f, data, DeleteSharedData<T>, nullptr, nullptr);
  handle.Set(name, f);
}

}  // namespace pmem
