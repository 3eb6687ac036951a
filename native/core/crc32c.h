// CRC-32C (Castagnoli): SSE4.2's crc32 instruction for short inputs, and
// carry-less multiplication folding (AVX-512 VPCLMULQDQ, else PCLMULQDQ) for long ones where
// the CPU has them; a table otherwise. Used by every on-media checksum in lib/.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace pmem {

// Standard CRC-32C; chaining: Crc32c(b, Crc32c(a, 0)) == Crc32c(a||b, 0).
uint32_t Crc32c(const void* data, size_t len, uint32_t seed);

// The raw register (no inversion on the way in or out), for chaining inside
// native code: Crc32c(d, n, s) == ~Crc32cRaw(d, n, ~s).
uint32_t Crc32cRaw(const void* data, size_t len, uint32_t reg);

// Copies len bytes from src to dst (the two must not overlap) and returns
// the raw register over them, reading src once.
//
// With streaming set, a long copy writes the whole 64-byte lines of dst with
// non-temporal stores: they bypass the cache and are persistent after the
// next SFENCE, with no flush. *streamed is set to that span, [begin, end);
// every byte outside it was written with an ordinary store and still needs a
// flush. The span is empty (begin == end) when nothing was streamed.
struct Span {
  uintptr_t begin = 0, end = 0;
};
uint32_t CopyCrc32cRaw(void* dst, const void* src, size_t len, uint32_t reg, bool streaming, Span* streamed);

void InitCrc32c(Napi::Env env, Napi::Object exports);

}  // namespace pmem
