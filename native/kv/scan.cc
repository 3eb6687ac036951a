#include "kv/scan.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/args.h"
#include "core/crc32c.h"

namespace pmem {
namespace {

// The record format of lib/kv/format.ts, restated for these loops. They
// are exported as kvConstants under format.ts's names, and format.ts
// refuses to load when one differs from its own.
constexpr uint64_t kRecordHeaderBytes = 16;
constexpr uint64_t kEntryHeaderBytes = 8;
constexpr uint64_t kMaxKey = 4096;
constexpr uint64_t kMaxValue = 64u * 1024 * 1024;
constexpr uint8_t kEntryPut = 1;
constexpr uint8_t kEntryDel = 2;

inline uint32_t Rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86: little-endian
}

inline uint16_t Rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Size of the valid record at `at`, or 0 (lib/kv/format.ts validRecord).
uint64_t ValidRecord(const uint8_t* b, uint64_t at, uint64_t end, uint32_t seed) {
  if (end - at < kRecordHeaderBytes) return 0;
  const uint64_t len = Rd32(b + at + 4);
  const uint64_t count = Rd32(b + at + 8);
  if (count == 0 || len < count * kEntryHeaderBytes || len > end - at - kRecordHeaderBytes) return 0;
  if (Rd32(b + at + 12) != 0) return 0;
  const uint64_t size = (kRecordHeaderBytes + len + 7) & ~uint64_t{7};
  if (size > end - at) return 0;
  if (Rd32(b + at) != Crc32c(b + at + 4, kRecordHeaderBytes - 4 + len, seed)) return 0;
  uint64_t p = at + kRecordHeaderBytes;
  const uint64_t stop = p + len;
  for (uint64_t i = 0; i < count; i++) {
    if (stop - p < kEntryHeaderBytes) return 0;
    const uint8_t type = b[p];
    const uint64_t klen = Rd16(b + p + 2);
    const uint64_t vlen = Rd32(b + p + 4);
    if ((type != kEntryPut && type != kEntryDel) || b[p + 1] != 0 || klen > kMaxKey) return 0;
    if (vlen > kMaxValue || (type == kEntryDel && vlen != 0)) return 0;
    p += kEntryHeaderBytes + klen + vlen;
    if (p > stop) return 0;
  }
  return p == stop ? size : 0;
}

// kvScan(bytes, start, end, seed, out: Uint32Array) -> n. Writes the
// offsets of the valid records from `start` on into `out`, stopping at the
// first invalid one, at `end`, or when `out` is full.
Napi::Value Scan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "bytes must be a Buffer");
  if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    throw Napi::TypeError::New(env, "out must be a Uint32Array");
  }
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  Napi::Uint32Array out = info[4].As<Napi::Uint32Array>();
  const uint64_t start = ArgIndex(info, 1, "start");
  const uint64_t end = ArgIndex(info, 2, "end");
  const uint64_t seed = ArgIndex(info, 3, "seed");
  if (seed > 0xffffffffu) throw Napi::RangeError::New(env, "seed must be a uint32");
  if (start > end) throw Napi::RangeError::New(env, "start must not exceed end");
  CheckRange(env, start, end - start, ta.ByteLength());
  if (end > 0xffffffffu) throw Napi::RangeError::New(env, "offsets must fit in 32 bits");
  const uint8_t* b = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  size_t n = 0;
  const size_t cap = out.ElementLength();
  uint64_t at = start;
  while (n < cap) {
    const uint64_t size = ValidRecord(b, at, end, static_cast<uint32_t>(seed));
    if (size == 0) break;
    out[n++] = static_cast<uint32_t>(at);
    at += size;
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// FNV-1a over a key's bytes from the basis 0x811c9dc5 ^ seed, finalized with
// murmur3's fmix32: the hash the index (lib/kv/hash-index.ts, hashBytes and
// hashString, KEY_HASH_SEED) files a key under. The two must agree bit for
// bit; test/70 checks them against each other.
uint32_t KeyHash(const uint8_t* p, uint64_t n, uint32_t seed) {
  uint32_t h = 0x811c9dc5u ^ seed;
  for (uint64_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x01000193u;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16);
}

Napi::Uint32Array U32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a Uint32Array");
  }
  return info[i].As<Napi::Uint32Array>();
}

// kvEntries(bytes, records: Uint32Array, n, off: Uint32Array, hash:
// Uint32Array, meta: Uint32Array, klen: Uint16Array, seed) -> entries. For
// every entry of the records at records[0..n) (offsets kvScan found valid),
// in log order: its offset, its key's index hash (under `seed`, a uint32),
// its size (| 2^31 for a
// delete) and its key length. The reopen's second pass in C++, so that a
// reopen does not hash every key in JavaScript (docs/bench.md, "KVStore").
// The records' shape is checked again (not their checksums): JavaScript is
// not trusted.
Napi::Value Entries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "bytes must be a Buffer");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  Napi::Uint32Array records = U32Arg(info, 1, "records");
  const uint64_t n = ArgIndex(info, 2, "n");
  Napi::Uint32Array off = U32Arg(info, 3, "off");
  Napi::Uint32Array hash = U32Arg(info, 4, "hash");
  Napi::Uint32Array meta = U32Arg(info, 5, "meta");
  if (!info[6].IsTypedArray() || info[6].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array) {
    throw Napi::TypeError::New(env, "klen must be a Uint16Array");
  }
  Napi::Uint16Array klen = info[6].As<Napi::Uint16Array>();
  const uint64_t seed = ArgIndex(info, 7, "seed");
  if (seed > 0xffffffffu) throw Napi::RangeError::New(env, "seed must be a uint32");
  if (n > records.ElementLength()) throw Napi::RangeError::New(env, "n exceeds records");
  const uint64_t length = ta.ByteLength();
  const uint8_t* b = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  size_t cap = off.ElementLength();
  if (hash.ElementLength() < cap) cap = hash.ElementLength();
  if (meta.ElementLength() < cap) cap = meta.ElementLength();
  if (klen.ElementLength() < cap) cap = klen.ElementLength();
  const auto bad = [&](uint64_t at) {
    return Napi::RangeError::New(env, "no valid record at " + std::to_string(at));
  };
  size_t k = 0;
  for (uint64_t r = 0; r < n; r++) {
    const uint64_t at = records[r];
    if (at > length || length - at < kRecordHeaderBytes) throw bad(at);
    const uint64_t len = Rd32(b + at + 4);
    const uint64_t count = Rd32(b + at + 8);
    if (len > length - at - kRecordHeaderBytes) throw bad(at);
    uint64_t p = at + kRecordHeaderBytes;
    const uint64_t stop = p + len;
    for (uint64_t i = 0; i < count; i++) {
      if (stop - p < kEntryHeaderBytes) throw bad(at);
      const uint64_t kl = Rd16(b + p + 2);
      const uint64_t vl = Rd32(b + p + 4);
      if (kl > kMaxKey || vl > kMaxValue || kEntryHeaderBytes + kl + vl > stop - p) throw bad(at);
      if (k >= cap) throw Napi::RangeError::New(env, "the output arrays are too short");
      const uint64_t size = kEntryHeaderBytes + kl + vl;  // < 2^27
      off[k] = static_cast<uint32_t>(p);
      hash[k] = KeyHash(b + p + kEntryHeaderBytes, kl, static_cast<uint32_t>(seed));
      meta[k] = static_cast<uint32_t>(size) | (b[p] == kEntryPut ? 0u : 0x80000000u);
      klen[k] = static_cast<uint16_t>(kl);
      k++;
      p += size;
    }
  }
  return Napi::Number::New(env, static_cast<double>(k));
}

}  // namespace

void InitKvScan(Napi::Env env, Napi::Object exports) {
  exports.Set("kvScan", Napi::Function::New(env, Scan, "kvScan"));
  exports.Set("kvEntries", Napi::Function::New(env, Entries, "kvEntries"));
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("RECORD_HEADER_BYTES", Napi::Number::New(env, static_cast<double>(kRecordHeaderBytes)));
  constants.Set("ENTRY_HEADER_BYTES", Napi::Number::New(env, static_cast<double>(kEntryHeaderBytes)));
  constants.Set("MAX_KEY", Napi::Number::New(env, static_cast<double>(kMaxKey)));
  constants.Set("MAX_VALUE", Napi::Number::New(env, static_cast<double>(kMaxValue)));
  constants.Set("ENTRY_PUT", Napi::Number::New(env, kEntryPut));
  constants.Set("ENTRY_DEL", Napi::Number::New(env, kEntryDel));
  exports.Set("kvConstants", constants);
}

}  // namespace pmem
