// Argument checks shared by every native entry point. Native code never
// trusts an offset or length from JavaScript: lib/ validates first, and these
// validate again, without integer overflow.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace pmem {

// A non-negative safe integer argument, or a TypeError/RangeError.
inline uint64_t ArgIndex(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d) {
    throw Napi::RangeError::New(info.Env(),
                                std::string(name) + " must be a non-negative safe integer");
  }
  return static_cast<uint64_t>(d);
}

// ArgIndex's range check for a number already read (from an argument or a
// call block, native/mapping/hotpath.cc; NaN stands for anything that was not a
// number), reported as a pending RangeError. False when one is pending.
inline bool SafeIndex(napi_env env, double d, const char* name, uint64_t* out) {
  if (!(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d) {
    napi_throw_range_error(env, nullptr, (std::string(name) + " must be a non-negative safe integer").c_str());
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
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
