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

// kvPrefetchSlots(table: Uint32Array, hashes: Int32Array, count[, entries])
// starts loading the home slot of each of the first `count` hashes: for
// slot pairs [offset, tag], the line of pair `hash & (pairs - 1)`.
// Compaction (lib/kv/compact.ts) and a record of many entries (KvLog.append)
// ask for a batch of entries' slots before they look them up one by one, so
// that their cache misses overlap instead of following each other. With
// `entries` (the region's bytes, where the offsets point), a second pass
// reads each home slot, now loaded or on its way, and starts loading the
// line of the entry it points at, whose key the lookup compares next. A
// hint: PREFETCHT0 changes no byte and never faults, every address it is
// given lies inside the table or `entries`, and the slots are only read.
Napi::Value PrefetchSlots(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    throw Napi::TypeError::New(env, "table must be a Uint32Array");
  }
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, "hashes must be an Int32Array");
  }
  if (!info[2].IsNumber()) throw Napi::TypeError::New(env, "count must be a number");
  Napi::Uint32Array table = info[0].As<Napi::Uint32Array>();
  Napi::Int32Array hashes = info[1].As<Napi::Int32Array>();
  const double count = info[2].As<Napi::Number>().DoubleValue();
  if (!(count >= 0 && count <= static_cast<double>(hashes.ElementLength()))) {
    throw Napi::RangeError::New(env, "count must be at most the number of hashes");
  }
  const size_t pairs = table.ElementLength() / 2;
  if (pairs == 0 || (pairs & (pairs - 1)) != 0) throw Napi::RangeError::New(env, "table must hold a power of two of slots");
  const uint32_t* slots = table.Data();
  const int32_t* h = hashes.Data();
  const size_t n = static_cast<size_t>(count);
  for (size_t i = 0; i < n; i++) {
    __builtin_prefetch(slots + 2 * (static_cast<uint32_t>(h[i]) & (pairs - 1)));
  }
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "entries must be a Uint8Array");
    }
    Napi::Uint8Array entries = info[3].As<Napi::Uint8Array>();
    const uint8_t* bytes = entries.Data();
    const size_t length = entries.ElementLength();
    for (size_t i = 0; i < n; i++) {
      const uint32_t offset = slots[2 * (static_cast<uint32_t>(h[i]) & (pairs - 1))];
      // 0 and 1 mark an empty and a deleted slot; an offset past the bytes
      // (a stale table of a remapped region) is not followed.
      if (offset > 1 && offset < length) __builtin_prefetch(bytes + offset);
    }
  }
  return env.Undefined();
}

}  // namespace

void InitKvTable(Napi::Env env, Napi::Object exports) {
  exports.Set("kvTableHuge", Napi::Function::New(env, TableHuge, "kvTableHuge"));
  exports.Set("kvTableAddress", Napi::Function::New(env, TableAddress, "kvTableAddress"));
  exports.Set("kvPrefetchSlots", Napi::Function::New(env, PrefetchSlots, "kvPrefetchSlots"));
}

}  // namespace pmem
