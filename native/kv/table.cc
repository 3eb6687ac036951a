#include "kv/table.h"

#include <sys/mman.h>

#include <cstdint>

namespace pmem {
namespace {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

// kvTableHuge(table: TypedArray) -> boolean. madvise(MADV_HUGEPAGE) over
// the whole 2 MiB pages inside the table's memory, before it is first
// written, so that the kernel backs them with huge pages where it can
// (transparent_hugepage set to madvise or always). A hint: it changes no
// byte, and false (a table under 2 MiB of whole pages, a kernel without
// THP) changes nothing either.
Napi::Value TableHuge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "table must be a typed array");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  const uintptr_t end = begin + ta.ByteLength();
  const uintptr_t from = (begin + kHugePage - 1) / kHugePage * kHugePage;
  const uintptr_t to = end / kHugePage * kHugePage;
  if (to <= from) return Napi::Boolean::New(env, false);
#ifdef MADV_HUGEPAGE
  return Napi::Boolean::New(env, madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE) == 0);
#else
  return Napi::Boolean::New(env, false);
#endif
}

// kvTableAddress(table: TypedArray) -> number: the address of the table's
// first byte, for prefetch hints (lib/kv/hash-index.ts). Nothing
// dereferences it: a hint that outlives the table only loads a stale line.
Napi::Value TableAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "table must be a typed array");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  // User-space addresses on x86-64 are below 2^47: exact as a double.
  return Napi::Number::New(env, static_cast<double>(begin));
}

}  // namespace

void InitKvTable(Napi::Env env, Napi::Object exports) {
  exports.Set("kvTableHuge", Napi::Function::New(env, TableHuge, "kvTableHuge"));
  exports.Set("kvTableAddress", Napi::Function::New(env, TableAddress, "kvTableAddress"));
}

}  // namespace pmem
