#include "core/crc32c.h"

#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "core/args.h"

namespace pmem {
namespace {

// --- portable and SSE4.2 forms ---------------------------------------------

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

// Which folding form long inputs take: 64-byte registers (AVX-512
// VPCLMULQDQ), 16-byte ones (PCLMULQDQ, every x86-64 CPU since 2010), or
// none (the crc32 instruction or the table alone). PMEM_CRC32C_FOLD=128 or
// =none in the environment at load takes a smaller form than the CPU has,
// so that each form can be tested and measured on any machine.
enum class FoldForm { kNone, k128, k512 };

FoldForm DetectFold() {
  FoldForm f = FoldForm::kNone;
  if (kHaveSse42 && __builtin_cpu_supports("pclmul")) f = FoldForm::k128;
  if (f == FoldForm::k128 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("vpclmulqdq")) {
    f = FoldForm::k512;
  }
  const char* want = std::getenv("PMEM_CRC32C_FOLD");
  if (want != nullptr && std::strcmp(want, "none") == 0) f = FoldForm::kNone;
  if (want != nullptr && std::strcmp(want, "128") == 0 && f == FoldForm::k512) f = FoldForm::k128;
  return f;
}

const FoldForm kFoldForm = DetectFold();
const bool kHaveFold = kFoldForm != FoldForm::kNone;

uint32_t ShortCrc(const uint8_t* p, size_t len, uint32_t reg) {
  return kHaveSse42 ? HardCrc(p, len, reg) : SoftCrc(p, len, reg);
}

// --- folding with carry-less multiplication ---------------------------------
//
// The reflected CRC of a message M is M(x)·x^32 mod P, where byte 0's bit 0
// is M's highest coefficient. A 16-byte lane A stands for the polynomial
// A = Alo·x^64 + Ahi (Alo: the lane's low quadword, which holds the higher
// coefficients). Moving A forward by d bits keeps its value mod P:
//   A·x^d ≡ Alo·(x^(d+64) mod P) + Ahi·(x^d mod P),
// a 96-bit result, so it can be XORed into the lane d bits later. A
// carry-less multiply of two reflected quadwords yields x·(product), hence
// the constants below use exponents one lower. At the end, 64 bytes of
// folded lanes go through the crc32 instruction from a zero register, which
// computes exactly (lanes)·x^32 mod P; the tail continues from there.
//
// The initial register joins by XOR into the first four message bytes:
// crc(M, reg) == crc(M ^ reg, 0) for any M of four bytes or more.

// x^e mod P in the normal (unreflected) bit order.
uint32_t XPowMod(unsigned e) {
  uint64_t s = 1;
  for (unsigned i = 0; i < e; i++) {
    s <<= 1;
    if (s & (uint64_t{1} << 32)) s ^= 0x11EDC6F41ull;
  }
  return static_cast<uint32_t>(s);
}

// A polynomial of degree < 32 as a reflected quadword (x^i at bit 63 - i).
uint64_t Reflect64(uint32_t k) {
  uint64_t q = 0;
  for (int i = 0; i < 32; i++) {
    if ((k >> i) & 1) q |= uint64_t{1} << (63 - i);
  }
  return q;
}

struct FoldConstants {
  // Per 128-bit lane: {low quadword, high quadword} for a distance of d bits.
  uint64_t k256[2];  // d = 2048: four registers of four lanes apart
  uint64_t k64[2];   // d = 512: one register apart
  FoldConstants() {
    k256[0] = Reflect64(XPowMod(2048 + 64 - 1));
    k256[1] = Reflect64(XPowMod(2048 - 1));
    k64[0] = Reflect64(XPowMod(512 + 64 - 1));
    k64[1] = Reflect64(XPowMod(512 - 1));
  }
};
const FoldConstants kFold;

#define PMEM_FOLD_TARGET __attribute__((target("avx512f,avx512bw,vpclmulqdq,sse4.2")))

// acc·x^d + next, lane by lane (k: the constants for d, in every lane).
PMEM_FOLD_TARGET inline __m512i Fold(__m512i acc, __m512i k, __m512i next) {
  __m512i lo = _mm512_clmulepi64_epi128(acc, k, 0x00);
  __m512i hi = _mm512_clmulepi64_epi128(acc, k, 0x11);
  return _mm512_ternarylogic_epi64(lo, hi, next, 0x96);  // lo ^ hi ^ next
}

enum Store { kNoStore, kCached, kStreaming };

template <Store kStore>
PMEM_FOLD_TARGET inline void Put(uint8_t* d, __m512i v) {
  if (kStore == kCached) _mm512_storeu_si512(d, v);
  if (kStore == kStreaming) _mm512_stream_si512(reinterpret_cast<__m512i*>(d), v);
}

// Folds (and with kStore, copies) the whole 64-byte blocks of [p, p + *len),
// len >= 64. Returns the raw register over them and advances p, d and len
// past them. kStreaming needs d 64-byte aligned.
template <Store kStore>
PMEM_FOLD_TARGET uint32_t FoldBlocks(const uint8_t*& p, uint8_t*& d, size_t& len, uint32_t reg) {
  const __m512i k256 = _mm512_set4_epi64(kFold.k256[1], kFold.k256[0], kFold.k256[1], kFold.k256[0]);
  const __m512i k64 = _mm512_set4_epi64(kFold.k64[1], kFold.k64[0], kFold.k64[1], kFold.k64[0]);
  const __m512i init = _mm512_maskz_set1_epi32(1, static_cast<int>(reg));  // lane 0, bytes 0..3
  __m512i acc;
  if (len >= 256) {
    __m512i x0 = _mm512_loadu_si512(p), x1 = _mm512_loadu_si512(p + 64);
    __m512i x2 = _mm512_loadu_si512(p + 128), x3 = _mm512_loadu_si512(p + 192);
    Put<kStore>(d, x0), Put<kStore>(d + 64, x1), Put<kStore>(d + 128, x2), Put<kStore>(d + 192, x3);
    x0 = _mm512_xor_si512(x0, init);
    p += 256, d += 256, len -= 256;
    while (len >= 256) {
      __m512i y0 = _mm512_loadu_si512(p), y1 = _mm512_loadu_si512(p + 64);
      __m512i y2 = _mm512_loadu_si512(p + 128), y3 = _mm512_loadu_si512(p + 192);
      Put<kStore>(d, y0), Put<kStore>(d + 64, y1), Put<kStore>(d + 128, y2), Put<kStore>(d + 192, y3);
      x0 = Fold(x0, k256, y0), x1 = Fold(x1, k256, y1), x2 = Fold(x2, k256, y2), x3 = Fold(x3, k256, y3);
      p += 256, d += 256, len -= 256;
    }
    acc = Fold(Fold(Fold(x0, k64, x1), k64, x2), k64, x3);
  } else {
    acc = _mm512_loadu_si512(p);
    Put<kStore>(d, acc);
    acc = _mm512_xor_si512(acc, init);
    p += 64, d += 64, len -= 64;
  }
  while (len >= 64) {
    __m512i y = _mm512_loadu_si512(p);
    Put<kStore>(d, y);
    acc = Fold(acc, k64, y);
    p += 64, d += 64, len -= 64;
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, acc);
  uint64_t c = 0;
  for (uint64_t q : lanes) c = _mm_crc32_u64(c, q);
  return static_cast<uint32_t>(c);
}

// --- the same fold on 16-byte registers (PCLMULQDQ) ------------------------
//
// Four registers hold one 64-byte block, as the lanes of FoldBlocks' one
// register do, and each moves 512 bits forward per block with the same
// constants; the 64 bytes left at the end go through the crc32 instruction
// in the same way.

#define PMEM_CLMUL_TARGET __attribute__((target("pclmul,sse4.2")))

PMEM_CLMUL_TARGET inline __m128i Fold128(__m128i acc, __m128i k, __m128i next) {
  __m128i lo = _mm_clmulepi64_si128(acc, k, 0x00);
  __m128i hi = _mm_clmulepi64_si128(acc, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

template <Store kStore>
PMEM_CLMUL_TARGET inline void Put128(uint8_t* d, __m128i v) {
  if (kStore == kCached) _mm_storeu_si128(reinterpret_cast<__m128i*>(d), v);
  if (kStore == kStreaming) _mm_stream_si128(reinterpret_cast<__m128i*>(d), v);
}

PMEM_CLMUL_TARGET inline __m128i Load128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// FoldBlocks' contract, on 16-byte registers. kStreaming needs d 16-byte
// aligned (the caller gives 64).
template <Store kStore>
PMEM_CLMUL_TARGET uint32_t FoldBlocks128(const uint8_t*& p, uint8_t*& d, size_t& len, uint32_t reg) {
  const __m128i k64 = _mm_set_epi64x(static_cast<long long>(kFold.k64[1]), static_cast<long long>(kFold.k64[0]));
  __m128i x0 = Load128(p), x1 = Load128(p + 16), x2 = Load128(p + 32), x3 = Load128(p + 48);
  Put128<kStore>(d, x0), Put128<kStore>(d + 16, x1), Put128<kStore>(d + 32, x2), Put128<kStore>(d + 48, x3);
  x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128(static_cast<int>(reg)));  // bytes 0..3
  p += 64, d += 64, len -= 64;
  while (len >= 64) {
    __m128i y0 = Load128(p), y1 = Load128(p + 16), y2 = Load128(p + 32), y3 = Load128(p + 48);
    Put128<kStore>(d, y0), Put128<kStore>(d + 16, y1), Put128<kStore>(d + 32, y2), Put128<kStore>(d + 48, y3);
    x0 = Fold128(x0, k64, y0), x1 = Fold128(x1, k64, y1), x2 = Fold128(x2, k64, y2), x3 = Fold128(x3, k64, y3);
    p += 64, d += 64, len -= 64;
  }
  alignas(16) uint64_t lanes[8];
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes), x0);
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes + 2), x1);
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes + 4), x2);
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes + 6), x3);
  uint64_t c = 0;
  for (uint64_t q : lanes) c = _mm_crc32_u64(c, q);
  return static_cast<uint32_t>(c);
}

// The fold of the form this CPU takes (kHaveFold: there is one).
template <Store kStore>
uint32_t FoldAny(const uint8_t*& p, uint8_t*& d, size_t& len, uint32_t reg) {
  return kFoldForm == FoldForm::k512 ? FoldBlocks<kStore>(p, d, len, reg) : FoldBlocks128<kStore>(p, d, len, reg);
}

// Below this, the crc32 instruction alone is faster than setting up a fold.
constexpr size_t kFoldMin = 192;
// Streaming stores pay off from here (libpmem's own threshold).
constexpr size_t kStreamMin = 256;

// Reads (data, offset, length, seed) for crc32c and crc32cSoft, in plain
// N-API: these run once per record, and node-addon-api's wrappers cost more
// than a short checksum. Same checks as args.h (RawIndex). False with an
// exception set.
bool CrcArgs(napi_env env, napi_callback_info cbinfo, const uint8_t** data, size_t* len, uint32_t* seed) {
  size_t argc = 4;
  napi_value argv[4] = {nullptr, nullptr, nullptr, nullptr};
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  bool isTyped = false;
  if (argc < 4 || napi_is_typedarray(env, argv[0], &isTyped) != napi_ok || !isTyped) {
    napi_throw_type_error(env, nullptr, "data must be a Buffer or Uint8Array");
    return false;
  }
  napi_typedarray_type type;
  size_t elements;
  void* base;
  napi_get_typedarray_info(env, argv[0], &type, &elements, &base, nullptr, nullptr);
  size_t bytes = elements * (type == napi_uint8_array || type == napi_int8_array || type == napi_uint8_clamped_array ? 1
                             : type == napi_int16_array || type == napi_uint16_array                               ? 2
                             : type == napi_float64_array || type == napi_bigint64_array ||
                                     type == napi_biguint64_array                                                  ? 8
                                                                                                                   : 4);
  uint64_t off, n, seed64;
  if (!RawIndex(env, argv[1], "offset", &off) || !RawIndex(env, argv[2], "length", &n) ||
      !RawIndex(env, argv[3], "seed", &seed64)) {
    return false;
  }
  if (off > bytes || n > bytes - off) {
    napi_throw_range_error(env, nullptr, ("range [" + std::to_string(off) + ", +" + std::to_string(n) +
                                          ") is outside [0, " + std::to_string(bytes) + ")").c_str());
    return false;
  }
  if (seed64 > 0xffffffffu) {
    napi_throw_range_error(env, nullptr, "seed must be a uint32");
    return false;
  }
  *data = static_cast<const uint8_t*>(base) + off;
  *len = static_cast<size_t>(n);
  *seed = static_cast<uint32_t>(seed64);
  return true;
}

napi_value Result(napi_env env, uint32_t crc) {
  napi_value r;
  napi_create_uint32(env, crc, &r);
  return r;
}

// crc32c(buf, offset, length, seed) -> uint32
napi_value Crc32cJs(napi_env env, napi_callback_info cbinfo) {
  const uint8_t* p;
  size_t len;
  uint32_t seed;
  if (!CrcArgs(env, cbinfo, &p, &len, &seed)) return nullptr;
  return Result(env, Crc32c(p, len, seed));
}

// crc32cInt32(buf, offset, length, seed) -> int32: the same 32 bits as
// crc32c, as a signed number. A uint32 of 2^31 or more is no small integer
// to V8, so crc32c's result allocates a heap number half of the time; this
// one never does (a reader replays records checking one per record).
napi_value Crc32cInt32Js(napi_env env, napi_callback_info cbinfo) {
  const uint8_t* p;
  size_t len;
  uint32_t seed;
  if (!CrcArgs(env, cbinfo, &p, &len, &seed)) return nullptr;
  napi_value r;
  napi_create_int32(env, static_cast<int32_t>(Crc32c(p, len, seed)), &r);
  return r;
}

// crc32cSoft(buf, offset, length, seed): the table form, so tests can check
// the fast forms against it on this machine.
napi_value Crc32cSoftJs(napi_env env, napi_callback_info cbinfo) {
  const uint8_t* p;
  size_t len;
  uint32_t seed;
  if (!CrcArgs(env, cbinfo, &p, &len, &seed)) return nullptr;
  return Result(env, ~SoftCrc(p, len, ~seed));
}

}  // namespace

uint32_t Crc32cRaw(const void* data, size_t len, uint32_t reg) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  if (kHaveFold && len >= kFoldMin) {
    uint8_t* none = nullptr;
    reg = FoldAny<kNoStore>(p, none, len, reg);
  }
  return ShortCrc(p, len, reg);
}

uint32_t Crc32c(const void* data, size_t len, uint32_t seed) {
  return ~Crc32cRaw(data, len, ~seed);
}

uint32_t CopyCrc32cRaw(void* dst, const void* src, size_t len, uint32_t reg, bool streaming, Span* streamed) {
  uint8_t* d = static_cast<uint8_t*>(dst);
  const uint8_t* p = static_cast<const uint8_t*>(src);
  streamed->begin = streamed->end = reinterpret_cast<uintptr_t>(d);
  // Bytes copied with memcpy are checksummed as they landed in dst, not
  // read from src a second time: another thread may write src during the
  // call (a view of a SharedArrayBuffer), and the checksum must hold the
  // bytes stored, whatever moment of src they are. The folds load each
  // block once, store it and fold the same registers.
  if (!kHaveFold || len < (streaming ? kStreamMin : kFoldMin)) {
    std::memcpy(d, p, len);
    return ShortCrc(d, len, reg);
  }
  if (!streaming) {
    reg = FoldAny<kCached>(p, d, len, reg);
    std::memcpy(d, p, len);
    return ShortCrc(d, len, reg);
  }
  // Ordinary stores up to the first line boundary, streaming stores for the
  // whole lines, ordinary stores for the rest. No fence here: the caller's
  // SFENCE orders the streamed lines (see Span in crc32c.h).
  size_t head = (64 - (reinterpret_cast<uintptr_t>(d) & 63)) & 63;
  std::memcpy(d, p, head);
  reg = ShortCrc(d, head, reg);
  p += head, d += head, len -= head;
  streamed->begin = reinterpret_cast<uintptr_t>(d);
  reg = FoldAny<kStreaming>(p, d, len, reg);
  streamed->end = reinterpret_cast<uintptr_t>(d);
  std::memcpy(d, p, len);
  return ShortCrc(d, len, reg);
}

void InitCrc32c(Napi::Env env, Napi::Object exports) {
  for (auto [name, fn] : {std::pair<const char*, napi_callback>{"crc32c", Crc32cJs},
                          {"crc32cSoft", Crc32cSoftJs},
                          {"crc32cInt32", Crc32cInt32Js}}) {
    napi_value f;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, nullptr, &f));
    exports.Set(name, Napi::Value(env, f));
  }
  exports.Set("crc32cFolds", Napi::Boolean::New(env, kHaveFold));
  exports.Set("crc32cFold", Napi::String::New(env, kFoldForm == FoldForm::k512   ? "512"
                                                   : kFoldForm == FoldForm::k128 ? "128"
                                                                                 : "none"));
}

}  // namespace pmem
