#include "core/libm.h"

#include <cmath>

namespace pmem {

namespace {

// f(x) for one number argument; a TypeError for anything else (the caller
// passes numbers: this only refuses to read something that is not one).
template <double (*F)(double)>
napi_value Apply(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value arg;
  if (napi_get_cb_info(env, cbinfo, &argc, &arg, nullptr, nullptr) != napi_ok) return nullptr;
  double x;
  if (argc < 1 || napi_get_value_double(env, arg, &x) != napi_ok) {
    napi_throw_type_error(env, nullptr, "the argument must be a number");
    return nullptr;
  }
  napi_value r;
  napi_create_double(env, F(x), &r);
  return r;
}

double Sin(double x) { return std::sin(x); }
double Cos(double x) { return std::cos(x); }
double Asin(double x) { return std::asin(x); }

}  // namespace

void InitLibm(Napi::Env env, Napi::Object exports) {
  for (auto [name, fn] : {std::pair<const char*, napi_callback>{"libmSin", Apply<Sin>},
                          {"libmCos", Apply<Cos>},
                          {"libmAsin", Apply<Asin>}}) {
    napi_value f;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, nullptr, &f));
    exports.Set(name, Napi::Value(env, f));
  }
}

}  // namespace pmem
