// Argument checks shared by every native entry point. Native code never
// trusts an offset or length from JavaScript: lib/ validates first, and these
// validate again, without integer overflow.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace pmem {

// Whether d is a non-negative safe integer (NaN is not), stored in *out
// when it is. The hot paths check three of these per call: a round trip
// through int64 (d is below 2^53 by then) instead of a call to floor.
inline bool IsSafeIndex(double d, uint64_t* out) {
  if (!(d >= 0 && d <= 9007199254740991.0)) return false;
  const int64_t i = static_cast<int64_t>(d);
  if (static_cast<double>(i) != d) return false;
  *out = static_cast<uint64_t>(i);
  return true;
}

// A non-negative safe integer argument, or a TypeError/RangeError.
inline uint64_t ArgIndex(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  uint64_t out;
  if (!IsSafeIndex(v.As<Napi::Number>().DoubleValue(), &out)) {
    throw Napi::RangeError::New(info.Env(),
                                std::string(name) + " must be a non-negative safe integer");
  }
  return out;
}

// A view whose ArrayBuffer was detached (a closed mapping's view, a buffer
// transferred to a worker) reads as 0 bytes: taken as it is, a write would
// succeed and store nothing the caller gave. Asked only of a view of 0
// bytes, as lib/core/args.ts asks it (refuseDetached); an empty view of a
// live buffer, or of a SharedArrayBuffer, is not refused.
[[gnu::cold, gnu::noinline]] inline void RefuseDetached(napi_env env, napi_value view, const char* name) {
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(env, view, nullptr, nullptr, nullptr, &buffer, nullptr) != napi_ok) return;
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, buffer, &detached) == napi_ok && detached) {
    throw Napi::TypeError::New(Napi::Env(env), std::string(name) + " is a view of a detached ArrayBuffer");
  }
}

// SafeIndex's error, out of line: the check stays a few instructions in its callers.
[[gnu::cold, gnu::noinline]] inline bool ThrowNotSafeIndex(napi_env env, const char* name) {
  napi_throw_range_error(env, nullptr, (std::string(name) + " must be a non-negative safe integer").c_str());
  return false;
}

// ArgIndex's range check for a number already read (from an argument or a
// call block, native/mapping/hotpath.cc; NaN stands for anything that was not a
// number), reported as a pending RangeError. False when one is pending.
inline bool SafeIndex(napi_env env, double d, const char* name, uint64_t* out) {
  if (IsSafeIndex(d, out)) return true;
  *out = 0;
  return ThrowNotSafeIndex(env, name);
}

// ArgIndex for the hot paths written in plain N-API (no node-addon-api
// wrappers): the same checks, reported as a pending exception. False when
// one is pending.
inline bool RawIndex(napi_env env, napi_value v, const char* name, uint64_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    napi_throw_type_error(env, nullptr, (std::string(name) + " must be a number").c_str());
    return false;
  }
  return SafeIndex(env, d, name, out);
}

// Throws RangeError unless [off, off + len) lies inside [0, length).
// Written as two comparisons so that off + len can never overflow.
inline void CheckRange(Napi::Env env, uint64_t off, uint64_t len, uint64_t length) {
  if (off > length || len > length - off) {
    throw Napi::RangeError::New(env, "range [" + std::to_string(off) + ", +" +
                                         std::to_string(len) + ") is outside [0, " +
                                         std::to_string(length) + ")");
  }
}

}  // namespace pmem
