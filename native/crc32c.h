// CRC-32C (Castagnoli), with SSE4.2's crc32 instruction where the CPU has
// it and a table otherwise. Used by every on-media checksum in lib/.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace pmem {

// Standard CRC-32C; chaining: Crc32c(b, Crc32c(a, 0)) == Crc32c(a||b, 0).
uint32_t Crc32c(const void* data, size_t len, uint32_t seed);

void InitCrc32c(Napi::Env env, Napi::Object exports);

}  // namespace pmem
