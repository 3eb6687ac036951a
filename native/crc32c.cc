#include "crc32c.h"

#include <nmmintrin.h>

#include <cstring>

#include "args.h"

namespace pmem {
namespace {

struct Table {
  uint32_t t[256];
  Table() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};

uint32_t SoftCrc(const uint8_t* p, size_t len, uint32_t crc) {
  static const Table table;
  while (len--) crc = table.t[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

__attribute__((target("sse4.2"))) uint32_t HardCrc(const uint8_t* p, size_t len, uint32_t crc) {
  uint64_t c = crc;
  while (len >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    len -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (len--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");

// crc32c(buf, offset, length, seed) -> uint32
Napi::Value Crc32cJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "data must be a Buffer or Uint8Array");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  uint64_t off = ArgIndex(info, 1, "offset");
  uint64_t len = ArgIndex(info, 2, "length");
  uint64_t seed = ArgIndex(info, 3, "seed");
  if (seed > 0xffffffffu) throw Napi::RangeError::New(env, "seed must be a uint32");
  CheckRange(env, off, len, ta.ByteLength());
  const uint8_t* base = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return Napi::Number::New(env, Crc32c(base + off, len, static_cast<uint32_t>(seed)));
}

}  // namespace

uint32_t Crc32c(const void* data, size_t len, uint32_t seed) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t crc = ~seed;
  crc = kHaveSse42 ? HardCrc(p, len, crc) : SoftCrc(p, len, crc);
  return ~crc;
}

void InitCrc32c(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32c", Napi::Function::New(env, Crc32cJs, "crc32c"));
}

}  // namespace pmem
